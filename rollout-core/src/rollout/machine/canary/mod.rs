//! The canary strategy (`rollout/canary.go`, `rollout/sync.go:syncRolloutStatusCanary`).

mod steps;
mod traffic;

use steps::{completed_current_step, reconcile_pause, should_full_promote};

use super::{Ctx, analysis, plus_secs, workload};
use crate::rollout::replicas::{
    BasicCanary, RsCounts, TrafficRoutedCanary, dss_abort_weight, progress_threshold_met,
    resolve_surge_unavailable,
};
use crate::rollout::spec::{CanaryStep, CanaryStrategy, DEFAULT_SCALE_DOWN_DELAY_SECONDS};
use crate::rollout::status::{PauseReason, TrafficWeights, WeightDestination};
use crate::rollout::{Action, EventType, ObservedReplicaSet};

fn counts(rs: &ObservedReplicaSet) -> RsCounts {
    RsCounts {
        spec: rs.replicas,
        status_replicas: rs.status_replicas,
        available: rs.available,
    }
}

pub(super) fn run(c: &mut Ctx) {
    let Some(canary) = c.ro.canary() else { return };
    run_canary(c, canary);
    super::routes::remove_on_transition(c, canary);
}

fn run_canary<'a>(c: &mut Ctx<'a>, canary: &'a CanaryStrategy) {
    if let Some(reason) = c.inputs.force_abort.clone()
        && !c.prev.abort
        && c.prev.stable_rs != c.hash
    {
        c.abort(c.inputs.abort_why(reason));
    }
    if c.new_rs.is_none() || c.prev.current_pod_hash != c.hash || c.step_changed {
        let step_hash = std::mem::take(&mut c.step_hash);
        new_update(c, step_hash);
        return;
    }
    if c.prev.abort && c.prev.stable_rs == c.hash {
        c.remove_abort = true;
    }
    if analysis::reconcile_canary(c) {
        sync_status(c);
        return;
    }
    c.revision_history_gc();
    traffic::reconcile_services_and_traffic(c, canary);
    let halted = c.ro.spec.paused
        || c.prev
            .pause_condition(PauseReason::InconclusiveAnalysisRun)
            .is_some()
        || c.prev.pause_condition(PauseReason::PolicyHold).is_some();
    if !halted && reconcile_replica_sets(c, canary) {
        sync_status(c);
        return;
    }
    reconcile_pause(c);
    sync_status(c);
}

/// Template or steps changed (or first reconcile): create/adopt the new RS and reset status.
fn new_update(c: &mut Ctx, step_hash: String) {
    let steps_len = c.ro.steps().len() as i32;
    let name = match c.new_rs {
        None => {
            let replicas = if c.stable_rs.is_none() { c.replicas() } else { 0 };
            c.create_new_rs(replicas)
        }
        Some(rs) => {
            let max = c.max_revision();
            if rs.revision < max {
                c.actions.push(Action::SetReplicaSetRevision {
                    name: rs.name.clone(),
                    revision: max + 1,
                });
            }
            rs.name.clone()
        }
    };
    c.clear_pause = true;
    c.remove_abort = c.add_abort.is_none();
    c.st.promote_full = false;
    c.st.canary.current_step_analysis_run_status = None;
    c.st.canary.current_background_analysis_run_status = None;
    c.st.restarted_at = c.ro.spec.restart_at;
    c.st.current_step_index = if steps_len == 0 { None } else { Some(0) };
    c.st.current_pod_hash = c.hash.to_string();
    c.st.current_step_hash = step_hash;
    if !c.prev.stable_rs.is_empty() && c.hash == c.prev.stable_rs {
        if steps_len > 0 {
            c.st.current_step_index = Some(steps_len);
        }
        c.event(
            EventType::Normal,
            "SkipSteps",
            "Rollback to stable ReplicaSets".into(),
        );
    } else if within_rollback_window(c) && c.new_rs.is_some_and(|r| r.replicas > 0) {
        if steps_len > 0 {
            c.st.current_step_index = Some(steps_len);
        }
        c.event(
            EventType::Normal,
            "SkipSteps",
            "Rollback to active ReplicaSets within RollbackWindow".into(),
        );
    }
    c.finish_reset(&name);
}

/// `isRollbackWithinWindow`: the new RS is older than the stable and fewer than
/// `rollbackWindow.revisions` RSs were created between them.
pub(super) fn within_rollback_window(c: &Ctx) -> bool {
    let Some(window) = c.ro.spec.rollback_window.as_ref().and_then(|w| w.revisions) else {
        return false;
    };
    let (Some(new), Some(stable)) = (c.new_rs, c.stable_rs) else {
        return false;
    };
    if new.created_at >= stable.created_at {
        return false;
    }
    let between = c
        .obs
        .replica_sets
        .iter()
        .filter(|r| r.created_at > new.created_at && r.created_at < stable.created_at)
        .count();
    (between as i64) < i64::from(window)
}

fn current_step<'a>(c: &Ctx<'a>) -> Option<(usize, &'a CanaryStep)> {
    let steps = c.ro.steps();
    let idx = usize::try_from(c.st.current_step_index.unwrap_or(0)).ok()?;
    steps.get(idx).map(|s| (idx, s))
}

/// Upstream `GetCurrentSetWeight`.
fn current_set_weight(c: &Ctx, aborted: bool) -> i32 {
    if aborted || held_unexposed(c) {
        return 0;
    }
    let steps = c.ro.steps();
    match current_step(c) {
        None => c.ro.max_traffic_weight(),
        Some((idx, _)) => steps
            .get(..=idx)
            .unwrap_or_default()
            .iter()
            .rev()
            .find_map(|s| s.set_weight)
            .unwrap_or(0),
    }
}

/// A fleet hold ([`Inputs::fleet_hold`](crate::rollout::Inputs::fleet_hold)) that finds the
/// update still at its first step with no canary pods keeps it unexposed: weight 0, no canary
/// pods, until the hold is removed. (Our extension; a hold arriving later holds where it is.)
fn held_unexposed(c: &Ctx) -> bool {
    c.inputs.hold
        && c.inputs.fleet_hold.is_some()
        && c.st.current_step_index.unwrap_or(0) == 0
        && c.new_rs.is_none_or(|rs| rs.replicas == 0)
}

/// Upstream `GetAbortScaleDownDelaySecondsOrDefault`: `None` = never scale down.
pub(super) fn abort_delay(c: &Ctx, canary: &CanaryStrategy) -> Option<i32> {
    if canary.traffic_routing.is_none() {
        return Some(0);
    }
    match canary.abort_scale_down_delay_seconds {
        Some(0) => None,
        Some(d) => Some(d),
        None => {
            let _ = c;
            Some(DEFAULT_SCALE_DOWN_DELAY_SECONDS)
        }
    }
}

fn should_delay_scale_down_on_abort(c: &Ctx, canary: &CanaryStrategy) -> bool {
    let explicit = canary.abort_scale_down_delay_seconds.is_some_and(|d| d != 0);
    c.is_aborted()
        && c.stable_rs.is_some()
        && canary.traffic_routing.is_some()
        && abort_delay(c, canary).is_some()
        && (!canary.dynamic_stable_scale || explicit)
}

/// Upstream `GetCanaryReplicasOrWeight`: `(override replicas, weight)`.
fn canary_replicas_or_weight(c: &Ctx, canary: &CanaryStrategy) -> (Option<i32>, i32) {
    let m = c.ro.max_traffic_weight();
    let aborted = c.is_aborted();
    if c.st.promote_full || c.prev.stable_rs.is_empty() || c.hash == c.prev.stable_rs {
        return (None, m);
    }
    if canary.traffic_routing.is_some()
        && (!aborted || abort_delay(c, canary).is_none())
        && let Some((idx, _)) = current_step(c)
    {
        for s in c.ro.steps().get(..=idx).unwrap_or_default().iter().rev() {
            if let Some(scale) = &s.set_canary_scale {
                if scale.match_traffic_weight {
                    break;
                }
                if let Some(r) = scale.replicas {
                    return (Some(r), 0);
                }
                if let Some(w) = scale.weight {
                    return (None, w);
                }
            }
        }
    }
    if aborted
        && canary.dynamic_stable_scale
        && let (Some(new), Some(stable)) = (c.new_rs, c.stable_rs)
    {
        let weights: Vec<i32> = c.ro.steps().iter().filter_map(|s| s.set_weight).collect();
        let explicit = canary.abort_scale_down_delay_seconds.is_some_and(|d| d != 0);
        return (
            None,
            dss_abort_weight(
                &weights,
                c.replicas(),
                m,
                stable.available,
                new.available,
                explicit,
                canary.min_pods_per_replica_set,
            ),
        );
    }
    (None, current_set_weight(c, aborted))
}

/// What [`desired_counts`] reads that can differ between two calls in a pass: `spec.replicas`,
/// the override and weight of the current step, whether aborted, the new and stable ReplicaSets.
#[derive(Clone, Copy, PartialEq)]
pub(crate) struct DesiredInputs {
    replicas: i32,
    override_replicas: Option<i32>,
    weight: i32,
    aborted: bool,
    new_rs: Option<*const ObservedReplicaSet>,
    stable_rs: Option<*const ObservedReplicaSet>,
}

/// Desired `(new, stable)` sizes for this tick (remembered in `c.desired` for the same inputs).
fn desired_counts(c: &Ctx, canary: &CanaryStrategy) -> (i32, i32) {
    let (override_replicas, weight) = canary_replicas_or_weight(c, canary);
    let inputs = DesiredInputs {
        replicas: c.replicas(),
        override_replicas,
        weight,
        aborted: c.is_aborted(),
        new_rs: c.new_rs.map(std::ptr::from_ref),
        stable_rs: c.stable_rs.map(std::ptr::from_ref),
    };
    if let Some((seen, counts)) = c.desired.get()
        && seen == inputs
    {
        return counts;
    }
    let counts = compute_desired_counts(c, canary, inputs);
    c.desired.set(Some((inputs, counts)));
    counts
}

fn compute_desired_counts(c: &Ctx, canary: &CanaryStrategy, inputs: DesiredInputs) -> (i32, i32) {
    let DesiredInputs {
        replicas: r,
        override_replicas,
        weight,
        aborted,
        ..
    } = inputs;
    if canary.traffic_routing.is_some() {
        let recorded = c
            .prev
            .canary
            .weights
            .as_ref()
            .map(|w| (w.canary.weight, w.stable.weight));
        return TrafficRoutedCanary {
            replicas: r,
            max_weight: c.ro.max_traffic_weight(),
            weight,
            override_replicas,
            dynamic_stable_scale: canary.dynamic_stable_scale,
            min_pods: canary.min_pods_per_replica_set,
            recorded,
            aborted,
        }
        .counts();
    }
    let (surge, unavailable) =
        resolve_surge_unavailable(canary.max_surge.as_ref(), canary.max_unavailable.as_ref(), r);
    let stable_is_new = c
        .stable_rs
        .is_some_and(|s| Some(s.name.as_str()) == c.new_rs.map(|n| n.name.as_str()));
    BasicCanary {
        replicas: r,
        weight,
        max_weight: 100,
        max_surge: surge,
        max_unavailable: unavailable,
        new: c.new_rs.map(counts),
        stable: if stable_is_new {
            None
        } else {
            c.stable_rs.map(counts)
        },
        others_spec: super::saturating_sum(c.others.iter().map(|r| r.replicas)),
    }
    .counts()
}

/// Upstream `AtDesiredReplicaCountsForCanary`.
fn at_desired(c: &Ctx, canary: &CanaryStrategy) -> bool {
    let (dn, ds) = desired_counts(c, canary);
    if !progress_threshold_met(
        canary.replica_progress_threshold.as_ref(),
        c.new_rs.map(counts),
        dn,
    ) {
        return false;
    }
    if canary.traffic_routing.is_none() || !canary.dynamic_stable_scale {
        match c.stable_rs {
            Some(s) if s.replicas == ds && s.status_replicas == ds => {}
            _ => return false,
        }
    }
    if canary.traffic_routing.is_none() && super::saturating_sum(c.others.iter().map(|r| r.available)) != 0 {
        return false;
    }
    true
}

/// Scales stable, then new, then old ReplicaSets; returns true if anything was scaled.
fn reconcile_replica_sets(c: &mut Ctx, canary: &CanaryStrategy) -> bool {
    let delay_on_abort = should_delay_scale_down_on_abort(c, canary);
    let same = c
        .stable_rs
        .is_some_and(|s| Some(s.name.as_str()) == c.new_rs.map(|n| n.name.as_str()));
    if let Some(new) = c.new_rs
        && new.scale_down_deadline.is_some()
        && !delay_on_abort
    {
        c.actions.push(Action::SetScaleDownDeadline {
            name: new.name.clone(),
            deadline: None,
        });
    }
    if let Some(stable) = c.stable_rs
        && !same
        && stable.scale_down_deadline.is_some()
    {
        c.actions.push(Action::SetScaleDownDeadline {
            name: stable.name.clone(),
            deadline: None,
        });
    }
    let (dn, ds) = desired_counts(c, canary);
    if let Some(stable) = c.stable_rs
        && !same
        && stable.replicas != ds
    {
        c.scale(stable, ds);
        return true;
    }
    if let Some(new) = c.new_rs {
        let mut target = dn;
        // Rollback-safe config: the stable cannot start pods, so the canary keeps its pods.
        let config_hold = !same && c.config_hold().is_some();
        if config_hold {
            target = target.max(new.replicas);
        } else if delay_on_abort && !same {
            if let Some(deadline) = new.scale_down_deadline {
                if c.now < deadline {
                    c.wake_at(deadline);
                    target = new.replicas;
                }
            } else if let Some(delay) = abort_delay(c, canary) {
                let r = c.replicas();
                if c.stable_rs.is_some_and(|s| s.available >= r) {
                    let deadline = plus_secs(c.now, i64::from(delay));
                    c.actions.push(Action::SetScaleDownDeadline {
                        name: new.name.clone(),
                        deadline: Some(deadline),
                    });
                    c.wake_at(deadline);
                }
                target = new.replicas;
            }
        }
        if new.replicas != target {
            c.scale(new, target);
            workload::progressive_drain(c, Some(target));
            return true;
        }
        workload::progressive_drain(c, None);
    }
    scale_down_old(c, canary)
}

fn is_referenced(c: &Ctx, rs: &ObservedReplicaSet) -> bool {
    let h = &rs.pod_template_hash;
    if h == &c.prev.stable_rs || h == &c.hash {
        return true;
    }
    if let Some(w) = &c.prev.canary.weights
        && (&w.canary.pod_template_hash == h || &w.stable.pod_template_hash == h)
    {
        return true;
    }
    c.obs
        .services
        .iter()
        .any(|s| s.selector_hash.as_deref() == Some(h.as_str()))
}

/// Upstream `scaleDownOldReplicaSetsForCanary`.
fn scale_down_old(c: &mut Ctx, canary: &CanaryStrategy) -> bool {
    // Rollback-safe config: never scale away pods while the stable's config is missing.
    if c.config_hold().is_some() {
        return false;
    }
    let r = c.replicas();
    // Nothing to scale down (both loops below skip such ReplicaSets): no copy, no sort.
    if c.others.iter().all(|rs| rs.replicas == 0 && rs.available >= 0) {
        return false;
    }
    let (_, unavailable) =
        resolve_surge_unavailable(canary.max_surge.as_ref(), canary.max_unavailable.as_ref(), r);
    let mut old: Vec<&ObservedReplicaSet> = c.others.iter().collect();
    old.sort_by(|a, b| b.revision.cmp(&a.revision).then(a.name.cmp(&b.name)));
    let mut scaled = false;
    for rs in &old {
        if rs.replicas > rs.available && !(canary.traffic_routing.is_some() && is_referenced(c, rs)) {
            c.scale(rs, rs.available);
            scaled = true;
        }
    }
    if scaled {
        return true;
    }
    let total_available = super::saturating_sum(c.obs.replica_sets.iter().map(|x| x.available));
    let mut budget = total_available - (r - unavailable);
    let fully_promoted = !c.prev.stable_rs.is_empty() && c.prev.stable_rs == c.hash;
    let mut annotated = 0;
    for rs in old {
        if rs.replicas == 0 {
            continue;
        }
        let tr = canary.traffic_routing.is_some();
        if tr && is_referenced(c, rs) {
            continue;
        }
        if budget <= 0 {
            break;
        }
        let desired = if !tr {
            (rs.replicas - budget).max(0)
        } else if fully_promoted || rs.scale_down_deadline.is_some() {
            if canary.dynamic_stable_scale {
                0
            } else {
                scale_down_delay(c, canary, rs, &mut annotated)
            }
        } else {
            0
        };
        if desired == rs.replicas {
            continue;
        }
        c.scale(rs, desired);
        budget -= rs.replicas - desired;
        scaled = true;
    }
    scaled
}

/// Upstream `scaleDownDelayHelper`: annotate, wait for the deadline, then 0.
fn scale_down_delay(
    c: &mut Ctx,
    canary: &CanaryStrategy,
    rs: &ObservedReplicaSet,
    annotated: &mut i32,
) -> i32 {
    let delay = canary
        .scale_down_delay_seconds
        .unwrap_or(DEFAULT_SCALE_DOWN_DELAY_SECONDS);
    if let Some(deadline) = rs.scale_down_deadline {
        *annotated += 1;
        if canary
            .scale_down_delay_revision_limit
            .is_some_and(|l| *annotated > l)
        {
            return 0;
        }
        if c.now >= deadline {
            return 0;
        }
        c.wake_at(deadline);
        return rs.replicas;
    }
    if delay > 0 {
        let deadline = plus_secs(c.now, i64::from(delay));
        c.actions.push(Action::SetScaleDownDeadline {
            name: rs.name.clone(),
            deadline: Some(deadline),
        });
        c.wake_at(deadline);
        return rs.replicas;
    }
    0
}

/// Upstream `syncRolloutStatusCanary`.
fn sync_status(c: &mut Ctx) {
    let Some(canary) = c.ro.canary() else { return };
    c.base_counts();
    let n = c.ro.steps().len() as i32;
    if c.st.promote_full || (within_rollback_window(c) && c.hash != c.prev.stable_rs) {
        c.clear_pause = true;
        c.remove_abort = c.add_abort.is_none();
        if n > 0 {
            c.st.current_step_index = Some(n);
        }
    }
    if let Some(reason) = should_full_promote(c, canary) {
        promote_stable(c, &reason);
    } else if c.is_aborted() {
        let reset = if c.prev.stable_rs == c.hash { n } else { 0 };
        c.st.current_step_index = (n > 0).then_some(reset).or(c.st.current_step_index);
    } else if !c.inputs.hold
        && completed_current_step(c, canary)
        && let Some((idx, step)) = current_step(c)
    {
        let desc = step.describe();
        c.st.current_step_index = Some(idx as i32 + 1);
        c.st.canary.current_step_analysis_run_status = None;
        c.remove_pause.push(PauseReason::CanaryPauseStep);
        let msg = format!("Rollout step {}/{} completed ({desc})", idx + 1, n);
        c.event(EventType::Normal, "RolloutStepCompleted", msg);
        let now = c.now;
        c.wake_at(now);
    }
    c.calculate_conditions();
}

/// Upstream `promoteStable`.
pub(super) fn promote_stable(c: &mut Ctx, reason: &str) {
    c.clear_pause = true;
    c.remove_abort = c.add_abort.is_none();
    let n = c.ro.steps().len() as i32;
    if n > 0 {
        c.st.current_step_index = Some(n);
    }
    if c.st.stable_rs != c.hash {
        c.st.stable_rs = c.hash.to_string();
        let msg = format!(
            "Rollout completed update to revision {} ({}): {reason}",
            c.revision(),
            c.hash
        );
        c.event(EventType::Normal, "RolloutCompleted", msg);
        let now = c.now;
        c.wake_at(now);
    }
    workload::on_promote_stable(c);
}

/// `a * b / d` without overflow (replica counts up to `i32::MAX` times a weight), saturated to
/// `i32`; 0 when `d` is 0.
fn mul_div(a: i32, b: i32, d: i32) -> i32 {
    if d == 0 {
        return 0;
    }
    let v = i64::from(a) * i64::from(b) / i64::from(d);
    i32::try_from(v).unwrap_or(if v < 0 { i32::MIN } else { i32::MAX })
}
