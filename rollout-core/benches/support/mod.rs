//! Shared by the rollout benches: a counting global allocator (so allocation regressions show)
//! and the 10-step canary with 3 ReplicaSets driven through [`FakeCluster`].

#![allow(dead_code)] // each bench binary uses a part

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};

use rollout_core::rollout::machine::Prepared;
use rollout_core::rollout::{Action, Decision, Inputs, Observed, Rollout, RolloutPhase};
use rollout_core::testing::FakeCluster;
use serde_json::json;

/// The system allocator, counting allocations and live bytes.
pub struct Counting;

static ALLOCS: AtomicUsize = AtomicUsize::new(0);
static LIVE: AtomicUsize = AtomicUsize::new(0);

// SAFETY: forwards to `System`; the counters do not touch the memory.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        LIVE.fetch_add(layout.size(), Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Relaxed);
        LIVE.fetch_add(new_size, Relaxed);
        LIVE.fetch_sub(layout.size(), Relaxed);
        // SAFETY: the caller's contract is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

/// Allocations (including reallocations) so far.
pub fn allocs() -> usize {
    ALLOCS.load(Relaxed)
}

/// Bytes allocated and not yet freed (requested sizes, without the allocator's overhead).
pub fn live_bytes() -> usize {
    LIVE.load(Relaxed)
}

/// Allocations made by `f`, with its result.
pub fn count_allocs<T>(f: impl FnOnce() -> T) -> (usize, T) {
    let before = allocs();
    let out = f();
    (allocs() - before, out)
}

pub fn ts(s: &str) -> rollout_core::common::Timestamp {
    s.parse().expect("timestamp")
}

/// The 10-step canary (setWeight 10/20/40/60/80 with timed and one indefinite pause).
pub fn ten_step_rollout(traffic_routing: bool) -> Rollout {
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

/// A cluster with stable V1 and an abandoned V2 (a few ticks into its update), before V3.
pub fn two_revisions(ro: Rollout) -> FakeCluster {
    let mut c = FakeCluster::new(ro, ts("2024-01-01T00:00:00Z"));
    c.set_image("demo:v1");
    c.settle(50, true);
    c.set_image("demo:v2");
    for _ in 0..6 {
        c.tick();
        c.advance(1);
    }
    c
}

/// Stable V1, abandoned V2, current V3 paused at step 5 of [`ten_step_rollout`] (after setWeight
/// 40), three ReplicaSets.
pub fn paused_at_step_5(traffic_routing: bool) -> FakeCluster {
    let mut c = two_revisions(ten_step_rollout(traffic_routing));
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
    assert_eq!(c.observed.replica_sets.len(), 3, "three ReplicaSets");
    c
}

/// The time `decide(k)` takes for `iters` calls, `k` going round `0..n` (a bench iteration is one
/// decision of a recorded sequence, so the median is the average over the sequence).
pub fn round_robin(iters: u64, n: usize, mut decide: impl FnMut(usize)) -> std::time::Duration {
    let start = std::time::Instant::now();
    for i in 0..iters {
        decide(i as usize % n);
    }
    start.elapsed()
}

/// The update is over: phase Healthy, stable is current, every other ReplicaSet at 0.
pub fn update_done(c: &FakeCluster) -> bool {
    let st = &c.rollout.status;
    st.phase == Some(RolloutPhase::Healthy)
        && st.stable_rs == st.current_pod_hash
        && c.observed
            .replica_sets
            .iter()
            .all(|r| r.pod_template_hash == st.stable_rs || (r.replicas == 0 && r.status_replicas == 0))
}

/// Panics unless the update ended as [`update_done`] says.
pub fn assert_update_done(c: &FakeCluster) {
    assert!(
        update_done(c),
        "update not done: phase {:?}, stable {} current {}, replica sets {:?}",
        c.rollout.status.phase,
        c.rollout.status.stable_rs,
        c.rollout.status.current_pod_hash,
        c.observed
            .replica_sets
            .iter()
            .map(|r| (&r.pod_template_hash, r.replicas))
            .collect::<Vec<_>>()
    );
}

/// One step of the simulated operator after a decision: time passes 5 s, pods become ready,
/// indefinite pauses are promoted.
pub fn operator_step(c: &mut FakeCluster) {
    c.advance(5);
    c.promote_if_paused();
}

/// Applies a decision as a driver does: the actions, then the status moved in (not cloned).
/// The action log and events are dropped (a driver does not keep them).
pub fn apply_moved(c: &mut FakeCluster, d: Decision) {
    let Decision { status, actions, .. } = d;
    for a in &actions {
        c.apply_action(a);
    }
    c.rollout.status = status;
    c.log = Vec::new();
    c.events = Vec::new();
}

/// Whether a decision did something besides events.
pub fn acts(d: &Decision) -> bool {
    d.actions.iter().any(|a| !matches!(a, Action::Event(_)))
}

/// Every state one update passes through: V3 replaces stable V1 (V2 abandoned, 3 ReplicaSets),
/// one decision per 5 s of simulated time until [`update_done`]. Each entry is what the machine
/// is given for one decision.
pub fn update_states(traffic_routing: bool) -> Vec<(Rollout, Observed, rollout_core::common::Timestamp)> {
    let mut c = two_revisions(ten_step_rollout(traffic_routing));
    c.set_image("demo:v3");
    let mut states = Vec::new();
    for _ in 0..1000 {
        if update_done(&c) && states.len() > 1 {
            break;
        }
        states.push((c.rollout.clone(), c.observed.clone(), c.now));
        let d = rollout_core::rollout::reconcile(&c.rollout, &c.observed, c.now, &Inputs::default());
        apply_moved(&mut c, d);
        operator_step(&mut c);
    }
    assert_update_done(&c);
    assert_eq!(c.observed.replica_sets.len(), 3, "three ReplicaSets");
    states
}

/// [`Prepared`] for each state (a driver keeps one per Rollout and generation).
pub fn prepared_for(states: &[(Rollout, Observed, rollout_core::common::Timestamp)]) -> Vec<Prepared> {
    states.iter().map(|(ro, obs, _)| Prepared::new(ro, obs)).collect()
}
