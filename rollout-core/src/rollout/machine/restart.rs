//! `spec.restartAt` pod restarts (upstream `rollout/restart.go`).
//!
//! Once `now` reaches `spec.restartAt` and `status.restartedAt` differs from it, every pod of the
//! Rollout's ReplicaSets created before `restartAt` is evicted, stable ReplicaSet first, then the
//! new one, then the others by age, while the pods available stay at or above
//! `max(spec.replicas, Σ ReplicaSet spec.replicas) − max(maxUnavailable, 1)`. A pass that evicts
//! persists no status (the next pass sees honest availability) and asks to be called again in
//! [`RESTART_CHECK_SECS`]; once no such pod is left, `status.restartedAt = spec.restartAt`.
//! (A driver whose evictions were all refused, e.g. by a PodDisruptionBudget, decides again
//! without the pods, so the pass goes on as upstream's does.)
//!
//! Pods are known only when the driver lists them ([`Observed::pods`]). Without a list the
//! restarter does nothing, and records the restart as done only when no ReplicaSet has pods:
//! a driver that cannot see pods never claims they were restarted.
//!
//! Baseline arms (our extension) are not the Rollout's versions and are not restarted.

use super::Ctx;
use crate::common::Timestamp;
use crate::rollout::observed::{ObservedPod, ObservedReplicaSet};
use crate::rollout::replicas::resolve_surge_unavailable;
use crate::rollout::spec::Rollout;
use crate::rollout::{Action, Observed};

/// Requeue delay while pods remain to be restarted (upstream `restartPodCheckTime`).
pub const RESTART_CHECK_SECS: i64 = 30;

/// Whether `ro` asks for a restart not recorded yet (`spec.restartAt` set and not equal to
/// `status.restartedAt`): drivers list pods only then.
pub fn restart_pending(ro: &Rollout) -> bool {
    ro.spec.restart_at.is_some() && ro.spec.restart_at != ro.status.restarted_at
}

/// What the restarter does in one pass.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RestartPlan {
    /// No restart pending.
    Idle,
    /// `spec.restartAt` is still ahead: call again then.
    Scheduled(Timestamp),
    /// Pods exist but the driver did not list them: nothing can be evicted or claimed done.
    PodsUnknown,
    /// Evict these pods (as `(pod, ReplicaSet)`), in this order.
    Evict(Vec<(String, String)>),
    /// `remaining` pods are older than `restartAt` but none can be evicted now (availability
    /// budget used up, or they are terminating already).
    Waiting {
        /// Pods created before `restartAt` still present.
        remaining: usize,
    },
    /// No pod created before `restartAt` is left: record `status.restartedAt`.
    Done(Timestamp),
}

/// Upstream `MaxUnavailable(rollout)`: the strategy's `maxUnavailable` (default 25%) resolved
/// against `spec.replicas` with its `maxSurge` (default 25%; blue-green has none), capped at the
/// replicas.
pub fn max_unavailable(ro: &Rollout) -> i32 {
    let replicas = ro.replicas();
    let (surge, unavailable) = match (ro.canary(), ro.blue_green()) {
        (Some(c), _) => (c.max_surge.as_ref(), c.max_unavailable.as_ref()),
        (None, Some(bg)) => (None, bg.max_unavailable.as_ref()),
        (None, None) => (None, None),
    };
    resolve_surge_unavailable(surge, unavailable, replicas).1
}

/// The pod is available at `now` (upstream `IsPodAvailable`, not terminating).
fn available(pod: &ObservedPod, min_ready_seconds: i64, now: Timestamp) -> bool {
    if !pod.ready || pod.terminating {
        return false;
    }
    min_ready_seconds <= 0
        || pod
            .ready_since
            .is_some_and(|t| super::plus_secs(t, min_ready_seconds) < now)
}

/// Upstream `SortReplicaSetsByPriority`: stable, new, then the others by creation time.
fn rank<'a>(rs: &'a ObservedReplicaSet, stable: Option<&str>, new: Option<&str>) -> (u8, Timestamp, &'a str) {
    let name = rs.name.as_str();
    let tier = if Some(name) == stable {
        0
    } else if Some(name) == new {
        1
    } else {
        2
    };
    (tier, rs.created_at, name)
}

/// The restarter's decision for `ro` given the Rollout's ReplicaSets (`obs`, baseline arms left
/// out), the names of the stable and new ReplicaSets and `now`.
pub fn restart_plan(
    ro: &Rollout,
    obs: &Observed,
    stable: Option<&str>,
    new: Option<&str>,
    now: Timestamp,
) -> RestartPlan {
    let Some(restart_at) = ro.spec.restart_at else {
        return RestartPlan::Idle;
    };
    if !restart_pending(ro) {
        return RestartPlan::Idle;
    }
    if now < restart_at {
        return RestartPlan::Scheduled(restart_at);
    }
    let rss = &obs.replica_sets;
    let Some(pods) = &obs.pods else {
        let empty = rss.iter().all(|r| r.replicas == 0 && r.status_replicas == 0);
        return if empty {
            RestartPlan::Done(restart_at)
        } else {
            RestartPlan::PodsUnknown
        };
    };
    // Stable first, then new, then the others oldest first (`SortReplicaSetsByPriority`).
    let mut order: Vec<&ObservedReplicaSet> = rss.iter().collect();
    order.sort_by(|a, b| rank(a, stable, new).cmp(&rank(b, stable, new)));
    let position = |name: &str| order.iter().position(|r| r.name == name);
    let mut ours: Vec<(usize, &ObservedPod)> = pods
        .iter()
        .filter_map(|p| position(&p.replica_set).map(|i| (i, p)))
        .collect();
    ours.sort_by(|(ia, a), (ib, b)| (ia, a.created_at, &a.name).cmp(&(ib, b.created_at, &b.name)));

    let replicas = i64::from(ro.replicas());
    let total: i64 = rss.iter().map(|r| i64::from(r.replicas)).sum();
    let min_ready = i64::from(ro.spec.min_ready_seconds.unwrap_or(0));
    let available_now = ours.iter().filter(|(_, p)| available(p, min_ready, now)).count();
    let concurrency = i64::from(max_unavailable(ro).max(1));
    let min_available = replicas.max(total) - concurrency;
    let mut budget = i64::try_from(available_now).unwrap_or(i64::MAX) - min_available;

    let mut remaining = 0usize;
    let mut evict = Vec::new();
    for (_, pod) in ours {
        if pod.created_at >= restart_at {
            continue;
        }
        remaining += 1;
        if budget <= 0 || pod.terminating {
            continue;
        }
        evict.push((pod.name.clone(), pod.replica_set.clone()));
        budget -= 1;
    }
    if !evict.is_empty() {
        RestartPlan::Evict(evict)
    } else if remaining > 0 {
        RestartPlan::Waiting { remaining }
    } else {
        RestartPlan::Done(restart_at)
    }
}

/// The restarter's step in a reconcile pass (after validation and the paused-condition pass,
/// before the strategy). Returns true when it evicted: the pass then stops and persists no
/// status.
pub(super) fn reconcile(c: &mut Ctx) -> bool {
    // A new update records `restartedAt = restartAt` itself (the restart is moot), and a forced
    // group abort is never deferred.
    let new_update = c.new_rs.is_none() || c.prev.current_pod_hash != c.hash || c.step_changed;
    let forced = c.inputs.force_abort.is_some() && !c.prev.abort;
    if new_update || forced {
        return false;
    }
    let plan = restart_plan(
        c.ro,
        c.obs,
        c.stable_rs.map(|r| r.name.as_str()),
        c.new_rs.map(|r| r.name.as_str()),
        c.now,
    );
    let check = super::plus_secs(c.now, RESTART_CHECK_SECS);
    match plan {
        RestartPlan::Idle | RestartPlan::PodsUnknown => false,
        RestartPlan::Scheduled(at) => {
            c.wake_at(at);
            false
        }
        RestartPlan::Waiting { .. } => {
            c.wake_at(check);
            false
        }
        RestartPlan::Done(at) => {
            c.st.restarted_at = Some(at);
            false
        }
        RestartPlan::Evict(pods) => {
            c.actions.extend(
                pods.into_iter()
                    .map(|(name, replica_set)| Action::EvictPod { name, replica_set }),
            );
            c.evicted = true;
            c.wake_at(check);
            true
        }
    }
}
