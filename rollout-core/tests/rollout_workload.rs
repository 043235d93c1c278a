//! workloadRef + scaleDown, and the rollback window.

mod rollout_support;

use rollout_core::rollout::{Action, ObservedWorkload, RolloutPhase};
use rollout_core::testing::FakeCluster;
use rollout_support::*;
use serde_json::json;

fn workload_cluster(scale_down: &str, deployment_replicas: i32) -> FakeCluster {
    let mut ro = fixture("05-workload-ref.yaml");
    ro.spec.workload_ref.as_mut().unwrap().scale_down = Some(scale_down.to_string());
    let mut c = FakeCluster::new(ro, t0());
    c.observed.workload = Some(ObservedWorkload {
        template: json!({"metadata": {"labels": {"app": "rollout-ref-deployment"}},
                         "spec": {"containers": [{"name": "rollouts-demo", "image": "argoproj/rollouts-demo:blue"}]}}),
        selector: serde_json::from_value(json!({"matchLabels": {"app": "rollout-ref-deployment"}})).ok(),
        generation: 1,
        replicas: deployment_replicas,
    });
    c
}

fn deployment_replicas(c: &FakeCluster) -> i32 {
    c.observed.workload.as_ref().unwrap().replicas
}

#[test]
fn missing_workload_is_invalid_spec() {
    let mut c = workload_cluster("never", 5);
    c.observed.workload = None;
    let d = c.tick();
    assert!(d.actions.is_empty());
    assert_eq!(
        c.rollout.status.message,
        "InvalidSpec: spec.workloadRef: Required value: workload Deployment \"rollout-ref-deployment\" was not observed"
    );
}

#[test]
fn never_leaves_the_deployment_alone() {
    let mut c = workload_cluster("never", 5);
    c.settle(40, true);
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(deployment_replicas(&c), 5);
    assert!(!c.log.iter().any(|a| matches!(a, Action::ScaleWorkload { .. })));
    assert_eq!(c.rollout.status.workload_observed_generation, "1");
    assert_eq!(c.rollout.status.selector, "app=rollout-ref-deployment");
}

#[test]
fn onsuccess_drains_after_healthy() {
    let mut c = workload_cluster("onsuccess", 5);
    let mut seen_before_healthy = false;
    for _ in 0..40 {
        let was_healthy = c.rollout.status.phase == Some(RolloutPhase::Healthy);
        let d = c.tick();
        if d.actions
            .iter()
            .any(|a| matches!(a, Action::ScaleWorkload { replicas: 0, .. }))
        {
            seen_before_healthy |= !was_healthy;
        }
        c.advance(1);
    }
    assert!(!seen_before_healthy, "only after the persisted phase was Healthy");
    assert_eq!(deployment_replicas(&c), 0);
}

#[test]
fn progressively_shrinks_as_rollout_pods_get_ready() {
    let mut c = workload_cluster("progressively", 5);
    c.auto_ready = false;
    c.tick(); // creates the RS at 5
    c.advance(1);
    c.tick(); // initial deploy promotes stable
    for rs in &mut c.observed.replica_sets {
        rs.ready = 2;
        rs.available = 2;
    }
    c.tick(); // status: 2 ready
    c.tick(); // drain: 5 - 2
    assert_eq!(deployment_replicas(&c), 3);
    c.make_ready();
    c.settle(20, false);
    assert_eq!(deployment_replicas(&c), 0);
}

#[test]
fn drains_on_later_revisions_too() {
    // Upstream only drains at revision 1 (#4935); we drain until the migration completes.
    let mut c = workload_cluster("onsuccess", 5);
    c.settle(40, true);
    assert_eq!(deployment_replicas(&c), 0);
    // GitOps re-applies the Deployment at 5 while revision 2 rolls out: drained again.
    c.observed.workload.as_mut().unwrap().replicas = 5;
    c.observed.workload.as_mut().unwrap().template["spec"]["containers"][0]["image"] =
        json!("argoproj/rollouts-demo:green");
    c.observed.workload.as_mut().unwrap().generation = 2;
    c.settle(80, true);
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    assert!(c.rs(&c.rollout.status.stable_rs.clone()).unwrap().revision == 2);
    assert_eq!(deployment_replicas(&c), 0);
}

#[test]
fn rollback_window_fast_tracks() {
    let mut ro = canary(
        2,
        json!([{"setWeight": 50}, {"pause": {}}]),
        json!({"canaryService": "c", "stableService": "s",
               "trafficRouting": {"alb": {"ingress": "i", "servicePort": 80}}}),
    );
    ro.spec.rollback_window = serde_json::from_value(json!({"revisions": 2})).ok();
    let mut c = deployed(ro);
    let v1 = c.rollout.status.stable_rs.clone();
    c.set_image("demo:v2");
    tick_until(&mut c, 30, |c| c.rollout.status.controller_pause);
    c.promote();
    tick_until(&mut c, 30, |c| c.rollout.status.stable_rs != v1);
    c.tick();
    assert_eq!(c.rs(&v1).unwrap().replicas, 2, "v1 kept during scaleDownDelay");
    // roll back to v1 while it is still up: inside the window
    c.set_image("demo:v1");
    c.tick();
    assert_eq!(c.rollout.status.current_pod_hash, v1);
    assert_eq!(c.rollout.status.current_step_index, Some(2));
    assert_eq!(
        events_with(&c, "SkipSteps"),
        vec!["Rollback to active ReplicaSets within RollbackWindow".to_string()]
    );
    c.settle(60, true);
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(c.rollout.status.stable_rs, v1);
    assert_eq!(
        last_event(&c, "RolloutCompleted").unwrap().message,
        format!("Rollout completed update to revision 3 ({v1}): Rollback within window")
    );
}

#[test]
fn rollback_outside_window_runs_steps() {
    let mut ro = canary(2, json!([{"setWeight": 50}, {"pause": {}}]), json!({}));
    ro.spec.rollback_window = serde_json::from_value(json!({"revisions": 1})).ok();
    let mut c = deployed(ro);
    for img in ["demo:v2", "demo:v3"] {
        c.set_image(img);
        tick_until(&mut c, 30, |c| c.rollout.status.controller_pause);
        c.promote();
        c.settle(40, true);
    }
    // back to v1: two revisions ago, v2 lies between -> outside a window of 1
    c.set_image("demo:v1");
    c.tick();
    assert_eq!(c.rollout.status.current_step_index, Some(0));
    assert!(events_with(&c, "SkipSteps").is_empty());
}
