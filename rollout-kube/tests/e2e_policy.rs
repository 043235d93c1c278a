//! End-to-end: the trigger policy on a real kube-apiserver. The controller (as its
//! least-privilege ServiceAccount) reads the `rollout-policy` ConfigMap in its install namespace;
//! a Rollout annotated `rollout.io/trigger: oncall` whose step analysis fails is held (paused
//! with `PolicyHold` and a `Why` naming the failed analysis and the trigger), not aborted, while
//! an unannotated Rollout (the default trigger, `rollback`) aborts as before. A person then aborts
//! the held one. An invalid policy is reported on the Rollouts with its field path.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use rollout_kube::ControllerConfig;
use rollout_kube::policy::{DEFAULT_POLICY_NAMESPACE, POLICY_CONFIGMAP, POLICY_KEY};
use rollout_kube::resources::Rollout;
use serde_json::{Value, json};

const POLICY: &str = "kind: RolloutPolicy
default: internal
triggers:
  internal: {onFailure: rollback}
  oncall: {onFailure: hold}
";

fn pause_reasons(ro: &Rollout) -> Vec<String> {
    ro.status
        .get("pauseConditions")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|p| p["reason"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn held(ro: &Rollout) -> bool {
    pause_reasons(ro).iter().any(|r| r == "PolicyHold")
}

fn policy_why(ro: &Rollout) -> Option<&Value> {
    ro.status
        .get("why")
        .and_then(Value::as_array)?
        .iter()
        .find(|w| w["reason"] == "PolicyHold")
}

fn invalid_policy(ro: &Rollout) -> Option<&Value> {
    ro.status
        .get("conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == "InvalidPolicy")
}

async fn set_policy_text(c: &Cluster, text: &str) {
    let patch = json!({"data": {POLICY_KEY: text}});
    Api::<ConfigMap>::namespaced(c.admin.clone(), DEFAULT_POLICY_NAMESPACE)
        .patch(POLICY_CONFIGMAP, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_analysis_is_held_for_a_person_when_the_policy_says_so() {
    let Some(c) = cluster("policy").await else { return };
    let cm: ConfigMap = serde_json::from_value(json!({
        "metadata": {"name": POLICY_CONFIGMAP, "namespace": DEFAULT_POLICY_NAMESPACE},
        "data": {POLICY_KEY: POLICY}
    }))
    .unwrap();
    Api::<ConfigMap>::namespaced(c.admin.clone(), DEFAULT_POLICY_NAMESPACE)
        .create(&PostParams::default(), &cm)
        .await
        .unwrap();
    // A `web` metric that always reports the canary unhealthy.
    let (port, server) = json_endpoint(|_| ("200 OK", r#"{"ok": false}"#.to_string())).await;
    common::create_health_template(&c.admin, &c.ns, port, 2).await;
    let providers = common::web_providers();
    let config = ControllerConfig {
        namespace: Some(c.ns.clone()),
        ..Default::default()
    };
    let ctrl = spawn_controller(&c, config, Some(providers));

    let steps =
        json!([{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "health"}]}}, {"pause": {}}]);
    let mut oncall = rollout("oncall", 2, steps.clone(), "example.invalid/oncall:v1");
    oncall["metadata"]["annotations"] = json!({"rollout.io/trigger": "oncall"});
    create(&c, oncall).await;
    create(&c, rollout("internal", 2, steps, "example.invalid/internal:v1")).await;
    let v1 = wait_for(&c, "oncall", 90, "oncall v1 Healthy", healthy_at_new_revision).await;
    wait_for(&c, "internal", 90, "internal v1 Healthy", healthy_at_new_revision).await;
    let stable = text(&v1, "stableRS").to_string();
    set_image(&c, "oncall", "example.invalid/oncall:v2").await;
    set_image(&c, "internal", "example.invalid/internal:v2").await;

    // The oncall trigger holds: paused at the analysis step, not aborted, saying why.
    let ro = wait_for(&c, "oncall", 120, "oncall held by the policy", held).await;
    assert_ne!(ro.status.get("abort"), Some(&json!(true)), "{:#}", ro.status);
    assert_eq!(phase(&ro), "Paused", "{:#}", ro.status);
    assert_eq!(step_index(&ro), 1);
    let why = policy_why(&ro).expect("status.why names the hold");
    assert_eq!(why["cause"], "AnalysisFailed");
    assert_eq!(why["condition"], "Paused");
    assert_eq!(why["policy"]["trigger"], "oncall");
    assert_eq!(why["run"]["phase"], "Failed");
    // The default trigger rolls back, as without a policy.
    let internal = wait_for(&c, "internal", 120, "internal aborted", |r| {
        phase(r) == "Degraded"
    })
    .await;
    assert!(
        text(&internal, "message").contains("RolloutAborted"),
        "{:#}",
        internal.status
    );
    assert!(!held(&internal));

    // Held means held: nothing moves, the stable stays v1.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still = rollouts(&c).get("oncall").await.unwrap();
    assert!(held(&still), "{:#}", still.status);
    assert_eq!(text(&still, "stableRS"), stable);
    assert_ne!(still.status.get("abort"), Some(&json!(true)));

    // An invalid policy is not applied and is reported with its field path.
    set_policy_text(&c, "default: nobody\ntriggers: {oncall: {onFailure: hold}}\n").await;
    let start = std::time::Instant::now();
    while !ctrl.metrics_text().contains("rollout_policy_invalid_total 1") {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            ctrl.metrics_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ctrl.metrics_text().contains("rollout_policy_valid 0"));
    let reported = wait_for(&c, "internal", 60, "InvalidPolicy condition", |r| {
        invalid_policy(r).is_some()
    })
    .await;
    let cond = invalid_policy(&reported).unwrap();
    assert_eq!(cond["reason"], "InvalidPolicy");
    let message = cond["message"].as_str().unwrap();
    assert!(message.starts_with("policy not applied: default: "), "{message}");
    let events = rollout_events(&c, "Rollout", "internal").await;
    assert!(events.iter().any(|e| e.0 == "InvalidPolicy"), "{events:?}");
    // Fixed: the condition goes away.
    set_policy_text(&c, POLICY).await;
    wait_for(&c, "internal", 60, "InvalidPolicy cleared", |r| {
        invalid_policy(r).is_none()
    })
    .await;

    // A person aborts the held Rollout: it rolls back to v1.
    rollout_kube::ops::abort(&c.admin, &c.ns, "oncall").await.unwrap();
    let aborted = wait_for(&c, "oncall", 90, "oncall aborted by a person", |r| {
        phase(r) == "Degraded"
    })
    .await;
    assert!(!held(&aborted));
    let canary = text(&aborted, "currentPodHash").to_string();
    wait_for_stable_restored(&c, "oncall", &stable, &canary, 2).await;

    ctrl.shutdown().await;
    server.abort();
}
