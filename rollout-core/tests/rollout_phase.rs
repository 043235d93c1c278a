//! `rollout_phase` (upstream `GetRolloutPhase`) and `calculate_phase` (`CalculateRolloutPhase`),
//! table-tested with the cases of upstream's `utils/rollout/rolloututil_test.go`, plus the status
//! the machine persists read back through `rollout_phase`.

use rollout_core::rollout::phase::{
    AnnotationChange, WORKLOAD_GENERATION_ANNOTATION, is_generation_observed, is_unpausing,
    is_workload_generation_observed, workload_generation_change,
};
use rollout_core::rollout::{Inputs, Observed, Rollout, RolloutPhase, reconcile, rollout_phase};
use serde_json::{Value, json};

/// Upstream's `newCanaryRollout`: 5 replicas, three steps, at step 1 with 3 of 5 updated.
fn canary() -> Value {
    json!({
        "metadata": {"name": "can-guestbook", "namespace": "test"},
        "spec": {
            "replicas": 5,
            "strategy": {"canary": {"steps": [{"setWeight": 10}, {"pause": {"duration": 60}}, {"setWeight": 20}]}}
        },
        "status": {"currentStepIndex": 1, "replicas": 4, "readyReplicas": 1, "updatedReplicas": 3, "availableReplicas": 2}
    })
}

/// Upstream's `newBlueGreenRollout`.
fn blue_green() -> Value {
    let mut v = canary();
    v["metadata"]["name"] = json!("bg-guestbook");
    v["spec"]["strategy"] = json!({"blueGreen": {}});
    v
}

/// `base` with the JSON merge patch `patch` applied (RFC 7386).
fn with(mut base: Value, patch: Value) -> Value {
    fn merge(t: &mut Value, p: Value) {
        match (t, p) {
            (Value::Object(t), Value::Object(p)) => {
                for (k, v) in p {
                    if v.is_null() {
                        t.remove(&k);
                    } else {
                        merge(t.entry(k).or_insert(Value::Null), v);
                    }
                }
            }
            (t, p) => *t = p,
        }
    }
    merge(&mut base, patch);
    base
}

fn ro(v: Value) -> Rollout {
    serde_json::from_value(v).expect("a Rollout")
}

fn cond(kind: &str, reason: &str, message: &str) -> Value {
    json!({"type": kind, "status": "False", "reason": reason, "message": message,
           "lastUpdateTime": "2024-01-01T00:00:00Z", "lastTransitionTime": "2024-01-01T00:00:00Z"})
}

const FULL: &str = r#"{"replicas": 5, "updatedReplicas": 5, "availableReplicas": 5, "readyReplicas": 5}"#;

fn full() -> Value {
    serde_json::from_str(FULL).unwrap()
}

#[test]
fn get_rollout_phase_matches_upstream_cases() {
    let one_minute_ago = "2024-01-01T00:00:00Z";
    let cases: Vec<(&str, Value, RolloutPhase, &str)> = vec![
        (
            "degraded: progress deadline",
            with(
                canary(),
                json!({"status": {"conditions": [cond("Progressing", "ProgressDeadlineExceeded", "timed out")]}}),
            ),
            RolloutPhase::Degraded,
            "ProgressDeadlineExceeded: timed out",
        ),
        (
            "degraded: aborted",
            with(
                canary(),
                json!({"status": {"conditions": [cond("Progressing", "RolloutAborted", "aborted update")]}}),
            ),
            RolloutPhase::Degraded,
            "RolloutAborted: aborted update",
        ),
        (
            "degraded: invalid spec",
            with(
                canary(),
                json!({"status": {"conditions": [cond("InvalidSpec", "InvalidSpec", "bad step")]}}),
            ),
            RolloutPhase::Degraded,
            "InvalidSpec: bad step",
        ),
        (
            "first matching condition wins, as upstream's single loop",
            with(
                canary(),
                json!({"status": {"conditions": [
                cond("Progressing", "RolloutAborted", "aborted update"), cond("InvalidSpec", "InvalidSpec", "bad step")]}}),
            ),
            RolloutPhase::Degraded,
            "RolloutAborted: aborted update",
        ),
        (
            "manually paused",
            with(canary(), json!({"spec": {"paused": true}})),
            RolloutPhase::Paused,
            "manually paused",
        ),
        (
            "paused by a step",
            with(
                canary(),
                json!({"status": {"pauseConditions": [{"reason": "CanaryPauseStep", "startTime": one_minute_ago}]}}),
            ),
            RolloutPhase::Paused,
            "CanaryPauseStep",
        ),
        (
            "more replicas need to be updated",
            with(
                canary(),
                json!({"status": {"updatedReplicas": 4, "availableReplicas": 4, "replicas": 5}}),
            ),
            RolloutPhase::Progressing,
            "more replicas need to be updated",
        ),
        (
            "updated replicas still becoming available",
            with(
                canary(),
                json!({"status": {"updatedReplicas": 5, "availableReplicas": 4, "replicas": 5}}),
            ),
            RolloutPhase::Progressing,
            "updated replicas are still becoming available",
        ),
        (
            "old replicas pending termination",
            with(
                canary(),
                json!({"status": {"updatedReplicas": 5, "availableReplicas": 5, "replicas": 7}}),
            ),
            RolloutPhase::Progressing,
            "old replicas are pending termination",
        ),
        (
            "traffic-routed canary keeps old replicas for the scale-down delay",
            with(
                canary(),
                json!({
                "spec": {"strategy": {"canary": {"trafficRouting": {"smi": {}}}}},
                "status": {"updatedReplicas": 5, "availableReplicas": 5, "replicas": 7, "stableRS": "abc1234", "currentPodHash": "def5678"}}),
            ),
            RolloutPhase::Progressing,
            "waiting for all steps to complete",
        ),
        (
            "blue-green: active service cutover pending",
            with(
                blue_green(),
                json!({"status": with(full(), json!({
                "blueGreen": {"activeSelector": "abc1234"}, "stableRS": "abc1234", "currentPodHash": "def5678"}))}),
            ),
            RolloutPhase::Progressing,
            "active service cutover pending",
        ),
        (
            "blue-green: waiting for post-promotion analysis",
            with(
                blue_green(),
                json!({
                "spec": {"strategy": {"blueGreen": {"postPromotionAnalysis": {}}}},
                "status": with(full(), json!({"blueGreen": {"activeSelector": "def5678"}, "stableRS": "abc1234", "currentPodHash": "def5678"}))}),
            ),
            RolloutPhase::Progressing,
            "waiting for analysis to complete",
        ),
        (
            "blue-green: analysis completed, verification pending",
            with(
                blue_green(),
                json!({
                "spec": {"strategy": {"blueGreen": {"postPromotionAnalysis": {}}}},
                "status": with(full(), json!({"blueGreen": {"activeSelector": "def5678",
                    "postPromotionAnalysisRunStatus": {"name": "run", "status": "Successful"}},
                    "stableRS": "abc1234", "currentPodHash": "def5678"}))}),
            ),
            RolloutPhase::Progressing,
            "waiting for post-promotion verification to complete",
        ),
        (
            "blue-green: waiting for post-promotion verification",
            with(
                blue_green(),
                json!({"status": with(full(), json!({
                "blueGreen": {"activeSelector": "def5678"}, "stableRS": "abc1234", "currentPodHash": "def5678"}))}),
            ),
            RolloutPhase::Progressing,
            "waiting for post-promotion verification to complete",
        ),
        (
            "new rollout: hashes but no updated replicas (replicas absent is 1)",
            with(
                canary(),
                json!({"spec": {"replicas": null},
                "status": {"observedGeneration": "0", "stableRS": "abc1234", "currentPodHash": "abc1234",
                           "currentStepIndex": null, "replicas": null, "readyReplicas": null, "updatedReplicas": null, "availableReplicas": null}}),
            ),
            RolloutPhase::Progressing,
            "more replicas need to be updated",
        ),
        (
            "observed generation lags",
            with(
                canary(),
                json!({"metadata": {"generation": 2}, "spec": {"replicas": null},
                "status": {"stableRS": "abc1234", "currentPodHash": "abc1234", "observedGeneration": "1"}}),
            ),
            RolloutPhase::Progressing,
            "waiting for rollout spec update to be observed",
        ),
        (
            "observed generation lags, whatever phase was persisted",
            with(
                canary(),
                json!({"metadata": {"generation": 2},
                "status": with(full(), json!({"observedGeneration": "1", "phase": "Healthy", "stableRS": "a", "currentPodHash": "a"}))}),
            ),
            RolloutPhase::Progressing,
            "waiting for rollout spec update to be observed",
        ),
        (
            "v0.9 hash as observedGeneration is not a generation",
            with(
                canary(),
                json!({"metadata": {"generation": 2}, "spec": {"replicas": null},
                "status": {"stableRS": "abc1234", "currentPodHash": "abc1234", "observedGeneration": "7d66d4485f", "currentStepIndex": null, "replicas": null, "readyReplicas": null, "updatedReplicas": null, "availableReplicas": null}}),
            ),
            RolloutPhase::Progressing,
            "more replicas need to be updated",
        ),
        (
            "v0.9 all-digit hash is ahead of the generation",
            with(
                canary(),
                json!({"metadata": {"generation": 2}, "spec": {"replicas": null},
                "status": {"stableRS": "abc1234", "currentPodHash": "abc1234", "observedGeneration": "1366344857", "currentStepIndex": null, "replicas": null, "readyReplicas": null, "updatedReplicas": null, "availableReplicas": null}}),
            ),
            RolloutPhase::Progressing,
            "more replicas need to be updated",
        ),
        (
            "restart not finished",
            with(
                canary(),
                json!({"spec": {"restartAt": one_minute_ago},
                "status": with(full(), json!({"stableRS": "abc1234", "currentPodHash": "abc1234"}))}),
            ),
            RolloutPhase::Progressing,
            "rollout is restarting",
        ),
        (
            "workload generation not observed",
            with(
                canary(),
                json!({
                "metadata": {"annotations": {WORKLOAD_GENERATION_ANNOTATION: "2"}},
                "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}},
                "status": {"workloadObservedGeneration": "1"}}),
            ),
            RolloutPhase::Progressing,
            "waiting for rollout spec update to be observed for the reference workload",
        ),
        (
            "healthy canary",
            with(
                canary(),
                json!({"status": with(full(), json!({"stableRS": "abc1234", "currentPodHash": "abc1234"}))}),
            ),
            RolloutPhase::Healthy,
            "",
        ),
        (
            "healthy blue-green",
            with(
                blue_green(),
                json!({"status": with(full(), json!({
                "blueGreen": {"activeSelector": "abc1234"}, "stableRS": "abc1234", "currentPodHash": "abc1234"}))}),
            ),
            RolloutPhase::Healthy,
            "",
        ),
        (
            "healthy after a finished restart",
            with(
                canary(),
                json!({"spec": {"restartAt": one_minute_ago},
                "status": with(full(), json!({"restartedAt": one_minute_ago, "stableRS": "abc1234", "currentPodHash": "abc1234"}))}),
            ),
            RolloutPhase::Healthy,
            "",
        ),
        (
            "healthy: workload generation observed",
            with(
                canary(),
                json!({
                "metadata": {"annotations": {WORKLOAD_GENERATION_ANNOTATION: "2"}},
                "spec": {"workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"}},
                "status": with(full(), json!({"stableRS": "abc1234", "currentPodHash": "abc1234", "workloadObservedGeneration": "2"}))}),
            ),
            RolloutPhase::Healthy,
            "",
        ),
        (
            "v1.0+: the persisted phase and message",
            with(
                canary(),
                json!({"status": {"phase": "Paused", "message": "canary pause",
                "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": one_minute_ago}], "controllerPause": true}}),
            ),
            RolloutPhase::Paused,
            "canary pause",
        ),
        (
            "unpausing: the user cleared the pause conditions",
            with(
                canary(),
                json!({"status": {"phase": "Paused", "message": "canary pause", "controllerPause": true}}),
            ),
            RolloutPhase::Progressing,
            "waiting for rollout to unpause",
        ),
    ];
    let mut failures = vec![];
    for (name, v, phase, message) in &cases {
        let got = rollout_phase(&ro(v.clone()));
        if got != (*phase, message.to_string()) {
            failures.push(format!("{name}: want ({phase:?}, {message:?}), got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn is_generation_observed_matches_upstream() {
    let cases = [
        ("invalid", None, true),
        ("10", Some(9), true),
        ("10", Some(10), true),
        ("10", Some(11), false),
        ("", Some(3), true),
    ];
    for (observed, generation, want) in cases {
        let r =
            ro(json!({"metadata": {"generation": generation}, "status": {"observedGeneration": observed}}));
        assert_eq!(is_generation_observed(&r), want, "{observed:?} vs {generation:?}");
    }
}

#[test]
fn is_workload_generation_observed_matches_upstream() {
    let mut r = ro(canary());
    assert!(is_workload_generation_observed(&r), "no annotation");
    r.metadata
        .annotations
        .insert(WORKLOAD_GENERATION_ANNOTATION.into(), "2".into());
    for (status, want) in [
        ("222222222222222222", true),
        ("1", false),
        ("2", true),
        ("", true),
    ] {
        r.status.workload_observed_generation = status.into();
        assert_eq!(is_workload_generation_observed(&r), want, "{status:?}");
    }
    r.metadata
        .annotations
        .insert(WORKLOAD_GENERATION_ANNOTATION.into(), "not-a-number".into());
    r.status.workload_observed_generation = "1".into();
    assert!(is_workload_generation_observed(&r), "unreadable annotation");
}

#[test]
fn the_workload_generation_annotation_follows_the_observed_workload() {
    let mut v = canary();
    v["spec"]["workloadRef"] = json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"});
    let mut r = ro(v);
    let set = |g: &str| Some(AnnotationChange::Set(g.into()));
    assert_eq!(
        workload_generation_change(&r, &r.status),
        None,
        "no workload observed yet"
    );
    let mut st = r.status.clone();
    st.workload_observed_generation = "3".into();
    assert_eq!(workload_generation_change(&r, &st), set("3"), "first resolve");
    r.metadata
        .annotations
        .insert(WORKLOAD_GENERATION_ANNOTATION.into(), "3".into());
    assert_eq!(workload_generation_change(&r, &st), None, "unchanged: no write");
    st.workload_observed_generation = "4".into();
    assert_eq!(
        workload_generation_change(&r, &st),
        set("4"),
        "the workload was edited"
    );
    r.status = st.clone();
    r.metadata
        .annotations
        .insert(WORKLOAD_GENERATION_ANNOTATION.into(), "4".into());
    assert!(is_workload_generation_observed(&r));
    r.spec.workload_ref = None;
    assert_eq!(
        workload_generation_change(&r, &st),
        Some(AnnotationChange::Remove),
        "no workloadRef any more"
    );
    r.metadata.annotations.clear();
    assert_eq!(workload_generation_change(&r, &st), None);
}

#[test]
fn is_unpausing_needs_a_controller_pause_without_conditions() {
    let mut r = ro(canary());
    assert!(!is_unpausing(&r.status));
    r.status.controller_pause = true;
    assert!(is_unpausing(&r.status));
}

/// The status the machine persists reads back, through `rollout_phase`, as the phase it wrote;
/// once the spec moves on, readers see `Progressing` until the controller observes it.
#[test]
fn the_persisted_status_reads_back_through_rollout_phase() {
    let mut r = ro(json!({
        "metadata": {"name": "demo", "generation": 1},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "demo"}},
          "template": {"metadata": {"labels": {"app": "demo"}},
                       "spec": {"containers": [{"name": "c", "image": "demo:1"}]}},
          "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}}
    }));
    let now = "2024-01-01T00:00:00Z".parse().unwrap();
    let d = reconcile(&r, &Observed::default(), now, &Inputs::default());
    assert_eq!(d.status.observed_generation, "1");
    let written = (d.status.phase.expect("a phase"), d.status.message.clone());
    assert_eq!(written.0, RolloutPhase::Progressing, "{written:?}");
    r.status = d.status;
    assert_eq!(rollout_phase(&r), written);
    r.metadata.generation = Some(2);
    assert_eq!(
        rollout_phase(&r),
        (
            RolloutPhase::Progressing,
            "waiting for rollout spec update to be observed".to_string()
        )
    );
}
