//! Numerical building blocks: the normal quantile, log-beta, Clopper-Pearson bounds, R-7
//! percentiles and a small seeded random generator. Special functions come from `statrs`
//! (pure Rust, builds for wasm32); this module only wraps them with total (non-panicking) APIs.

use statrs::function::{beta, erf};

/// The standard normal quantile `Φ⁻¹(p)`; `-inf`/`+inf` at 0/1 and NaN outside [0, 1].
///
/// Computed as `-√2 · erfc⁻¹(2p)` with statrs' double-precision `erfc_inv` (relative error
/// around 1e-15), far inside the ~1e-9 needed to reproduce Kayenta's intervals.
pub fn normal_quantile(p: f64) -> f64 {
    if p.is_nan() || !(0.0..=1.0).contains(&p) {
        return f64::NAN;
    }
    if p == 0.0 {
        return f64::NEG_INFINITY;
    }
    if p == 1.0 {
        return f64::INFINITY;
    }
    -std::f64::consts::SQRT_2 * erf::erfc_inv(2.0 * p)
}

/// The standard normal CDF `Φ(z)`.
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erf::erfc(-z / std::f64::consts::SQRT_2)
}

/// `ln B(a, b)`, or NaN when `a` or `b` is not positive.
pub fn ln_beta(a: f64, b: f64) -> f64 {
    beta::checked_ln_beta(a, b).unwrap_or(f64::NAN)
}

/// The regularized incomplete beta `I_x(a, b)`, or NaN for invalid arguments.
pub fn beta_reg(a: f64, b: f64, x: f64) -> f64 {
    beta::checked_beta_reg(a, b, x.clamp(0.0, 1.0)).unwrap_or(f64::NAN)
}

/// `ln(Σ exp(xᵢ))` without overflow; `-inf` for an empty slice.
pub fn log_sum_exp(xs: &[f64]) -> f64 {
    let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if !m.is_finite() {
        return m;
    }
    m + xs.iter().map(|x| exp_or_underflow(x - m)).sum::<f64>().ln()
}

/// Below this `exp` underflows to exactly 0 (`exp(−745.14) < 2⁻¹⁰⁷⁵`), with a margin.
const EXP_UNDERFLOW: f64 = -746.0;

/// `exp(x)`, skipping the evaluation where it is exactly 0 (`x` far below −745): mixtures whose
/// terms spread over thousands of log units sum the same bits without their exponentials.
pub fn exp_or_underflow(x: f64) -> f64 {
    if x < EXP_UNDERFLOW { 0.0 } else { x.exp() }
}

/// Upper one-sided Clopper-Pearson bound at level `alpha` for `k` events in `n` trials.
pub fn clopper_pearson_upper(k: f64, n: f64, alpha: f64) -> f64 {
    if n <= 0.0 {
        return 1.0;
    }
    if k >= n {
        return 1.0;
    }
    // Upper bound u solves P(X <= k | u) = alpha, i.e. I_u(k+1, n-k) = 1 - alpha.
    beta_quantile(k + 1.0, n - k, 1.0 - alpha)
}

/// Lower one-sided Clopper-Pearson bound at level `alpha` for `k` events in `n` trials.
pub fn clopper_pearson_lower(k: f64, n: f64, alpha: f64) -> f64 {
    if n <= 0.0 || k <= 0.0 {
        return 0.0;
    }
    if k >= n {
        return alpha.powf(1.0 / n);
    }
    // Lower bound l solves P(X >= k | l) = alpha, i.e. I_l(k, n-k+1) = alpha.
    beta_quantile(k, n - k + 1.0, alpha)
}

/// The `p`-quantile of Beta(a, b): the root of `I_x(a, b) = p`, by Newton's method on the
/// incomplete beta (its derivative is the density) inside a bisection bracket that every step
/// narrows; a step leaving the bracket becomes a bisection. From the mean, 4-8 evaluations reach
/// 1e-14 relative where plain bisection took 60.
fn beta_quantile(a: f64, b: f64, p: f64) -> f64 {
    let ln_b = ln_beta(a, b);
    let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
    // Start from the normal approximation (close on large counts, where each incomplete beta is
    // dearest), kept inside (0, 1); the bracket makes any start safe.
    let (mean, n) = (a / (a + b), a + b);
    let sd = (mean * (1.0 - mean) / (n + 1.0)).sqrt();
    let guess = mean + normal_quantile(p) * sd;
    let mut x = if guess > 0.0 && guess < 1.0 && guess.is_finite() {
        guess
    } else {
        mean
    };
    for _ in 0..200 {
        let fx = beta_reg(a, b, x) - p;
        if fx.is_nan() {
            return f64::NAN;
        }
        if fx == 0.0 {
            return x;
        }
        if fx < 0.0 {
            lo = x;
        } else {
            hi = x;
        }
        let density = ((a - 1.0) * x.ln() + (b - 1.0) * (1.0 - x).ln() - ln_b).exp();
        let newton = x - fx / density;
        let next = if newton > lo && newton < hi {
            newton
        } else {
            0.5 * (lo + hi)
        };
        if (next - x).abs() <= 1e-14 * next || hi - lo <= 1e-15 * hi {
            return next;
        }
        x = next;
    }
    x
}

/// Arithmetic mean; NaN for an empty slice.
pub fn mean(xs: &[f64]) -> f64 {
    if xs.is_empty() {
        return f64::NAN;
    }
    xs.iter().sum::<f64>() / xs.len() as f64
}

/// The `p`-th percentile (0-100) with linear interpolation between order statistics (R type 7).
/// NaN for an empty slice.
pub fn percentile_r7(xs: &[f64], p: f64) -> f64 {
    let mut v: Vec<f64> = xs.to_vec();
    v.sort_by(f64::total_cmp);
    percentile_sorted(&v, p)
}

/// [`percentile_r7`] on already sorted data.
pub fn percentile_sorted(v: &[f64], p: f64) -> f64 {
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    let h = (n as f64 - 1.0) * (p / 100.0).clamp(0.0, 1.0);
    let lo = h.floor() as usize;
    let hi = (lo + 1).min(n - 1);
    let (a, b) = (
        v.get(lo).copied().unwrap_or(f64::NAN),
        v.get(hi).copied().unwrap_or(f64::NAN),
    );
    a + (h - lo as f64) * (b - a)
}

/// A small seeded generator (SplitMix64) with uniform and Gaussian draws. Deterministic on every
/// platform; used where Kayenta adds random noise and by the simulation tests.
#[derive(Debug, Clone)]
pub struct SplitMix64 {
    state: u64,
    spare: Option<f64>,
}

impl SplitMix64 {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Self {
            state: seed,
            spare: None,
        }
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn uniform(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }

    /// Standard normal (Marsaglia polar method).
    pub fn gaussian(&mut self) -> f64 {
        if let Some(z) = self.spare.take() {
            return z;
        }
        loop {
            let u = 2.0 * self.uniform() - 1.0;
            let v = 2.0 * self.uniform() - 1.0;
            let s = u * u + v * v;
            if s > 0.0 && s < 1.0 {
                let m = (-2.0 * s.ln() / s).sqrt();
                self.spare = Some(v * m);
                return u * m;
            }
        }
    }

    /// A Bernoulli(p) draw.
    pub fn bernoulli(&mut self, p: f64) -> bool {
        self.uniform() < p
    }

    /// A Binomial(n, p) draw: exact for small n, normal approximation above 1000 trials.
    pub fn binomial(&mut self, n: u64, p: f64) -> u64 {
        if n <= 1000 {
            return (0..n).filter(|_| self.bernoulli(p)).count() as u64;
        }
        let mean = n as f64 * p;
        let sd = (mean * (1.0 - p)).sqrt();
        (mean + sd * self.gaussian()).round().clamp(0.0, n as f64) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normal_quantile_matches_reference_values() {
        // R: qnorm(0.01) and qnorm(0.025), 16 digits.
        assert!((normal_quantile(0.01) - (-2.326_347_874_040_841)).abs() < 1e-12);
        assert!((normal_quantile(0.025) - (-1.959_963_984_540_054)).abs() < 1e-12);
        assert!((normal_quantile(0.5)).abs() < 1e-15);
        assert!((normal_quantile(1e-10) - (-6.361_340_902_404_056)).abs() < 1e-9);
        assert!(normal_quantile(1.5).is_nan());
    }

    #[test]
    fn beta_quantile_agrees_with_bisection() {
        let bisect = |f: &dyn Fn(f64) -> f64| {
            let (mut lo, mut hi) = (0.0_f64, 1.0_f64);
            for _ in 0..80 {
                let mid = 0.5 * (lo + hi);
                if f(mid) < 0.0 {
                    lo = mid;
                } else {
                    hi = mid;
                }
            }
            0.5 * (lo + hi)
        };
        for (k, n) in [
            (0.0, 10.0),
            (1.0, 1e6),
            (3.0, 1000.0),
            (50.0, 100.0),
            (999.0, 1000.0),
            (12.0, 3e7),
        ] {
            for alpha in [1e-6, 0.001, 0.05, 0.5] {
                let upper = clopper_pearson_upper(k, n, alpha);
                let want = bisect(&|u| beta_reg(k + 1.0, n - k, u) - (1.0 - alpha));
                assert!(
                    (upper - want).abs() <= 1e-9 * want,
                    "upper {k}/{n} {alpha}: {upper} vs {want}"
                );
                if k > 0.0 {
                    let lower = clopper_pearson_lower(k, n, alpha);
                    let want = bisect(&|l| beta_reg(k, n - k + 1.0, l) - alpha);
                    assert!(
                        (lower - want).abs() <= 1e-9 * want,
                        "lower {k}/{n} {alpha}: {lower} vs {want}"
                    );
                }
            }
        }
    }

    #[test]
    fn clopper_pearson_zero_errors_is_rule_of_three() {
        // 95% upper bound for 0/n is 1 - 0.05^(1/n).
        let u = clopper_pearson_upper(0.0, 1000.0, 0.05);
        assert!((u - (1.0 - 0.05f64.powf(1.0 / 1000.0))).abs() < 1e-9, "{u}");
        let l = clopper_pearson_lower(10.0, 100.0, 0.05);
        assert!(l > 0.05 && l < 0.1, "{l}");
    }

    #[test]
    fn percentile_r7_matches_kayenta_statistic_suite() {
        let d = [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 3.5];
        assert!((percentile_r7(&d, 5.0) - 0.175).abs() < 1e-12);
        assert_eq!(percentile_r7(&d, 50.0), 1.75);
        assert_eq!(percentile_r7(&d, 100.0), 3.5);
        let nist = [
            95.1772, 95.1567, 95.1937, 95.1959, 95.1442, 95.0610, 95.1591, 95.1195, 95.1772, 95.0925,
            95.1990, 95.1682,
        ];
        assert!((percentile_r7(&nist, 90.0) - 95.19568).abs() < 1e-9);
    }

    #[test]
    fn log_sum_exp_is_stable() {
        assert!((log_sum_exp(&[1000.0, 1000.0]) - (1000.0 + 2f64.ln())).abs() < 1e-12);
        assert_eq!(log_sum_exp(&[]), f64::NEG_INFINITY);
    }
}
