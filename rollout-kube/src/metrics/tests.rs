//! The encoded text of the metrics: upstream's names, help texts, labels and values, computed from
//! in-memory caches the way the controller fills them.

use std::time::{Duration, Instant};

use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use prometheus_client::registry::Registry;
use rollout_core::rollout::{Event, EventType};
use serde_json::{Value, json};

use super::*;

fn rollout(v: Value) -> Rollout {
    let mut ro: Rollout = serde_json::from_value(v).unwrap();
    // As the controller's watcher caches it.
    trim_cached_rollout(&mut ro, true);
    ro
}

fn store<K>(objects: Vec<K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let (reader, mut writer) = reflector::store();
    for o in objects {
        writer.apply_watcher_event(&watcher::Event::Apply(o));
    }
    reader
}

fn text(registry: &Registry) -> String {
    let mut out = String::new();
    prometheus_client::encoding::text::encode(&mut out, registry).unwrap();
    out
}

fn lines_with<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    let mut v: Vec<&str> = text.lines().filter(|l| l.starts_with(prefix)).collect();
    v.sort_unstable();
    v
}

/// Upstream's `fakeRollout` (blue-green) and `fakeCanaryRollout` (SMI), with a condition.
fn guestbook(name: &str, strategy: Value, conditions: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": "default",
                     "annotations": {"big": "x".repeat(1000)}},
        "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "guestbook"}},
                 "template": {"metadata": {"labels": {"app": "guestbook"}},
                              "spec": {"containers": [{"name": "guestbook", "image": "argoproj/rollouts-demo:blue"}]}},
                 "minReadySeconds": 30, "strategy": strategy},
        "status": {"replicas": 1, "availableReplicas": 1, "conditions": conditions}
    })
}

fn progressing(reason: &str) -> Value {
    json!([{"type": "Progressing", "status": "False", "reason": reason, "message": "m"}])
}

fn attached(rollouts: Vec<Rollout>, runs: Vec<AnalysisRun>) -> (Registry, Metrics, Attached) {
    let mut registry = Registry::default();
    let m = Metrics::register(&mut registry);
    let a = m.attach(
        true,
        Sources {
            rollouts: store(rollouts),
            runs: Some(store(runs)),
        },
    );
    (registry, m, a)
}

#[test]
fn rollout_gauges_match_upstreams_collector() {
    let bg = rollout(guestbook(
        "guestbook-bluegreen",
        json!({"blueGreen": {"activeService": "active-service", "previewService": "preview-service"}}),
        progressing("Progressing"),
    ));
    let canary = rollout(guestbook(
        "guestbook-canary",
        json!({"canary": {"trafficRouting": {"smi": {}}, "steps": [{"setWeight": 10}]}}),
        progressing("ReplicaSetCreateError"),
    ));
    // The cache keeps only the gauges' values.
    assert_eq!(canary.spec, Value::Null);
    assert_eq!(canary.status, json!(["canary", "SMI", "Error", 1, 1, 0, 0]));
    let (registry, _m, _a) = attached(vec![bg, canary], vec![]);
    let out = text(&registry);
    for line in [
        "# HELP rollout_info Information about rollout.",
        "# TYPE rollout_info gauge",
        r#"rollout_info{namespace="default",name="guestbook-bluegreen",strategy="blueGreen",traffic_router="",phase="Progressing"} 1"#,
        r#"rollout_info{namespace="default",name="guestbook-canary",strategy="canary",traffic_router="SMI",phase="Error"} 1"#,
        "# HELP rollout_info_replicas_available The number of available replicas per rollout.",
        r#"rollout_info_replicas_available{namespace="default",name="guestbook-canary"} 1"#,
        "# HELP rollout_info_replicas_unavailable The number of unavailable replicas per rollout.",
        r#"rollout_info_replicas_unavailable{namespace="default",name="guestbook-canary"} 0"#,
        "# HELP rollout_info_replicas_desired The number of desired replicas per rollout.",
        r#"rollout_info_replicas_desired{namespace="default",name="guestbook-bluegreen"} 1"#,
        "# HELP rollout_info_replicas_updated The number of updated replicas per rollout.",
        r#"rollout_info_replicas_updated{namespace="default",name="guestbook-bluegreen"} 0"#,
        "# HELP rollout_phase Information on the state of the rollout (DEPRECATED - use rollout_info)",
        r#"rollout_phase{namespace="default",name="guestbook-canary",strategy="canary",phase="Error"} 1"#,
        r#"rollout_phase{namespace="default",name="guestbook-canary",strategy="canary",phase="Progressing"} 0"#,
        r#"argo_rollouts_controller_info{version="v0.1.0"} 1"#,
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line}\n{out}");
    }
    // One sample per phase per Rollout, exactly one of them 1.
    let phases = lines_with(
        &out,
        "rollout_phase{namespace=\"default\",name=\"guestbook-bluegreen\"",
    );
    assert_eq!(phases.len(), 6, "{out}");
    assert_eq!(phases.iter().filter(|l| l.ends_with(" 1")).count(), 1);
}

#[test]
fn phase_strategy_router_and_replica_counts_follow_upstream() {
    for (conditions, want) in [
        (json!([]), "Progressing"),
        (progressing("NewReplicaSetAvailable"), "Completed"),
        (progressing("RolloutPaused"), "Paused"),
        (progressing("ReplicaSetCreateError"), "Error"),
        (progressing("ProgressDeadlineExceeded"), "Timeout"),
        (progressing("RolloutAborted"), "Abort"),
        (progressing("ReplicaSetUpdated"), "Progressing"),
        (
            json!([{"type": "Progressing", "reason": "NewReplicaSetAvailable"}, {"type": "InvalidSpec", "reason": "InvalidSpec"}]),
            "InvalidSpec",
        ),
    ] {
        let ro = guestbook("r", json!({"canary": {}}), conditions.clone());
        assert_eq!(objects::rollout_phase(&ro["status"]), want, "{conditions}");
    }
    for (strategy, want) in [
        (json!({}), ("none", "")),
        (json!({"blueGreen": {}}), ("blueGreen", "")),
        (json!({"canary": {}}), ("canary", "")),
        (
            json!({"canary": {"trafficRouting": {"alb": {"ingress": "i"}}}}),
            ("canary", "ALB"),
        ),
        (
            json!({"canary": {"trafficRouting": {"istio": {}, "nginx": {}}}}),
            ("canary", "Nginx"),
        ),
        (
            json!({"canary": {"trafficRouting": {"appMesh": {}, "alb": {}}}}),
            ("canary", "AppMesh"),
        ),
        // Routers upstream does not name (plugins such as the Gateway API) are "".
        (
            json!({"canary": {"trafficRouting": {"plugins": {"argoproj-labs/gatewayAPI": {}}}}}),
            ("canary", ""),
        ),
    ] {
        let ro = guestbook("r", strategy.clone(), json!([]));
        assert_eq!(objects::strategy_and_router(&ro["spec"]), want, "{strategy}");
    }
    // Replicas default to 1; unavailable = status.replicas - availableReplicas.
    let mut v = guestbook("counts", json!({"canary": {}}), json!([]));
    v["spec"].as_object_mut().unwrap().remove("replicas");
    v["status"] = json!({"replicas": 5, "availableReplicas": 2, "updatedReplicas": 3});
    let (registry, _m, _a) = attached(vec![rollout(v)], vec![]);
    let out = text(&registry);
    for (name, value) in [
        ("available", 2),
        ("unavailable", 3),
        ("desired", 1),
        ("updated", 3),
    ] {
        let line = format!(r#"rollout_info_replicas_{name}{{namespace="default",name="counts"}} {value}"#);
        assert!(out.lines().any(|l| l == line), "missing {line}\n{out}");
    }
}

fn run(name: &str, spec: Value, status: Value) -> AnalysisRun {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": name, "namespace": "ns"},
        "spec": spec, "status": status
    }))
    .unwrap()
}

#[test]
fn analysis_run_gauges_match_upstreams_collector() {
    let metrics = json!([
        {"name": "success-rate", "provider": {"prometheus": {"query": "up"}}},
        {"name": "web-check", "provider": {"web": {"url": "http://x"}}},
        {"name": "judged", "provider": {"judge": {"name": "error-ratio"}}},
    ]);
    let a = run(
        "a",
        json!({"metrics": metrics, "dryRun": [{"metricName": "web.*"}]}),
        json!({"phase": "Running", "metricResults": [
            {"name": "success-rate", "phase": "Successful"},
            {"name": "web-check", "phase": "Failed", "dryRun": true}
        ]}),
    );
    let b = run(
        "b",
        json!({"metrics": [{"name": "j", "provider": {"job": {}}}]}),
        Value::Null,
    );
    let (registry, _m, _a) = attached(vec![], vec![a, b]);
    let out = text(&registry);
    for line in [
        "# HELP analysis_run_info Information about analysis run.",
        r#"analysis_run_info{namespace="ns",name="a",phase="Running"} 1"#,
        r#"analysis_run_info{namespace="ns",name="b",phase=""} 1"#,
        "# HELP analysis_run_phase Information on the state of the Analysis Run (DEPRECATED - use analysis_run_info)",
        r#"analysis_run_phase{namespace="ns",name="a",phase="Running"} 1"#,
        r#"analysis_run_phase{namespace="ns",name="a",phase="Pending"} 0"#,
        r#"analysis_run_phase{namespace="ns",name="b",phase="Pending"} 1"#,
        "# HELP analysis_run_metric_type Information on the type of a specific metric in the Analysis Runs",
        r#"analysis_run_metric_type{namespace="ns",name="a",metric="success-rate",type="Prometheus"} 1"#,
        r#"analysis_run_metric_type{namespace="ns",name="a",metric="web-check",type="Web"} 1"#,
        r#"analysis_run_metric_type{namespace="ns",name="a",metric="judged",type="Judge"} 1"#,
        r#"analysis_run_metric_type{namespace="ns",name="b",metric="j",type="Job"} 1"#,
        "# HELP analysis_run_metric_phase Information on the duration of a specific metric in the Analysis Run",
        r#"analysis_run_metric_phase{namespace="ns",name="a",metric="success-rate",type="Prometheus",dry_run="false",phase="Successful"} 1"#,
        r#"analysis_run_metric_phase{namespace="ns",name="a",metric="web-check",type="Web",dry_run="true",phase="Failed"} 1"#,
        r#"analysis_run_metric_phase{namespace="ns",name="a",metric="judged",type="Judge",dry_run="false",phase="Pending"} 1"#,
        r#"analysis_run_metric_phase{namespace="ns",name="b",metric="j",type="Job",dry_run="false",phase="Pending"} 1"#,
    ] {
        assert!(out.lines().any(|l| l == line), "missing {line}\n{out}");
    }
    let per_metric = lines_with(
        &out,
        r#"analysis_run_metric_phase{namespace="ns",name="a",metric="judged""#,
    );
    assert_eq!(per_metric.len(), 6, "{out}");
    assert_eq!(per_metric.iter().filter(|l| l.ends_with(" 1")).count(), 1);
    for (provider, want) in [
        (json!({"newRelic": {}}), "NewRelic"),
        (json!({"cloudWatch": {}}), "CloudWatch"),
        (json!({"skywalking": {}}), "skywalking"),
        (json!({"plugin": {"x/y": {}}}), "RPCPlugin"),
        (json!({"somethingElse": {}}), "Unknown Provider"),
    ] {
        assert_eq!(objects::provider_type(&json!({"provider": provider})), want);
    }
}

fn ro(ns: &str, name: &str) -> Rollout {
    rollout(json!({"metadata": {"name": name, "namespace": ns}, "spec": {}}))
}

#[test]
fn recorded_series_use_upstream_names_labels_and_buckets() {
    let web = ro("ro-namespace", "ro-test");
    let (registry, m, _a) = attached(vec![web.clone()], vec![]);
    m.rollout_reconciled(&web, Duration::from_millis(1));
    m.rollout_failed(&web, "api");
    m.rollout_failed(&web, "api");
    let event = Event {
        kind: EventType::Normal,
        reason: "RolloutStepCompleted".into(),
        message: "Rollout step 1/2 completed (setWeight: 20)".into(),
    };
    m.rollout_event(&web, &event);
    m.rollout_event(&web, &event);
    let r = run("r1", json!({"metrics": []}), Value::Null);
    m.run_reconciled(&r, Duration::from_millis(300), true);
    let out = text(&registry);
    let l = r#"namespace="ro-namespace",name="ro-test""#;
    for line in [
        "# HELP rollout_reconcile Rollout reconciliation performance.".to_string(),
        "# TYPE rollout_reconcile histogram".into(),
        format!(r#"rollout_reconcile_bucket{{le="0.01",{l}}} 1"#),
        format!(r#"rollout_reconcile_bucket{{le="0.15",{l}}} 1"#),
        format!(r#"rollout_reconcile_bucket{{le="0.25",{l}}} 1"#),
        format!(r#"rollout_reconcile_bucket{{le="0.5",{l}}} 1"#),
        format!(r#"rollout_reconcile_bucket{{le="1.0",{l}}} 1"#),
        format!(r#"rollout_reconcile_bucket{{le="+Inf",{l}}} 1"#),
        format!("rollout_reconcile_sum{{{l}}} 0.001"),
        format!("rollout_reconcile_count{{{l}}} 1"),
        "# HELP rollout_reconcile_error Error occurring during the rollout".into(),
        "# TYPE rollout_reconcile_error unknown".into(),
        format!("rollout_reconcile_error{{{l}}} 2"),
        "# HELP rollout_events Count of rollout events".into(),
        format!(r#"rollout_events_total{{{l},type="Normal",reason="RolloutStepCompleted"}} 2"#),
        "# HELP analysis_run_reconcile Analysis Run reconciliation performance.".into(),
        r#"analysis_run_reconcile_bucket{le="0.25",namespace="ns",name="r1"} 0"#.into(),
        r#"analysis_run_reconcile_bucket{le="0.5",namespace="ns",name="r1"} 1"#.into(),
        r#"analysis_run_reconcile_error{namespace="ns",name="r1"} 1"#.into(),
        // Our aggregates stay.
        "rollout_reconciles_total 1".into(),
        r#"rollout_reconcile_failures_total{error="api"} 2"#.into(),
    ] {
        assert!(out.lines().any(|x| x == line), "missing {line}\n{out}");
    }
}

#[test]
fn without_the_flag_there_are_no_per_object_series() {
    let web = ro("shop", "web");
    let mut registry = Registry::default();
    let m = Metrics::register(&mut registry);
    let _a = m.attach(
        false,
        Sources {
            rollouts: store(vec![web.clone()]),
            runs: None,
        },
    );
    m.rollout_reconciled(&web, Duration::from_millis(5));
    m.rollout_failed(&web, "conflict");
    m.rollout_event(
        &web,
        &Event {
            kind: EventType::Warning,
            reason: "RolloutAborted".into(),
            message: "m".into(),
        },
    );
    let out = text(&registry);
    assert!(!out.contains("web") && !out.contains("shop"), "{out}");
    assert!(out.contains("rollout_reconciles_total 1"), "{out}");
    assert!(
        out.contains(r#"argo_rollouts_controller_info{version="v0.1.0"} 1"#),
        "{out}"
    );
    // The cache keeps metadata only.
    let mut full = web.clone();
    full.spec = json!({"replicas": 3});
    full.status = json!({"replicas": 3});
    trim_cached_rollout(&mut full, false);
    assert_eq!((full.spec, full.status), (Value::Null, Value::Null));
}

#[test]
fn series_of_deleted_objects_are_dropped_after_the_cleanup_delay() {
    let (kept, gone) = (ro("ns", "kept"), ro("ns", "gone"));
    let mut registry = Registry::default();
    let m = Metrics::register(&mut registry);
    let a = m.attach(
        true,
        Sources {
            rollouts: store(vec![kept.clone()]),
            runs: Some(store(vec![])),
        },
    );
    let gone_run = run("gone-run", json!({}), Value::Null);
    for r in [&kept, &gone] {
        m.rollout_reconciled(r, Duration::from_millis(2));
        m.rollout_event(
            r,
            &Event {
                kind: EventType::Normal,
                reason: "RolloutCompleted".into(),
                message: "m".into(),
            },
        );
    }
    m.run_reconciled(&gone_run, Duration::from_millis(2), false);
    m.objects.prune(Instant::now());
    assert!(
        text(&registry).contains(r#"name="gone""#),
        "kept during the delay"
    );
    m.objects
        .prune(Instant::now() + CLEANUP_DELAY + Duration::from_secs(1));
    let out = text(&registry);
    assert!(!out.contains("gone"), "{out}");
    assert!(
        out.contains(r#"rollout_reconcile_count{namespace="ns",name="kept"} 1"#),
        "{out}"
    );
    assert!(out.contains(
        r#"rollout_events_total{namespace="ns",name="kept",type="Normal",reason="RolloutCompleted"} 1"#
    ));
    // When the controller run ends, the gauges go with its caches.
    assert!(
        out.contains(r#"rollout_info{namespace="ns",name="kept""#),
        "{out}"
    );
    drop(a);
    assert!(!text(&registry).contains("rollout_info"));
}
