//! The release-issue test: Wald's sequential probability ratio test for a binomial proportion
//! (A. Wald, "Sequential Tests of Statistical Hypotheses", *Ann. Math. Statist.* 16(2), 1945,
//! 117–186), one-sided, with no acceptance boundary.
//!
//! Each environment with an outcome not explained by the environment or a transient cause is a
//! Bernoulli trial ([`super::HealthCounts::trials`]): it failed, or it promoted or paused
//! inconclusive. H0: the failure rate is at most the fleet's
//! baseline `p0`; H1: it is `p1 = k × p0` ([`ReleaseTest::failure_rate_ratio`]). After `n` trials
//! with `f` failures the log-likelihood ratio is
//!
//! `Λ = f·ln(p1/p0) + (n − f)·ln((1 − p1)/(1 − p0))`
//!
//! and the release is halted once `Λ ≥ ln(1/α)`. Under H0 the likelihood ratio `exp(Λ)` is a
//! non-negative (super)martingale with mean at most 1, so by Ville's inequality (J. Ville, *Étude
//! critique de la notion de collectif*, 1939) `P(sup_n Λ_n ≥ ln(1/α)) ≤ α`: the false-alarm rate
//! stays at most α however often the fleet looks (after every wave, after every environment) and
//! whatever the order of environments. It only needs `ln`, so no statistics crate is used here.

use serde::{Deserialize, Serialize};

use super::plan::ReleaseTest;

/// The test's name in the evidence.
pub const TEST_NAME: &str = "wald-sprt";

/// The evidence of the release-issue test after some trials.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SequentialEvidence {
    /// The test ([`TEST_NAME`]).
    pub test: String,
    /// The log-likelihood ratio Λ of H1 (failure rate `alternative`) against H0 (`baseline`).
    pub statistic: f64,
    /// The halting threshold `ln(1/α)`.
    pub threshold: f64,
    /// Trials: environments promoted, inconclusive, or failed for a reason counted against the
    /// release.
    pub n: u64,
    /// Failures counted against the release.
    pub failures: u64,
    /// H0: the fleet's baseline failure rate.
    pub baseline: f64,
    /// H1: the failure rate the test is tuned to detect.
    pub alternative: f64,
    /// α: the bound on the chance of ever halting a release that fails at the baseline rate.
    pub false_alarm_rate: f64,
    /// Whether Λ reached the threshold: this release fails in significantly more environments
    /// than the baseline.
    pub rejected: bool,
    /// The fewest failures among these `n` trials that would reach the threshold (above `n`: not
    /// reachable yet).
    pub failures_to_halt: u64,
}

impl SequentialEvidence {
    /// The observed failure rate `failures / n` (0 without trials).
    pub fn failure_rate(&self) -> f64 {
        if self.n == 0 {
            0.0
        } else {
            as_f64(self.failures) / as_f64(self.n)
        }
    }
}

/// Counts as f64 (exact below 2^53, far above any fleet).
#[allow(clippy::cast_precision_loss)]
fn as_f64(x: u64) -> f64 {
    x as f64
}

/// The test after `n` trials of which `failures` count against the release
/// (`failures` is capped at `n`). `test` must be valid ([`super::ReleasePlan::validate`]);
/// otherwise the evidence never rejects.
pub fn sprt(test: &ReleaseTest, n: u64, failures: u64) -> SequentialEvidence {
    let failures = failures.min(n);
    let p0 = test.baseline_failure_rate;
    let p1 = p0 * test.failure_rate_ratio;
    let alpha = test.false_alarm_rate;
    let valid = p0 > 0.0 && p1 > p0 && p1 < 1.0 && alpha > 0.0 && alpha < 1.0;
    let threshold = if valid { (1.0 / alpha).ln() } else { f64::INFINITY };
    // Per failure (a > 0) and per promotion (b < 0).
    let (a, b) = if valid {
        ((p1 / p0).ln(), ((1.0 - p1) / (1.0 - p0)).ln())
    } else {
        (0.0, 0.0)
    };
    let lambda = |f: u64| as_f64(f) * a + as_f64(n.saturating_sub(f)) * b;
    let statistic = lambda(failures);
    // Λ(f) = f·(a − b) + n·b ≥ threshold  ⇔  f ≥ (threshold − n·b) / (a − b); the closed form is
    // then nudged (at most a step or two) so that it agrees exactly with `lambda`.
    let failures_to_halt = if valid {
        let f = ((threshold - as_f64(n) * b) / (a - b)).ceil().max(0.0);
        // Saturating: a count too large for u64 is never reached.
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let mut f = f.min(u64::MAX as f64) as u64;
        for _ in 0..4 {
            if f > 0 && lambda(f - 1) >= threshold {
                f -= 1;
            } else if lambda(f) < threshold && f < u64::MAX {
                f += 1;
            }
        }
        f
    } else {
        u64::MAX
    };
    SequentialEvidence {
        test: TEST_NAME.to_string(),
        statistic,
        threshold,
        n,
        failures,
        baseline: p0,
        alternative: p1,
        false_alarm_rate: alpha,
        rejected: valid && statistic >= threshold,
        failures_to_halt,
    }
}
