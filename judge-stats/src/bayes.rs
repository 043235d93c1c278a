//! Bayesian beta-binomial comparison of two error rates (reference §5.6), reported as an
//! explanation next to the anytime-valid test: `P(canary rate > stable rate)` and the expected
//! loss of promoting, `E[(p_canary − p_stable)⁺]`. Posterior probabilities are not error-controlled
//! under repeated looks, so they never decide a verdict on their own.

use crate::special::{beta_reg, ln_beta};

/// Simpson panels of the integrals (even).
const PANELS: usize = 400;

/// A Beta(a, b) posterior.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BetaPost {
    /// First shape (prior + events).
    pub a: f64,
    /// Second shape (prior + non-events).
    pub b: f64,
}

impl BetaPost {
    /// The posterior after `events` in `trials` from a Beta(`prior`, `prior`) prior.
    pub fn new(events: f64, trials: f64, prior: f64) -> Self {
        Self {
            a: prior + events,
            b: prior + (trials - events).max(0.0),
        }
    }

    /// Posterior mean.
    pub fn mean(&self) -> f64 {
        self.a / (self.a + self.b)
    }

    fn sd(&self) -> f64 {
        let s = self.a + self.b;
        (self.a * self.b / (s * s * (s + 1.0))).sqrt()
    }

    fn ln_pdf(&self, x: f64) -> f64 {
        (self.a - 1.0) * x.ln() + (self.b - 1.0) * (1.0 - x).ln() - ln_beta(self.a, self.b)
    }
}

/// `P(X > Y)` for independent `X ~ x`, `Y ~ y`: `∫ f_Y(t)·(1 − I_t(x.a, x.b)) dt`, by composite
/// Simpson over ±12 standard deviations of `Y` (`PANELS` panels).
pub fn prob_greater(x: BetaPost, y: BetaPost) -> f64 {
    let (m, s) = (y.mean(), y.sd());
    let lo = (m - 12.0 * s).max(0.0);
    let hi = (m + 12.0 * s).min(1.0);
    let n = PANELS;
    let h = (hi - lo) / n as f64;
    let f = |t: f64| {
        if t <= 0.0 || t >= 1.0 {
            return 0.0;
        }
        y.ln_pdf(t).exp() * (1.0 - beta_reg(x.a, x.b, t))
    };
    let mut sum = f(lo) + f(hi);
    for i in 1..n {
        let w = if i % 2 == 1 { 4.0 } else { 2.0 };
        sum += w * f(lo + i as f64 * h);
    }
    (sum * h / 3.0).clamp(0.0, 1.0)
}

/// Expected loss of promoting the canary: `E[(p_c − p_s)⁺] = E[p_c]·P(Beta(a_c+1, b_c) > p_s)
/// − E[p_s]·P(p_c > Beta(a_s+1, b_s))`.
pub fn expected_loss(canary: BetaPost, stable: BetaPost) -> f64 {
    let c1 = BetaPost {
        a: canary.a + 1.0,
        ..canary
    };
    let s1 = BetaPost {
        a: stable.a + 1.0,
        ..stable
    };
    (canary.mean() * prob_greater(c1, stable) - stable.mean() * prob_greater(canary, s1)).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reproduces_the_reference_check_values() {
        // Reference §5.6: 12/9000 baseline errors vs 5/1000 canary errors (uniform prior):
        // P(p_B > p_A) = 0.99361, expected loss 0.004546 (closed form).
        let stable = BetaPost::new(12.0, 9000.0, 1.0);
        let canary = BetaPost::new(5.0, 1000.0, 1.0);
        let p = prob_greater(canary, stable);
        assert!((p - 0.99361).abs() < 5e-5, "{p}");
        let loss = expected_loss(canary, stable);
        assert!((loss - 0.004546).abs() < 5e-6, "{loss}");
    }

    #[test]
    fn symmetric_when_equal() {
        let a = BetaPost::new(10.0, 1000.0, 0.5);
        assert!((prob_greater(a, a) - 0.5).abs() < 1e-6);
    }
}
