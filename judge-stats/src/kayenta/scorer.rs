//! Kayenta's `WeightedSumScorer` and `ThresholdScoreClassifier` (reference §1.6), including its
//! documented pitfalls (no weight normalization, a group without counted results scores 100).

use std::collections::BTreeMap;

use super::classifier::Label;

/// What the scorer needs of one metric result.
#[derive(Debug, Clone, PartialEq)]
pub struct Scored {
    /// Label.
    pub label: Label,
    /// Critical failure flag of the result (critical and classified).
    pub critical: bool,
    /// Muted (`report-only`): kept in the results, excluded from scoring.
    pub muted: bool,
    /// Groups the metric counts in.
    pub groups: Vec<String>,
    /// Reason, for "Canary Failed: <reason>".
    pub reason: Option<String>,
}

/// Summary classification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScoreClass {
    /// At or above the pass threshold.
    Pass,
    /// At or above marginal.
    Marginal,
    /// Below marginal.
    Fail,
}

/// The summary score with per-group scores.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// Summary score, 0-100, rounded to 2 decimals.
    pub summary: f64,
    /// Per-group scores (100 for a group without counted results).
    pub groups: BTreeMap<String, f64>,
    /// Reason when forced to 0.
    pub reason: Option<String>,
}

/// Scores results with the group weights (group → weight, meant to total 100).
pub fn score(results: &[Scored], group_weights: &BTreeMap<String, f64>) -> Score {
    let active: Vec<&Scored> = results.iter().filter(|r| !r.muted).collect();
    let mut groups: BTreeMap<String, (usize, usize)> = BTreeMap::new();
    for r in &active {
        for g in &r.groups {
            let e = groups.entry(g.clone()).or_default();
            match r.label {
                Label::Pass => {
                    e.0 += 1;
                    e.1 += 1;
                }
                Label::High | Label::Low | Label::NodataFailMetric => e.1 += 1,
                Label::Nodata | Label::Error => {}
            }
        }
    }
    let group_scores: BTreeMap<String, f64> = groups
        .iter()
        .map(|(g, (pass, total))| {
            (
                g.clone(),
                if *total == 0 {
                    100.0
                } else {
                    100.0 * *pass as f64 / *total as f64
                },
            )
        })
        .collect();
    if let Some(c) = active.iter().find(|r| r.critical && r.label != Label::Pass) {
        let reason = format!("Canary Failed: {}", c.reason.clone().unwrap_or_default());
        return Score {
            summary: 0.0,
            groups: group_scores,
            reason: Some(reason),
        };
    }
    let nodata = active.iter().filter(|r| r.label == Label::Nodata).count();
    if !active.is_empty() && nodata as f64 / active.len() as f64 * 100.0 >= 50.0 {
        let reason = format!("{nodata} of {} metrics have no data", active.len());
        return Score {
            summary: 0.0,
            groups: group_scores,
            reason: Some(reason),
        };
    }
    let configured: f64 = group_weights.values().sum();
    let unweighted = group_scores
        .keys()
        .filter(|g| !group_weights.contains_key(*g))
        .count();
    let calculated = if unweighted > 0 {
        (100.0 - configured) / unweighted as f64
    } else {
        0.0
    };
    let total: f64 = group_scores
        .iter()
        .map(|(g, s)| s * group_weights.get(g).copied().unwrap_or(calculated) / 100.0)
        .sum();
    Score {
        summary: (total * 100.0).round() / 100.0,
        groups: group_scores,
        reason: None,
    }
}

/// `ThresholdScoreClassifier`: `≥ pass` → Pass, `≥ marginal` → Marginal, else Fail.
pub fn classify_score(summary: f64, pass: f64, marginal: f64) -> ScoreClass {
    if summary >= pass {
        ScoreClass::Pass
    } else if summary >= marginal {
        ScoreClass::Marginal
    } else {
        ScoreClass::Fail
    }
}
