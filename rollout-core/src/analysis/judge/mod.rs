//! The judge contract: plain Rust mirrors of the WIT records in `analysis-sdk/wit/judge.wit`
//! (`rollout:judge@0.1.0`), the [`Judge`] trait the WASM host (and native judges) implement, and a
//! [`JudgeRegistry`] keyed by name + sha256.
//!
//! Field names and meanings match the WIT 1:1 (`time-ms` → `time_ms`, `option<T>` → `Option<T>`,
//! `tuple<a, b>` → `(a, b)`, `list<u8>` → `Vec<u8>`), so hosts convert field by field.
//!
//! A metric opts in with the `judge` provider ([`JudgeMetric`](super::JudgeMetric));
//! [`JudgeProvider`] turns it into a [`MeasurementProvider`](super::MeasurementProvider).

mod native;
mod provider;

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

pub use native::RatioThresholdJudge;
pub use provider::{JudgeProvider, metadata_keys};

use super::AnalysisPhase;

/// The key of our provider in `metric.provider`.
pub const JUDGE_PROVIDER: &str = "judge";

/// WIT `point`: a value at a time (milliseconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Point {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The value.
    pub value: f64,
}

/// WIT `ratio-point`: counts of a ratio metric over a window ending at `time_ms` (per window,
/// not cumulative).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RatioPoint {
    /// End of the window, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// e.g. errors in the window.
    pub numerator: f64,
    /// e.g. requests in the window.
    pub denominator: f64,
}

/// WIT `bucket`: the number of observations `<= upper_bound` (cumulative).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bucket {
    /// Upper bound (`f64::INFINITY` for `+Inf`).
    pub upper_bound: f64,
    /// Cumulative count.
    pub count: f64,
}

/// WIT `series`: the data of one arm (`canary`, `stable`, ...).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Series {
    /// Series name (the key under `judge.queries`).
    pub name: String,
    /// Plain values.
    pub points: Vec<Point>,
    /// Ratio counts; empty unless the query is a ratio.
    pub ratios: Vec<RatioPoint>,
    /// Histogram buckets; empty unless the query is a histogram.
    pub buckets: Vec<Bucket>,
}

/// WIT `weight-point`: the canary's traffic weight (0-100) from `time_ms` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WeightPoint {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Percent of traffic to the canary.
    pub canary_weight: u32,
}

/// WIT `arg`: a substituted argument of the run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeArg {
    /// Argument name.
    pub name: String,
    /// Argument value.
    pub value: String,
}

/// WIT `evaluation-input`: everything a judge sees in one evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JudgeInput {
    /// The metric's name in the run.
    pub metric: String,
    /// Time of this evaluation, milliseconds since the Unix epoch.
    pub now_ms: i64,
    /// Per-arm data.
    pub series: Vec<Series>,
    /// Canary weight timeline.
    pub weights: Vec<WeightPoint>,
    /// Run arguments.
    pub args: Vec<JudgeArg>,
    /// `judge.config` of the metric as a JSON string (`"null"` when absent).
    pub config: String,
    /// The state the judge returned from its previous evaluation in this run.
    pub state: Option<Vec<u8>>,
}

impl JudgeInput {
    /// The series named `name`, if present.
    pub fn series(&self, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.name == name)
    }
}

/// WIT `phase`: the four outcomes of a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerdictPhase {
    /// The canary is fine.
    Successful,
    /// The canary regressed.
    Failed,
    /// No decision possible yet (e.g. too little data).
    Inconclusive,
    /// The judge could not judge (e.g. environment unhealthy).
    Error,
}

impl From<VerdictPhase> for AnalysisPhase {
    fn from(p: VerdictPhase) -> Self {
        match p {
            VerdictPhase::Successful => AnalysisPhase::Successful,
            VerdictPhase::Failed => AnalysisPhase::Failed,
            VerdictPhase::Inconclusive => AnalysisPhase::Inconclusive,
            VerdictPhase::Error => AnalysisPhase::Error,
        }
    }
}

/// WIT `detail`: why a judge decided as it did, for one metric or sub-check.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Detail {
    /// What was checked, e.g. `error-ratio`.
    pub name: String,
    /// The statistic's name, e.g. `e-value`.
    pub statistic: String,
    /// The statistic's value.
    pub value: f64,
    /// Estimated effect (canary minus stable, or a ratio).
    pub effect: Option<f64>,
    /// Confidence interval of the effect.
    pub interval: Option<(f64, f64)>,
    /// Samples per arm seen so far (canary, stable).
    pub samples: (u64, u64),
    /// Samples per arm still needed, if known.
    pub samples_needed: Option<u64>,
    /// Anything else.
    pub extra: Vec<(String, String)>,
}

/// WIT `verdict`: the result of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeVerdict {
    /// The outcome.
    pub phase: VerdictPhase,
    /// Machine-readable reason code (`regression`, `insufficient-data`, ...).
    pub code: String,
    /// Score in [0, 1], 1 = canary as good as stable.
    pub score: Option<f64>,
    /// Human-readable reason, shown in the measurement message.
    pub reason: String,
    /// Per-metric explanation, stored in the measurement metadata.
    pub details: Vec<Detail>,
    /// State for the next evaluation in this run.
    pub state: Option<Vec<u8>>,
}

/// WIT `judge-info`: what `describe` returns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JudgeInfo {
    /// Judge name.
    pub name: String,
    /// Judge version.
    pub version: String,
    /// JSON Schema of the config.
    pub config_schema: String,
}

/// Why a judge could not return a verdict. The measurement becomes Error with this text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JudgeError {
    /// No judge with that name and digest is known.
    #[error("judge {name:?} with sha256 {sha256} is not registered")]
    NotFound {
        /// Judge name from the metric.
        name: String,
        /// Digest from the metric.
        sha256: String,
    },
    /// The judge returned `err(message)`.
    #[error("judge returned an error: {0}")]
    Rejected(String),
    /// The judge trapped, ran out of fuel/memory/time, or could not be instantiated.
    #[error("judge failed: {0}")]
    Failed(String),
}

/// A judge: a pure function from metric data to a verdict.
#[async_trait]
pub trait Judge: Send + Sync {
    /// Name, version and config schema.
    fn describe(&self) -> JudgeInfo;
    /// Judge one evaluation.
    async fn evaluate(&self, input: JudgeInput) -> Result<JudgeVerdict, JudgeError>;
}

/// Finds judges by name and sha256 (the WASM host loads and caches components behind this).
#[async_trait]
pub trait JudgeRegistry: Send + Sync {
    /// The judge with this name and digest, or [`JudgeError::NotFound`].
    async fn lookup(&self, name: &str, sha256: &str) -> Result<Arc<dyn Judge>, JudgeError>;
}

/// An in-memory registry of ready judges (native judges, tests, pre-loaded components).
#[derive(Clone, Default)]
pub struct StaticJudges {
    by_key: BTreeMap<(String, String), Arc<dyn Judge>>,
}

impl std::fmt::Debug for StaticJudges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticJudges")
            .field("keys", &self.by_key.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl StaticJudges {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register `judge` under `name` (usually `describe().name`) and `sha256` (lower-case hex).
    pub fn insert(&mut self, name: &str, sha256: &str, judge: Arc<dyn Judge>) -> &mut Self {
        self.by_key
            .insert((name.to_string(), sha256.to_ascii_lowercase()), judge);
        self
    }
}

#[async_trait]
impl JudgeRegistry for StaticJudges {
    async fn lookup(&self, name: &str, sha256: &str) -> Result<Arc<dyn Judge>, JudgeError> {
        self.by_key
            .get(&(name.to_string(), sha256.to_ascii_lowercase()))
            .cloned()
            .ok_or_else(|| JudgeError::NotFound {
                name: name.to_string(),
                sha256: sha256.to_string(),
            })
    }
}
