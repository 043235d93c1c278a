//! The baseline arm (our extension `spec.strategy.canary.baseline`): create, scale and delete
//! decisions, the strategies ignoring it, `podTemplateHashValue: Baseline`, validation, and the
//! properties "the arm is the canary's size whenever it exists" and "no arm once the update has
//! ended" over generated specs and user events.

mod rollout_support;

use proptest::prelude::*;
use rollout_core::rollout::machine::{ARM_BASELINE, ARM_LABEL, baseline_hash, is_baseline_hash};
use rollout_core::rollout::validation::rollout_problems;
use rollout_core::rollout::{Action, BaselineArm, ConditionType, ObservedReplicaSet, RolloutPhase};
use rollout_core::testing::{FakeCluster, strategies};
use rollout_support::*;
use serde_json::json;

fn arms(c: &FakeCluster) -> Vec<&ObservedReplicaSet> {
    c.observed
        .replica_sets
        .iter()
        .filter(|r| is_baseline_hash(&r.pod_template_hash))
        .collect()
}

fn arm_size(c: &FakeCluster) -> Option<i32> {
    match arms(c).as_slice() {
        [] => None,
        [a] => Some(a.replicas),
        more => panic!("more than one baseline arm: {more:?}"),
    }
}

fn with_arm(steps: serde_json::Value) -> FakeCluster {
    deployed(canary(
        10,
        steps,
        json!({"baseline": {"labels": {"role": "baseline"}}}),
    ))
}

fn paused(c: &FakeCluster) -> bool {
    !c.rollout.status.pause_conditions.is_empty()
}

#[test]
fn the_arm_is_created_with_the_canary_follows_it_and_is_deleted_on_promotion() {
    let mut c = with_arm(json!([{"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]));
    assert!(arms(&c).is_empty(), "no arm outside an update");
    let stable = c.rollout.status.stable_rs.clone();
    c.set_image("demo:v2");
    tick_until(&mut c, 60, paused);
    let (s, canary) = c.stable_and_canary();
    assert_eq!((s, canary), (8, 2));
    assert_eq!(arm_size(&c), Some(2));
    // One create, from the stable ReplicaSet, with the arm label and the user's labels.
    let creates: Vec<&Action> = c
        .log
        .iter()
        .filter(|a| matches!(a, Action::CreateBaselineReplicaSet { .. }))
        .collect();
    let [
        Action::CreateBaselineReplicaSet {
            name,
            source,
            pod_template_hash,
            replicas,
            labels,
        },
    ] = creates.as_slice()
    else {
        panic!("{creates:?}")
    };
    assert_eq!(name, &format!("demo-{stable}-baseline"));
    assert_eq!(source, &format!("demo-{stable}"));
    assert_eq!(pod_template_hash, &baseline_hash(&stable));
    assert!(*replicas > 0);
    assert_eq!(labels.get(ARM_LABEL).map(String::as_str), Some(ARM_BASELINE));
    assert_eq!(labels.get("role").map(String::as_str), Some("baseline"));
    assert_eq!(
        events_with(&c, "BaselineArmCreated"),
        vec![format!(
            "Created baseline ReplicaSet demo-{stable}-baseline from demo-{stable} with {replicas} pods (the canary's size)"
        )]
    );
    // The arm is not one of the Rollout's versions: status counts and revisions leave it out.
    assert_eq!(c.rollout.status.replicas, 10);
    assert_eq!(c.rollout.status.available_replicas, 10);

    c.promote();
    tick_until(&mut c, 60, |c| {
        paused(c) && c.rollout.status.current_step_index == Some(3)
    });
    assert_eq!(c.stable_and_canary(), (5, 5));
    assert_eq!(arm_size(&c), Some(5));

    c.promote();
    tick_until(&mut c, 60, |c| {
        c.rollout.status.phase == Some(RolloutPhase::Healthy)
    });
    assert!(arms(&c).is_empty());
    assert_eq!(
        events_with(&c, "BaselineArmDeleted"),
        vec![format!(
            "Deleted baseline ReplicaSet demo-{stable}-baseline (5 pods)"
        )]
    );
    // Old ReplicaSets are scaled down as without an arm: the arm never blocked a step.
    assert_eq!(c.observed.replica_sets.len(), 2);
}

#[test]
fn abort_deletes_the_arm_and_retry_starts_a_fresh_one() {
    let mut c = with_arm(json!([{"setWeight": 30}, {"pause": {}}]));
    c.set_image("demo:v2");
    tick_until(&mut c, 60, paused);
    assert_eq!(arm_size(&c), Some(3));
    c.abort();
    tick_until(&mut c, 60, |c| arms(c).is_empty());
    assert!(c.rollout.status.abort);
    c.settle(30, false);
    assert!(arms(&c).is_empty(), "no arm while aborted");
    c.retry();
    tick_until(&mut c, 60, |c| arm_size(c) == Some(3));
    assert_eq!(events_with(&c, "BaselineArmCreated").len(), 2);
}

#[test]
fn a_stale_arm_of_another_stable_version_is_deleted() {
    let mut c = with_arm(json!([{"setWeight": 30}, {"pause": {}}]));
    let mut stale = c.observed.replica_sets[0].clone();
    stale.name = "demo-old-baseline".into();
    stale.pod_template_hash = "old-baseline".into();
    c.observed.replica_sets.push(stale);
    let d = c.tick();
    assert!(d.actions.contains(&Action::DeleteReplicaSet {
        name: "demo-old-baseline".into()
    }));
}

#[test]
fn analyses_select_the_arm_with_pod_template_hash_value_baseline() {
    let analysis = json!({"analysis": {"templates": [{"templateName": "t"}], "args": [
        {"name": "control", "valueFrom": {"podTemplateHashValue": "Baseline"}},
        {"name": "canary", "valueFrom": {"podTemplateHashValue": "Latest"}}]}});
    let mut c = with_arm(json!([{"setWeight": 20}, analysis]));
    let stable = c.rollout.status.stable_rs.clone();
    c.set_image("demo:v2");
    tick_until(&mut c, 60, |c| !c.observed.analysis_runs.is_empty());
    let req = c
        .log
        .iter()
        .find_map(|a| match a {
            Action::CreateAnalysisRun(r) => Some(r),
            _ => None,
        })
        .unwrap();
    assert_eq!(
        req.args[0].value.as_deref(),
        Some(format!("{stable}-baseline").as_str())
    );
    assert_eq!(
        req.args[1].value.as_deref(),
        Some(c.rollout.status.current_pod_hash.as_str())
    );
    assert_eq!(arm_size(&c), Some(2), "the arm runs while the analysis does");
}

fn invalid_spec(ro: rollout_core::rollout::Rollout) -> String {
    let c = deployed(ro);
    c.rollout
        .status
        .condition(ConditionType::InvalidSpec)
        .map(|c| c.message.clone())
        .unwrap_or_default()
}

#[test]
fn mistakes_are_invalid_specs_with_their_field_paths() {
    let baseline_arg = json!([{"analysis": {"templates": [{"templateName": "t"}],
        "args": [{"name": "control", "valueFrom": {"podTemplateHashValue": "Baseline"}}]}}]);
    // `rollout validate` reports it at the path as written.
    let problems = rollout_problems(&canary(2, baseline_arg.clone(), json!({})));
    assert!(
        problems.iter().any(
            |p| p.path == "spec.strategy.canary.steps[0].analysis.args[0].valueFrom.podTemplateHashValue"
        ),
        "{problems:?}"
    );
    assert_eq!(
        invalid_spec(canary(2, baseline_arg, json!({}))),
        "spec.strategy.steps[0].analysis.args[0].valueFrom.podTemplateHashValue: Invalid value: \
         \"Baseline\": there is no baseline arm to select: set spec.strategy.canary.baseline"
    );
    let routed = json!({"baseline": {}, "canaryService": "c", "stableService": "s",
        "trafficRouting": {"nginx": {"stableIngress": "i"}}});
    assert!(
        invalid_spec(canary(2, json!([{"setWeight": 20}]), routed)).starts_with(
            "spec.strategy.canary.baseline: Invalid value: {...}: a baseline arm needs a replica-based canary"
        ),
    );
    let reserved = json!({"baseline": {"labels": {"app": "other"}}});
    assert!(
        invalid_spec(canary(2, json!([{"setWeight": 20}]), reserved)).starts_with(
            "spec.strategy.canary.baseline.labels[app]: Invalid value: \"app\": set by the controller"
        ),
    );
}

#[test]
fn upstream_yaml_reads_and_writes_as_before() {
    let ro = canary(2, json!([{"setWeight": 20}]), json!({}));
    let c = ro.canary().unwrap();
    assert_eq!(c.baseline, None);
    assert!(
        serde_json::to_value(&ro).unwrap()["spec"]["strategy"]["canary"]
            .get("baseline")
            .is_none()
    );
    let ro = canary(2, json!([{"setWeight": 20}]), json!({"baseline": {}}));
    assert_eq!(ro.canary().unwrap().baseline, Some(BaselineArm::default()));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whenever an arm exists it is the only one, of the current stable version, and exactly the
    /// canary's size (after every tick, whatever the user does); once the update has ended
    /// (promoted, aborted, rolled back, fully promoted, steps done) no arm is left.
    #[test]
    fn the_arm_is_the_canarys_size_and_gone_when_the_update_ends(
        ro in strategies::basic_canary_rollout(),
        events in strategies::event_sequence(),
    ) {
        let mut ro = ro;
        if let Some(c) = ro.spec.strategy.canary.as_mut() {
            c.baseline = Some(BaselineArm::default());
        }
        let mut c = deployed(ro);
        prop_assert!(arms(&c).is_empty());
        c.set_image("demo:v2");
        let check_size = |c: &FakeCluster| -> Result<(), TestCaseError> {
            if let Some(size) = arm_size(c) {
                let st = &c.rollout.status;
                prop_assert_eq!(&arms(c)[0].pod_template_hash, &baseline_hash(&st.stable_rs));
                prop_assert_eq!(size, c.stable_and_canary().1, "status {:?}", st);
            }
            Ok(())
        };
        let check_ended = |c: &FakeCluster| -> Result<(), TestCaseError> {
            let st = &c.rollout.status;
            let steps = c.rollout.steps().len() as i32;
            let ended = st.abort
                || st.promote_full
                || st.stable_rs == st.current_pod_hash
                || st.current_step_index.is_some_and(|i| i >= steps);
            if ended {
                prop_assert!(arms(c).is_empty(), "status {:?}", st);
            }
            Ok(())
        };
        for e in events.iter().chain([&strategies::UserEvent::Wait(1)]) {
            for _ in 0..4 {
                c.tick();
                check_size(&c)?;
                c.advance(1);
            }
            check_ended(&c)?;
            c.user_event(e);
        }
        for _ in 0..60 {
            c.tick();
            check_size(&c)?;
            c.advance(2);
            c.promote_if_paused();
        }
        check_ended(&c)?;
    }
}

#[test]
fn the_arm_template_is_the_stable_template_with_the_arm_labels() {
    use rollout_core::rollout::machine::arm_template;
    let labels = std::collections::BTreeMap::from([("rollouts-arm".to_string(), "baseline".to_string())]);
    let stable = json!({"metadata": {"labels": {"app": "web", "rollouts-pod-template-hash": "abc"}},
                        "spec": {"containers": [{"name": "app", "image": "web:v1"}]}});
    assert_eq!(
        arm_template(&stable, "abc-baseline", &labels),
        json!({"metadata": {"labels": {"app": "web", "rollouts-pod-template-hash": "abc-baseline", "rollouts-arm": "baseline"}},
               "spec": {"containers": [{"name": "app", "image": "web:v1"}]}})
    );
    // A template without labels (or without metadata) still gets them.
    for source in [
        json!({"spec": {}}),
        json!({"metadata": {}, "spec": {}}),
        json!(null),
    ] {
        let t = arm_template(&source, "abc-baseline", &labels);
        assert_eq!(
            t["metadata"]["labels"],
            json!({"rollouts-pod-template-hash": "abc-baseline", "rollouts-arm": "baseline"}),
            "{source}"
        );
    }
}
