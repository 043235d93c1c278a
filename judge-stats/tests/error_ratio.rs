//! Behaviour of the error-ratio judge: verdict paths, state carrying and configuration errors.

use judge_stats::config::{decode_state, encode_state, parse_config};
use judge_stats::data::{JudgeData, Phase, RatioPoint, Series, codes};
use judge_stats::error_ratio::{Config, State, judge};

fn ratios(name: &str, windows: &[(i64, f64, f64)]) -> Series {
    Series {
        name: name.into(),
        ratios: windows
            .iter()
            .map(|&(t, e, n)| RatioPoint {
                time_ms: t,
                numerator: e,
                denominator: n,
            })
            .collect(),
        ..Series::default()
    }
}

fn input(canary: &[(i64, f64, f64)], stable: &[(i64, f64, f64)]) -> JudgeData {
    JudgeData {
        metric: "errors".into(),
        series: vec![ratios("canary", canary), ratios("stable", stable)],
        ..JudgeData::default()
    }
}

/// ((canary errors, canary requests), (stable errors, stable requests)) per window.
type Window = ((f64, f64), (f64, f64));

fn run_windows(cfg: &Config, windows: &[Window]) -> Vec<judge_stats::Verdict> {
    let mut state: Option<State> = None;
    let mut out = Vec::new();
    for (i, &((ce, cn), (se, sn))) in windows.iter().enumerate() {
        let t = (i as i64 + 1) * 60_000;
        let (v, s) = judge(&input(&[(t, ce, cn)], &[(t, se, sn)]), cfg, state.take());
        // State goes through its byte encoding like in the component.
        state = decode_state::<State>(Some(&encode_state(&s))).unwrap();
        out.push(v);
    }
    out
}

#[test]
fn fifty_requests_per_arm_is_inconclusive_with_samples_needed() {
    let (v, _) = judge(
        &input(&[(1, 1.0, 50.0)], &[(1, 0.0, 50.0)]),
        &Config::default(),
        None,
    );
    assert_eq!(v.phase, Phase::Inconclusive);
    assert_eq!(v.code, codes::INSUFFICIENT_DATA);
    let d = &v.details[0];
    assert_eq!(d.samples, (50, 50));
    assert!(d.samples_needed.unwrap() > 150, "{d:?}");
}

#[test]
fn failing_baseline_is_environment_unhealthy_even_when_canary_is_worse() {
    let cfg = Config {
        max_error_rate: Some(0.05),
        ..Config::default()
    };
    let (v, _) = judge(&input(&[(1, 400.0, 2000.0)], &[(1, 300.0, 2000.0)]), &cfg, None);
    assert_eq!(v.phase, Phase::Inconclusive);
    assert_eq!(v.code, codes::ENVIRONMENT_UNHEALTHY);
    assert!(
        v.reason.contains("stable itself violates the SLO"),
        "{}",
        v.reason
    );
}

#[test]
fn canary_violating_slo_while_stable_is_healthy_fails() {
    // Same small ratio evidence, but canary clearly above a 1% SLO and stable clearly below.
    let cfg = Config {
        max_error_rate: Some(0.01),
        ..Config::default()
    };
    let (v, _) = judge(&input(&[(1, 60.0, 3000.0)], &[(1, 1.0, 30_000.0)]), &cfg, None);
    assert_eq!(v.phase, Phase::Failed);
    assert!(
        v.code == codes::REGRESSION || v.code == codes::SLO_VIOLATION,
        "{}",
        v.code
    );
}

#[test]
fn no_data_is_never_a_pass() {
    let (v, _) = judge(&JudgeData::default(), &Config::default(), None);
    assert_eq!((v.phase, v.code.as_str()), (Phase::Inconclusive, codes::NO_DATA));
    let cfg: Config = parse_config(r#"{"missingData":"fail"}"#).unwrap();
    let (v, _) = judge(&input(&[(1, 0.0, 0.0)], &[(1, 3.0, 1000.0)]), &cfg, None);
    assert_eq!((v.phase, v.code.as_str()), (Phase::Failed, codes::NO_DATA));
}

#[test]
fn doubling_of_errors_fails_with_explanation() {
    let w = vec![((20.0, 1000.0), (10.0, 1000.0)); 10];
    let vs = run_windows(&Config::default(), &w);
    let first_fail = vs
        .iter()
        .position(|v| v.phase == Phase::Failed)
        .expect("fails eventually");
    assert!(first_fail >= 1, "not on the first 30 events");
    let v = &vs[first_fail];
    assert_eq!(v.code, codes::REGRESSION);
    let d = &v.details[0];
    assert!(
        d.value >= 20.0 && (d.effect.unwrap() - 2.0).abs() < 1e-9,
        "{first_fail} {d:?} {}",
        v.reason
    );
    let worse: f64 = d.extra_value("p-canary-worse").unwrap().parse().unwrap();
    assert!(worse > 0.99, "{worse}");
    let (lo, hi) = d.interval.unwrap();
    // The two-sided confidence sequence is wider than the one-sided fail test.
    assert!((1.0..2.0).contains(&lo) && hi > 2.0, "{lo} {hi}");
}

#[test]
fn equal_rates_with_much_traffic_pass() {
    let w = vec![((100.0, 10_000.0), (100.0, 10_000.0)); 30];
    let vs = run_windows(&Config::default(), &w);
    let last = vs.last().unwrap();
    assert_eq!(last.phase, Phase::Successful, "{}", last.reason);
    assert_eq!(last.code, codes::WITHIN_TOLERANCE);
    assert!(vs.iter().all(|v| v.phase != Phase::Failed));
}

#[test]
fn zero_errors_pass_only_with_an_absolute_floor() {
    let w = vec![((0.0, 5000.0), (0.0, 5000.0)); 4];
    assert_eq!(
        run_windows(&Config::default(), &w).last().unwrap().phase,
        Phase::Inconclusive
    );
    let cfg = Config {
        pass_below_rate: Some(0.001),
        ..Config::default()
    };
    assert_eq!(run_windows(&cfg, &w).last().unwrap().phase, Phase::Successful);
}

#[test]
fn windows_already_seen_are_not_counted_twice() {
    let data = input(
        &[(1, 5.0, 100.0), (2, 5.0, 100.0)],
        &[(1, 5.0, 100.0), (2, 5.0, 100.0)],
    );
    let (_, s1) = judge(&data, &Config::default(), None);
    let (v2, s2) = judge(&data, &Config::default(), Some(s1.clone()));
    assert_eq!(s1.process.canary_exposure, 200.0);
    assert_eq!(s2.process.canary_exposure, 200.0);
    assert_eq!(v2.details[0].samples, (200, 200));
    assert_eq!(s2.looks, 2);
}

#[test]
fn changing_weights_are_used_with_weight_exposure() {
    // Canary has 10% then 50% weight; errors proportional to weight: no regression.
    let cfg: Config = parse_config(r#"{"exposure":"weights"}"#).unwrap();
    let mut data = input(
        &[(10, 10.0, 1000.0), (20, 50.0, 5000.0)],
        &[(10, 90.0, 9000.0), (20, 50.0, 5000.0)],
    );
    data.weights = vec![
        judge_stats::data::WeightPoint {
            time_ms: 0,
            canary_weight: 10,
        },
        judge_stats::data::WeightPoint {
            time_ms: 15,
            canary_weight: 50,
        },
    ];
    let (v, s) = judge(&data, &cfg, None);
    assert_ne!(v.phase, Phase::Failed);
    assert_eq!(s.process.windows, 2);
}

#[test]
fn bad_configuration_and_counts_are_errors_with_clear_messages() {
    let e = parse_config::<Config>(r#"{"tolerence":0.1}"#).unwrap_err();
    assert!(e.to_string().contains("unknown field `tolerence`"), "{e}");
    let (v, _) = judge(
        &input(&[], &[]),
        &Config {
            alpha: 1.5,
            ..Config::default()
        },
        None,
    );
    assert_eq!(v.phase, Phase::Error);
    assert!(
        v.reason.contains("`alpha` must be in (0, 1), got 1.5"),
        "{}",
        v.reason
    );
    let (v, _) = judge(
        &input(&[(1, 5.0, 1.0)], &[(1, 0.0, 1.0)]),
        &Config::default(),
        None,
    );
    assert_eq!(v.phase, Phase::Error);
    assert!(v.reason.contains("numerator <= denominator"), "{}", v.reason);
    let (_, s) = judge(
        &input(&[(1, 1.0, 10.0)], &[(1, 1.0, 10.0)]),
        &Config::default(),
        None,
    );
    let (v, _) = judge(
        &input(&[], &[]),
        &Config {
            tolerance: 0.5,
            ..Config::default()
        },
        Some(s),
    );
    assert_eq!(v.code, codes::STATE_MISMATCH);
}

#[test]
fn absent_config_means_defaults() {
    assert_eq!(parse_config::<Config>("null").unwrap(), Config::default());
    assert_eq!(parse_config::<Config>("  ").unwrap(), Config::default());
}

#[test]
fn bonferroni_divides_alpha() {
    let cfg: Config = parse_config(r#"{"comparisons":4}"#).unwrap();
    let (v, _) = judge(&input(&[(1, 1.0, 100.0)], &[(1, 1.0, 100.0)]), &cfg, None);
    assert_eq!(v.details[0].extra_value("alpha"), Some("0.0125"));
}

#[test]
fn state_with_an_unbounded_interval_survives_its_encoding() {
    // Errors only in the canary: the confidence sequence is unbounded above.
    let (v, s) = judge(
        &input(&[(1, 3.0, 100.0)], &[(1, 0.0, 100.0)]),
        &Config::default(),
        None,
    );
    assert_eq!(v.details[0].interval.map(|i| i.1), Some(f64::INFINITY));
    let bytes = encode_state(&s);
    let back = decode_state::<State>(Some(&bytes)).unwrap().unwrap();
    assert_eq!(back, s);
    let (v, _) = judge(
        &input(&[(2, 1.0, 100.0)], &[(2, 0.0, 100.0)]),
        &Config::default(),
        Some(back),
    );
    assert_ne!(v.phase, Phase::Error, "{}", v.reason);
}
