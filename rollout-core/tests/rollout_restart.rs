//! `spec.restartAt` pod restarts: upstream's `rollout/restart_test.go` cases as a table over
//! [`restart_plan`], the reconcile rules (no status patch when evicting, requeue, `restartedAt`,
//! a template change cancels), and properties over generated pods.

mod rollout_support;

use proptest::prelude::*;
use rollout_core::common::Timestamp;
use rollout_core::rollout::machine::{
    RESTART_CHECK_SECS, RestartPlan, max_unavailable, plus_secs_pub, restart_plan,
};
use rollout_core::rollout::{
    Action, Inputs, Observed, ObservedPod, ObservedReplicaSet, Rollout, RolloutPhase, reconcile,
};
use rollout_core::testing::FakeCluster;
use rollout_support::*;
use serde_json::{Value, json};

fn at(secs: i64) -> Timestamp {
    plus_secs_pub(t0(), secs)
}

/// A canary Rollout restarting at `at(0)` with `extra` merged into the canary strategy.
fn restarting(replicas: i32, extra: Value) -> Rollout {
    let mut ro = canary(replicas, json!([{"setWeight": 50}, {"pause": {}}]), extra);
    ro.spec.restart_at = Some(at(0));
    ro
}

fn rs(name: &str, replicas: i32, available: i32, created: i64) -> ObservedReplicaSet {
    ObservedReplicaSet {
        name: name.into(),
        pod_template_hash: name.into(),
        revision: 1,
        created_at: at(created),
        replicas,
        status_replicas: replicas,
        ready: available,
        available,
        scale_down_deadline: None,
        template: None,
        needs: Vec::new(),
    }
}

fn pod(name: &str, rs: &str, created: i64, ready: bool) -> ObservedPod {
    ObservedPod {
        name: name.into(),
        replica_set: rs.into(),
        created_at: at(created),
        ready,
        ready_since: ready.then(|| at(created)),
        terminating: false,
    }
}

fn observed(rss: Vec<ObservedReplicaSet>, pods: Vec<ObservedPod>) -> Observed {
    Observed {
        replica_sets: rss,
        pods: Some(pods),
        ..Default::default()
    }
}

fn evict(names: &[&str]) -> RestartPlan {
    RestartPlan::Evict(
        names
            .iter()
            .map(|n| {
                let rs = n.split(':').nth(1).unwrap_or("abc123");
                (
                    n.split(':').next().unwrap_or_default().to_string(),
                    rs.to_string(),
                )
            })
            .collect(),
    )
}

/// Upstream's cases (`TestRestartReconcile`, `TestRestartReplicaSetPod`,
/// `TestRestartDoNotDeleteOtherPods`, `TestRestartMaxUnavailable`), plus ours.
#[test]
fn restart_plan_table() {
    let one = || vec![rs("abc123", 1, 1, -100)];
    let three_pods = |newer_ready: bool| {
        vec![
            pod("older1", "abc123", -10, true),
            pod("older2", "abc123", -10, true),
            pod("newer", "abc123", 10, newer_ready),
        ]
    };
    let mu = |v: Value| json!({"maxUnavailable": v});
    let two_rs = || vec![rs("abc123", 1, 1, -100), rs("def456", 1, 1, -50)];
    let mut recorded = restarting(1, json!({}));
    recorded.status.restarted_at = Some(at(0));
    let cases: Vec<(&str, Rollout, Observed, Option<&str>, RestartPlan)> = vec![
        (
            "no restart needed",
            recorded,
            observed(one(), vec![pod("older", "abc123", -10, true)]),
            None,
            RestartPlan::Idle,
        ),
        (
            "not all available, no pods",
            restarting(1, json!({})),
            observed(vec![rs("abc123", 1, 0, -100)], vec![]),
            None,
            RestartPlan::Done(at(0)),
        ),
        (
            "deletes the older pod",
            restarting(1, json!({})),
            observed(one(), vec![pod("older", "abc123", -10, true)]),
            None,
            evict(&["older"]),
        ),
        (
            "no more pods to delete",
            restarting(1, json!({})),
            observed(one(), vec![pod("newer", "abc123", 10, true)]),
            None,
            RestartPlan::Done(at(0)),
        ),
        (
            "created exactly at restartAt",
            restarting(1, json!({})),
            observed(one(), vec![pod("equal", "abc123", 0, true)]),
            None,
            RestartPlan::Done(at(0)),
        ),
        (
            "other ReplicaSets' pods are not ours",
            restarting(1, mu(json!(2))),
            observed(
                one(),
                vec![
                    pod("newer", "abc123", 10, true),
                    pod("other-pod", "other-rs", -10, true),
                ],
            ),
            Some("abc123"),
            RestartPlan::Done(at(0)),
        ),
        (
            "restart multiple",
            restarting(3, mu(json!(2))),
            observed(one(), three_pods(true)),
            Some("abc123"),
            evict(&["older1", "older2"]),
        ),
        (
            "multiple, honouring availability",
            restarting(3, mu(json!(2))),
            observed(one(), three_pods(false)),
            Some("abc123"),
            evict(&["older1"]),
        ),
        (
            "maxUnavailable 0 still restarts one",
            restarting(3, mu(json!(0))),
            observed(one(), three_pods(true)),
            Some("abc123"),
            evict(&["older1"]),
        ),
        (
            "maxUnavailable 100%",
            restarting(3, mu(json!("100%"))),
            observed(one(), three_pods(true)),
            Some("abc123"),
            evict(&["older1", "older2"]),
        ),
        (
            "replicas 1 at weight 50: stable first",
            restarting(1, json!({})),
            observed(
                two_rs(),
                vec![
                    pod("older1", "abc123", -10, true),
                    pod("older2", "def456", -10, true),
                ],
            ),
            Some("abc123"),
            evict(&["older1"]),
        ),
        (
            "replicas 1 at weight 50, already at the floor",
            restarting(1, json!({})),
            observed(
                two_rs(),
                vec![
                    pod("older1", "abc123", -10, true),
                    pod("older2", "def456", -10, false),
                ],
            ),
            Some("abc123"),
            RestartPlan::Waiting { remaining: 2 },
        ),
        (
            "replicas 0",
            restarting(0, json!({})),
            observed(vec![rs("abc123", 0, 0, -100)], vec![]),
            Some("abc123"),
            RestartPlan::Done(at(0)),
        ),
        (
            "a terminating old pod is waited for",
            restarting(3, mu(json!("100%"))),
            observed(
                one(),
                vec![ObservedPod {
                    terminating: true,
                    ..pod("older", "abc123", -10, true)
                }],
            ),
            None,
            RestartPlan::Waiting { remaining: 1 },
        ),
        (
            "pods not listed while some exist",
            restarting(1, json!({})),
            Observed {
                replica_sets: one(),
                ..Default::default()
            },
            None,
            RestartPlan::PodsUnknown,
        ),
        (
            "pods not listed and none exist",
            restarting(0, json!({})),
            Observed {
                replica_sets: vec![rs("abc123", 0, 0, -100)],
                ..Default::default()
            },
            None,
            RestartPlan::Done(at(0)),
        ),
        (
            "minReadySeconds: a freshly ready pod is not available",
            {
                let mut ro = restarting(2, json!({}));
                ro.spec.min_ready_seconds = Some(60);
                ro
            },
            observed(
                vec![rs("abc123", 2, 2, -100)],
                vec![
                    pod("older", "abc123", -100, true),
                    pod("fresh", "abc123", -5, true),
                ],
            ),
            None,
            RestartPlan::Waiting { remaining: 2 },
        ),
    ];
    for (name, ro, obs, stable, want) in cases {
        assert_eq!(restart_plan(&ro, &obs, stable, None, at(1)), want, "{name}");
    }
}

/// Upstream's `checkEnqueueRollout`: a restart ahead is a wake-up, not an eviction.
#[test]
fn a_restart_ahead_is_scheduled() {
    let mut ro = restarting(1, json!({}));
    ro.spec.restart_at = Some(at(300));
    let obs = observed(
        vec![rs("abc123", 1, 1, -100)],
        vec![pod("older", "abc123", -10, true)],
    );
    assert_eq!(
        restart_plan(&ro, &obs, None, None, at(1)),
        RestartPlan::Scheduled(at(300))
    );
    assert_eq!(
        restart_plan(&ro, &obs, None, None, at(300)),
        evict(&["older"]),
        "due at restartAt"
    );
}

/// `SortReplicaSetsByPriority`: stable, then new, then the others oldest first.
#[test]
fn pods_are_restarted_stable_first_then_new_then_oldest() {
    let ro = restarting(4, json!({"maxUnavailable": "100%"}));
    let rss = vec![
        rs("old-b", 1, 1, -30),
        rs("new", 1, 1, -10),
        rs("old-a", 1, 1, -40),
        rs("stable", 1, 1, -20),
    ];
    let pods = ["old-b", "new", "old-a", "stable"]
        .iter()
        .map(|r| pod(&format!("{r}-p"), r, -5, true))
        .collect();
    let plan = restart_plan(&ro, &observed(rss, pods), Some("stable"), Some("new"), at(1));
    assert_eq!(
        plan,
        evict(&["stable-p:stable", "new-p:new", "old-a-p:old-a", "old-b-p:old-b"])
    );
}

#[test]
fn max_unavailable_defaults_and_blue_green() {
    assert_eq!(max_unavailable(&restarting(8, json!({}))), 2, "25% of 8");
    assert_eq!(
        max_unavailable(&restarting(1, json!({}))),
        0,
        "25% of 1 rounds down"
    );
    let mut bg = restarting(4, json!({}));
    bg.spec.strategy =
        serde_json::from_value(json!({"blueGreen": {"activeService": "active", "maxUnavailable": 3}}))
            .unwrap();
    assert_eq!(max_unavailable(&bg), 3);
}

/// A Healthy canary of `replicas` whose pods were all created at `at(-60)` (before `restartAt`).
fn healthy(replicas: i32, extra: Value) -> (FakeCluster, Vec<ObservedPod>) {
    let mut c = FakeCluster::new(
        canary(replicas, json!([{"setWeight": 50}, {"pause": {}}]), extra),
        at(-120),
    );
    c.settle(50, true);
    c.auto_ready = false;
    let pods = c
        .observed
        .replica_sets
        .iter()
        .flat_map(|r| (0..r.replicas).map(move |i| pod(&format!("{}-{i}", r.name), &r.name, -60, true)))
        .collect();
    (c, pods)
}

#[test]
fn an_evicting_pass_persists_no_status_and_requeues() {
    let (mut c, pods) = healthy(4, json!({}));
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    c.now = at(5);
    c.rollout.spec.restart_at = Some(at(0));
    c.observed.pods = Some(pods);
    let d = reconcile(&c.rollout, &c.observed, c.now, &Inputs::default());
    let evicted: Vec<&Action> = d
        .actions
        .iter()
        .filter(|a| matches!(a, Action::EvictPod { .. }))
        .collect();
    assert_eq!(evicted.len(), 1, "25% of 4: one at a time: {:?}", d.actions);
    assert_eq!(d.status, c.rollout.status, "no status patch while evicting");
    assert_eq!(d.next_wake, Some(plus_secs_pub(at(5), RESTART_CHECK_SECS)));
}

#[test]
fn restarted_at_is_recorded_once_no_old_pod_is_left() {
    let (mut c, _) = healthy(2, json!({}));
    c.now = at(5);
    c.rollout.spec.restart_at = Some(at(0));
    let name = c.observed.replica_sets[0].name.clone();
    c.observed.pods = Some(vec![pod("a", &name, 1, true), pod("b", &name, 2, true)]);
    let d = c.tick();
    assert!(!d.actions.iter().any(|a| matches!(a, Action::EvictPod { .. })));
    assert_eq!(d.status.restarted_at, Some(at(0)));
    assert_eq!(d.status.phase, Some(RolloutPhase::Healthy));
    // Pods not listed: never claimed done.
    let (mut c, _) = healthy(2, json!({}));
    c.now = at(5);
    c.rollout.spec.restart_at = Some(at(0));
    let d = c.tick();
    assert_eq!(d.status.restarted_at, None);
    assert_eq!(
        (d.status.phase, d.status.message.as_str()),
        (Some(RolloutPhase::Progressing), "rollout is restarting")
    );
}

#[test]
fn a_template_change_cancels_a_pending_restart() {
    let (mut c, pods) = healthy(2, json!({}));
    c.now = at(5);
    c.rollout.spec.restart_at = Some(at(0));
    c.observed.pods = Some(pods);
    c.set_image("demo:v2");
    let d = c.tick();
    assert!(
        !d.actions.iter().any(|a| matches!(a, Action::EvictPod { .. })),
        "{:?}",
        d.actions
    );
    assert_eq!(d.status.restarted_at, Some(at(0)));
}

/// The pod world of the properties: evicted pods are replaced at once by unready ones, which
/// become ready on the next step when `ready` says so.
struct World {
    c: FakeCluster,
    pods: Vec<ObservedPod>,
    next: usize,
}

impl World {
    fn sync(&mut self) {
        for r in &mut self.c.observed.replica_sets {
            let ours: Vec<&ObservedPod> = self.pods.iter().filter(|p| p.replica_set == r.name).collect();
            r.status_replicas = ours.len() as i32;
            r.ready = ours.iter().filter(|p| p.ready).count() as i32;
            r.available = r.ready;
        }
        self.c.observed.pods = Some(self.pods.clone());
    }

    fn available(&self) -> i64 {
        self.pods.iter().filter(|p| p.ready).count() as i64
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn restarts_stay_within_budget_and_finish(
        replicas in 1i32..8,
        max_unavail in prop_oneof![Just(json!(null)), (0i32..5).prop_map(|v| json!(v)), (0i32..101).prop_map(|p| json!(format!("{p}%")))],
        unready in proptest::collection::vec(any::<bool>(), 8),
        ready_each_step in any::<bool>(),
    ) {
        let extra = if max_unavail.is_null() { json!({}) } else { json!({"maxUnavailable": max_unavail}) };
        let (mut c, mut pods) = healthy(replicas, extra);
        for (p, u) in pods.iter_mut().zip(&unready) {
            if *u { p.ready = false; p.ready_since = None; }
        }
        c.rollout.spec.restart_at = Some(at(0));
        c.now = at(1);
        let mut w = World { c, pods, next: 0 };
        let ro = w.c.rollout.clone();
        let total: i64 = w.c.observed.replica_sets.iter().map(|r| i64::from(r.replicas)).sum();
        let floor = i64::from(ro.replicas()).max(total) - i64::from(max_unavailable(&ro).max(1));
        let mut done = false;
        for step in 0..200 {
            w.sync();
            let before = w.c.rollout.status.clone();
            let available = w.available();
            let d = w.c.tick();
            let evicted: Vec<String> = d.actions.iter().filter_map(|a| match a {
                Action::EvictPod { name, .. } => Some(name.clone()),
                _ => None,
            }).collect();
            // Never more than the budget (old pods may be evicted ready or not): the available
            // pods left stay at the floor or above.
            prop_assert!(
                evicted.is_empty() || available - (evicted.len() as i64) >= floor,
                "step {step}: {available} available, evicted {evicted:?}, floor {floor}"
            );
            if !evicted.is_empty() {
                prop_assert_eq!(&w.c.rollout.status, &before, "no status patch while evicting");
            }
            // restartedAt only when none is left.
            let old_left = w.pods.iter().filter(|p| p.created_at < at(0)).count();
            if w.c.rollout.status.restarted_at == Some(at(0)) {
                prop_assert_eq!(old_left, 0, "restartedAt recorded with old pods left");
                done = true;
                break;
            }
            for name in &evicted {
                let Some(i) = w.pods.iter().position(|p| &p.name == name) else { continue };
                let old = w.pods.remove(i);
                w.next += 1;
                w.pods.push(ObservedPod {
                    name: format!("new-{}", w.next),
                    created_at: w.c.now,
                    ready: false,
                    ready_since: None,
                    ..old
                });
            }
            w.c.now = plus_secs_pub(w.c.now, RESTART_CHECK_SECS);
            // Pods become ready (every step, or every other step).
            if ready_each_step || step % 2 == 1 {
                let now = w.c.now;
                for p in &mut w.pods {
                    if !p.ready { p.ready = true; p.ready_since = Some(now); }
                }
            }
        }
        prop_assert!(done, "restart never finished: {:?}", w.pods);
        prop_assert!(w.pods.iter().all(|p| p.created_at >= at(0)));
    }
}
