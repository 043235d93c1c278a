//! Projecting a [`RateRatioProcess`] one window ahead: how much more data a decision needs.

use super::{GRID_START, PASS_START, RateRatioProcess};
use crate::special::exp_or_underflow;

/// The fail and pass tests of a [`RateRatioProcess`] after one more window of a fixed share, for
/// projecting how much more data a decision needs without copying the process.
#[derive(Debug, Clone)]
pub struct Projection<'a> {
    pub(super) process: &'a RateRatioProcess,
    /// Weight of the future windows' log-likelihood ratios (`1/φ`).
    pub(super) weight: f64,
    /// `(ln θ(r), ln(1 − θ(r)))` for the null and the alternatives of the fail test.
    pub(super) fail: Vec<(f64, f64)>,
    /// The same for the pass test.
    pub(super) pass: Vec<(f64, f64)>,
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
        let counts = (canary_events, stable_events, var_canary, var_stable);
        (self.fail(counts), self.pass(counts))
    }

    /// The fail test of [`evaluate`](Self::evaluate) alone, for `(canary events, stable events,
    /// canary variance, stable variance)`.
    pub fn fail(&self, counts: (f64, f64, f64, f64)) -> Projected {
        let ll = self.process.test_log_likelihoods();
        self.one(ll.get(..PASS_START).unwrap_or(&[]), &self.fail, counts)
    }

    /// The pass test of [`evaluate`](Self::evaluate) alone.
    pub fn pass(&self, counts: (f64, f64, f64, f64)) -> Projected {
        let ll = self.process.test_log_likelihoods();
        self.one(ll.get(PASS_START..GRID_START).unwrap_or(&[]), &self.pass, counts)
    }

    /// Whether the projected fail test clears `threshold` by `spread` standard deviations:
    /// `log_e − spread·sd ≥ threshold` for [`fail`](Self::fail), without its exponentials when
    /// the largest mixture term already falls short (`log_e ≤` that term, `spread ≥ 0`).
    pub fn fail_clears(&self, counts: (f64, f64, f64, f64), spread: f64, threshold: f64) -> bool {
        let ll = self.process.test_log_likelihoods();
        self.clears(
            ll.get(..PASS_START).unwrap_or(&[]),
            &self.fail,
            counts,
            spread,
            threshold,
        )
    }

    /// [`fail_clears`](Self::fail_clears) for the pass test.
    pub fn pass_clears(&self, counts: (f64, f64, f64, f64), spread: f64, threshold: f64) -> bool {
        let ll = self.process.test_log_likelihoods();
        self.clears(
            ll.get(PASS_START..GRID_START).unwrap_or(&[]),
            &self.pass,
            counts,
            spread,
            threshold,
        )
    }

    fn clears(
        &self,
        ll: &[f64],
        logs: &[(f64, f64)],
        counts: (f64, f64, f64, f64),
        spread: f64,
        threshold: f64,
    ) -> bool {
        let (terms, g0) = self.terms(ll, logs, counts);
        // The mean of the mixture terms' exponentials is at most the largest (margin for rounding).
        let top = terms.iter().fold(f64::NEG_INFINITY, |m, t| m.max(*t));
        if spread >= 0.0 && top < threshold - 1e-9 {
            return false;
        }
        let p = self.mixture(&terms, g0, logs, counts);
        p.log_e - spread * p.sd >= threshold
    }

    /// The mixture terms `ℓ_k − ℓ_0` after the projected counts, and `ℓ_0`'s per-event logs.
    fn terms(&self, ll: &[f64], logs: &[(f64, f64)], counts: (f64, f64, f64, f64)) -> (Vec<f64>, (f64, f64)) {
        let (canary_events, stable_events, _, _) = counts;
        let w = self.weight;
        let moved = |l: f64, (a, b): (f64, f64)| l + w * (canary_events * a + stable_events * b);
        let (Some((l0, alts)), Some((&g0, gs))) = (ll.split_first(), logs.split_first()) else {
            return (Vec::new(), (0.0, 0.0));
        };
        let base = moved(*l0, g0);
        (
            alts.iter().zip(gs).map(|(l, g)| moved(*l, *g) - base).collect(),
            g0,
        )
    }

    /// One test's projected log e-value from its log-likelihoods `ll` and per-event logs `logs`.
    fn one(&self, ll: &[f64], logs: &[(f64, f64)], counts: (f64, f64, f64, f64)) -> Projected {
        let (terms, g0) = self.terms(ll, logs, counts);
        self.mixture(&terms, g0, logs, counts)
    }

    /// The projected log e-value from the mixture `terms` (and `ℓ_0`'s per-event logs `g0`).
    fn mixture(
        &self,
        terms: &[f64],
        g0: (f64, f64),
        logs: &[(f64, f64)],
        counts: (f64, f64, f64, f64),
    ) -> Projected {
        let (_, _, var_canary, var_stable) = counts;
        let w = self.weight;
        let gs = logs.get(1..).unwrap_or(&[]);
        if terms.is_empty() {
            return Projected { log_e: 0.0, sd: 0.0 };
        }
        let top = terms.iter().fold(f64::NEG_INFINITY, |m, t| m.max(*t));
        let (mut z, mut gc, mut gsb) = (0.0, 0.0, 0.0);
        for (t, (a, b)) in terms.iter().zip(gs) {
            // A term whose exponential is exactly 0 adds nothing to any of the sums.
            let w = exp_or_underflow(t - top);
            if w == 0.0 {
                continue;
            }
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
    }
}
