//! Why a Rollout is aborted, held or degraded, as data: [`Why`].
//!
//! Every abort, inconclusive-analysis hold and degraded condition the machine (or a driver through
//! [`failures`](super::failures)) writes comes with a [`Why`] in `status.why` (our extension; a
//! list, one entry per condition that carries a cause). The condition keeps its stable `reason`
//! (`RolloutAborted`, `ProgressDeadlineExceeded`, `InvalidSpec`, the API server's reason of a
//! `ReplicaFailure`, the pause reason `InconclusiveAnalysisRun`) and the upstream message text,
//! which is rendered from the `Why` ([`Why::message`]); a fleet tool reads `status.why` instead of
//! parsing the prose.
//!
//! Analysis causes name the run, the metric that decided it and, for `judge` metrics, the judge's
//! code, score and evidence (its details), read from the metric's last measurement
//! ([`DecidingMetric`], which drivers fill into
//! [`ObservedAnalysisRun::decided_by`](super::ObservedAnalysisRun::decided_by)).

use serde::{Deserialize, Serialize};

use super::config_deps::ConfigRef;
use super::group::GroupCause;
use super::observed::{AnalysisRunKind, ObservedAnalysisRun};
use super::status::{ConditionType, PauseReason, RolloutStatus};
use crate::analysis::AnalysisPhase;
use crate::analysis::judge::JudgeErrorKind;
use crate::analysis::provider::ProviderErrorKind;

mod evidence;

use crate::fleet::brake::FleetHoldCause;
pub use evidence::{DecidingMetric, Evidence, parse_evidence};

/// The `Progressing` reason of an aborted update.
pub const REASON_ABORTED: &str = "RolloutAborted";
/// The `Progressing` reason of an update past its progress deadline.
pub const REASON_TIMED_OUT: &str = "ProgressDeadlineExceeded";
/// The reason of the `InvalidSpec` condition.
pub const REASON_INVALID_SPEC: &str = "InvalidSpec";
/// The `Degraded` reason: a ConfigMap or Secret a ReplicaSet that may serve again needs is missing.
pub const REASON_CONFIG_MISSING: &str = "ConfigMissing";
/// The `Degraded` reason: an abort or rollback is held because the stable ReplicaSet's config is
/// missing; the canary keeps serving.
pub const REASON_ROLLBACK_HELD: &str = "RollbackHeldForConfig";
/// The `FleetHold` reason: the fleet brake holds the release ([`Why::fleet_hold`]).
pub const REASON_RELEASE_HELD: &str = "ReleaseHeld";
/// Listed objects in a config cause's message; the rest are counted.
const MAX_LISTED_CONFIG: usize = 10;
/// Start of the message of an aborted update, followed by the revision.
const MSG_ABORTED: &str = "Rollout aborted update to revision";
/// Start of the event message of a pause, followed by the pause reason.
const MSG_PAUSED: &str = "Rollout is paused";

/// What made the Rollout stop, hold or degrade.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Cause {
    /// An AnalysisRun failed: a metric passed its failure limit.
    AnalysisFailed,
    /// An AnalysisRun was inconclusive: the rollout holds (paused) until a user decides.
    AnalysisInconclusive,
    /// An AnalysisRun errored (a metric passed its consecutive-error limit).
    AnalysisError,
    /// An AnalysisRun errored because its metric source was unreachable or timed out.
    ProviderUnreachable,
    /// The update made no progress within `progressDeadlineSeconds`.
    ProgressDeadline,
    /// The spec is invalid or cannot be read.
    InvalidSpec,
    /// The API server refused to create or scale a ReplicaSet.
    ReplicaFailure,
    /// A user aborted the update (`status.abort`).
    UserAbort,
    /// The coordinator aborted the update (`Inputs::force_abort`).
    ForcedAbort,
    /// Another member of the Rollout's group aborted, so the group aborts ([`Why::group`]).
    GroupAbort,
    /// The Rollout's group holds it at its step ([`Why::group`]: which member and why).
    GroupHold,
    /// A ConfigMap or Secret that a ReplicaSet which may serve again needs is missing.
    ConfigMissing,
    /// An abort or rollback is held: the stable ReplicaSet's ConfigMaps or Secrets are missing,
    /// so the canary is not scaled down and traffic stays where it is.
    RollbackHeld,
    /// The fleet brake holds the release the Rollout updates to ([`Why::fleet_hold`]: which
    /// release, why, and the matched image or revision).
    FleetHold,
}

/// A structured cause of an abort, hold or degraded condition (one entry of `status.why`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Why {
    /// The cause.
    pub cause: Cause,
    /// The condition type that carries it (`Paused` for a pause reason).
    pub condition: ConditionType,
    /// The carrying condition's stable reason (the pause reason for `Paused`).
    pub reason: String,
    /// The revision of the update an abort stopped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<i64>,
    /// The ReplicaSet concerned (the one that timed out progressing), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_set: Option<String>,
    /// The source text: the run's message, the coordinator's or API server's reason, the
    /// validation message, the timeout sentence. Empty for a user abort.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub detail: String,
    /// The AnalysisRun, for analysis causes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<RunRef>,
    /// The metric that decided the run, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricWhy>,
    /// The group member concerned, for group causes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<GroupCause>,
    /// The missing ConfigMaps and Secrets, for config causes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub missing_config: Vec<MissingConfig>,
    /// The fleet brake's hold, for [`Cause::FleetHold`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_hold: Option<FleetHoldCause>,
    /// The trigger policy that holds the Rollout after a failed analysis (pause reason
    /// `PolicyHold`, [`Why::policy_hold`]); the cause stays the analysis's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<super::policy::PolicyHold>,
}

/// A missing ConfigMap or Secret and the ReplicaSets that need it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MissingConfig {
    /// The object.
    pub object: ConfigRef,
    /// ReplicaSets that may serve again and need it.
    pub needed_by: Vec<String>,
}

/// `Secret "a" (needed by r1, r2), ...`, at most [`MAX_LISTED_CONFIG`] objects.
fn list_missing(missing: &[MissingConfig]) -> String {
    let mut parts: Vec<String> = missing
        .iter()
        .take(MAX_LISTED_CONFIG)
        .map(|m| format!("{} (needed by {})", m.object, m.needed_by.join(", ")))
        .collect();
    if missing.len() > MAX_LISTED_CONFIG {
        parts.push(format!("and {} more", missing.len() - MAX_LISTED_CONFIG));
    }
    parts.join(", ")
}

/// The AnalysisRun a cause refers to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunRef {
    /// Run name.
    pub name: String,
    /// Step, background, pre- or post-promotion.
    pub kind: AnalysisRunKind,
    /// The run's phase.
    pub phase: AnalysisPhase,
}

/// The metric that decided a run, read from its last measurement.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricWhy {
    /// Metric name.
    pub name: String,
    /// The metric's phase.
    pub phase: AnalysisPhase,
    /// The measurement's message (e.g. the provider error, the judge's reason).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The kind of provider error of an Error measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider_error: Option<ProviderErrorKind>,
    /// The HTTP status of a [`ProviderErrorKind::HttpStatus`] error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// The kind of judge failure of a [`ProviderErrorKind::Judge`] error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge_error: Option<JudgeErrorKind>,
    /// The judge's verdict, for `judge` metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeWhy>,
}

/// A judge's verdict as evidence.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JudgeWhy {
    /// Judge name.
    pub name: String,
    /// The verdict's reason code (`regression`, `insufficient-data`, ...).
    pub code: String,
    /// The verdict's score, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// The numbers behind the verdict, one entry per detail the judge reported.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<Evidence>,
}

impl Why {
    fn new(cause: Cause, condition: ConditionType, reason: &str, detail: String) -> Self {
        Why {
            cause,
            condition,
            reason: reason.to_string(),
            revision: None,
            replica_set: None,
            detail,
            run: None,
            metric: None,
            group: None,
            missing_config: Vec::new(),
            fleet_hold: None,
            policy: None,
        }
    }

    /// ConfigMaps or Secrets needed by ReplicaSets that may serve again are missing (deleted by
    /// hand or by a release tool).
    pub fn config_missing(missing: Vec<MissingConfig>) -> Self {
        let detail = format!(
            "ConfigMaps or Secrets needed by ReplicaSets that may serve again are missing: {}",
            list_missing(&missing)
        );
        let mut why = Why::new(
            Cause::ConfigMissing,
            ConditionType::Degraded,
            REASON_CONFIG_MISSING,
            detail,
        );
        why.missing_config = missing;
        why
    }

    /// The abort or rollback to the ReplicaSet `stable` is held because the objects in `missing`
    /// are gone.
    pub fn rollback_held(stable: &str, missing: Vec<MissingConfig>) -> Self {
        let detail = format!(
            "Rollback to ReplicaSet {stable} held: its pods need missing {}; the canary keeps \
             serving until they are restored",
            list_missing(&missing)
        );
        let mut why = Why::new(
            Cause::RollbackHeld,
            ConditionType::Degraded,
            REASON_ROLLBACK_HELD,
            detail,
        );
        why.replica_set = Some(stable.to_string());
        why.missing_config = missing;
        why
    }

    /// The cause of a Failed, Error or Inconclusive run: an abort (Failed: analysis failed;
    /// Error: provider unreachable when the deciding measurement was an unreachable or timed-out
    /// provider, else analysis error) or, for Inconclusive, the `InconclusiveAnalysisRun` hold.
    /// `detail` is the run's message. `None` for other phases.
    pub fn analysis(run: &ObservedAnalysisRun, detail: String) -> Option<Self> {
        if !matches!(
            run.phase,
            AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
        ) {
            return None;
        }
        let metric = run.decided_by.as_ref().map(DecidingMetric::to_why);
        let unreachable = metric.as_ref().is_some_and(|m| {
            matches!(
                m.provider_error,
                Some(ProviderErrorKind::Unreachable | ProviderErrorKind::Timeout)
            )
        });
        let mut why = match run.phase {
            AnalysisPhase::Failed => Why::new(
                Cause::AnalysisFailed,
                ConditionType::Progressing,
                REASON_ABORTED,
                detail,
            ),
            AnalysisPhase::Error => Why::new(
                if unreachable {
                    Cause::ProviderUnreachable
                } else {
                    Cause::AnalysisError
                },
                ConditionType::Progressing,
                REASON_ABORTED,
                detail,
            ),
            AnalysisPhase::Inconclusive => Why::new(
                Cause::AnalysisInconclusive,
                ConditionType::Paused,
                &PauseReason::InconclusiveAnalysisRun.to_string(),
                detail,
            ),
            _ => return None,
        };
        why.run = Some(RunRef {
            name: run.name.clone(),
            kind: run.kind,
            phase: run.phase,
        });
        why.metric = metric;
        Some(why)
    }

    /// A user abort (`status.abort` set by a user): no detail.
    pub fn user_abort() -> Self {
        Why::new(
            Cause::UserAbort,
            ConditionType::Progressing,
            REASON_ABORTED,
            String::new(),
        )
    }

    /// An abort by the coordinator with its reason.
    pub fn forced_abort(reason: String) -> Self {
        Why::new(
            Cause::ForcedAbort,
            ConditionType::Progressing,
            REASON_ABORTED,
            reason,
        )
    }

    /// An abort because another member of the group aborted.
    pub fn group_abort(cause: &GroupCause) -> Self {
        let mut why = Why::new(
            Cause::GroupAbort,
            ConditionType::Progressing,
            REASON_ABORTED,
            cause.message(),
        );
        why.group = Some(cause.clone());
        why
    }

    /// A hold by the group, carried by the `GroupHold` condition.
    pub fn group_hold(cause: &GroupCause) -> Self {
        let mut why = Why::new(
            Cause::GroupHold,
            ConditionType::GroupHold,
            cause.reason(),
            cause.message(),
        );
        why.group = Some(cause.clone());
        why
    }

    /// A hold by the fleet brake, carried by the `FleetHold` condition (reason
    /// [`REASON_RELEASE_HELD`]).
    pub fn fleet_hold(cause: &FleetHoldCause) -> Self {
        let mut why = Why::new(
            Cause::FleetHold,
            ConditionType::FleetHold,
            REASON_RELEASE_HELD,
            cause.message(),
        );
        why.fleet_hold = Some(cause.clone());
        why
    }

    /// A failed or errored analysis (`failure`, from [`Why::analysis`]) that the trigger policy
    /// holds instead of aborting: the cause stays the analysis's, carried by the `PolicyHold`
    /// pause condition, naming the policy's trigger.
    #[must_use]
    pub fn policy_hold(mut failure: Why, hold: &super::policy::PolicyHold) -> Self {
        failure.condition = ConditionType::Paused;
        failure.reason = PauseReason::PolicyHold.to_string();
        failure.policy = Some(hold.clone());
        failure
    }

    /// The progress deadline passed; `message` is the condition's sentence, `replica_set` the new
    /// ReplicaSet if there is one.
    pub fn progress_deadline(replica_set: Option<String>, message: String) -> Self {
        let mut why = Why::new(
            Cause::ProgressDeadline,
            ConditionType::Progressing,
            REASON_TIMED_OUT,
            message,
        );
        why.replica_set = replica_set;
        why
    }

    /// An invalid or unreadable spec with the validation message.
    pub fn invalid_spec(message: String) -> Self {
        Why::new(
            Cause::InvalidSpec,
            ConditionType::InvalidSpec,
            REASON_INVALID_SPEC,
            message,
        )
    }

    /// A refused ReplicaSet write with the API server's reason and message.
    pub fn replica_failure(reason: &str, message: String) -> Self {
        Why::new(
            Cause::ReplicaFailure,
            ConditionType::ReplicaFailure,
            reason,
            message,
        )
    }

    /// This cause as the abort it leads to (e.g. a progress deadline with
    /// `progressDeadlineAbort`): carried by the `Progressing` condition with reason
    /// `RolloutAborted`.
    #[must_use]
    pub fn into_abort(mut self) -> Self {
        self.condition = ConditionType::Progressing;
        self.reason = REASON_ABORTED.to_string();
        self
    }

    /// Whether this is an abort's cause (carried while `status.abort` is set).
    pub fn is_abort(&self) -> bool {
        self.condition == ConditionType::Progressing && self.reason == REASON_ABORTED
    }

    /// The condition message (and event text) rendered from this cause, as upstream words it:
    /// `Rollout aborted update to revision N[: detail]` for an abort, `Rollout is paused
    /// (reason)` for a hold, the detail otherwise.
    pub fn message(&self) -> String {
        if self.is_abort() {
            let revision = self.revision.unwrap_or_default();
            if self.detail.is_empty() {
                format!("{MSG_ABORTED} {revision}")
            } else {
                format!("{MSG_ABORTED} {revision}: {}", self.detail)
            }
        } else if self.condition == ConditionType::Paused {
            format!("{MSG_PAUSED} ({})", self.reason)
        } else {
            self.detail.clone()
        }
    }

    /// Whether `status` still carries this cause: `status.abort` for an abort, the pause
    /// condition for a hold, a condition of the same type and reason otherwise.
    pub fn is_carried_by(&self, status: &RolloutStatus) -> bool {
        if self.is_abort() {
            status.abort
        } else if self.condition == ConditionType::Paused {
            status
                .pause_conditions
                .iter()
                .any(|p| p.reason.to_string() == self.reason)
        } else {
            status
                .condition(self.condition)
                .is_some_and(|c| c.reason == self.reason)
        }
    }

    fn same_slot(&self, other: &Why) -> bool {
        self.condition == other.condition && self.reason == other.reason
    }
}

/// A cause the machine found this tick; `replace` when its condition was (re)written this tick,
/// so it replaces the persisted cause of the same condition and reason.
#[derive(Debug, Clone)]
pub(crate) struct Found {
    pub why: Why,
    pub replace: bool,
}

/// `status.why` after a tick: the persisted causes whose condition is still there (unless a cause
/// found this tick with `replace` takes the slot), then the new causes whose condition is there.
pub(crate) fn merge(previous: &[Why], found: Vec<Found>, status: &RolloutStatus) -> Vec<Why> {
    let mut out: Vec<Why> = Vec::new();
    for p in previous {
        let replaced = found.iter().find(|f| f.replace && f.why.same_slot(p));
        let why = replaced.map_or(p, |f| &f.why);
        if why.is_carried_by(status) && !out.iter().any(|w| w.same_slot(why)) {
            out.push(why.clone());
        }
    }
    for f in found {
        if f.why.is_carried_by(status) && !out.iter().any(|w| w.same_slot(&f.why)) {
            out.push(f.why);
        }
    }
    out
}

/// Replaces the causes of `condition` in `status.why` with `why` (`None`: removes them).
pub(crate) fn set_for_condition(status: &mut RolloutStatus, condition: ConditionType, why: Option<Why>) {
    status.why.retain(|w| w.condition != condition);
    status.why.extend(why);
    status.feedback = super::feedback::of_causes(&status.why).unwrap_or_default();
}
