//! Traffic-routed canaries: weights, setCanaryScale, dynamicStableScale, scale-down delays.

mod rollout_support;

use rollout_core::rollout::{Action, RolloutPhase};
use rollout_core::testing::FakeCluster;
use rollout_support::*;
use serde_json::json;

fn tr(replicas: i32, steps: serde_json::Value, extra: serde_json::Value) -> rollout_core::rollout::Rollout {
    let mut base = json!({
        "canaryService": "demo-canary", "stableService": "demo-stable",
        "trafficRouting": {"alb": {"ingress": "demo", "servicePort": 80}}
    });
    if let (Some(b), Some(e)) = (base.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    canary(replicas, steps, base)
}

fn weights(c: &FakeCluster) -> Vec<i32> {
    c.log
        .iter()
        .filter_map(|a| match a {
            Action::SetTrafficWeight { weight, .. } => Some(*weight),
            _ => None,
        })
        .collect()
}

fn selector(c: &FakeCluster, svc: &str) -> Option<String> {
    c.observed
        .services
        .iter()
        .find(|s| s.name == svc)
        .and_then(|s| s.selector_hash.clone())
}

#[test]
fn weights_follow_steps_and_stable_stays_full() {
    let mut c = deployed(tr(
        10,
        json!([{"setWeight": 15}, {"pause": {}}, {"setWeight": 60}]),
        json!({}),
    ));
    let v1 = c.rollout.status.stable_rs.clone();
    assert_eq!(selector(&c, "demo-stable").as_deref(), Some(v1.as_str()));
    c.set_image("demo:v2");
    tick_until(&mut c, 20, |c| c.rollout.status.controller_pause);
    let v2 = c.rollout.status.current_pod_hash.clone();
    assert_eq!(
        c.stable_and_canary(),
        (10, 2),
        "ceil(15% of 10) canaries, stable at 100%"
    );
    assert_eq!(selector(&c, "demo-canary").as_deref(), Some(v2.as_str()));
    assert_eq!(
        c.rollout.status.canary.weights.as_ref().unwrap().canary.weight,
        15
    );
    c.promote();
    c.settle(60, true);
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    // 0 with the stable hash (promoted), 0 re-pointed at v2, the steps, 100 at the end, 0 once v2 is stable
    assert_eq!(weights(&c), vec![0, 0, 15, 60, 100, 0]);
    // old stable kept for scaleDownDelaySeconds (30s) then scaled to 0
    assert!(c.log.iter().any(|a| matches!(
        a,
        Action::SetScaleDownDeadline {
            deadline: Some(_),
            ..
        }
    )));
    assert_eq!(c.rs(&v1).unwrap().replicas, 0);
    assert_eq!(selector(&c, "demo-stable").as_deref(), Some(v2.as_str()));
}

#[test]
fn scale_down_delay_keeps_old_stable_for_30s() {
    let mut c = deployed(tr(2, json!([{"setWeight": 50}]), json!({})));
    let v1 = c.rollout.status.stable_rs.clone();
    c.set_image("demo:v2");
    tick_until(&mut c, 30, |c| c.rollout.status.stable_rs != v1);
    tick_until(&mut c, 10, |c| c.rs(&v1).unwrap().scale_down_deadline.is_some());
    let deadline = c.rs(&v1).unwrap().scale_down_deadline.unwrap();
    assert_eq!(c.rs(&v1).unwrap().replicas, 2, "kept during the delay");
    let d = c.tick();
    assert_eq!(d.next_wake, Some(deadline));
    c.now = deadline;
    c.tick();
    assert_eq!(c.rs(&v1).unwrap().replicas, 0);
}

#[test]
fn fixture_07_set_canary_scale_and_abort_delay() {
    let mut c = deployed(fixture("07-canary-scaledownonabort.yaml"));
    c.set_image("nginx:1.20-alpine");
    tick_until(&mut c, 20, |c| c.rollout.status.controller_pause);
    let v2 = c.rollout.status.current_pod_hash.clone();
    assert_eq!(
        c.stable_and_canary(),
        (1, 1),
        "setCanaryScale replicas 1 without traffic"
    );
    assert_eq!(c.rollout.status.canary.weights.as_ref().unwrap().canary.weight, 0);
    c.abort();
    let mut annotated_at = None;
    for _ in 0..10 {
        let now = c.now;
        let d = c.tick();
        if d.actions.iter().any(|a| {
            matches!(
                a,
                Action::SetScaleDownDeadline {
                    deadline: Some(_),
                    ..
                }
            )
        }) {
            annotated_at = Some(now);
            break;
        }
        c.advance(1);
    }
    let annotated_at = annotated_at.expect("abort deadline annotated");
    assert_eq!(
        c.rs(&v2).unwrap().replicas,
        1,
        "kept for abortScaleDownDelaySeconds"
    );
    assert_eq!(
        c.rs(&v2).unwrap().scale_down_deadline,
        Some(annotated_at + jiff::SignedDuration::from_secs(1))
    );
    c.settle(20, true);
    assert_eq!(c.rs(&v2).unwrap().replicas, 0);
    let stable = c.rollout.status.stable_rs.clone();
    assert_eq!(
        selector(&c, "canary-scaledowndelay-canary").as_deref(),
        Some(stable.as_str())
    );
}

#[test]
fn abort_delay_zero_keeps_set_canary_scale() {
    // issue #1841: explicit 0 keeps the canary only while a setCanaryScale is in effect
    let mut c = deployed(tr(
        4,
        json!([{"setCanaryScale": {"replicas": 2}}, {"pause": {}}]),
        json!({"abortScaleDownDelaySeconds": 0}),
    ));
    c.set_image("demo:v2");
    tick_until(&mut c, 20, |c| c.rollout.status.controller_pause);
    let v2 = c.rollout.status.current_pod_hash.clone();
    c.abort();
    c.settle(30, true);
    assert_eq!(c.rs(&v2).unwrap().replicas, 2, "never scaled down");
    // without setCanaryScale the abort weight 0 gives 0 canaries at once
    let mut c = deployed(tr(
        4,
        json!([{"setWeight": 50}, {"pause": {}}]),
        json!({"abortScaleDownDelaySeconds": 0}),
    ));
    c.set_image("demo:v2");
    tick_until(&mut c, 20, |c| c.rollout.status.controller_pause);
    let v2 = c.rollout.status.current_pod_hash.clone();
    assert_eq!(c.rs(&v2).unwrap().replicas, 2);
    c.abort();
    c.settle(30, true);
    assert_eq!(c.rs(&v2).unwrap().replicas, 0);
}

#[test]
fn fixture_06_dynamic_stable_scale() {
    let mut c = deployed(fixture("06-canary-dynamic-stable-scale.yaml"));
    c.set_image("nginx:1.20-alpine");
    tick_until(&mut c, 30, |c| c.rollout.status.controller_pause);
    // 25% of 4: canary 1, stable scales down to 3 once traffic moved
    c.settle(10, false);
    assert_eq!(c.stable_and_canary(), (3, 1));
    c.promote();
    tick_until(&mut c, 30, |c| c.rollout.status.current_step_index == Some(3));
    c.settle(10, false);
    assert_eq!(c.stable_and_canary(), (1, 3));
    // abort: traffic and pods drain back gradually, ending at stable 4 / canary 0
    c.abort();
    c.settle(60, true);
    assert_eq!(c.stable_and_canary(), (4, 0));
    assert_eq!(c.rollout.status.canary.weights.as_ref().unwrap().canary.weight, 0);
}

#[test]
fn min_pods_per_replica_set() {
    let mut c = deployed(tr(
        10,
        json!([{"setWeight": 5}, {"pause": {}}]),
        json!({"minPodsPerReplicaSet": 2}),
    ));
    c.set_image("demo:v2");
    tick_until(&mut c, 20, |c| c.rollout.status.controller_pause);
    assert_eq!(c.stable_and_canary(), (10, 2));
}

#[test]
fn traffic_stays_at_previous_weight_until_pods_ready() {
    let mut c = deployed(tr(
        4,
        json!([{"setWeight": 25}, {"setWeight": 50}, {"pause": {}}]),
        json!({}),
    ));
    c.set_image("demo:v2");
    c.auto_ready = false;
    for _ in 0..5 {
        c.tick();
        c.advance(1);
    }
    assert_eq!(weights(&c).last(), Some(&0), "no traffic to unready canary");
    c.make_ready();
    c.auto_ready = true;
    tick_until(&mut c, 20, |c| c.rollout.status.controller_pause);
    assert_eq!(weights(&c), vec![0, 0, 25, 50]);
}

#[test]
fn scale_down_delay_revision_limit_scales_extra_old_replicasets_now() {
    let mut c = deployed(tr(
        2,
        json!([{"setWeight": 50}]),
        json!({"scaleDownDelaySeconds": 600, "scaleDownDelayRevisionLimit": 1}),
    ));
    let v1 = c.rollout.status.stable_rs.clone();
    c.set_image("demo:v2");
    tick_until(&mut c, 30, |c| {
        c.rs(&v1).is_some_and(|r| r.scale_down_deadline.is_some())
    });
    let v2 = c.rollout.status.stable_rs.clone();
    c.set_image("demo:v3");
    tick_until(&mut c, 30, |c| {
        c.rs(&v2).is_some_and(|r| r.scale_down_deadline.is_some())
    });
    c.settle(10, false);
    // Two delayed RSs but a limit of 1: the older one goes to 0 without waiting 600s.
    assert_eq!(c.rs(&v2).unwrap().replicas, 2);
    assert_eq!(c.rs(&v1).unwrap().replicas, 0);
}

#[test]
fn replica_progress_threshold_lets_steps_advance_early() {
    let ro = tr(
        10,
        json!([{"setWeight": 50}, {"pause": {}}]),
        json!({"replicaProgressThreshold": {"type": "Percent", "value": 60}}),
    );
    let mut c = deployed(ro);
    c.set_image("demo:v2");
    c.auto_ready = false;
    for _ in 0..3 {
        c.tick();
        c.advance(1);
    }
    let v2 = c.rollout.status.current_pod_hash.clone();
    assert_eq!(c.rs(&v2).unwrap().replicas, 5);
    for rs in &mut c.observed.replica_sets {
        if rs.pod_template_hash == v2 {
            rs.available = 2; // 40% < 60%
            rs.ready = 2;
        }
    }
    c.tick();
    assert_eq!(c.rollout.status.current_step_index, Some(0));
    for rs in &mut c.observed.replica_sets {
        if rs.pod_template_hash == v2 {
            rs.available = 3; // 60%
            rs.ready = 3;
        }
    }
    c.tick();
    assert_eq!(c.rollout.status.current_step_index, Some(1));
}
