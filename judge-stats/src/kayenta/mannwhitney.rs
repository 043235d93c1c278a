//! Kayenta's Mann-Whitney confidence interval and Hodges-Lehmann estimate: R's
//! `wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE)` (asymptotic, continuity
//! corrected) with R's `zeroin` Brent root finder and its absolute tolerance of 1e-4, reproduced
//! operation for operation so that the roots match Kayenta's to the last digit.

/// The machine epsilon used by R's `zeroin` (`DBL_EPSILON`).
const EPS: f64 = 2.220_446_049_250_313e-16;
/// R's `uniroot` tolerance as used by Kayenta: absolute, not scale-aware.
pub const ROOT_TOLERANCE: f64 = 1e-4;
/// Iteration limit (Kayenta runs `1000 + 1` iterations).
const MAX_ITER: usize = 1001;

/// Why the interval could not be computed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum MannWhitneyError {
    /// One of the samples is empty.
    #[error("cannot compute the Mann-Whitney interval of an empty sample")]
    Empty,
    /// σ is zero: every observation is tied.
    #[error("cannot compute confidence interval when all observations are tied")]
    AllTied,
}

/// Interval and estimate of the shift `experiment − control`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct MannWhitneyResult {
    /// Lower end of the confidence interval (may exceed the upper end: Kayenta does not sort).
    pub lower: f64,
    /// Upper end of the confidence interval.
    pub upper: f64,
    /// Hodges-Lehmann estimate (root of the statistic at quantile 0, not clamped).
    pub estimate: f64,
    /// `min(x) − max(y)`.
    pub mu_min: f64,
    /// `max(x) − min(y)`.
    pub mu_max: f64,
}

/// The standardized, continuity-corrected rank-sum statistic of `x − mu` against `y`, minus
/// `quantile`: `(dz − 0.5·sign(dz))/σ − q`. NaN when σ is zero (all tied).
pub fn wilcoxon_diff(mu: f64, quantile: f64, x: &[f64], y: &[f64]) -> f64 {
    let x_len = x.len() as f64;
    let y_len = y.len() as f64;
    // Pool the shifted x with y; NaN ranks as maximal (Apache NaNStrategy.MAXIMAL).
    let key = |v: f64| if v.is_nan() { f64::INFINITY } else { v };
    let mut pooled: Vec<(f64, bool)> = x
        .iter()
        .map(|v| (key(v - mu), true))
        .chain(y.iter().map(|v| (key(*v), false)))
        .collect();
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut rank_sum_x = 0.0;
    let mut ties = 0.0;
    let mut i = 0;
    while i < pooled.len() {
        let v = pooled.get(i).map_or(f64::NAN, |p| p.0);
        let mut j = i;
        while pooled.get(j).is_some_and(|p| p.0 == v) {
            j += 1;
        }
        let t = (j - i) as f64;
        // Average rank of positions i+1..=j.
        let avg = (i + 1 + j) as f64 / 2.0;
        let in_x = pooled.get(i..j).map_or(0, |g| g.iter().filter(|p| p.1).count());
        rank_sum_x += avg * in_x as f64;
        ties += t.powi(3) - t;
        i = j.max(i + 1);
    }
    let dz = rank_sum_x - x_len * (x_len + 1.0) / 2.0 - x_len * y_len / 2.0;
    let correction = if dz > 0.0 {
        0.5
    } else if dz < 0.0 {
        -0.5
    } else {
        0.0
    };
    let sigma = ((x_len * y_len / 12.0)
        * ((x_len + y_len + 1.0) - ties / ((x_len + y_len) * (x_len + y_len - 1.0))))
        .sqrt();
    if sigma == 0.0 {
        return f64::NAN;
    }
    (dz - correction) / sigma - quantile
}

/// R's `zeroin` (Brent's method) on `[ax, bx]` given `f(ax) = fa`, `f(bx) = fb`, with absolute
/// tolerance `tol`. Returns the last iterate, like R, even if the interval does not bracket a root.
pub fn zeroin(ax: f64, bx: f64, fa: f64, fb: f64, tol: f64, mut f: impl FnMut(f64) -> f64) -> f64 {
    let (mut a, mut b, mut fa, mut fb) = (ax, bx, fa, fb);
    let (mut c, mut fc) = (a, fa);
    if fa == 0.0 {
        return a;
    }
    if fb == 0.0 {
        return b;
    }
    // Apache's Precision.equals(fb, 0): within one ulp of zero.
    let is_zero = |v: f64| v.abs() <= f64::from_bits(1);
    for _ in 0..MAX_ITER {
        let prev_step = b - a;
        if fc.abs() < fb.abs() {
            a = b;
            b = c;
            c = a;
            fa = fb;
            fb = fc;
            fc = fa;
        }
        let tol_act = 2.0 * EPS * b.abs() + tol / 2.0;
        let mut new_step = (c - b) / 2.0;
        if new_step.abs() <= tol_act || is_zero(fb) {
            return b;
        }
        if prev_step.abs() >= tol_act && fa.abs() > fb.abs() {
            let cb = c - b;
            let (mut p, mut q);
            if a == c {
                let t1 = fb / fa;
                p = cb * t1;
                q = 1.0 - t1;
            } else {
                let qq = fa / fc;
                let t1 = fb / fc;
                let t2 = fb / fa;
                p = t2 * (cb * qq * (qq - t1) - (b - a) * (t1 - 1.0));
                q = (qq - 1.0) * (t1 - 1.0) * (t2 - 1.0);
            }
            if p > 0.0 {
                q = -q;
            } else {
                p = -p;
            }
            if p < (0.75 * cb * q - (tol_act * q).abs() / 2.0) && p < (prev_step * q / 2.0).abs() {
                new_step = p / q;
            }
        }
        if new_step.abs() < tol_act {
            new_step = if new_step > 0.0 { tol_act } else { -tol_act };
        }
        a = b;
        fa = fb;
        b += new_step;
        fb = f(b);
        if (fb > 0.0 && fc > 0.0) || (fb < 0.0 && fc < 0.0) {
            c = a;
            fc = fa;
        }
    }
    b
}

/// Kayenta's interval of `experiment − control` at `conf_level` and its Hodges-Lehmann estimate.
pub fn mann_whitney(
    experiment: &[f64],
    control: &[f64],
    conf_level: f64,
) -> Result<MannWhitneyResult, MannWhitneyError> {
    let (x, y) = (experiment, control);
    if x.is_empty() || y.is_empty() {
        return Err(MannWhitneyError::Empty);
    }
    let max = |v: &[f64]| v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let min = |v: &[f64]| v.iter().copied().fold(f64::INFINITY, f64::min);
    let alpha = 1.0 - conf_level;
    let mu_min = min(x) - max(y);
    let mu_max = max(x) - min(y);
    let tied = std::cell::Cell::new(false);
    let f = |mu: f64, q: f64| {
        let v = wilcoxon_diff(mu, q, x, y);
        if v.is_nan() {
            tied.set(true);
        }
        v
    };
    let find_root = |zq: f64| {
        let f_lower = f(mu_min, zq);
        let f_upper = f(mu_max, zq);
        if f_lower <= 0.0 {
            mu_min
        } else if f_upper >= 0.0 {
            mu_max
        } else {
            zeroin(mu_min, mu_max, f_lower, f_upper, ROOT_TOLERANCE, |m| f(m, zq))
        }
    };
    let z = crate::special::normal_quantile(alpha / 2.0);
    let lower = find_root(-z);
    let upper = find_root(z);
    let (f_lower, f_upper) = (f(mu_min, 0.0), f(mu_max, 0.0));
    let estimate = zeroin(mu_min, mu_max, f_lower, f_upper, ROOT_TOLERANCE, |m| f(m, 0.0));
    if tied.get() {
        return Err(MannWhitneyError::AllTied);
    }
    Ok(MannWhitneyResult {
        lower,
        upper,
        estimate,
        mu_min,
        mu_max,
    })
}
