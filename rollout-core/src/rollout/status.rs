//! Rollout `status` with upstream field names, plus condition/phase value types.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::why::Why;
use crate::analysis::AnalysisPhase;
use crate::common::Timestamp;

/// `status` of a Rollout. Field names are upstream's; quirky fields (`controllerPause`,
/// `abortedAt`, `promoteFull`, `currentStepHash`, string `observedGeneration`) are kept.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStatus {
    /// The user (or the machine) aborted the update.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub abort: bool,
    /// Active pause reasons.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pause_conditions: Vec<PauseCondition>,
    /// The controller paused the rollout (distinguishes "user resumed" from "never paused").
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub controller_pause: bool,
    /// When the abort happened.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted_at: Option<Timestamp>,
    /// Pod-template hash of the desired template.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub current_pod_hash: String,
    /// Hash of the canary steps.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub current_step_hash: String,
    /// Total pods of all RSs (status.replicas sum).
    #[serde(default)]
    pub replicas: i32,
    /// Pods of the new RS.
    #[serde(default)]
    pub updated_replicas: i32,
    /// Ready pods.
    #[serde(default)]
    pub ready_replicas: i32,
    /// Available pods.
    #[serde(default)]
    pub available_replicas: i32,
    /// Current canary step; `None` is treated as 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_index: Option<i32>,
    /// Hash collision counter.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub collision_count: Option<i32>,
    /// `metadata.generation` last processed, as a string (upstream quirk).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub observed_generation: String,
    /// Replicas as seen by an HPA.
    #[serde(default, rename = "HPAReplicas", skip_serializing_if = "is_zero")]
    pub hpa_replicas: i32,
    /// Label selector string for the scale subresource.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub selector: String,
    /// Pod-template hash of the stable RS.
    #[serde(default, rename = "stableRS", skip_serializing_if = "String::is_empty")]
    pub stable_rs: String,
    /// Last `spec.restartAt` completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restarted_at: Option<Timestamp>,
    /// `promote --full` requested.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub promote_full: bool,
    /// Phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<RolloutPhase>,
    /// Phase message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Generation of the referenced workload last processed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub workload_observed_generation: String,
    /// Canary-specific status.
    #[serde(default)]
    pub canary: CanaryStatus,
    /// Blue-green-specific status.
    #[serde(default)]
    pub blue_green: BlueGreenStatus,
    /// Conditions.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    /// The structured causes of the current abort, hold and degraded conditions (our
    /// extension, see [`why`](super::why)); the conditions' messages are rendered from them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<Why>,
    /// One sentence for people, rendered from `why` (our extension, see
    /// [`feedback`](super::feedback)); empty when nothing is wrong.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub feedback: String,
    /// A grouped Rollout's members and their revisions (our extension, see
    /// [`group`](super::group)): analysis args read another member's hashes from here with
    /// `valueFrom.fieldRef`, e.g. `status.group.members.publish.currentPodHash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<super::group::GroupStatus>,
    /// The cost of the last update: pod-seconds above `spec.replicas` and wall time (our
    /// extension, see [`cost`](super::cost)).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<super::cost::CostStatus>,
    /// Fields the core does not interpret (e.g. `alb`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}

/// Rollout phase (upstream `RolloutPhase`). There is no "Aborted" phase: abort is Degraded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RolloutPhase {
    /// Fully promoted and available.
    Healthy,
    /// An update is in progress.
    Progressing,
    /// Paused by a step, analysis or the user.
    Paused,
    /// Invalid spec, aborted or timed out.
    Degraded,
}

/// A pause reason with its start time.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PauseCondition {
    /// Why.
    pub reason: PauseReason,
    /// Since when (timed pauses count from here).
    pub start_time: Timestamp,
}

/// Upstream `PauseReason`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PauseReason {
    /// An inline or background AnalysisRun was Inconclusive.
    InconclusiveAnalysisRun,
    /// An Experiment was Inconclusive.
    InconclusiveExperiment,
    /// A canary `pause` step.
    CanaryPauseStep,
    /// Blue-green waiting for promotion.
    BlueGreenPause,
    /// Our extension: an analysis failed and the trigger policy holds the Rollout for a person
    /// ([`policy`](super::policy)).
    PolicyHold,
}

impl PauseReason {
    /// The reason as written in `status.pauseConditions[].reason`.
    pub fn as_str(&self) -> &'static str {
        match self {
            PauseReason::InconclusiveAnalysisRun => "InconclusiveAnalysisRun",
            PauseReason::InconclusiveExperiment => "InconclusiveExperiment",
            PauseReason::CanaryPauseStep => "CanaryPauseStep",
            PauseReason::BlueGreenPause => "BlueGreenPause",
            PauseReason::PolicyHold => super::policy::REASON_POLICY_HOLD,
        }
    }
}

impl std::fmt::Display for PauseReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `status.canary`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStatus {
    /// The run of the current analysis step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_step_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    /// The background run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_background_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    /// Current experiment name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub current_experiment: String,
    /// Traffic weights last set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weights: Option<TrafficWeights>,
    /// Fields the core does not interpret (`stablePingPong`, `stepPluginStatuses`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `status.blueGreen`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStatus {
    /// Hash the preview service selects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub preview_selector: String,
    /// Hash the active service selects.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub active_selector: String,
    /// Preview RS may scale to full size.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub scale_up_preview_check_point: bool,
    /// Pre-promotion run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
    /// Post-promotion run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis_run_status: Option<RolloutAnalysisRunStatus>,
}

/// Name and phase of an AnalysisRun the rollout tracks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysisRunStatus {
    /// Run name.
    pub name: String,
    /// Run phase.
    pub status: AnalysisPhase,
    /// Run message.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
}

/// `status.canary.weights`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficWeights {
    /// Canary destination.
    pub canary: WeightDestination,
    /// Stable destination.
    pub stable: WeightDestination,
    /// Experiment destinations.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional: Vec<WeightDestination>,
    /// Router-verified (`None` = verification unsupported).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

/// A weighted destination.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WeightDestination {
    /// Weight (0..=maxTrafficWeight).
    #[serde(default)]
    pub weight: i32,
    /// Service name.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub service_name: String,
    /// Pod-template hash.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub pod_template_hash: String,
}

/// A rollout condition (`status.conditions[]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// Condition type.
    #[serde(rename = "type")]
    pub kind: ConditionType,
    /// `"True"`, `"False"` or `"Unknown"`.
    pub status: ConditionStatus,
    /// Last time the condition was refreshed (progress deadline base).
    pub last_update_time: Timestamp,
    /// Last time the status flipped.
    pub last_transition_time: Timestamp,
    /// Machine-readable reason.
    pub reason: String,
    /// Human-readable message.
    pub message: String,
}

/// Condition types.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionType {
    /// The spec is invalid.
    InvalidSpec,
    /// Minimum availability reached.
    Available,
    /// Progress tracking.
    Progressing,
    /// RS creation failures.
    ReplicaFailure,
    /// Paused.
    Paused,
    /// stable == current.
    Completed,
    /// Fully healthy.
    Healthy,
    /// Our extension: the Rollout cannot safely serve or roll back (reasons `ConfigMissing`,
    /// `RollbackHeldForConfig`; see [`config_deps`](super::config_deps)).
    Degraded,
    /// Held by its group (our extension, [`group`](super::group)): the reason and message name
    /// the member that holds it and why.
    GroupHold,
    /// Held by the fleet brake (our extension, [`brake`](crate::fleet::brake)): the message names
    /// the held release, the hold's reason and the matched image or revision.
    FleetHold,
    /// A dry run withheld the machine's actions ([`dry_run`](super::dry_run)).
    DryRun,
    /// The trigger policy is invalid and not applied (our extension, [`policy`](super::policy)):
    /// the message lists the problems with their field paths.
    InvalidPolicy,
}

/// Kubernetes condition status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ConditionStatus {
    /// True.
    True,
    /// False.
    False,
    /// Unknown.
    Unknown,
}

impl RolloutStatus {
    /// The condition of the given type.
    pub fn condition(&self, kind: ConditionType) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.kind == kind)
    }
    /// The pause condition with the given reason.
    pub fn pause_condition(&self, reason: PauseReason) -> Option<&PauseCondition> {
        self.pause_conditions.iter().find(|c| c.reason == reason)
    }
    /// Upstream `SetRolloutCondition`: no-op when type, status and reason are unchanged
    /// (message included, as upstream); keeps `lastTransitionTime` when the status is unchanged.
    /// Returns whether the condition changed.
    pub fn set_condition(
        &mut self,
        kind: ConditionType,
        status: ConditionStatus,
        reason: &str,
        message: String,
        now: Timestamp,
    ) -> bool {
        self.set_condition_with(kind, status, reason, || message, now)
    }

    /// [`RolloutStatus::set_condition`] with a lazily built message (built only on change).
    pub fn set_condition_with(
        &mut self,
        kind: ConditionType,
        status: ConditionStatus,
        reason: &str,
        message: impl FnOnce() -> String,
        now: Timestamp,
    ) -> bool {
        let mut transition = now;
        if let Some(cur) = self.condition(kind) {
            if cur.status == status && cur.reason == reason {
                return false;
            }
            if cur.status == status {
                transition = cur.last_transition_time;
            }
        }
        self.conditions.retain(|c| c.kind != kind);
        self.conditions.push(Condition {
            kind,
            status,
            last_update_time: now,
            last_transition_time: transition,
            reason: reason.to_string(),
            message: message(),
        });
        true
    }
    /// Removes the condition of the given type.
    pub fn remove_condition(&mut self, kind: ConditionType) {
        self.conditions.retain(|c| c.kind != kind);
    }
}
