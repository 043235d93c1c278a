//! Rollout machine benchmarks: one decision (10-step canary, 3 ReplicaSets), a whole simulated
//! lifecycle through the fake cluster, and a grouped Rollout's decision (2 and 10 members).

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rollout_core::rollout::machine::{Prepared, reconcile_prepared};
use rollout_core::rollout::{Inputs, Observed, ObservedReplicaSet, Rollout, reconcile};
use rollout_core::testing::FakeCluster;
use serde_json::json;

fn ten_step_rollout(traffic_routing: bool) -> Rollout {
    let steps = json!([
        {"setWeight": 10}, {"pause": {"duration": "1m"}}, {"setWeight": 20}, {"pause": {"duration": 60}},
        {"setWeight": 40}, {"pause": {}}, {"setWeight": 60}, {"pause": {"duration": "30s"}},
        {"setWeight": 80}, {"pause": {"duration": "10s"}}
    ]);
    let mut canary = json!({"steps": steps, "maxSurge": "25%", "maxUnavailable": 1});
    if traffic_routing {
        canary["canaryService"] = json!("demo-canary");
        canary["stableService"] = json!("demo-stable");
        canary["trafficRouting"] = json!({"alb": {"ingress": "demo", "servicePort": 80}});
    }
    serde_json::from_value(json!({
        "metadata": {"name": "demo", "generation": 3},
        "spec": {"replicas": 10, "selector": {"matchLabels": {"app": "demo"}},
                 "template": {"metadata": {"labels": {"app": "demo"}},
                              "spec": {"containers": [{"name": "app", "image": "demo:v3"}]}},
                 "strategy": {"canary": canary}}
    }))
    .expect("valid rollout")
}

/// A mid-rollout state: stable V1, abandoned V2, current V3 at step 4 (setWeight 40).
fn mid_rollout(traffic_routing: bool) -> (Rollout, Observed) {
    let mut c = FakeCluster::new(
        ten_step_rollout(traffic_routing),
        "2024-01-01T00:00:00Z".parse().expect("ts"),
    );
    c.set_image("demo:v1");
    c.settle(50, true);
    c.set_image("demo:v2");
    for _ in 0..6 {
        c.tick();
        c.advance(1);
    }
    c.set_image("demo:v3");
    for _ in 0..200 {
        if c.rollout.status.current_step_index == Some(5) && c.rollout.status.controller_pause {
            break;
        }
        c.tick();
        c.advance(61);
        c.promote_if_paused();
    }
    assert_eq!(
        c.rollout.status.current_step_index,
        Some(5),
        "paused at step 5 (setWeight 40 done)"
    );
    assert_ne!(c.rollout.status.stable_rs, c.rollout.status.current_pod_hash);
    let rs: Vec<&ObservedReplicaSet> = c.observed.replica_sets.iter().collect();
    assert_eq!(rs.len(), 3, "three ReplicaSets");
    (c.rollout, c.observed)
}

fn one_decision(cr: &mut Criterion) {
    for (name, tr) in [("basic", false), ("traffic_routed", true)] {
        let (ro, obs) = mid_rollout(tr);
        let now = "2024-01-01T01:00:00Z".parse().expect("ts");
        let inputs = Inputs::default();
        cr.bench_function(&format!("decision/10-step canary, 3 RS, {name}"), |b| {
            b.iter(|| reconcile(black_box(&ro), black_box(&obs), now, &inputs))
        });
        let prepared = Prepared::new(&ro, &obs);
        assert!(prepared.is_current(&ro, &obs));
        assert_eq!(
            reconcile_prepared(&ro, &obs, now, &inputs, &prepared),
            reconcile(&ro, &obs, now, &inputs)
        );
        cr.bench_function(&format!("decision/10-step canary, 3 RS, {name}, prepared"), |b| {
            b.iter(|| reconcile_prepared(black_box(&ro), black_box(&obs), now, &inputs, &prepared))
        });
    }
}

fn lifecycle(cr: &mut Criterion) {
    let ro = ten_step_rollout(false);
    cr.bench_function("lifecycle/10-step canary update to Healthy", |b| {
        b.iter(|| {
            let mut c = FakeCluster::new(ro.clone(), "2024-01-01T00:00:00Z".parse().expect("ts"));
            c.settle(50, true);
            c.set_image("demo:v4");
            let mut ticks = 0;
            while c.rollout.status.stable_rs != c.rollout.status.current_pod_hash || ticks < 2 {
                c.tick();
                c.advance(5);
                c.promote_if_paused();
                ticks += 1;
                if ticks > 10_000 {
                    break;
                }
            }
            black_box(ticks)
        })
    });
}

/// Grouped rollouts (issue #13): what a coordinator adds to each member's decision (every
/// member's state from its Rollout, then the member's inputs), for groups of 2 and 10, and the
/// whole decision with it, against a single Rollout's `decision/…, prepared`.
fn group_decision(cr: &mut Criterion) {
    use rollout_core::rollout::group::{MemberState, inputs_for};
    let (ro, obs) = mid_rollout(false);
    let now = "2024-01-01T01:00:00Z".parse().expect("ts");
    let prepared = Prepared::new(&ro, &obs);
    for n in [2usize, 10] {
        let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
        let members: Vec<Rollout> = names
            .iter()
            .map(|name| {
                let mut m = ro.clone();
                m.metadata.name = name.clone();
                m.metadata
                    .annotations
                    .insert("rollout.io/group".into(), "shop".into());
                m.metadata
                    .annotations
                    .insert("rollout.io/group-members".into(), names.join(","));
                m.status.observed_generation = m.metadata.generation.unwrap_or(1).to_string();
                m
            })
            .collect();
        let me = &members[0];
        let inputs = inputs_for(
            &me.metadata.name,
            &members.iter().map(MemberState::of).collect::<Vec<_>>(),
        );
        assert!(!inputs.hold && inputs.force_abort.is_none(), "{inputs:?}");
        cr.bench_function(&format!("group/inputs, {n} members"), |b| {
            b.iter(|| {
                let states: Vec<MemberState> = black_box(&members).iter().map(MemberState::of).collect();
                inputs_for(&me.metadata.name, &states)
            })
        });
        cr.bench_function(&format!("group/decision, {n} members, prepared"), |b| {
            b.iter(|| {
                let states: Vec<MemberState> = black_box(&members).iter().map(MemberState::of).collect();
                let inputs = inputs_for(&me.metadata.name, &states);
                reconcile_prepared(black_box(me), black_box(&obs), now, &inputs, &prepared)
            })
        });
    }
}

criterion_group!(benches, one_decision, lifecycle, group_decision);
criterion_main!(benches);
