//! Traffic weight vs canary readiness (upstream `rollout/trafficrouting.go`): the weight moves
//! to a step's `setWeight` (or to the maximum after the last step) only once the canary is at
//! its desired counts; until then it stays at the last `setWeight` before the current index.

mod rollout_support;

use proptest::prelude::*;
use rollout_core::rollout::{Action, Rollout, reconcile};
use rollout_core::testing::strategies::{self, UserEvent};
use rollout_core::testing::{FakeCluster, invariants};
use rollout_support::*;
use serde_json::json;

fn alb(replicas: i32, steps: serde_json::Value) -> Rollout {
    canary(
        replicas,
        steps,
        json!({
            "canaryService": "demo-canary", "stableService": "demo-stable",
            "trafficRouting": {"alb": {"ingress": "demo", "servicePort": 80}}
        }),
    )
}

/// Makes one more pod of the current (canary) ReplicaSet available.
fn one_more_canary_pod(c: &mut FakeCluster) {
    let hash = c.rollout.status.current_pod_hash.clone();
    if let Some(rs) = c
        .observed
        .replica_sets
        .iter_mut()
        .find(|r| r.pod_template_hash == hash)
        && rs.available < rs.replicas
    {
        rs.ready += 1;
        rs.available += 1;
    }
}

/// Each traffic weight set, with the canary's available pods when it was set.
fn weights_with_ready_canary(c: &mut FakeCluster, ticks: usize) -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    for _ in 0..ticks {
        let hash = c.rollout.status.current_pod_hash.clone();
        let ready = c.rs(&hash).map_or(0, |r| r.available);
        for a in c.tick().actions {
            if let Action::SetTrafficWeight { weight, .. } = a {
                out.push((weight, ready));
            }
        }
        c.advance(1);
        one_more_canary_pod(c);
    }
    out
}

#[test]
fn weight_waits_for_the_whole_canary_after_the_last_step() {
    let mut c = deployed(alb(5, json!([{"setWeight": 40}])));
    c.set_image("demo:v2");
    c.auto_ready = false;
    let seen = weights_with_ready_canary(&mut c, 20);
    // 0 while the canary has no pod, 40 once its 2 pods (ceil 40% of 5) are up, then still 40
    // while it grows to 5 after the last step, 100 only at 5/5, and 0 once promoted.
    assert_eq!(seen, vec![(0, 0), (40, 2), (100, 5), (0, 5)]);
    assert_eq!(c.rollout.status.stable_rs, c.rollout.status.current_pod_hash);
}

#[test]
fn weight_stays_at_the_previous_step_while_a_later_step_scales_up() {
    let mut c = deployed(alb(10, json!([{"setWeight": 20}, {"setWeight": 50}])));
    c.set_image("demo:v2");
    c.auto_ready = false;
    let seen = weights_with_ready_canary(&mut c, 30);
    assert_eq!(seen, vec![(0, 0), (20, 2), (50, 5), (100, 10), (0, 10)]);
}

fn check_every_tick(c: &mut FakeCluster) -> Result<(), TestCaseError> {
    let d = reconcile(&c.rollout, &c.observed, c.now, &c.inputs);
    invariants::traffic_weight_backed_by_available_canary(c, &d).map_err(TestCaseError::fail)?;
    c.apply(&d);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// Traffic weight never exceeds the share of available canary pods' step, for every
    /// generated traffic-routed spec and user-event sequence, with pods coming up one at a time.
    #[test]
    fn traffic_weight_never_exceeds_available_canary_share(
        ro in strategies::traffic_routed_rollout(),
        events in strategies::event_sequence(),
        slow in any::<bool>(),
    ) {
        let mut c = deployed(ro);
        c.set_image("demo:v2");
        c.auto_ready = !slow;
        for e in &events {
            for _ in 0..3 {
                check_every_tick(&mut c)?;
                c.advance(1);
                one_more_canary_pod(&mut c);
            }
            match e {
                // `promote` on a running step skips it, and upstream then moves the weight to
                // the skipped step's at once: an operator's override, not the controller's.
                UserEvent::Promote => c.promote_if_paused(),
                e => c.user_event(e),
            }
        }
        for _ in 0..60 {
            check_every_tick(&mut c)?;
            c.advance(5);
            one_more_canary_pod(&mut c);
            c.promote_if_paused();
        }
    }
}
