//! A Rollout's phase and message, as upstream computes them (`utils/rollout/rolloututil.go`).
//!
//! - [`calculate_phase`] (upstream `CalculateRolloutPhase`): what the controller writes into
//!   `status.phase` / `status.message` from the spec and the status it is about to persist.
//! - [`rollout_phase`] (upstream `GetRolloutPhase`): what a reader (Argo CD, `kubectl argo
//!   rollouts`, a dashboard) should show for a Rollout object: `Progressing` while the controller
//!   has not yet observed the latest spec (or the referenced workload's latest generation), the
//!   persisted phase otherwise, and a client-side calculation for statuses written without one.

use std::borrow::Cow;

use crate::rollout::spec::Rollout;
use crate::rollout::status::{ConditionStatus, ConditionType, RolloutPhase, RolloutStatus};
use crate::rollout::why::REASON_ROLLBACK_HELD;

/// Annotation holding the `metadata.generation` of the workload a `workloadRef` Rollout takes its
/// template from (upstream `WorkloadGenerationAnnotation`).
pub const WORKLOAD_GENERATION_ANNOTATION: &str = "rollout.argoproj.io/workload-generation";

/// Message while `status.observedGeneration` lags `metadata.generation`.
pub const MSG_SPEC_NOT_OBSERVED: &str = "waiting for rollout spec update to be observed";
/// Message while `status.workloadObservedGeneration` lags the workload-generation annotation.
pub const MSG_WORKLOAD_NOT_OBSERVED: &str =
    "waiting for rollout spec update to be observed for the reference workload";
/// Message while a user's resume has not been acted on yet (see [`is_unpausing`]).
pub const MSG_UNPAUSING: &str = "waiting for rollout to unpause";

const REASON_ABORTED: &str = "RolloutAborted";
const REASON_TIMED_OUT: &str = "ProgressDeadlineExceeded";

/// Upstream `GetRolloutPhase`: the phase and message a client should show for `ro`.
///
/// In order: `Progressing` while the spec update is not observed ([`is_generation_observed`]),
/// while a resume is pending ([`is_unpausing`]), or, for a `workloadRef` Rollout, while the
/// workload's generation is not observed ([`is_workload_generation_observed`]); then the
/// persisted `status.phase` / `status.message`; for a status without a phase (written by Argo
/// Rollouts before v1.0), [`calculate_phase`].
pub fn rollout_phase(ro: &Rollout) -> (RolloutPhase, String) {
    if !is_generation_observed(ro) {
        return (RolloutPhase::Progressing, MSG_SPEC_NOT_OBSERVED.into());
    }
    if is_unpausing(&ro.status) {
        return (RolloutPhase::Progressing, MSG_UNPAUSING.into());
    }
    // Upstream asks `spec.templateResolvedFromRef`, set when the controller resolved the template
    // from `workloadRef`; a Rollout object read from the API has `workloadRef` instead.
    if ro.spec.workload_ref.is_some() && !is_workload_generation_observed(ro) {
        return (RolloutPhase::Progressing, MSG_WORKLOAD_NOT_OBSERVED.into());
    }
    if let Some(phase) = ro.status.phase {
        return (phase, ro.status.message.clone());
    }
    calculate_phase(ro, &ro.status)
}

/// Upstream `isGenerationObserved`: whether `status.observedGeneration` has caught up with
/// `metadata.generation`. A non-numeric value (a v0.9 spec hash) or one ahead of the generation
/// (an all-digit hash) counts as observed.
pub fn is_generation_observed(ro: &Rollout) -> bool {
    let Ok(observed) = ro.status.observed_generation.parse::<i64>() else {
        return true;
    };
    let generation = ro.metadata.generation.unwrap_or(0);
    observed >= generation
}

/// Upstream `isWorkloadGenerationObserved`: whether `status.workloadObservedGeneration` equals the
/// [`WORKLOAD_GENERATION_ANNOTATION`]. Without a readable annotation, or with an unreadable
/// status value, it counts as observed. Both are read as 32-bit integers, as upstream.
pub fn is_workload_generation_observed(ro: &Rollout) -> bool {
    let Some(Ok(workload)) = ro
        .metadata
        .annotations
        .get(WORKLOAD_GENERATION_ANNOTATION)
        .map(|a| a.parse::<i32>())
    else {
        return true;
    };
    match ro.status.workload_observed_generation.parse::<i32>() {
        Ok(observed) => observed == workload,
        Err(_) => true,
    }
}

/// A change to one annotation of the Rollout object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AnnotationChange {
    /// Set the annotation to this value.
    Set(String),
    /// Remove the annotation.
    Remove,
}

/// The change, if any, that keeps [`WORKLOAD_GENERATION_ANNOTATION`] on `ro` (the Rollout as read)
/// as upstream's template resolver keeps it (`rollout/templateref.go` `Resolve`): the referenced
/// workload's `metadata.generation`, and absent on a Rollout without `workloadRef`.
///
/// `st` is the status persisted for `ro`: its `workloadObservedGeneration` is the generation of
/// the workload the controller observed and acted on (empty while it has not resolved one; then
/// the annotation is left as it is). Upstream writes the annotation when it resolves the
/// workload, before it writes the status; a driver applies this change once the status is
/// persisted, so the two agree whenever the controller is between ticks and readers
/// ([`is_workload_generation_observed`], Argo CD's health check) see the Rollout as observed.
pub fn workload_generation_change(ro: &Rollout, st: &RolloutStatus) -> Option<AnnotationChange> {
    let current = ro.metadata.annotations.get(WORKLOAD_GENERATION_ANNOTATION);
    if ro.spec.workload_ref.is_none() {
        return current.map(|_| AnnotationChange::Remove);
    }
    let observed = &st.workload_observed_generation;
    (!observed.is_empty() && current != Some(observed)).then(|| AnnotationChange::Set(observed.clone()))
}

/// Upstream `IsUnpausing`: the controller paused the rollout (`status.controllerPause`) and a user
/// cleared `status.pauseConditions`, but the controller has not acted on it yet.
pub fn is_unpausing(st: &RolloutStatus) -> bool {
    st.controller_pause && st.pause_conditions.is_empty()
}

/// Upstream `IsFullyPromoted`: the stable ReplicaSet is the desired one.
pub fn is_fully_promoted(st: &RolloutStatus) -> bool {
    st.stable_rs == st.current_pod_hash
}

/// Upstream `CalculateRolloutPhase`: `(phase, message)` from the spec of `ro` and the status `st`
/// (first match wins). The controller writes its result with every status it persists; readers
/// use [`rollout_phase`].
pub fn calculate_phase(ro: &Rollout, st: &RolloutStatus) -> (RolloutPhase, String) {
    let (phase, message) = phase_of(ro, st);
    (phase, message.into_owned())
}

/// [`calculate_phase`] with the message borrowed when it is a constant (the machine's every
/// pass: no allocation unless the message is formatted from a condition).
pub(crate) fn phase_of(ro: &Rollout, st: &RolloutStatus) -> (RolloutPhase, Cow<'static, str>) {
    for c in &st.conditions {
        if c.kind == ConditionType::InvalidSpec {
            return (
                RolloutPhase::Degraded,
                format!("InvalidSpec: {}", c.message).into(),
            );
        }
        if c.reason == REASON_ABORTED || c.reason == REASON_TIMED_OUT {
            return (
                RolloutPhase::Degraded,
                format!("{}: {}", c.reason, c.message).into(),
            );
        }
    }
    // A held rollback (rollback-safe config) is Degraded; a missing object alone is reported by
    // the `Degraded` condition without changing the phase (an update may go on).
    if let Some(c) = st
        .condition(ConditionType::Degraded)
        .filter(|c| c.status == ConditionStatus::True && c.reason == REASON_ROLLBACK_HELD)
    {
        return (
            RolloutPhase::Degraded,
            format!("{}: {}", c.reason, c.message).into(),
        );
    }
    if ro.spec.paused {
        return (RolloutPhase::Paused, "manually paused".into());
    }
    if let Some(p) = st.pause_conditions.first() {
        return (RolloutPhase::Paused, p.reason.as_str().into());
    }
    if ro.spec.restart_at.is_some() && ro.spec.restart_at != st.restarted_at {
        return (RolloutPhase::Progressing, "rollout is restarting".into());
    }
    if st.updated_replicas < ro.replicas() {
        return (
            RolloutPhase::Progressing,
            "more replicas need to be updated".into(),
        );
    }
    if st.available_replicas < st.updated_replicas {
        return (
            RolloutPhase::Progressing,
            "updated replicas are still becoming available".into(),
        );
    }
    if let Some(bg) = ro.blue_green() {
        if st.blue_green.active_selector.is_empty() || st.blue_green.active_selector != st.current_pod_hash {
            return (RolloutPhase::Progressing, "active service cutover pending".into());
        }
        if st.stable_rs.is_empty() || !is_fully_promoted(st) {
            // The active Service is on the desired ReplicaSet, which is not stable yet:
            // post-promotion analysis or post-promotion verification is still running.
            let analysis_pending = bg.post_promotion_analysis.is_some()
                && st
                    .blue_green
                    .post_promotion_analysis_run_status
                    .as_ref()
                    .is_none_or(|r| !r.status.is_completed());
            let msg = if analysis_pending {
                "waiting for analysis to complete"
            } else {
                "waiting for post-promotion verification to complete"
            };
            return (RolloutPhase::Progressing, msg.into());
        }
    } else if ro.canary().is_some() {
        // Only a basic canary: blue-green and traffic-routed canaries keep old pods up for
        // their scale-down delay.
        if !ro.has_traffic_routing() && st.replicas > st.updated_replicas {
            return (
                RolloutPhase::Progressing,
                "old replicas are pending termination".into(),
            );
        }
        if st.stable_rs.is_empty() || !is_fully_promoted(st) {
            return (
                RolloutPhase::Progressing,
                "waiting for all steps to complete".into(),
            );
        }
    }
    (RolloutPhase::Healthy, Cow::Borrowed(""))
}
