//! `reconcile_into` with a recycled decision (as a driver that swaps the persisted status back
//! in would call it): the steady paused state (the decision changes nothing) and the average over every decision of an update, both
//! 10-step canaries with 3 ReplicaSets, against `reconcile_prepared` in the same group. Checks the
//! allocations per decision against budgets first, so a regression fails the bench.
//!
//! `cargo bench -p rollout-core --bench into`

mod support;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rollout_core::rollout::machine::{Prepared, reconcile_into, reconcile_prepared};
use rollout_core::rollout::{Decision, Inputs, RolloutStatus};
use support::{count_allocs, paused_at_step_5, round_robin, update_states};

#[global_allocator]
static ALLOC: support::Counting = support::Counting;

/// Average allocations allowed per decision of an update with a recycled decision (those left
/// are the output's own: events, actions, changed conditions and messages).
const UPDATE_BUDGET: f64 = 5.0;

fn empty() -> Decision {
    Decision {
        status: RolloutStatus::default(),
        actions: Vec::new(),
        next_wake: None,
    }
}

fn paused(
    tr: bool,
) -> (
    rollout_core::rollout::Rollout,
    rollout_core::rollout::Observed,
    rollout_core::common::Timestamp,
) {
    let mut c = paused_at_step_5(tr);
    // The steady paused state: decide until the status stops changing and nothing is done.
    for _ in 0..10 {
        let before = c.rollout.status.clone();
        let d = c.tick();
        if d.actions.is_empty() && before == c.rollout.status {
            return (c.rollout, c.observed, c.now);
        }
    }
    panic!("the paused state does not settle");
}

fn into(cr: &mut Criterion) {
    let inputs = Inputs::default();
    for (name, tr) in [("basic", false), ("traffic_routed", true)] {
        let (ro, obs, now) = paused(tr);
        let prepared = Prepared::new(&ro, &obs);
        let mut out = empty();
        reconcile_into(&ro, &obs, now, &inputs, &prepared, &mut out);
        assert_eq!(out, reconcile_prepared(&ro, &obs, now, &inputs, &prepared));
        let (n, ()) = count_allocs(|| reconcile_into(&ro, &obs, now, &inputs, &prepared, &mut out));
        println!("allocations/{name}, paused, reconcile_into recycled: {n}");
        // The steady paused state allocates nothing (41 for `reconcile_prepared` before #17).
        assert_eq!(n, 0, "the steady paused state allocates");
        cr.bench_function(&format!("into/paused, {name}, reconcile_into recycled"), |b| {
            b.iter(|| reconcile_into(black_box(&ro), black_box(&obs), now, &inputs, &prepared, &mut out))
        });

        let states = update_states(tr);
        let prepared = support::prepared_for(&states);
        let n = states.len();
        let mut out = empty();
        let mut total = 0;
        for ((ro, obs, now), p) in states.iter().zip(&prepared) {
            let (a, ()) = count_allocs(|| reconcile_into(ro, obs, *now, &inputs, p, &mut out));
            total += a;
            assert_eq!(
                out,
                reconcile_prepared(ro, obs, *now, &inputs, p),
                "same decision"
            );
        }
        let avg = total as f64 / n as f64;
        println!(
            "allocations/{name}, update of {n} decisions, reconcile_into recycled: {avg:.2} per decision"
        );
        assert!(
            avg <= UPDATE_BUDGET,
            "{avg:.2} allocations per decision (budget {UPDATE_BUDGET})"
        );
        cr.bench_function(
            &format!("into/update, {name}, per decision, reconcile_into recycled"),
            |b| {
                b.iter_custom(|iters| {
                    let took = round_robin(iters, n, |k| {
                        let (ro, obs, now) = &states[k];
                        reconcile_into(
                            black_box(ro),
                            black_box(obs),
                            *now,
                            &inputs,
                            &prepared[k],
                            &mut out,
                        );
                    });
                    black_box(&out);
                    took
                })
            },
        );
    }
}

criterion_group!(benches, into);
criterion_main!(benches);
