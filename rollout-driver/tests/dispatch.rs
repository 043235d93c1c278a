//! The driver's dispatcher and failure policy: each action reaches its adapter, and every driver
//! gets the same rule for a missing router, a refused event, a refused ReplicaSet write and an
//! unreadable spec. (Formerly rollout-core's `rollout_adapters.rs`.)

mod support;

use rollout_core::rollout::{Action, ConditionType, Event, EventType, RolloutPhase};
use rollout_driver::{Applied, DriverError, RolloutDriver};
use support::*;

#[test]
fn dispatch_routes_each_action_kind() {
    let m = Mem::new(Default::default());
    let with_router = RolloutDriver::new(m.io(true));
    let without = RolloutDriver::new(m.io(false));
    let ro = m.c().rollout.clone();
    let w = Action::SetTrafficWeight {
        canary_hash: "a".into(),
        stable_hash: "b".into(),
        weight: 20,
    };
    assert_eq!(block_on(with_router.dispatch(&ro, &w)).unwrap(), Applied::Written);
    assert!(matches!(
        block_on(without.dispatch(&ro, &w)),
        Err(DriverError::NoRouter)
    ));
    m.faults.lock().unwrap().terminate = true;
    let t = Action::TerminateAnalysisRun { name: "r".into() };
    assert_eq!(
        block_on(without.dispatch(&ro, &t)).unwrap_err().to_string(),
        "TerminateAnalysisRun: AnalysisRun \"r\" not found"
    );
    let e = Action::Event(Event {
        kind: EventType::Normal,
        reason: "X".into(),
        message: String::new(),
    });
    assert_eq!(block_on(without.dispatch(&ro, &e)).unwrap(), Applied::Unchanged);
    let d = Action::DeleteAnalysisRun { name: "old".into() };
    block_on(without.dispatch(&ro, &d)).unwrap();
    let s = Action::DeleteReplicaSet { name: "x".into() };
    block_on(without.dispatch(&ro, &s)).unwrap();
    assert_eq!(m.calls(), vec!["weight 20", "event X", "delete old", "workload"]);
}

/// Ticks with auto-ready pods, one second apart, until Healthy (at most `n` ticks).
fn run_to_healthy(m: &Mem, driver: &mut RolloutDriver, n: usize) -> usize {
    for i in 0..n {
        let now = m.c().now;
        let out = block_on(driver.tick(now)).unwrap();
        if out.phase_after == Some(RolloutPhase::Healthy) && out.decision.actions.is_empty() {
            return i;
        }
        m.c().advance(1);
    }
    panic!("not Healthy after {n} ticks: {:?}", m.c().rollout.status.message);
}

#[test]
fn lifecycle_through_the_driver() {
    let m = Mem::new(canary_rollout(true));
    m.c().auto_ready = true;
    let mut driver = RolloutDriver::new(m.io(true));
    run_to_healthy(&m, &mut driver, 20);
    m.c().set_image("a:2");
    for _ in 0..20 {
        let now = m.c().now;
        block_on(driver.tick(now)).unwrap();
        m.c().advance(1);
    }
    assert_eq!(m.c().rollout.status.phase, Some(RolloutPhase::Paused));
    assert!(m.calls().contains(&"weight 50".to_string()));
    m.c().promote();
    run_to_healthy(&m, &mut driver, 20);
    let c = m.c();
    assert_eq!(c.rollout.status.stable_rs, c.rollout.status.current_pod_hash);
}

#[test]
fn a_routed_rollout_without_a_router_is_an_error_not_a_no_op() {
    let m = Mem::new(canary_rollout(true));
    m.c().auto_ready = true;
    let mut driver = RolloutDriver::new(m.io(false));
    let mut saw = false;
    for _ in 0..10 {
        let now = m.c().now;
        match block_on(driver.tick(now)) {
            Err(DriverError::NoRouter) => {
                saw = true;
                break;
            }
            Err(e) => panic!("{e}"),
            Ok(_) => m.c().advance(1),
        }
    }
    assert!(saw, "SetTrafficWeight without a router must fail the tick");
    // A replica-based canary needs no router.
    let m = Mem::new(canary_rollout(false));
    m.c().auto_ready = true;
    run_to_healthy(&m, &mut RolloutDriver::new(m.io(false)), 20);
}

#[test]
fn refused_events_are_counted_never_fatal() {
    let m = Mem::new(canary_rollout(true));
    m.faults.lock().unwrap().events = true;
    let mut driver = RolloutDriver::new(m.io(true));
    let now = m.c().now;
    let out = block_on(driver.tick(now)).unwrap();
    assert!(out.events_failed > 0);
    assert!(out.status_written);
}

#[test]
fn a_refused_replica_write_records_replica_failure_on_the_unchanged_status() {
    let m = Mem::new(canary_rollout(true));
    m.faults.lock().unwrap().replica_reason = Some("Forbidden".into());
    let mut driver = RolloutDriver::new(m.io(true));
    let before = m.c().rollout.status.clone();
    let now = m.c().now;
    let err = block_on(driver.tick(now)).unwrap_err();
    assert!(
        matches!(
            err,
            DriverError::Action {
                action: "CreateReplicaSet",
                ..
            }
        ),
        "{err}"
    );
    let st = m.c().rollout.status.clone();
    let c = st.condition(ConditionType::ReplicaFailure).unwrap();
    assert_eq!(c.reason, "Forbidden");
    assert_eq!(c.message, "create ReplicaSet: refused by the fake");
    assert_eq!(st.phase, before.phase, "nothing advanced");
    // Once the server accepts, the condition goes away.
    m.faults.lock().unwrap().replica_reason = None;
    block_on(driver.tick(now)).unwrap();
    assert!(
        m.c()
            .rollout
            .status
            .condition(ConditionType::ReplicaFailure)
            .is_none()
    );
}

#[test]
fn an_unreadable_spec_is_recorded_as_invalid_spec_and_nothing_else() {
    let m = Mem::new(canary_rollout(true));
    m.faults.lock().unwrap().invalid = Some("spec.replicas: invalid type: string".into());
    let mut driver = RolloutDriver::new(m.io(true));
    let now = m.c().now;
    let out = block_on(driver.tick(now)).unwrap();
    assert!(out.status_written);
    assert_eq!(m.calls(), vec!["persist"]);
    let st = m.c().rollout.status.clone();
    assert_eq!(st.phase, Some(RolloutPhase::Degraded));
    assert_eq!(st.message, "InvalidSpec: spec.replicas: invalid type: string");
    assert_eq!(
        st.observed_generation, "1",
        "an unreadable spec is an observed one"
    );
    m.faults.lock().unwrap().gone = true;
    let out = block_on(driver.tick(now)).unwrap();
    assert!(!out.status_written && out.decision.actions.is_empty());
}
