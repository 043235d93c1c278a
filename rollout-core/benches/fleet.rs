//! Fleet bench (issue #17): N Rollouts (default 17,000; `ROLLOUT_FLEET=N` to change) alive at
//! once, each deployed at V1, then all driven through a full 10-step canary update to V2 in one
//! thread: interleaved (one decision each per round, as a controller's queue does) and, on a
//! second fleet, one Rollout at a time. Every Rollout must end Healthy with the old ReplicaSet
//! scaled down. Prints the wall time, the decisions, the time inside `reconcile_prepared`, the
//! allocations per decision and the memory kept per Rollout (live heap bytes of its
//! `FakeCluster` and `Prepared`, counted by the bench's global allocator).
//!
//! `cargo bench -p rollout-core --bench fleet`

mod support;

use std::time::{Duration, Instant};

use rollout_core::rollout::Inputs;
use rollout_core::rollout::machine::{Prepared, reconcile_prepared};
use rollout_core::testing::FakeCluster;
use support::{allocs, apply_moved, live_bytes, operator_step, ten_step_rollout, ts, update_done};

#[global_allocator]
static ALLOC: support::Counting = support::Counting;

struct Member {
    cluster: FakeCluster,
    prepared: Prepared,
    done: bool,
}

/// `n` Rollouts deployed at V1 and settled, with V2 set (the update starts at their next decision).
fn fleet(n: usize) -> Vec<Member> {
    let base = ten_step_rollout(false);
    let mut members = Vec::with_capacity(n);
    for i in 0..n {
        let mut ro = base.clone();
        ro.metadata.name = format!("demo-{i:05}");
        let mut c = FakeCluster::new(ro, ts("2024-01-01T00:00:00Z"));
        c.set_image("demo:v1");
        c.settle(50, true);
        c.log = Vec::new();
        c.events = Vec::new();
        c.set_image("demo:v2");
        let prepared = Prepared::new(&c.rollout, &c.observed);
        members.push(Member {
            cluster: c,
            prepared,
            done: false,
        });
    }
    members
}

/// One decision for `m` (refreshing its `Prepared` on a new generation, as the driver does),
/// applied; returns the time spent deciding.
fn step(m: &mut Member, inputs: &Inputs) -> Duration {
    let c = &mut m.cluster;
    if !m.prepared.is_current(&c.rollout, &c.observed) {
        m.prepared = Prepared::new(&c.rollout, &c.observed);
    }
    let start = Instant::now();
    let d = reconcile_prepared(&c.rollout, &c.observed, c.now, inputs, &m.prepared);
    let decided = start.elapsed();
    apply_moved(c, d);
    operator_step(c);
    m.done = update_done(c);
    decided
}

struct Run {
    wall: Duration,
    deciding: Duration,
    decisions: u64,
    allocs: usize,
}

fn drive(members: &mut [Member], interleaved: bool) -> Run {
    let inputs = Inputs::default();
    let (mut deciding, mut decisions) = (Duration::ZERO, 0u64);
    let allocs_before = allocs();
    let start = Instant::now();
    if interleaved {
        let mut active = members.len();
        let mut rounds = 0;
        while active > 0 && rounds < 1000 {
            active = 0;
            for m in members.iter_mut().filter(|m| !m.done) {
                deciding += step(m, &inputs);
                decisions += 1;
                active += usize::from(!m.done);
            }
            rounds += 1;
        }
    } else {
        for m in members.iter_mut() {
            for _ in 0..1000 {
                deciding += step(m, &inputs);
                decisions += 1;
                if m.done {
                    break;
                }
            }
        }
    }
    let wall = start.elapsed();
    for m in members.iter() {
        support::assert_update_done(&m.cluster);
    }
    Run {
        wall,
        deciding,
        decisions,
        allocs: allocs() - allocs_before,
    }
}

fn main() {
    let n: usize = std::env::var("ROLLOUT_FLEET")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(17_000);
    let mut walls = Vec::new();
    for (mode, interleaved) in [("interleaved", true), ("one at a time", false)] {
        let before = live_bytes();
        let mut members = fleet(n);
        let kept = (live_bytes() - before) / n;
        let r = drive(&mut members, interleaved);
        let kept_after = (live_bytes() - before) / n;
        let per = r.decisions as f64 / n as f64;
        println!(
            "fleet/{n} Rollouts, 10-step canary update, {mode}: {:.2} s wall, {} decisions ({per:.1} each), \
             {:.0} ns per decision inside reconcile_prepared ({:.2} s), {:.1} allocations per decision \
             (decision and fake-cluster apply), {} B kept per Rollout before the update, {} B after",
            r.wall.as_secs_f64(),
            r.decisions,
            r.deciding.as_nanos() as f64 / r.decisions as f64,
            r.deciding.as_secs_f64(),
            r.allocs as f64 / r.decisions as f64,
            kept,
            kept_after,
        );
        walls.push(r.wall.as_secs_f64());
        drop(members);
    }
    println!(
        "fleet/{n} Rollouts: interleaved / one at a time = {:.2}",
        walls[0] / walls[1]
    );
}
