//! Anytime-valid two-sample test of a rate ratio (Lindon & Malek, NeurIPS'22; reference §5.3).
//!
//! In each window `j` the canary had exposure share `s_j` (its share of requests, or its traffic
//! weight). Conditional on the window's total events, the canary's events are binomial with
//! `θ_j(r) = r·s_j / (r·s_j + 1 − s_j)`, where `r` is the canary/stable rate ratio. Windows are
//! conditioned on separately, so a rate shared by both arms may drift, jump or be autocorrelated
//! without affecting validity, and the weights may change between windows.
//!
//! The log-likelihood `ℓ(r) = Σ_j e_Bj ln θ_j(r) + e_Aj ln(1 − θ_j(r))` is kept incrementally
//! on three fixed sets of ratios, so each evaluation costs O(new windows × grid):
//! - `fail`: `r_f·ρ_k`, ρ_k log-spaced in [1.05, max_ratio]; the mixture
//!   `M = mean_k exp(ℓ(r_f ρ_k) − ℓ(r_f))` is a nonnegative supermartingale under `r ≤ r_f`
//!   (θ is increasing in r), so `P(sup_n M_n ≥ 1/α) ≤ α` (Ville).
//! - `pass`: `r_p/ρ_k` against `r_p`; a supermartingale under `r ≥ r_p` (non-inferiority).
//! - `grid`: log-spaced ratios from 1e-3 to 1e3 for the two-sided confidence sequence
//!   `{r : M(r) < 1/α}` reported as the interval, intersected over time.
//!
//! For Bernoulli requests (not Poisson) the canary's share given the total is hypergeometric under
//! `r = 1`; it is dominated by the binomial in convex order, so the test stays valid.
//!
//! Conditioning does not help when each arm's rate varies between windows on its own (per-pod
//! faults, bursts on one version): the split then varies more than binomially. With
//! [`crate::dispersion`] switched on, each window's log-likelihood ratios (all three sets) are
//! weighted by `1/φ_j`, its estimated dispersion factor from the earlier windows.

use serde::{Deserialize, Serialize};

use crate::dispersion::{Dispersion, WindowCounts};
use crate::special::log_sum_exp;

/// Number of mixture components of the one-sided tests.
pub const MIXTURE_POINTS: usize = 50;
/// Number of points of the confidence-sequence grid (1e-3 .. 1e3).
pub const GRID_POINTS: usize = 241;
const GRID_LN_MIN: f64 = -6.907_755_278_982_137; // ln(1e-3)
const GRID_LN_MAX: f64 = 6.907_755_278_982_137; // ln(1e3)
const RHO_MIN: f64 = 1.05;

/// Incremental state of the rate-ratio e-process; serializable into the judge state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateRatioProcess {
    /// Null boundary of the fail test (`r ≤ fail_ratio`).
    pub fail_ratio: f64,
    /// Null boundary of the pass test (`r ≥ pass_ratio`).
    pub pass_ratio: f64,
    /// Upper end of the mixture range ρ (e.g. 20).
    pub max_ratio: f64,
    /// Canary events so far.
    pub canary_events: f64,
    /// Canary exposure so far (requests).
    pub canary_exposure: f64,
    /// Stable events so far.
    pub stable_events: f64,
    /// Stable exposure so far (requests).
    pub stable_exposure: f64,
    /// Informative windows folded in so far.
    pub windows: u64,
    ll_fail: Vec<f64>,
    ll_pass: Vec<f64>,
    ll_grid: Vec<f64>,
    /// Largest log e-value of the fail test so far.
    pub max_log_e_fail: f64,
    /// Largest log e-value of the pass test so far.
    pub max_log_e_pass: f64,
    /// Running intersection of the confidence sequence for r (`None` until computed).
    pub cs: Option<Interval>,
    /// The between-window overdispersion estimate that discounts each window's evidence
    /// ([`crate::dispersion`]); `None` for the binomial test.
    #[serde(default)]
    pub dispersion: Option<Dispersion>,
}

/// A confidence interval whose ends may be infinite (and survive a JSON round trip).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower end.
    #[serde(with = "crate::config::nonfinite")]
    pub lo: f64,
    /// Upper end (`inf` when the data cannot bound the ratio from above).
    #[serde(with = "crate::config::nonfinite")]
    pub hi: f64,
}

fn mixture_rho(k: usize, max_ratio: f64) -> f64 {
    // k in 0..MIXTURE_POINTS, log-spaced in [RHO_MIN, max_ratio].
    let t = k as f64 / (MIXTURE_POINTS - 1) as f64;
    (RHO_MIN.ln() + t * (max_ratio.ln() - RHO_MIN.ln())).exp()
}

/// The ratio at index `i` of the confidence-sequence grid.
pub fn grid_ratio(i: usize) -> f64 {
    let h = (GRID_LN_MAX - GRID_LN_MIN) / (GRID_POINTS - 1) as f64;
    (GRID_LN_MIN + i as f64 * h).exp()
}

impl RateRatioProcess {
    /// A fresh process. `fail_ratio` and `pass_ratio` are positive ratios; `max_ratio > 1.05`.
    pub fn new(fail_ratio: f64, pass_ratio: f64, max_ratio: f64) -> Self {
        Self {
            fail_ratio,
            pass_ratio,
            max_ratio,
            canary_events: 0.0,
            canary_exposure: 0.0,
            stable_events: 0.0,
            stable_exposure: 0.0,
            windows: 0,
            ll_fail: vec![0.0; MIXTURE_POINTS + 1],
            ll_pass: vec![0.0; MIXTURE_POINTS + 1],
            ll_grid: vec![0.0; GRID_POINTS],
            max_log_e_fail: 0.0,
            max_log_e_pass: 0.0,
            cs: None,
            dispersion: None,
        }
    }

    /// The same process with the overdispersion estimate switched on.
    pub fn with_dispersion(self) -> Self {
        Self {
            dispersion: Some(Dispersion::default()),
            ..self
        }
    }

    /// Whether this state was built for the same test parameters (and is well formed).
    pub fn matches(&self, fail_ratio: f64, pass_ratio: f64, max_ratio: f64) -> bool {
        self.fail_ratio == fail_ratio
            && self.pass_ratio == pass_ratio
            && self.max_ratio == max_ratio
            && self.ll_fail.len() == MIXTURE_POINTS + 1
            && self.ll_pass.len() == MIXTURE_POINTS + 1
            && self.ll_grid.len() == GRID_POINTS
            && self.dispersion.as_ref().is_none_or(Dispersion::is_well_formed)
    }

    /// Folds in one window: canary share of exposure `share` (in (0, 1)), canary and stable event
    /// counts, and the exposures for the running totals. Windows with no events or a degenerate
    /// share carry no information about `r` and only update the totals.
    pub fn observe(
        &mut self,
        share: f64,
        canary_events: f64,
        stable_events: f64,
        canary_n: f64,
        stable_n: f64,
    ) {
        self.observe_all(&[(share, canary_events, stable_events, canary_n, stable_n)]);
    }

    /// [`observe`](Self::observe) for several windows `(share, canary events, stable events,
    /// canary exposure, stable exposure)`, in order. With the overdispersion estimate on, each
    /// window's log-likelihood ratios are weighted by `1/φ`, its dispersion factor estimated from
    /// the earlier windows only.
    pub fn observe_all(&mut self, windows: &[(f64, f64, f64, f64, f64)]) {
        let ratios = self.ratios();
        let ln_r: Vec<f64> = ratios.iter().map(|r| r.ln()).collect();
        for &(share, ce, se, cn, sn) in windows {
            self.canary_events += ce;
            self.stable_events += se;
            self.canary_exposure += cn;
            self.stable_exposure += sn;
            if !(share > 0.0 && share < 1.0) || ce + se <= 0.0 {
                continue;
            }
            let counts = WindowCounts {
                canary_events: ce,
                canary_n: cn,
                stable_events: se,
                stable_n: sn,
            };
            let weight = 1.0 / self.window_factor(counts);
            self.windows += 1;
            // θ = r·s/(r·s + 1 − s): ln θ = ln r + ln s − L and ln(1 − θ) = ln(1 − s) − L,
            // with L = ln(r·s + 1 − s).
            let (ln_s, ln_1s) = (share.ln(), (1.0 - share).ln());
            let lls = self
                .ll_fail
                .iter_mut()
                .chain(self.ll_pass.iter_mut())
                .chain(self.ll_grid.iter_mut());
            for ((v, r), lr) in lls.zip(&ratios).zip(&ln_r) {
                let l = (r * share + 1.0 - share).ln();
                *v += weight * (ce * (lr + ln_s - l) + se * (ln_1s - l));
            }
            if let Some(d) = &mut self.dispersion {
                d.record(counts);
            }
        }
    }

    /// The ratios whose log-likelihoods are kept: fail null and alternatives, pass null and
    /// alternatives, then the confidence-sequence grid.
    fn ratios(&self) -> Vec<f64> {
        let (rf, rp, mr) = (self.fail_ratio, self.pass_ratio, self.max_ratio);
        let mut ratios: Vec<f64> = Vec::with_capacity(2 * MIXTURE_POINTS + 2 + GRID_POINTS);
        ratios.push(rf);
        ratios.extend((0..MIXTURE_POINTS).map(|k| rf * mixture_rho(k, mr)));
        ratios.push(rp);
        ratios.extend((0..MIXTURE_POINTS).map(|k| rp / mixture_rho(k, mr)));
        ratios.extend((0..GRID_POINTS).map(grid_ratio));
        ratios
    }

    /// The dispersion factor `φ ≥ 1` of `window` from the earlier windows (1 for the binomial
    /// test), recorded as the latest.
    fn window_factor(&mut self, window: WindowCounts) -> f64 {
        let null = self.fail_ratio;
        let Some(d) = &mut self.dispersion else {
            return 1.0;
        };
        let phi = d.factor(window, null);
        d.last_factor = phi;
        phi
    }

    /// The dispersion factor a future window with exposure share `share` and the average exposure
    /// and expected events per window so far would get (1 for the binomial test or before any
    /// window).
    pub fn future_factor(&self, share: f64) -> f64 {
        let Some(d) = &self.dispersion else {
            return 1.0;
        };
        let windows = d.stable.windows.max(1) as f64;
        let n = (self.canary_exposure + self.stable_exposure) / windows;
        let (cn, sn) = (share * n, (1.0 - share) * n);
        let rate = |a: &crate::dispersion::ArmMoments| a.rate().unwrap_or(0.0);
        let (pc, ps) = (
            rate(&d.canary).max(self.fail_ratio * rate(&d.stable)),
            rate(&d.stable),
        );
        d.projected_factor(
            WindowCounts {
                canary_events: cn * pc,
                canary_n: cn,
                stable_events: sn * ps,
                stable_n: sn,
            },
            self.fail_ratio,
        )
    }

    /// The dispersion factor applied to the latest window when it was estimated from the data
    /// (`None` for the binomial test or while only the prior applies).
    pub fn estimated_factor(&self) -> Option<f64> {
        self.dispersion
            .as_ref()
            .filter(|d| d.is_estimated())
            .map(|d| d.last_factor)
    }

    /// The dispersion factor applied to the latest window (1 for the binomial test).
    pub fn last_factor(&self) -> f64 {
        self.dispersion.as_ref().map_or(1.0, |d| d.last_factor)
    }

    fn log_mixture(ll: &[f64]) -> f64 {
        let Some((base, alts)) = ll.split_first() else {
            return 0.0;
        };
        let terms: Vec<f64> = alts.iter().map(|l| l - base).collect();
        log_sum_exp(&terms) - (terms.len() as f64).ln()
    }

    /// Log e-value of the fail test now (evidence that `r > fail_ratio`).
    pub fn log_e_fail(&self) -> f64 {
        Self::log_mixture(&self.ll_fail)
    }

    /// Log e-value of the pass test now (evidence that `r < pass_ratio`).
    pub fn log_e_pass(&self) -> f64 {
        Self::log_mixture(&self.ll_pass)
    }

    /// A projection of the fail and pass tests after more windows with canary share `share`, their
    /// log-likelihood ratios weighted by `weight` (`1/φ` of the future windows; see
    /// [`Projection::evaluate`]).
    pub fn projection(&self, share: f64, weight: f64) -> Projection<'_> {
        let (rf, rp, mr) = (self.fail_ratio, self.pass_ratio, self.max_ratio);
        let logs = |r: f64| {
            let l = (r * share + 1.0 - share).ln();
            (r.ln() + share.ln() - l, (1.0 - share).ln() - l)
        };
        let fail = std::iter::once(rf)
            .chain((0..MIXTURE_POINTS).map(|k| rf * mixture_rho(k, mr)))
            .map(logs)
            .collect();
        let pass = std::iter::once(rp)
            .chain((0..MIXTURE_POINTS).map(|k| rp / mixture_rho(k, mr)))
            .map(logs)
            .collect();
        Projection {
            process: self,
            weight,
            fail,
            pass,
        }
    }

    /// Updates the running maxima and the confidence sequence at level `alpha`; call once per
    /// evaluation after the windows are folded in.
    pub fn conclude_look(&mut self, alpha: f64) {
        self.max_log_e_fail = self.max_log_e_fail.max(self.log_e_fail());
        self.max_log_e_pass = self.max_log_e_pass.max(self.log_e_pass());
        if self.windows == 0 {
            return;
        }
        if let Some((lo, hi)) = self.confidence_interval(alpha) {
            self.cs = Some(match self.cs {
                Some(Interval { lo: a, hi: b }) if lo.max(a) <= hi.min(b) => Interval {
                    lo: lo.max(a),
                    hi: hi.min(b),
                },
                _ => Interval { lo, hi },
            });
        }
    }

    /// Two-sided mixture e-value of the point null `r = grid_ratio(i)`.
    fn log_e_grid(&self, i: usize) -> f64 {
        let h = (GRID_LN_MAX - GRID_LN_MIN) / (GRID_POINTS - 1) as f64;
        let span = ((self.max_ratio.ln() / h).ceil() as usize).max(1);
        let base = self.ll_grid.get(i).copied().unwrap_or(0.0);
        let mut terms = Vec::with_capacity(span);
        // Every second offset on each side (about 2·span/2 components), fixed before seeing data.
        for off in (1..=span).step_by(2) {
            terms.push(
                i.checked_sub(off)
                    .and_then(|j| self.ll_grid.get(j))
                    .map_or(0.0, |l| l - base),
            );
            terms.push(self.ll_grid.get(i + off).map_or(0.0, |l| l - base));
        }
        log_sum_exp(&terms) - (terms.len() as f64).ln()
    }

    /// The confidence sequence `{r : M(r) < 1/α}` on the grid at this look, found by scanning
    /// outwards from the maximum-likelihood grid point. `None` before any informative window.
    pub fn confidence_interval(&self, alpha: f64) -> Option<(f64, f64)> {
        if self.windows == 0 {
            return None;
        }
        let thr = (1.0 / alpha).ln();
        let mle = self
            .ll_grid
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map(|(i, _)| i)
            .unwrap_or(0);
        // The excluded set is taken to be the complement of an interval around the MLE (the
        // mixture e-value grows with the distance from it), so each end is found by bisection.
        let inside = |i: usize| self.log_e_grid(i) < thr;
        let (mut a, mut b) = (0usize, mle); // find the smallest inside index in [0, mle]
        if inside(0) {
            b = 0;
        }
        while b > a + 1 {
            let m = a + (b - a) / 2;
            if inside(m) { b = m } else { a = m }
        }
        let lo = b;
        let (mut a, mut b) = (mle, GRID_POINTS - 1); // largest inside index in [mle, end]
        if inside(GRID_POINTS - 1) {
            a = GRID_POINTS - 1;
        }
        while b > a + 1 {
            let m = a + (b - a) / 2;
            if inside(m) { a = m } else { b = m }
        }
        let hi = a;
        let lo_r = if lo == 0 { 0.0 } else { grid_ratio(lo) };
        let hi_r = if hi + 1 == GRID_POINTS {
            f64::INFINITY
        } else {
            grid_ratio(hi)
        };
        Some((lo_r, hi_r))
    }

    /// Point estimate of the rate ratio (canary rate / stable rate), NaN without data.
    pub fn ratio_estimate(&self) -> f64 {
        let c = self.canary_events / self.canary_exposure;
        let s = self.stable_events / self.stable_exposure;
        if s > 0.0 {
            c / s
        } else if c > 0.0 {
            f64::INFINITY
        } else {
            f64::NAN
        }
    }
}

/// The fail and pass tests of a [`RateRatioProcess`] after one more window of a fixed share, for
/// projecting how much more data a decision needs without copying the process.
#[derive(Debug, Clone)]
pub struct Projection<'a> {
    process: &'a RateRatioProcess,
    /// Weight of the future windows' log-likelihood ratios (`1/φ`).
    weight: f64,
    /// `(ln θ(r), ln(1 − θ(r)))` for the null and the alternatives of the fail test.
    fail: Vec<(f64, f64)>,
    /// The same for the pass test.
    pass: Vec<(f64, f64)>,
}

/// A projected log e-value and its standard deviation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projected {
    /// Log e-value with the window's expected counts.
    pub log_e: f64,
    /// Standard deviation of the log e-value from the counts' noise (first order).
    pub sd: f64,
}

impl Projection<'_> {
    /// The fail and pass log e-values after adding `canary_events` and `stable_events` (expected
    /// counts; the log-likelihoods are linear in them), with the standard deviations that
    /// count variances `var_canary` and `var_stable` give them (the gradient of the log mixture
    /// in the counts).
    pub fn evaluate(
        &self,
        canary_events: f64,
        stable_events: f64,
        var_canary: f64,
        var_stable: f64,
    ) -> (Projected, Projected) {
        let one = |ll: &[f64], logs: &[(f64, f64)]| {
            let w = self.weight;
            let moved = |l: f64, (a, b): (f64, f64)| l + w * (canary_events * a + stable_events * b);
            let (Some((l0, alts)), Some((&g0, gs))) = (ll.split_first(), logs.split_first()) else {
                return Projected { log_e: 0.0, sd: 0.0 };
            };
            let base = moved(*l0, g0);
            let terms: Vec<f64> = alts.iter().zip(gs).map(|(l, g)| moved(*l, *g) - base).collect();
            let top = terms.iter().fold(f64::NEG_INFINITY, |m, t| m.max(*t));
            let (mut z, mut gc, mut gsb) = (0.0, 0.0, 0.0);
            for (t, (a, b)) in terms.iter().zip(gs) {
                let w = (t - top).exp();
                z += w;
                gc += w * (a - g0.0);
                gsb += w * (b - g0.1);
            }
            if !(z > 0.0 && top.is_finite()) {
                return Projected { log_e: 0.0, sd: 0.0 };
            }
            let (gc, gsb) = (w * gc / z, w * gsb / z);
            Projected {
                log_e: top + z.ln() - (terms.len() as f64).ln(),
                sd: (var_canary * gc * gc + var_stable * gsb * gsb).sqrt(),
            }
        };
        (
            one(&self.process.ll_fail, &self.fail),
            one(&self.process.ll_pass, &self.pass),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fail_evidence_grows_when_canary_is_worse() {
        let mut p = RateRatioProcess::new(1.0, 1.25, 20.0);
        for _ in 0..10 {
            p.observe(0.5, 20.0, 10.0, 1000.0, 1000.0);
            p.conclude_look(0.05);
        }
        assert!(p.max_log_e_fail > (20.0f64).ln(), "{}", p.max_log_e_fail);
        let Interval { lo, hi } = p.cs.unwrap();
        assert!(lo > 1.2 && hi < 3.5 && lo < 2.0 && hi > 2.0, "{lo} {hi}");
    }

    #[test]
    fn equal_rates_give_no_fail_evidence_and_a_cs_around_one() {
        let mut p = RateRatioProcess::new(1.0, 1.25, 20.0);
        for _ in 0..50 {
            p.observe(0.5, 50.0, 50.0, 5000.0, 5000.0);
            p.conclude_look(0.05);
        }
        assert!(p.log_e_fail() < 0.0);
        let Interval { lo, hi } = p.cs.unwrap();
        assert!(lo < 1.0 && hi > 1.0 && hi < 1.25, "{lo} {hi}");
        assert!(p.max_log_e_pass > (20.0f64).ln());
    }

    #[test]
    fn projection_matches_observing_the_window() {
        let mut p = RateRatioProcess::new(1.0, 1.25, 20.0);
        p.observe(0.3, 12.0, 20.0, 1000.0, 2300.0);
        p.conclude_look(0.05);
        let (f, q) = p.projection(0.3, 1.0).evaluate(7.5, 16.0, 0.0, 0.0);
        let mut o = p.clone();
        o.observe(0.3, 7.5, 16.0, 600.0, 1400.0);
        assert!(
            (f.log_e - o.log_e_fail()).abs() < 1e-9,
            "{f:?} {}",
            o.log_e_fail()
        );
        assert!(
            (q.log_e - o.log_e_pass()).abs() < 1e-9,
            "{q:?} {}",
            o.log_e_pass()
        );
        assert_eq!((f.sd, q.sd), (0.0, 0.0));
        // The spread grows like the square root of the counts' variance.
        let (f1, _) = p.projection(0.3, 1.0).evaluate(7.5, 16.0, 1.0, 1.0);
        let (f4, _) = p.projection(0.3, 1.0).evaluate(7.5, 16.0, 4.0, 4.0);
        assert!(f1.sd > 0.0 && (f4.sd / f1.sd - 2.0).abs() < 1e-9, "{f1:?} {f4:?}");
    }

    #[test]
    fn unequal_shares_are_accounted_for() {
        // Canary has 10% of the traffic and 10% of the errors: no evidence of a regression.
        let mut p = RateRatioProcess::new(1.0, 1.25, 20.0);
        for _ in 0..20 {
            p.observe(0.1, 10.0, 90.0, 1000.0, 9000.0);
            p.conclude_look(0.05);
        }
        assert!(p.max_log_e_fail < 1.0);
        assert!((p.ratio_estimate() - 1.0).abs() < 1e-12);
    }
}
