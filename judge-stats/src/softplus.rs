//! Weighted sums of softplus functions, `G(x) = Σ_j c_j·softplus(x + v_j)`, kept as sufficient
//! statistics so that folding in a term costs no logarithm and `G` is evaluated at many points
//! with one `exp` and one `ln_1p` per point, however many terms were folded in.
//!
//! The rate-ratio e-process ([`crate::seq`]) needs `G` at 343 fixed log-ratios `x`, one term per
//! window (`c_j` its weighted event count, `v_j` the log-odds of its canary share); computing each
//! term at each point directly took 17,000 logarithms for 50 windows.
//!
//! Each term is assigned to the nearest even centre `a` (so `u = v − a ∈ [−1, 1]`: one centre
//! for shares between 27% and 73%) and expanded in a Taylor series about it:
//! `softplus(x + a + u) = Σ_k softplus⁽ᵏ⁾(x + a)·uᵏ/k!`. Per centre the state keeps the moments
//! `m_k = Σ c_j·u_jᵏ`, `k = 0..=ORDER`, and the largest `|u|`, so
//! `G(x) = Σ_a Σ_k softplus⁽ᵏ⁾(x + a)·m_k/k!`. The derivatives are polynomials in
//! `t = σ − ½` (`σ` the logistic function): `softplus' = ½ + t` and
//! `p_{k+1}(t) = p_k'(t)·(¼ − t²)`, so the sum over `k ≥ 1` is one polynomial in `t(x + a)` per
//! centre (in `t` its coefficients stay small, so Horner's rule loses nothing).
//!
//! Accuracy: softplus is analytic in the strip `|Im z| < π`, so on a circle of radius 3 its
//! Taylor coefficients are at most `M/3ᵏ` with `M ≈ |x| + 5`; with `|u| ≤ s` the remainder after
//! order `K` is below `1.5·M·(s/3)^(K+1)` per unit of `c`, and `K` is chosen per centre so that
//! `(s/3)^(K+1) ≤ 1e-17` (34 at most, for `s = 1`; 0 when every share was equal): beneath the
//! rounding of the direct sum (the tests check 1e-10 relative on random terms). Beyond
//! [`MAX_CENTRES`] centres (shares that jump by factors of e² several times) further terms are
//! added directly at every point, so the state stays bounded.

use serde::{Deserialize, Serialize};

/// Highest moment kept per centre.
pub const ORDER: usize = 34;
/// Distance between centres (`|u| ≤ SPACING/2`).
const SPACING: f64 = 2.0;
/// Largest number of centres; terms beyond are summed directly at the points.
pub const MAX_CENTRES: usize = 8;

/// `ln(1 + eʸ)` without overflow.
pub fn softplus(y: f64) -> f64 {
    y.max(0.0) + (-y.abs()).exp().ln_1p()
}

/// The moments of the terms assigned to one centre.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Centre {
    /// The centre `a` (an integer).
    at: f64,
    /// `m_k = Σ c_j·(v_j − a)ᵏ` for `k = 0..=ORDER`.
    moments: Vec<f64>,
    /// The largest `|v_j − a|` (at most `SPACING/2`): how many moments matter.
    spread: f64,
}

impl Centre {
    /// The order after which the Taylor remainder is below 1e-17 of `M` per unit of `c`.
    fn order(&self) -> usize {
        if self.spread <= 0.0 {
            return 0;
        }
        let k = (-17.0 * std::f64::consts::LN_10 / (self.spread / 3.0).ln()).ceil();
        (k as usize).min(ORDER)
    }
}

/// `G(x) = Σ_j c_j·softplus(x + v_j)` as sufficient statistics (see the module docs).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SoftplusSum {
    centres: Vec<Centre>,
    /// Direct sums at the points of the terms beyond [`MAX_CENTRES`] centres (empty until then).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    direct: Vec<f64>,
}

impl SoftplusSum {
    /// Adds the term `c·softplus(x + v)`. `points` are the points `G` will be evaluated at (the
    /// same every call); they are only used once the centres are exhausted.
    pub fn add(&mut self, c: f64, v: f64, points: &[f64]) {
        if !(c.is_finite() && v.is_finite()) || c == 0.0 {
            return;
        }
        let at = SPACING * (v / SPACING).round();
        let u = v - at;
        let centre = match self.centres.iter().position(|k| k.at == at) {
            Some(i) => self.centres.get_mut(i),
            None if self.centres.len() < MAX_CENTRES => {
                self.centres.push(Centre {
                    at,
                    moments: vec![0.0; ORDER + 1],
                    spread: 0.0,
                });
                self.centres.last_mut()
            }
            None => None,
        };
        if let Some(centre) = centre {
            centre.spread = centre.spread.max(u.abs());
            let mut power = c;
            for m in &mut centre.moments {
                *m += power;
                power *= u;
            }
            return;
        }
        if self.direct.len() != points.len() {
            self.direct = vec![0.0; points.len()];
        }
        for (d, x) in self.direct.iter_mut().zip(points) {
            *d += c * softplus(x + v);
        }
    }

    /// Whether the state is well formed for `points` points.
    pub fn is_well_formed(&self, points: usize) -> bool {
        self.centres.len() <= MAX_CENTRES
            && self
                .centres
                .iter()
                .all(|k| k.moments.len() == ORDER + 1 && k.at.is_finite() && (0.0..=1.0).contains(&k.spread))
            && (self.direct.is_empty() || self.direct.len() == points)
    }

    /// `G` at each of `points`.
    pub fn eval(&self, points: &[f64]) -> Vec<f64> {
        let prepared = self.prepare(points.len());
        points
            .iter()
            .enumerate()
            .map(|(i, x)| prepared.at(i, *x))
            .collect()
    }

    /// `G` ready to be evaluated at single points, out of `points` points in all (each centre's
    /// polynomial summed once): for reading `G` at only some of the points.
    pub fn prepare(&self, points: usize) -> Prepared {
        let order = self.centres.iter().map(Centre::order).max().unwrap_or(0);
        let polys = derivative_polynomials(order);
        let centres = self
            .centres
            .iter()
            .map(|centre| {
                // q(t) = Σ_{k≥1} m_k/k!·p_k(t), as coefficients of t^d (p_k has degree k).
                let order = centre.order();
                let mut q = vec![0.0; order + 1];
                let mut factorial = 1.0;
                let terms = centre.moments.iter().zip(&polys).enumerate();
                for (k, (m, p)) in terms.skip(1).take(order) {
                    factorial *= k as f64;
                    let scale = m / factorial;
                    for (qd, pd) in q.iter_mut().zip(p).take(k + 1) {
                        *qd += scale * pd;
                    }
                }
                PreparedCentre {
                    at: centre.at,
                    m0: centre.moments.first().copied().unwrap_or(0.0),
                    q,
                }
            })
            .collect();
        Prepared {
            direct: if self.direct.len() == points {
                self.direct.clone()
            } else {
                Vec::new()
            },
            centres,
        }
    }
}

/// [`SoftplusSum`] prepared for evaluation at single points ([`SoftplusSum::prepare`]).
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// The direct sums at the points (empty when no term was summed directly).
    direct: Vec<f64>,
    centres: Vec<PreparedCentre>,
}

#[derive(Debug, Clone)]
struct PreparedCentre {
    at: f64,
    /// `m_0`, the weight of the centre.
    m0: f64,
    /// `q(t)`'s coefficients up to the centre's order.
    q: Vec<f64>,
}

impl Prepared {
    /// `G(x)` at `x`, the point with index `index` of the points prepared for.
    pub fn at(&self, index: usize, x: f64) -> f64 {
        let mut out = self.direct.get(index).copied().unwrap_or(0.0);
        for centre in &self.centres {
            let y = x + centre.at;
            let e = (-y.abs()).exp();
            // t = σ(y) − ½ without cancellation.
            let t = 0.5 * (1.0 - e) / (1.0 + e) * y.signum();
            let tail = centre.q.iter().rev().fold(0.0, |acc, c| acc * t + c);
            out += centre.m0 * (y.max(0.0) + e.ln_1p()) + tail;
        }
        out
    }
}

/// `p_k` (coefficients of `t^d`, `d = 0..=ORDER`) with `softplus⁽ᵏ⁾ = p_k(σ − ½)`, for
/// `k = 0..=order` (`p_0` unused: zero; `order ≤ ORDER`).
fn derivative_polynomials(order: usize) -> Vec<[f64; ORDER + 1]> {
    let mut p = vec![[0.0; ORDER + 1]; order.min(ORDER) + 1];
    // p_1 = ½ + t; p_{k+1} = p_k'·(¼ − t²) has coefficient (d + 1)·a_{d+1}/4 − (d − 1)·a_{d−1}
    // at t^d.
    if let Some([a0, a1, ..]) = p.get_mut(1) {
        *a0 = 0.5;
        *a1 = 1.0;
    }
    for k in 1..p.len().saturating_sub(1) {
        let prev = p.get(k).copied().unwrap_or([0.0; ORDER + 1]);
        if let Some(next) = p.get_mut(k + 1) {
            for (d, b) in next.iter_mut().enumerate().take(k + 2) {
                let above = prev.get(d + 1).copied().unwrap_or(0.0);
                let below = d.checked_sub(1).and_then(|i| prev.get(i)).copied().unwrap_or(0.0);
                *b = (d as f64 + 1.0) * above / 4.0 - (d as f64 - 1.0) * below;
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::special::SplitMix64;

    fn direct(terms: &[(f64, f64)], points: &[f64]) -> Vec<f64> {
        points
            .iter()
            .map(|x| terms.iter().map(|(c, v)| c * softplus(x + v)).sum())
            .collect()
    }

    #[test]
    fn derivatives_match_finite_differences() {
        let polys = derivative_polynomials(ORDER);
        let sigma = |y: f64| 1.0 / (1.0 + (-y).exp());
        let eval = |k: usize, y: f64| {
            polys[k]
                .iter()
                .rev()
                .fold(0.0, |acc, c| acc * (sigma(y) - 0.5) + c)
        };
        let h = 1e-5;
        for y in [-3.0, -0.4, 0.0, 0.7, 2.5] {
            assert!((eval(1, y) - sigma(y)).abs() < 1e-15);
            for k in 1..6 {
                let fd = (eval(k, y + h) - eval(k, y - h)) / (2.0 * h);
                assert!(
                    (fd - eval(k + 1, y)).abs() < 1e-6,
                    "k={k} y={y}: {fd} vs {}",
                    eval(k + 1, y)
                );
            }
        }
    }

    #[test]
    fn polynomials_up_to_an_order_are_those_of_the_full_table() {
        let full = derivative_polynomials(ORDER);
        for order in [0, 1, 7, 25, ORDER] {
            let part = derivative_polynomials(order);
            assert_eq!(part.len(), order + 1);
            for (k, (a, b)) in part.iter().zip(&full).enumerate() {
                let bits = |p: &[f64; ORDER + 1]| p.map(f64::to_bits);
                assert_eq!(bits(a), bits(b), "p_{k} up to order {order}");
            }
        }
    }

    #[test]
    fn agrees_with_the_direct_sum_on_random_terms() {
        let points: Vec<f64> = (0..241).map(|i| -9.0 + 0.075 * i as f64).collect();
        let mut rng = SplitMix64::new(7);
        for case in 0..40 {
            // Shares from 1% to 99% around a case-dependent level, weights from 0 to 5,000.
            let level = -4.0 + 8.0 * rng.uniform();
            let spread = [0.05, 0.6, 3.0][case % 3];
            let terms: Vec<(f64, f64)> = (0..60)
                .map(|_| {
                    (
                        5000.0 * rng.uniform(),
                        level + spread * (2.0 * rng.uniform() - 1.0),
                    )
                })
                .collect();
            let mut sum = SoftplusSum::default();
            for (c, v) in &terms {
                sum.add(*c, *v, &points);
            }
            assert!(sum.is_well_formed(points.len()));
            let got = sum.eval(&points);
            let want = direct(&terms, &points);
            for (g, w) in got.iter().zip(&want) {
                assert!(
                    (g - w).abs() <= 1e-10 * w.abs().max(1.0),
                    "case {case}: {g} vs {w}"
                );
            }
        }
    }

    #[test]
    fn terms_beyond_the_centres_are_summed_directly() {
        let points = [-2.0, 0.0, 3.5];
        let terms: Vec<(f64, f64)> = (0..20).map(|i| (10.0 + i as f64, i as f64 - 10.0)).collect();
        let mut sum = SoftplusSum::default();
        for (c, v) in &terms {
            sum.add(*c, *v, &points);
        }
        assert_eq!(sum.centres.len(), MAX_CENTRES);
        assert_eq!(sum.direct.len(), points.len());
        for (g, w) in sum.eval(&points).iter().zip(direct(&terms, &points)) {
            assert!((g - w).abs() <= 1e-10 * w.abs().max(1.0), "{g} vs {w}");
        }
    }
}
