//! Typed accessors over [`EvaluationInput`]: series by name, ratio totals and parsed args.

use std::str::FromStr;

pub use judge_types::RatioTotals;

use crate::{EvaluationInput, Series, WeightPoint};

/// The input of one evaluation, with typed accessors.
///
/// Wraps the [`EvaluationInput`] (`judge_types::JudgeInput`); [`Input::raw`] gives access to every
/// field.
#[derive(Debug, Clone, PartialEq)]
pub struct Input {
    inner: EvaluationInput,
}

impl Input {
    /// Wraps the raw input.
    pub fn new(inner: EvaluationInput) -> Self {
        Self { inner }
    }

    /// The raw input record.
    pub fn raw(&self) -> &EvaluationInput {
        &self.inner
    }

    /// Unwraps the raw input record.
    pub fn into_inner(self) -> EvaluationInput {
        self.inner
    }

    /// The metric's name in the AnalysisRun.
    pub fn metric(&self) -> &str {
        &self.inner.metric
    }

    /// Time of this evaluation, milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        self.inner.now_ms
    }

    /// The judge's configuration text from the metric spec (JSON by convention; may be empty).
    pub fn config(&self) -> &str {
        &self.inner.config
    }

    /// The state this judge returned from its previous evaluation in this run.
    pub fn state(&self) -> Option<&[u8]> {
        self.inner.state.as_deref()
    }

    /// The canary traffic weight timeline.
    pub fn weights(&self) -> &[WeightPoint] {
        &self.inner.weights
    }

    /// All series, in the order the host sent them.
    pub fn all_series(&self) -> &[Series] {
        &self.inner.series
    }

    /// The first series called `name`, if any.
    pub fn series(&self, name: &str) -> Option<&Series> {
        self.inner.series.iter().find(|s| s.name == name)
    }

    /// The first series called `name`, or the error `missing series "<name>"`.
    pub fn require_series(&self, name: &str) -> Result<&Series, String> {
        self.series(name)
            .ok_or_else(|| format!("missing series \"{name}\""))
    }

    /// The raw text of the first argument called `name`, if any.
    pub fn arg_str(&self, name: &str) -> Option<&str> {
        self.inner
            .args
            .iter()
            .find(|a| a.name == name)
            .map(|a| a.value.as_str())
    }

    /// The first argument called `name`, parsed with [`FromStr`]; `Ok(None)` when absent and the
    /// error `invalid arg "<name>": "<value>"` when it does not parse.
    pub fn arg<T: FromStr>(&self, name: &str) -> Result<Option<T>, String> {
        match self.arg_str(name) {
            None => Ok(None),
            Some(text) => text.parse::<T>().map(Some).map_err(|_| invalid_arg(name, text)),
        }
    }

    /// Like [`Input::arg`], with `default` when the argument is absent.
    pub fn arg_or<T: FromStr>(&self, name: &str, default: T) -> Result<T, String> {
        Ok(self.arg(name)?.unwrap_or(default))
    }
}

/// The error message for an argument whose value is not valid: `invalid arg "<name>": "<value>"`.
pub fn invalid_arg(name: &str, value: &str) -> String {
    format!("invalid arg \"{name}\": \"{value}\"")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Arg, RatioPoint};

    fn input() -> Input {
        let ratio = |n, d| RatioPoint {
            time_ms: 0,
            numerator: n,
            denominator: d,
        };
        Input::new(EvaluationInput {
            metric: "errors".into(),
            now_ms: 7,
            series: vec![
                Series {
                    name: "canary".into(),
                    points: vec![],
                    ratios: vec![ratio(1.0, 10.0), ratio(2.0, 30.0)],
                    buckets: vec![],
                },
                Series {
                    name: "canary".into(),
                    points: vec![],
                    ratios: vec![ratio(9.0, 9.0)],
                    buckets: vec![],
                },
            ],
            weights: vec![],
            args: vec![
                Arg {
                    name: "n".into(),
                    value: "12".into(),
                },
                Arg {
                    name: "n".into(),
                    value: "13".into(),
                },
                Arg {
                    name: "bad".into(),
                    value: "x1".into(),
                },
            ],
            config: String::new(),
            state: Some(vec![1, 2]),
        })
    }

    #[test]
    fn first_series_wins_and_totals_add_in_order() {
        let t = input().require_series("canary").map(Series::ratio_totals);
        assert_eq!(
            t,
            Ok(RatioTotals {
                numerator: 3.0,
                denominator: 40.0
            })
        );
        assert_eq!(t.map(|t| t.ratio()), Ok(Some(0.075)));
    }

    #[test]
    fn missing_series_message() {
        assert_eq!(
            input().require_series("stable"),
            Err("missing series \"stable\"".to_string())
        );
    }

    #[test]
    fn args_parse_first_and_report_invalid() {
        let i = input();
        assert_eq!(i.arg::<u64>("n"), Ok(Some(12)));
        assert_eq!(i.arg_or::<u64>("absent", 5), Ok(5));
        assert_eq!(
            i.arg::<f64>("bad"),
            Err("invalid arg \"bad\": \"x1\"".to_string())
        );
        assert_eq!(i.state(), Some(&[1u8, 2][..]));
        assert_eq!((i.metric(), i.now_ms()), ("errors", 7));
    }

    #[test]
    fn zero_denominator_has_no_ratio() {
        let t = RatioTotals {
            numerator: 1.0,
            denominator: 0.0,
        };
        assert_eq!((t.ratio(), t.ratio_or_zero()), (None, 0.0));
    }
}
