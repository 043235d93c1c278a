//! The numbers behind an analysis cause: the metric that decided a run ([`DecidingMetric`]) and
//! the judge's evidence parsed from its details ([`parse_evidence`]).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{JudgeWhy, MetricWhy};
use crate::analysis::judge::{JudgeErrorKind, metadata_keys};
use crate::analysis::provider::{ProviderErrorKind, error_keys};
use crate::analysis::{AnalysisPhase, AnalysisRunStatus};

/// One judge detail's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// What was checked, e.g. `error-ratio`.
    pub name: String,
    /// The statistic's name, e.g. `e-value`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub statistic: String,
    /// The statistic's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Estimated effect (canary minus stable, or a ratio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<f64>,
    /// Confidence interval of the effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<(f64, f64)>,
    /// Samples per arm (canary, stable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<(u64, u64)>,
    /// Samples per arm still needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples_needed: Option<u64>,
    /// The judge's free-form key/value pairs (e.g. `canary-rate`, `stable-rate`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub extra: Vec<(String, String)>,
}

/// The metric that decided an AnalysisRun and its last measurement's message and metadata, as a
/// driver observes them ([`DecidingMetric::of_run`]); the machine turns it into a [`MetricWhy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecidingMetric {
    /// Metric name.
    pub name: String,
    /// The metric's phase.
    pub phase: AnalysisPhase,
    /// The last measurement's message (the metric's message when that is empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The last measurement's metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl DecidingMetric {
    /// The metric that decided a Failed, Error or Inconclusive run: the first non-dry-run metric
    /// in the run's phase (else in any of those phases), with its last measurement in that phase.
    /// `None` for other phases or when no metric explains the phase.
    pub fn of_run(status: &AnalysisRunStatus) -> Option<Self> {
        let bad = |p: AnalysisPhase| {
            matches!(
                p,
                AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
            )
        };
        if !bad(status.phase) {
            return None;
        }
        let live = || status.metric_results.iter().filter(|r| !r.dry_run);
        let result = live()
            .find(|r| r.phase == status.phase)
            .or_else(|| live().find(|r| bad(r.phase)))?;
        let measurement = result
            .measurements
            .iter()
            .rev()
            .find(|m| m.phase == result.phase)
            .or(result.measurements.last());
        let message = measurement
            .map(|m| m.message.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| result.message.clone());
        Some(DecidingMetric {
            name: result.name.clone(),
            phase: result.phase,
            message,
            metadata: measurement.map(|m| m.metadata.clone()).unwrap_or_default(),
        })
    }

    /// The metric as evidence: provider error kind, HTTP status, judge error kind, and the judge's
    /// code, score and details from the measurement metadata.
    pub fn to_why(&self) -> MetricWhy {
        let get = |k: &str| self.metadata.get(k).map(String::as_str);
        let judge = get(metadata_keys::CODE).map(|code| JudgeWhy {
            name: get(metadata_keys::NAME).unwrap_or_default().to_string(),
            code: code.to_string(),
            score: get(metadata_keys::SCORE).and_then(|s| s.parse().ok()),
            evidence: get(metadata_keys::DETAILS)
                .map(parse_evidence)
                .unwrap_or_default(),
        });
        MetricWhy {
            name: self.name.clone(),
            phase: self.phase,
            message: self.message.clone(),
            provider_error: get(error_keys::KIND).and_then(ProviderErrorKind::parse),
            http_status: get(error_keys::HTTP_STATUS).and_then(|s| s.parse().ok()),
            judge_error: get(error_keys::JUDGE).and_then(JudgeErrorKind::parse),
            judge,
        }
    }
}

/// Evidence from the JSON array of judge details (`judge.details`); unreadable entries are
/// skipped. Pairs are read as `[a, b]` arrays or `{canary, stable}` / `{low, high}` objects.
pub fn parse_evidence(details: &str) -> Vec<Evidence> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(details) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|d| {
            let field = |camel: &str, snake: &str| d.get(camel).or_else(|| d.get(snake));
            Some(Evidence {
                name: d.get("name")?.as_str()?.to_string(),
                statistic: d
                    .get("statistic")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                value: d.get("value").and_then(Value::as_f64),
                effect: d.get("effect").and_then(Value::as_f64),
                interval: d
                    .get("interval")
                    .and_then(|v| pair(v, ["low", "high"], Value::as_f64)),
                samples: d
                    .get("samples")
                    .and_then(|v| pair(v, ["canary", "stable"], Value::as_u64)),
                samples_needed: d
                    .get("samples-needed")
                    .or_else(|| field("samplesNeeded", "samples_needed"))
                    .and_then(Value::as_u64),
                extra: d
                    .get("extra")
                    .map(crate::rollout::feedback::extra_pairs)
                    .unwrap_or_default(),
            })
        })
        .collect()
}

fn pair<T>(v: &Value, keys: [&str; 2], get: fn(&Value) -> Option<T>) -> Option<(T, T)> {
    match v {
        Value::Array(a) if a.len() == 2 => Some((get(&a[0])?, get(&a[1])?)),
        Value::Object(o) => Some((get(o.get(keys[0])?)?, get(o.get(keys[1])?)?)),
        _ => None,
    }
}
