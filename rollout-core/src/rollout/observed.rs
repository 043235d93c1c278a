//! What the driver observed this tick and the coordinator inputs: the machine's input (its
//! output is in [`decision`](super::decision)).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::config_deps::ConfigRef;
use super::spec::LabelSelector;
use super::why::DecidingMetric;
use crate::analysis::AnalysisPhase;
use crate::common::Timestamp;

/// A snapshot of the cluster objects a Rollout owns or references.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// ReplicaSets owned by the Rollout.
    #[serde(default)]
    pub replica_sets: Vec<ObservedReplicaSet>,
    /// Services the strategy references (active/preview/canary/stable).
    #[serde(default)]
    pub services: Vec<ObservedService>,
    /// AnalysisRuns owned by the Rollout.
    #[serde(default)]
    pub analysis_runs: Vec<ObservedAnalysisRun>,
    /// The object `workloadRef` points at.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload: Option<ObservedWorkload>,
    /// The ConfigMaps and Secrets the ReplicaSets need ([`ObservedReplicaSet::needs`]) that the
    /// driver looked up, present or missing. An object not listed is neither missing nor
    /// protected (a driver without config support lists none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<ObservedConfig>,
    /// The pods of the ReplicaSets, listed only while a `spec.restartAt` restart is pending
    /// ([`machine::restart_pending`](super::machine::restart_pending)). `None`: not listed (no
    /// restart pending, or a driver that cannot list pods); the restarter then neither evicts
    /// nor records the restart as done while any ReplicaSet has pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods: Option<Vec<ObservedPod>>,
}

/// One pod of a Rollout's ReplicaSet, as the restarter needs it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedPod {
    /// Pod name.
    pub name: String,
    /// The ReplicaSet that owns it.
    pub replica_set: String,
    /// `metadata.creationTimestamp`.
    pub created_at: Timestamp,
    /// Its `Ready` condition is `True`.
    #[serde(default)]
    pub ready: bool,
    /// When the `Ready` condition last changed (`minReadySeconds` counts from it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ready_since: Option<Timestamp>,
    /// It has a `deletionTimestamp`.
    #[serde(default)]
    pub terminating: bool,
}

/// One ReplicaSet as the machine needs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedReplicaSet {
    /// Name.
    pub name: String,
    /// Its `rollouts-pod-template-hash` label.
    pub pod_template_hash: String,
    /// `rollout.argoproj.io/revision` annotation.
    pub revision: i64,
    /// Creation time.
    pub created_at: Timestamp,
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.replicas`.
    pub status_replicas: i32,
    /// `status.readyReplicas`.
    pub ready: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// `scale-down-deadline` annotation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_deadline: Option<Timestamp>,
    /// Pod template (used to adopt RSs created with another hash scheme); optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Value>,
    /// The ConfigMaps and Secrets its pods cannot start without
    /// ([`config_deps::required`](super::config_deps::required) of its pod template).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub needs: Vec<ConfigRef>,
}

/// A ConfigMap or Secret a ReplicaSet needs, as the driver found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedConfig {
    /// The object.
    pub object: ConfigRef,
    /// It exists (and is not being deleted).
    pub exists: bool,
    /// `immutable: true`.
    #[serde(default)]
    pub immutable: bool,
    /// The [`PROTECTION_ANNOTATION`](super::config_deps::PROTECTION_ANNOTATION) value, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protection: Option<bool>,
    /// The ReplicaSets (of any Rollout) that protect it now: its `ReplicaSet` owner references.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protected_by: Vec<String>,
}

impl ObservedConfig {
    /// Whether the machine protects it: it exists and is immutable, or opted in by annotation
    /// (the annotation `"false"` opts out).
    pub fn protectable(&self) -> bool {
        self.exists && self.protection.unwrap_or(self.immutable)
    }
}

/// A Service and the pod-template hash its selector pins (if any).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedService {
    /// Service name.
    pub name: String,
    /// Value of `rollouts-pod-template-hash` in its selector.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector_hash: Option<String>,
}

/// Why an AnalysisRun exists (upstream label `rollout-type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum AnalysisRunKind {
    /// Inline `analysis` step.
    Step,
    /// `canary.analysis`.
    Background,
    /// Blue-green `prePromotionAnalysis`.
    PrePromotion,
    /// Blue-green `postPromotionAnalysis`.
    PostPromotion,
}

/// An AnalysisRun owned by the Rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedAnalysisRun {
    /// Run name.
    pub name: String,
    /// Run kind.
    pub kind: AnalysisRunKind,
    /// Pod-template hash label.
    pub pod_template_hash: String,
    /// Step index label (step runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_index: Option<i32>,
    /// Phase.
    pub phase: AnalysisPhase,
    /// Status message.
    #[serde(default)]
    pub message: String,
    /// `spec.terminate` already requested.
    #[serde(default)]
    pub terminating: bool,
    /// `metadata.creationTimestamp`: run history keeps the newest runs (`None` counts as oldest).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<Timestamp>,
    /// The metric that decided a Failed, Error or Inconclusive run
    /// ([`DecidingMetric::of_run`]); the rollout's [`Why`](super::why::Why) names it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<DecidingMetric>,
}

/// The workload referenced by `workloadRef`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObservedWorkload {
    /// Its pod template.
    pub template: Value,
    /// Its selector (used when the Rollout has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// `metadata.generation`.
    #[serde(default)]
    pub generation: i64,
    /// `spec.replicas` (Deployments).
    #[serde(default)]
    pub replicas: i32,
}

/// Inputs from a coordinator (lockstep groups, dry runs, operators).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Inputs {
    /// Hold at the current step: no step completes and no promotion happens (initial deploys
    /// and fast rollbacks still complete). Scaling toward the current step continues.
    #[serde(default)]
    pub hold: bool,
    /// Abort the update now with this reason (as if analysis failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub force_abort: Option<String>,
    /// The group cause of `hold` or `force_abort` ([`group`](super::group)): the machine writes a
    /// `GroupHold` condition with it while holding, and records it as the abort's cause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<super::group::GroupCause>,
    /// The group's members and their revisions, written to `status.group` (analysis args of one
    /// member read the others' hashes there).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group_status: Option<super::group::GroupStatus>,
    /// The fleet brake's cause of `hold` ([`brake`](crate::fleet::brake)): the machine writes a
    /// `FleetHold` condition with it while holding. Set with
    /// [`brake::apply`](crate::fleet::brake::apply), which also sets `hold`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet_hold: Option<crate::fleet::brake::FleetHoldCause>,
    /// The trigger policy's hold ([`policy`](super::policy)): a failed or errored analysis pauses
    /// the Rollout at its step (pause reason `PolicyHold`) instead of aborting it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hold_on_failure: Option<super::policy::PolicyHold>,
}
