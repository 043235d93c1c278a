//! The latency judge (slower-than counts from histograms or samples; quantile mode from
//! histograms or per-request samples) and the two-deployment error judge.

use judge_stats::config::parse_config;
use judge_stats::config::{decode_state, encode_state};
use judge_stats::data::{Bucket, JudgeData, Phase, Point, RatioPoint, Series, codes};
use judge_stats::latency::{
    self, LogHistogram, MAX_INDEX, dkw_quantile_interval, quantile_interval, slow_counts,
};
use judge_stats::pair;
use judge_stats::special::SplitMix64;

fn hist(name: &str, counts: &[(f64, f64)]) -> Series {
    Series {
        name: name.into(),
        buckets: counts
            .iter()
            .map(|&(b, c)| Bucket {
                upper_bound: b,
                count: c,
            })
            .collect(),
        ..Series::default()
    }
}

/// A histogram with `n` requests of which `slow` are above 0.5 s.
fn h(name: &str, n: f64, slow: f64) -> Series {
    hist(
        name,
        &[
            (0.1, (n - slow) * 0.5),
            (0.5, n - slow),
            (1.0, n - slow * 0.5),
            (f64::INFINITY, n),
        ],
    )
}

fn lat_input(now: i64, c: Series, s: Series) -> JudgeData {
    JudgeData {
        metric: "latency".into(),
        now_ms: now,
        series: vec![c, s],
        ..JudgeData::default()
    }
}

#[test]
fn slow_counts_use_the_bucket_at_or_below_the_threshold() {
    let b = h("x", 1000.0, 100.0).buckets;
    assert_eq!(slow_counts(&b, 0.5), Some((1000.0, 100.0, 0.5)));
    assert_eq!(slow_counts(&b, 0.7), Some((1000.0, 100.0, 0.5)));
    assert_eq!(slow_counts(&b, 0.05), None);
}

#[test]
fn slower_canary_fails_and_equal_latency_passes() {
    let cfg: latency::Config = parse_config(r#"{"threshold":0.5}"#).unwrap();
    let mut st = None;
    let mut phases = Vec::new();
    for i in 0..10 {
        let (v, s) = latency::judge(
            &lat_input(i, h("canary", 1000.0, 100.0), h("stable", 1000.0, 50.0)),
            &cfg,
            st.take(),
        );
        st = Some(s);
        phases.push(v.phase);
    }
    assert_eq!(phases.last(), Some(&Phase::Failed));
    let mut st = None;
    let mut last = None;
    for i in 0..40 {
        let (v, s) = latency::judge(
            &lat_input(i, h("canary", 5000.0, 250.0), h("stable", 5000.0, 250.0)),
            &cfg,
            st.take(),
        );
        st = Some(s);
        assert_ne!(v.phase, Phase::Failed);
        last = Some(v);
    }
    let v = last.unwrap();
    assert_eq!(v.phase, Phase::Successful, "{}", v.reason);
    assert_eq!(v.details[0].extra_value("threshold"), Some("0.5"));
}

#[test]
fn cumulative_histograms_are_differenced() {
    let cfg: latency::Config = parse_config(r#"{"threshold":0.5,"cumulativeBuckets":true}"#).unwrap();
    let (_, s) = latency::judge(
        &lat_input(1, h("canary", 100.0, 10.0), h("stable", 100.0, 10.0)),
        &cfg,
        None,
    );
    let (v, s) = latency::judge(
        &lat_input(2, h("canary", 300.0, 30.0), h("stable", 300.0, 30.0)),
        &cfg,
        Some(s),
    );
    assert_eq!(v.details[0].samples, (300, 300));
    assert_eq!(s.counts.process.canary_events, 30.0);
}

#[test]
fn per_request_samples_are_counted_once() {
    let cfg: latency::Config = parse_config(r#"{"threshold":100}"#).unwrap();
    let pts = |name: &str, v: &[f64]| Series {
        name: name.into(),
        points: v
            .iter()
            .enumerate()
            .map(|(i, &x)| Point {
                time_ms: i as i64,
                value: x,
            })
            .collect(),
        ..Series::default()
    };
    let input = lat_input(
        1,
        pts("canary", &[50.0, 150.0, 90.0]),
        pts("stable", &[50.0, 60.0]),
    );
    let (v, s) = latency::judge(&input, &cfg, None);
    assert_eq!(v.details[0].samples, (3, 2));
    assert_eq!(s.counts.process.canary_events, 1.0);
    let (v, _) = latency::judge(&input, &cfg, Some(s));
    assert_eq!(v.details[0].samples, (3, 2));
    assert_eq!(v.code, codes::INSUFFICIENT_DATA);
}

#[test]
fn latency_requires_a_threshold_and_guards_the_baseline() {
    let (v, _) = latency::judge(&JudgeData::default(), &latency::Config::default(), None);
    assert_eq!(v.phase, Phase::Error);
    assert!(v.reason.contains("`threshold` is required"), "{}", v.reason);
    let cfg: latency::Config = parse_config(r#"{"threshold":0.5,"maxSlowRate":0.05}"#).unwrap();
    let (v, _) = latency::judge(
        &lat_input(1, h("canary", 2000.0, 400.0), h("stable", 2000.0, 300.0)),
        &cfg,
        None,
    );
    assert_eq!(v.code, codes::ENVIRONMENT_UNHEALTHY);
}

/// The DKW band (kept for comparison) and the quantile mode on histograms, which uses the
/// time-uniform binomial (Bernstein) confidence sequence.
#[test]
fn quantile_mode_on_histograms_and_the_dkw_interval() {
    let b = [
        Bucket {
            upper_bound: 0.1,
            count: 5000.0,
        },
        Bucket {
            upper_bound: 0.5,
            count: 9900.0,
        },
        Bucket {
            upper_bound: 1.0,
            count: 9990.0,
        },
        Bucket {
            upper_bound: f64::INFINITY,
            count: 10_000.0,
        },
    ];
    let (lo, hi, n) = dkw_quantile_interval(&b, 0.5, 0.05).unwrap();
    assert_eq!((lo, hi, n), (0.0, 0.5, 10_000.0));
    let cfg: latency::Config = parse_config(r#"{"mode":"quantile","quantile":0.9}"#).unwrap();
    let slow = hist(
        "canary",
        &[
            (0.1, 100.0),
            (0.5, 500.0),
            (1.0, 9000.0),
            (2.0, 9900.0),
            (f64::INFINITY, 10_000.0),
        ],
    );
    let fast = hist(
        "stable",
        &[
            (0.1, 5000.0),
            (0.5, 9900.0),
            (1.0, 9990.0),
            (2.0, 10_000.0),
            (f64::INFINITY, 10_000.0),
        ],
    );
    let (v, _) = latency::judge(&lat_input(1, slow, fast.clone()), &cfg, None);
    assert_eq!(
        (v.phase, v.code.as_str()),
        (Phase::Failed, codes::REGRESSION),
        "{}",
        v.reason
    );
    let (v, _) = latency::judge(
        &lat_input(
            1,
            Series {
                name: "canary".into(),
                ..fast.clone()
            },
            fast,
        ),
        &cfg,
        None,
    );
    assert_ne!(v.phase, Phase::Failed);
}

fn ratio(name: &str, t: i64, e: f64, n: f64) -> Series {
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

fn pair_input(t: i64, author: (f64, f64), publish: (f64, f64)) -> JudgeData {
    JudgeData {
        series: vec![
            ratio("canary", t, author.0, 2000.0),
            ratio("stable", t, author.1, 2000.0),
            ratio("canary-publish", t, publish.0, 5000.0),
            ratio("stable-publish", t, publish.1, 5000.0),
        ],
        ..JudgeData::default()
    }
}

#[test]
fn pair_fails_if_either_deployment_regresses() {
    let cfg = pair::Config::default();
    let mut st = None;
    let mut last = None;
    for t in 1..=8 {
        let (v, s) = pair::judge(&pair_input(t, (20.0, 20.0), (100.0, 25.0)), &cfg, st.take());
        st = Some(s);
        last = Some(v);
    }
    let v = last.unwrap();
    assert_eq!((v.phase, v.code.as_str()), (Phase::Failed, codes::REGRESSION));
    assert!(v.reason.starts_with("publish:"), "{}", v.reason);
    assert_eq!(v.details.len(), 2);
    assert_eq!(v.details[1].extra_value("phase"), Some("Failed"));
}

#[test]
fn pair_needs_canary_errors_volume_and_data_in_both() {
    let cfg = pair::Config::default();
    // A big ratio from 2 canary errors vs 0 is not enough to fail (minCanaryErrors = 3).
    let (v, _) = pair::judge(&pair_input(1, (2.0, 0.0), (0.0, 0.0)), &cfg, None);
    assert_ne!(v.phase, Phase::Failed);
    // Missing publish series: no data, never a pass.
    let only_author = JudgeData {
        series: vec![ratio("canary", 1, 1.0, 2000.0), ratio("stable", 1, 1.0, 2000.0)],
        ..JudgeData::default()
    };
    let (v, _) = pair::judge(&only_author, &cfg, None);
    assert_eq!((v.phase, v.code.as_str()), (Phase::Inconclusive, codes::NO_DATA));
    // Both healthy with lots of traffic and a floor: pass.
    let cfg: pair::Config = parse_config(r#"{"passBelowRate":0.01}"#).unwrap();
    let mut st = None;
    let mut last = None;
    for t in 1..=3 {
        let (v, s) = pair::judge(&pair_input(t, (2.0, 2.0), (3.0, 3.0)), &cfg, st.take());
        st = Some(s);
        last = Some(v);
    }
    assert_eq!(last.unwrap().phase, Phase::Successful);
    // Alpha is split over the two deployments.
    let (v, _) = pair::judge(
        &pair_input(1, (1.0, 1.0), (1.0, 1.0)),
        &pair::Config::default(),
        None,
    );
    assert_eq!(v.details[0].extra_value("alpha"), Some("0.025"));
}

#[test]
fn pair_baseline_guard() {
    let cfg: pair::Config = parse_config(r#"{"maxErrorRate":0.01}"#).unwrap();
    let (v, _) = pair::judge(&pair_input(1, (200.0, 150.0), (5.0, 5.0)), &cfg, None);
    assert_eq!(
        (v.phase, v.code.as_str()),
        (Phase::Inconclusive, codes::ENVIRONMENT_UNHEALTHY)
    );
}

#[test]
fn latency_state_with_an_infinite_bucket_survives_its_encoding() {
    let cfg: latency::Config = parse_config(r#"{"threshold":0.5,"cumulativeBuckets":true}"#).unwrap();
    let (_, s) = latency::judge(
        &lat_input(1, h("canary", 100.0, 10.0), h("stable", 100.0, 10.0)),
        &cfg,
        None,
    );
    let back = decode_state::<latency::State>(Some(&encode_state(&s)))
        .unwrap()
        .unwrap();
    assert_eq!(back.previous.0.last().map(|b| b.upper_bound), Some(f64::INFINITY));
    let (v, _) = latency::judge(
        &lat_input(2, h("canary", 300.0, 30.0), h("stable", 300.0, 30.0)),
        &cfg,
        Some(back),
    );
    assert_eq!(v.details[0].samples, (300, 300));
}

/// Per-request latencies of one look: `n` lognormal samples (median `median`, σ = 0.5) stamped
/// inside look `look`'s second, so each look's points are newer than the previous look's.
fn samples(name: &str, look: i64, n: usize, median: f64, rng: &mut SplitMix64) -> Series {
    Series {
        name: name.into(),
        points: (0..n)
            .map(|i| Point {
                time_ms: look * 1000 + i as i64 % 1000,
                value: median * (0.5 * rng.gaussian()).exp(),
            })
            .collect(),
        ..Series::default()
    }
}

/// Runs `looks` evaluations of `n` samples per arm and returns every verdict.
fn run_samples(
    cfg: &latency::Config,
    seed: u64,
    looks: i64,
    n: usize,
    medians: (f64, f64),
) -> Vec<judge_stats::Verdict> {
    let mut rng = SplitMix64::new(seed);
    let mut st = None;
    (1..=looks)
        .map(|t| {
            let c = samples("canary", t, n, medians.0, &mut rng);
            let s = samples("stable", t, n, medians.1, &mut rng);
            let (v, s) = latency::judge(&lat_input(t, c, s), cfg, st.take());
            st = Some(s);
            v
        })
        .collect()
}

fn quantile_cfg(extra: &str) -> latency::Config {
    parse_config(&format!(r#"{{"mode":"quantile","quantile":0.9{extra}}}"#)).unwrap()
}

#[test]
fn log_histogram_is_exact_at_its_bounds_and_bounded() {
    let mut rng = SplitMix64::new(1);
    let mut h = LogHistogram::default();
    for _ in 0..20_000 {
        let v = (40.0 * rng.gaussian()).exp();
        h.record(v);
        if let Some(k) = LogHistogram::index(v) {
            // The lowest bucket also holds everything below its bound.
            assert!(k == -MAX_INDEX || LogHistogram::bound(k - 1) < v, "{v} in {k}");
            assert!(v <= LogHistogram::bound(k), "{v} in {k}");
        }
    }
    for v in [0.0, -1.0, f64::NAN, f64::INFINITY, 1e300, 1e-300, 1.0, 1.01] {
        h.record(v);
    }
    assert_eq!(LogHistogram::index(1.0), Some(0));
    assert_eq!(LogHistogram::index(1.01), Some(1));
    assert_eq!((h.zero, h.len()), (2, 20_006));
    assert!(h.counts.len() <= 2 * MAX_INDEX as usize + 1);
    // Latencies within a factor of 10 of each other use at most 233 buckets.
    let mut narrow = LogHistogram::default();
    (0..10_000).for_each(|i| narrow.record(100.0 + 0.09 * f64::from(i)));
    assert!(narrow.counts.len() <= 233, "{}", narrow.counts.len());
    let cum = narrow.cumulative();
    assert_eq!(
        cum.last().map(|b| (b.upper_bound, b.count)),
        Some((f64::INFINITY, 10_000.0))
    );
}

#[test]
fn quantile_mode_on_samples_fails_a_slower_canary() {
    let cfg = quantile_cfg("");
    let vs = run_samples(&cfg, 11, 30, 200, (150.0, 100.0));
    let first_fail = vs.iter().position(|v| v.phase == Phase::Failed).unwrap();
    assert!(vs[..first_fail].iter().all(|v| v.phase == Phase::Inconclusive));
    let v = &vs[first_fail];
    assert_eq!(v.code, codes::REGRESSION, "{}", v.reason);
    let d = &v.details[0];
    assert_eq!(d.extra_value("input"), Some("samples"));
    let n = 200 * (first_fail as u64 + 1);
    assert_eq!(d.samples, (n, n));
    let (lo, _) = d.interval.unwrap();
    let stable_upper: f64 = d.extra_value("stable-upper").unwrap().parse().unwrap();
    assert!(lo >= stable_upper, "{lo} vs {stable_upper}");
    // A 1.5x slower p90 is found within about a thousand requests per arm.
    assert!(n <= 2000, "{n}");
    // The reason names the quantile plainly and rounds the bounds (3 significant digits).
    let reason = &v.reason;
    assert!(reason.contains(" p90: canary quantile is above "), "{reason}");
    assert!(!reason.contains("0000"), "{reason}");
}

#[test]
fn quantile_mode_on_samples_never_fails_an_equal_canary() {
    let cfg = quantile_cfg("");
    let mut passed = 0;
    for seed in 0..20 {
        let vs = run_samples(&cfg, 100 + seed, 100, 200, (100.0, 100.0));
        for v in &vs {
            assert_ne!(v.phase, Phase::Failed, "seed {seed}: {}", v.reason);
            assert_ne!(v.phase, Phase::Error, "seed {seed}: {}", v.reason);
        }
        passed += usize::from(vs.last().unwrap().phase == Phase::Successful);
    }
    // 20,000 requests per arm are enough to show the p90s within 25% of each other.
    assert!(passed >= 15, "{passed}/20 passed");
}

#[test]
fn quantile_mode_with_few_samples_is_inconclusive_with_samples_needed() {
    let cfg = quantile_cfg("");
    let v = &run_samples(&cfg, 5, 1, 20, (100.0, 100.0))[0];
    assert_eq!(
        (v.phase, v.code.as_str()),
        (Phase::Inconclusive, codes::INSUFFICIENT_DATA),
        "{}",
        v.reason
    );
    let needed = v.details[0].samples_needed.unwrap();
    assert!(needed >= 180, "{needed}");
    assert!(v.reason.contains("more requests per arm needed"), "{}", v.reason);
    // No stable samples at all: no data, never a pass.
    let mut rng = SplitMix64::new(5);
    let only = lat_input(1, samples("canary", 1, 50, 100.0, &mut rng), Series::default());
    let (v, _) = latency::judge(&only, &cfg, None);
    assert_eq!((v.phase, v.code.as_str()), (Phase::Inconclusive, codes::NO_DATA));
}

#[test]
fn quantile_mode_on_samples_guards_the_baseline() {
    // Stable's p90 is about 190 > 120: environment unhealthy even though the canary is slower.
    let cfg = quantile_cfg(r#","maxQuantile":120"#);
    let vs = run_samples(&cfg, 3, 30, 200, (130.0, 100.0));
    for v in &vs {
        assert_eq!(
            (v.phase, v.code.as_str()),
            (Phase::Inconclusive, codes::ENVIRONMENT_UNHEALTHY),
            "{}",
            v.reason
        );
    }
    assert_eq!(vs[0].details[0].extra_value("slo"), Some("120"));
    // A healthy stable and a canary above the SLO fail.
    let cfg = quantile_cfg(r#","maxQuantile":250"#);
    let vs = run_samples(&cfg, 3, 20, 200, (300.0, 100.0));
    assert!(vs.iter().any(|v| v.phase == Phase::Failed));
    assert!(vs.iter().all(|v| v.code != codes::ENVIRONMENT_UNHEALTHY));
    // The slower-than SLO does not apply in quantile mode: a clear error, not silence.
    let (v, _) = latency::judge(
        &JudgeData::default(),
        &quantile_cfg(r#","maxSlowRate":0.1"#),
        None,
    );
    assert_eq!(v.phase, Phase::Error);
    assert!(v.reason.contains("maxSlowRate"), "{}", v.reason);
}

#[test]
fn quantile_mode_state_survives_a_json_round_trip() {
    let cfg = quantile_cfg("");
    let direct = run_samples(&cfg, 9, 8, 300, (130.0, 100.0));
    let mut rng = SplitMix64::new(9);
    let mut st: Option<latency::State> = None;
    for (t, want) in (1..=8).zip(&direct) {
        let c = samples("canary", t, 300, 130.0, &mut rng);
        let s = samples("stable", t, 300, 100.0, &mut rng);
        let (v, s) = latency::judge(&lat_input(t, c, s), &cfg, st.take());
        assert_eq!(&v, want);
        let back = decode_state::<latency::State>(Some(&encode_state(&s)))
            .unwrap()
            .unwrap();
        assert_eq!(back, s);
        st = Some(back);
    }
    let st = st.unwrap();
    assert_eq!((st.samples.0.len(), st.samples.1.len()), (2400, 2400));
}

#[test]
fn quantile_interval_covers_the_true_quantile_at_every_look_and_beats_dkw() {
    // Lognormal(ln 100, 0.5): the true p90 is 100·exp(0.5·z(0.9)).
    let truth = 100.0 * (0.5 * 1.2815515655446004_f64).exp();
    let mut missed = 0;
    let mut h = LogHistogram::default();
    for seed in 0..100 {
        let mut rng = SplitMix64::new(1000 + seed);
        h = LogHistogram::default();
        let mut miss = false;
        for _look in 0..100 {
            (0..100).for_each(|_| h.record(100.0 * (0.5 * rng.gaussian()).exp()));
            let (lo, hi, _) = quantile_interval(&h.cumulative(), 0.9, 0.025).unwrap();
            miss |= !(lo < truth && truth <= hi);
        }
        missed += usize::from(miss);
    }
    // Both sides at 0.025 each: at most 5% of the runs may ever miss (in practice none do).
    assert!(missed <= 5, "{missed}/100 runs missed the true p90");
    // 10,000 samples: the p99's upper end is finite with the binomial bound, not with DKW.
    let cum = h.cumulative();
    let (_, hi, n) = quantile_interval(&cum, 0.99, 0.025).unwrap();
    let (_, dkw_hi, _) = dkw_quantile_interval(&cum, 0.99, 0.025).unwrap();
    assert_eq!(n, 10_000.0);
    assert!(hi.is_finite() && dkw_hi.is_infinite(), "{hi} vs {dkw_hi}");
}
