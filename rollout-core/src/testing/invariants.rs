//! Invariant checks over a [`FakeCluster`]; each returns a description of the violation.

use super::FakeCluster;
use crate::rollout::replicas::{resolve_surge_unavailable, weight_to_replicas};
use crate::rollout::{Action, Decision, RolloutPhase};

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

/// Traffic-routed canary: a decision never raises the canary's traffic weight above the share its
/// available pods carry, i.e. a weight `w` needs `ceil(w × replicas / maxTrafficWeight)` available
/// canary pods (the size of the step that set `w`) before traffic moves up to it. Call with the
/// cluster *before* applying `d`. Not checked while aborted or when a `setCanaryScale` step with
/// `replicas`/`weight` decouples the canary's size from its weight on purpose.
pub fn traffic_weight_backed_by_available_canary(c: &FakeCluster, d: &Decision) -> Result<(), String> {
    let Some(canary) = c.rollout.canary() else {
        return Ok(());
    };
    let decoupled = c.rollout.steps().iter().any(|s| {
        s.set_canary_scale
            .as_ref()
            .is_some_and(|x| x.replicas.is_some() || x.weight.is_some())
    });
    if canary.traffic_routing.is_none() || decoupled || c.rollout.status.abort || d.status.abort {
        return Ok(());
    }
    let before = c
        .rollout
        .status
        .canary
        .weights
        .as_ref()
        .map_or(0, |w| w.canary.weight);
    let (r, m) = (c.rollout.replicas(), c.rollout.max_traffic_weight());
    for a in &d.actions {
        let Action::SetTrafficWeight {
            canary_hash, weight, ..
        } = a
        else {
            continue;
        };
        let available = c.rs(canary_hash).map_or(0, |rs| rs.available);
        let needed = weight_to_replicas(r, *weight, m);
        if *weight > before && available < needed {
            return Err(format!(
                "traffic weight raised {before} -> {weight} with {available} available canary pods \
                 (the step needs {needed} of {r}); step index {:?}",
                c.rollout.status.current_step_index
            ));
        }
    }
    Ok(())
}
