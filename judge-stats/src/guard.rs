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

/// Whether `events` in `exposure` show the rate above `rate` at level `alpha`: the one-sided
/// Clopper-Pearson lower bound exceeds it (as [`slo_check`]'s `violated`, one beta evaluation).
pub fn shown_above(events: f64, exposure: f64, rate: f64, alpha: f64) -> bool {
    // P(X ≥ k | rate) = I_rate(k, n − k + 1) < α.
    exposure > 0.0
        && events > 0.0
        && events <= exposure
        && beta_reg(events, exposure - events + 1.0, rate) < alpha
}

/// Whether `events` in `exposure` show the rate at or below `rate` at level `alpha`: the
/// one-sided Clopper-Pearson upper bound is at most it (as [`slo_check`]'s `met`).
pub fn shown_below(events: f64, exposure: f64, rate: f64, alpha: f64) -> bool {
    // P(X ≤ k | rate) = 1 − I_rate(k + 1, n − k) ≤ α.
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
}
