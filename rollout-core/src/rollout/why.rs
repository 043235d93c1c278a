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

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config_deps::ConfigRef;
use super::group::GroupCause;
use super::observed::{AnalysisRunKind, ObservedAnalysisRun};
use super::status::{ConditionType, PauseReason, RolloutStatus};
use crate::analysis::judge::{JudgeErrorKind, metadata_keys};
use crate::analysis::provider::{ProviderErrorKind, error_keys};
use crate::analysis::{AnalysisPhase, AnalysisRunStatus};

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

/// One judge detail's numbers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Evidence {
    /// What was checked, e.g. `error-ratio`.
    pub name: String,
    /// The statistic's name, e.g. `e-value`.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub statistic: String,
    /// The statistic's value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// Estimated effect (canary minus stable, or a ratio).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub effect: Option<f64>,
    /// Confidence interval of the effect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<(f64, f64)>,
    /// Samples per arm (canary, stable).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<(u64, u64)>,
    /// Samples per arm still needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples_needed: Option<u64>,
}

/// The metric that decided an AnalysisRun and its last measurement's message and metadata, as a
/// driver observes them ([`DecidingMetric::of_run`]); the machine turns it into a [`MetricWhy`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DecidingMetric {
    /// Metric name.
    pub name: String,
    /// The metric's phase.
    pub phase: AnalysisPhase,
    /// The last measurement's message (the metric's message when that is empty).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// The last measurement's metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

impl DecidingMetric {
    /// The metric that decided a Failed, Error or Inconclusive run: the first non-dry-run metric
    /// in the run's phase (else in any of those phases), with its last measurement in that phase.
    /// `None` for other phases or when no metric explains the phase.
    pub fn of_run(status: &AnalysisRunStatus) -> Option<Self> {
        let bad = |p: AnalysisPhase| {
            matches!(
                p,
                AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
            )
        };
        if !bad(status.phase) {
            return None;
        }
        let live = || status.metric_results.iter().filter(|r| !r.dry_run);
        let result = live()
            .find(|r| r.phase == status.phase)
            .or_else(|| live().find(|r| bad(r.phase)))?;
        let measurement = result
            .measurements
            .iter()
            .rev()
            .find(|m| m.phase == result.phase)
            .or(result.measurements.last());
        let message = measurement
            .map(|m| m.message.clone())
            .filter(|m| !m.is_empty())
            .unwrap_or_else(|| result.message.clone());
        Some(DecidingMetric {
            name: result.name.clone(),
            phase: result.phase,
            message,
            metadata: measurement.map(|m| m.metadata.clone()).unwrap_or_default(),
        })
    }

    /// The metric as evidence: provider error kind, HTTP status, judge error kind, and the judge's
    /// code, score and details from the measurement metadata.
    pub fn to_why(&self) -> MetricWhy {
        let get = |k: &str| self.metadata.get(k).map(String::as_str);
        let judge = get(metadata_keys::CODE).map(|code| JudgeWhy {
            name: get(metadata_keys::NAME).unwrap_or_default().to_string(),
            code: code.to_string(),
            score: get(metadata_keys::SCORE).and_then(|s| s.parse().ok()),
            evidence: get(metadata_keys::DETAILS)
                .map(parse_evidence)
                .unwrap_or_default(),
        });
        MetricWhy {
            name: self.name.clone(),
            phase: self.phase,
            message: self.message.clone(),
            provider_error: get(error_keys::KIND).and_then(ProviderErrorKind::parse),
            http_status: get(error_keys::HTTP_STATUS).and_then(|s| s.parse().ok()),
            judge_error: get(error_keys::JUDGE).and_then(JudgeErrorKind::parse),
            judge,
        }
    }
}

/// Evidence from the JSON array of judge details (`judge.details`); unreadable entries are
/// skipped. Pairs are read as `[a, b]` arrays or `{canary, stable}` / `{low, high}` objects.
pub fn parse_evidence(details: &str) -> Vec<Evidence> {
    let Ok(Value::Array(items)) = serde_json::from_str::<Value>(details) else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|d| {
            let field = |camel: &str, snake: &str| d.get(camel).or_else(|| d.get(snake));
            Some(Evidence {
                name: d.get("name")?.as_str()?.to_string(),
                statistic: d
                    .get("statistic")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string(),
                value: d.get("value").and_then(Value::as_f64),
                effect: d.get("effect").and_then(Value::as_f64),
                interval: d
                    .get("interval")
                    .and_then(|v| pair(v, ["low", "high"], Value::as_f64)),
                samples: d
                    .get("samples")
                    .and_then(|v| pair(v, ["canary", "stable"], Value::as_u64)),
                samples_needed: d
                    .get("samples-needed")
                    .or_else(|| field("samplesNeeded", "samples_needed"))
                    .and_then(Value::as_u64),
            })
        })
        .collect()
}

fn pair<T>(v: &Value, keys: [&str; 2], get: fn(&Value) -> Option<T>) -> Option<(T, T)> {
    match v {
        Value::Array(a) if a.len() == 2 => Some((get(&a[0])?, get(&a[1])?)),
        Value::Object(o) => Some((get(o.get(keys[0])?)?, get(o.get(keys[1])?)?)),
        _ => None,
    }
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
}
