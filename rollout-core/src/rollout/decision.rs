//! The machine's output: the [`Decision`] of one reconcile, the [`Action`]s it asks the driver to
//! carry out, the [`AnalysisRunRequest`]s among them and the [`Event`]s to publish.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::args::ResolvedArg;
use super::observed::AnalysisRunKind;
use super::spec::{AnalysisTemplateRef, DryRun, MeasurementRetention};
use super::status::RolloutStatus;
use crate::analysis::{AnalysisRun, AnalysisTemplate, Argument, CreateError, new_run_from_templates};
use crate::common::Timestamp;

/// Normal or Warning event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventType {
    /// Normal.
    Normal,
    /// Warning.
    Warning,
}

/// A Kubernetes event for the Rollout.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    /// Normal/Warning.
    #[serde(rename = "type")]
    pub kind: EventType,
    /// Reason (`RolloutStepCompleted`, `RolloutCompleted`, ...).
    pub reason: String,
    /// Message.
    pub message: String,
}

/// What the machine wants the driver to create for an analysis run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunRequest {
    /// Run name (`<rollout>-<hash>-<revision>[-<step>|-pre|-post][.<n>]`).
    pub name: String,
    /// Kind (label `rollout-type`).
    pub kind: AnalysisRunKind,
    /// Step index (label `step-index`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step_index: Option<i32>,
    /// Pod-template hash label.
    pub pod_template_hash: String,
    /// Templates to combine.
    pub templates: Vec<AnalysisTemplateRef>,
    /// Rollout-side args, resolved.
    pub args: Vec<ResolvedArg>,
    /// Dry-run rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// Measurement retention rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// Labels for the run.
    pub labels: BTreeMap<String, String>,
}

/// The annotation naming the templates an AnalysisRun was built from (comma-separated), so an
/// audit can attribute the run after the Rollout's steps changed.
pub const TEMPLATES_ANNOTATION: &str = "rollout.io/analysis-templates";

impl AnalysisRunRequest {
    /// The AnalysisRun this request asks for: the referenced templates (namespaced, then cluster
    /// ones, already looked up by the driver) combined with the resolved Rollout args and the
    /// step's dry-run and retention rules exactly as upstream (see
    /// [`crate::analysis::new_run_from_templates`]), named and labelled as the request says. The
    /// driver adds what only it knows (owner reference, instance id).
    pub fn build_run(
        &self,
        templates: &[AnalysisTemplate],
        cluster_templates: &[AnalysisTemplate],
        namespace: Option<&str>,
    ) -> Result<AnalysisRun, CreateError> {
        let args: Vec<Argument> = self
            .args
            .iter()
            .map(|a| Argument {
                name: a.name.clone(),
                value: a.value.clone(),
                value_from: None,
            })
            .collect();
        let mut run = new_run_from_templates(
            templates,
            cluster_templates,
            &args,
            &self.dry_run,
            &self.measurement_retention,
            &self.name,
            namespace,
        )?;
        run.metadata
            .labels
            .extend(self.labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let names: Vec<&str> = self.templates.iter().map(|t| t.template_name.as_str()).collect();
        run.metadata
            .annotations
            .insert(TEMPLATES_ANNOTATION.to_string(), names.join(", "));
        Ok(run)
    }
}

/// One side effect for the driver. Plain data: it can be logged instead of applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "camelCase")]
pub enum Action {
    /// Create a ReplicaSet.
    CreateReplicaSet {
        /// Name (`<rollout>-<hash>`).
        name: String,
        /// Pod-template hash.
        pod_template_hash: String,
        /// Revision annotation.
        revision: i64,
        /// Initial `spec.replicas`.
        replicas: i32,
        /// Pod template with the hash label added.
        template: Value,
    },
    /// Create the baseline arm (our extension, `canary.baseline`): a ReplicaSet running the pod
    /// template of the ReplicaSet `source` (the stable one) with `labels` added and the
    /// `rollouts-pod-template-hash` label set to `pod_template_hash` on the pods and the selector.
    CreateBaselineReplicaSet {
        /// Name (`<rollout>-<stable hash>-baseline`).
        name: String,
        /// The ReplicaSet whose pod template (and revision annotation) is copied.
        source: String,
        /// Hash label value of the baseline pods (`<stable hash>-baseline`).
        pod_template_hash: String,
        /// Initial `spec.replicas` (the canary's).
        replicas: i32,
        /// Labels added to the pod template.
        labels: BTreeMap<String, String>,
    },
    /// Set `spec.replicas`.
    ScaleReplicaSet {
        /// RS name.
        name: String,
        /// Previous size.
        from: i32,
        /// New size.
        to: i32,
    },
    /// Set (`Some`) or remove (`None`) the `scale-down-deadline` annotation.
    SetScaleDownDeadline {
        /// RS name.
        name: String,
        /// Deadline.
        deadline: Option<Timestamp>,
    },
    /// Bump a ReplicaSet's revision annotation (rollback to an old RS).
    SetReplicaSetRevision {
        /// RS name.
        name: String,
        /// New revision.
        revision: i64,
    },
    /// Delete an old ReplicaSet (revisionHistoryLimit).
    DeleteReplicaSet {
        /// RS name.
        name: String,
    },
    /// Point a Service's selector at a pod-template hash.
    SetServiceSelector {
        /// Service name.
        service: String,
        /// Hash to select.
        pod_template_hash: String,
    },
    /// Set the canary traffic weight on the router.
    SetTrafficWeight {
        /// Canary hash.
        canary_hash: String,
        /// Stable hash.
        stable_hash: String,
        /// Canary weight (0..=maxTrafficWeight).
        weight: i32,
    },
    /// A `setHeaderRoute` step (issue #15): on every configured router, route requests matching
    /// the headers to the canary; no match removes the route. See
    /// [`crate::rollout::routing`] for what each router writes.
    SetHeaderRoute(crate::rollout::routing::HeaderRoute),
    /// A `setMirrorRoute` step: mirror matching requests to the canary (no match removes it).
    SetMirrorRoute(crate::rollout::routing::MirrorRoute),
    /// Remove the managed routes (header and mirror routes) from every configured router: the
    /// update completed, was aborted or was replaced by a newer one.
    RemoveManagedRoutes {
        /// Route names: `trafficRouting.managedRoutes`, then the steps' route names.
        routes: Vec<String>,
    },
    /// Create an AnalysisRun.
    CreateAnalysisRun(AnalysisRunRequest),
    /// Terminate an AnalysisRun (`spec.terminate = true`).
    TerminateAnalysisRun {
        /// Run name.
        name: String,
    },
    /// Delete an old AnalysisRun (`spec.analysis.successfulRunHistoryLimit` /
    /// `unsuccessfulRunHistoryLimit`); an already deleted run counts as done.
    DeleteAnalysisRun {
        /// Run name.
        name: String,
    },
    /// Scale the workload referenced by `workloadRef` (migration drain).
    ScaleWorkload {
        /// Kind.
        kind: String,
        /// Name.
        name: String,
        /// New `spec.replicas`.
        replicas: i32,
    },
    /// Protect a ConfigMap or Secret for a ReplicaSet that needs it (rollback-safe config): an
    /// owner reference from the ReplicaSet, so garbage collection keeps the object while it
    /// exists. An object already protected by it counts as done.
    ProtectConfig {
        /// The object.
        object: super::config_deps::ConfigRef,
        /// The ReplicaSet that needs it.
        replica_set: String,
    },
    /// Remove that protection: the ReplicaSet will not serve again. An object that is gone or not
    /// protected by it counts as done.
    UnprotectConfig {
        /// The object.
        object: super::config_deps::ConfigRef,
        /// The ReplicaSet that no longer needs it.
        replica_set: String,
    },
    /// Evict a pod through the Eviction API (`spec.restartAt` restarts); a pod already gone or
    /// protected by a PodDisruptionBudget (429) counts as done: the restarter checks again.
    EvictPod {
        /// Pod name.
        name: String,
        /// The ReplicaSet that owns it.
        replica_set: String,
    },
    /// Emit an event.
    Event(Event),
}

/// The machine's answer for one tick.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decision {
    /// The status to persist.
    pub status: RolloutStatus,
    /// Side effects, in order.
    pub actions: Vec<Action>,
    /// Call again no later than this (pause end, deadlines, progress check); `None` = only on
    /// the next observed change.
    pub next_wake: Option<Timestamp>,
}
