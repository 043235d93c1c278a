//! Policies shared by all judges: the missing-data policy, the multiple-comparison correction and
//! the anytime-valid absolute SLO checks behind the baseline-health guard.

use serde::{Deserialize, Serialize};

use crate::data::{Phase, Verdict, codes};
use crate::special::{beta_reg, clopper_pearson_lower, clopper_pearson_upper};

/// What to do when a required series has no data. There is deliberately no "pass" option: no
/// data is never a silent Pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingData {
    /// Inconclusive with code `no-data` (the rollout holds).
    #[default]
    Inconclusive,
    /// Failed with code `no-data`.
    Fail,
}

impl MissingData {
    /// The verdict for missing data under this policy.
    pub fn verdict(self, reason: impl Into<String>) -> Verdict {
        let phase = match self {
            MissingData::Inconclusive => Phase::Inconclusive,
            MissingData::Fail => Phase::Failed,
        };
        Verdict::new(phase, codes::NO_DATA, reason)
    }
}

/// Bonferroni correction: the per-test level when `comparisons` tests share the level `alpha`.
pub fn bonferroni(alpha: f64, comparisons: u32) -> f64 {
    alpha / f64::from(comparisons.max(1))
}

/// The level spent at look number `look` (1-based) so that the levels of all looks sum to at
/// most `alpha`: `α·6/(π²·look²)`. Makes a fixed-sample bound valid under repeated looks.
pub fn look_alpha(alpha: f64, look: u64) -> f64 {
    let n = look.max(1) as f64;
    alpha * 6.0 / (std::f64::consts::PI * std::f64::consts::PI * n * n)
}

/// Outcome of comparing one arm's event rate with an absolute SLO.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SloCheck {
    /// Observed rate.
    pub rate: f64,
    /// Lower confidence bound of the rate.
    pub lower: f64,
    /// Upper confidence bound of the rate.
    pub upper: f64,
    /// The bound is above the SLO: the arm significantly violates it.
    pub violated: bool,
    /// The upper bound is at or below the SLO: the arm significantly meets it.
    pub met: bool,
}

/// Checks `events / exposure` against `slo` with Clopper-Pearson bounds at level `alpha`
/// (one-sided each way). Pass a look-adjusted level (see [`look_alpha`]) for repeated looks.
pub fn slo_check(events: f64, exposure: f64, slo: f64, alpha: f64) -> SloCheck {
    let rate = if exposure > 0.0 {
        events / exposure
    } else {
        f64::NAN
    };
    let lower = clopper_pearson_lower(events, exposure, alpha);
    let upper = clopper_pearson_upper(events, exposure, alpha);
    SloCheck {
        rate,
        lower,
        upper,
        violated: exposure > 0.0 && lower > slo,
        met: exposure > 0.0 && upper <= slo,
    }
}

/// The lower bound and `violated` of [`slo_check`] without its upper bound (one Clopper-Pearson
/// bound instead of two), with `upper` set to 1 and `met` to false.
pub fn slo_lower(events: f64, exposure: f64, slo: f64, alpha: f64) -> SloCheck {
    let lower = clopper_pearson_lower(events, exposure, alpha);
    SloCheck {
        rate: if exposure > 0.0 {
            events / exposure
        } else {
            f64::NAN
        },
        lower,
        upper: 1.0,
        violated: exposure > 0.0 && lower > slo,
        met: false,
    }
}

/// Whether `events` in `exposure` show the rate above `rate` at level `alpha`: the one-sided
/// Clopper-Pearson lower bound exceeds it (as [`slo_check`]'s `violated`, one beta evaluation).
pub fn shown_above(events: f64, exposure: f64, rate: f64, alpha: f64) -> bool {
    // P(X ≥ k | rate) = I_rate(k, n − k + 1) < α.
    let (a, b) = (events, exposure - events + 1.0);
    exposure > 0.0
        && events > 0.0
        && events <= exposure
        && !(alpha < 0.5 && below_median(a, b, rate).is_some_and(|below| !below))
        && beta_reg(a, b, rate) < alpha
}

/// Without evaluating the incomplete beta: `Some(true)` when `x` is below the median of
/// Beta(a, b) (`I_x(a, b) < ½`), `Some(false)` when it is at or above it (`I_x(a, b) ≥ ½`),
/// `None` when the cheap bounds do not tell. For `1 ≤ a ≤ b` the median lies between the mode
/// `(a − 1)/(a + b − 2)` and the mean `a/(a + b)` (Groeneveld & Meeden 1977; Kerman 2011), so
/// the SLO checks of the samples-needed projection, which mostly ask about rates far from the
/// observed one, skip the incomplete beta on large counts.
fn below_median(a: f64, b: f64, x: f64) -> Option<bool> {
    if !(1.0 <= a && a <= b) {
        return None;
    }
    if x >= a / (a + b) {
        return Some(false);
    }
    let mode = if b > 1.0 { (a - 1.0) / (a + b - 2.0) } else { 0.0 };
    (x < mode).then_some(true)
}

/// Whether `events` in `exposure` show the rate at or below `rate` at level `alpha`: the
/// one-sided Clopper-Pearson upper bound is at most it (as [`slo_check`]'s `met`).
pub fn shown_below(events: f64, exposure: f64, rate: f64, alpha: f64) -> bool {
    // P(X ≤ k | rate) = 1 − I_rate(k + 1, n − k) ≤ α; below the median I < ½ < 1 − α.
    if alpha < 0.5 && below_median(events + 1.0, exposure - events, rate) == Some(true) {
        return false;
    }
    exposure > 0.0 && events < exposure && beta_reg(events + 1.0, exposure - events, rate) >= 1.0 - alpha
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn look_alpha_sums_below_alpha() {
        let total: f64 = (1..10_000).map(|n| look_alpha(0.05, n)).sum();
        assert!(total < 0.05 && total > 0.0499, "{total}");
        assert_eq!(bonferroni(0.05, 4), 0.0125);
        assert_eq!(bonferroni(0.05, 0), 0.05);
    }

    #[test]
    fn slo_check_needs_evidence() {
        // 6 errors in 100 against a 5% SLO: not significant.
        let c = slo_check(6.0, 100.0, 0.05, 0.05);
        assert!(!c.violated && !c.met);
        // 100 errors in 1000: significant violation.
        assert!(slo_check(100.0, 1000.0, 0.05, 0.05).violated);
        // 0 errors in 10000: significantly below 5%.
        assert!(slo_check(0.0, 10_000.0, 0.05, 0.05).met);
        assert_eq!(MissingData::default().verdict("x").phase, Phase::Inconclusive);
        // The one-evaluation forms agree with the bounds.
        for (k, n, slo) in [
            (6.0, 100.0, 0.05),
            (100.0, 1000.0, 0.05),
            (0.0, 10_000.0, 0.05),
            (3.0, 500.0, 0.01),
            (12.0, 500.0, 0.01),
        ] {
            let c = slo_check(k, n, slo, 0.01);
            assert_eq!(shown_above(k, n, slo, 0.01), c.violated, "{k}/{n}");
            assert_eq!(shown_below(k, n, slo, 0.01), c.met, "{k}/{n}");
        }
    }

    proptest::proptest! {
        /// The median screen never contradicts the incomplete beta, and the SLO checks with it
        /// decide as the incomplete beta alone does.
        #[test]
        fn the_median_screen_agrees_with_the_incomplete_beta(
            a in 1.0f64..5e4,
            extra in 0.0f64..1e6,
            x in 0.0f64..1.0,
            near in proptest::bool::ANY,
            alpha in 1e-6f64..0.3,
        ) {
            let b = a + extra;
            // Half the cases near the mean, where the screen has to hold back.
            let x = if near { a / (a + b) * (0.9 + 0.2 * x) } else { x };
            match below_median(a, b, x) {
                Some(true) => proptest::prop_assert!(beta_reg(a, b, x) < 0.5),
                Some(false) => proptest::prop_assert!(beta_reg(a, b, x) >= 0.5),
                None => {}
            }
            let (k, n) = (a.floor(), a.floor() + extra.floor());
            let above = n > 0.0 && k > 0.0 && k <= n && beta_reg(k, n - k + 1.0, x) < alpha;
            let below = n > 0.0 && k < n && beta_reg(k + 1.0, n - k, x) >= 1.0 - alpha;
            proptest::prop_assert_eq!(shown_above(k, n, x, alpha), above);
            proptest::prop_assert_eq!(shown_below(k, n, x, alpha), below);
        }
    }
}
