//! The count-based sequential judgement shared by the error-ratio, latency ("slower than T") and
//! two-deployment judges: fold new windows into the [`RateRatioProcess`], then apply the missing
//! data policy, the baseline-health guard, the fail test, the canary SLO check and the pass test,
//! in that order.

use serde::{Deserialize, Serialize};

use crate::bayes::{BetaPost, expected_loss, prob_greater};
use crate::data::{Detail, Phase, RatioPoint, codes};
use crate::dispersion::DispersionMode;
use crate::explain::{e_value, e_value_ln, p_value_ln, percent, ratio};
use crate::guard::{MissingData, look_alpha, shown_above, shown_below, slo_check, slo_lower};
use crate::seq::RateRatioProcess;

/// Events and exposure of both arms in one window, with the canary's exposure share.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct CountWindow {
    /// End of the window, ms since the epoch.
    pub time_ms: i64,
    /// Canary share of exposure in (0, 1) (requests share or traffic weight).
    pub share: f64,
    /// Canary events.
    pub canary_events: f64,
    /// Canary exposure (requests).
    pub canary_n: f64,
    /// Stable events.
    pub stable_events: f64,
    /// Stable exposure (requests).
    pub stable_n: f64,
}

/// How the canary's exposure share of a window is computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Exposure {
    /// Its share of the requests (denominators): exact, the default.
    #[default]
    Requests,
    /// The canary traffic weight in force at the window's time.
    Weights,
}

/// Parameters of the count test, resolved from a judge's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct CountTest {
    /// Level of the tests after the multiple-comparison correction.
    pub alpha: f64,
    /// Fail when there is evidence that the rate ratio exceeds this.
    pub fail_ratio: f64,
    /// Pass when the rate ratio is shown to be below this.
    pub pass_ratio: f64,
    /// Upper end of the mixture range of alternatives.
    pub max_ratio: f64,
    /// Absolute SLO on the event rate (baseline-health guard and canary SLO check).
    pub max_rate: Option<f64>,
    /// Also pass when the canary's rate is shown to be below this absolute rate.
    pub pass_below_rate: Option<f64>,
    /// Minimum exposure per arm before a Pass.
    pub min_exposure: f64,
    /// Minimum canary events before a Fail on the ratio test (the two-deployment judge's gate).
    pub min_canary_events: f64,
    /// Missing-data policy.
    pub missing_data: MissingData,
    /// Add the Bayesian explanation (P(canary worse), expected loss) to the detail of a
    /// conclusive verdict (Successful or Failed).
    pub bayesian_details: bool,
}

/// The state carried between evaluations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CountState {
    /// Latest window end folded in; windows at or before it are skipped (deduplication).
    pub last_time_ms: Option<i64>,
    /// Number of evaluations so far.
    pub looks: u64,
    /// The e-process.
    pub process: RateRatioProcess,
}

impl CountState {
    /// A fresh state for `test`.
    pub fn new(test: &CountTest) -> Self {
        Self {
            last_time_ms: None,
            looks: 0,
            process: RateRatioProcess::new(test.fail_ratio, test.pass_ratio, test.max_ratio),
        }
    }

    /// A placeholder state (default parameters), returned alongside configuration errors.
    pub fn empty() -> Self {
        Self {
            last_time_ms: None,
            looks: 0,
            process: RateRatioProcess::new(1.0, 1.25, 20.0),
        }
    }

    /// `state` if it was built for `test`, else an error message (binomial test).
    pub fn resume(state: Option<Self>, test: &CountTest) -> Result<Self, String> {
        Self::resume_with(state, test, DispersionMode::Binomial)
    }

    /// A fresh state for `test` with dispersion mode `mode`.
    pub fn fresh(test: &CountTest, mode: DispersionMode) -> Self {
        let plain = Self::new(test);
        match mode {
            DispersionMode::Estimate => Self {
                process: plain.process.with_dispersion(),
                ..plain
            },
            DispersionMode::Binomial => plain,
        }
    }

    /// [`resume`](Self::resume) for the test with dispersion mode `mode`: a fresh state estimates
    /// the overdispersion when `mode` says so, and a carried state must have been built with the
    /// same mode.
    pub fn resume_with(state: Option<Self>, test: &CountTest, mode: DispersionMode) -> Result<Self, String> {
        let estimate = mode == DispersionMode::Estimate;
        match state {
            None => Ok(Self::fresh(test, mode)),
            Some(s)
                if s.process
                    .matches(test.fail_ratio, test.pass_ratio, test.max_ratio)
                    && s.process.dispersion.is_some() == estimate =>
            {
                Ok(s)
            }
            Some(_) => Err(
                "the judge state was produced with a different tolerance, maxRatio or dispersion; \
                            the configuration must not change during an analysis run"
                    .to_string(),
            ),
        }
    }
}

/// The outcome of one count judgement.
#[derive(Debug, Clone, PartialEq)]
pub struct CountOutcome {
    /// Phase.
    pub phase: Phase,
    /// Reason code.
    pub code: &'static str,
    /// Human-readable reason.
    pub reason: String,
    /// Explanation.
    pub detail: Detail,
}

/// Pairs the new windows (after `after`) of two ratio series by time. Points present in only one
/// arm are pooled into one extra window at the latest time. `weight_at` gives the canary weight
/// (percent) at a time, used with [`Exposure::Weights`].
pub fn pair_windows(
    canary: &[RatioPoint],
    stable: &[RatioPoint],
    after: Option<i64>,
    exposure: Exposure,
    weight_at: &dyn Fn(i64) -> Option<u32>,
) -> Result<Vec<CountWindow>, String> {
    for (arm, pts) in [("canary", canary), ("stable", stable)] {
        for p in pts {
            let ok = p.numerator.is_finite()
                && p.denominator.is_finite()
                && p.numerator >= 0.0
                && p.denominator >= 0.0;
            if !ok || (exposure == Exposure::Requests && p.numerator > p.denominator) {
                return Err(format!(
                    "{arm} window at {} ms has numerator {} and denominator {}; counts must be finite, \
                     non-negative and numerator <= denominator",
                    p.time_ms, p.numerator, p.denominator
                ));
            }
        }
    }
    let fresh = |p: &&RatioPoint| after.is_none_or(|t| p.time_ms > t);
    let mut out = Vec::new();
    let mut rest = (0.0, 0.0, 0.0, 0.0, i64::MIN);
    let stable_new: Vec<&RatioPoint> = stable.iter().filter(fresh).collect();
    let mut used = vec![false; stable_new.len()];
    // The stable points by time (then position): each canary point takes the first unused stable
    // point of its time, found by binary search instead of a scan of every point.
    let mut by_time: Vec<(i64, usize)> = stable_new
        .iter()
        .enumerate()
        .map(|(i, s)| (s.time_ms, i))
        .collect();
    by_time.sort_unstable();
    for c in canary.iter().filter(fresh) {
        let from = by_time.partition_point(|(t, _)| *t < c.time_ms);
        let hit = by_time
            .get(from..)
            .unwrap_or(&[])
            .iter()
            .take_while(|(t, _)| *t == c.time_ms)
            .find(|(_, i)| !used.get(*i).copied().unwrap_or(true))
            .and_then(|(_, i)| stable_new.get(*i).map(|s| (*i, s)));
        if let Some((i, s)) = hit {
            if let Some(u) = used.get_mut(i) {
                *u = true;
            }
            out.push(window(
                c.time_ms,
                c.numerator,
                c.denominator,
                s.numerator,
                s.denominator,
            ));
        } else {
            rest = (
                rest.0 + c.numerator,
                rest.1 + c.denominator,
                rest.2,
                rest.3,
                rest.4.max(c.time_ms),
            );
        }
    }
    for (s, u) in stable_new.iter().zip(&used) {
        if !u {
            rest = (
                rest.0,
                rest.1,
                rest.2 + s.numerator,
                rest.3 + s.denominator,
                rest.4.max(s.time_ms),
            );
        }
    }
    if rest.4 > i64::MIN {
        out.push(window(rest.4, rest.0, rest.1, rest.2, rest.3));
    }
    if exposure == Exposure::Weights {
        for w in &mut out {
            w.share = weight_at(w.time_ms).map_or(f64::NAN, |p| f64::from(p) / 100.0);
        }
    }
    Ok(out)
}

fn window(time_ms: i64, ce: f64, cn: f64, se: f64, sn: f64) -> CountWindow {
    let share = if cn + sn > 0.0 { cn / (cn + sn) } else { f64::NAN };
    CountWindow {
        time_ms,
        share,
        canary_events: ce,
        canary_n: cn,
        stable_events: se,
        stable_n: sn,
    }
}

/// How many standard deviations of the future counts' noise the projected log e-value must clear
/// the threshold by: 0.5 aims at about two runs in three deciding by the estimate rather than one
/// in two.
const SPREAD: f64 = 0.5;
/// Largest number of further requests per arm a projection looks at.
const MAX_PROJECTION: f64 = 1e9;

/// Requests per arm still needed before the count test would decide (Fail or Pass), if both arms
/// kept their current rates and future traffic arrived with canary exposure share `share`.
///
/// The projection adds the expected counts of `m` more requests on the smaller-share arm to a
/// copy of the e-process (the log-likelihoods are linear in the counts, so this is the expected
/// log-likelihood) and applies the same decision rules: fail e-value ≥ 1/α (with
/// `min_canary_events`), canary SLO violation, or after `min_exposure` per arm the pass e-value ≥
/// 1/α or the canary shown below `pass_below_rate`. The projected log e-values must clear
/// ln(1/α), and the canary's events the SLO and floor bounds, by [`SPREAD`] standard deviations
/// of the future counts' binomial noise, so the estimate lies a little above the median time to
/// decide rather than at it. With the overdispersion estimate on, the future windows' evidence is
/// discounted by their dispersion factor `φ` and their noise inflated by it (the SLO and floor
/// checks, which are binomial, keep binomial noise). The smallest such `m` is found by doubling and bisection (every
/// rule is monotone in `m`). An arm with no events yet is projected at half an event so far.
/// `None` when no amount up to 1e9 requests would decide, e.g. a ratio between the pass and the
/// fail margin. Never `Some(0)`.
pub fn samples_needed(test: &CountTest, p: &RateRatioProcess, looks: u64, share: f64) -> Option<u64> {
    let (cn, sn) = (p.canary_exposure.max(0.0), p.stable_exposure.max(0.0));
    // An arm without events yet projects at half an event so far.
    let rate = |e: f64, n: f64| if e > 0.0 { e / n } else { 0.5 / (n + 1.0) };
    let (pc, ps) = (rate(p.canary_events, cn), rate(p.stable_events, sn));
    let s = if share > 0.0 && share < 1.0 { share } else { 0.5 };
    let per_look = ((cn + sn) / looks.max(1) as f64).max(1.0);
    let thr = (1.0 / test.alpha).ln();
    // Future windows are discounted by their dispersion factor, and their counts vary by as much.
    let phi = p.future_factor(s);
    let projection = p.projection(s, 1.0 / phi);
    let var = |n: f64, p: f64| n * p * (1.0 - p);
    let decided = |m: f64| {
        let (ac, asb) = if s <= 0.5 {
            (m, m * (1.0 - s) / s)
        } else {
            (m * s / (1.0 - s), m)
        };
        // Each test is projected only when the rules get to it (the pass test only with enough
        // exposure): the same decision as projecting both.
        let counts = (ac * pc, asb * ps, phi * var(ac, pc), phi * var(asb, ps));
        let (ce, c_n) = (p.canary_events + ac * pc, cn + ac);
        let (se, s_n) = (p.stable_events + asb * ps, sn + asb);
        let c_sd = var(ac, pc).sqrt();
        let future_looks = looks.max(1) + ((ac + asb) / per_look).ceil() as u64;
        let la = look_alpha(test.alpha, future_looks);
        if ce >= test.min_canary_events && projection.fail_clears(counts, SPREAD, thr) {
            return true;
        }
        if let Some(slo) = test.max_rate
            && !shown_above(se, s_n, slo, la)
            && shown_above((ce - SPREAD * c_sd).max(0.0), c_n, slo, la)
        {
            return true;
        }
        if c_n.min(s_n) < test.min_exposure {
            return false;
        }
        projection.pass_clears(counts, SPREAD, thr)
            || test
                .pass_below_rate
                .is_some_and(|f| shown_below(ce + SPREAD * c_sd, c_n, f, la))
    };
    // The first power of two that decides, as doubling from 1 would find it, by bisection on the
    // exponent (the rules are monotone in m): about 6 projections instead of up to 30.
    let top = (MAX_PROJECTION.log2().floor()) as i32;
    if !decided(2f64.powi(top)) {
        return None;
    }
    let (mut below, mut at) = (-1, top); // decided(2^at), and not at 2^below (or below = -1)
    while at - below > 1 {
        let mid = (below + at) / 2;
        if decided(2f64.powi(mid)) {
            at = mid;
        } else {
            below = mid;
        }
    }
    let mut hi = 2f64.powi(at);
    let mut lo = hi / 2.0;
    if hi > 1.0 {
        while hi - lo > (0.005 * hi).max(1.0) {
            let mid = ((lo + hi) / 2.0).round();
            if decided(mid) {
                hi = mid;
            } else {
                lo = mid;
            }
        }
    }
    Some(hi.ceil().max(1.0) as u64)
}

/// Dispersion factor from which the Inconclusive reason says that overdispersion holds the verdict
/// back.
const NOTABLE_DISPERSION: f64 = 1.5;

/// The traffic of the latest evaluation: exposure per arm and how long its windows lasted.
#[derive(Debug, Clone, Copy)]
struct Pace {
    canary: f64,
    stable: f64,
    /// Duration of the new windows in ms (`None` when unknown: a single first window).
    duration_ms: Option<f64>,
}

impl Pace {
    fn of(windows: &[CountWindow], previous_time_ms: Option<i64>) -> Self {
        let (canary, stable) = windows
            .iter()
            .fold((0.0, 0.0), |(c, s), w| (c + w.canary_n, s + w.stable_n));
        let times = windows.iter().map(|w| w.time_ms);
        let (first, last) = (times.clone().min(), times.max());
        let duration_ms = match (previous_time_ms, first, last) {
            (Some(prev), _, Some(last)) if last > prev => Some((last - prev) as f64),
            (None, Some(first), Some(last)) if windows.len() > 1 && last > first => {
                // n windows span n − 1 steps: scale up to n.
                let n = windows.len() as f64;
                Some((last - first) as f64 * n / (n - 1.0))
            }
            _ => None,
        };
        Self {
            canary,
            stable,
            duration_ms,
        }
    }

    /// Minutes until `requests` more arrive on the arm that [`samples_needed`] projects (the one
    /// with the smaller share of `share`), at this evaluation's traffic.
    fn minutes(&self, requests: f64, share: f64) -> Option<f64> {
        let arm = if share <= 0.5 { self.canary } else { self.stable };
        let ms = self.duration_ms?;
        (arm > 0.0).then(|| (requests / arm * ms / 60_000.0).ceil())
    }
}

/// Folds `windows` into `state` and judges. `name` labels the detail.
pub fn assess(test: &CountTest, state: &mut CountState, windows: &[CountWindow], name: &str) -> CountOutcome {
    let obs: Vec<_> = windows
        .iter()
        .map(|w| (w.share, w.canary_events, w.stable_events, w.canary_n, w.stable_n))
        .collect();
    state.process.observe_all(&obs);
    let previous_time_ms = state.last_time_ms;
    for w in windows {
        state.last_time_ms = Some(state.last_time_ms.map_or(w.time_ms, |t| t.max(w.time_ms)));
    }
    // The traffic that arrived in this evaluation, for projecting samples still needed.
    let pace = Pace::of(windows, previous_time_ms);
    state.looks += 1;
    state.process.conclude_look(test.alpha);
    let p = &state.process;
    let thr = (1.0 / test.alpha).ln();
    let (cn, sn) = (p.canary_exposure, p.stable_exposure);
    let canary_rate = p.canary_events / cn;
    let stable_rate = p.stable_events / sn;
    let mut detail = Detail::new(name, "e-value", p.log_e_fail().exp());
    detail.effect = Some(p.ratio_estimate()).filter(|r| !r.is_nan());
    detail.interval = p.cs.map(|i| (i.lo, i.hi));
    detail.samples = (cn.max(0.0) as u64, sn.max(0.0) as u64);
    detail = detail
        .with("canary-rate", canary_rate)
        .with("stable-rate", stable_rate)
        .with("canary-events", p.canary_events)
        .with("stable-events", p.stable_events)
        .with("e-value-pass", p.log_e_pass().exp())
        .with("p-value", (-p.max_log_e_fail).exp().min(1.0))
        .with("alpha", test.alpha)
        .with("fail-ratio", test.fail_ratio)
        .with("pass-ratio", test.pass_ratio)
        .with("looks", state.looks);
    if p.dispersion.is_some() {
        detail = detail.with("dispersion", p.last_factor());
    }
    // The Bayesian explanation (Jeffreys priors; posterior probabilities are not valid under
    // peeking, so it never decides), for the verdicts that conclude only: an Inconclusive
    // measurement is superseded by the next one, and on large counts the explanation's incomplete
    // betas cost more than the test itself.
    let explain = test.bayesian_details && cn > 0.0 && sn > 0.0;
    let out = |phase: Phase, code, reason: String, mut detail: Detail| {
        if explain && matches!(phase, Phase::Successful | Phase::Failed) {
            let c = BetaPost::new(p.canary_events, cn, 0.5);
            let s = BetaPost::new(p.stable_events, sn, 0.5);
            detail = detail
                .with("p-canary-worse", prob_greater(c, s))
                .with("expected-loss", expected_loss(c, s));
        }
        CountOutcome {
            phase,
            code,
            reason,
            detail,
        }
    };

    if cn <= 0.0 || sn <= 0.0 {
        let v = test.missing_data.verdict("");
        let arm = if cn <= 0.0 { "canary" } else { "stable" };
        return out(
            v.phase,
            codes::NO_DATA,
            format!("{name}: no {arm} traffic yet; no data is never a pass"),
            detail,
        );
    }
    if let Some(slo) = test.max_rate {
        let la = look_alpha(test.alpha, state.looks);
        // Only the lower bounds are reported and decide here (the upper ones are not needed).
        let st = slo_lower(p.stable_events, sn, slo, la);
        let ca = slo_lower(p.canary_events, cn, slo, la);
        detail = detail
            .with("slo", slo)
            .with("stable-rate-lower", st.lower)
            .with("canary-rate-lower", ca.lower);
        if st.violated {
            let reason = format!(
                "{name}: stable itself violates the SLO (rate {} > {}, lower bound {}); \
                 the environment is unhealthy, so the canary is neither blamed nor promoted",
                percent(stable_rate),
                percent(slo),
                percent(st.lower)
            );
            return out(Phase::Inconclusive, codes::ENVIRONMENT_UNHEALTHY, reason, detail);
        }
        if p.max_log_e_fail >= thr && p.canary_events >= test.min_canary_events {
            return out(
                Phase::Failed,
                codes::REGRESSION,
                regression_reason(name, p, test),
                detail,
            );
        }
        if ca.violated {
            let reason = format!(
                "{name}: canary violates the SLO (rate {}, lower bound {} > {}) while stable meets it",
                percent(canary_rate),
                percent(ca.lower),
                percent(slo)
            );
            return out(Phase::Failed, codes::SLO_VIOLATION, reason, detail);
        }
    } else if p.max_log_e_fail >= thr && p.canary_events >= test.min_canary_events {
        return out(
            Phase::Failed,
            codes::REGRESSION,
            regression_reason(name, p, test),
            detail,
        );
    }
    let enough = cn.min(sn) >= test.min_exposure;
    let proven_ratio = p.max_log_e_pass >= thr;
    let proven_floor = test
        .pass_below_rate
        .is_some_and(|floor| slo_check(p.canary_events, cn, floor, look_alpha(test.alpha, state.looks)).met);
    if enough && (proven_ratio || proven_floor) {
        let why = if proven_ratio {
            format!("its rate is at most {:.2}x stable's", test.pass_ratio)
        } else {
            format!(
                "its rate is below {}",
                percent(test.pass_below_rate.unwrap_or(0.0))
            )
        };
        let reason = format!(
            "{name}: canary is within tolerance with confidence {:.1}%: {why}",
            100.0 * (1.0 - test.alpha)
        );
        return out(Phase::Successful, codes::WITHIN_TOLERANCE, reason, detail);
    }
    let share = if pace.canary + pace.stable > 0.0 {
        pace.canary / (pace.canary + pace.stable)
    } else {
        cn / (cn + sn)
    };
    let needed = samples_needed(test, p, state.looks, share);
    detail.samples_needed = needed;
    let code = if enough {
        codes::INSUFFICIENT_EVIDENCE
    } else {
        codes::INSUFFICIENT_DATA
    };
    let mut more = match needed {
        Some(n) => match pace.minutes(n as f64, share) {
            Some(m) => {
                format!(
                    "at the current traffic about {m:.0} more minutes: about {n} more requests per arm needed"
                )
            }
            None => format!("about {n} more requests per arm needed"),
        },
        None => format!(
            "at the current rate ratio {} more traffic alone would not decide between the margins {}x and {}x",
            ratio(p.ratio_estimate()),
            ratio(test.pass_ratio),
            ratio(test.fail_ratio)
        ),
    };
    if let Some(phi) = p.estimated_factor().filter(|f| *f >= NOTABLE_DISPERSION) {
        more = format!(
            "errors vary {phi:.1}x more than chance between windows, so each window counts {phi:.1}x less; {more}"
        );
    }
    let reason = format!(
        "{name}: not enough evidence yet (canary {}/{} vs stable {}/{}, rate ratio {}; e-value {} for worse \
         and {} for within {}x, {} needed); {more}",
        p.canary_events,
        cn,
        p.stable_events,
        sn,
        ratio(p.ratio_estimate()),
        e_value_ln(p.log_e_fail()),
        e_value_ln(p.log_e_pass()),
        ratio(test.pass_ratio),
        e_value(1.0 / test.alpha)
    );
    out(Phase::Inconclusive, code, reason, detail)
}

fn regression_reason(name: &str, p: &RateRatioProcess, test: &CountTest) -> String {
    format!(
        "{name}: canary is worse than stable: rate ratio {} (canary {}/{} vs stable {}/{}), \
         e-value {} >= {}, anytime-valid p <= {}",
        ratio(p.ratio_estimate()),
        p.canary_events,
        p.canary_exposure,
        p.stable_events,
        p.stable_exposure,
        e_value_ln(p.max_log_e_fail),
        e_value(1.0 / test.alpha),
        p_value_ln(p.max_log_e_fail)
    )
}
