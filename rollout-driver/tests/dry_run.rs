//! Dry run through the driver: per Rollout (annotation) and driver-wide, nothing reaches the
//! workload, router or AnalysisRun adapters; events and one status write record what would have
//! been done, once, and ticking again with nothing changed writes and emits nothing.

mod support;

use rollout_core::rollout::dry_run::{ACTIONS_WITHHELD, DRY_RUN_ANNOTATION};
use rollout_core::rollout::{Action, ConditionType};
use rollout_driver::RolloutDriver;
use support::*;

fn annotated(value: &str) -> Mem {
    let mut ro = canary_rollout(true);
    ro.metadata
        .annotations
        .insert(DRY_RUN_ANNOTATION.into(), value.into());
    Mem::new(ro)
}

#[test]
fn dry_run_records_once_and_touches_nothing() {
    for (m, driver_wide) in [(annotated("true"), false), (Mem::new(canary_rollout(true)), true)] {
        let mut driver = RolloutDriver::new(m.io(true)).with_dry_run(driver_wide);
        let now = m.c().now;
        let first = block_on(driver.tick(now)).unwrap();
        let withheld = first.withheld.clone().expect("a dry run");
        assert!(
            withheld
                .iter()
                .any(|a| matches!(a, Action::CreateReplicaSet { replicas: 2, .. })),
            "{withheld:?}"
        );
        assert!(m.c().observed.replica_sets.is_empty(), "no ReplicaSet created");
        let calls = m.calls();
        assert!(
            calls.iter().all(|c| c.starts_with("event ") || c == "persist"),
            "only events and the status: {calls:?}"
        );
        let dry_events = calls.iter().filter(|c| *c == "event DryRun").count();
        assert_eq!(
            dry_events,
            withheld.len(),
            "one event per withheld action: {calls:?}"
        );
        assert_eq!(calls.iter().filter(|c| *c == "persist").count(), 1);
        let status = m.c().rollout.status.clone();
        let cond = status.condition(ConditionType::DryRun).expect("DryRun condition");
        assert_eq!(cond.reason, ACTIONS_WITHHELD);
        assert!(cond.message.contains("create ReplicaSet"), "{}", cond.message);
        assert!(
            status.current_pod_hash.is_empty(),
            "the machine's progress is not recorded"
        );

        // Nothing changed: the same decision, nothing written or emitted, ten times over.
        for i in 1..=10 {
            m.c().advance(5);
            let now = m.c().now;
            let again = block_on(driver.tick(now)).unwrap();
            assert_eq!(again.withheld, Some(withheld.clone()), "tick {i}");
            assert!(
                !again.status_written && again.decision.actions.is_empty(),
                "tick {i}"
            );
        }
        assert_eq!(m.calls(), calls, "no event storm, no status writes");

        // Dry run off: the machine acts, and the condition goes.
        m.c().rollout.metadata.annotations.clear();
        let mut live = RolloutDriver::new(m.io(true));
        let now = m.c().now;
        let out = block_on(live.tick(now)).unwrap();
        assert!(out.withheld.is_none());
        assert_eq!(m.c().observed.replica_sets.len(), 1);
        assert!(m.c().rollout.status.condition(ConditionType::DryRun).is_none());
    }
}

#[test]
fn other_annotation_values_run_live() {
    let m = annotated("false");
    let mut driver = RolloutDriver::new(m.io(true));
    let now = m.c().now;
    let out = block_on(driver.tick(now)).unwrap();
    assert!(out.withheld.is_none());
    assert_eq!(m.c().observed.replica_sets.len(), 1);
}
