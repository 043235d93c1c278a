//! The run machine: scheduling, metric and run phases, messages, termination, retention.

mod analysis_support;

use analysis_support::{at, run, run_to_end, settle, value};
use rollout_core::analysis::AnalysisPhase::{self, *};
use rollout_core::analysis::machine::{TaskKind, assess_metric, step};
use rollout_core::analysis::{Metric, MetricResult, Observation, ProviderError};
use serde_json::json;

fn phases(r: &rollout_core::analysis::AnalysisRun) -> (AnalysisPhase, String) {
    let s = r.status.as_ref().unwrap();
    (s.phase, s.message.clone())
}

#[test]
fn failure_limit_fails_the_run_with_upstreams_message() {
    let mut r = run(r#"
metrics:
- name: success-rate
  interval: 5s
  count: 3
  failureLimit: 1
  successCondition: result[0] >= 0.95
  provider: {prometheus: {query: q}}
"#);
    let mut calls = Vec::new();
    let mut p = |req: &rollout_core::analysis::MeasurementRequest| {
        calls.push(req.now);
        value(json!([0.5]))
    };
    let end = run_to_end(&mut r, at(0), at(600), &mut p);
    assert_eq!(end, Some(at(5)));
    assert_eq!(calls, vec![at(0), at(5)]);
    assert_eq!(
        phases(&r),
        (
            Failed,
            "Metric \"success-rate\" assessed Failed due to failed (2) > failureLimit (1)".into()
        )
    );
    let st = r.status.unwrap();
    assert_eq!(st.completed_at, Some(at(5)));
    let m = &st.metric_results[0];
    assert_eq!((m.phase, m.count, m.failed), (Failed, 2, 2));
    assert_eq!(st.run_summary.unwrap().failed, 1);
}

#[test]
fn inconclusive_limit_fixture_10_shape() {
    let mut r = run(r#"
args: [{name: url-val, value: "https://dns.google/resolve?name=google.com"}]
metrics:
- name: web
  interval: 5s
  inconclusiveLimit: 3
  successCondition: result.Status == 999
  failureCondition: result.Status == -1
  provider: {web: {url: "{{args.url-val}}"}}
"#);
    let mut urls = Vec::new();
    let mut p = |req: &rollout_core::analysis::MeasurementRequest| {
        urls.push(req.metric.provider.config("web").unwrap()["url"].clone());
        value(json!({"Status": 0}))
    };
    let end = run_to_end(&mut r, at(0), at(600), &mut p);
    assert_eq!(end, Some(at(15)));
    assert_eq!(urls.len(), 4);
    assert_eq!(urls[0], "https://dns.google/resolve?name=google.com");
    assert_eq!(
        phases(&r),
        (
            Inconclusive,
            "Metric \"web\" assessed Inconclusive due to inconclusive (4) > inconclusiveLimit (3)".into()
        )
    );
}

#[test]
fn consecutive_errors_default_limit_4_retry_every_10s() {
    let mut r = run(r#"
metrics:
- name: m
  interval: 1m
  successCondition: result > 0
  provider: {prometheus: {query: q}}
"#);
    let mut times = Vec::new();
    let mut p = |req: &rollout_core::analysis::MeasurementRequest| {
        times.push(req.now);
        Err(ProviderError::Failed("connection refused".into()))
    };
    let end = run_to_end(&mut r, at(0), at(600), &mut p);
    assert_eq!(times, vec![at(0), at(10), at(20), at(30), at(40)]);
    assert_eq!(end, Some(at(40)));
    assert_eq!(
        phases(&r),
        (
            Error,
            "Metric \"m\" assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4): \"Error Message: connection refused\"".into()
        )
    );
    let m = &r.status.unwrap().metric_results[0];
    assert_eq!((m.count, m.error, m.consecutive_error), (0, 5, 5));
}

#[test]
fn errors_do_not_count_and_reset_on_success() {
    let mut r = run(r#"
metrics:
- name: m
  count: 2
  interval: 1m
  provider: {prometheus: {query: q}}
"#);
    let mut n = 0;
    let mut p = |_: &rollout_core::analysis::MeasurementRequest| {
        n += 1;
        if n == 1 {
            Err(ProviderError::Failed("flaky".into()))
        } else {
            value(json!(1))
        }
    };
    let end = run_to_end(&mut r, at(0), at(600), &mut p);
    // error at 0, retry at 10 (Successful), then interval 1m → 70 (Successful, count 2 reached)
    assert_eq!(end, Some(at(70)));
    assert_eq!(phases(&r), (Successful, String::new()));
    let m = &r.status.unwrap().metric_results[0];
    assert_eq!(
        (m.count, m.error, m.successful, m.consecutive_error),
        (2, 1, 2, 0)
    );
}

fn result(failed: i32, inconclusive: i32, consecutive_error: i32) -> MetricResult {
    MetricResult {
        name: "m".into(),
        phase: Running,
        failed,
        inconclusive,
        consecutive_error,
        error: consecutive_error,
        count: failed + inconclusive,
        measurements: vec![rollout_core::analysis::Measurement {
            phase: Failed,
            finished_at: Some(at(0)),
            ..Default::default()
        }],
        ..Default::default()
    }
}

#[test]
fn precedence_error_over_inconclusive_over_failed() {
    let m: Metric = serde_yaml::from_str("name: m\ninterval: 1s\nprovider: {web: {url: u}}").unwrap();
    assert_eq!(assess_metric(&m, &result(1, 0, 0), false), Failed);
    assert_eq!(assess_metric(&m, &result(1, 1, 0), false), Inconclusive);
    assert_eq!(assess_metric(&m, &result(1, 1, 5), false), Error);
    assert_eq!(assess_metric(&m, &result(0, 0, 4), false), Running);
    let disabled: Metric = serde_yaml::from_str(
        "name: m\ninterval: 1s\nfailureLimit: -1\nconsecutiveSuccessLimit: 2\nprovider: {web: {url: u}}",
    )
    .unwrap();
    assert_eq!(assess_metric(&disabled, &result(7, 0, 0), false), Running);
}

#[test]
fn consecutive_success_limit() {
    let spec = |seq: &'static [bool]| {
        let mut r = run(r#"
metrics:
- name: m
  count: 4
  interval: 5s
  failureLimit: 2
  consecutiveSuccessLimit: 2
  successCondition: result == 1
  provider: {prometheus: {query: q}}
"#);
        let mut i = 0;
        let mut p = |_: &rollout_core::analysis::MeasurementRequest| {
            let ok = seq.get(i).copied().unwrap_or(true);
            i += 1;
            value(json!(if ok { 1 } else { 0 }))
        };
        let end = run_to_end(&mut r, at(0), at(600), &mut p);
        (end, phases(&r))
    };
    assert_eq!(
        spec(&[false, true, true]),
        (Some(at(10)), (Successful, String::new()))
    );
    assert_eq!(
        spec(&[true, false, true, false]),
        (
            Some(at(15)),
            (Inconclusive, "Metric \"m\" assessed Inconclusive due to consecutiveSuccess (0) < consecutiveSuccessLimit (2) after count (4)".into())
        )
    );
}

#[test]
fn initial_delay_waits_from_started_at() {
    let mut r = run(r#"
metrics:
- name: m
  initialDelay: 30s
  provider: {prometheus: {query: q}}
"#);
    let mut p = |_: &rollout_core::analysis::MeasurementRequest| value(json!(1));
    let out = settle(&mut r, at(0), &mut p);
    assert!(out.tasks.is_empty());
    assert_eq!(out.next_wake, Some(at(30)));
    assert_eq!(out.status.metric_results.len(), 0);
    assert_eq!(out.status.started_at, Some(at(0)));
    assert!(settle(&mut r, at(29), &mut p).tasks.is_empty());
    assert_eq!(run_to_end(&mut r, at(30), at(100), &mut p), Some(at(30)));
    assert_eq!(phases(&r).0, Successful);
}

#[test]
fn in_flight_measurements_are_resumed_and_replaced() {
    let mut r = run(r#"
metrics:
- name: job
  provider: {job: {spec: {}}}
"#);
    let mut p = |req: &rollout_core::analysis::MeasurementRequest| {
        if let Some(in_flight) = &req.in_flight {
            assert_eq!(in_flight.metadata["job-name"], "j1");
            Ok(Observation::Decided {
                phase: Successful,
                value: String::new(),
                message: "job succeeded".into(),
                metadata: Default::default(),
            })
        } else {
            Ok(Observation::InFlight {
                resume_at: at(30),
                metadata: [("job-name".to_string(), "j1".to_string())].into(),
            })
        }
    };
    let out = settle(&mut r, at(0), &mut p);
    assert_eq!(out.status.phase, Running);
    assert_eq!(out.status.metric_results[0].phase, Running);
    assert_eq!(out.next_wake, Some(at(30)));
    assert!(settle(&mut r, at(20), &mut p).tasks.is_empty());
    assert_eq!(run_to_end(&mut r, at(30), at(100), &mut p), Some(at(30)));
    let st = r.status.unwrap();
    assert_eq!(st.phase, Successful);
    let ms = &st.metric_results[0].measurements;
    assert_eq!(ms.len(), 1);
    assert_eq!((ms[0].started_at, ms[0].finished_at), (Some(at(0)), Some(at(30))));
    assert_eq!(ms[0].message, "job succeeded");
}

#[test]
fn terminate_stops_in_flight_and_reports_run_terminated() {
    let mut r = run(r#"
metrics:
- name: job
  provider: {job: {spec: {}}}
- name: later
  initialDelay: 1h
  provider: {web: {url: u}}
"#);
    let mut p = |_: &rollout_core::analysis::MeasurementRequest| {
        Ok(Observation::InFlight {
            resume_at: at(300),
            metadata: Default::default(),
        })
    };
    settle(&mut r, at(0), &mut p);
    r.spec.terminate = true;
    let out = step(&r, at(10), vec![]);
    assert_eq!(out.tasks.len(), 1);
    assert_eq!(out.tasks[0].kind, TaskKind::Terminate);
    // The run waits for the provider's answer to terminate (here: none of its own).
    assert_eq!(out.status.phase, Running);
    let terminated = rollout_core::analysis::finish_measurement(
        &out.tasks[0].request,
        Ok(Observation::terminated()),
        at(10),
    );
    r.status = Some(out.status);
    let out = step(&r, at(10), vec![terminated]);
    assert_eq!(out.status.phase, Successful);
    assert_eq!(out.status.message, "Run Terminated");
    let m = &out.status.metric_results[0].measurements[0];
    assert_eq!(
        (m.phase, m.message.as_str(), m.finished_at),
        (Successful, "Metric Terminated", Some(at(10)))
    );
    assert_eq!(out.next_wake, None);
}

#[test]
fn only_errors_never_end_successful_when_terminated_issue_4479() {
    let mut r = run(r#"
metrics:
- name: bg
  interval: 1m
  successCondition: result > 0
  provider: {prometheus: {query: q}}
"#);
    let mut p = |_: &rollout_core::analysis::MeasurementRequest| Err(ProviderError::Failed("boom".into()));
    settle(&mut r, at(0), &mut p);
    settle(&mut r, at(10), &mut p);
    r.spec.terminate = true;
    let out = settle(&mut r, at(15), &mut p);
    assert_eq!(
        (out.status.phase, out.status.message.as_str()),
        (
            Error,
            "Metric \"bg\" assessed Error due to no successful measurement: failed (0), inconclusive (0), errors (2): \"Error Message: boom\""
        )
    );
}

#[test]
fn background_run_terminated_after_successes_is_successful() {
    let mut r = run(r#"
metrics:
- name: bg
  interval: 1m
  successCondition: result > 0
  provider: {prometheus: {query: q}}
"#);
    let mut p = |_: &rollout_core::analysis::MeasurementRequest| value(json!(1));
    assert_eq!(run_to_end(&mut r, at(0), at(300), &mut p), None);
    assert_eq!(r.status.as_ref().unwrap().metric_results[0].count, 6);
    r.spec.terminate = true;
    let out = settle(&mut r, at(301), &mut p);
    assert_eq!(
        (out.status.phase, out.status.message.as_str()),
        (Successful, "Run Terminated")
    );
}

#[test]
fn dry_run_metrics_do_not_change_the_run_phase() {
    let mut r = run(r#"
dryRun: [{metricName: "shadow"}]
metrics:
- name: shadow-judge
  successCondition: result > 1
  provider: {prometheus: {query: q}}
- name: real
  provider: {prometheus: {query: q}}
"#);
    let mut p = |_: &rollout_core::analysis::MeasurementRequest| value(json!(0));
    assert_eq!(run_to_end(&mut r, at(0), at(100), &mut p), Some(at(0)));
    let st = r.status.unwrap();
    assert_eq!((st.phase, st.message.as_str()), (Successful, ""));
    let shadow = &st
        .metric_results
        .iter()
        .find(|m| m.name == "shadow-judge")
        .unwrap();
    assert!(shadow.dry_run);
    assert_eq!(shadow.phase, Failed);
    assert_eq!(
        shadow.message,
        "Metric assessed Failed due to failed (1) > failureLimit (0)"
    );
    let d = st.dry_run_summary.unwrap();
    assert_eq!((d.count, d.failed, d.successful), (1, 1, 0));
    let s = st.run_summary.unwrap();
    assert_eq!((s.count, s.successful), (1, 1));
}

#[test]
fn measurement_retention_default_10_and_rules() {
    let spec = r#"
measurementRetention: [{metricName: "^b$", limit: 3}]
metrics:
- name: a
  interval: 10s
  provider: {prometheus: {query: q}}
- name: b
  interval: 10s
  provider: {prometheus: {query: q}}
"#;
    let mut r = run(spec);
    let mut p = |_: &rollout_core::analysis::MeasurementRequest| value(json!(1));
    assert_eq!(run_to_end(&mut r, at(0), at(110), &mut p), None);
    let st = r.status.unwrap();
    let a = &st.metric_results[0];
    let b = &st.metric_results[1];
    assert_eq!((a.count, a.measurements.len()), (12, 10));
    assert_eq!((b.count, b.measurements.len()), (12, 3));
    assert_eq!(a.measurements.last().unwrap().finished_at, Some(at(110)));
    assert_eq!(a.measurements[0].finished_at, Some(at(20)));
}

#[test]
fn spec_errors_end_the_run_in_error() {
    let cases = [
        (
            "metrics: [{name: m, provider: {web: {url: \"{{args.missing}}\"}}}]",
            "Unable to resolve metric arguments: failed to resolve {{args.missing}}",
        ),
        (
            "metrics: [{name: m, count: 3, provider: {web: {url: u}}}]",
            "Analysis spec invalid: metrics[0]: interval must be specified when count > 1",
        ),
        (
            "dryRun: [{metricName: zzz}]\nmetrics: [{name: m, provider: {web: {url: u}}}]",
            "Analysis spec invalid: dryRun[0]: Rule didn't match any metric name(s)",
        ),
        (
            "measurementRetention: [{metricName: zzz, limit: 1}]\nmetrics: [{name: m, provider: {web: {url: u}}}]",
            "Analysis spec invalid: measurementRetention[0]: Rule didn't match any metric name(s)",
        ),
        (
            "args: [{name: c, value: \"5\"}]\nmetrics: [{name: m, count: \"{{args.c}}\", provider: {web: {url: u}}}]",
            "Analysis spec invalid: metrics[0]: interval must be specified when count > 1",
        ),
    ];
    for (spec, msg) in cases {
        let out = step(&run(spec), at(0), vec![]);
        assert_eq!(
            (out.status.phase, out.status.message.as_str()),
            (Error, msg),
            "{spec}"
        );
        assert_eq!(out.status.completed_at, Some(at(0)));
        assert!(out.tasks.is_empty());
    }
}

#[test]
fn secret_args_validate_with_a_placeholder_and_stay_unresolved_for_the_driver() {
    let r = run(r#"
args: [{name: token, valueFrom: {secretKeyRef: {name: s, key: k}}}, {name: app, value: web}]
metrics:
- name: m
  provider: {web: {url: "http://x/{{args.app}}", headers: [{key: Authorization, value: "Bearer {{args.token}}"}]}}
"#);
    let out = step(&r, at(0), vec![]);
    assert_eq!(out.status.phase, Running);
    let cfg = out.tasks[0]
        .request
        .metric
        .provider
        .config("web")
        .unwrap()
        .clone();
    assert_eq!(cfg["url"], "http://x/web");
    assert_eq!(cfg["headers"][0]["value"], "Bearer {{args.token}}");
}

#[test]
fn next_wake_is_the_earliest_metric_time_and_completed_runs_are_inert() {
    let mut r = run(r#"
metrics:
- name: slow
  interval: 1m
  provider: {prometheus: {query: q}}
- name: fast
  interval: 30s
  provider: {prometheus: {query: q}}
"#);
    let mut p = |_: &rollout_core::analysis::MeasurementRequest| value(json!(1));
    let out = settle(&mut r, at(0), &mut p);
    assert_eq!(out.next_wake, Some(at(30)));
    let out = settle(&mut r, at(30), &mut p);
    assert_eq!(out.next_wake, Some(at(60)));
    r.spec.terminate = true;
    let done = settle(&mut r, at(31), &mut p);
    assert_eq!(done.status.phase, Successful);
    let again = step(&r, at(500), vec![]);
    assert_eq!(again.status, done.status);
    assert!(again.tasks.is_empty());
    assert_eq!(again.next_wake, None);
}

#[test]
fn failing_metric_terminates_siblings_on_the_next_pass() {
    let mut r = run(r#"
metrics:
- name: bad
  successCondition: result > 0
  provider: {prometheus: {query: q}}
- name: job
  provider: {job: {spec: {}}}
"#);
    let p = |req: &rollout_core::analysis::MeasurementRequest| {
        if req.metric.name == "bad" {
            value(json!(0))
        } else {
            Ok(Observation::InFlight {
                resume_at: at(600),
                metadata: Default::default(),
            })
        }
    };
    // First pass: `bad` is Failed, the run is still Running and asks to be called again now.
    let first = step(&r, at(0), vec![]);
    let results: Vec<_> = first
        .tasks
        .iter()
        .map(|t| rollout_core::analysis::finish_measurement(&t.request, p(&t.request), at(0)))
        .collect();
    r.status = Some(first.status);
    let second = step(&r, at(0), results);
    assert_eq!(second.status.phase, Running);
    assert_eq!(second.next_wake, Some(at(0)));
    r.status = Some(second.status);
    let third = step(&r, at(0), vec![]);
    assert_eq!(
        third.tasks.iter().map(|t| t.kind).collect::<Vec<_>>(),
        vec![TaskKind::Terminate]
    );
    let terminated = rollout_core::analysis::finish_measurement(
        &third.tasks[0].request,
        Ok(Observation::terminated()),
        at(0),
    );
    r.status = Some(third.status);
    let fourth = step(&r, at(0), vec![terminated]);
    assert_eq!(
        (fourth.status.phase, fourth.status.message.as_str()),
        (
            Failed,
            "Metric \"bad\" assessed Failed due to failed (1) > failureLimit (0)"
        )
    );
}

#[test]
fn failures_within_the_limit_and_errors_are_not_successful_issue_4479() {
    // Upstream: count reached with failed (2) <= failureLimit (2) → Successful although no
    // measurement succeeded.
    let mut r = run(r#"
metrics:
- name: dd-analysis2
  count: 2
  interval: 5s
  failureLimit: 2
  successCondition: result < 1
  provider: {datadog: {query: q}}
"#);
    let mut n = 0;
    let mut p = |_: &rollout_core::analysis::MeasurementRequest| {
        n += 1;
        if n == 2 {
            Err(ProviderError::Failed("timeout".into()))
        } else {
            value(json!(5))
        }
    };
    let end = run_to_end(&mut r, at(0), at(600), &mut p);
    assert_eq!(end, Some(at(15)));
    assert_eq!(
        phases(&r),
        (
            Failed,
            "Metric \"dd-analysis2\" assessed Failed due to no successful measurement: failed (2), inconclusive (0), errors (1)".into()
        )
    );
    // One success among the failures keeps upstream's answer.
    let mut r = run(r#"
metrics:
- name: m
  count: 2
  interval: 5s
  failureLimit: 1
  successCondition: result < 1
  provider: {datadog: {query: q}}
"#);
    let mut n = 0;
    let mut p = |_: &rollout_core::analysis::MeasurementRequest| {
        n += 1;
        value(json!(if n == 1 { 5 } else { 0 }))
    };
    run_to_end(&mut r, at(0), at(600), &mut p);
    assert_eq!(phases(&r), (Successful, String::new()));
}
