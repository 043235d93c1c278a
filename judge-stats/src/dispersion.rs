//! Overdispersion of the error counts between windows, estimated on the fly (issue 18).
//!
//! The rate-ratio test ([`crate::seq`]) conditions each window on its total events `T`: under
//! binomial noise the canary's events are `Binomial(T, θ)` with variance `v = T·θ·(1 − θ)`. Real
//! per-minute error rates also vary *per arm* between minutes (per-pod faults, a canary on one or
//! two pods, bursts that hit one version only). If each arm's rate varies between windows with
//! relative variance `τ²` (the canary's `τ_c²`, stable's `τ_s²`, independently), the canary's
//! residual `U = e_c − θ·T` has variance about `v + (τ_c² + τ_s²)·w²/v`, where
//! `w = max(v, v_e)` and `v_e = λ_c·λ_s/(λ_c + λ_s)` is the binomial variance at the window's
//! *expected* events `λ` (a window whose total fell short of the expected one says more about
//! which arm had a quiet minute than about the ratio; one whose total overshot it is a burst).
//! Variation shared by both arms cancels in the conditioning; it is counted anyway (each arm's
//! `τ²` includes it), which only makes the test slower, never wrong.
//!
//! Each window's log-likelihood ratios are weighted by `1/φ`, `φ = 1 + (τ_c² + τ_s²)·w²/v`, a
//! quasi-likelihood (tempered likelihood ratio): with `U` roughly normal,
//! `E[exp(η·(δ·U − δ²·v/2))] ≈ exp(δ²·v·(η²·φ − η)/2) ≤ 1` for `η ≤ 1/φ`. `φ` uses the earlier
//! windows only (and the window's own exposure and total, on which the test conditions), so the
//! process stays predictable.
//!
//! `τ²` of each arm comes from the moments of its own per-window counts around its pooled rate
//! (one degree of freedom to the rate), less one standard error of Poisson noise (so noise alone
//! does not discount a binomial stream), shrunk towards a prior [`PRIOR_EXCESS`] while the
//! windows hold few events. The canary's is shrunk towards stable's and is never below it (the
//! same service on fewer pods). Under binomial noise the estimates go to zero and `φ` to 1: the
//! test is the binomial one again.
//!
//! # The first windows
//!
//! Until stable has [`MIN_WINDOWS`] windows with events, the estimate is not used: each window
//! with events gets the prior's factor `φ0 = 1 + 2·τ0²·w²/v` (`τ0²` = [`PRIOR_EXCESS`] per arm),
//! but at least [`FIRST_WINDOW_FACTOR`] (6) and at most [`FIRST_WINDOWS_MAX_FACTOR`] (10). Two
//! things make the estimate unsafe there. A per-minute rate with a skewed law (most minutes
//! quiet, a few bursts) usually looks calm in its first minutes: the variance of two or three
//! draws is mostly below the law's, and the pooled rate is low with it. And the expected events
//! `λ` come from the windows before: the first window has only its own total, and a window with
//! few events is one where stable happened to be quiet, so its split is the most suspect. On the
//! per-arm Beta stream with concentration 50 (`τ² ≈ 2` per arm, 1% errors at 20 requests/s,
//! canary weight 5%), two thirds of the false alarms of the earlier rule (the estimate used from
//! the third window, the first two's factor at most 6) came in the first seven minutes, from
//! windows like 3 canary errors against 0.
//!
//! Validity: `φ0` depends only on the earlier windows, the window's exposures and its total, like
//! the estimated factor, so the weights stay predictable, and the weighted product stays a
//! supermartingale as long as `1/φ0` is at most the exponent `η` the window's real variation allows,
//! `E[exp(η·ℓ(r))] ≤ 1` for every alternative `r` of the mixture. For per-arm Gamma rates
//! (negative-binomial counts, whose moment generating function is closed-form) with 0.6 canary
//! and 11.4 stable errors expected (1% at 20 requests/s, 5% weight) and the largest alternative
//! (20×), that `η` is 0.21 for `τ² = 2`, 0.33 for `τ² = 1` and 0.48 for `τ² = 0.5`, against
//! `1/φ0 = 1/6`; the normal approximation above (`1/φ = 0.30` for `τ² = 2`) misses the skew,
//! which is why the floor is needed. The cap keeps a decision the judge makes on purpose (a
//! tenfold error rate over thousands of requests fails in the first window), so `φ0` is a prior,
//! not a proof for every stream: with 6 errors per arm at an equal split and `τ² = 2` the
//! exponent is 0.08, and at 5% errors, 50 requests/s and 5% weight 0.02. Such starts rely on the
//! estimate after the first [`MIN_WINDOWS`] windows (the latter stream: 2.25% type-I over 400
//! runs).
//! On a binomial stream the three windows cost a little detection: the median for 1% → 2% at
//! 20 requests/s went from 1,343 to 1,396 canary requests (BENCHMARKS.md).

use serde::{Deserialize, Serialize};

/// How the count test treats variation of the error rates between windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DispersionMode {
    /// Estimate the extra variation from the windows and discount the evidence by it (default).
    #[default]
    Estimate,
    /// Assume binomial noise within each window (the test before issue 18).
    Binomial,
}

/// Prior relative variance `τ0²` of stable's rate between windows.
pub const PRIOR_EXCESS: f64 = 2.0;
/// Weight of the prior of stable's estimate, in units of `Σ λ²` (squared expected events per
/// window): it fades after one window of 15 expected events...
pub const PRIOR_WEIGHT: f64 = 25.0;
/// ...or after this many windows, whichever comes first (with a few events per window it would
/// otherwise discount the evidence of a binomial stream for hundreds of windows).
pub const PRIOR_WINDOWS: f64 = 2.0;
/// Weight, in units of `Σ λ²`, with which the canary's estimate is shrunk towards stable's.
pub const CANARY_SHRINKAGE: f64 = 4.0;
/// Smallest dispersion applied to a window with events while stable has fewer than
/// [`MIN_WINDOWS`] windows (the spread between windows is not measured yet).
pub const FIRST_WINDOW_FACTOR: f64 = 6.0;
/// Largest dispersion applied to a window while stable has fewer than [`MIN_WINDOWS`] windows:
/// the prior's factor grows with the window's events, and beyond this even a tenfold error rate
/// over thousands of requests in the first window could not fail the canary.
pub const FIRST_WINDOWS_MAX_FACTOR: f64 = 10.0;
/// Stable windows with events before the spread between windows is taken from the data.
pub const MIN_WINDOWS: u64 = 3;
/// Largest dispersion applied to one window (bounds the discount, so evidence always counts).
pub const MAX_FACTOR: f64 = 1e4;

/// One window's counts.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowCounts {
    /// Canary events.
    pub canary_events: f64,
    /// Canary exposure (requests).
    pub canary_n: f64,
    /// Stable events.
    pub stable_events: f64,
    /// Stable exposure (requests).
    pub stable_n: f64,
}

/// Moments of one arm's per-window counts, for its between-window excess variance.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ArmMoments {
    /// Windows folded in.
    pub windows: u64,
    /// `Σ e`.
    pub events: f64,
    /// `Σ n`.
    pub exposure: f64,
    /// `Σ e²`.
    pub events_sq: f64,
    /// `Σ e·n`.
    pub events_exposure: f64,
    /// `Σ n²`.
    pub exposure_sq: f64,
    /// `Σ n³`.
    #[serde(default)]
    pub exposure_cube: f64,
}

impl ArmMoments {
    fn record(&mut self, e: f64, n: f64) {
        self.windows += 1;
        self.events += e;
        self.exposure += n;
        self.events_sq += e * e;
        self.events_exposure += e * n;
        self.exposure_sq += n * n;
        self.exposure_cube += n * n * n;
    }

    /// The arm's event rate so far (`None` before its first event).
    pub fn rate(&self) -> Option<f64> {
        (self.events > 0.0 && self.exposure > 0.0).then(|| self.events / self.exposure)
    }

    /// The relative variance `τ̂²` of the arm's rate between windows, by moments and shrunk
    /// towards `prior` with weight `weight` (in units of `Σ λ²`, at most [`PRIOR_WINDOWS`]
    /// windows' worth). With `p̂ = Σe/N`, `N = Σn`, the
    /// residuals `r = e − n·p̂` have `E[Σ r²] = p·(N − Σn²/N) + τ²·p²·(Σn² − 2·Σn³/N + (Σn²/N)²)`
    /// (one degree of freedom goes to `p̂`: a single window says nothing), so
    /// `τ̂² = (Σ r² − p̂·(N − Σn²/N) + prior·weight) / (p̂²·(Σn² − 2·Σn³/N + (Σn²/N)²) + weight)`;
    /// `prior` before the arm's first event.
    pub fn excess(&self, prior: f64, weight: f64) -> f64 {
        let Some(p) = self.rate() else {
            return prior;
        };
        let per_window = p * p * self.exposure_sq / (self.windows.max(1) as f64);
        let weight = weight.min(PRIOR_WINDOWS * per_window);
        let big_n = self.exposure;
        let residual_sq = self.events_sq - 2.0 * p * self.events_exposure + p * p * self.exposure_sq;
        let poisson = p * (big_n - self.exposure_sq / big_n);
        let spread = self.exposure_sq - 2.0 * self.exposure_cube / big_n + (self.exposure_sq / big_n).powi(2);
        // One standard error of the residuals under Poisson noise, `sqrt(Σ (λ + 2·λ²))`, is
        // taken off: noise alone does not discount a binomial stream.
        let noise = (p * (big_n - self.exposure_sq / big_n) + 2.0 * p * p * spread.max(0.0)).sqrt();
        let est = (residual_sq - poisson - noise + prior * weight) / (p * p * spread.max(0.0) + weight);
        if est.is_finite() { est.max(0.0) } else { prior }
    }
}

/// The between-window variation of both arms' rates, estimated from the windows so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dispersion {
    /// The canary's per-window counts.
    pub canary: ArmMoments,
    /// Stable's per-window counts.
    pub stable: ArmMoments,
    /// Dispersion factor `φ` applied to the latest window.
    pub last_factor: f64,
}

impl Default for Dispersion {
    fn default() -> Self {
        Self {
            canary: ArmMoments::default(),
            stable: ArmMoments::default(),
            last_factor: 1.0,
        }
    }
}

impl Dispersion {
    /// Whether the state is well formed.
    pub fn is_well_formed(&self) -> bool {
        let ok = |a: &ArmMoments| {
            [
                a.events,
                a.exposure,
                a.events_sq,
                a.events_exposure,
                a.exposure_sq,
                a.exposure_cube,
            ]
            .iter()
            .all(|x| x.is_finite() && *x >= 0.0)
        };
        ok(&self.canary) && ok(&self.stable) && self.last_factor.is_finite()
    }

    /// Whether the spread between windows has been estimated from the data (stable has at least
    /// [`MIN_WINDOWS`] windows), rather than taken from the prior.
    pub fn is_estimated(&self) -> bool {
        self.stable.windows >= MIN_WINDOWS
    }

    /// Windows with events stable still needs before the spread is estimated (0 once it is).
    pub fn windows_to_estimate(&self) -> u64 {
        MIN_WINDOWS.saturating_sub(self.stable.windows)
    }

    /// The relative variances `(τ̂_c², τ̂_s²)` of the canary's and stable's rates between windows.
    /// The canary's is at least stable's: it runs the same service on fewer pods.
    pub fn excesses(&self) -> (f64, f64) {
        self.excesses_with(PRIOR_WEIGHT)
    }

    /// [`excesses`](Self::excesses) with stable's prior weighted `prior_weight`.
    fn excesses_with(&self, prior_weight: f64) -> (f64, f64) {
        let stable = self.stable.excess(PRIOR_EXCESS, prior_weight);
        let canary = self.canary.excess(stable, CANARY_SHRINKAGE);
        (canary.max(stable), stable)
    }

    /// The dispersion factor `φ = 1 + (τ_c² + τ_s²)·w²/v` of `window` (before it is recorded),
    /// with `w = max(v, v_e)`: `v = T·θ·(1 − θ)` is the binomial variance given the window's total
    /// `T`, `v_e = λ_c·λ_s/(λ_c + λ_s)` the same at the expected events `λ` of each arm at the
    /// rates so far (the canary's at least `null_ratio` × stable's), `θ = λ_c/(λ_c + λ_s)`.
    /// Capped at [`MAX_FACTOR`]; 1 without events. Before the spread is estimated (fewer than
    /// [`MIN_WINDOWS`] stable windows) the prior's `τ0²` stands in for both arms' estimates and
    /// the factor is kept within [[`FIRST_WINDOW_FACTOR`], [`FIRST_WINDOWS_MAX_FACTOR`]] (see the
    /// module docs).
    pub fn factor(&self, window: WindowCounts, null_ratio: f64) -> f64 {
        let phi = if self.is_estimated() {
            self.factor_with(window, null_ratio, self.excesses())
        } else if window.canary_events + window.stable_events > 0.0 {
            let prior = self.factor_with(window, null_ratio, (PRIOR_EXCESS, PRIOR_EXCESS));
            prior.clamp(FIRST_WINDOW_FACTOR, FIRST_WINDOWS_MAX_FACTOR)
        } else {
            1.0
        };
        phi.min(MAX_FACTOR)
    }

    /// The factor of a future `window` if the spread measured so far continues (the prior left
    /// out: it fades as windows arrive), for projecting the requests still needed.
    pub fn projected_factor(&self, window: WindowCounts, null_ratio: f64) -> f64 {
        let excesses = if self.is_estimated() {
            self.excesses_with(0.0)
        } else {
            self.excesses()
        };
        self.factor_with(window, null_ratio, excesses).min(MAX_FACTOR)
    }

    fn factor_with(&self, window: WindowCounts, null_ratio: f64, (tc, ts): (f64, f64)) -> f64 {
        let total = window.canary_events + window.stable_events;
        let pooled = |e: f64, n: f64| (n > 0.0).then(|| e / n).filter(|p| *p > 0.0);
        let stable_rate = self
            .stable
            .rate()
            .or_else(|| pooled(self.canary.events, self.canary.exposure))
            .or_else(|| pooled(total, window.canary_n + window.stable_n))
            .unwrap_or(0.0);
        let canary_rate = self.canary.rate().unwrap_or(0.0).max(null_ratio * stable_rate);
        let (lc, ls) = (window.canary_n * canary_rate, window.stable_n * stable_rate);
        if !(lc > 0.0 && ls > 0.0 && total > 0.0) {
            return 1.0;
        }
        let theta = lc / (lc + ls);
        let expected_var = lc * ls / (lc + ls);
        let var = total * theta * (1.0 - theta);
        let spread = var.max(expected_var);
        (1.0 + spread * spread * (tc + ts) / var).max(1.0)
    }

    /// Adds a window's counts.
    pub fn record(&mut self, window: WindowCounts) {
        self.canary.record(window.canary_events, window.canary_n);
        self.stable.record(window.stable_events, window.stable_n);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn window(ce: f64, se: f64) -> WindowCounts {
        WindowCounts {
            canary_events: ce,
            canary_n: 1000.0,
            stable_events: se,
            stable_n: 1000.0,
        }
    }

    #[test]
    fn poisson_windows_estimate_no_excess_and_overdispersed_ones_do() {
        // Counts alternating 10 ± sqrt(10): exactly Poisson variance.
        let mut d = Dispersion::default();
        for k in 0..200 {
            let u = if k % 2 == 0 { 10f64.sqrt() } else { -(10f64.sqrt()) };
            d.record(window(10.0 + u, 10.0 - u));
        }
        let (tc, ts) = d.excesses();
        assert!(tc < 0.01 && ts < 0.01, "{tc} {ts}");
        // Variance 10 + 0.2·10² (τ² = 0.2): φ = 1 + 5²·0.4/5 = 3 for an average window.
        let mut d = Dispersion::default();
        for k in 0..400 {
            let u = if k % 2 == 0 { 30f64.sqrt() } else { -(30f64.sqrt()) };
            d.record(window(10.0 + u, 10.0 - u));
        }
        let (tc, ts) = d.excesses();
        assert!((tc - 0.2).abs() < 0.01 && (ts - 0.2).abs() < 0.01, "{tc} {ts}");
        // (A standard error of Poisson noise, ≈ 0.007 here, is taken off the estimate.)
        assert!((d.factor(window(10.0, 10.0), 1.0) - 3.0).abs() < 0.1);
        // A window with a quarter of the expected events: its split is four times as suspect.
        assert!((d.factor(window(2.5, 2.5), 1.0) - 9.0).abs() < 0.4);
    }

    #[test]
    fn the_canary_is_at_least_as_variable_as_stable_and_the_prior_applies_first() {
        let d = Dispersion::default();
        assert_eq!(d.excesses(), (PRIOR_EXCESS, PRIOR_EXCESS));
        assert!(d.factor(window(2.0, 2.0), 1.0) > 1.0);
        assert_eq!(d.factor(window(0.0, 0.0), 1.0), 1.0);
        let mut d = Dispersion::default();
        for k in 0..100 {
            // Stable overdispersed, canary Poisson-like.
            let u = if k % 2 == 0 { 10.0 } else { -10.0 };
            let c = if k % 2 == 0 { 10f64.sqrt() } else { -(10f64.sqrt()) };
            d.record(window(10.0 + c, 10.0 + u));
        }
        let (tc, ts) = d.excesses();
        assert!(ts > 0.8 && tc == ts, "{tc} {ts}");
    }

    #[test]
    fn the_first_windows_get_the_prior_factor_whatever_their_counts() {
        let mut d = Dispersion::default();
        for k in 0..MIN_WINDOWS {
            assert_eq!(d.windows_to_estimate(), MIN_WINDOWS - k);
            // Small windows, a calm split and a one-sided one, get at least the fixed factor (in
            // the first window exactly; later a quiet window is more suspect)...
            for w in [window(1.0, 1.0), window(3.0, 0.0)] {
                let phi = d.factor(w, 1.0);
                assert!(
                    phi >= FIRST_WINDOW_FACTOR && (k > 0 || phi == FIRST_WINDOW_FACTOR),
                    "{phi}"
                );
            }
            assert_eq!(d.factor(window(0.0, 0.0), 1.0), 1.0);
            // ...and a large one the prior's, 1 + 2·τ0²·v at v = 5 (10 events per arm), capped.
            let phi = d.factor(window(10.0, 10.0), 1.0);
            assert_eq!(phi, FIRST_WINDOWS_MAX_FACTOR.min(1.0 + 2.0 * PRIOR_EXCESS * 5.0));
            d.record(window(10.0, 10.0));
        }
        // Calm windows so far: the estimate takes over and a window counts (almost) fully.
        assert!(d.is_estimated() && d.windows_to_estimate() == 0);
        let phi = d.factor(window(10.0, 10.0), 1.0);
        assert!((1.0..1.5).contains(&phi), "{phi}");
    }
}
