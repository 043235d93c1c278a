//! Property tests over the exported `testing` strategies (256 cases each).

use proptest::prelude::*;
use rollout_core::analysis::AnalysisPhase;
use rollout_core::rollout::{Inputs, PauseCondition, PauseReason, Rollout, reconcile};
use rollout_core::testing::strategies::{self, UserEvent};
use rollout_core::testing::{FakeCluster, invariants};

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 256,
        ..ProptestConfig::default()
    }
}

fn deployed(ro: Rollout) -> FakeCluster {
    let mut c = FakeCluster::new(ro, strategies::epoch());
    c.settle(50, true);
    c
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn basic_canary_respects_surge_and_availability(
        ro in strategies::basic_canary_rollout(),
        events in strategies::event_sequence(),
    ) {
        let mut c = deployed(ro);
        invariants::healthy(&c).map_err(TestCaseError::fail)?;
        c.set_image("demo:v2");
        for e in &events {
            for _ in 0..3 {
                c.tick();
                invariants::basic_canary_bounds(&c).map_err(TestCaseError::fail)?;
                c.advance(1);
            }
            c.user_event(e);
        }
        for _ in 0..40 {
            c.tick();
            invariants::basic_canary_bounds(&c).map_err(TestCaseError::fail)?;
            c.advance(1);
        }
    }

    #[test]
    fn abort_ends_with_stable_full_and_canary_zero(
        ro in prop_oneof![strategies::basic_canary_rollout(), strategies::traffic_routed_rollout()],
        before_abort in 0usize..20,
        promotes in 0usize..3,
    ) {
        let mut c = deployed(ro);
        c.set_image("demo:v2");
        for i in 0..before_abort {
            c.tick();
            c.advance(2);
            if i % 7 == 6 && promotes > 0 { c.promote(); }
        }
        // An abort only applies to an update in flight.
        prop_assume!(c.rollout.status.stable_rs != c.rollout.status.current_pod_hash);
        c.abort();
        c.settle(300, true);
        // abortScaleDownDelaySeconds: 0 keeps a setCanaryScale canary on purpose (#1841).
        let keeps = c.rollout.canary().is_some_and(|k| k.abort_scale_down_delay_seconds == Some(0));
        if !keeps {
            invariants::aborted_settled(&c).map_err(TestCaseError::fail)?;
        }
    }

    #[test]
    fn promote_full_ends_healthy(
        ro in prop_oneof![strategies::basic_canary_rollout(), strategies::traffic_routed_rollout()],
        events in strategies::event_sequence(),
    ) {
        let mut c = deployed(ro);
        c.set_image("demo:v2");
        for e in events.iter().filter(|e| !matches!(e, UserEvent::TogglePaused)) {
            c.tick();
            c.advance(1);
            c.user_event(e);
        }
        c.retry();
        c.rollout.spec.paused = false;
        // Let the latest template be observed first (a new template resets promoteFull).
        c.tick();
        c.advance(1);
        c.promote_full();
        c.settle(400, true);
        invariants::healthy(&c).map_err(TestCaseError::fail)?;
    }

    #[test]
    fn same_inputs_same_decision(
        ro in prop_oneof![strategies::basic_canary_rollout(), strategies::traffic_routed_rollout()],
        events in strategies::event_sequence(),
    ) {
        let mut c = deployed(ro);
        c.set_image("demo:v2");
        for e in &events {
            let a = reconcile(&c.rollout, &c.observed, c.now, &c.inputs);
            let b = reconcile(&c.rollout, &c.observed, c.now, &c.inputs);
            prop_assert_eq!(&a, &b);
            invariants::one_step_per_tick(c.rollout.status.current_step_index, &a)
                .map_err(TestCaseError::fail)?;
            c.apply(&a);
            c.advance(1);
            c.user_event(e);
        }
    }

    #[test]
    fn blue_green_promote_ends_healthy_and_abort_restores_active(
        ro in strategies::blue_green_rollout(),
        abort in any::<bool>(),
    ) {
        let mut c = deployed(ro);
        invariants::healthy(&c).map_err(TestCaseError::fail)?;
        let v1 = c.rollout.status.stable_rs.clone();
        c.set_image("demo:v2");
        for _ in 0..10 {
            c.tick();
            c.advance(1);
        }
        let active = |c: &FakeCluster| {
            c.observed.services.iter().find(|s| s.name == "bg-active").and_then(|s| s.selector_hash.clone())
        };
        if abort && c.rollout.status.stable_rs == v1 {
            c.abort();
            c.settle(200, true);
            prop_assert_eq!(active(&c), Some(v1.clone()));
            let r = c.rollout.replicas();
            prop_assert_eq!(c.rs(&v1).map(|x| x.replicas), Some(r));
            prop_assert_eq!(c.stable_and_canary(), (r, 0));
        } else {
            for _ in 0..5 {
                c.promote();
                c.settle(200, true);
            }
            invariants::healthy(&c).map_err(TestCaseError::fail)?;
            prop_assert_eq!(active(&c), Some(c.rollout.status.stable_rs.clone()));
        }
    }

    #[test]
    fn never_panics_on_arbitrary_snapshots(
        ro in prop_oneof![
            strategies::basic_canary_rollout(),
            strategies::traffic_routed_rollout(),
            strategies::blue_green_rollout()
        ],
        observed in strategies::observed_snapshot(),
        index in prop::option::of(-3i32..15),
        stable in prop::sample::select(vec!["", "aaa", "bbb", "zzz"]),
        abort in any::<bool>(),
        promote_full in any::<bool>(),
        paused in any::<bool>(),
        pause in any::<bool>(),
        replicas in -2i32..20,
        force in any::<bool>(),
        hold in any::<bool>(),
    ) {
        let mut ro = ro;
        ro.spec.replicas = Some(replicas);
        ro.spec.paused = paused;
        ro.status.current_step_index = index;
        ro.status.stable_rs = stable.to_string();
        ro.status.abort = abort;
        ro.status.promote_full = promote_full;
        ro.status.current_pod_hash = "bbb".into();
        if pause {
            ro.status.pause_conditions.push(PauseCondition {
                reason: PauseReason::CanaryPauseStep,
                start_time: strategies::epoch(),
            });
            ro.status.controller_pause = true;
        }
        let inputs = Inputs { hold, force_abort: force.then(|| "forced".to_string()), ..Inputs::default() };
        let d = reconcile(&ro, &observed, strategies::epoch(), &inputs);
        // Decisions are plain data: they serialize.
        prop_assert!(serde_json::to_string(&d).is_ok());
        let _ = AnalysisPhase::Pending;
    }
}
