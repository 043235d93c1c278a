//! Kayenta compatibility: the numbers and classifications of Kayenta's own unit tests
//! (all of MannWhitneySuite, with the large "wilcox function" vectors in `wilcox_x.txt` and
//! `wilcox_y.txt`; ClassifierSuite, StatisticSuite, DetectorSuite, ScorerSuite) to 1e-6, plus
//! the judge wiring (config, groups, critical, thresholds → phase).

#![allow(clippy::excessive_precision)]

mod data;

use std::collections::BTreeMap;

use data::*;
use judge_stats::config::parse_config;
use judge_stats::data::{JudgeData, Phase, Point, Series, codes};
use judge_stats::kayenta::classifier::{
    Direction, EffectMeasure, Label, NanStrategy, Settings, classify, cles, iqr_outliers, mean_ratio,
    transform,
};
use judge_stats::kayenta::mannwhitney::{mann_whitney, wilcoxon_diff};
use judge_stats::kayenta::scorer::{Scored, score};
use judge_stats::kayenta::{Config, judge};

const E: f64 = 1e-6;

fn close(expected: f64, actual: f64) {
    assert!(
        (expected - actual).abs() <= E,
        "expected {expected}, got {actual}"
    );
}

#[test]
fn mann_whitney_ties_out_with_r() {
    let r = mann_whitney(TIE_EXP, TIE_CTRL, 0.95).unwrap();
    close(-0.500002521696696, r.lower);
    close(-3.486287505871302E-5, r.upper);
    let r = mann_whitney(TIE2_EXP, TIE2_CTRL, 0.98).unwrap();
    close(-0.4999173250549087, r.lower);
    close(-6.912685789769486E-6, r.upper);
}

#[test]
fn mann_whitney_ties_out_intermediate_variables() {
    let (x, y) = (EXP_LARGE, CTRL_LARGE);
    let r = mann_whitney(x, y, 0.95).unwrap();
    close(-3.124999999999986, r.mu_min);
    close(5.555555555555557, r.mu_max);
    let zq = -judge_stats::special::normal_quantile(0.025);
    close(1.9599639845400536, zq);
    close(17.090968923762254, wilcoxon_diff(r.mu_min, zq, x, y));
    close(-20.997687930433106, wilcoxon_diff(r.mu_max, zq, x, y));
    close(21.01089689284236, wilcoxon_diff(r.mu_min, -zq, x, y));
    close(-17.077759961353, wilcoxon_diff(r.mu_max, -zq, x, y));
    // The inverted interval produced by the absolute 1e-4 root tolerance (reference §1.5).
    close(3.521755377702165E-5, r.lower);
    close(2.02456461662334E-5, r.upper);
    close(2.6279243045155653E-5, r.estimate);
}

/// Parses a data file of one number per line (lines starting with `#` are comments).
fn load(text: &str) -> Vec<f64> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| l.parse().unwrap_or_else(|e| panic!("bad number {l:?}: {e}")))
        .collect()
}

/// MannWhitneySuite "wilcox function": x and y are 850 values each (387 and 127 distinct).
fn wilcox_vectors() -> (Vec<f64>, Vec<f64>) {
    let x = load(include_str!("wilcox_x.txt"));
    let y = load(include_str!("wilcox_y.txt"));
    assert_eq!((x.len(), y.len()), (850, 850));
    let distinct = |v: &[f64]| {
        let mut b: Vec<u64> = v.iter().map(|f| f.to_bits()).collect();
        b.sort_unstable();
        b.dedup();
        b.len()
    };
    assert_eq!((distinct(&x), distinct(&y)), (387, 127));
    (x, y)
}

#[test]
fn mann_whitney_wilcox_function() {
    let (x, y) = wilcox_vectors();
    close(-1.229416, wilcoxon_diff(0.0, 0.0, &x, &y));
    close(-35.80606, wilcoxon_diff(5.0, 0.0, &x, &y));
}

#[test]
fn mann_whitney_test_problem_case() {
    // Same vectors: experiment = x, control = y, confidence 0.98.
    let (x, y) = wilcox_vectors();
    let r = mann_whitney(&x, &y, 0.98).unwrap();
    close(-1.4808028936386108E-5, r.lower);
    close(1.808255910873413E-5, r.upper);
    close(1.808255910873413E-5, r.estimate);
    // The values are ~1e-5, so 1e-6 is loose: they are also reproduced to the last bit (the
    // interval is clamped to [muMin, muMax] and zeroin's estimate ends on muMax).
    assert_eq!(
        (r.lower, r.upper, r.estimate),
        (-1.4808028936386108E-5, 1.808255910873413E-5, 1.808255910873413E-5)
    );
    assert_eq!((r.mu_min, r.mu_max), (r.lower, r.upper));
}

#[test]
fn mann_whitney_returns_expected_values() {
    let r = mann_whitney(&[10.0, 20.0, 30.0, 40.0], &[1.0, 2.0, 3.0, 4.0], 0.95).unwrap();
    close(6.0, r.lower);
    close(39.0, r.upper);
    close(22.5, r.estimate);
}

#[test]
fn mann_whitney_quant() {
    close(-2.326348, judge_stats::special::normal_quantile(0.02 / 2.0));
}

struct Row {
    name: &'static str,
    exp: &'static [f64],
    ctrl: &'static [f64],
    tolerance: f64,
    conf: f64,
    direction: Direction,
    nan: NanStrategy,
    critical: bool,
    allowed: Option<(f64, f64)>,
    critical_thr: Option<(f64, f64)>,
    measure: EffectMeasure,
    label: Label,
    is_critical: bool,
}

fn row(
    name: &'static str,
    exp: &'static [f64],
    ctrl: &'static [f64],
    direction: Direction,
    label: Label,
) -> Row {
    Row {
        name,
        exp,
        ctrl,
        tolerance: 0.10,
        conf: 0.95,
        direction,
        nan: NanStrategy::Remove,
        critical: false,
        allowed: None,
        critical_thr: None,
        measure: EffectMeasure::MeanRatio,
        label,
        is_critical: false,
    }
}

fn settings(r: &Row) -> Settings {
    let mut s = Settings::new(r.tolerance, r.conf, r.measure);
    s.direction = r.direction;
    s.nan_strategy = r.nan;
    s.critical = r.critical;
    if let Some(a) = r.allowed {
        s.allowed = a;
    }
    if let Some(c) = r.critical_thr {
        s.critical_thresholds = c;
    }
    s
}

const HIGH_5: &[f64] = &[20.0, 22.0, 21.0, 25.0, 30.0];
const LOW_5: &[f64] = &[1.0, 2.2, 1.1, 2.5, 3.0];

#[test]
fn classifier_suite_table() {
    use Direction::*;
    use Label::*;
    let zero_mean_critical: &[f64] = &[
        0.05000000074505806,
        0.05000000074505806,
        0.01666666753590107,
        0.01666666753590107,
        0.01666666753590107,
        0.05000000074505806,
        0.03333333507180214,
        0.05000000260770321,
        0.05000000260770321,
        0.13333333656191826,
    ];
    let rows = vec![
        row("Pass Metric", EXP_PASS, CTRL_PASS, Either, Pass),
        row("High Metric", EXP_HIGH, CTRL_PASS, Either, High),
        row("Low Metric", EXP_PASS, CTRL_HIGH, Either, Low),
        row("Directional: Increase", EXP_PASS, CTRL_HIGH, Increase, Pass),
        row("Directional: Decrease", EXP_HIGH, CTRL_PASS, Decrease, Pass),
        row("Directional: High Metric", EXP_HIGH, CTRL_PASS, Increase, High),
        row("Directional: Low Metric", EXP_PASS, CTRL_HIGH, Decrease, Low),
        row("High Metric (Large Input)", EXP_LARGE, CTRL_LARGE, Either, High),
        Row {
            allowed: Some((0.8, 1.2)),
            ..row("Mean Ratio Effect Size: High", HIGH_5, LOW_5, Either, High)
        },
        Row {
            allowed: Some((0.8, 1.2)),
            ..row("Mean Ratio Effect Size: Low", EXP_PASS, CTRL_HIGH, Decrease, Low)
        },
        Row {
            allowed: Some((0.5, 1.0)),
            ..row(
                "Mean Ratio Effect Size: Pass",
                &[10.0, 12.2, 10.1, 12.5, 23.0],
                HIGH_5,
                Either,
                Pass,
            )
        },
        Row {
            allowed: Some((1.0, 5.0)),
            ..row(
                "Mean Ratio Effect Size: Pass (Large Input)",
                EXP_LARGE,
                CTRL_LARGE,
                Either,
                Pass,
            )
        },
        Row {
            tolerance: 0.2,
            conf: 0.98,
            allowed: Some((0.5, 0.8)),
            measure: EffectMeasure::Cles,
            ..row(
                "CLES Effect Size: Pass",
                CLES_PASS_EXP,
                CLES_PASS_CTRL,
                Either,
                Pass,
            )
        },
        Row {
            tolerance: 0.2,
            conf: 0.98,
            allowed: Some((0.2, 0.8)),
            measure: EffectMeasure::Cles,
            ..row(
                "CLES Effect Size: High",
                CLES_HIGH_EXP,
                CLES_HIGH_CTRL,
                Either,
                High,
            )
        },
        Row {
            tolerance: 0.2,
            conf: 0.98,
            allowed: Some((0.2, 0.8)),
            measure: EffectMeasure::Cles,
            ..row("CLES Effect Size: Low", CLES_LOW_EXP, CLES_LOW_CTRL, Either, Low)
        },
        Row {
            critical: true,
            critical_thr: Some((1.0, 1.2)),
            is_critical: true,
            ..row("Critical High", HIGH_5, LOW_5, Either, High)
        },
        Row {
            critical: true,
            critical_thr: Some((1.2, 1.0)),
            is_critical: true,
            ..row(
                "Critical Low",
                &[2.0, 2.0, 2.0, 2.0, 3.0],
                &[10.0, 20.2, 10.1, 20.5, 30.0],
                Either,
                Low,
            )
        },
        Row {
            critical: true,
            allowed: Some((1.0, 5.0)),
            critical_thr: Some((1.0, 13.0)),
            ..row(
                "Critical Effect Size: High (not critical)",
                HIGH_5,
                LOW_5,
                Either,
                High,
            )
        },
        Row {
            critical: true,
            allowed: Some((1.0, 13.0)),
            critical_thr: Some((1.0, 15.0)),
            ..row("Critical Effect Size: Pass", HIGH_5, LOW_5, Either, Pass)
        },
        Row {
            critical: true,
            is_critical: true,
            ..row("Critical High (Default Thresholds)", HIGH_5, LOW_5, Either, High)
        },
        row("Tied Observations", &[1.0, 1.0, 1.0], &[1.0, 1.0], Decrease, Pass),
        row(
            "Identical Populations",
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            &[5.0, 4.0, 3.0, 2.0, 1.0],
            Decrease,
            Pass,
        ),
        row(
            "Leading Zero Identical Population",
            &[0.0, 1.0, 1.0, 1.0, 1.0],
            &[1.0; 5],
            Decrease,
            Pass,
        ),
        row(
            "Missing Experiment Data",
            &[],
            &[1.0, 2.0, 3.0, 4.0, 5.0],
            Decrease,
            Nodata,
        ),
        Row {
            critical: true,
            is_critical: true,
            ..row("Missing Data: Critical", &[], &[1.0, 2.0], Decrease, Nodata)
        },
        Row {
            nan: NanStrategy::Replace,
            ..row(
                "Missing Data with NaN Replacement",
                &[],
                &[1.0, 2.0],
                Decrease,
                Pass,
            )
        },
        row(
            "Majority Tied Observations",
            &[1.0, 1.0, 1.0, 1.0, 10.0],
            &[1.0; 5],
            Either,
            Pass,
        ),
        row("Tied Ranks (noise, seeded)", &[10.0; 5], &[1.0; 5], Either, High),
        row(
            "Tied Ranks With Zeros (noise, seeded)",
            &[10.0; 5],
            &[0.0; 5],
            Either,
            High,
        ),
        Row {
            allowed: Some((0.8, 1.2)),
            ..row(
                "Zero Mean: High",
                &[54.9, 54.5, 55.1, 55.6, 57.4],
                &[0.0; 5],
                Either,
                High,
            )
        },
        Row {
            allowed: Some((0.8, 1.2)),
            ..row(
                "Zero Mean: Low",
                &[0.0; 5],
                &[54.9, 54.5, 55.1, 55.6, 57.4],
                Either,
                Low,
            )
        },
        Row {
            nan: NanStrategy::Replace,
            critical: true,
            critical_thr: Some((0.8, 1.2)),
            is_critical: true,
            ..row(
                "Zero Mean: Critical Metric",
                zero_mean_critical,
                &[0.0; 10],
                Either,
                High,
            )
        },
        Row {
            allowed: Some((0.8, 1.2)),
            ..row("Zero Mean: Pass", &[0.0; 5], &[0.0; 5], Either, Pass)
        },
    ];
    assert_eq!(rows.len(), 33);
    for r in &rows {
        let c = classify(r.name, r.exp, r.ctrl, &settings(r));
        assert_eq!(
            (c.label, c.critical),
            (r.label, r.is_critical),
            "{}: {c:?}",
            r.name
        );
    }
}

#[test]
fn classifier_deviation_values() {
    let s = Settings::new(0.1, 0.95, EffectMeasure::MeanRatio);
    let c = classify(
        "m",
        &[54.9, 54.5, 55.1, 55.6, 57.4],
        &[0.0; 5],
        &Settings {
            allowed: (0.8, 1.2),
            ..s
        },
    );
    assert!(c.deviation.is_nan());
    assert_eq!(classify("m", &[0.0; 5], &[0.0; 5], &s).deviation, 1.0);
    let missing = classify(
        "test-critical-metric",
        &[],
        &[],
        &Settings { critical: true, ..s },
    );
    assert_eq!(
        missing.reason.as_deref(),
        Some("Missing data for test-critical-metric")
    );
    let must = classify(
        "m",
        &[],
        &[1.0],
        &Settings {
            must_have_data: true,
            ..s
        },
    );
    assert_eq!(must.label, Label::NodataFailMetric);
}

#[test]
fn statistic_suite_effect_sizes() {
    assert_eq!(mean_ratio(&[1.0; 5], &[1.0; 5]), 1.0);
    assert_eq!(mean_ratio(&[10.0; 5], &[1.0; 5]), 10.0);
    assert_eq!(mean_ratio(&[10.0; 5], &[100.0; 5]), 0.1);
    assert!(mean_ratio(&[10.0; 5], &[0.0; 5]).is_nan());
    assert_eq!(cles(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1.0, 2.0, 3.0, 4.0, 5.0]), 0.5);
    assert_eq!(cles(SS_NO_OVERLAP_EXP, SS_NO_OVERLAP_CTRL), 0.0);
    assert!((cles(SS_HIGH_EXP, SS_HIGH_CTRL) - 0.771).abs() <= 0.001);
    assert!((cles(SS_LOW_EXP, SS_LOW_CTRL) - 0.12).abs() < 1e-12);
}

#[test]
fn detector_suite_iqr() {
    let d = [21.0, 23.0, 24.0, 25.0, 50.0, 29.0, 23.0, 21.0];
    assert_eq!(
        iqr_outliers(&d, 1.5, false),
        [false, false, false, false, true, false, false, false]
    );
    let two = [1.0, 1.0, 1.0, 5.0, -1.0, -1.0, -1.0, -5.0];
    assert_eq!(
        iqr_outliers(&two, 1.5, false),
        [false, false, false, true, false, false, false, true]
    );
    assert!(iqr_outliers(&[], 1.5, false).is_empty());
    assert_eq!(transform(&d, NanStrategy::Remove, None).len(), 8);
    assert_eq!(
        transform(&[1.0, f64::NAN, 2.0], NanStrategy::Remove, None),
        [1.0, 2.0]
    );
    assert_eq!(
        transform(&[1.0, f64::NAN], NanStrategy::Replace, None),
        [1.0, 0.0]
    );
    // Reduced sensitivity widens the fences to the 1st/99th percentiles (R-7 percentiles): a
    // repeated spike is kept, while the plain IQR fence (Q1 = Q3 = 1) removes it.
    let mut spikes = vec![1.0; 10];
    spikes.extend([20.0, 20.0]);
    assert!(!iqr_outliers(&spikes, 3.0, true).iter().any(|o| *o));
    assert_eq!(
        iqr_outliers(&spikes, 3.0, false).iter().filter(|o| **o).count(),
        2
    );
    assert_eq!(transform(&spikes, NanStrategy::Remove, Some(3.0)).len(), 12);
}

fn scored(label: Label, groups: &[&str], critical: bool, muted: bool) -> Scored {
    Scored {
        label,
        critical,
        muted,
        groups: groups.iter().map(|g| g.to_string()).collect(),
        reason: Some("r".into()),
    }
}

#[test]
fn scorer_suite() {
    use Label::*;
    let none = BTreeMap::new();
    let w = |a: f64, b: f64| BTreeMap::from([("group-1".to_string(), a), ("group-2".to_string(), b)]);
    let g = &["test-group"];
    assert_eq!(score(&[scored(Pass, g, false, false)], &none).summary, 100.0);
    assert_eq!(score(&[scored(High, g, false, false)], &none).summary, 0.0);
    assert_eq!(
        score(
            &[scored(Pass, g, false, false), scored(High, g, false, false)],
            &none
        )
        .summary,
        50.0
    );
    let three = [
        scored(Pass, g, false, false),
        scored(High, g, false, false),
        scored(Low, g, false, false),
    ];
    assert!((score(&three, &none).summary - 33.33).abs() <= 1e-2);
    let two_groups = [
        scored(Pass, &["group-1"], false, false),
        scored(Pass, &["group-1"], false, false),
        scored(High, &["group-2"], false, false),
    ];
    assert_eq!(score(&two_groups, &w(75.0, 25.0)).summary, 75.0);
    let equal = [
        scored(Pass, &["group-1"], false, false),
        scored(High, &["group-1"], false, false),
        scored(High, &["group-2"], false, false),
    ];
    assert_eq!(score(&equal, &w(50.0, 50.0)).summary, 25.0);
    assert_eq!(score(&[scored(Nodata, g, false, false)], &none).summary, 0.0);
    assert_eq!(
        score(
            &[scored(Pass, g, false, false), scored(High, g, true, false)],
            &none
        )
        .summary,
        0.0
    );
    assert_eq!(
        score(
            &[scored(Low, g, false, false), scored(Pass, g, false, false)],
            &none
        )
        .summary,
        50.0
    );
    assert_eq!(
        score(
            &[scored(Pass, g, false, false), scored(High, g, false, true)],
            &none
        )
        .summary,
        100.0
    );
}

#[test]
fn issue_6278_large_shift_with_one_tied_cluster_passes_like_kayenta() {
    let mut exp = vec![100.0; 7];
    exp.extend([1.0; 3]);
    let r = mann_whitney(&exp, &[1.0; 10], 0.98).unwrap();
    assert!((r.lower - 6.8e-5).abs() < 5e-6, "{r:?}");
    assert!(
        (r.upper - 99.0).abs() < 1e-3 && (r.estimate - 99.0).abs() < 1e-3,
        "{r:?}"
    );
    let c = classify(
        "m",
        &exp,
        &[1.0; 10],
        &Settings::new(0.25, 0.98, EffectMeasure::MeanRatio),
    );
    assert_eq!(c.label, Label::Pass);
}

fn series(name: &str, v: &[f64]) -> Series {
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

#[test]
fn judge_scores_groups_and_maps_phases() {
    let input = JudgeData {
        metric: "latency".into(),
        series: vec![
            series("lat-canary", EXP_HIGH),
            series("lat-stable", CTRL_PASS),
            series("err-canary", EXP_PASS),
            series("err-stable", CTRL_PASS),
        ],
        ..JudgeData::default()
    };
    let cfg: Config = parse_config(
        r#"{"metrics":[
            {"name":"lat","canary":"lat-canary","control":"lat-stable","groups":["latency"]},
            {"name":"err","canary":"err-canary","control":"err-stable","groups":["errors"]}],
           "groupWeights":{"latency":50,"errors":50},"scoreThresholds":{"pass":75,"marginal":50}}"#,
    )
    .unwrap();
    let (v, s) = judge(&input, &cfg, None);
    assert_eq!(
        (v.phase, v.code.as_str(), v.score),
        (Phase::Inconclusive, codes::KAYENTA_MARGINAL, Some(0.5))
    );
    assert_eq!(v.details[0].extra_value("classification"), Some("High"));
    assert!(v.details[0].interval.unwrap().0 > 0.0);
    assert_eq!(s.looks, 1);
    let crit: Config = parse_config(
        r#"{"metrics":[{"name":"lat","canary":"lat-canary","control":"lat-stable","critical":true},
                       {"name":"err","canary":"err-canary","control":"err-stable"}]}"#,
    )
    .unwrap();
    let (v, _) = judge(&input, &crit, None);
    assert_eq!((v.phase, v.score), (Phase::Failed, Some(0.0)));
    assert!(
        v.reason
            .starts_with("Canary Failed: lat was classified as High (Critical)"),
        "{}",
        v.reason
    );
    let pass: Config =
        parse_config(r#"{"metrics":[{"name":"err","canary":"err-canary","control":"err-stable"}]}"#).unwrap();
    assert_eq!(judge(&input, &pass, None).0.phase, Phase::Successful);
    let (v, _) = judge(&JudgeData::default(), &Config::default(), None);
    assert_eq!((v.phase, v.code.as_str()), (Phase::Inconclusive, codes::NO_DATA));
}

/// The baseline-health guard (our addition to the Kayenta mode): a control that already violates
/// the metric's SLO gives Inconclusive `environment-unhealthy` even when the canary is critically
/// worse; a healthy control, or a muted metric, leaves Kayenta's scoring untouched.
#[test]
fn control_violating_the_slo_is_environment_unhealthy_not_a_canary_failure() {
    let control: Vec<f64> = (0..60).map(|i| 0.20 + 0.001 * f64::from(i % 7)).collect();
    let canary: Vec<f64> = control.iter().map(|v| v * 2.0).collect();
    let input = JudgeData {
        metric: "errors".into(),
        series: vec![series("canary", &canary), series("stable", &control)],
        ..JudgeData::default()
    };
    let guarded: Config =
        parse_config(r#"{"metrics":[{"name":"errors","critical":true,"slo":{"max":0.05}}]}"#).unwrap();
    let (v, _) = judge(&input, &guarded, None);
    assert_eq!(
        (v.phase, v.code.as_str(), v.score),
        (Phase::Inconclusive, codes::ENVIRONMENT_UNHEALTHY, None)
    );
    assert!(
        v.reason
            .starts_with("the control itself violates the SLO (errors: control median 0.203 > 0.05)"),
        "{}",
        v.reason
    );
    assert_eq!(
        v.details[0].extra_value("classification"),
        Some("High"),
        "still explained"
    );

    // Without the guard, or with a bound the control meets, Kayenta fails the canary.
    for cfg in [
        r#"{"metrics":[{"name":"errors","critical":true}]}"#,
        r#"{"metrics":[{"name":"errors","critical":true,"slo":{"max":0.5}}]}"#,
    ] {
        let (v, _) = judge(&input, &parse_config(cfg).unwrap(), None);
        assert_eq!(
            (v.phase, v.code.as_str()),
            (Phase::Failed, codes::KAYENTA_FAIL),
            "{cfg}"
        );
    }
    // A muted metric reports only: its SLO does not hold the rollout either.
    let muted: Config = parse_config(
        r#"{"metrics":[{"name":"errors","muted":true,"slo":{"max":0.05}},
                       {"name":"same","canary":"stable","control":"stable"}]}"#,
    )
    .unwrap();
    assert_eq!(judge(&input, &muted, None).0.phase, Phase::Successful);
    // `min` bounds work the same way (e.g. a throughput floor).
    let floor: Config = parse_config(r#"{"metrics":[{"name":"errors","slo":{"min":0.5}}]}"#).unwrap();
    assert_eq!(judge(&input, &floor, None).0.code, codes::ENVIRONMENT_UNHEALTHY);
}
