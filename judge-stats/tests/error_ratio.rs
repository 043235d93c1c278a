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

/// Every number in a reason is short: no run of more than six digits (e-values used to print
/// with 35 digits).
fn assert_readable(reason: &str) {
    let longest = reason
        .split(|c: char| !c.is_ascii_digit())
        .map(str::len)
        .max()
        .unwrap_or(0);
    assert!(longest <= 6, "a {longest}-digit number in {reason:?}");
}

/// The token after `label` in `reason`, parsed as a number (`2.3e34`, `0.05`, `15.3%`).
fn number_after(reason: &str, label: &str) -> f64 {
    let rest = &reason[reason
        .find(label)
        .unwrap_or_else(|| panic!("{label:?} in {reason:?}"))
        + label.len()..];
    let token: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '-'))
        .collect();
    token
        .parse()
        .unwrap_or_else(|_| panic!("{token:?} after {label:?} in {reason:?}"))
}

#[test]
fn reasons_print_statistics_readably_and_details_keep_full_precision() {
    // A tenfold error rate: the e-value is astronomically large (even discounted by the
    // dispersion prior of a first window).
    let (v, _) = judge(
        &input(&[(1, 1000.0, 10000.0)], &[(1, 100.0, 10000.0)]),
        &Config::default(),
        None,
    );
    assert_eq!(v.code, codes::REGRESSION);
    assert!(
        v.reason.starts_with(
            "errors: canary is worse than stable: rate ratio 10.00 (canary 1000/10000 vs stable 100/10000), e-value "
        ),
        "{}",
        v.reason
    );
    assert_readable(&v.reason);
    let d = &v.details[0];
    assert!(d.value > 1e15, "{d:?}");
    // The text rounds to two significant digits; the detail keeps the full value.
    let e = number_after(&v.reason, "e-value ");
    assert!((e / d.value - 1.0).abs() < 0.05, "{e} vs {}", d.value);
    let p = number_after(&v.reason, "anytime-valid p <= ");
    assert!((p * d.value - 1.0).abs() < 0.05, "{p} vs 1/{}", d.value);
    assert_eq!(d.extra_value("canary-rate"), Some("0.1"));
    assert!(v.reason.contains(">= 20, "), "{}", v.reason);

    // Rates in the SLO sentences are percentages.
    let cfg = Config {
        max_error_rate: Some(0.05),
        ..Config::default()
    };
    let (v, _) = judge(&input(&[(1, 400.0, 2000.0)], &[(1, 300.0, 2000.0)]), &cfg, None);
    assert!(
        v.reason
            .starts_with("errors: stable itself violates the SLO (rate 15% > 5%, lower bound 13."),
        "{}",
        v.reason
    );
    assert_readable(&v.reason);

    // Inconclusive: the current e-values of both tests, three significant digits.
    let (v, st) = judge(
        &input(&[(1, 3.0, 300.0)], &[(1, 2.0, 300.0)]),
        &Config::default(),
        None,
    );
    assert_eq!(v.phase, Phase::Inconclusive);
    assert!(
        v.reason.starts_with(
            "errors: not enough evidence yet (canary 3/300 vs stable 2/300, rate ratio 1.50; e-value "
        ),
        "{}",
        v.reason
    );
    assert!(
        v.reason.contains(" for within 1.25x, 20 needed); about "),
        "{}",
        v.reason
    );
    let worse = number_after(&v.reason, "e-value ");
    assert!(
        (worse / st.process.log_e_fail().exp() - 1.0).abs() < 0.01,
        "{}",
        v.reason
    );
    let within = number_after(&v.reason, " for worse and ");
    assert!(
        (within / st.process.log_e_pass().exp() - 1.0).abs() < 0.01,
        "{}",
        v.reason
    );
    assert_readable(&v.reason);
}

/// Requests per arm judged per look in the calibration runs.
const CALIBRATION_LOOKS: u64 = 20;

/// Continues from `state` with `more` requests per arm split over [`CALIBRATION_LOOKS`] looks,
/// canary and stable errors iid binomial at `rates` (seeded), and returns the first look (1-based)
/// whose verdict is a decision (Successful or Failed).
fn first_decision(cfg: &Config, state: &State, rates: (f64, f64), more: u64, seed: u64) -> Option<u64> {
    let mut rng = judge_stats::special::SplitMix64::new(seed);
    let per = (more as f64 / CALIBRATION_LOOKS as f64).ceil() as u64;
    let mut st = Some(state.clone());
    let t0 = state.last_time_ms.unwrap_or(0);
    for look in 1..=CALIBRATION_LOOKS {
        let t = t0 + look as i64 * 60_000;
        let ce = rng.binomial(per, rates.0) as f64;
        let se = rng.binomial(per, rates.1) as f64;
        let (v, s) = judge(
            &input(&[(t, ce, per as f64)], &[(t, se, per as f64)]),
            cfg,
            st.take(),
        );
        if matches!(v.phase, Phase::Successful | Phase::Failed) {
            return Some(look);
        }
        st = Some(s);
    }
    None
}

/// Judges `looks` seeded windows of `n` requests per arm at `rates`; returns the Inconclusive
/// estimate of requests per arm still needed, the state and the current rates.
fn estimate(cfg: &Config, rates: (f64, f64), n: u64, looks: usize, seed: u64) -> (u64, State, (f64, f64)) {
    let mut rng = judge_stats::special::SplitMix64::new(seed);
    let windows: Vec<Window> = (0..looks)
        .map(|_| {
            let ce = rng.binomial(n, rates.0) as f64;
            let se = rng.binomial(n, rates.1) as f64;
            ((ce, n as f64), (se, n as f64))
        })
        .collect();
    let mut state = None;
    let mut last = None;
    for (i, &((ce, cn), (se, sn))) in windows.iter().enumerate() {
        let t = (i as i64 + 1) * 60_000;
        let (v, s) = judge(&input(&[(t, ce, cn)], &[(t, se, sn)]), cfg, state.take());
        state = Some(s);
        last = Some(v);
    }
    let v = last.unwrap();
    let s = state.unwrap();
    assert_eq!(v.phase, Phase::Inconclusive, "{}", v.reason);
    let needed = v.details[0].samples_needed.unwrap();
    assert!(
        v.reason
            .ends_with(&format!("about {needed} more requests per arm needed")),
        "{}",
        v.reason
    );
    let p = &s.process;
    let current = (
        p.canary_events / p.canary_exposure,
        p.stable_events / p.stable_exposure,
    );
    (needed, s, current)
}

/// Over `runs` seeded continuations at the current rates: (decided by the estimate, decided by
/// a quarter of it).
fn calibration(cfg: &Config, needed: u64, state: &State, current: (f64, f64), runs: u64) -> (u64, u64) {
    let firsts: Vec<Option<u64>> = (0..runs)
        .map(|seed| first_decision(cfg, state, current, needed, 1000 + seed))
        .collect();
    let by_estimate = firsts.iter().filter(|f| f.is_some()).count() as u64;
    let by_quarter = firsts
        .iter()
        .filter(|f| f.is_some_and(|l| l <= CALIBRATION_LOOKS / 4))
        .count() as u64;
    (by_estimate, by_quarter)
}

fn quiet() -> Config {
    Config {
        bayesian_details: false,
        ..Config::default()
    }
}

#[test]
fn samples_needed_on_the_pass_side_is_calibrated() {
    // The simulation helper's case: 1% vs 1% with tolerance 0.25 and about 12,000 requests per
    // arm so far. The old formula asked for ~6,000 more and the judge never passed.
    let cfg = quiet();
    let (needed, state, current) = estimate(&cfg, (0.01, 0.01), 1000, 12, 7);
    let runs = 40;
    let (decided, early) = calibration(&cfg, needed, &state, current, runs);
    println!(
        "pass side: {needed} more per arm at {current:?}: decided {decided}/{runs}, by a quarter {early}/{runs}"
    );
    assert!(needed > 12_000, "{needed}");
    assert!(10 * decided >= 6 * runs, "decided in {decided}/{runs}");
    assert!(2 * early < runs, "already decided at a quarter in {early}/{runs}");
}

#[test]
fn samples_needed_on_the_fail_side_is_calibrated() {
    // A 1.6x regression at 1% not yet shown after 1,500 requests per arm.
    let cfg = quiet();
    let (needed, state, current) = estimate(&cfg, (0.016, 0.01), 500, 3, 3);
    let runs = 40;
    let (decided, early) = calibration(&cfg, needed, &state, current, runs);
    println!(
        "fail side: {needed} more per arm at {current:?}: decided {decided}/{runs}, by a quarter {early}/{runs}"
    );
    assert!(10 * decided >= 6 * runs, "decided in {decided}/{runs}");
    assert!(2 * early < runs, "already decided at a quarter in {early}/{runs}");
}

#[test]
fn samples_needed_with_an_absolute_floor_is_calibrated() {
    // 0.5% errors with passBelowRate 1%: the floor decides long before the ratio margin.
    let cfg = Config {
        pass_below_rate: Some(0.01),
        ..quiet()
    };
    let (needed, state, current) = estimate(&cfg, (0.005, 0.005), 500, 1, 5);
    let runs = 40;
    let (decided, early) = calibration(&cfg, needed, &state, current, runs);
    println!(
        "floor: {needed} more per arm at {current:?}: decided {decided}/{runs}, by a quarter {early}/{runs}"
    );
    assert!(10 * decided >= 6 * runs, "decided in {decided}/{runs}");
    assert!(2 * early < runs, "already decided at a quarter in {early}/{runs}");
}

#[test]
fn ratio_between_the_margins_says_more_traffic_alone_would_not_decide() {
    // Pass below 1.25x, fail only above 2x: a steady 1.5x ratio can never decide.
    let cfg = Config {
        fail_tolerance: 1.0,
        ..quiet()
    };
    let (v, _) = judge(
        &input(&[(1, 150.0, 10_000.0)], &[(1, 100.0, 10_000.0)]),
        &cfg,
        None,
    );
    assert_eq!(v.phase, Phase::Inconclusive, "{}", v.reason);
    assert_eq!(v.details[0].samples_needed, None);
    assert!(
        v.reason.ends_with(
            "at the current rate ratio 1.50 more traffic alone would not decide between the margins 1.25x and 2.00x"
        ),
        "{}",
        v.reason
    );
}

/// Errors that vary between minutes on each arm on its own, far more than binomial noise (counts
/// 15 ± 14 of 1,000 requests, out of phase), with the same rate on average.
fn one_arm_swings(minutes: usize) -> Vec<Window> {
    (0..minutes)
        .map(|i| {
            let count = |phase: f64| (15.0 + 14.0 * (1.3 * i as f64 + phase).sin()).round();
            ((count(0.0), 1000.0), (count(2.0), 1000.0))
        })
        .collect()
}

fn binomial() -> Config {
    Config {
        dispersion: judge_stats::dispersion::DispersionMode::Binomial,
        ..Config::default()
    }
}

#[test]
fn overdispersion_is_named_in_the_reason_with_the_minutes_still_needed() {
    let last = run_windows(&Config::default(), &one_arm_swings(20))
        .pop()
        .unwrap();
    assert_eq!(last.phase, Phase::Inconclusive, "{}", last.reason);
    assert!(
        last.reason.contains("more than chance between windows") && last.reason.contains("more minutes"),
        "{}",
        last.reason
    );
    let dispersion: f64 = last.details[0]
        .extra_value("dispersion")
        .unwrap()
        .parse()
        .unwrap();
    assert!(dispersion > 3.0, "{dispersion}");
}

#[test]
fn a_one_minute_canary_burst_after_per_arm_swings_is_discounted() {
    // Ten minutes of per-arm swings, then one minute with 100 canary errors against 10.
    let mut windows = one_arm_swings(10);
    windows.push(((100.0, 1000.0), (10.0, 1000.0)));
    let last = |cfg: &Config| run_windows(cfg, &windows).pop().unwrap();
    // The binomial test reads the burst as a regression; the default judge, having seen each
    // arm's errors swing, does not.
    assert_eq!(last(&binomial()).phase, Phase::Failed);
    let v = last(&Config::default());
    assert_eq!(v.phase, Phase::Inconclusive, "{}", v.reason);
    assert!(
        v.reason.contains("more than chance between windows"),
        "{}",
        v.reason
    );
}

#[test]
fn a_state_from_the_other_dispersion_mode_is_a_state_mismatch() {
    let (_, state) = judge(&input(&[(1, 1.0, 100.0)], &[(1, 1.0, 100.0)]), &binomial(), None);
    let (v, _) = judge(
        &input(&[(2, 1.0, 100.0)], &[(2, 1.0, 100.0)]),
        &Config::default(),
        Some(state),
    );
    assert_eq!(v.phase, Phase::Error);
    assert_eq!(v.code, codes::STATE_MISMATCH);
}
