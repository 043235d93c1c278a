//! Plain Rust mirrors of the judge WIT types (`rollout:judge@0.1.0`): the input of one evaluation
//! and the verdict. The WebAssembly wrappers only convert between these and the generated types.

use serde::{Deserialize, Serialize};

/// One observation of a metric at a time (milliseconds since the Unix epoch).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// End of the observation window, ms since the epoch.
    pub time_ms: i64,
    /// The value (NaN means "no data in this step").
    #[serde(with = "crate::config::nonfinite")]
    pub value: f64,
}

/// Numerator/denominator counts of one window (e.g. errors / requests), not cumulative.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RatioPoint {
    /// End of the window, ms since the epoch.
    pub time_ms: i64,
    /// Events in the window (errors, slow requests).
    pub numerator: f64,
    /// Exposure in the window (requests).
    pub denominator: f64,
}

/// One cumulative histogram bucket: the number of observations `<= upper_bound`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Bucket {
    /// Upper bound of the bucket (`le`); `f64::INFINITY` for `+Inf`.
    #[serde(with = "crate::config::nonfinite")]
    pub upper_bound: f64,
    /// Cumulative count of observations at or below the bound.
    pub count: f64,
}

/// The data of one arm (`canary`, `stable`, `canary-publish`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Series {
    /// Series name.
    pub name: String,
    /// Plain values.
    pub points: Vec<Point>,
    /// Ratio counts per window.
    pub ratios: Vec<RatioPoint>,
    /// Histogram buckets (cumulative counts).
    pub buckets: Vec<Bucket>,
}

/// The canary traffic weight (percent) from `time_ms` on.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct WeightPoint {
    /// Start of this weight, ms since the epoch.
    pub time_ms: i64,
    /// Canary weight, 0-100.
    pub canary_weight: u32,
}

/// Everything a judge sees in one evaluation (minus the opaque config and state, which the
/// wrapper decodes into the judge's typed `Config` and `State`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct JudgeData {
    /// The metric's name in the AnalysisRun.
    pub metric: String,
    /// Time of this evaluation, ms since the epoch.
    pub now_ms: i64,
    /// Per-arm data.
    pub series: Vec<Series>,
    /// Canary weight timeline.
    pub weights: Vec<WeightPoint>,
    /// Analysis-run arguments (name, value).
    pub args: Vec<(String, String)>,
}

impl JudgeData {
    /// The first series called `name`.
    pub fn series(&self, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.name == name)
    }

    /// The metric name, or `default` when it is empty.
    pub fn metric_or(&self, default: &str) -> String {
        if self.metric.is_empty() {
            default.to_string()
        } else {
            self.metric.clone()
        }
    }

    /// Checks what every judge relies on, naming the series and entry at fault: canary weights
    /// within 0-100; ratio counts finite, with a non-negative denominator (exposure); histogram
    /// buckets with distinct bounds that are numbers, and finite, non-negative cumulative counts
    /// that do not decrease as the bound grows. Judges add their own checks (e.g. the count
    /// judges need `0 <= numerator <= denominator`).
    pub fn validate(&self) -> Result<(), String> {
        if let Some(w) = self.weights.iter().find(|w| w.canary_weight > 100) {
            return Err(format!(
                "weights: canary weight {} at {} ms is over 100 (percent)",
                w.canary_weight, w.time_ms
            ));
        }
        for s in &self.series {
            for r in &s.ratios {
                if !(r.numerator.is_finite() && r.denominator.is_finite() && r.denominator >= 0.0) {
                    return Err(format!(
                        "series {:?}: the ratio window at {} ms has numerator {} and denominator {}; \
                         counts must be finite and the denominator non-negative",
                        s.name,
                        r.time_ms,
                        shown(r.numerator),
                        shown(r.denominator)
                    ));
                }
            }
            check_buckets(&s.name, &s.buckets)?;
        }
        Ok(())
    }

    /// The canary weight (0-100) in force at `time_ms`, if the timeline covers it.
    pub fn weight_at(&self, time_ms: i64) -> Option<u32> {
        self.weights
            .iter()
            .filter(|w| w.time_ms <= time_ms)
            .max_by_key(|w| w.time_ms)
            .map(|w| w.canary_weight)
    }
}

/// A number in an error message: `not a number` for NaN (which never reaches a reason).
fn shown(x: f64) -> String {
    if x.is_nan() {
        "not a number".into()
    } else {
        x.to_string()
    }
}

/// Checks one series' cumulative histogram (see [`JudgeData::validate`]).
fn check_buckets(series: &str, buckets: &[Bucket]) -> Result<(), String> {
    let bad = |problem: String| Err(format!("series {series:?}: {problem}"));
    for b in buckets {
        if b.upper_bound.is_nan() {
            return bad("a histogram bucket has an upper bound that is not a number".into());
        }
        if !(b.count.is_finite() && b.count >= 0.0) {
            return bad(format!(
                "the histogram bucket le={} has count {}; counts must be finite and non-negative",
                b.upper_bound,
                shown(b.count)
            ));
        }
    }
    let mut sorted: Vec<&Bucket> = buckets.iter().collect();
    sorted.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    for pair in sorted.windows(2) {
        let [lo, hi] = pair else { continue };
        if lo.upper_bound == hi.upper_bound {
            return bad(format!(
                "two histogram buckets have the bound le={}",
                lo.upper_bound
            ));
        }
        if hi.count < lo.count {
            return bad(format!(
                "histogram bucket counts must not decrease as the bound grows (they are cumulative), \
                 but le={} has {} and le={} has {}",
                lo.upper_bound, lo.count, hi.upper_bound, hi.count
            ));
        }
    }
    Ok(())
}

/// The `Error` verdict for a judge configuration or an input that cannot be judged, if any: the
/// first check every judge runs ([`crate::config::JudgeConfig::validate`], then
/// [`JudgeData::validate`]).
pub fn reject<C: crate::config::JudgeConfig>(input: &JudgeData, config: &C) -> Option<Verdict> {
    let problem = match config.validate() {
        Err(e) => e.to_string(),
        Ok(()) => input.validate().err()?,
    };
    Some(Verdict::invalid(problem))
}

/// The four phases of an Argo measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Phase {
    /// The canary passed.
    Successful,
    /// The canary failed.
    Failed,
    /// No decision yet (hold); see the code and samples needed.
    Inconclusive,
    /// The judge could not evaluate (bad config or input).
    Error,
}

/// Why a judge decided as it did, for one metric or sub-check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detail {
    /// What was checked, e.g. `error-ratio`.
    pub name: String,
    /// Name of the statistic, e.g. `e-value`.
    pub statistic: String,
    /// The statistic's value.
    pub value: f64,
    /// Estimated effect (canary vs stable), if any.
    pub effect: Option<f64>,
    /// Confidence interval of the effect, if any.
    pub interval: Option<(f64, f64)>,
    /// Samples seen per arm (canary, stable).
    pub samples: (u64, u64),
    /// Samples per arm still needed before a decision, if known.
    pub samples_needed: Option<u64>,
    /// Anything else as key/value pairs.
    pub extra: Vec<(String, String)>,
}

impl Detail {
    /// A detail with just a name, statistic and value; the rest empty.
    pub fn new(name: impl Into<String>, statistic: impl Into<String>, value: f64) -> Self {
        Self {
            name: name.into(),
            statistic: statistic.into(),
            value,
            effect: None,
            interval: None,
            samples: (0, 0),
            samples_needed: None,
            extra: Vec::new(),
        }
    }

    /// Adds one `extra` entry (builder style). A number that is not a number (NaN, e.g. a rate
    /// without traffic) is written `n/a`: NaN never reaches a detail.
    pub fn with(mut self, key: &str, value: impl ExtraValue) -> Self {
        self.extra.push((key.to_string(), value.render()));
        self
    }

    /// The `extra` value under `key`, if present.
    pub fn extra_value(&self, key: &str) -> Option<&str> {
        self.extra.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

/// A value of a detail's `extra` entries, written as text.
pub trait ExtraValue {
    /// The text of the value.
    fn render(&self) -> String;
}

impl ExtraValue for f64 {
    fn render(&self) -> String {
        if self.is_nan() {
            crate::explain::NOT_A_NUMBER.to_string()
        } else {
            self.to_string()
        }
    }
}

/// `ExtraValue` for types whose `Display` is already the text.
macro_rules! extra_as_display {
    ($($t:ty),*) => {
        $(impl ExtraValue for $t {
            fn render(&self) -> String {
                self.to_string()
            }
        })*
    };
}
extra_as_display!(u64, u32, i64, usize, bool, &str, String, &String);

/// The result of one evaluation (without the state, which each judge returns typed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Verdict {
    /// The phase.
    pub phase: Phase,
    /// Machine-readable reason code (see [`codes`]).
    pub code: String,
    /// Score in [0, 1], if computed.
    pub score: Option<f64>,
    /// Human-readable reason.
    pub reason: String,
    /// Per-metric explanation.
    pub details: Vec<Detail>,
}

impl Verdict {
    /// A verdict with no score and no details.
    pub fn new(phase: Phase, code: &str, reason: impl Into<String>) -> Self {
        Self {
            phase,
            code: code.to_string(),
            score: None,
            reason: reason.into(),
            details: Vec::new(),
        }
    }

    /// An `Error` verdict with code `invalid-input`.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::new(Phase::Error, codes::INVALID_INPUT, reason)
    }
}

/// The reason codes the shipped judges use.
pub mod codes {
    /// Canary is worse than stable (anytime-valid evidence).
    pub const REGRESSION: &str = "regression";
    /// Canary violates the absolute SLO while stable does not.
    pub const SLO_VIOLATION: &str = "slo-violation";
    /// Canary is proven within tolerance.
    pub const WITHIN_TOLERANCE: &str = "within-tolerance";
    /// Not enough evidence either way yet.
    pub const INSUFFICIENT_EVIDENCE: &str = "insufficient-evidence";
    /// Fewer samples than the configured minimum.
    pub const INSUFFICIENT_DATA: &str = "insufficient-data";
    /// A required series has no data.
    pub const NO_DATA: &str = "no-data";
    /// The stable arm itself violates the SLO: never blame the canary, never promote.
    pub const ENVIRONMENT_UNHEALTHY: &str = "environment-unhealthy";
    /// Threshold judge: pass criteria met.
    pub const PASS: &str = "pass";
    /// Threshold judge: only the warning criteria met.
    pub const WARNING: &str = "warning";
    /// Threshold judge: criteria not met.
    pub const THRESHOLD_VIOLATED: &str = "threshold-violated";
    /// Kayenta score at or above the pass threshold.
    pub const KAYENTA_PASS: &str = "kayenta-pass";
    /// Kayenta score between marginal and pass.
    pub const KAYENTA_MARGINAL: &str = "kayenta-marginal";
    /// Kayenta score below marginal (or a critical metric failed).
    pub const KAYENTA_FAIL: &str = "kayenta-fail";
    /// Bad configuration or input.
    pub const INVALID_INPUT: &str = "invalid-input";
    /// The state handed back does not belong to this configuration.
    pub const STATE_MISMATCH: &str = "state-mismatch";
}
