//! A release plan: one version to a set of environments in waves, each wave gated on the outcomes
//! so far, validated with field paths ([`ReleasePlan::validate`]), and the assignment of
//! environments to waves ([`assign_waves`]).
//!
//! ```yaml
//! release: v2.4.0
//! test: {baselineFailureRate: 0.01, falseAlarmRate: 0.05, failureRateRatio: 3}
//! waves:
//!   - {name: canary-ring, ring: canary}
//!   - {name: one-percent, percent: 1}
//!   - {name: ten-percent, percent: 10, gate: {maxInconclusivePercent: 60}}
//!   - {name: everyone, percent: 100}
//! ```

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::rollout::{FieldError, FieldErrorKind};

/// The most waves in a plan.
pub const MAX_WAVES: usize = 100;

/// One version to a set of environments, in waves.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleasePlan {
    /// The version being released (an image tag or revision).
    pub release: String,
    /// The waves, in order.
    pub waves: Vec<Wave>,
    /// The sequential test that decides a release issue.
    #[serde(default)]
    pub test: ReleaseTest,
    /// How failures are attributed to environments.
    #[serde(default)]
    pub classification: ClassificationPolicy,
}

/// One wave: a cumulative percentage of the environments outside named rings, or one named ring.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Wave {
    /// Wave name, unique in the plan.
    pub name: String,
    /// Cumulative share (0 < percent ≤ 100) of the environments that belong to no ring wave.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percent: Option<f64>,
    /// Every environment of this ring.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ring: Option<String>,
    /// What must hold after this wave before the next one starts.
    #[serde(default)]
    pub gate: Gate,
}

/// A wave's gate (the release-issue test applies after every wave whatever the gate says).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Gate {
    /// Hold for a person when more than this share of the wave's environments ended undecided
    /// (inconclusive, still in progress or stopped by a person).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_inconclusive_percent: Option<f64>,
    /// Hold for a person's approval after this wave.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub approval: bool,
}

/// The sequential test of "this release fails in more environments than the fleet's baseline"
/// ([`super::sprt`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ReleaseTest {
    /// The fleet's failure rate of a good release: the share of environments (promoted,
    /// inconclusive or failed) where it fails for a reason not explained by the environment or a
    /// transient cause, from history.
    pub baseline_failure_rate: f64,
    /// The chance that a release failing at the baseline rate is ever halted, over all looks.
    pub false_alarm_rate: f64,
    /// The alternative the test is tuned to detect: a failure rate this many times the baseline.
    pub failure_rate_ratio: f64,
}

impl Default for ReleaseTest {
    fn default() -> Self {
        ReleaseTest {
            baseline_failure_rate: 0.01,
            false_alarm_rate: 0.05,
            failure_rate_ratio: 3.0,
        }
    }
}

/// How failures are attributed to environments.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClassificationPolicy {
    /// A failure is an environment issue when the environment failed this many earlier releases
    /// (its history).
    pub environment_issue_after: u32,
}

impl Default for ClassificationPolicy {
    fn default() -> Self {
        ClassificationPolicy {
            environment_issue_after: 2,
        }
    }
}

fn invalid(path: String, value: impl ToString, message: &str) -> FieldError {
    FieldError {
        path,
        kind: FieldErrorKind::Invalid(value.to_string()),
        message: message.to_string(),
    }
}

fn required(path: String, message: &str) -> FieldError {
    FieldError {
        path,
        kind: FieldErrorKind::Required,
        message: message.to_string(),
    }
}

impl ReleasePlan {
    /// Every problem of the plan, each with its field path under `prefix` (e.g. `plan`).
    pub fn validate(&self, prefix: &str) -> Vec<FieldError> {
        let at = |field: &str| {
            if prefix.is_empty() {
                field.to_string()
            } else {
                format!("{prefix}.{field}")
            }
        };
        let mut errs = Vec::new();
        if self.release.trim().is_empty() {
            errs.push(required(at("release"), "name the version being released"));
        }
        if self.waves.is_empty() {
            errs.push(required(at("waves"), "give at least one wave"));
        }
        if self.waves.len() > MAX_WAVES {
            errs.push(invalid(
                at("waves"),
                self.waves.len(),
                &format!("at most {MAX_WAVES} waves"),
            ));
        }
        let mut names = BTreeSet::new();
        let mut rings = BTreeSet::new();
        let mut last_percent: Option<(usize, f64)> = None;
        for (i, w) in self.waves.iter().take(MAX_WAVES).enumerate() {
            let p = |f: &str| at(&format!("waves[{i}].{f}"));
            if w.name.trim().is_empty() {
                errs.push(required(p("name"), "name the wave"));
            } else if !names.insert(w.name.as_str()) {
                errs.push(invalid(p("name"), &w.name, "wave names must be unique"));
            }
            match (w.percent, &w.ring) {
                (Some(_), Some(_)) | (None, None) => errs.push(invalid(
                    at(&format!("waves[{i}]")),
                    &w.name,
                    "give exactly one of percent or ring",
                )),
                (Some(pct), None) => {
                    if !(pct > 0.0 && pct <= 100.0) {
                        errs.push(invalid(p("percent"), pct, "must be above 0 and at most 100"));
                    } else if let Some((_, prev)) = last_percent.filter(|(_, prev)| pct <= *prev) {
                        errs.push(invalid(
                            p("percent"),
                            pct,
                            &format!("percentages are cumulative: must be above the previous wave's {prev}"),
                        ));
                    } else {
                        last_percent = Some((i, pct));
                    }
                }
                (None, Some(ring)) => {
                    if ring.trim().is_empty() {
                        errs.push(required(p("ring"), "name the ring"));
                    } else if !rings.insert(ring.as_str()) {
                        errs.push(invalid(p("ring"), ring, "each ring is released in one wave"));
                    }
                }
            }
            if let Some(m) = w.gate.max_inconclusive_percent
                && !(0.0..=100.0).contains(&m)
            {
                errs.push(invalid(
                    p("gate.maxInconclusivePercent"),
                    m,
                    "must be between 0 and 100",
                ));
            }
        }
        if let Some((i, pct)) = last_percent
            && pct < 100.0
        {
            errs.push(invalid(
                at(&format!("waves[{i}].percent")),
                pct,
                "the last percentage wave must reach 100",
            ));
        }
        let t = &self.test;
        let b = t.baseline_failure_rate;
        if !(b > 0.0 && b < 1.0) {
            errs.push(invalid(
                at("test.baselineFailureRate"),
                b,
                "must be between 0 and 1",
            ));
        }
        let a = t.false_alarm_rate;
        if !(a > 0.0 && a <= 0.5) {
            errs.push(invalid(
                at("test.falseAlarmRate"),
                a,
                "must be above 0 and at most 0.5",
            ));
        }
        let k = t.failure_rate_ratio;
        if !(k > 1.0 && k.is_finite()) {
            errs.push(invalid(at("test.failureRateRatio"), k, "must be above 1"));
        } else if b > 0.0 && b * k >= 1.0 {
            errs.push(invalid(
                at("test.failureRateRatio"),
                k,
                "baselineFailureRate × failureRateRatio must stay below 1",
            ));
        }
        if self.classification.environment_issue_after == 0 {
            errs.push(invalid(
                at("classification.environmentIssueAfter"),
                0,
                "must be at least 1",
            ));
        }
        errs
    }
}

/// Environments per wave: indices into `rings`, which gives each environment's ring (if any),
/// in the order environments should be taken (shuffle it for random waves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WaveAssignment {
    /// The environments of each wave of the plan, in plan order.
    pub waves: Vec<Vec<usize>>,
    /// Environments in no wave: members of rings no wave names, when the plan has no percentage
    /// wave.
    pub uncovered: Vec<usize>,
}

/// Assigns environments to the plan's waves: a ring wave takes every environment of its ring; the
/// percentage waves take, in order, the environments of no ring wave until `percent` of them have
/// the release (rounded up). Environments of rings that no wave names are ordinary environments.
pub fn assign_waves(plan: &ReleasePlan, rings: &[Option<&str>]) -> WaveAssignment {
    let ring_wave: BTreeMap<&str, usize> = plan
        .waves
        .iter()
        .enumerate()
        .filter_map(|(i, w)| w.ring.as_deref().map(|r| (r, i)))
        .collect();
    let mut waves: Vec<Vec<usize>> = vec![Vec::new(); plan.waves.len()];
    let mut ordinary = Vec::new();
    for (env, ring) in rings.iter().enumerate() {
        match ring.and_then(|r| ring_wave.get(r)) {
            Some(&w) => {
                if let Some(wave) = waves.get_mut(w) {
                    wave.push(env);
                }
            }
            None => ordinary.push(env),
        }
    }
    let total = ordinary.len();
    let mut taken = 0usize;
    for (i, w) in plan.waves.iter().enumerate() {
        let Some(pct) = w.percent else { continue };
        // f64 holds every usize count of environments we accept exactly enough for a ceiling.
        #[allow(
            clippy::cast_precision_loss,
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss
        )]
        let upto = ((total as f64) * pct.clamp(0.0, 100.0) / 100.0).ceil() as usize;
        let upto = upto.min(total);
        if upto > taken
            && let (Some(wave), Some(slice)) = (waves.get_mut(i), ordinary.get(taken..upto))
        {
            wave.extend_from_slice(slice);
            taken = upto;
        }
    }
    let uncovered = ordinary.get(taken..).map(<[usize]>::to_vec).unwrap_or_default();
    WaveAssignment { waves, uncovered }
}
