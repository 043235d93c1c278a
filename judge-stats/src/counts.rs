//! The count-based sequential judgement shared by the error-ratio, latency ("slower than T") and
//! two-deployment judges: fold new windows into the [`RateRatioProcess`], then apply the missing
//! data policy, the baseline-health guard, the fail test, the canary SLO check and the pass test,
//! in that order.

use serde::{Deserialize, Serialize};

use crate::bayes::{BetaPost, expected_loss, prob_greater};
use crate::data::{Detail, Phase, RatioPoint, codes};
use crate::guard::{MissingData, look_alpha, slo_check};
use crate::seq::RateRatioProcess;
use crate::special::normal_quantile;

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
    /// Add the Bayesian explanation (P(canary worse), expected loss) to the detail.
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

    /// `state` if it was built for `test`, else an error message.
    pub fn resume(state: Option<Self>, test: &CountTest) -> Result<Self, String> {
        match state {
            None => Ok(Self::new(test)),
            Some(s)
                if s.process
                    .matches(test.fail_ratio, test.pass_ratio, test.max_ratio) =>
            {
                Ok(s)
            }
            Some(_) => Err(
                "the judge state was produced with a different tolerance or maxRatio; \
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
    for c in canary.iter().filter(fresh) {
        let hit = stable_new
            .iter()
            .enumerate()
            .find(|(i, s)| s.time_ms == c.time_ms && !used.get(*i).copied().unwrap_or(true));
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

/// Samples per arm still needed to resolve the pass margin, from the two-sample MDE formula
/// `n = 2·p(1−p)(z₁₋α + z₀.₈)² / δ²` with `δ = p·(pass_ratio − 1)`, inflated by 1.5 for the
/// sequential test, minus the smaller arm's exposure so far.
pub fn samples_needed(test: &CountTest, p: &RateRatioProcess) -> u64 {
    let total = p.canary_exposure + p.stable_exposure;
    let pooled = (p.canary_events + p.stable_events) / total.max(1.0);
    let rate = pooled.max(1.0 / (total + 1.0)).min(0.5);
    let margin = (test.pass_ratio - 1.0).abs().max(0.05);
    let z = normal_quantile(1.0 - test.alpha) + normal_quantile(0.8);
    let mut need = 1.5 * 2.0 * rate * (1.0 - rate) * z * z / (rate * margin).powi(2);
    if let Some(floor) = test.pass_below_rate.filter(|r| *r > 0.0) {
        // Zero events in n requests bound the rate by about ln(1/α)/n.
        need = need.min((1.0 / test.alpha).ln() / floor);
    }
    let need = need.max(test.min_exposure);
    let have = p.canary_exposure.min(p.stable_exposure);
    // Still undecided although the formula says enough: the effect sits near a margin; ask for
    // half as much again rather than reporting 0.
    let remaining = if need > have {
        need - have
    } else {
        (0.5 * have).max(1.0)
    };
    remaining.ceil() as u64
}

/// Folds `windows` into `state` and judges. `name` labels the detail.
pub fn assess(test: &CountTest, state: &mut CountState, windows: &[CountWindow], name: &str) -> CountOutcome {
    let obs: Vec<_> = windows
        .iter()
        .map(|w| (w.share, w.canary_events, w.stable_events, w.canary_n, w.stable_n))
        .collect();
    state.process.observe_all(&obs);
    for w in windows {
        state.last_time_ms = Some(state.last_time_ms.map_or(w.time_ms, |t| t.max(w.time_ms)));
    }
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
    if test.bayesian_details && cn > 0.0 && sn > 0.0 {
        // Jeffreys priors; explanation only (posterior probabilities are not valid under peeking).
        let c = BetaPost::new(p.canary_events, cn, 0.5);
        let s = BetaPost::new(p.stable_events, sn, 0.5);
        detail = detail
            .with("p-canary-worse", prob_greater(c, s))
            .with("expected-loss", expected_loss(c, s));
    }
    let out = |phase, code, reason: String, detail| CountOutcome {
        phase,
        code,
        reason,
        detail,
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
        let st = slo_check(p.stable_events, sn, slo, la);
        let ca = slo_check(p.canary_events, cn, slo, la);
        detail = detail
            .with("slo", slo)
            .with("stable-rate-lower", st.lower)
            .with("canary-rate-lower", ca.lower);
        if st.violated {
            let reason = format!(
                "{name}: stable itself violates the SLO (rate {stable_rate:.4} > {slo}, lower bound {:.4}); \
                 the environment is unhealthy, so the canary is neither blamed nor promoted",
                st.lower
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
                "{name}: canary violates the SLO (rate {canary_rate:.4}, lower bound {:.4} > {slo}) while stable meets it",
                ca.lower
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
            format!("its rate is below {}", test.pass_below_rate.unwrap_or(0.0))
        };
        let reason = format!(
            "{name}: canary is within tolerance with confidence {:.1}%: {why}",
            100.0 * (1.0 - test.alpha)
        );
        return out(Phase::Successful, codes::WITHIN_TOLERANCE, reason, detail);
    }
    let needed = samples_needed(test, p);
    detail.samples_needed = Some(needed);
    let code = if enough {
        codes::INSUFFICIENT_EVIDENCE
    } else {
        codes::INSUFFICIENT_DATA
    };
    let reason = format!(
        "{name}: not enough evidence yet (canary {}/{} vs stable {}/{}, e-value {:.2} of {:.0} needed); \
         about {needed} more requests per arm needed",
        p.canary_events,
        cn,
        p.stable_events,
        sn,
        p.log_e_fail().exp(),
        1.0 / test.alpha
    );
    out(Phase::Inconclusive, code, reason, detail)
}

fn regression_reason(name: &str, p: &RateRatioProcess, test: &CountTest) -> String {
    format!(
        "{name}: canary is worse than stable: rate ratio {:.2} (canary {}/{} vs stable {}/{}), \
         e-value {:.1} >= {:.0}, anytime-valid p <= {:.2e}",
        p.ratio_estimate(),
        p.canary_events,
        p.canary_exposure,
        p.stable_events,
        p.stable_exposure,
        p.max_log_e_fail.exp(),
        1.0 / test.alpha,
        (-p.max_log_e_fail).exp()
    )
}
