//! Anytime-valid two-sample test of a rate ratio (Lindon & Malek, NeurIPS'22; reference §5.3).
//!
//! In each window `j` the canary had exposure share `s_j` (its share of requests, or its traffic
//! weight). Conditional on the window's total events, the canary's events are binomial with
//! `θ_j(r) = r·s_j / (r·s_j + 1 − s_j)`, where `r` is the canary/stable rate ratio. Windows are
//! conditioned on separately, so a rate shared by both arms may drift, jump or be autocorrelated
//! without affecting validity, and the weights may change between windows.
//!
//! The log-likelihood `ℓ(r) = Σ_j e_Bj ln θ_j(r) + e_Aj ln(1 − θ_j(r))` is needed on three fixed
//! sets of ratios. With `x = ln r`, `v_j` the log-odds of `s_j` and `n_j = e_Aj + e_Bj` it is
//! `ℓ(x) = A·x + B − Σ_j n_j·softplus(x + v_j)` with `A = Σ e_Bj` and `B = Σ e_Bj·v_j`, so the
//! state keeps `A`, `B` and the softplus sum as sufficient statistics ([`crate::softplus`]: no
//! logarithm per window and ratio). Each evaluation materialises `ℓ` at the 102 ratios of the two
//! tests once and reads the 241 of the grid only where the confidence-sequence scan needs them
//! (`interval.rs`: 46 of them on the shipped judges' 50-window inputs):
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
use crate::softplus::{Prepared, SoftplusSum};
use crate::special::log_sum_exp;

mod interval;
mod projection;
pub use projection::{Projected, Projection};

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
    /// `A = Σ_j w_j·e_Bj` (weighted canary events of the informative windows).
    weighted_canary_events: f64,
    /// `B = Σ_j w_j·e_Bj·v_j` (`v_j` the log-odds of the window's share).
    weighted_log_odds: f64,
    /// `Σ_j w_j·n_j·softplus(x + v_j)` as sufficient statistics.
    softplus: SoftplusSum,
    /// `ℓ` at the tests' ratios and `G` prepared for the grid, after each fold (not serialized).
    #[serde(skip)]
    ll: Materialised,
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

/// A cache derived from the sufficient statistics after each fold: `ℓ` at the fail and pass
/// tests' ratios, and `G` prepared for the confidence-sequence grid, whose points are read only
/// where the scan needs them. Equal to any other (it is not part of the state's identity) and
/// empty after deserialization.
#[derive(Debug, Clone, Default)]
struct Materialised {
    /// `ℓ` at the first [`GRID_START`] kept ratios.
    tests: Vec<f64>,
    /// `G` prepared for all [`KEPT_RATIOS`] points.
    softplus: Prepared,
    /// The log e-values of the fail and pass tests from `tests`.
    log_e: Option<(f64, f64)>,
}

impl PartialEq for Materialised {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// Number of ratios whose log-likelihoods are kept: fail null and alternatives, pass null and
/// alternatives, the confidence-sequence grid.
pub const KEPT_RATIOS: usize = 2 * (MIXTURE_POINTS + 1) + GRID_POINTS;
const PASS_START: usize = MIXTURE_POINTS + 1;
const GRID_START: usize = 2 * (MIXTURE_POINTS + 1);

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

/// `ln ρ_k` for k in 0..MIXTURE_POINTS, log-spaced in [RHO_MIN, max_ratio].
fn mixture_ln_rho(k: usize, max_ratio: f64) -> f64 {
    let t = k as f64 / (MIXTURE_POINTS - 1) as f64;
    RHO_MIN.ln() + t * (max_ratio.ln() - RHO_MIN.ln())
}

fn mixture_rho(k: usize, max_ratio: f64) -> f64 {
    mixture_ln_rho(k, max_ratio).exp()
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
            weighted_canary_events: 0.0,
            weighted_log_odds: 0.0,
            softplus: SoftplusSum::default(),
            ll: Materialised {
                tests: vec![0.0; GRID_START],
                softplus: Prepared::default(),
                log_e: None,
            },
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
            && self.weighted_canary_events.is_finite()
            && self.weighted_log_odds.is_finite()
            && self.softplus.is_well_formed(KEPT_RATIOS)
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
        let points = self.log_ratios();
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
            // θ = r·s/(r·s + 1 − s): ce·ln θ + se·ln(1 − θ) = ce·(x + v) − n·softplus(x + v)
            // minus a term free of r, with x = ln r and v = ln(s/(1 − s)).
            let v = share.ln() - (1.0 - share).ln();
            self.weighted_canary_events += weight * ce;
            self.weighted_log_odds += weight * ce * v;
            self.softplus.add(weight * (ce + se), v, &points);
            if let Some(d) = &mut self.dispersion {
                d.record(counts);
            }
        }
        let softplus = self.softplus.prepare(KEPT_RATIOS);
        let tests = points.get(..GRID_START).unwrap_or(&[]);
        let tests = self.materialise(&softplus, tests);
        let log_e = Some(Self::log_e_values(&tests));
        self.ll = Materialised {
            tests,
            softplus,
            log_e,
        };
    }

    /// `ℓ(x) = A·x + B − G(x)` at the first `points` of the kept ratios' logarithms.
    fn materialise(&self, softplus: &Prepared, points: &[f64]) -> Vec<f64> {
        points
            .iter()
            .enumerate()
            .map(|(i, x)| self.log_likelihood(softplus, i, *x))
            .collect()
    }

    /// `ℓ(x) = A·x + B − G(x)` at `x`, the kept ratio with index `index`.
    fn log_likelihood(&self, softplus: &Prepared, index: usize, x: f64) -> f64 {
        let (a, b) = (self.weighted_canary_events, self.weighted_log_odds);
        a * x + b - softplus.at(index, x)
    }

    /// Whether the cache holds this state's fold (not a deserialized state before its first).
    fn is_materialised(&self) -> bool {
        self.ll.tests.len() == GRID_START
    }

    /// `G` prepared for the kept ratios.
    fn prepared(&self) -> std::borrow::Cow<'_, Prepared> {
        if self.is_materialised() {
            std::borrow::Cow::Borrowed(&self.ll.softplus)
        } else {
            std::borrow::Cow::Owned(self.softplus.prepare(KEPT_RATIOS))
        }
    }

    /// The log-likelihoods at all the kept ratios ([`ratios`](Self::ratios)).
    pub fn log_likelihoods(&self) -> std::borrow::Cow<'_, [f64]> {
        std::borrow::Cow::Owned(self.materialise(&self.prepared(), &self.log_ratios()))
    }

    /// The log-likelihoods at the fail and pass tests' ratios (the first [`GRID_START`]).
    fn test_log_likelihoods(&self) -> std::borrow::Cow<'_, [f64]> {
        if self.is_materialised() {
            std::borrow::Cow::Borrowed(&self.ll.tests)
        } else {
            let points = self.log_ratios();
            let tests = points.get(..GRID_START).unwrap_or(&[]);
            std::borrow::Cow::Owned(self.materialise(&self.prepared(), tests))
        }
    }

    /// The ratios whose log-likelihoods are kept: fail null and alternatives, pass null and
    /// alternatives, then the confidence-sequence grid.
    pub fn ratios(&self) -> Vec<f64> {
        let (rf, rp, mr) = (self.fail_ratio, self.pass_ratio, self.max_ratio);
        let mut ratios: Vec<f64> = Vec::with_capacity(KEPT_RATIOS);
        ratios.push(rf);
        ratios.extend((0..MIXTURE_POINTS).map(|k| rf * mixture_rho(k, mr)));
        ratios.push(rp);
        ratios.extend((0..MIXTURE_POINTS).map(|k| rp / mixture_rho(k, mr)));
        ratios.extend((0..GRID_POINTS).map(grid_ratio));
        ratios
    }

    /// The logarithms of [`ratios`](Self::ratios), computed without exponentials.
    fn log_ratios(&self) -> Vec<f64> {
        let (lf, lp, mr) = (self.fail_ratio.ln(), self.pass_ratio.ln(), self.max_ratio);
        let h = (GRID_LN_MAX - GRID_LN_MIN) / (GRID_POINTS - 1) as f64;
        let mut points: Vec<f64> = Vec::with_capacity(KEPT_RATIOS);
        points.push(lf);
        points.extend((0..MIXTURE_POINTS).map(|k| lf + mixture_ln_rho(k, mr)));
        points.push(lp);
        points.extend((0..MIXTURE_POINTS).map(|k| lp - mixture_ln_rho(k, mr)));
        points.extend((0..GRID_POINTS).map(|i| GRID_LN_MIN + i as f64 * h));
        points
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

    /// The log e-values of the fail and pass tests from the log-likelihoods at their ratios.
    fn log_e_values(tests: &[f64]) -> (f64, f64) {
        (
            Self::log_mixture(tests.get(..PASS_START).unwrap_or(&[])),
            Self::log_mixture(tests.get(PASS_START..GRID_START).unwrap_or(&[])),
        )
    }

    /// The log e-values of the fail and pass tests now (kept from the latest fold).
    fn log_e(&self) -> (f64, f64) {
        match self.ll.log_e {
            Some(values) if self.is_materialised() => values,
            _ => Self::log_e_values(&self.test_log_likelihoods()),
        }
    }

    /// Log e-value of the fail test now (evidence that `r > fail_ratio`).
    pub fn log_e_fail(&self) -> f64 {
        self.log_e().0
    }

    /// Log e-value of the pass test now (evidence that `r < pass_ratio`).
    pub fn log_e_pass(&self) -> f64 {
        self.log_e().1
    }

    /// A projection of the fail and pass tests after more windows with canary share `share`, their
    /// log-likelihood ratios weighted by `weight` (`1/φ` of the future windows; see
    /// [`Projection::evaluate`]).
    pub fn projection(&self, share: f64, weight: f64) -> Projection<'_> {
        let (rf, rp, mr) = (self.fail_ratio, self.pass_ratio, self.max_ratio);
        let (ln_share, ln_rest) = (share.ln(), (1.0 - share).ln());
        let logs = |r: f64| {
            let l = (r * share + 1.0 - share).ln();
            (r.ln() + ln_share - l, ln_rest - l)
        };
        let rho: Vec<f64> = (0..MIXTURE_POINTS).map(|k| mixture_rho(k, mr)).collect();
        let fail = std::iter::once(rf)
            .chain(rho.iter().map(|r| rf * r))
            .map(logs)
            .collect();
        let pass = std::iter::once(rp)
            .chain(rho.iter().map(|r| rp / r))
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

#[cfg(test)]
mod tests;
