//! The fleet brake in the machine: a Rollout updating to a held image holds at its step with a
//! `FleetHold` condition and a typed cause, another update is not held, and removing the hold
//! resumes the update (condition and cause removed).

mod rollout_support;

use rollout_core::fleet::brake::{self, Brake, Hold, HoldMatch};
use rollout_core::rollout::machine::Prepared;
use rollout_core::rollout::why::Cause;
use rollout_core::rollout::{ConditionType, Rollout};
use rollout_core::testing::FakeCluster;
use rollout_support::*;
use serde_json::json;

fn demo() -> Rollout {
    canary(
        4,
        json!([{"setWeight": 25}, {"pause": {"duration": "5s"}}, {"setWeight": 50}, {"pause": {"duration": "5s"}}]),
        json!({}),
    )
}

fn held_v2() -> Brake {
    Brake {
        holds: vec![Hold {
            image: Some("demo:v2".into()),
            revision: None,
            release: "v2".into(),
            reason: "fails in 7 of 120 environments".into(),
            since: t0(),
        }],
    }
}

/// One tick with the brake's inputs, as the driver computes them.
fn tick(c: &mut FakeCluster, brake: &Brake) {
    let hash = Prepared::new(&c.rollout, &c.observed).pod_hash;
    c.inputs = Default::default();
    brake::apply(&mut c.inputs, brake.hold_for(&c.rollout, &c.observed, &hash));
    c.tick();
    c.advance(1);
}

/// Ticks (at least once) until the update is promoted, at most 60 times.
fn finish(c: &mut FakeCluster, brake: &Brake) {
    for _ in 0..60 {
        tick(c, brake);
        if done(c) {
            return;
        }
    }
}

fn done(c: &FakeCluster) -> bool {
    let st = &c.rollout.status;
    st.stable_rs == st.current_pod_hash && st.current_step_index == Some(4)
}

#[test]
fn an_update_to_a_held_image_holds_until_the_hold_is_removed() {
    let mut c = deployed(demo());
    c.set_image("demo:v2");
    let brake = held_v2();
    for _ in 0..30 {
        tick(&mut c, &brake);
    }
    let st = &c.rollout.status;
    assert_eq!(st.current_step_index, Some(0), "held at its current step");
    assert_ne!(st.stable_rs, st.current_pod_hash);
    let canary_pods: i32 = c
        .observed
        .replica_sets
        .iter()
        .filter(|rs| rs.pod_template_hash == st.current_pod_hash)
        .map(|rs| rs.replicas)
        .sum();
    assert_eq!(canary_pods, 0, "held before any exposure: no canary pods");
    let cond = st
        .condition(ConditionType::FleetHold)
        .expect("FleetHold condition");
    assert_eq!(cond.reason, "ReleaseHeld");
    assert!(
        cond.message.contains("release v2") && cond.message.contains("7 of 120"),
        "{}",
        cond.message
    );
    let why = st
        .why
        .iter()
        .find(|w| w.cause == Cause::FleetHold)
        .expect("cause");
    let cause = why.fleet_hold.as_ref().expect("hold data");
    assert_eq!(
        (cause.release.as_str(), &cause.matched),
        ("v2", &HoldMatch::Image("demo:v2".into()))
    );
    assert_eq!(events_with(&c, "FleetHold").len(), 1, "one event per change");

    // The hold is removed: the update finishes, the condition and cause go away.
    let none = Brake::default();
    finish(&mut c, &none);
    let st = &c.rollout.status;
    assert!(done(&c), "{st:#?}");
    assert!(st.condition(ConditionType::FleetHold).is_none());
    assert!(st.why.iter().all(|w| w.cause != Cause::FleetHold));
}

#[test]
fn other_updates_and_rollbacks_are_not_held() {
    let brake = held_v2();
    // An update to v3 is not held.
    let mut c = deployed(demo());
    c.set_image("demo:v3");
    finish(&mut c, &brake);
    assert!(done(&c));
    assert!(c.rollout.status.condition(ConditionType::FleetHold).is_none());

    // Healthy on v2 (released before the hold): a hold on v2 changes nothing.
    let mut c = deployed(demo());
    c.set_image("demo:v2");
    finish(&mut c, &Brake::default());
    assert!(done(&c));
    let before = c.rollout.status.clone();
    tick(&mut c, &brake);
    assert!(c.rollout.status.condition(ConditionType::FleetHold).is_none());
    assert_eq!(c.rollout.status.stable_rs, before.stable_rs);

    // Held on v2, then rolled back to v1 (the stable): the rollback is not held.
    let mut c = deployed(demo());
    c.set_image("demo:v2");
    for _ in 0..5 {
        tick(&mut c, &brake);
    }
    assert!(c.rollout.status.condition(ConditionType::FleetHold).is_some());
    c.set_image("demo:v1");
    finish(&mut c, &brake);
    let st = &c.rollout.status;
    assert_eq!(st.stable_rs, st.current_pod_hash, "{st:#?}");
    assert!(st.condition(ConditionType::FleetHold).is_none());
}

#[test]
fn an_aborted_update_carries_no_fleet_hold() {
    let brake = held_v2();
    let mut c = deployed(demo());
    c.set_image("demo:v2");
    for _ in 0..3 {
        tick(&mut c, &brake);
    }
    c.abort();
    for _ in 0..3 {
        tick(&mut c, &brake);
    }
    assert!(c.rollout.status.condition(ConditionType::FleetHold).is_none());
    assert!(c.rollout.status.why.iter().all(|w| w.cause != Cause::FleetHold));
}
