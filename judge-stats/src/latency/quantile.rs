//! Quantile mode: a time-uniform confidence sequence for each arm's quantile (a binomial bound on
//! the count at the quantile, see [`quantile_interval`]) on the accumulated distribution, from
//! histogram buckets or from per-request samples folded into a [`LogHistogram`].

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{Config, State};
use crate::counts::CountTest;
use crate::data::{Bucket, Detail, Phase, Verdict, codes};
use crate::explain::number;

/// Growth factor between consecutive bounds of a [`LogHistogram`]: a 1% relative resolution.
pub const GROWTH: f64 = 1.01;
/// Largest bucket index of a [`LogHistogram`]: finite bounds run from `GROWTH^-MAX_INDEX`
/// (about 1.1e-13) to `GROWTH^MAX_INDEX` (about 9.2e12).
pub const MAX_INDEX: i32 = 3000;

/// Per-request samples of one arm folded into a fixed-resolution log-bucketed histogram, so that
/// the judge state stays bounded however many requests arrive: at most `2·MAX_INDEX + 3` buckets
/// (a factor of 10 in latency spans 232 of them). Bucket `k` holds the samples in
/// `(GROWTH^(k−1), GROWTH^k]`, so the counts are exact at every bound and the interval evaluated
/// at the bounds stays valid; quantiles are resolved to 1%.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogHistogram {
    /// Samples `<= 0`.
    pub zero: u64,
    /// Samples above the largest finite bound.
    pub overflow: u64,
    /// Samples per bucket index.
    pub counts: BTreeMap<i32, u64>,
}

impl LogHistogram {
    /// Upper bound of bucket `k`.
    pub fn bound(k: i32) -> f64 {
        GROWTH.powi(k)
    }

    /// Bucket index of a positive finite `v`, `None` above the largest finite bound.
    pub fn index(v: f64) -> Option<i32> {
        if v > Self::bound(MAX_INDEX) {
            return None;
        }
        let guess = (v.ln() / GROWTH.ln()).ceil();
        let mut k = guess.clamp(-f64::from(MAX_INDEX), f64::from(MAX_INDEX)) as i32;
        // Settle rounding so that bound(k − 1) < v <= bound(k) with the bounds as computed.
        while k > -MAX_INDEX && Self::bound(k - 1) >= v {
            k -= 1;
        }
        while k < MAX_INDEX && Self::bound(k) < v {
            k += 1;
        }
        Some(k)
    }

    /// Adds one sample; non-finite values are ignored.
    pub fn record(&mut self, v: f64) {
        if !v.is_finite() {
            return;
        }
        if v <= 0.0 {
            self.zero += 1;
            return;
        }
        match Self::index(v) {
            Some(k) => *self.counts.entry(k).or_insert(0) += 1,
            None => self.overflow += 1,
        }
    }

    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.zero + self.overflow + self.counts.values().sum::<u64>()
    }

    /// No samples yet.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The histogram as cumulative buckets (`0`, each used bound, `+Inf`); empty when no samples.
    pub fn cumulative(&self) -> Vec<Bucket> {
        if self.is_empty() {
            return Vec::new();
        }
        let mut total = self.zero as f64;
        let mut out = vec![Bucket {
            upper_bound: 0.0,
            count: total,
        }];
        for (&k, &c) in &self.counts {
            total += c as f64;
            out.push(Bucket {
                upper_bound: Self::bound(k),
                count: total,
            });
        }
        out.push(Bucket {
            upper_bound: f64::INFINITY,
            count: total + self.overflow as f64,
        });
        out
    }
}

/// Time-uniform margin of a Binomial(n, q) count: with probability at least `1 − alpha`,
/// `S_n − nq > −margin(n)` for every n at once, and likewise `S_n − nq < margin(n)`. It is
/// Bernstein's inequality at level `alpha·6/(π²n²)` for each n (a union bound over all n):
/// `margin = L/3 + sqrt(L²/9 + 2nq(1−q)L)` with `L = ln(π²n²/(6·alpha))`.
pub fn binomial_margin(n: f64, q: f64, alpha: f64) -> f64 {
    let l = (std::f64::consts::PI.powi(2) * n * n / (6.0 * alpha)).ln();
    l / 3.0 + (l * l / 9.0 + 2.0 * n * q * (1.0 - q) * l).sqrt()
}

/// The `q`-quantile's interval from cumulative `buckets` with the counts scaled by `scale` (1 for
/// the interval itself, more to project a larger sample with the same distribution).
fn band(buckets: &[Bucket], q: f64, alpha: f64, scale: f64) -> Option<(f64, f64, f64)> {
    let n = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
    if n <= 0.0 {
        return None;
    }
    let m = n * scale;
    let g = binomial_margin(m, q, alpha);
    let lower = buckets
        .iter()
        .filter(|b| b.count * scale <= m * q - g)
        .map(|b| b.upper_bound)
        .fold(0.0, f64::max);
    let upper = buckets
        .iter()
        .filter(|b| b.count * scale >= m * q + g)
        .map(|b| b.upper_bound)
        .fold(f64::INFINITY, f64::min);
    Some((lower, upper, n))
}

/// Anytime-valid interval `(lower, upper, n)` of the `q`-quantile ξ from a cumulative histogram
/// with `n` observations: ξ > lower and ξ <= upper, each side failing with probability at most
/// `alpha` over all sample sizes at once. The count at or below ξ is Binomial(n, ≥ q) and the
/// count below ξ is Binomial(n, ≤ q), so a bound whose count is at most `nq − margin` lies below
/// ξ, and one whose count is at least `nq + margin` lies at or above it ([`binomial_margin`]).
/// Only the one count at ξ must stay inside the margin, so no union over bounds is needed; for
/// extreme quantiles this is far tighter than a DKW band (the variance is q(1−q), not 1/4).
pub fn quantile_interval(buckets: &[Bucket], q: f64, alpha: f64) -> Option<(f64, f64, f64)> {
    band(buckets, q, alpha, 1.0)
}

/// Anytime-valid interval of the `q`-quantile from a cumulative histogram with `n` observations:
/// the DKW band `ε_n = sqrt(ln(π²n²/(3α)) / (2n))` holds for all n at once with probability 1−α.
/// Valid but much wider than [`quantile_interval`] for extreme quantiles (a finite upper bound
/// of p99 needs about 630,000 observations at α = 0.025, against about 10,000).
pub fn dkw_quantile_interval(buckets: &[Bucket], q: f64, alpha: f64) -> Option<(f64, f64, f64)> {
    let n = buckets.iter().map(|b| b.count).fold(0.0, f64::max);
    if n <= 0.0 {
        return None;
    }
    let eps = ((std::f64::consts::PI.powi(2) * n * n / (3.0 * alpha)).ln() / (2.0 * n)).sqrt();
    let cdf = |b: &Bucket| b.count / n;
    let lower = buckets
        .iter()
        .filter(|b| cdf(b) + eps < q)
        .map(|b| b.upper_bound)
        .fold(0.0, f64::max);
    let upper = buckets
        .iter()
        .filter(|b| cdf(b) - eps >= q)
        .map(|b| b.upper_bound)
        .fold(f64::INFINITY, f64::min);
    Some((lower, upper, n))
}

/// Interval `(lower, upper, n)` of one arm.
type Interval = (f64, f64, f64);

/// The canary's quantile is strictly above its lower bound and stable's at most its upper bound.
fn fails(c: Interval, s: Interval, test: &CountTest) -> bool {
    c.0 > 0.0 && c.0 >= test.fail_ratio * s.1
}

fn passes(c: Interval, s: Interval, test: &CountTest) -> bool {
    c.2.min(s.2) >= test.min_exposure && c.1 <= test.pass_ratio * s.0
}

/// Samples per arm still needed before the test would decide, if both arms kept their current
/// empirical distributions; `None` when no amount of data would (e.g. buckets too coarse).
fn samples_needed(c: &[Bucket], s: &[Bucket], q: f64, alpha: f64, test: &CountTest) -> Option<u64> {
    let (cn, sn) = (
        c.iter().map(|b| b.count).fold(0.0, f64::max),
        s.iter().map(|b| b.count).fold(0.0, f64::max),
    );
    let decided = |f: f64| match (band(c, q, alpha, f), band(s, q, alpha, f)) {
        (Some(ci), Some(si)) => {
            let (ci, si) = ((ci.0, ci.1, cn * f), (si.0, si.1, sn * f));
            fails(ci, si, test) || passes(ci, si, test)
        }
        _ => false,
    };
    let mut hi = 2.0;
    while !decided(hi) {
        hi *= 2.0;
        if hi > 1e9 {
            return None;
        }
    }
    let mut lo = hi / 2.0;
    for _ in 0..20 {
        let mid = (lo + hi) / 2.0;
        if decided(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
    }
    Some((cn.min(sn) * (hi - 1.0)).ceil().max(1.0) as u64)
}

/// The smallest number of observations at which the margin is at most `min(q, 1 − q)/2` of
/// them, so that both ends of the quantile's interval can be finite.
fn informative_n(q: f64, alpha: f64) -> f64 {
    let target = q.min(1.0 - q) / 2.0;
    let wide = |n: f64| binomial_margin(n, q, alpha) > target * n;
    let mut hi = 2.0;
    while wide(hi) && hi < 1e12 {
        hi *= 2.0;
    }
    let mut lo = hi / 2.0;
    while hi - lo > 1.0 {
        let mid = ((lo + hi) / 2.0).floor();
        if wide(mid) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    hi
}

/// The quantile-mode verdict on the accumulated data in `st`: histogram buckets if any arrived,
/// else the per-request samples.
pub(super) fn verdict(config: &Config, test: &CountTest, st: &State, name: &str) -> Verdict {
    let from_histograms = !(st.accumulated.0.is_empty() && st.accumulated.1.is_empty());
    let folded;
    let (cb, sb): (&[Bucket], &[Bucket]) = if from_histograms {
        (&st.accumulated.0, &st.accumulated.1)
    } else {
        folded = (st.samples.0.cumulative(), st.samples.1.cumulative());
        (&folded.0, &folded.1)
    };
    let half = test.alpha / 2.0;
    let q = config.quantile;
    let (c, s) = (quantile_interval(cb, q, half), quantile_interval(sb, q, half));
    let (Some(ci), Some(si)) = (c, s) else {
        let arm = if c.is_none() { "canary" } else { "stable" };
        let v = config
            .missing_data
            .verdict(format!("{name}: no {arm} latencies yet; no data is never a pass"));
        return Verdict::new(v.phase, codes::NO_DATA, v.reason);
    };
    let ((c_lo, c_hi, cn), (s_lo, s_hi, sn)) = (ci, si);
    let label = format!("{name} p{}", number(q * 100.0));
    let (c_lo_s, c_hi_s, s_lo_s, s_hi_s) = (number(c_lo), number(c_hi), number(s_lo), number(s_hi));
    let mut d = Detail::new(label.clone(), "quantile-interval", c_lo);
    d.interval = Some((c_lo, c_hi));
    d.samples = (cn as u64, sn as u64);
    d = d
        .with("stable-lower", s_lo)
        .with("stable-upper", s_hi)
        .with("alpha", test.alpha)
        .with("input", if from_histograms { "histogram" } else { "samples" });
    let verdict = |phase, code, reason: String, d: Detail| {
        let mut v = Verdict::new(phase, code, reason);
        v.details.push(d);
        v
    };
    if let Some(max_q) = config.max_quantile {
        d = d.with("slo", max_q);
        if s_lo >= max_q {
            let reason = format!(
                "{label}: stable itself violates the SLO (its quantile is above {s_lo_s} >= {}); \
                 the environment is unhealthy, so the canary is neither blamed nor promoted",
                number(max_q)
            );
            return verdict(Phase::Inconclusive, codes::ENVIRONMENT_UNHEALTHY, reason, d);
        }
    }
    if fails(ci, si, test) {
        let reason = format!("{label}: canary quantile is above {c_lo_s} while stable's is at most {s_hi_s}");
        return verdict(Phase::Failed, codes::REGRESSION, reason, d);
    }
    if let Some(max_q) = config.max_quantile.filter(|m| c_lo >= *m) {
        let reason = format!(
            "{label}: canary violates the SLO (its quantile is above {c_lo_s} >= {})",
            number(max_q)
        );
        return verdict(Phase::Failed, codes::SLO_VIOLATION, reason, d);
    }
    if passes(ci, si, test) {
        let reason =
            format!("{label}: canary quantile is at most {c_hi_s}, within tolerance of stable's {s_lo_s}");
        return verdict(Phase::Successful, codes::WITHIN_TOLERANCE, reason, d);
    }
    // Per-request samples converge to the fine 1% grid, so a projection that never decides comes
    // from the gaps between a few tail samples: fall back to the size at which the band is narrow
    // enough to bound the quantile on both sides (and at least minRequests). Coarse histogram
    // buckets may really never decide.
    let have = cn.min(sn);
    let rough = || {
        (informative_n(q, half).max(test.min_exposure) - have)
            .max(1.0)
            .ceil() as u64
    };
    let needed = samples_needed(cb, sb, q, half, test).or_else(|| (!from_histograms).then(rough));
    d.samples_needed = needed;
    let more = match needed {
        Some(n) => format!("about {n} more requests per arm needed"),
        None => "more data alone would not decide at this bucket resolution".to_string(),
    };
    let code = if cn.min(sn) < test.min_exposure {
        codes::INSUFFICIENT_DATA
    } else {
        codes::INSUFFICIENT_EVIDENCE
    };
    let reason = format!(
        "{label}: quantile intervals overlap (canary [{c_lo_s}, {c_hi_s}] from {cn} requests, stable [{s_lo_s}, {s_hi_s}] \
         from {sn}); {more}"
    );
    verdict(Phase::Inconclusive, code, reason, d)
}
