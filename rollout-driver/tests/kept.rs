//! A driver rebuilt for every tick (as rollout-kube builds one per reconcile) carries its
//! spec-derived values over with `with_kept`/`into_kept`: the same outcomes as one driver kept
//! across ticks, and a changed policy or a new generation is never decided with stale ones.

mod support;

use std::sync::Arc;

use rollout_core::rollout::machine::Prepared;
use rollout_core::rollout::policy::{Policy, PolicyState};
use rollout_driver::{Kept, RolloutDriver};
use support::*;

/// Ticks `m` 60 times, 5 s apart, returning each tick's status.
fn run(m: &Mem, mut tick: impl FnMut(&Mem) -> rollout_core::rollout::RolloutStatus) -> Vec<String> {
    let mut statuses = Vec::new();
    for _ in 0..60 {
        let st = tick(m);
        statuses.push(serde_json::to_string(&st).unwrap());
        m.c().advance(5);
    }
    statuses
}

#[test]
fn a_rebuilt_driver_with_what_was_kept_decides_as_one_kept_driver() {
    let kept_driver = Mem::new(canary_rollout(true));
    let mut driver = RolloutDriver::new(kept_driver.io(true));
    let one = run(&kept_driver, |m| {
        let now = m.c().now;
        block_on(driver.tick(now)).unwrap().decision.status
    });

    let rebuilt = Mem::new(canary_rollout(true));
    let mut kept = Kept::default();
    let mut hashes = Vec::new();
    let each = run(&rebuilt, |m| {
        let now = m.c().now;
        let mut d = RolloutDriver::new(m.io(true)).with_kept(std::mem::take(&mut kept));
        let st = block_on(d.tick(now)).unwrap().decision.status;
        kept = d.into_kept();
        let p = kept.prepared().expect("a tick keeps what it prepared");
        hashes.push(p.pod_hash.clone());
        st
    });
    assert_eq!(one, each);
    let ro = rebuilt.c().rollout.clone();
    let fresh = Prepared::new(&ro, &rebuilt.c().observed);
    assert_eq!(hashes.last(), Some(&fresh.pod_hash));

    // A new generation: what was kept is not current and is replaced.
    let image = serde_json::json!("demo:v9");
    {
        let mut c = rebuilt.c();
        let template = c.rollout.spec.template.as_mut().unwrap();
        template["spec"]["containers"][0]["image"] = image;
        c.rollout.metadata.generation = c.rollout.metadata.generation.map(|g| g + 1);
    }
    let now = rebuilt.c().now;
    let mut d = RolloutDriver::new(rebuilt.io(true)).with_kept(kept);
    block_on(d.tick(now)).unwrap();
    let kept = d.into_kept();
    let after = {
        let c = rebuilt.c();
        Prepared::new(&c.rollout, &c.observed)
    };
    assert_ne!(kept.prepared().unwrap().pod_hash, fresh.pod_hash);
    assert_eq!(kept.prepared().unwrap().pod_hash, after.pod_hash);

    // A policy other than the one it was kept under discards it before the next tick.
    let d = RolloutDriver::new(rebuilt.io(true))
        .with_kept(kept)
        .with_policy(Arc::new(PolicyState::of(Policy::default())));
    assert!(d.into_kept().prepared().is_none());
}
