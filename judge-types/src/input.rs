//! The input of one evaluation: WIT `evaluation-input` and the records in it.

use serde::{Deserialize, Serialize};

use crate::serde_forms::{nonfinite, state_bytes};

/// WIT `point`: one observation of a metric, a value at a time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Point {
    /// End of the observation window, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The value (NaN means "no data in this step").
    #[serde(with = "nonfinite")]
    pub value: f64,
}

/// WIT `ratio-point`: counts of a ratio metric (e.g. errors / requests) over the window ending at
/// `time_ms`; per window, not cumulative.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct RatioPoint {
    /// End of the window, milliseconds since the Unix epoch (0 when absent in JSON).
    #[serde(default)]
    pub time_ms: i64,
    /// Events in the window (errors, slow requests).
    pub numerator: f64,
    /// Exposure in the window (requests).
    pub denominator: f64,
}

/// WIT `bucket`: one cumulative histogram bucket, the number of observations `<= upper_bound`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Bucket {
    /// Upper bound (`le`); `f64::INFINITY` for `+Inf`.
    #[serde(with = "nonfinite")]
    pub upper_bound: f64,
    /// Cumulative count of observations at or below the bound.
    pub count: f64,
}

/// WIT `series`: the data of one arm (`canary`, `stable`, `canary-publish`, ...).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Series {
    /// Series name (the key under the metric's `judge.queries`).
    pub name: String,
    /// Plain values, e.g. a latency quantile per interval.
    #[serde(default)]
    pub points: Vec<Point>,
    /// Ratio counts per window; empty unless the query is a ratio.
    #[serde(default)]
    pub ratios: Vec<RatioPoint>,
    /// Histogram buckets (cumulative counts); empty unless the query is a histogram.
    #[serde(default)]
    pub buckets: Vec<Bucket>,
}

/// WIT `weight-point`: the canary's traffic weight (percent) from `time_ms` on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct WeightPoint {
    /// Start of this weight, milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// Canary weight, 0-100.
    pub canary_weight: u32,
}

/// WIT `arg`: a named, substituted argument of the analysis run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JudgeArg {
    /// Argument name.
    pub name: String,
    /// Argument value.
    pub value: String,
}

/// WIT `evaluation-input`: everything a judge sees in one evaluation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct JudgeInput {
    /// The metric's name in the AnalysisRun.
    pub metric: String,
    /// Time of this evaluation, milliseconds since the Unix epoch (set by the host).
    #[serde(default)]
    pub now_ms: i64,
    /// Per-arm data.
    #[serde(default)]
    pub series: Vec<Series>,
    /// The canary traffic weight timeline of the rollout.
    #[serde(default)]
    pub weights: Vec<WeightPoint>,
    /// Arguments of the analysis run.
    #[serde(default)]
    pub args: Vec<JudgeArg>,
    /// The judge's configuration from the metric spec, as text (JSON by convention; the core
    /// passes `"null"` when the metric has none).
    #[serde(default)]
    pub config: String,
    /// The state this judge returned from its previous evaluation in this run, if any.
    #[serde(default, with = "state_bytes")]
    pub state: Option<Vec<u8>>,
}

impl JudgeInput {
    /// The first series called `name`, if any.
    pub fn series(&self, name: &str) -> Option<&Series> {
        self.series.iter().find(|s| s.name == name)
    }

    /// The value of the first argument called `name`, if any.
    pub fn arg(&self, name: &str) -> Option<&str> {
        self.args
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_str())
    }

    /// The metric name, or `default` when it is empty.
    pub fn metric_or(&self, default: &str) -> String {
        if self.metric.is_empty() {
            default.to_string()
        } else {
            self.metric.clone()
        }
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

/// Sums of numerators and denominators over a series' ratio points.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct RatioTotals {
    /// Sum of numerators (e.g. errors).
    pub numerator: f64,
    /// Sum of denominators (e.g. requests).
    pub denominator: f64,
}

impl RatioTotals {
    /// `numerator / denominator`, or `None` when the denominator is zero.
    pub fn ratio(&self) -> Option<f64> {
        (self.denominator != 0.0).then(|| self.numerator / self.denominator)
    }

    /// `numerator / denominator`, or `0.0` when the denominator is zero.
    pub fn ratio_or_zero(&self) -> f64 {
        self.ratio().unwrap_or(0.0)
    }
}

impl Series {
    /// Sums of numerators and denominators over [`Series::ratios`], added in list order.
    pub fn ratio_totals(&self) -> RatioTotals {
        self.ratios
            .iter()
            .fold(RatioTotals::default(), |acc, r| RatioTotals {
                numerator: acc.numerator + r.numerator,
                denominator: acc.denominator + r.denominator,
            })
    }

    /// The plain values of [`Series::points`], in order.
    pub fn values(&self) -> impl Iterator<Item = f64> + '_ {
        self.points.iter().map(|p| p.value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_uses_wit_names_and_defaults() {
        let text = r#"{"metric":"m","now-ms":5,"series":[{"name":"canary",
            "points":[{"time-ms":1,"value":"nan"}],
            "ratios":[{"numerator":1,"denominator":4}],
            "buckets":[{"upper-bound":"+Inf","count":3}]}],
            "weights":[{"time-ms":2,"canary-weight":20}],
            "args":[{"name":"a","value":"b"}],"state":"AQI="}"#;
        let input: JudgeInput = serde_json::from_str(text).unwrap();
        let canary = input.series("canary").unwrap();
        assert!(canary.points[0].value.is_nan());
        assert_eq!(canary.ratios[0].time_ms, 0);
        assert_eq!(canary.buckets[0].upper_bound, f64::INFINITY);
        assert_eq!(input.weight_at(3), Some(20));
        assert_eq!(input.weight_at(1), None);
        assert_eq!(input.arg("a"), Some("b"));
        assert_eq!((input.config.as_str(), input.state), ("", Some(vec![1, 2])));
    }

    #[test]
    fn json_round_trips_and_rejects_unknown_fields() {
        let input = JudgeInput {
            metric: "m".into(),
            series: vec![Series {
                name: "s".into(),
                buckets: vec![Bucket {
                    upper_bound: f64::INFINITY,
                    count: 1.0,
                }],
                ..Series::default()
            }],
            state: Some(vec![0, 255, 7]),
            ..JudgeInput::default()
        };
        let text = serde_json::to_string(&input).unwrap();
        assert!(text.contains(r#""upper-bound":"inf""#), "{text}");
        assert_eq!(serde_json::from_str::<JudgeInput>(&text).unwrap(), input);
        let err = serde_json::from_str::<JudgeInput>(r#"{"metric":"m","seris":[]}"#).unwrap_err();
        assert!(err.to_string().contains("unknown field `seris`"), "{err}");
        assert!(serde_json::from_str::<JudgeInput>(r#"{"series":[]}"#).is_err());
    }

    #[test]
    fn ratio_totals_add_in_order() {
        let s = Series {
            ratios: vec![
                RatioPoint {
                    time_ms: 0,
                    numerator: 1.0,
                    denominator: 10.0,
                },
                RatioPoint {
                    time_ms: 1,
                    numerator: 2.0,
                    denominator: 30.0,
                },
            ],
            ..Series::default()
        };
        assert_eq!(s.ratio_totals().ratio(), Some(0.075));
        assert_eq!(RatioTotals::default().ratio_or_zero(), 0.0);
    }
}
