//! Rollout machine benchmarks (10-step canary, 3 ReplicaSets): single states (paused at the
//! indefinite pause), the average over every decision of a whole update, a simulated lifecycle
//! that must end Healthy with the old ReplicaSets scaled down, and a grouped Rollout's decision
//! (2 and 10 members). Allocations per decision are counted and printed before the timings.

mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rollout_core::rollout::machine::{Prepared, reconcile_prepared};
use rollout_core::rollout::{Inputs, Observed, Rollout, reconcile};
use support::{count_allocs, paused_at_step_5, round_robin, ten_step_rollout, ts, update_states};

#[global_allocator]
static ALLOC: support::Counting = support::Counting;

/// A mid-rollout state: stable V1, abandoned V2, current V3 paused at step 5 (after setWeight 40).
fn mid_rollout(traffic_routing: bool) -> (Rollout, Observed) {
    let c = paused_at_step_5(traffic_routing);
    (c.rollout, c.observed)
}

/// Prints allocations per decision: the paused state and every decision of an update.
fn report_allocations() {
    let inputs = Inputs::default();
    for (name, tr) in [("basic", false), ("traffic_routed", true)] {
        let (ro, obs) = mid_rollout(tr);
        let now = ts("2024-01-01T01:00:00Z");
        let prepared = Prepared::new(&ro, &obs);
        let (paused, _) = count_allocs(|| reconcile_prepared(&ro, &obs, now, &inputs, &prepared));
        let states = update_states(tr);
        let prepared = support::prepared_for(&states);
        let per: Vec<usize> = states
            .iter()
            .zip(&prepared)
            .map(|((ro, obs, now), p)| count_allocs(|| reconcile_prepared(ro, obs, *now, &inputs, p)).0)
            .collect();
        let plain: usize = states
            .iter()
            .map(|(ro, obs, now)| count_allocs(|| reconcile(ro, obs, *now, &inputs)).0)
            .sum();
        let sum: usize = per.iter().sum();
        println!(
            "allocations/{name}: paused state {paused} (prepared); update of {} decisions: \
             prepared {:.1} per decision (max {}), reconcile {:.1} per decision",
            states.len(),
            sum as f64 / states.len() as f64,
            per.iter().max().copied().unwrap_or(0),
            plain as f64 / states.len() as f64,
        );
    }
}

fn one_decision(cr: &mut Criterion) {
    report_allocations();
    for (name, tr) in [("basic", false), ("traffic_routed", true)] {
        let (ro, obs) = mid_rollout(tr);
        let now = ts("2024-01-01T01:00:00Z");
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

/// The average over every decision of a whole update: iteration `i` decides state
/// `i % n`, so the reported time is per decision, averaged over the update.
fn update_average(cr: &mut Criterion) {
    let inputs = Inputs::default();
    for (name, tr) in [("basic", false), ("traffic_routed", true)] {
        let states = update_states(tr);
        let prepared = support::prepared_for(&states);
        let n = states.len();
        println!("update/{name}: {n} decisions from the new template to Healthy");
        cr.bench_function(
            &format!("update/10-step canary, 3 RS, {name}, per decision"),
            |b| {
                b.iter_custom(|iters| {
                    round_robin(iters, n, |k| {
                        let (ro, obs, now) = &states[k];
                        black_box(reconcile(black_box(ro), black_box(obs), *now, &inputs));
                    })
                })
            },
        );
        cr.bench_function(
            &format!("update/10-step canary, 3 RS, {name}, per decision, prepared"),
            |b| {
                b.iter_custom(|iters| {
                    round_robin(iters, n, |k| {
                        let (ro, obs, now) = &states[k];
                        black_box(reconcile_prepared(
                            black_box(ro),
                            black_box(obs),
                            *now,
                            &inputs,
                            &prepared[k],
                        ));
                    })
                })
            },
        );
    }
}

/// A whole update through the fake cluster (plain `reconcile`, status cloned as `tick` does),
/// ending at phase Healthy with the old ReplicaSet scaled down.
fn lifecycle(cr: &mut Criterion) {
    let ro = ten_step_rollout(false);
    let run = || {
        let mut c = rollout_core::testing::FakeCluster::new(ro.clone(), ts("2024-01-01T00:00:00Z"));
        c.settle(50, true);
        c.set_image("demo:v4");
        let mut ticks = 0;
        while !support::update_done(&c) || ticks < 2 {
            c.tick();
            support::operator_step(&mut c);
            ticks += 1;
            if ticks > 10_000 {
                break;
            }
        }
        (c, ticks)
    };
    let (c, ticks) = run();
    support::assert_update_done(&c);
    println!("lifecycle: {ticks} decisions");
    cr.bench_function("lifecycle/10-step canary update to Healthy", |b| {
        b.iter(|| black_box(run().1))
    });
}

/// Grouped rollouts (issue #13): what a coordinator adds to each member's decision (every
/// member's state from its Rollout, then the member's inputs), for groups of 2 and 10, and the
/// whole decision with it, against a single Rollout's `decision/…, prepared`.
fn group_decision(cr: &mut Criterion) {
    use rollout_core::rollout::group::{MemberState, inputs_for};
    let (ro, obs) = mid_rollout(false);
    let now = ts("2024-01-01T01:00:00Z");
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

criterion_group!(benches, one_decision, update_average, lifecycle, group_decision);
criterion_main!(benches);
