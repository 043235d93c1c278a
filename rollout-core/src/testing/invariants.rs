//! Invariant checks over a [`FakeCluster`]; each returns a description of the violation.

use super::FakeCluster;
use crate::rollout::replicas::resolve_surge_unavailable;
use crate::rollout::{Decision, RolloutPhase};

/// Basic canary (no traffic routing): total pods never exceed `replicas + maxSurge`, and
/// available pods never drop below `replicas - maxUnavailable` once the rollout was available.
pub fn basic_canary_bounds(c: &FakeCluster) -> Result<(), String> {
    let Some(canary) = c.rollout.canary() else {
        return Ok(());
    };
    if canary.traffic_routing.is_some() {
        return Ok(());
    }
    let r = c.rollout.replicas();
    let (surge, unavailable) =
        resolve_surge_unavailable(canary.max_surge.as_ref(), canary.max_unavailable.as_ref(), r);
    let total: i32 = c.observed.replica_sets.iter().map(|rs| rs.replicas).sum();
    if total > r + surge {
        return Err(format!(
            "total pods {total} exceed replicas {r} + maxSurge {surge}: {:?}",
            c.observed.replica_sets
        ));
    }
    let available: i32 = c.observed.replica_sets.iter().map(|rs| rs.available).sum();
    if !c.rollout.status.stable_rs.is_empty() && available < r - unavailable {
        return Err(format!(
            "available pods {available} below replicas {r} - maxUnavailable {unavailable}: {:?}",
            c.observed.replica_sets
        ));
    }
    Ok(())
}

/// After an abort has settled: the stable RS runs `replicas` pods and the canary none.
pub fn aborted_settled(c: &FakeCluster) -> Result<(), String> {
    let (stable, canary) = c.stable_and_canary();
    let r = c.rollout.replicas();
    if stable != r || canary != 0 {
        return Err(format!(
            "after abort expected stable {r} / canary 0, got {stable} / {canary}"
        ));
    }
    if c.rollout.status.phase != Some(RolloutPhase::Degraded) {
        return Err(format!("aborted rollout phase {:?}", c.rollout.status.phase));
    }
    Ok(())
}

/// Fully promoted and healthy: stable == current, phase Healthy, only the stable RS has pods.
pub fn healthy(c: &FakeCluster) -> Result<(), String> {
    let st = &c.rollout.status;
    if st.stable_rs.is_empty() || st.stable_rs != st.current_pod_hash {
        return Err(format!(
            "stable {:?} != current {:?}",
            st.stable_rs, st.current_pod_hash
        ));
    }
    if st.phase != Some(RolloutPhase::Healthy) {
        return Err(format!("phase {:?}: {}", st.phase, st.message));
    }
    let others: i32 = c
        .observed
        .replica_sets
        .iter()
        .filter(|rs| rs.pod_template_hash != st.stable_rs)
        .map(|rs| rs.replicas)
        .sum();
    if others != 0 && c.rollout.blue_green().is_none() && !c.rollout.has_traffic_routing() {
        return Err(format!("{others} pods left in old ReplicaSets"));
    }
    Ok(())
}

/// At most one step advance per decision.
pub fn one_step_per_tick(before: Option<i32>, d: &Decision) -> Result<(), String> {
    let after = d.status.current_step_index;
    match (before, after) {
        (Some(b), Some(a)) if a > b + 1 && a != b => {
            // Jumps to the end are allowed (promotion, rollback, abort reset).
            let n_completed = d
                .actions
                .iter()
                .filter(
                    |x| matches!(x, crate::rollout::Action::Event(e) if e.reason == "RolloutStepCompleted"),
                )
                .count();
            if n_completed > 1 {
                return Err(format!("{n_completed} steps completed in one tick"));
            }
            Ok(())
        }
        _ => Ok(()),
    }
}
