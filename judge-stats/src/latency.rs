//! The latency judge. Never runs Mann-Whitney on raw, autocorrelated per-step points; it judges
//! per-request evidence instead:
//! - `slower-than` (default): the requests slower than `threshold` are counted from histogram
//!   buckets (`count(+Inf) − count(le = threshold)`) or from per-request samples in `points`, and
//!   judged with the error-ratio machinery (anytime-valid, robust to shared drift because each
//!   window is conditioned on separately).
//! - `quantile`: a time-uniform DKW band (reference §5.5) on each arm's accumulated histogram
//!   gives an anytime-valid interval for the `quantile`; Fail when the canary's lower bound exceeds
//!   `(1 + failTolerance)` × stable's upper bound, Pass when the canary's upper bound is below
//!   `(1 + tolerance)` × stable's lower bound. Assumes requests are exchangeable over time (iid).

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, check_min, check_open};
use crate::counts::{CountState, CountTest, CountWindow, assess};
use crate::data::{Bucket, Detail, JudgeData, Phase, Series, Verdict, codes};
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
    /// Compare a quantile with a time-uniform DKW band (histograms only).
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
    /// SLO on the share of slow requests (baseline-health guard and canary SLO check).
    pub max_slow_rate: Option<f64>,
    /// Also pass when the canary's slow share is shown below this.
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
        if self.mode == Mode::SlowerThan && !self.threshold.is_some_and(f64::is_finite) {
            return Err(ConfigError::Invalid {
                field: "threshold",
                problem: "is required in slower-than mode".into(),
            });
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

/// State: the count state plus the previous cumulative histograms and the accumulated ones.
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

/// Anytime-valid interval of the `q`-quantile from a cumulative histogram with `n` observations:
/// the DKW band `ε_n = sqrt(ln(π²n²/(3α)) / (2n))` holds for all n at once with probability 1−α.
pub fn dkw_quantile_interval(buckets: &[Bucket], q: f64, alpha: f64) -> Option<(f64, f64, f64)> {
    let n = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
    if n <= 0.0 {
        return None;
    }
    let eps = ((std::f64::consts::PI.powi(2) * n * n / (3.0 * alpha)).ln() / (2.0 * n)).sqrt();
    let cdf = |b: &Bucket| b.count / n;
    let lower = buckets
        .iter()
        .filter(|b| cdf(b) + eps < q)
        .map(|b| b.upper_bound)
        .fold(0.0, f64::max);
    let upper = buckets
        .iter()
        .filter(|b| cdf(b) - eps >= q)
        .map(|b| b.upper_bound)
        .fold(f64::INFINITY, f64::min);
    Some((lower, upper, n))
}

/// Judges one evaluation.
pub fn judge(input: &JudgeData, config: &Config, state: Option<State>) -> (Verdict, State) {
    let fresh = |t: &CountTest| State {
        counts: CountState::new(t),
        previous: (Vec::new(), Vec::new()),
        accumulated: (Vec::new(), Vec::new()),
        last_point_ms: None,
    };
    let test = match config.test() {
        Ok(t) => t,
        Err(e) => {
            let st = state.unwrap_or_else(|| State {
                counts: CountState::empty(),
                previous: (Vec::new(), Vec::new()),
                accumulated: (Vec::new(), Vec::new()),
                last_point_ms: None,
            });
            return (Verdict::invalid(e.to_string()), st);
        }
    };
    let mut st = match state {
        Some(s) => match CountState::resume(Some(s.counts.clone()), &test) {
            Ok(_) => s,
            Err(e) => return (Verdict::new(Phase::Error, codes::STATE_MISMATCH, e), fresh(&test)),
        },
        None => fresh(&test),
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
        add(&mut st.accumulated.0, &cb);
        add(&mut st.accumulated.1, &sb);
        return (quantile_verdict(config, &test, &st, &name), st);
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
        let after = st.last_point_ms;
        let new = |s: &Series| -> Vec<f64> {
            s.points
                .iter()
                .filter(|p| after.is_none_or(|t| p.time_ms > t) && p.value.is_finite())
                .map(|p| p.value)
                .collect()
        };
        let (c, s) = (new(canary), new(stable));
        let last = canary
            .points
            .iter()
            .chain(&stable.points)
            .map(|p| p.time_ms)
            .max();
        st.last_point_ms = last.max(st.last_point_ms);
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

fn quantile_verdict(config: &Config, test: &CountTest, st: &State, name: &str) -> Verdict {
    let half = test.alpha / 2.0;
    let (c, s) = (
        dkw_quantile_interval(&st.accumulated.0, config.quantile, half),
        dkw_quantile_interval(&st.accumulated.1, config.quantile, half),
    );
    let (Some((clo, chi, cn)), Some((slo, shi, sn))) = (c, s) else {
        let arm = if c.is_none() { "canary" } else { "stable" };
        let v = config
            .missing_data
            .verdict(format!("{name}: no {arm} histogram yet; no data is never a pass"));
        return Verdict::new(v.phase, codes::NO_DATA, v.reason);
    };
    let mut d = Detail::new(
        format!("{name} p{}", config.quantile * 100.0),
        "dkw-quantile-interval",
        clo,
    );
    d.interval = Some((clo, chi));
    d.samples = (cn as u64, sn as u64);
    d = d
        .with("stable-lower", slo)
        .with("stable-upper", shi)
        .with("alpha", test.alpha);
    // The canary's quantile is strictly above `clo` and stable's at most `shi`.
    let (phase, code, reason) = if clo > 0.0 && clo >= test.fail_ratio * shi {
        (
            Phase::Failed,
            codes::REGRESSION,
            format!("{name}: canary quantile is above {clo} while stable's is at most {shi}"),
        )
    } else if cn.min(sn) >= test.min_exposure && chi <= test.pass_ratio * slo {
        (
            Phase::Successful,
            codes::WITHIN_TOLERANCE,
            format!("{name}: canary quantile is at most {chi}, within tolerance of stable's {slo}"),
        )
    } else {
        // The band half-width shrinks like sqrt(ln n / n); ask for 4x the data as a rough guide.
        d.samples_needed = Some((3.0 * cn.min(sn)).max(test.min_exposure - cn.min(sn)).ceil() as u64);
        (
            Phase::Inconclusive,
            codes::INSUFFICIENT_EVIDENCE,
            format!("{name}: quantile intervals overlap (canary [{clo}, {chi}], stable [{slo}, {shi}])"),
        )
    };
    let mut v = Verdict::new(phase, code, reason);
    v.details.push(d);
    v
}
