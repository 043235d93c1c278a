//! The latency judge (slower-than counts from histograms or samples; DKW quantile mode) and the
//! two-deployment error judge.

use judge_stats::config::parse_config;
use judge_stats::data::{Bucket, JudgeData, Phase, Point, RatioPoint, Series, codes};
use judge_stats::latency::{self, dkw_quantile_interval, slow_counts};
use judge_stats::pair;

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

#[test]
fn dkw_quantile_mode() {
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
    use judge_stats::config::{decode_state, encode_state};
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
