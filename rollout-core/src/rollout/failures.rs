//! Status decisions for failures a driver meets while carrying out a [`Decision`](super::Decision):
//! a ReplicaSet write the API server refused, and a Rollout whose spec cannot be read at all.
//! Every driver applies the same policy through these functions.

use super::why::{self, Why};
use super::{Action, ConditionStatus, ConditionType, RolloutPhase, RolloutStatus};
use crate::common::Timestamp;

/// The condition reason and phase-message prefix of an unreadable spec.
pub const INVALID_SPEC: &str = "InvalidSpec";

/// Whether a failure of `action` is a replica failure: the rollout then neither advances nor
/// aborts, and the status records the server's reason in a `ReplicaFailure` condition.
pub fn is_replica_action(action: &Action) -> bool {
    matches!(
        action,
        Action::CreateReplicaSet { .. }
            | Action::CreateBaselineReplicaSet { .. }
            | Action::ScaleReplicaSet { .. }
    )
}

/// The status to write when a replica action failed: the status as it was before the decision
/// (nothing advanced) with a `ReplicaFailure` condition carrying the server's `reason` and
/// `message` (replaced only when either changed), and its [`Why`] in `status.why`.
pub fn replica_failure(before: &RolloutStatus, reason: &str, message: &str, now: Timestamp) -> RolloutStatus {
    let mut status = before.clone();
    let why = Why::replica_failure(reason, message.to_string());
    let same = status
        .condition(ConditionType::ReplicaFailure)
        .is_some_and(|c| c.reason == reason && c.message == message);
    if !same {
        status.remove_condition(ConditionType::ReplicaFailure);
        status.set_condition(
            ConditionType::ReplicaFailure,
            ConditionStatus::True,
            reason,
            why.message(),
            now,
        );
    }
    if !same
        || !status
            .why
            .iter()
            .any(|w| w.condition == ConditionType::ReplicaFailure)
    {
        why::set_for_condition(&mut status, ConditionType::ReplicaFailure, Some(why));
    }
    status
}

/// The decided status once every action succeeded: a past `ReplicaFailure` (and its cause) is
/// over.
pub fn replica_success(mut decided: RolloutStatus) -> RolloutStatus {
    decided.remove_condition(ConditionType::ReplicaFailure);
    why::set_for_condition(&mut decided, ConditionType::ReplicaFailure, None);
    decided
}

/// The status to write for a Rollout whose spec cannot be read (e.g. a field of the wrong type):
/// an `InvalidSpec` condition with `message` (replaced only when the message changed) and its
/// [`Why`], phase Degraded and message `InvalidSpec: <message>`; nothing else is touched.
pub fn invalid_spec(before: &RolloutStatus, message: &str, now: Timestamp) -> RolloutStatus {
    let mut status = before.clone();
    let why = Why::invalid_spec(message.to_string());
    let same = status
        .condition(ConditionType::InvalidSpec)
        .is_some_and(|c| c.status == ConditionStatus::True && c.message == message);
    if !same {
        status.remove_condition(ConditionType::InvalidSpec);
        status.set_condition(
            ConditionType::InvalidSpec,
            ConditionStatus::True,
            INVALID_SPEC,
            why.message(),
            now,
        );
    }
    if !same
        || !status
            .why
            .iter()
            .any(|w| w.condition == ConditionType::InvalidSpec)
    {
        why::set_for_condition(&mut status, ConditionType::InvalidSpec, Some(why));
    }
    status.phase = Some(RolloutPhase::Degraded);
    status.message = format!("{INVALID_SPEC}: {message}");
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_700_000_000).unwrap_or_default()
    }

    #[test]
    fn replica_failure_keeps_the_old_status_and_records_the_reason_once() {
        let before = RolloutStatus {
            message: "before".into(),
            ..Default::default()
        };
        let failed = replica_failure(&before, "Forbidden", "quota", now());
        assert_eq!(failed.message, "before");
        let c = failed.condition(ConditionType::ReplicaFailure).unwrap();
        assert_eq!((c.reason.as_str(), c.message.as_str()), ("Forbidden", "quota"));
        let later = Timestamp::from_second(1_700_000_060).unwrap_or_default();
        assert_eq!(replica_failure(&failed, "Forbidden", "quota", later), failed);
        assert!(
            replica_success(failed)
                .condition(ConditionType::ReplicaFailure)
                .is_none()
        );
    }

    #[test]
    fn invalid_spec_degrades_with_the_message_and_is_idempotent() {
        let st = invalid_spec(&RolloutStatus::default(), "spec.replicas: invalid type", now());
        assert_eq!(st.phase, Some(RolloutPhase::Degraded));
        assert_eq!(st.message, "InvalidSpec: spec.replicas: invalid type");
        let later = Timestamp::from_second(1_700_000_060).unwrap_or_default();
        assert_eq!(invalid_spec(&st, "spec.replicas: invalid type", later), st);
        let other = invalid_spec(&st, "other", later);
        assert_eq!(
            other.condition(ConditionType::InvalidSpec).unwrap().message,
            "other"
        );
    }
}
