//! The default judge: canary vs stable error counts with the anytime-valid rate-ratio test.
//!
//! Series: `canary` and `stable` (or `baseline`) ratio series of errors / requests per window.
//! Fail on evidence that the canary's error rate exceeds `(1 + failTolerance)` times stable's;
//! Pass when the canary is shown to be below `(1 + tolerance)` times stable's (or below
//! `passBelowRate`) after `minRequests` per arm; otherwise Inconclusive with samples needed.
//! With `dispersion: estimate` (the default) each window's evidence is discounted by how much more
//! the canary's share of errors varies between windows than binomial noise would
//! ([`crate::dispersion`]), so per-arm bursts and per-pod variation do not read as a regression.

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, check_min, check_open};
use crate::counts::{CountState, CountTest, Exposure, assess, pair_windows};
use crate::data::{JudgeData, Series, Verdict, codes};
use crate::dispersion::DispersionMode;
use crate::guard::{MissingData, bonferroni};

/// Judge name.
pub const NAME: &str = "error-ratio";

/// Configuration (JSON, camelCase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Config {
    /// Canary series name.
    pub canary: String,
    /// Stable series name (`baseline` is accepted when this series is absent).
    pub stable: String,
    /// Error level of the analysis (false fail and false pass rates), before correction.
    pub alpha: f64,
    /// Number of metrics judged together in the analysis; alpha is divided by it (Bonferroni).
    pub comparisons: u32,
    /// Fail when the canary's rate is shown above `(1 + failTolerance)` × stable's.
    pub fail_tolerance: f64,
    /// Pass when the canary's rate is shown below `(1 + tolerance)` × stable's.
    pub tolerance: f64,
    /// Absolute SLO on the error rate: stable above it → environment-unhealthy; canary above it
    /// while stable is below → fail.
    pub max_error_rate: Option<f64>,
    /// Also pass when the canary's error rate is shown below this absolute rate.
    pub pass_below_rate: Option<f64>,
    /// Requests per arm required before any pass.
    pub min_requests: f64,
    /// How the canary's exposure share is measured.
    pub exposure: Exposure,
    /// Largest ratio in the mixture of alternatives.
    pub max_ratio: f64,
    /// What to do without data.
    pub missing_data: MissingData,
    /// Report the Bayesian P(canary worse) and expected loss in the details of conclusive verdicts
    /// (Successful or Failed; explanation only).
    pub bayesian_details: bool,
    /// `estimate` (default): discount each window's evidence by the between-window overdispersion
    /// estimated from the data; `binomial`: assume binomial noise in every window.
    pub dispersion: DispersionMode,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            canary: "canary".into(),
            stable: "stable".into(),
            alpha: 0.05,
            comparisons: 1,
            fail_tolerance: 0.0,
            tolerance: 0.25,
            max_error_rate: None,
            pass_below_rate: None,
            min_requests: 200.0,
            exposure: Exposure::Requests,
            max_ratio: 20.0,
            missing_data: MissingData::Inconclusive,
            bayesian_details: true,
            dispersion: DispersionMode::Estimate,
        }
    }
}

impl Config {
    /// Validates the fields and resolves the count test.
    pub fn test(&self) -> Result<CountTest, ConfigError> {
        check_open("alpha", self.alpha, 0.0, 1.0)?;
        check_min("failTolerance", self.fail_tolerance, 0.0)?;
        check_open("tolerance", self.tolerance, 0.0, f64::INFINITY)?;
        check_open("maxRatio", self.max_ratio, 1.1, 1e3)?;
        check_min("minRequests", self.min_requests, 0.0)?;
        if let Some(r) = self.max_error_rate {
            check_open("maxErrorRate", r, 0.0, 1.0)?;
        }
        if let Some(r) = self.pass_below_rate {
            check_open("passBelowRate", r, 0.0, 1.0)?;
        }
        Ok(CountTest {
            alpha: bonferroni(self.alpha, self.comparisons),
            fail_ratio: 1.0 + self.fail_tolerance,
            pass_ratio: 1.0 + self.tolerance,
            max_ratio: self.max_ratio,
            max_rate: self.max_error_rate,
            pass_below_rate: self.pass_below_rate,
            min_exposure: self.min_requests,
            min_canary_events: 0.0,
            missing_data: self.missing_data,
            bayesian_details: self.bayesian_details,
        })
    }
}

/// The judge state: the count state of the e-process.
pub type State = CountState;

/// Finds the stable arm: `name`, or `baseline` when `name` is the default `stable` and absent.
pub(crate) fn stable_series<'a>(input: &'a JudgeData, name: &str) -> Option<&'a Series> {
    input.series(name).or_else(|| {
        if name == "stable" {
            input.series("baseline")
        } else {
            None
        }
    })
}

/// Judges one evaluation. Returns the verdict and the state for the next evaluation (unchanged
/// when the verdict is an Error).
pub fn judge(input: &JudgeData, config: &Config, state: Option<State>) -> (Verdict, State) {
    if let Some(v) = crate::data::reject(input, config) {
        return (v, state.unwrap_or_else(CountState::empty));
    }
    let test = match config.test() {
        Ok(t) => t,
        Err(e) => {
            return (
                Verdict::invalid(e.to_string()),
                state.unwrap_or_else(CountState::empty),
            );
        }
    };
    let mut st = match CountState::resume_with(state, &test, config.dispersion) {
        Ok(s) => s,
        Err(e) => {
            return (
                Verdict::new(crate::data::Phase::Error, codes::STATE_MISMATCH, e),
                CountState::fresh(&test, config.dispersion),
            );
        }
    };
    let empty = Series::default();
    let canary = input.series(&config.canary).unwrap_or(&empty);
    let stable = stable_series(input, &config.stable).unwrap_or(&empty);
    let windows = match pair_windows(
        &canary.ratios,
        &stable.ratios,
        st.last_time_ms,
        config.exposure,
        &|t| input.weight_at(t),
    ) {
        Ok(w) => w,
        Err(e) => return (Verdict::invalid(e), st),
    };
    let o = assess(&test, &mut st, &windows, &input.metric_or(NAME));
    let mut v = Verdict::new(o.phase, o.code, o.reason);
    v.score = score_of(&o.detail);
    v.details.push(o.detail);
    (v, st)
}

/// A score in [0, 1]: 1 − P(regression) proxy, `min(1, 1/e-value)` of the fail test.
pub(crate) fn score_of(d: &crate::data::Detail) -> Option<f64> {
    (d.value.is_finite() && d.value > 0.0).then(|| (1.0 / d.value).min(1.0))
}
