//! The migration plans against the machine: `hand_over` lists the states `reconcile` actually
//! drives a Deployment and its Rollout through (FakeCluster, pods becoming ready one at a time),
//! and `revert_plan` never lets ready pods drop below the floor.

mod rollout_support;

use proptest::prelude::*;
use rollout_core::rollout::Action;
use rollout_core::rollout::ObservedWorkload;
use rollout_core::rollout::ScaleDownMode;
use rollout_core::rollout::migration::{
    HandOver, RevertEnd, RevertInput, RevertStep, Stage, availability_floor, hand_over, revert_plan,
};
use rollout_core::testing::FakeCluster;
use rollout_support::*;
use serde_json::json;

fn cluster(mode: &str, deployment: i32, rollout: i32) -> FakeCluster {
    let mut ro = fixture("05-workload-ref.yaml");
    ro.spec.workload_ref.as_mut().unwrap().scale_down = Some(mode.to_string());
    ro.spec.replicas = Some(rollout);
    let mut c = FakeCluster::new(ro, t0());
    c.observed.workload = Some(ObservedWorkload {
        template: json!({"metadata": {"labels": {"app": "rollout-ref-deployment"}},
                         "spec": {"containers": [{"name": "demo", "image": "demo:blue"}]}}),
        selector: serde_json::from_value(json!({"matchLabels": {"app": "rollout-ref-deployment"}})).ok(),
        generation: 1,
        replicas: deployment,
    });
    c.auto_ready = false;
    c
}

/// `(rollout pods, deployment replicas)` after each tick, one more Rollout pod ready per tick,
/// consecutive duplicates merged.
fn machine_states(mode: &str, deployment: i32, rollout: i32) -> Vec<(i32, i32)> {
    let mut c = cluster(mode, deployment, rollout);
    let state = |c: &FakeCluster| {
        let pods: i32 = c.observed.replica_sets.iter().map(|r| r.replicas).sum();
        (pods, c.observed.workload.as_ref().unwrap().replicas)
    };
    let mut states = vec![state(&c)];
    for _ in 0..(4 * rollout + 20) {
        c.tick();
        states.push(state(&c));
        for rs in &mut c.observed.replica_sets {
            rs.ready = (rs.ready + 1).min(rs.replicas);
            rs.available = rs.ready;
            rs.status_replicas = rs.replicas;
        }
        c.now = rollout_core::rollout::machine::plus_secs_pub(c.now, 1);
    }
    assert!(
        !c.log
            .iter()
            .any(|a| matches!(a, Action::ScaleWorkload { replicas, .. } if *replicas < 0)),
        "never a negative Deployment size"
    );
    states.dedup();
    states
}

fn plan_states(plan: &HandOver) -> Vec<(i32, i32)> {
    let mut s: Vec<(i32, i32)> = plan.moments.iter().map(|m| (m.rollout, m.deployment)).collect();
    s.dedup();
    s
}

#[test]
fn the_plan_is_what_the_machine_does() {
    let table = [
        ("never", ScaleDownMode::Never, 4, 4),
        ("onsuccess", ScaleDownMode::OnSuccess, 4, 4),
        ("onsuccess", ScaleDownMode::OnSuccess, 5, 3),
        ("progressively", ScaleDownMode::Progressively, 4, 4),
        ("progressively", ScaleDownMode::Progressively, 6, 3),
        // Fewer Deployment pods than Rollout replicas: the machine grows it to `replicas - ready`.
        ("progressively", ScaleDownMode::Progressively, 1, 5),
        ("progressively", ScaleDownMode::Progressively, 0, 3),
        ("never", ScaleDownMode::Never, 0, 2),
    ];
    for (name, mode, d, r) in table {
        let plan = hand_over(mode, d, r);
        let machine = machine_states(name, d, r);
        assert_eq!(plan_states(&plan), machine, "{name} D={d} R={r}: {plan:#?}");
        let peak = machine.iter().map(|(a, b)| a + b).max().unwrap();
        assert_eq!(plan.peak_pods, peak, "{name} D={d} R={r}");
        assert_eq!(plan.extra_pods, peak - d);
    }
}

#[test]
fn plan_moments_read_as_a_hand_over() {
    let plan = hand_over(ScaleDownMode::Progressively, 3, 3);
    let stages: Vec<String> = plan.moments.iter().map(|m| m.stage.to_string()).collect();
    assert_eq!(
        stages,
        [
            "before",
            "Rollout ReplicaSet created",
            "Rollout pods ready: 1",
            "Rollout pods ready: 2",
            "Rollout Healthy"
        ]
    );
    assert_eq!((plan.peak_pods, plan.extra_pods, plan.min_ready), (6, 3, 3));
    let never = hand_over(ScaleDownMode::Never, 3, 3);
    assert!(never.deployment_kept);
    assert_eq!(never.moments.last().unwrap().stage, Stage::RolloutCreated);
    // Large counts stay bounded.
    let big = hand_over(ScaleDownMode::Progressively, 10_000, 10_000);
    assert!(big.moments.len() <= 30, "{}", big.moments.len());
    assert_eq!(big.peak_pods, 20_000);
}

/// Ready pods of a Deployment and a Rollout while the revert steps run, with a Deployment whose
/// new pods become ready only during `WaitAvailable`.
fn serving_during(steps: &[RevertStep], deployment_ready: i32, rollout_ready: i32) -> Vec<i32> {
    let (mut dep, mut ro) = (deployment_ready, rollout_ready);
    let mut target = deployment_ready;
    let mut out = vec![dep + ro];
    for s in steps {
        match s {
            RevertStep::ScaleDeployment { to, .. } => {
                target = *to;
                dep = dep.min(*to); // scaling down removes ready pods at once
            }
            RevertStep::WaitAvailable { available, .. } => {
                while dep < target {
                    dep += 1;
                    out.push(dep + ro);
                }
                assert!(dep >= *available, "waits for what it scaled to");
            }
            RevertStep::RemoveRollout { .. } => ro = 0,
            _ => {}
        }
        out.push(dep + ro);
    }
    out
}

proptest! {
    #[test]
    fn revert_never_goes_below_the_floor(
        replicas in 0i32..40,
        deployment in 0i32..40,
        rollout_ready_frac in 0u8..=100,
        pause in any::<bool>(),
        max_unavailable in 0i32..10,
    ) {
        let rollout_ready = replicas * i32::from(rollout_ready_frac) / 100;
        let floor = availability_floor(replicas, Some(&i64::from(max_unavailable).into()));
        let steps = revert_plan(&RevertInput {
            rollout: "web".into(),
            deployment: "web".into(),
            deployment_replicas: deployment,
            rollout_replicas: replicas,
            floor,
            services: vec!["web-stable".into()],
            end: if pause { RevertEnd::Pause } else { RevertEnd::Remove },
        });
        let serving = serving_during(&steps, deployment.min(replicas), rollout_ready);
        let start = serving[0];
        for s in &serving {
            prop_assert!(*s >= floor.min(start), "{s} < floor {floor}: {steps:?}");
        }
        prop_assert!(*serving.last().unwrap() >= replicas.min(replicas.max(0)), "ends with the Deployment at its size");
        // Nothing that removes serving pods comes before the wait.
        let wait = steps.iter().position(|s| matches!(s, RevertStep::WaitAvailable { .. })).unwrap();
        for (i, s) in steps.iter().enumerate() {
            if matches!(s, RevertStep::RemoveRollout { .. } | RevertStep::UnpinService { .. } | RevertStep::PauseRollout { .. }) {
                prop_assert!(i > wait);
            }
        }
        prop_assert!(matches!(steps[0], RevertStep::KeepDeployment { .. }), "first stop the drain");
    }
}

#[test]
fn revert_steps_in_words() {
    let steps = revert_plan(&RevertInput {
        rollout: "web".into(),
        deployment: "web-dep".into(),
        deployment_replicas: 0,
        rollout_replicas: 4,
        floor: 3,
        services: vec![],
        end: RevertEnd::Remove,
    });
    let words: Vec<String> = steps.iter().map(ToString::to_string).collect();
    assert_eq!(
        words,
        [
            "set Rollout web workloadRef.scaleDown to never (the controller stops draining the Deployment)",
            "scale Deployment web-dep from 0 to 4",
            "wait until Deployment web-dep has 4 available pods",
            "remove the migration annotations from Deployment web-dep",
            "delete Rollout web (its ReplicaSets and pods go with it)",
        ]
    );
    assert_eq!(availability_floor(4, None), 3);
    assert_eq!(availability_floor(10, Some(&0i64.into())), 10);
}
