//! The output of a judge: WIT `verdict`, `phase`, `detail` and `judge-info`, their builders, and
//! the reason codes of the shipped judges.

use serde::{Deserialize, Serialize};

use crate::serde_forms::{nonfinite, state_bytes};

/// WIT `phase`: the four outcomes of a measurement.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictPhase {
    /// The canary is fine.
    Successful,
    /// The canary regressed.
    Failed,
    /// No decision possible yet (e.g. too little data); see the code and samples needed.
    Inconclusive,
    /// The judge could not judge (e.g. bad config or input, environment unhealthy).
    Error,
}

impl VerdictPhase {
    /// The WIT (and JSON) name: `successful`, `failed`, `inconclusive` or `error`.
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictPhase::Successful => "successful",
            VerdictPhase::Failed => "failed",
            VerdictPhase::Inconclusive => "inconclusive",
            VerdictPhase::Error => "error",
        }
    }
}

impl std::fmt::Display for VerdictPhase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// WIT `detail`: why a judge decided as it did, for one metric or sub-check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub struct Detail {
    /// What was checked, e.g. `error-ratio` or `p99-latency`.
    pub name: String,
    /// The name of the statistic, e.g. `e-value` or `mann-whitney-u`.
    pub statistic: String,
    /// The statistic's value.
    #[serde(with = "nonfinite")]
    pub value: f64,
    /// The estimated effect (canary minus stable, or a ratio), if any.
    pub effect: Option<f64>,
    /// A confidence interval for the effect, if any.
    pub interval: Option<(f64, f64)>,
    /// Samples per arm seen so far (canary, stable).
    pub samples: (u64, u64),
    /// Samples per arm still needed before a decision is possible, if known.
    pub samples_needed: Option<u64>,
    /// Anything else, as key/value pairs.
    pub extra: Vec<(String, String)>,
}

/// WIT `verdict`: the result of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct JudgeVerdict {
    /// The outcome.
    pub phase: VerdictPhase,
    /// Machine-readable reason code (see [`codes`]); free-form so that codes can grow.
    pub code: String,
    /// Score in [0, 1] (1 = canary as good as stable), if the judge computes one.
    #[serde(default)]
    pub score: Option<f64>,
    /// Human-readable reason, shown to users in the measurement.
    #[serde(default)]
    pub reason: String,
    /// Per-metric explanation.
    #[serde(default)]
    pub details: Vec<Detail>,
    /// State to hand back in the next evaluation of this run (opaque bytes).
    #[serde(default, with = "state_bytes")]
    pub state: Option<Vec<u8>>,
}

/// WIT `judge-info`: what `describe` returns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct JudgeInfo {
    /// Judge name.
    pub name: String,
    /// Judge version.
    pub version: String,
    /// JSON Schema of the input's `config`.
    pub config_schema: String,
}

impl JudgeVerdict {
    /// A verdict with the given phase, reason code and human-readable reason, and nothing else.
    pub fn new(phase: VerdictPhase, code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            phase,
            code: code.into(),
            score: None,
            reason: reason.into(),
            details: Vec::new(),
            state: None,
        }
    }

    /// A `successful` verdict.
    pub fn successful(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(VerdictPhase::Successful, code, reason)
    }

    /// A `failed` verdict.
    pub fn failed(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(VerdictPhase::Failed, code, reason)
    }

    /// An `inconclusive` verdict (e.g. not enough data yet).
    pub fn inconclusive(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(VerdictPhase::Inconclusive, code, reason)
    }

    /// An `error` verdict (the judge ran but could not judge, e.g. the environment is unhealthy).
    pub fn error(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(VerdictPhase::Error, code, reason)
    }

    /// An `error` verdict with code [`codes::INVALID_INPUT`]: bad configuration or input.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::error(codes::INVALID_INPUT, reason)
    }

    /// Sets the score in [0, 1] (1 = canary as good as stable).
    pub fn with_score(mut self, score: f64) -> Self {
        self.score = Some(score);
        self
    }

    /// Appends a detail.
    pub fn with_detail(mut self, detail: Detail) -> Self {
        self.details.push(detail);
        self
    }

    /// Sets the state handed back in the next evaluation of this run.
    pub fn with_state(mut self, state: Vec<u8>) -> Self {
        self.state = Some(state);
        self
    }

    /// The first bound this verdict breaks, if any: every verdict a judge shows has a score in
    /// [0, 1] (or none) and no NaN in its reason or in any detail's numbers and extra texts.
    pub fn out_of_bounds(&self) -> Option<String> {
        if let Some(s) = self.score.filter(|s| !(0.0..=1.0).contains(s)) {
            return Some(format!("score {s} is outside [0, 1]"));
        }
        if self.reason.contains("NaN") {
            return Some(format!("NaN in the reason {:?}", self.reason));
        }
        self.details.iter().find_map(|d| {
            let numbers = [
                Some(d.value),
                d.effect,
                d.interval.map(|i| i.0),
                d.interval.map(|i| i.1),
            ];
            if numbers.iter().flatten().any(|x| x.is_nan()) {
                Some(format!("NaN in the numbers of {d:?}"))
            } else if d.extra.iter().any(|(_, text)| text.contains("NaN")) {
                Some(format!("NaN in the extra texts {:?}", d.extra))
            } else {
                None
            }
        })
    }
}

impl Detail {
    /// A detail for check `name` with `statistic` = `value`, zero samples and nothing else.
    pub fn new(name: impl Into<String>, statistic: impl Into<String>, value: f64) -> Self {
        Self {
            name: name.into(),
            statistic: statistic.into(),
            value,
            ..Self::default()
        }
    }

    /// Sets the estimated effect.
    pub fn with_effect(mut self, effect: f64) -> Self {
        self.effect = Some(effect);
        self
    }

    /// Sets the confidence interval of the effect.
    pub fn with_interval(mut self, low: f64, high: f64) -> Self {
        self.interval = Some((low, high));
        self
    }

    /// Sets the samples seen per arm (canary, stable).
    pub fn with_samples(mut self, canary: u64, stable: u64) -> Self {
        self.samples = (canary, stable);
        self
    }

    /// Sets the samples per arm still needed before a decision is possible.
    pub fn with_samples_needed(mut self, needed: u64) -> Self {
        self.samples_needed = Some(needed);
        self
    }

    /// Appends a free-form key/value pair as given.
    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }

    /// Appends an `extra` entry written by [`ExtraValue`]: a number that is not a number (NaN,
    /// e.g. a rate without traffic) is written [`NOT_A_NUMBER`], so NaN never reaches a detail.
    pub fn with(mut self, key: &str, value: impl ExtraValue) -> Self {
        self.extra.push((key.to_string(), value.render()));
        self
    }

    /// The `extra` value under `key`, if present.
    pub fn extra_value(&self, key: &str) -> Option<&str> {
        self.extra.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

impl JudgeInfo {
    /// Name and version, with the config schema `{}` (accepts anything).
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            config_schema: "{}".into(),
        }
    }

    /// Sets the JSON Schema of the judge's config.
    pub fn with_config_schema(mut self, schema: impl Into<String>) -> Self {
        self.config_schema = schema.into();
        self
    }
}

/// How a detail's extra text writes NaN (e.g. a rate without traffic).
pub const NOT_A_NUMBER: &str = "n/a";

/// A value of a detail's `extra` entries, written as text.
pub trait ExtraValue {
    /// The text of the value.
    fn render(&self) -> String;
}

impl ExtraValue for f64 {
    fn render(&self) -> String {
        if self.is_nan() {
            NOT_A_NUMBER.to_string()
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

/// The reason codes the shipped judges use (a verdict's `code` is free-form).
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdict_json_has_wit_names_and_every_field() {
        let v = JudgeVerdict::inconclusive(codes::INSUFFICIENT_DATA, "r")
            .with_detail(Detail::default().with_samples(1, 2).with_samples_needed(3))
            .with_state(vec![1, 0, 0, 0]);
        let text = serde_json::to_string(&v).unwrap();
        assert_eq!(
            text,
            r#"{"phase":"inconclusive","code":"insufficient-data","score":null,"reason":"r","details":[{"name":"","statistic":"","value":0.0,"effect":null,"interval":null,"samples":[1,2],"samples-needed":3,"extra":[]}],"state":"AQAAAA=="}"#
        );
        assert_eq!(serde_json::from_str::<JudgeVerdict>(&text).unwrap(), v);
        let info = JudgeInfo::new("n", "1");
        let text = serde_json::to_string(&info).unwrap();
        assert_eq!(text, r#"{"name":"n","version":"1","config-schema":"{}"}"#);
    }

    #[test]
    fn out_of_bounds_names_the_first_problem() {
        let ok = JudgeVerdict::successful("ok", "fine")
            .with_score(1.0)
            .with_detail(Detail::new("d", "s", 1.0).with(NOT_A_NUMBER, f64::NAN));
        assert_eq!(ok.out_of_bounds(), None);
        assert_eq!(ok.details[0].extra_value("n/a"), Some("n/a"));
        let high = ok.clone().with_score(1.5);
        assert_eq!(high.out_of_bounds(), Some("score 1.5 is outside [0, 1]".into()));
        let nan = ok
            .clone()
            .with_detail(Detail::new("d", "s", 0.0).with_interval(0.0, f64::NAN));
        assert!(
            nan.out_of_bounds()
                .is_some_and(|p| p.starts_with("NaN in the numbers"))
        );
        let text = ok.with_detail(Detail::new("d", "s", 0.0).with_extra("k", "NaN"));
        assert!(
            text.out_of_bounds()
                .is_some_and(|p| p.starts_with("NaN in the extra"))
        );
        assert_eq!(VerdictPhase::Inconclusive.to_string(), "inconclusive");
        assert_eq!(JudgeVerdict::invalid("x").code, codes::INVALID_INPUT);
    }
}
