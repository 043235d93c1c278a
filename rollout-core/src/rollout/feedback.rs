//! One sentence for people about why a Rollout was rolled back, is held or degraded, rendered
//! from its typed causes ([`Why`]): [`Why::feedback`] for one cause, [`of_causes`] for
//! `status.why` (the most important cause wins). The machine writes it to `status.feedback` (our
//! extension) with the causes and emits it once per new sentence as a `RolloutFeedback` event.
//!
//! Numbers come from the judge's evidence (the shipped `error-ratio` judge's `canary-rate` /
//! `stable-rate` and per-arm samples, the `latency` judge's quantile intervals) and are written
//! for people: thousands separators, percentages with one decimal.

use serde_json::Value;

use super::config_deps::ConfigRef;
use super::observed::AnalysisRunKind;
use super::status::ConditionType;
use super::why::{Cause, Evidence, JudgeWhy, MissingConfig, Why};
use crate::analysis::provider::ProviderErrorKind;

/// The reason of the event that carries a new feedback sentence.
pub const REASON_FEEDBACK: &str = "RolloutFeedback";
/// Free text (a validation message, an API server's reason) quoted in a sentence is cut here.
const MAX_QUOTED: usize = 160;
/// Missing objects listed in a sentence; the rest are counted.
const MAX_LISTED: usize = 3;
/// Judge `extra` pairs kept per evidence entry.
const MAX_EXTRA: usize = 32;

/// The sentence for the most important of `causes` (a held rollback, then an abort, an invalid
/// spec, a hold, a progress deadline, a replica failure, missing config); `None` when empty.
pub fn of_causes(causes: &[Why]) -> Option<String> {
    causes.iter().min_by_key(|w| rank(w)).map(Why::feedback)
}

fn rank(why: &Why) -> u8 {
    if why.cause == Cause::RollbackHeld {
        return 0;
    }
    if why.is_abort() {
        return 1;
    }
    if matches!(
        why.condition,
        ConditionType::Paused | ConditionType::GroupHold | ConditionType::FleetHold
    ) {
        return 3;
    }
    match why.cause {
        Cause::InvalidSpec => 2,
        Cause::AnalysisInconclusive | Cause::GroupHold | Cause::FleetHold => 3,
        Cause::ProgressDeadline => 4,
        Cause::ReplicaFailure => 5,
        Cause::ConfigMissing => 6,
        Cause::AnalysisFailed
        | Cause::AnalysisError
        | Cause::ProviderUnreachable
        | Cause::UserAbort
        | Cause::ForcedAbort
        | Cause::GroupAbort
        | Cause::RollbackHeld => 7,
    }
}

impl Why {
    /// One concise sentence for customers: what happened to the update (`rolled back`, `held`,
    /// `stalled`, `stopped`, `degraded`) and why, e.g. `rolled back: canary error ratio 2.3% vs
    /// stable 0.4% over 1,840 canary requests`.
    pub fn feedback(&self) -> String {
        let why = match self.cause {
            Cause::AnalysisFailed => self.analysis_failed(),
            Cause::AnalysisInconclusive => self.inconclusive(),
            Cause::AnalysisError => match &self.metric {
                Some(m) => format!("analysis errored on metric {}{}", m.name, said(&m.message)),
                None => format!("analysis {} errored{}", self.run_name(), said(&self.detail)),
            },
            Cause::ProviderUnreachable => {
                let (metric, how) = match &self.metric {
                    Some(m) if m.provider_error == Some(ProviderErrorKind::Timeout) => {
                        (m.name.as_str(), "timed out")
                    }
                    Some(m) => (m.name.as_str(), "was unreachable"),
                    None => ("", "was unreachable"),
                };
                if metric.is_empty() {
                    format!("the metrics source of analysis {} {how}", self.run_name())
                } else {
                    format!("the metrics source of metric {metric} {how}")
                }
            }
            Cause::ProgressDeadline => match &self.replica_set {
                Some(rs) => format!("progress deadline exceeded, ReplicaSet {rs} never became ready"),
                None => "progress deadline exceeded".to_string(),
            },
            Cause::InvalidSpec => format!("invalid spec{}", said(&self.detail)),
            Cause::ReplicaFailure => format!(
                "the API server refused a ReplicaSet change ({}){}",
                self.reason,
                said(&self.detail)
            ),
            Cause::UserAbort => "aborted by a user".to_string(),
            Cause::ForcedAbort => format!("aborted by the coordinator{}", said(&self.detail)),
            Cause::GroupAbort | Cause::GroupHold => match &self.group {
                Some(g) => clip(&g.message()),
                None => clip(&self.detail),
            },
            Cause::FleetHold => match &self.fleet_hold {
                Some(h) => format!(
                    "the fleet brake holds release {} ({}): {}",
                    h.release,
                    h.matched,
                    clip(&h.reason)
                ),
                None => clip(&self.detail),
            },
            Cause::ConfigMissing => format!(
                "{} needed by ReplicaSets that may serve again {} missing",
                list_objects(&self.missing_config),
                are(&self.missing_config)
            ),
            Cause::RollbackHeld => format!(
                "the stable version's config {} {} missing, so the canary keeps serving",
                list_objects(&self.missing_config),
                are(&self.missing_config)
            ),
        };
        format!("{}: {why}", self.outcome())
    }

    /// What happened to the update, as the sentence's first words.
    fn outcome(&self) -> &'static str {
        if self.cause == Cause::RollbackHeld {
            "held"
        } else if self.is_abort() {
            "rolled back"
        } else {
            match self.condition {
                ConditionType::Paused | ConditionType::GroupHold | ConditionType::FleetHold => "held",
                ConditionType::InvalidSpec => "stopped",
                ConditionType::Progressing | ConditionType::ReplicaFailure => "stalled",
                _ => "degraded",
            }
        }
    }

    fn run_name(&self) -> String {
        match &self.run {
            Some(r) => format!("{} ({})", r.name, kind_words(r.kind)),
            None => "run".to_string(),
        }
    }

    fn analysis_failed(&self) -> String {
        let Some(metric) = &self.metric else {
            return format!("analysis {} failed{}", self.run_name(), said(&self.detail));
        };
        let judge = metric.judge.as_ref();
        if let Some(numbers) = judge.and_then(|j| j.evidence.iter().find_map(evidence_sentence)) {
            return numbers;
        }
        match judge {
            Some(j) => format!("metric {} failed ({})", metric.name, judge_words(j)),
            None => format!("metric {} failed{}", metric.name, said(&metric.message)),
        }
    }

    fn inconclusive(&self) -> String {
        let Some(metric) = &self.metric else {
            return "analysis inconclusive, waiting for a person to promote or abort".to_string();
        };
        let needed = metric
            .judge
            .as_ref()
            .and_then(|j| j.evidence.iter().find_map(|e| e.samples_needed))
            .filter(|n| *n > 0);
        let why = match (needed, &metric.judge) {
            (Some(n), _) => format!(
                "not enough data yet, {} more samples per arm needed",
                thousands(n)
            ),
            (None, Some(j)) => judge_words(j),
            (None, None) => clip(&metric.message),
        };
        if why.is_empty() {
            format!("analysis inconclusive on metric {}", metric.name)
        } else {
            format!("analysis inconclusive on metric {} ({why})", metric.name)
        }
    }
}

/// `judge NAME: code`.
fn judge_words(j: &JudgeWhy) -> String {
    let code = j.code.replace('-', " ");
    if j.name.is_empty() {
        format!("judge verdict: {code}")
    } else {
        format!("judge {}: {code}", j.name)
    }
}

fn kind_words(kind: AnalysisRunKind) -> &'static str {
    match kind {
        AnalysisRunKind::Step => "step analysis",
        AnalysisRunKind::Background => "background analysis",
        AnalysisRunKind::PrePromotion => "pre-promotion analysis",
        AnalysisRunKind::PostPromotion => "post-promotion analysis",
    }
}

/// The numbers of one evidence entry, when the judge reported ones people read: error ratios per
/// arm (`canary-rate`/`stable-rate`), a ratio delta, or a latency quantile interval per arm.
pub fn evidence_sentence(e: &Evidence) -> Option<String> {
    let extra = |k: &str| {
        e.extra
            .iter()
            .find(|(key, _)| key == k)
            .and_then(|(_, v)| v.parse::<f64>().ok())
            .filter(|v| v.is_finite())
    };
    let over = |noun: &str| match e.samples {
        Some((canary, _)) if canary > 0 => format!(" over {} canary {noun}", thousands(canary)),
        _ => String::new(),
    };
    if let (Some(c), Some(s)) = (extra("canary-rate"), extra("stable-rate")) {
        return Some(format!(
            "canary error ratio {} vs stable {}{}",
            percent(c),
            percent(s),
            over("requests")
        ));
    }
    if e.statistic == "ratio-delta" {
        let delta = e.value.filter(|v| v.is_finite())?;
        return Some(format!(
            "canary error ratio {} points above stable{}",
            number(delta * 100.0),
            over("requests")
        ));
    }
    if e.statistic == "quantile-interval" {
        let (canary_low, _) = e.interval?;
        let stable_high = extra("stable-upper")?;
        return Some(format!(
            "canary {} at least {} vs stable at most {}{}",
            e.name,
            number(canary_low),
            number(stable_high),
            over("samples")
        ));
    }
    None
}

/// ` (TEXT)` clipped, or nothing for empty text.
fn said(text: &str) -> String {
    let text = clip(text);
    if text.is_empty() {
        String::new()
    } else {
        format!(": {text}")
    }
}

/// The first line of `text`, at most [`MAX_QUOTED`] characters (`…` when cut).
fn clip(text: &str) -> String {
    let line = text.lines().next().unwrap_or_default().trim();
    if line.chars().count() <= MAX_QUOTED {
        line.to_string()
    } else {
        let cut: String = line.chars().take(MAX_QUOTED).collect();
        format!("{}…", cut.trim_end())
    }
}

fn object(o: &ConfigRef) -> String {
    format!("{}/{}", o.kind, o.name)
}

/// `Secret/a, ConfigMap/b and 2 more`.
fn list_objects(missing: &[MissingConfig]) -> String {
    let mut names: Vec<String> = missing
        .iter()
        .take(MAX_LISTED)
        .map(|m| object(&m.object))
        .collect();
    if missing.len() > MAX_LISTED {
        names.push(format!("{} more", missing.len() - MAX_LISTED));
    }
    match names.len() {
        0 => "config".to_string(),
        1 => names.remove(0),
        n => format!("{} and {}", names[..n - 1].join(", "), names[n - 1]),
    }
}

fn are(missing: &[MissingConfig]) -> &'static str {
    if missing.len() == 1 { "is" } else { "are" }
}

/// `1840` → `1,840`.
pub fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// A ratio as a percentage with one decimal: `0.0234` → `2.3%`; a positive ratio under 0.05%
/// is `<0.1%` rather than a misleading `0.0%`.
pub fn percent(ratio: f64) -> String {
    let pct = ratio * 100.0;
    if pct > 0.0 && pct < 0.05 {
        "<0.1%".to_string()
    } else {
        format!("{:.1}%", pct)
    }
}

/// A measured number: thousands separators, at most 3 decimals, no trailing zeros.
pub fn number(v: f64) -> String {
    if !v.is_finite() {
        return v.to_string();
    }
    let text = format!("{:.3}", v.abs());
    let (int, frac) = text.split_once('.').unwrap_or((text.as_str(), ""));
    let frac = frac.trim_end_matches('0');
    let int = int
        .parse::<u64>()
        .map(thousands)
        .unwrap_or_else(|_| int.to_string());
    let sign = if v < 0.0 && (int != "0" || !frac.is_empty()) {
        "-"
    } else {
        ""
    };
    if frac.is_empty() {
        format!("{sign}{int}")
    } else {
        format!("{sign}{int}.{frac}")
    }
}

/// The judge's `extra` pairs from their JSON form: `[[key, value], ...]` or `{key: value}`;
/// numbers and booleans are kept as text, other entries are skipped.
pub fn extra_pairs(v: &Value) -> Vec<(String, String)> {
    let text = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match v {
        Value::Array(items) => items
            .iter()
            .filter_map(|p| match p {
                Value::Array(kv) if kv.len() == 2 => Some((kv[0].as_str()?.to_string(), text(&kv[1])?)),
                _ => None,
            })
            .take(MAX_EXTRA)
            .collect(),
        Value::Object(map) => map
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), text(v)?)))
            .take(MAX_EXTRA)
            .collect(),
        _ => Vec::new(),
    }
}

#[cfg(test)]
mod tests;
