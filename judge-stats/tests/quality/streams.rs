//! Per-minute request and error streams of a canary and its stable version (issue 18), built
//! independently of the judges: Poisson-like traffic at a fixed rate split by a canary weight
//! ramp 5% → 10% → 25% → 50% (a quarter of the looks each), each arm's errors drawn exactly
//! (binomial) from a per-minute error probability that varies by [`Variation`].

use judge_stats::special::SplitMix64;

/// One minute: (canary errors, canary requests, stable errors, stable requests).
pub type Minute = (f64, f64, f64, f64);

/// How the per-minute error probability of each arm varies.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Variation {
    /// The base rate every minute (binomial noise only).
    Iid,
    /// Each arm's probability drawn independently every minute from a Beta with the base rate as
    /// mean and this concentration (`a + b`): overdispersion, per arm.
    Beta(f64),
    /// Each arm's logit error rate drifts as an independent AR(1) with coefficient `phi` and
    /// stationary standard deviation `sd` (started from its stationary law).
    LogitAr1 {
        /// Lag-one coefficient per minute.
        phi: f64,
        /// Stationary standard deviation of the logit.
        sd: f64,
    },
    /// Error bursts hitting both arms: with probability 5% a minute a burst starts that multiplies
    /// both arms' rate by 10 for a geometric number of minutes (mean 3).
    SharedBursts,
    /// Diurnal traffic: the request rate swings ±80% over a 100-minute period (random phase)
    /// and the error rate of both arms ±50% with it.
    Diurnal,
    /// Per-pod variation: stable runs on 20 pods and the canary on as many as its weight needs
    /// (2 at 5%, 20 at 50%); each pod's probability is drawn independently every minute from a
    /// Beta with this concentration, and requests spread evenly over an arm's pods. The canary's
    /// few pods make its rate far noisier than stable's.
    PerPod(f64),
}

/// A stream: traffic, base error rate and how the rates vary.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spec {
    /// Requests per second over both arms.
    pub rps: f64,
    /// Error probability of each arm on average (the canary's is multiplied by the lift).
    pub base: f64,
    /// Between-minute variation of the rates.
    pub variation: Variation,
}

impl Spec {
    /// 1% errors at 20 requests/s (the harness) with `variation`.
    pub const fn standard(variation: Variation) -> Self {
        Self {
            rps: 20.0,
            base: 0.01,
            variation,
        }
    }

    /// A short label for tables.
    pub fn label(&self) -> String {
        let v = match self.variation {
            Variation::Iid => "iid".to_string(),
            Variation::Beta(k) => format!("per-arm Beta, concentration {k}"),
            Variation::LogitAr1 { phi, sd } => format!("per-arm logit AR(1) phi {phi}, sd {sd}"),
            Variation::SharedBursts => "bursts hitting both arms".to_string(),
            Variation::Diurnal => "diurnal traffic".to_string(),
            Variation::PerPod(k) => format!("per-pod Beta, concentration {k} (stable 20 pods)"),
        };
        format!("{v}; {}% at {} rps", 100.0 * self.base, self.rps)
    }
}

/// Canary weight at minute `j` of `looks`: 5%, 10%, 25%, 50%, a quarter of the looks each.
pub fn weight(j: usize, looks: usize) -> f64 {
    [0.05, 0.10, 0.25, 0.50][(j * 4 / looks.max(1)).min(3)]
}

/// Exact Binomial(n, p) by geometric skips (expected `n·min(p, 1 − p)` steps).
pub fn binomial(rng: &mut SplitMix64, n: u64, p: f64) -> u64 {
    if p <= 0.0 || n == 0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    if p > 0.5 {
        return n - binomial(rng, n, 1.0 - p);
    }
    let ln_q = (1.0 - p).ln();
    let (mut at, mut hits) = (0u64, 0u64);
    loop {
        let skip = ((1.0 - rng.uniform()).ln() / ln_q).floor();
        if !skip.is_finite() || skip >= (n - at) as f64 {
            return hits;
        }
        at += skip as u64 + 1;
        hits += 1;
        if at >= n {
            return hits;
        }
    }
}

/// Poisson(mean) by its normal approximation (means here are ≥ 100) or by multiplication.
fn poisson(rng: &mut SplitMix64, mean: f64) -> u64 {
    if mean < 30.0 {
        let (limit, mut prod, mut k) = ((-mean).exp(), rng.uniform(), 0u64);
        while prod > limit {
            prod *= rng.uniform();
            k += 1;
        }
        return k;
    }
    (mean + mean.sqrt() * rng.gaussian()).round().max(0.0) as u64
}

/// Gamma(shape, 1) (Marsaglia-Tsang; shape < 1 boosted by `U^(1/shape)`).
fn gamma(rng: &mut SplitMix64, shape: f64) -> f64 {
    if shape < 1.0 {
        let u = 1.0 - rng.uniform();
        return gamma(rng, shape + 1.0) * u.powf(1.0 / shape);
    }
    let d = shape - 1.0 / 3.0;
    let c = 1.0 / (9.0 * d).sqrt();
    loop {
        let x = rng.gaussian();
        let v = (1.0 + c * x).powi(3);
        if v <= 0.0 {
            continue;
        }
        let u = 1.0 - rng.uniform();
        if u.ln() < 0.5 * x * x + d - d * v + d * v.ln() {
            return d * v;
        }
    }
}

/// Beta with mean `mean` and concentration `k`.
fn beta(rng: &mut SplitMix64, mean: f64, k: f64) -> f64 {
    let a = gamma(rng, mean * k);
    let b = gamma(rng, (1.0 - mean) * k);
    if a + b > 0.0 { a / (a + b) } else { mean }
}

fn logit(p: f64) -> f64 {
    (p / (1.0 - p)).ln()
}

fn expit(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Errors of `n` requests spread evenly over `pods` pods, each with its own Beta(mean, k) rate.
fn per_pod_errors(rng: &mut SplitMix64, n: u64, pods: u64, mean: f64, k: f64) -> u64 {
    (0..pods)
        .map(|i| {
            let share = n / pods + u64::from(i < n % pods);
            let p = beta(rng, mean, k);
            binomial(rng, share, p)
        })
        .sum()
}

/// `looks` minutes of `spec` with the canary's error probability multiplied by `lift`.
pub fn minutes(spec: Spec, lift: f64, seed: u64, looks: usize) -> Vec<Minute> {
    let mut rng = SplitMix64::new(seed);
    let (mut xc, mut xs) = match spec.variation {
        Variation::LogitAr1 { sd, .. } => (sd * rng.gaussian(), sd * rng.gaussian()),
        _ => (0.0, 0.0),
    };
    let phase = 2.0 * std::f64::consts::PI * rng.uniform();
    let mut burst_left = 0u32;
    (0..looks)
        .map(|j| {
            let w = weight(j, looks);
            let swing = (phase + 2.0 * std::f64::consts::PI * j as f64 / 100.0).sin();
            let rate = match spec.variation {
                Variation::Diurnal => spec.rps * (1.0 + 0.8 * swing),
                _ => spec.rps,
            };
            let traffic = poisson(&mut rng, rate * 60.0);
            let cn = binomial(&mut rng, traffic, w);
            let sn = traffic - cn;
            let (pc, ps) = match spec.variation {
                Variation::Iid | Variation::PerPod(_) => (spec.base, spec.base),
                Variation::Beta(k) => (beta(&mut rng, spec.base, k), beta(&mut rng, spec.base, k)),
                Variation::LogitAr1 { phi, sd } => {
                    let step = sd * (1.0 - phi * phi).sqrt();
                    xc = phi * xc + step * rng.gaussian();
                    xs = phi * xs + step * rng.gaussian();
                    let l = logit(spec.base);
                    (expit(l + xc), expit(l + xs))
                }
                Variation::SharedBursts => {
                    if burst_left == 0 && rng.bernoulli(0.05) {
                        burst_left = 1;
                        while rng.bernoulli(2.0 / 3.0) {
                            burst_left += 1;
                        }
                    }
                    let p = if burst_left > 0 {
                        burst_left -= 1;
                        spec.base * 10.0
                    } else {
                        spec.base
                    };
                    (p, p)
                }
                Variation::Diurnal => {
                    let p = spec.base * (1.0 + 0.5 * swing);
                    (p, p)
                }
            };
            let (ce, se) = match spec.variation {
                Variation::PerPod(k) => {
                    let canary_pods = ((20.0 * w / (1.0 - w)).ceil() as u64).max(1);
                    (
                        per_pod_errors(&mut rng, cn, canary_pods, (spec.base * lift).min(1.0), k),
                        per_pod_errors(&mut rng, sn, 20, spec.base, k),
                    )
                }
                _ => (
                    binomial(&mut rng, cn, (pc * lift).min(1.0)),
                    binomial(&mut rng, sn, ps),
                ),
            };
            (ce as f64, cn as f64, se as f64, sn as f64)
        })
        .collect()
}

#[cfg(test)]
mod checks {
    use super::*;

    #[test]
    fn generators_have_the_intended_moments() {
        let mut rng = SplitMix64::new(1);
        let n = 20_000;
        let draws: Vec<f64> = (0..n).map(|_| binomial(&mut rng, 1200, 0.01) as f64).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        assert!(
            (mean - 12.0).abs() < 0.1 && (var - 11.88).abs() < 0.5,
            "{mean} {var}"
        );
        let draws: Vec<f64> = (0..n).map(|_| beta(&mut rng, 0.01, 50.0)).collect();
        let mean = draws.iter().sum::<f64>() / n as f64;
        let var = draws.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n as f64;
        // Beta(0.5, 49.5): variance 0.01·0.99/51.
        assert!(
            (mean - 0.01).abs() < 0.0005 && (var / (0.0099 / 51.0) - 1.0).abs() < 0.1,
            "{mean} {var}"
        );
    }
}
