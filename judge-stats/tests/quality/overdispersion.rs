//! Issue 18: per-arm overdispersion and per-arm drift. The streams of [`crate::streams`] (1% errors
//! at 20 requests/s unless stated, canary weight 5% → 50%, 100 one-minute looks) judged by the
//! error-ratio judge (default `dispersion: estimate`, and `binomial`, the test before the fix), the
//! latency judge (slower-than, the stream's errors as slow requests), the two-deployment judge
//! (both deployments on independent streams of the same kind) and the Kayenta judge (per-minute
//! error ratios, direction `increase`; reference figures, not a goal).
//!
//! The full table (400 runs per row, the figure) runs in release mode:
//! `cargo test --release -p judge-stats --test quality -- --ignored --nocapture overdispersion_table`.
//! CI runs the goals on fewer runs (see each test for its runs and tolerance).

use judge_stats::data::{Bucket, JudgeData, Phase, Point, RatioPoint, Series};
use judge_stats::dispersion::DispersionMode;
use judge_stats::kayenta::classifier::Direction;
use judge_stats::kayenta::{self, MetricConfig};
use judge_stats::{error_ratio, latency, pair};

use crate::streams::{Minute, Spec, Variation, minutes};

/// Looks per run (one a minute).
pub const LOOKS: usize = 100;
/// Error level of every judge.
pub const ALPHA: f64 = 0.05;

/// The judges the streams are applied to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Judge {
    /// The default judge as shipped (`dispersion: estimate`).
    ErrorRatio,
    /// The error-ratio judge with `dispersion: binomial` (the test before issue 18).
    ErrorRatioBinomial,
    /// Latency judge, slower-than mode.
    Latency,
    /// Two-deployment judge, both deployments on independent streams of the same kind.
    TwoDeployment,
    /// Kayenta judge on the per-minute error ratios (growing window, direction increase).
    Kayenta,
}

fn ratio_series(name: &str, t: i64, e: f64, n: f64) -> Series {
    Series {
        name: name.into(),
        ratios: vec![RatioPoint {
            time_ms: t,
            numerator: e,
            denominator: n,
        }],
        ..Series::default()
    }
}

/// Histogram of `n` requests of which `slow` took longer than 0.5 s.
fn histogram(name: &str, slow: f64, n: f64) -> Series {
    let bucket = |upper_bound: f64, count: f64| Bucket { upper_bound, count };
    Series {
        name: name.into(),
        buckets: vec![
            bucket(0.1, (n - slow) * 0.6),
            bucket(0.5, n - slow),
            bucket(2.0, n - slow * 0.3),
            bucket(f64::INFINITY, n),
        ],
        ..Series::default()
    }
}

fn points(name: &str, history: &[Minute], canary: bool) -> Series {
    Series {
        name: name.into(),
        points: history
            .iter()
            .enumerate()
            .map(|(j, m)| {
                let (e, n) = if canary { (m.0, m.1) } else { (m.2, m.3) };
                Point {
                    time_ms: 60_000 * (j as i64 + 1),
                    value: if n > 0.0 { e / n } else { f64::NAN },
                }
            })
            .collect(),
        ..Series::default()
    }
}

fn data(now_ms: i64, series: Vec<Series>) -> JudgeData {
    JudgeData {
        now_ms,
        series,
        ..JudgeData::default()
    }
}

/// The phase of every look of `judge` over `stream` (and `second`, the other deployment's stream,
/// for the two-deployment judge), state carried between looks.
pub fn phases(judge: Judge, stream: &[Minute], second: &[Minute]) -> Vec<Phase> {
    let error_ratio = |mode: DispersionMode| error_ratio::Config {
        bayesian_details: false,
        dispersion: mode,
        ..error_ratio::Config::default()
    };
    let (er, er_binomial) = (
        error_ratio(DispersionMode::Estimate),
        error_ratio(DispersionMode::Binomial),
    );
    let lat = latency::Config {
        threshold: Some(0.5),
        ..latency::Config::default()
    };
    let pair_cfg = pair::Config::default();
    let kay = kayenta::Config {
        metrics: vec![MetricConfig {
            name: "errors".into(),
            direction: Direction::Increase,
            ..MetricConfig::default()
        }],
        ..kayenta::Config::default()
    };
    let (mut s_er, mut s_lat, mut s_pair, mut s_kay) = (None, None, None, None);
    stream
        .iter()
        .enumerate()
        .map(|(j, m)| {
            let t = 60_000 * (j as i64 + 1);
            let ratios = |m: &Minute, suffix: &str| {
                [
                    ratio_series(&format!("canary{suffix}"), t, m.0, m.1),
                    ratio_series(&format!("stable{suffix}"), t, m.2, m.3),
                ]
            };
            match judge {
                Judge::ErrorRatio | Judge::ErrorRatioBinomial => {
                    let cfg = if judge == Judge::ErrorRatio {
                        &er
                    } else {
                        &er_binomial
                    };
                    let (v, s) = error_ratio::judge(&data(t, ratios(m, "").to_vec()), cfg, s_er.take());
                    s_er = Some(s);
                    v.phase
                }
                Judge::Latency => {
                    let input = data(
                        t,
                        vec![histogram("canary", m.0, m.1), histogram("stable", m.2, m.3)],
                    );
                    let (v, s) = latency::judge(&input, &lat, s_lat.take());
                    s_lat = Some(s);
                    v.phase
                }
                Judge::TwoDeployment => {
                    let other = second.get(j).copied().unwrap_or_default();
                    let series = ratios(m, "")
                        .into_iter()
                        .chain(ratios(&other, "-publish"))
                        .collect();
                    let (v, s) = pair::judge(&data(t, series), &pair_cfg, s_pair.take());
                    s_pair = Some(s);
                    v.phase
                }
                Judge::Kayenta => {
                    let history = &stream[..=j];
                    let input = data(
                        t,
                        vec![points("canary", history, true), points("stable", history, false)],
                    );
                    let (v, s) = kayenta::judge(&input, &kay, s_kay.take());
                    s_kay = Some(s);
                    v.phase
                }
            }
        })
        .collect()
}

/// Seed of run `run` of a row with salt `salt` (the other deployment's stream: `seed ^ SECOND`).
pub fn seed(salt: u64, run: usize) -> u64 {
    salt * 1_000_003 + run as u64
}
const SECOND: u64 = 0x5DEE_CE66_D1CE_5EED;

/// Share of `runs` runs of `spec` (canary = stable) in which `judge` fails at any of the
/// [`LOOKS`] looks.
pub fn type_one(judge: Judge, spec: Spec, runs: usize, salt: u64) -> f64 {
    let fails = (0..runs)
        .filter(|&r| {
            let s = seed(salt, r);
            let stream = minutes(spec, 1.0, s, LOOKS);
            let second = if judge == Judge::TwoDeployment {
                minutes(spec, 1.0, s ^ SECOND, LOOKS)
            } else {
                Vec::new()
            };
            phases(judge, &stream, &second).contains(&Phase::Failed)
        })
        .count();
    fails as f64 / runs as f64
}

/// Canary requests served up to the first Failed look of each of `runs` runs with the canary's
/// error rate multiplied by `lift` (infinite when the run never fails), sorted.
pub fn requests_to_detect(judge: Judge, spec: Spec, lift: f64, runs: usize, salt: u64) -> Vec<f64> {
    let mut out: Vec<f64> = (0..runs)
        .map(|r| {
            let stream = minutes(spec, lift, seed(salt, r), LOOKS);
            let first = phases(judge, &stream, &[])
                .iter()
                .position(|p| *p == Phase::Failed);
            first.map_or(f64::INFINITY, |i| stream.iter().take(i + 1).map(|m| m.1).sum())
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out
}

/// Median of sorted values.
pub fn median(sorted: &[f64]) -> f64 {
    sorted.get(sorted.len() / 2).copied().unwrap_or(f64::NAN)
}

/// Binomial standard error of a rate `p` estimated from `runs` runs.
pub fn standard_error(p: f64, runs: usize) -> f64 {
    (p * (1.0 - p) / runs as f64).sqrt()
}

/// The streams of the table: the (per-arm Beta and per-arm AR(1) at several strengths,
/// and the ones it found fine) and more realistic ones.
pub fn table_streams() -> Vec<Spec> {
    let std = Spec::standard;
    let mut v = vec![
        std(Variation::Iid),
        Spec {
            rps: 2.0,
            base: 0.001,
            variation: Variation::Iid,
        },
        Spec {
            rps: 50.0,
            base: 0.05,
            variation: Variation::Iid,
        },
        std(Variation::Diurnal),
        std(Variation::SharedBursts),
    ];
    v.extend([50.0, 200.0, 500.0, 5000.0].map(|k| std(Variation::Beta(k))));
    v.extend([0.1, 0.2, 0.5].map(|sd| std(Variation::LogitAr1 { phi: 0.95, sd })));
    v.push(Spec {
        rps: 2.0,
        base: 0.01,
        variation: Variation::Beta(50.0),
    });
    v.push(Spec {
        rps: 50.0,
        base: 0.05,
        variation: Variation::Beta(50.0),
    });
    v.push(std(Variation::PerPod(50.0)));
    v
}

/// Prints the type-I table of every judge on every stream (`runs` runs per cell) and the
/// detection figures of the error-ratio judge.
#[test]
#[ignore = "release-mode table (about 4 minutes): cargo test --release -p judge-stats --test quality -- --ignored --nocapture overdispersion_table"]
fn overdispersion_table() {
    let runs: usize = std::env::var("QUALITY_RUNS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(400);
    let judges = [
        Judge::ErrorRatio,
        Judge::ErrorRatioBinomial,
        Judge::Latency,
        Judge::TwoDeployment,
        Judge::Kayenta,
    ];
    println!("| stream | {} |", judges.map(|j| format!("{j:?}")).join(" | "));
    for (i, spec) in table_streams().into_iter().enumerate() {
        let cells: Vec<String> = judges
            .iter()
            .map(|j| format!("{:.2}%", 100.0 * type_one(*j, spec, runs, 1_800 + i as u64)))
            .collect();
        println!("| {} | {} |", spec.label(), cells.join(" | "));
    }
    for judge in [Judge::ErrorRatio, Judge::ErrorRatioBinomial] {
        let spec = Spec::standard(Variation::Iid);
        let n = requests_to_detect(judge, spec, 2.0, 201, 1_899);
        let detected = n.iter().filter(|x| x.is_finite()).count();
        println!(
            "{judge:?}: 1% -> 2% at 20 rps detected in {detected}/201 runs, median {} canary requests",
            median(&n)
        );
    }
}

/// Runs per stream in CI (debug build, a few seconds each).
const CI_RUNS: usize = 100;

/// Type-I of the default judge on `spec` over [`CI_RUNS`] runs is at most `bound` plus three
/// binomial standard errors of `bound` at that many runs (for `bound` = α: 5% + 6.5%).
fn assert_type_one_at_most(spec: Spec, bound: f64, salt: u64) -> f64 {
    let rate = type_one(Judge::ErrorRatio, spec, CI_RUNS, salt);
    let tolerance = 3.0 * standard_error(bound, CI_RUNS);
    println!(
        "error-ratio type-I over {LOOKS} looks, {}: {:.1}% ({CI_RUNS} runs, seeds {}..{})",
        spec.label(),
        100.0 * rate,
        seed(salt, 0),
        seed(salt, CI_RUNS - 1)
    );
    assert!(rate <= bound + tolerance, "{}: type-I {rate}", spec.label());
    rate
}

#[test]
fn error_ratio_controls_type_one_error_under_per_arm_overdispersion_and_drift() {
    let busy = Spec {
        rps: 50.0,
        base: 0.05,
        variation: Variation::Beta(50.0),
    };
    let std = Spec::standard;
    for (i, spec) in [
        std(Variation::Iid),
        std(Variation::Beta(200.0)),
        std(Variation::Beta(500.0)),
        std(Variation::LogitAr1 { phi: 0.95, sd: 0.1 }),
        std(Variation::PerPod(50.0)),
        busy,
    ]
    .into_iter()
    .enumerate()
    {
        assert_type_one_at_most(spec, ALPHA, 1_800 + i as u64);
    }
}

/// Concentration 50 at 1% and 20 requests/s (each arm's per-minute rate with a standard
/// deviation 1.4 times its mean, about one canary error a minute at 5% weight), against 56% for
/// the binomial test over 400 runs (BENCHMARKS.md): at most 15% (+ three standard errors) and a
/// third of the binomial test's rate on the same seeds. (The goal, ≤ α, is checked by
/// [`error_ratio_meets_the_type_one_goal_at_concentration_50`].)
#[test]
fn error_ratio_discounts_strong_per_arm_overdispersion() {
    let spec = Spec::standard(Variation::Beta(50.0));
    let binomial = type_one(Judge::ErrorRatioBinomial, spec, CI_RUNS, 1_820);
    let estimate = assert_type_one_at_most(spec, 0.15, 1_820);
    println!("  binomial test on the same seeds: {:.1}%", 100.0 * binomial);
    assert!(
        binomial >= 0.4 && estimate <= binomial / 3.0,
        "{estimate} vs {binomial}"
    );
}

/// The goal on its hardest stream: type-I ≤ α over 100 looks for per-arm Beta
/// overdispersion with concentration 50 at 1% and 20 requests/s (7.75% over 400 runs before the
/// first windows got the prior factor of [`judge_stats::dispersion::MIN_WINDOWS`]; BENCHMARKS.md),
/// on seeds of its own.
#[test]
fn error_ratio_meets_the_type_one_goal_at_concentration_50() {
    assert_type_one_at_most(Spec::standard(Variation::Beta(50.0)), ALPHA, 1_821);
}

#[test]
fn doubling_of_a_one_percent_error_rate_at_20_rps_is_detected_within_1500_canary_requests() {
    let n = requests_to_detect(Judge::ErrorRatio, Spec::standard(Variation::Iid), 2.0, 101, 1_899);
    let detected = n.iter().filter(|x| x.is_finite()).count();
    println!(
        "1% -> 2% at 20 rps, weights 5% -> 50%: detected in {detected}/101 runs (seeds {}..{}), median {} canary requests",
        seed(1_899, 0),
        seed(1_899, 100),
        median(&n)
    );
    assert!(detected >= 95 && median(&n) <= 1_500.0, "median {}", median(&n));
}
