//! Threshold judge: Keptn-style pass/warning criteria, relative criteria, guard, minimum samples.

use judge_stats::config::parse_config;
use judge_stats::data::{JudgeData, Phase, Point, RatioPoint, Series, codes};
use judge_stats::threshold::{Config, Criterion, Op, judge};

fn pts(name: &str, v: &[f64]) -> Series {
    Series {
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
    }
}

fn data(canary: &[f64], stable: &[f64]) -> JudgeData {
    JudgeData {
        series: vec![pts("canary", canary), pts("stable", stable)],
        ..JudgeData::default()
    }
}

fn cfg(json: &str) -> Config {
    parse_config(json).unwrap()
}

#[test]
fn criteria_parse_like_keptn() {
    let c = Criterion::parse("<=+10%").unwrap();
    assert_eq!((c.op, c.value, c.relative, c.percent), (Op::Le, 10.0, true, true));
    assert_eq!(c.target(Some(200.0)), Some(220.0));
    assert_eq!(Criterion::parse(">-8%").unwrap().target(Some(100.0)), Some(92.0));
    assert_eq!(Criterion::parse("<=+5").unwrap().target(Some(100.0)), Some(105.0));
    let a = Criterion::parse("<600").unwrap();
    assert!(!a.relative && a.target(None) == Some(600.0) && a.holds(599.0, 600.0) && !a.holds(600.0, 600.0));
    assert!(
        Criterion::parse("~5")
            .unwrap_err()
            .to_string()
            .contains("must start with")
    );
    assert!(
        Criterion::parse("<abc")
            .unwrap_err()
            .to_string()
            .contains("no valid number")
    );
}

#[test]
fn pass_warning_and_fail_bands() {
    // Like Keptn, a warning scores half the weight: 50% must reach the warning band.
    let c = cfg(r#"{"totalScore":{"pass":90,"warning":50},
            "objectives":[{"name":"p99","aggregate":"max","pass":["<=500"],"warning":["<=800"]}]}"#);
    assert_eq!(
        judge(&data(&[300.0, 450.0], &[300.0]), &c, None).0.phase,
        Phase::Successful
    );
    let (v, _) = judge(&data(&[300.0, 700.0], &[300.0]), &c, None);
    assert_eq!(
        (v.phase, v.code.as_str(), v.score),
        (Phase::Inconclusive, codes::WARNING, Some(0.5))
    );
    let (v, _) = judge(&data(&[900.0], &[300.0]), &c, None);
    assert_eq!(
        (v.phase, v.code.as_str(), v.score),
        (Phase::Failed, codes::THRESHOLD_VIOLATED, Some(0.0))
    );
    let c2 = Config {
        on_warning: judge_stats::threshold::OnWarning::Successful,
        ..c
    };
    assert_eq!(
        judge(&data(&[700.0], &[300.0]), &c2, None).0.phase,
        Phase::Successful
    );
}

#[test]
fn relative_criteria_compare_with_the_baseline() {
    let c = cfg(r#"{"objectives":[{"name":"latency","pass":["<=+10%"]}]}"#);
    assert_eq!(
        judge(&data(&[105.0], &[100.0]), &c, None).0.phase,
        Phase::Successful
    );
    let (v, _) = judge(&data(&[120.0], &[100.0]), &c, None);
    assert_eq!(v.phase, Phase::Failed);
    assert_eq!(v.details[0].effect, Some(20.0));
    // Without a baseline a relative criterion has nothing to compare with: no data, not a pass.
    let only_canary = JudgeData {
        series: vec![pts("canary", &[1.0])],
        ..JudgeData::default()
    };
    assert_eq!(judge(&only_canary, &c, None).0.code, codes::NO_DATA);
}

#[test]
fn baseline_violating_absolute_criteria_is_environment_unhealthy() {
    let c = cfg(r#"{"objectives":[{"name":"success","aggregate":"ratio","pass":[">=0.99"]}]}"#);
    let ratio = |name: &str, num: f64, den: f64| Series {
        name: name.into(),
        ratios: vec![RatioPoint {
            time_ms: 1,
            numerator: num,
            denominator: den,
        }],
        ..Series::default()
    };
    let d = JudgeData {
        series: vec![ratio("canary", 900.0, 1000.0), ratio("stable", 950.0, 1000.0)],
        ..JudgeData::default()
    };
    let (v, _) = judge(&d, &c, None);
    assert_eq!(
        (v.phase, v.code.as_str()),
        (Phase::Inconclusive, codes::ENVIRONMENT_UNHEALTHY)
    );
    let ok = JudgeData {
        series: vec![ratio("canary", 900.0, 1000.0), ratio("stable", 999.0, 1000.0)],
        ..JudgeData::default()
    };
    assert_eq!(judge(&ok, &c, None).0.phase, Phase::Failed);
}

#[test]
fn minimum_samples_and_missing_data() {
    let c = cfg(r#"{"objectives":[{"name":"lat","pass":["<500"],"minSamples":10}]}"#);
    let (v, s) = judge(&data(&[100.0; 4], &[100.0; 10]), &c, None);
    assert_eq!(
        (v.phase, v.code.as_str()),
        (Phase::Inconclusive, codes::INSUFFICIENT_DATA)
    );
    assert_eq!(v.details[0].samples_needed, Some(6));
    assert_eq!(judge(&data(&[100.0; 4], &[]), &c, Some(s)).1.looks, 2);
    let (v, _) = judge(&data(&[f64::NAN], &[1.0]), &c, None);
    assert_eq!((v.phase, v.code.as_str()), (Phase::Inconclusive, codes::NO_DATA));
    let strict = cfg(r#"{"missingData":"fail","objectives":[{"pass":["<500"]}]}"#);
    assert_eq!(judge(&data(&[], &[1.0]), &strict, None).0.phase, Phase::Failed);
}

#[test]
fn weights_key_objectives_and_or_sets() {
    let c = cfg(r#"{"totalScore":{"pass":90,"warning":60},"objectives":[
            {"name":"a","pass":[["<1"],[">100"]],"weight":3},
            {"name":"b","series":"canary","aggregate":"last","pass":["<10"],"weight":1},
            {"name":"info","aggregate":"sum"}]}"#);
    // a passes through the second OR set, b fails: 3/4 = 75% → warning.
    let (v, _) = judge(&data(&[150.0], &[0.5]), &c, None);
    assert_eq!((v.code.as_str(), v.score), (codes::WARNING, Some(0.75)));
    let key = cfg(
        r#"{"objectives":[{"name":"a","pass":["<1"],"key":true},{"name":"b","pass":["<1000"],"weight":10}]}"#,
    );
    let (v, _) = judge(&data(&[5.0], &[0.5]), &key, None);
    assert_eq!(v.phase, Phase::Failed);
    assert!(v.reason.contains("key objective failed: a"));
    assert_eq!(
        judge(&data(&[5.0], &[5.0]), &Config::default(), None).0.phase,
        Phase::Error
    );
}
