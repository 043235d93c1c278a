//! Metric validation, with upstream's messages.

use rollout_core::analysis::validate::{dry_run_metrics, retention_limits, validate_metrics};
use rollout_core::analysis::{DryRun, MeasurementRetention, Metric};

fn metric(extra: &str) -> Metric {
    serde_yaml::from_str(&format!(
        "name: m\nprovider: {{prometheus: {{query: up}}}}\n{extra}"
    ))
    .unwrap()
}

#[test]
fn table_of_validation_errors() {
    let cases: &[(&str, Option<&str>)] = &[
        ("", None),
        (
            "count: 2",
            Some("metrics[0]: interval must be specified when count > 1"),
        ),
        ("count: 2\ninterval: 1m", None),
        (
            "count: \"2\"",
            Some("metrics[0]: interval must be specified when count > 1"),
        ),
        (
            "count: 1\nfailureLimit: 2",
            Some("metrics[0]: count must be >= failureLimit"),
        ),
        (
            "count: 1\ninconclusiveLimit: 2",
            Some("metrics[0]: count must be >= inconclusiveLimit"),
        ),
        (
            "count: 3\ninterval: 1s\nfailureLimit: 1\nconsecutiveSuccessLimit: 3",
            Some("metrics[0]: count must be >= failureLimit + consecutiveSuccessLimit"),
        ),
        (
            "count: 4\ninterval: 1s\nfailureLimit: 1\nconsecutiveSuccessLimit: 3",
            None,
        ),
        (
            "interval: 5x",
            Some(
                "metrics[0]: invalid interval string: invalid duration \"5x\": unknown unit (use ns, us, ms, s, m or h)",
            ),
        ),
        (
            "initialDelay: 60s-typo",
            Some(
                "metrics[0]: invalid startDelay string: invalid duration \"60s-typo\": unknown unit (use ns, us, ms, s, m or h)",
            ),
        ),
        ("failureLimit: -2", Some("metrics[0]: failureLimit must be >= -1")),
        (
            "failureLimit: -1",
            Some(
                "metrics[0]: failureLimit of -1 requires consecutiveSuccessLimit > 0 (otherwise the metric can never fail or succeed early)",
            ),
        ),
        ("failureLimit: -1\nconsecutiveSuccessLimit: 2", None),
        (
            "inconclusiveLimit: -1",
            Some("metrics[0]: inconclusiveLimit must be >= 0"),
        ),
        (
            "consecutiveErrorLimit: -1",
            Some("metrics[0]: consecutiveErrorLimit must be >= 0"),
        ),
        (
            "consecutiveSuccessLimit: -1",
            Some("metrics[0]: consecutiveSuccessLimit must be >= 0"),
        ),
    ];
    for (extra, want) in cases {
        let got = validate_metrics(&[metric(extra)]).err();
        assert_eq!(got.as_deref(), *want, "case {extra:?}");
    }
}

#[test]
fn provider_count_and_names() {
    assert_eq!(validate_metrics(&[]).unwrap_err(), "no metrics specified");
    let none: Metric = serde_yaml::from_str("name: m\nprovider: {}").unwrap();
    assert_eq!(
        validate_metrics(&[none]).unwrap_err(),
        "metrics[0]: no provider specified"
    );
    let two: Metric =
        serde_yaml::from_str("name: m\nprovider: {web: {url: u}, prometheus: {query: q}}").unwrap();
    assert_eq!(
        validate_metrics(&[two]).unwrap_err(),
        "metrics[0]: multiple providers specified"
    );
    let plugins: Metric = serde_yaml::from_str(
        "name: m\nprovider: {plugin: {\"argoproj-labs/a\": {}, \"argoproj-labs/b\": {}}}",
    )
    .unwrap();
    assert_eq!(
        validate_metrics(&[plugins]).unwrap_err(),
        "metrics[0]: multiple providers specified"
    );
    let dup = validate_metrics(&[metric(""), metric("")]).unwrap_err();
    assert_eq!(dup, "metrics[1]: duplicate name 'm'");
}

#[test]
fn judge_metrics_are_checked() {
    let judge = |body: &str| -> Metric {
        serde_yaml::from_str(&format!("name: j\nprovider:\n  judge:\n{body}")).unwrap()
    };
    let good = judge(
        "    name: ratio\n    sha256: \"0000000000000000000000000000000000000000000000000000000000000001\"\n    queries:\n      canary: {points: {prometheus: {query: q}}}\n",
    );
    assert_eq!(validate_metrics(std::slice::from_ref(&good)), Ok(()));
    let mut with_cond = good.clone();
    with_cond.success_condition = Some("result > 1".into());
    assert_eq!(
        validate_metrics(&[with_cond]).unwrap_err(),
        "metrics[0]: judge metrics are decided by the judge: remove successCondition/failureCondition"
    );
    let short = judge("    name: ratio\n    sha256: abc\n");
    assert_eq!(
        validate_metrics(&[short]).unwrap_err(),
        "metrics[0]: judge.sha256 must be 64 hex characters, got \"abc\""
    );
    let bad_query = judge(
        "    name: ratio\n    sha256: \"0000000000000000000000000000000000000000000000000000000000000001\"\n    queries:\n      canary: {numerator: {prometheus: {query: q}}}\n",
    );
    assert_eq!(
        validate_metrics(&[bad_query]).unwrap_err(),
        "metrics[0]: judge.queries.canary: set exactly one of points, numerator + denominator, or buckets"
    );
}

#[test]
fn dry_run_and_retention_rules_are_unanchored_regexes_that_must_match() {
    let metrics: Vec<Metric> = ["error-rate", "latency-p99", "total-errors"]
        .iter()
        .map(|n| {
            let mut m = metric("");
            m.name = n.to_string();
            m
        })
        .collect();
    let dry = |p: &str| DryRun {
        metric_name: p.into(),
    };
    let set = dry_run_metrics(&[dry("error")], &metrics).unwrap();
    assert_eq!(
        set.into_iter().collect::<Vec<_>>(),
        ["error-rate", "total-errors"]
    );
    let all = dry_run_metrics(&[dry(".*")], &metrics).unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(
        dry_run_metrics(&[dry("latency"), dry("^nope$")], &metrics).unwrap_err(),
        "dryRun[1]: Rule didn't match any metric name(s)"
    );
    let ret = |p: &str, limit| MeasurementRetention {
        metric_name: p.into(),
        limit,
    };
    let limits = retention_limits(&[ret("p99$", 20), ret("rate", 2)], &metrics).unwrap();
    assert_eq!(limits.get("latency-p99"), Some(&20));
    assert_eq!(limits.get("error-rate"), Some(&2));
    assert_eq!(
        retention_limits(&[ret("zzz", 1)], &metrics).unwrap_err(),
        "measurementRetention[0]: Rule didn't match any metric name(s)"
    );
    // A rule without metricName reads as "" (the types are lenient) but must not match every
    // metric the way an empty regex would.
    let lenient: DryRun = serde_json::from_value(serde_json::json!({})).unwrap();
    assert_eq!(
        dry_run_metrics(&[dry("error"), lenient], &metrics).unwrap_err(),
        "dryRun[1].metricName: Required value"
    );
    assert_eq!(
        retention_limits(&[ret("", 3)], &metrics).unwrap_err(),
        "measurementRetention[0].metricName: Required value"
    );
}
