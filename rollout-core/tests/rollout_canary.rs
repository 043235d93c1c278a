//! Canary lifecycles driven through the fake cluster, with upstream's exact messages.

mod rollout_support;

use rollout_core::analysis::AnalysisPhase;
use rollout_core::rollout::{
    Action, ConditionStatus, ConditionType, Inputs, Observed, PauseReason, RolloutPhase, reconcile,
};
use rollout_support::*;
use serde_json::json;

/// Paused at a pause step, with the Paused condition patched (a status-only pass, as upstream).
fn paused_at_step(c: &rollout_core::testing::FakeCluster) -> bool {
    c.rollout.status.controller_pause
        && c.rollout
            .status
            .condition(ConditionType::Paused)
            .is_some_and(|p| p.status == ConditionStatus::True)
}

fn phase(c: &rollout_core::testing::FakeCluster) -> (Option<RolloutPhase>, String) {
    (c.rollout.status.phase, c.rollout.status.message.clone())
}

#[test]
fn initial_deploy_goes_healthy_and_skips_steps() {
    let c = deployed(fixture("01-rollout-canary.yaml"));
    let st = &c.rollout.status;
    assert_eq!(phase(&c), (Some(RolloutPhase::Healthy), String::new()));
    assert_eq!(st.stable_rs, st.current_pod_hash);
    assert_eq!(st.current_step_index, Some(8));
    assert_eq!(c.observed.replica_sets.len(), 1);
    assert_eq!(c.observed.replica_sets[0].replicas, 5);
    assert_eq!(
        c.observed.replica_sets[0].name,
        format!("rollout-canary-{}", st.stable_rs)
    );
    let completed = events_with(&c, "RolloutCompleted");
    assert_eq!(
        completed,
        vec![format!(
            "Rollout completed update to revision 1 ({}): Initial deploy",
            st.stable_rs
        )]
    );
    let prog = st.condition(ConditionType::Progressing).unwrap();
    assert_eq!(prog.reason, "NewReplicaSetAvailable");
    assert_eq!(
        prog.message,
        format!(
            "ReplicaSet \"rollout-canary-{}\" has successfully progressed.",
            st.stable_rs
        )
    );
    let healthy = st.condition(ConditionType::Healthy).unwrap();
    assert_eq!(
        (healthy.status, healthy.message.as_str()),
        (ConditionStatus::True, "Rollout is healthy")
    );
    let avail = st.condition(ConditionType::Available).unwrap();
    assert_eq!(avail.message, "Rollout has minimum availability");
    let done = st.condition(ConditionType::Completed).unwrap();
    assert_eq!(
        (done.status, done.reason.as_str()),
        (ConditionStatus::True, "RolloutCompleted")
    );
}

#[test]
fn fixture_01_full_lifecycle() {
    let mut c = deployed(fixture("01-rollout-canary.yaml"));
    let v1 = c.rollout.status.stable_rs.clone();
    c.set_image("argoproj/rollouts-demo:yellow");
    let d = c.tick();
    let Action::CreateReplicaSet {
        name,
        replicas,
        revision,
        ..
    } = &d.actions[0]
    else {
        panic!("{:?}", d.actions)
    };
    assert_eq!((*replicas, *revision), (0, 2));
    let v2 = c.rollout.status.current_pod_hash.clone();
    assert_ne!(v1, v2);
    let prog = c.rollout.status.condition(ConditionType::Progressing).unwrap();
    assert_eq!(prog.reason, "NewReplicaSetCreated");
    assert_eq!(prog.message, format!("Created new replica set {name:?}"));
    assert_eq!(c.rollout.status.current_step_index, Some(0));
    assert_eq!(phase(&c).0, Some(RolloutPhase::Progressing));
    // setWeight 20 of 5 replicas: 1 canary, stable 4.
    tick_until(&mut c, 20, |c| c.rollout.status.current_step_index == Some(1));
    assert_eq!(c.stable_and_canary(), (4, 1));
    assert_eq!(
        events_with(&c, "RolloutStepCompleted"),
        vec!["Rollout step 1/8 completed (setWeight: 20)".to_string()]
    );
    // pause {}: paused indefinitely.
    tick_until(&mut c, 5, |c| !c.rollout.status.pause_conditions.is_empty());
    c.tick();
    assert_eq!(phase(&c), (Some(RolloutPhase::Paused), "CanaryPauseStep".into()));
    assert!(c.rollout.status.controller_pause);
    let paused = c.rollout.status.condition(ConditionType::Paused).unwrap();
    assert_eq!(
        (paused.status, paused.reason.as_str()),
        (ConditionStatus::True, "RolloutPaused")
    );
    c.advance(3600);
    c.tick();
    assert_eq!(
        c.rollout.status.current_step_index,
        Some(1),
        "indefinite pause holds"
    );
    c.promote();
    tick_until(&mut c, 5, |c| c.rollout.status.current_step_index == Some(2));
    assert!(
        events_with(&c, "RolloutStepCompleted").contains(&"Rollout step 2/8 completed (pause)".to_string())
    );
    // setWeight 40 then pause 40s.
    tick_until(&mut c, 20, |c| c.rollout.status.current_step_index == Some(3));
    assert_eq!(c.stable_and_canary(), (3, 2));
    tick_until(&mut c, 5, |c| {
        c.rollout
            .status
            .pause_condition(PauseReason::CanaryPauseStep)
            .is_some()
    });
    let start = c.rollout.status.pause_conditions[0].start_time;
    c.tick(); // status-only pass: Paused condition
    let d = c.tick();
    assert_eq!(d.next_wake, Some(start + jiff::SignedDuration::from_secs(41)));
    // Not done at exactly 40s, done after.
    c.now = start + jiff::SignedDuration::from_secs(40);
    c.tick();
    assert_eq!(c.rollout.status.current_step_index, Some(3));
    c.now = start + jiff::SignedDuration::from_secs(41);
    c.tick();
    assert_eq!(c.rollout.status.current_step_index, Some(4));
    assert!(
        events_with(&c, "RolloutStepCompleted")
            .contains(&"Rollout step 4/8 completed (pause: 40s)".to_string())
    );
    // The rest runs by itself (timed pauses).
    c.settle(200, true);
    assert_eq!(phase(&c), (Some(RolloutPhase::Healthy), String::new()));
    assert_eq!(c.rollout.status.stable_rs, v2);
    assert_eq!(c.stable_and_canary(), (5, 0));
    assert_eq!(c.rs(&v1).unwrap().replicas, 0);
    assert_eq!(
        last_event(&c, "RolloutCompleted").unwrap().message,
        format!("Rollout completed update to revision 2 ({v2}): Completed all 8 canary steps")
    );
}

#[test]
fn abort_drains_canary_and_retry_restarts() {
    let mut c = deployed(fixture("01-rollout-canary.yaml"));
    c.set_image("demo:v2");
    tick_until(&mut c, 30, paused_at_step);
    assert_eq!(c.stable_and_canary(), (4, 1));
    c.abort();
    let d = c.tick();
    assert!(c.rollout.status.abort);
    assert!(c.rollout.status.aborted_at.is_some());
    assert_eq!(c.rollout.status.current_step_index, Some(0));
    assert!(c.rollout.status.pause_conditions.is_empty());
    assert_eq!(
        phase(&c),
        (
            Some(RolloutPhase::Degraded),
            "RolloutAborted: Rollout aborted update to revision 2".into()
        )
    );
    assert!(
        d.actions
            .iter()
            .any(|a| matches!(a, Action::Event(e) if e.reason == "RolloutAborted"))
    );
    c.settle(50, true);
    assert_eq!(c.stable_and_canary(), (5, 0));
    assert_eq!(
        phase(&c).0,
        Some(RolloutPhase::Degraded),
        "abort is not auto-cleared"
    );
    // retry
    c.retry();
    c.tick();
    let prog = c.rollout.status.condition(ConditionType::Progressing).unwrap();
    assert_eq!(
        (prog.status, prog.reason.as_str(), prog.message.as_str()),
        (
            ConditionStatus::Unknown,
            "RolloutRetry",
            "Retrying Rollout after abort"
        )
    );
    tick_until(&mut c, 30, paused_at_step);
    assert_eq!(c.stable_and_canary(), (4, 1));
    assert_eq!(c.rollout.status.aborted_at, None);
}

#[test]
fn promote_full_skips_remaining_steps() {
    let mut c = deployed(fixture("01-rollout-canary.yaml"));
    c.set_image("demo:v2");
    tick_until(&mut c, 30, paused_at_step);
    c.promote_full();
    c.settle(60, false);
    assert_eq!(phase(&c), (Some(RolloutPhase::Healthy), String::new()));
    let v2 = c.rollout.status.current_pod_hash.clone();
    assert_eq!(
        last_event(&c, "RolloutCompleted").unwrap().message,
        format!("Rollout completed update to revision 2 ({v2}): Full promotion requested")
    );
    assert_eq!(c.stable_and_canary(), (5, 0));
}

#[test]
fn manual_pause_freezes_scaling() {
    let mut c = deployed(fixture("01-rollout-canary.yaml"));
    c.rollout.spec.paused = true;
    c.set_image("demo:v2");
    c.settle(20, false);
    assert_eq!(phase(&c), (Some(RolloutPhase::Paused), "manually paused".into()));
    assert_eq!(c.stable_and_canary(), (5, 0));
    let prog = c.rollout.status.condition(ConditionType::Progressing).unwrap();
    assert_eq!(
        (prog.reason.as_str(), prog.message.as_str()),
        ("RolloutPaused", "Rollout is paused")
    );
    c.rollout.spec.paused = false;
    c.tick();
    let prog = c.rollout.status.condition(ConditionType::Progressing).unwrap();
    assert_eq!(
        (prog.reason.as_str(), prog.message.as_str()),
        ("RolloutResumed", "Rollout is resumed")
    );
    tick_until(&mut c, 30, paused_at_step);
    assert_eq!(c.stable_and_canary(), (4, 1));
}

#[test]
fn invalid_spec_reports_and_never_acts() {
    let ro = canary(
        3,
        json!([{"setWeight": 120}, {"pause": {"duration": "ten"}}]),
        json!({"scaleDownDelaySeconds": 5}),
    );
    let d = reconcile(&ro, &Observed::default(), t0(), &Inputs::default());
    assert!(d.actions.is_empty());
    assert_eq!(d.next_wake, Some(t0() + jiff::SignedDuration::from_secs(20)));
    assert_eq!(d.status.phase, Some(RolloutPhase::Degraded));
    assert_eq!(
        d.status.message,
        "InvalidSpec: spec.strategy.scaleDownDelaySeconds: Invalid value: 5: Canary scaleDownDelaySeconds can only be used with traffic routing"
    );
    let errs = rollout_core::rollout::validate(&ro, None);
    let msgs: Vec<String> = errs.iter().map(|e| e.to_string()).collect();
    assert_eq!(
        msgs,
        vec![
            "spec.strategy.scaleDownDelaySeconds: Invalid value: 5: Canary scaleDownDelaySeconds can only be used with traffic routing",
            "spec.strategy.steps[0].setWeight: Invalid value: 120: SetWeight needs to be between 0 and 100",
            "spec.strategy.steps[1].pause.duration: Invalid value: -1: Duration needs to be greater than 0",
        ]
    );
}

#[test]
fn validation_messages_table() {
    let cases = vec![
        (
            json!({"spec": {"strategy": {}}}),
            "spec.selector: Required value: Rollout has missing field '.spec.selector'",
        ),
        (
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}, "strategy": {}}}),
            "spec.strategy.strategy: Required value: Rollout has missing field '.spec.strategy.canary or .spec.strategy.blueGreen'",
        ),
        (
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}, "strategy": {"blueGreen": {"activeService": "x", "previewService": "x"}}}}),
            "spec.strategy.activeService: Invalid value: \"x\": This rollout uses the same service for the active and preview services, but two different services are required.",
        ),
        (
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}, "strategy": {"canary": {"maxSurge": 0, "maxUnavailable": 0}}}}),
            "spec.strategy.maxSurge: Invalid value: 0: MaxSurge and MaxUnavailable both can not be zero",
        ),
        (
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}, "strategy": {"canary": {"steps": [{"setCanaryScale": {"replicas": 1}}]}}}}),
            "spec.strategy.trafficRouting: Required value: SetCanaryScale requires TrafficRouting to be set",
        ),
        (
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}, "strategy": {"canary": {"trafficRouting": {"alb": {}}}}}}),
            "spec.strategy.stableService: Invalid value: \"\": Canary service and Stable service must to be set to use Traffic Routing",
        ),
        (
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}, "strategy": {"canary": {"steps": [{"setWeight": 10, "pause": {}}]}}}}),
            "spec.strategy.steps[0]: Invalid value: \"step.Experiment: false step.Pause: true step.SetWeight: true step.Analysis: false\": Step must have one of the following set: experiment, setWeight, setCanaryScale or pause",
        ),
        (
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "b"}}, "spec": {"containers": [{"name": "c"}]}}, "strategy": {"canary": {"steps": [{"analysis": {"templates": [{"templateName": "t"}], "args": [{"name": "x", "valueFrom": {"fieldRef": {"fieldPath": "metadata.bogus"}}}]}}]}}}}),
            "spec.strategy.steps[0].analyses: Invalid value: \"metadata.bogus\": Analyses arguments must refer to valid object metadata supported by downwardAPI",
        ),
        (
            json!({"spec": {"selector": {"matchLabels": {"a": "b"}}, "template": {"metadata": {"labels": {"a": "c"}}, "spec": {"containers": [{"name": "c"}]}}, "strategy": {"canary": {}}}}),
            "spec.template.metadata.labels: Invalid value: map[a:c]: `selector` does not match template `labels`",
        ),
    ];
    for (v, want) in cases {
        let ro = from_json(v);
        let errs = rollout_core::rollout::validate(&ro, None);
        assert_eq!(errs.first().map(|e| e.to_string()).as_deref(), Some(want));
    }
}

#[test]
fn experiment_steps_are_reported_not_ignored() {
    let ro = canary(2, json!([{"experiment": {"templates": []}}]), json!({}));
    let d = reconcile(&ro, &Observed::default(), t0(), &Inputs::default());
    assert!(d.actions.is_empty());
    assert_eq!(
        d.status.message,
        "InvalidSpec: spec.strategy.steps[0].experiment: Unsupported value: \"experiment\": step type is parsed and validated but not executed by rollout-core yet"
    );
}

#[test]
fn fast_rollback_to_stable_skips_steps() {
    let mut c = deployed(fixture("01-rollout-canary.yaml"));
    let v1 = c.rollout.status.stable_rs.clone();
    c.set_image("demo:v2");
    tick_until(&mut c, 30, paused_at_step);
    c.set_image("argoproj/rollouts-demo:blue");
    c.tick();
    assert_eq!(c.rollout.status.current_pod_hash, v1);
    assert_eq!(c.rollout.status.current_step_index, Some(8));
    assert_eq!(
        events_with(&c, "SkipSteps"),
        vec!["Rollback to stable ReplicaSets".to_string()]
    );
    assert!(
        c.log
            .iter()
            .any(|a| matches!(a, Action::SetReplicaSetRevision { revision: 3, .. }))
    );
    c.settle(50, true);
    assert_eq!(phase(&c).0, Some(RolloutPhase::Healthy));
    assert_eq!(c.stable_and_canary(), (5, 0));
}

#[test]
fn new_spec_mid_rollout_restarts_at_step_zero() {
    let mut c = deployed(fixture("01-rollout-canary.yaml"));
    let v1 = c.rollout.status.stable_rs.clone();
    c.set_image("demo:v2");
    tick_until(&mut c, 30, paused_at_step);
    let v2 = c.rollout.status.current_pod_hash.clone();
    c.promote();
    tick_until(&mut c, 30, |c| c.rollout.status.current_step_index == Some(3));
    c.set_image("demo:v3");
    c.tick();
    let v3 = c.rollout.status.current_pod_hash.clone();
    assert_ne!(v3, v2);
    assert_eq!(c.rollout.status.current_step_index, Some(0));
    assert_eq!(c.rollout.status.stable_rs, v1);
    assert_eq!(c.rs(&v3).unwrap().revision, 3);
    tick_until(&mut c, 40, |c| c.rollout.status.controller_pause);
    assert_eq!(c.rs(&v2).unwrap().replicas, 0, "V2 drained");
    assert_eq!(c.stable_and_canary(), (4, 1));
}

#[test]
fn steps_only_change_restarts_steps() {
    let mut c = deployed(fixture("01-rollout-canary.yaml"));
    c.set_image("demo:v2");
    tick_until(&mut c, 30, paused_at_step);
    c.promote();
    tick_until(&mut c, 30, |c| c.rollout.status.current_step_index == Some(3));
    let before = c.rollout.status.current_step_hash.clone();
    if let Some(steps) = c.rollout.spec.strategy.canary.as_mut().unwrap().steps.as_mut() {
        steps[0].set_weight = Some(30);
    }
    c.tick();
    assert_ne!(c.rollout.status.current_step_hash, before);
    assert_eq!(c.rollout.status.current_step_index, Some(0));
}

#[test]
fn progress_deadline_exceeded_and_abort() {
    let mut ro = canary(2, json!([{"setWeight": 50}, {"pause": {}}]), json!({}));
    ro.spec.progress_deadline_seconds = Some(60);
    ro.spec.progress_deadline_abort = true;
    let mut c = deployed(ro);
    c.auto_ready = false;
    c.set_image("demo:v2");
    for _ in 0..5 {
        c.tick();
        c.advance(1);
    }
    let rs_name = c
        .rs(&c.rollout.status.current_pod_hash.clone())
        .unwrap()
        .name
        .clone();
    c.advance(120);
    c.tick();
    let prog = c.rollout.status.condition(ConditionType::Progressing).unwrap();
    assert_eq!(prog.status, ConditionStatus::False);
    assert_eq!(prog.reason, "ProgressDeadlineExceeded");
    assert_eq!(
        prog.message,
        format!("ReplicaSet {rs_name:?} has timed out progressing.")
    );
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Degraded));
    assert!(c.rollout.status.abort, "progressDeadlineAbort aborts");
    c.tick();
    assert_eq!(
        c.rollout.status.message,
        // as upstream, the abort reason only reaches the event, not the condition
        "RolloutAborted: Rollout aborted update to revision 2"
    );
    assert!(
        events_with(&c, "RolloutAborted")
            .contains(&format!("ReplicaSet {rs_name:?} has timed out progressing."))
    );
}

#[test]
fn inline_analysis_step_success_failure_inconclusive() {
    // fixture 08: setWeight 50, analysis (sleep-job) with a fieldRef arg
    let mut ro = fixture("08-rollout-rollback-window.yaml");
    ro.metadata.labels.insert("rev".into(), "r2".into());
    let mut c = deployed(ro.clone());
    c.set_image("nginx:1.20-alpine");
    tick_until(&mut c, 20, |c| !c.observed.analysis_runs.is_empty());
    let hash = c.rollout.status.current_pod_hash.clone();
    let created = c
        .log
        .iter()
        .find_map(|a| match a {
            Action::CreateAnalysisRun(r) => Some(r.clone()),
            _ => None,
        })
        .unwrap();
    assert_eq!(created.name, format!("window-{hash}-2-1"));
    assert_eq!(
        created.labels.get("rollout-type").map(String::as_str),
        Some("Step")
    );
    assert_eq!(created.labels.get("step-index").map(String::as_str), Some("1"));
    assert_eq!(created.args[0].value.as_deref(), Some("r2"));
    c.tick();
    assert_eq!(
        c.rollout.status.current_step_index,
        Some(1),
        "blocks while running"
    );
    c.set_run_phase("window-", AnalysisPhase::Successful, "");
    c.settle(30, true);
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));

    // failure aborts with the run's message
    c.set_image("nginx:1.21-alpine");
    tick_until(&mut c, 20, |c| c.observed.analysis_runs.len() == 2);
    let msg = "Metric \"web\" assessed Failed due to failed (1) > failureLimit (0)";
    let name = c.observed.analysis_runs[1].name.clone();
    c.set_run_phase(&name, AnalysisPhase::Failed, msg);
    c.tick();
    c.tick();
    assert_eq!(
        c.rollout.status.message,
        format!("RolloutAborted: Rollout aborted update to revision 3: {msg}")
    );
    c.settle(30, true);
    assert_eq!(c.stable_and_canary(), (2, 0));

    // inconclusive pauses
    c.set_image("nginx:1.22-alpine");
    tick_until(&mut c, 20, |c| c.observed.analysis_runs.len() == 3);
    let name = c.observed.analysis_runs[2].name.clone();
    c.set_run_phase(&name, AnalysisPhase::Inconclusive, "");
    c.tick();
    c.tick();
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Paused));
    assert_eq!(c.rollout.status.message, "InconclusiveAnalysisRun");
}

#[test]
fn background_analysis_failure_aborts() {
    let mut c = deployed(fixture("03-rollout-background-analysis.yaml"));
    assert!(
        c.observed.analysis_runs.is_empty(),
        "no analysis on initial deploy"
    );
    c.set_image("demo:v2");
    tick_until(&mut c, 20, |c| !c.observed.analysis_runs.is_empty());
    let hash = c.rollout.status.current_pod_hash.clone();
    assert_eq!(
        c.observed.analysis_runs[0].name,
        format!("rollout-background-analysis-{hash}-2")
    );
    c.set_run_phase("rollout-background", AnalysisPhase::Error, "boom");
    c.tick();
    c.tick();
    assert_eq!(
        c.rollout.status.message,
        "RolloutAborted: Rollout aborted update to revision 2: boom"
    );
    c.settle(30, true);
    assert_eq!(c.stable_and_canary(), (4, 0));
}

#[test]
fn background_analysis_terminated_on_promotion() {
    let mut c = deployed(fixture("03-rollout-background-analysis.yaml"));
    c.set_image("demo:v2");
    tick_until(&mut c, 20, paused_at_step);
    c.promote();
    c.settle(30, true);
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    assert!(
        c.log
            .iter()
            .any(|a| matches!(a, Action::TerminateAnalysisRun { .. }))
    );
}

#[test]
fn no_steps_is_a_rolling_update() {
    let ro = canary(4, json!(null), json!({"maxSurge": 1, "maxUnavailable": 0}));
    let mut c = deployed(ro);
    c.set_image("demo:v2");
    let mut max_total = 0;
    for _ in 0..40 {
        c.tick();
        max_total = max_total.max(c.observed.replica_sets.iter().map(|r| r.replicas).sum::<i32>());
        c.advance(1);
    }
    assert_eq!(max_total, 5, "never above replicas + maxSurge");
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    let v2 = c.rollout.status.current_pod_hash.clone();
    assert_eq!(
        last_event(&c, "RolloutCompleted").unwrap().message,
        format!("Rollout completed update to revision 2 ({v2}): Completed all 0 canary steps")
    );
}

#[test]
fn revision_history_limit_deletes_old_replicasets() {
    let mut ro = canary(1, json!([]), json!({}));
    ro.spec.revision_history_limit = Some(1);
    let mut c = deployed(ro);
    for i in 2..6 {
        c.set_image(&format!("demo:v{i}"));
        c.settle(40, true);
    }
    assert_eq!(c.observed.replica_sets.len(), 2, "current + 1 old");
    assert!(
        c.log
            .iter()
            .filter(|a| matches!(a, Action::DeleteReplicaSet { .. }))
            .count()
            >= 3
    );
}

#[test]
fn coordinator_hold_and_force_abort() {
    let mut c = deployed(canary(
        4,
        json!([{"setWeight": 25}, {"setWeight": 50}]),
        json!({}),
    ));
    c.inputs.hold = true;
    c.set_image("demo:v2");
    for _ in 0..20 {
        c.tick();
        c.advance(1);
    }
    assert_eq!(c.rollout.status.current_step_index, Some(0), "held at step 0");
    assert_eq!(c.stable_and_canary(), (3, 1), "but scaled to the current step");
    c.inputs.hold = false;
    tick_until(&mut c, 20, |c| c.rollout.status.current_step_index == Some(1));
    c.inputs.force_abort = Some("group member failed".into());
    c.tick();
    c.tick();
    assert_eq!(
        c.rollout.status.message,
        "RolloutAborted: Rollout aborted update to revision 2: group member failed"
    );
}

#[test]
fn decisions_are_deterministic_and_idempotent() {
    let mut c = deployed(fixture("01-rollout-canary.yaml"));
    c.set_image("demo:v2");
    for _ in 0..15 {
        let a = reconcile(&c.rollout, &c.observed, c.now, &c.inputs);
        let b = reconcile(&c.rollout, &c.observed, c.now, &c.inputs);
        assert_eq!(a, b);
        c.apply(&a);
        c.advance(1);
    }
}

#[test]
fn scaling_a_healthy_rollout_resizes_the_stable() {
    let mut c = deployed(fixture("01-rollout-canary.yaml"));
    let v1 = c.rollout.status.stable_rs.clone();
    c.rollout.spec.replicas = Some(8);
    c.rollout.metadata.generation = Some(2);
    c.settle(20, false);
    assert_eq!(c.rs(&v1).unwrap().replicas, 8);
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(
        c.rollout.status.current_step_index,
        Some(8),
        "no new update for a scaling event"
    );
    c.rollout.spec.replicas = Some(2);
    c.rollout.metadata.generation = Some(3);
    c.settle(20, false);
    assert_eq!(c.rs(&v1).unwrap().replicas, 2);
}
