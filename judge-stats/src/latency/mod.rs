//! The latency judge. Never runs Mann-Whitney on raw, autocorrelated per-step points; it judges
//! per-request evidence instead:
//! - `slower-than` (default): the requests slower than `threshold` are counted from histogram
//!   buckets (`count(+Inf) − count(le = threshold)`) or from per-request samples in `points`, and
//!   judged with the error-ratio machinery (anytime-valid, robust to shared drift because each
//!   window is conditioned on separately).
//! - `quantile` (see `quantile.rs`): a time-uniform confidence sequence for each arm's `quantile`
//!   ([`quantile_interval`]: a Bernstein bound on the binomial count at the quantile, with a
//!   union over sample sizes; it is valid at every look, like the DKW band of reference §5.5, but
//!   needs about 60x fewer requests for a p99). Fail when the canary's lower bound reaches
//!   `(1 + failTolerance)` × stable's upper bound, Pass when the canary's upper bound is at most
//!   `(1 + tolerance)` × stable's lower bound (after `minRequests` per arm). Each arm's bounds
//!   use α/2 per side, so a false Fail and a false Pass each have probability at most α. The
//!   distribution is accumulated from histogram buckets, or from per-request samples folded into
//!   a [`LogHistogram`] (1% resolution, bounded state), so the same config works for both inputs.
//!   `maxQuantile` is the SLO of the baseline-health guard and the canary SLO check. Assumes
//!   requests are exchangeable over time (iid).
//!
//! A run uses one input kind: histogram buckets take precedence over points.

mod quantile;

pub use quantile::{
    GROWTH, LogHistogram, MAX_INDEX, binomial_margin, dkw_quantile_interval, quantile_interval,
};

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, JudgeConfig, check_comparisons, check_min, check_open, check_rate};
use crate::counts::{CountState, CountTest, CountWindow, assess};
use crate::data::{Bucket, JudgeData, Phase, Series, Verdict, codes};
use crate::guard::{MissingData, bonferroni};

/// Judge name.
pub const NAME: &str = "latency";

/// Test mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Count requests slower than `threshold` and compare the rates.
    #[default]
    SlowerThan,
    /// Compare a quantile with a time-uniform confidence sequence (histograms or per-request
    /// samples).
    Quantile,
}

/// Configuration (JSON, camelCase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Config {
    /// Canary series.
    pub canary: String,
    /// Stable series (`baseline` accepted).
    pub stable: String,
    /// Mode.
    pub mode: Mode,
    /// Latency threshold (same unit as the bucket bounds / points) for `slower-than`; the largest
    /// bucket bound at or below it is used.
    pub threshold: Option<f64>,
    /// Quantile for `quantile` mode, in (0, 1).
    pub quantile: f64,
    /// Bucket counts are cumulative since the start of the run (else: per evaluation window).
    pub cumulative_buckets: bool,
    /// Error level before correction.
    pub alpha: f64,
    /// Metrics judged together (Bonferroni).
    pub comparisons: u32,
    /// Fail margin (ratio of slow rates, or of quantiles).
    pub fail_tolerance: f64,
    /// Pass margin.
    pub tolerance: f64,
    /// SLO on the share of slow requests (baseline-health guard and canary SLO check;
    /// slower-than mode).
    pub max_slow_rate: Option<f64>,
    /// SLO on the `quantile` (same unit as the values): the baseline-health guard and canary SLO
    /// check of quantile mode.
    pub max_quantile: Option<f64>,
    /// Also pass when the canary's slow share is shown below this (slower-than mode).
    pub pass_below_rate: Option<f64>,
    /// Requests per arm before a pass.
    pub min_requests: f64,
    /// Mixture range.
    pub max_ratio: f64,
    /// Missing-data policy.
    pub missing_data: MissingData,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            canary: "canary".into(),
            stable: "stable".into(),
            mode: Mode::SlowerThan,
            threshold: None,
            quantile: 0.99,
            cumulative_buckets: false,
            alpha: 0.05,
            comparisons: 1,
            fail_tolerance: 0.0,
            tolerance: 0.25,
            max_slow_rate: None,
            max_quantile: None,
            pass_below_rate: None,
            min_requests: 200.0,
            max_ratio: 20.0,
            missing_data: MissingData::Inconclusive,
        }
    }
}

impl Config {
    fn test(&self) -> Result<CountTest, ConfigError> {
        check_open("alpha", self.alpha, 0.0, 1.0)?;
        check_min("failTolerance", self.fail_tolerance, 0.0)?;
        check_open("tolerance", self.tolerance, 0.0, f64::INFINITY)?;
        check_open("maxRatio", self.max_ratio, 1.1, 1e3)?;
        check_open("quantile", self.quantile, 0.0, 1.0)?;
        check_min("minRequests", self.min_requests, 0.0)?;
        check_comparisons(self.comparisons)?;
        check_rate("maxSlowRate", self.max_slow_rate)?;
        check_rate("passBelowRate", self.pass_below_rate)?;
        if self.mode == Mode::SlowerThan && !self.threshold.is_some_and(f64::is_finite) {
            return Err(ConfigError::Invalid {
                field: "threshold",
                problem: "is required in slower-than mode".into(),
            });
        }
        let only = |field: &'static str, set: bool, mode: &str, instead: &str| {
            if set {
                Err(ConfigError::Invalid {
                    field,
                    problem: format!("applies only in {mode} mode; {instead}"),
                })
            } else {
                Ok(())
            }
        };
        match self.mode {
            Mode::SlowerThan => only(
                "maxQuantile",
                self.max_quantile.is_some(),
                "quantile",
                "use maxSlowRate with a threshold",
            )?,
            Mode::Quantile => {
                let instead = "use maxQuantile for the SLO";
                only(
                    "maxSlowRate",
                    self.max_slow_rate.is_some(),
                    "slower-than",
                    instead,
                )?;
                only(
                    "passBelowRate",
                    self.pass_below_rate.is_some(),
                    "slower-than",
                    instead,
                )?;
            }
        }
        if let Some(m) = self.max_quantile {
            check_open("maxQuantile", m, 0.0, f64::INFINITY)?;
        }
        Ok(CountTest {
            alpha: bonferroni(self.alpha, self.comparisons),
            fail_ratio: 1.0 + self.fail_tolerance,
            pass_ratio: 1.0 + self.tolerance,
            max_ratio: self.max_ratio,
            max_rate: self.max_slow_rate,
            pass_below_rate: self.pass_below_rate,
            min_exposure: self.min_requests,
            min_canary_events: 0.0,
            missing_data: self.missing_data,
            bayesian_details: false,
        })
    }
}

impl JudgeConfig for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.test().map(|_| ())
    }
}

/// State: the count state, the previous cumulative histograms and the accumulated ones, and the
/// per-request samples of quantile mode (bounded: log-bucketed, see [`LogHistogram`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Count test state (slower-than mode).
    pub counts: CountState,
    /// Previous cumulative bucket counts (canary, stable) when buckets are cumulative.
    pub previous: (Vec<Bucket>, Vec<Bucket>),
    /// Accumulated histograms (canary, stable) for quantile mode.
    pub accumulated: (Vec<Bucket>, Vec<Bucket>),
    /// Latest per-request sample time folded in.
    pub last_point_ms: Option<i64>,
    /// Per-request samples (canary, stable) for quantile mode.
    #[serde(default)]
    pub samples: (LogHistogram, LogHistogram),
}

/// Total and "slower than bound" counts of a cumulative histogram; `bound` is the largest bucket
/// bound `<= threshold`.
pub fn slow_counts(buckets: &[Bucket], threshold: f64) -> Option<(f64, f64, f64)> {
    let total = buckets.iter().map(|b| b.count).fold(f64::NAN, f64::max);
    let at = buckets
        .iter()
        .filter(|b| b.upper_bound <= threshold)
        .max_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound))?;
    (total.is_finite() && total >= at.count).then_some((total, total - at.count, at.upper_bound))
}

fn diff(now: &[Bucket], prev: &[Bucket]) -> Vec<Bucket> {
    now.iter()
        .map(|b| {
            let p = prev
                .iter()
                .find(|q| q.upper_bound == b.upper_bound)
                .map_or(0.0, |q| q.count);
            Bucket {
                upper_bound: b.upper_bound,
                count: (b.count - p).max(0.0),
            }
        })
        .collect()
}

fn add(acc: &mut Vec<Bucket>, more: &[Bucket]) {
    for b in more {
        match acc.iter_mut().find(|a| a.upper_bound == b.upper_bound) {
            Some(a) => a.count += b.count,
            None => acc.push(*b),
        }
    }
    acc.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
}

/// The finite per-request samples of both arms newer than the last one folded in; records the
/// latest time seen.
fn new_points(st: &mut State, canary: &Series, stable: &Series) -> (Vec<f64>, Vec<f64>) {
    let after = st.last_point_ms;
    let new = |s: &Series| -> Vec<f64> {
        s.points
            .iter()
            .filter(|p| after.is_none_or(|t| p.time_ms > t) && p.value.is_finite())
            .map(|p| p.value)
            .collect()
    };
    let last = canary
        .points
        .iter()
        .chain(&stable.points)
        .map(|p| p.time_ms)
        .max();
    st.last_point_ms = last.max(st.last_point_ms);
    (new(canary), new(stable))
}

/// Per-request latencies (the `points` of the judged arms) must be non-negative; NaN means "no
/// sample in this step" and is skipped.
fn check_samples(input: &JudgeData, config: &Config) -> Result<(), Verdict> {
    for name in [&config.canary, &config.stable] {
        let Some(s) = crate::error_ratio::stable_series(input, name) else {
            continue;
        };
        if let Some(p) = s
            .points
            .iter()
            .find(|p| p.value < 0.0 || p.value == f64::INFINITY)
        {
            return Err(Verdict::invalid(format!(
                "series {:?}: the latency sample at {} ms is {}; latencies must be finite and non-negative",
                s.name, p.time_ms, p.value
            )));
        }
    }
    Ok(())
}

/// Judges one evaluation.
pub fn judge(input: &JudgeData, config: &Config, state: Option<State>) -> (Verdict, State) {
    let fresh = |counts: CountState| State {
        counts,
        previous: (Vec::new(), Vec::new()),
        accumulated: (Vec::new(), Vec::new()),
        last_point_ms: None,
        samples: Default::default(),
    };
    let checked = match crate::data::reject(input, config) {
        Some(v) => Err(v),
        None => check_samples(input, config)
            .and_then(|()| config.test().map_err(|e| Verdict::invalid(e.to_string()))),
    };
    let test = match checked {
        Ok(t) => t,
        Err(v) => return (v, state.unwrap_or_else(|| fresh(CountState::empty()))),
    };
    let mut st = match state {
        Some(s) => match CountState::resume(Some(s.counts.clone()), &test) {
            Ok(_) => s,
            Err(e) => {
                return (
                    Verdict::new(Phase::Error, codes::STATE_MISMATCH, e),
                    fresh(CountState::new(&test)),
                );
            }
        },
        None => fresh(CountState::new(&test)),
    };
    let empty = Series::default();
    let canary = input.series(&config.canary).unwrap_or(&empty);
    let stable = crate::error_ratio::stable_series(input, &config.stable).unwrap_or(&empty);
    let name = input.metric_or(NAME);
    let (cb, sb) = if config.cumulative_buckets {
        let d = (
            diff(&canary.buckets, &st.previous.0),
            diff(&stable.buckets, &st.previous.1),
        );
        st.previous = (canary.buckets.clone(), stable.buckets.clone());
        d
    } else {
        (canary.buckets.clone(), stable.buckets.clone())
    };
    if config.mode == Mode::Quantile {
        if cb.is_empty() && sb.is_empty() {
            let (c, s) = new_points(&mut st, canary, stable);
            c.iter().for_each(|v| st.samples.0.record(*v));
            s.iter().for_each(|v| st.samples.1.record(*v));
        } else {
            add(&mut st.accumulated.0, &cb);
            add(&mut st.accumulated.1, &sb);
        }
        return (quantile::verdict(config, &test, &st, &name), st);
    }
    let threshold = config.threshold.unwrap_or(f64::INFINITY);
    let mut windows = Vec::new();
    if !cb.is_empty() || !sb.is_empty() {
        let (c, s) = (slow_counts(&cb, threshold), slow_counts(&sb, threshold));
        if let (Some((cn, ce, _)), Some((sn, se, _))) = (c, s) {
            let share = if cn + sn > 0.0 { cn / (cn + sn) } else { f64::NAN };
            windows.push(CountWindow {
                time_ms: input.now_ms,
                share,
                canary_events: ce,
                canary_n: cn,
                stable_events: se,
                stable_n: sn,
            });
        } else if !cb.is_empty() && !sb.is_empty() {
            let msg = format!("no histogram bucket bound at or below the threshold {threshold} in both arms");
            return (Verdict::invalid(msg), st);
        }
    } else {
        let (c, s) = new_points(&mut st, canary, stable);
        let slow = |v: &[f64]| v.iter().filter(|x| **x > threshold).count() as f64;
        let (cn, sn) = (c.len() as f64, s.len() as f64);
        if cn + sn > 0.0 {
            windows.push(CountWindow {
                time_ms: input.now_ms,
                share: cn / (cn + sn),
                canary_events: slow(&c),
                canary_n: cn,
                stable_events: slow(&s),
                stable_n: sn,
            });
        }
    }
    // Windows are keyed by evaluation; clear the dedup key so each evaluation counts once.
    st.counts.last_time_ms = None;
    let o = assess(
        &test,
        &mut st.counts,
        &windows,
        &format!("{name} slower than {threshold}"),
    );
    let mut v = Verdict::new(o.phase, o.code, o.reason);
    v.score = crate::error_ratio::score_of(&o.detail);
    v.details.push(o.detail.with("threshold", threshold));
    (v, st)
}
