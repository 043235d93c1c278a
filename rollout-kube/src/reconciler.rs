//! One Rollout reconcile against the API server: build the core's [`Observed`] snapshot, call
//! [`rollout_core::rollout::reconcile`], carry out its actions, write the status.
//!
//! [`reconcile_rollout`] is usable on its own by operators with their own loop; the
//! [`Controller`](crate::controller) wraps it with watches, concurrency and backoff.
//!
//! Status is written with a JSON merge patch on `/status` that contains only the fields the core
//! changed (a diff of the core's view before and after) plus `metadata.resourceVersion` as a
//! precondition. So the fields users and Argo's kubectl plugin write (`abort`, `promoteFull`,
//! `pauseConditions`, `currentStepIndex`) are never overwritten with stale values: either our
//! patch applies to exactly the object we read, or the server answers 409 and we reconcile again.
//! Nothing is written when nothing changed.

use std::collections::BTreeMap;
use std::time::Duration;

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};
use rollout_core::common::Timestamp;
use rollout_core::rollout::hash::POD_TEMPLATE_HASH_LABEL;
use rollout_core::rollout::{
    self as core, Action, AnalysisRunRequest, Decision, Inputs, REVISION_ANNOTATION,
};
use serde_json::{Value, json};

use crate::merge_patch::merge_diff;
use crate::resources::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, ConvertError, Rollout};

/// Annotation with the time after which an old ReplicaSet is scaled down.
pub const SCALE_DOWN_DEADLINE_ANNOTATION: &str = "scale-down-deadline";
/// Annotation Argo writes on ReplicaSets with the Rollout's desired replicas.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "rollout.argoproj.io/desired-replicas";
/// Condition type for ReplicaSet create/scale failures.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Errors of one reconcile; all of them are retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed.
    #[error("{what}: {source}")]
    Kube {
        /// The request, e.g. `create ReplicaSet ns/name`.
        what: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// The Rollout has no namespace or name.
    #[error("Rollout without namespace or name")]
    MissingMetadata,
    /// An object could not be read as the core's type.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// An AnalysisRun could not be built from its templates.
    #[error("AnalysisRun {name}: {message}")]
    AnalysisRun {
        /// Run name.
        name: String,
        /// Why.
        message: String,
    },
    /// The traffic router failed.
    #[error("traffic router for {rollout}: {message}")]
    Router {
        /// `namespace/name` of the Rollout.
        rollout: String,
        /// Why.
        message: String,
    },
    /// Serializing an object failed.
    #[error("serialize: {0}")]
    Serialize(#[from] serde_json::Error),
}

pub(crate) fn kube_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |source| Error::Kube { what, source }
}

fn is_conflict(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

/// Where owned objects are read from: caches filled by the controller's watches, or list calls.
#[derive(Clone, Default)]
pub struct Caches {
    /// ReplicaSets carrying `rollouts-pod-template-hash`.
    pub replica_sets: Option<Store<ReplicaSet>>,
    /// AnalysisRuns.
    pub analysis_runs: Option<Store<AnalysisRun>>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("replica_sets", &self.replica_sets.is_some())
            .field("analysis_runs", &self.analysis_runs.is_some())
            .finish()
    }
}

/// What a reconcile needs.
#[derive(Clone)]
pub struct Reconciler {
    /// The client (the host's: auth, layers, rate limits).
    pub client: Client,
    /// Field manager name for our writes.
    pub field_manager: String,
    /// Owned-object caches (optional).
    pub caches: Caches,
    /// Coordinator inputs passed to the core.
    pub inputs: Inputs,
    /// Argo instance id: copied as a label onto the AnalysisRuns we create.
    pub instance_id: Option<String>,
}

/// What one reconcile did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The core's decision.
    pub decision: Decision,
    /// Whether the status was written.
    pub status_written: bool,
    /// Number of API writes made (actions + status).
    pub writes: usize,
    /// The phase before and after (for events and metrics on transitions).
    pub phase_before: Option<core::RolloutPhase>,
    /// Phase after.
    pub phase_after: Option<core::RolloutPhase>,
}

impl Outcome {
    /// When to look at the Rollout again, relative to `now`.
    pub fn requeue_after(&self, now: Timestamp) -> Option<Duration> {
        self.decision.next_wakeup.map(|t| {
            let ms = t.as_millisecond().saturating_sub(now.as_millisecond()).max(0);
            Duration::from_millis(ms as u64)
        })
    }
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("field_manager", &self.field_manager)
            .field("caches", &self.caches)
            .finish()
    }
}

impl Reconciler {
    fn patch_params(&self) -> PatchParams {
        PatchParams {
            field_manager: Some(self.field_manager.clone()),
            ..Default::default()
        }
    }

    /// A reconciler that reads owned objects with list calls.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            field_manager: "rollout-controller".into(),
            caches: Caches::default(),
            inputs: Inputs::default(),
            instance_id: None,
        }
    }

    /// Reconciles one Rollout at `now`: observe, decide, act, write status.
    ///
    /// `ro` may come from a cache: the Rollout is read again first, so actions are never decided
    /// on a stale status (e.g. before our own last status write).
    pub async fn reconcile(&self, ro: &Rollout, now: Timestamp) -> Result<Outcome, Error> {
        let ns = ro.namespace().ok_or(Error::MissingMetadata)?;
        let name = ro.metadata.name.clone().ok_or(Error::MissingMetadata)?;
        let api: Api<Rollout> = Api::namespaced(self.client.clone(), &ns);
        let fresh = api
            .get_opt(&name)
            .await
            .map_err(kube_err(format!("get Rollout {ns}/{name}")))?;
        let Some(fresh) = fresh else {
            return Ok(Outcome {
                decision: Decision {
                    status: Default::default(),
                    actions: vec![],
                    next_wakeup: None,
                },
                status_written: false,
                writes: 0,
                phase_before: None,
                phase_after: None,
            });
        };
        let ro = &fresh;
        let core_ro = match ro.to_core() {
            Ok(c) => c,
            Err(e) => return self.unreadable(ro, &ns, &name, e, now).await,
        };
        let obs = self.observe(ro, &core_ro).await?;
        let decision = core::reconcile(&core_ro, &obs, now, &self.inputs);
        let mut writes = 0;
        let mut status = decision.status.clone();
        let mut failure = None;
        for action in &decision.actions {
            match self.execute(ro, &core_ro, &ns, action).await {
                Ok(w) => writes += w,
                Err(e @ Error::Kube { .. }) if is_replica_action(action) => {
                    // Surface the API server's reason and stop here: the rollout neither advances
                    // nor aborts on a failed ReplicaSet write.
                    failure = Some(e);
                    break;
                }
                Err(e) => return Err(e),
            }
        }
        if let Some(Error::Kube { what, source }) = &failure {
            status = core_ro.status.clone();
            let reason = match source {
                kube::Error::Api(s) => s.reason.clone(),
                _ => "RequestFailed".into(),
            };
            set_replica_failure(&mut status, &reason, &format!("{what}: {source}"), now);
        } else {
            remove_replica_failure(&mut status);
        }
        let before = serde_json::to_value(&core_ro.status)?;
        let after = serde_json::to_value(&status)?;
        let diff = merge_diff(&before, &after);
        let status_written = !diff.is_null();
        if status_written {
            let api: Api<Rollout> = Api::namespaced(self.client.clone(), &ns);
            let patch = json!({
                "metadata": {"resourceVersion": ro.resource_version()},
                "status": diff,
            });
            api.patch_status(&name, &self.patch_params(), &Patch::Merge(&patch))
                .await
                .map_err(kube_err(format!("patch Rollout {ns}/{name} status")))?;
            writes += 1;
        }
        if let Some(e) = failure {
            return Err(e);
        }
        let created_run = decision
            .actions
            .iter()
            .any(|a| matches!(a, Action::CreateAnalysisRun(_)));
        writes += self
            .record_weights(ro, &core_ro.status, &status, created_run, now)
            .await?;
        Ok(Outcome {
            phase_before: core_ro.status.phase,
            phase_after: status.phase,
            decision: Decision { status, ..decision },
            status_written,
            writes,
        })
    }

    async fn unreadable(
        &self,
        ro: &Rollout,
        ns: &str,
        name: &str,
        e: ConvertError,
        now: Timestamp,
    ) -> Result<Outcome, Error> {
        // Record InvalidSpec without touching anything else.
        let message = e.source.to_string();
        let conditions = ro.status.get("conditions").cloned().unwrap_or(json!([]));
        let already = conditions.as_array().is_some_and(|cs| {
            cs.iter()
                .any(|c| c["type"] == "InvalidSpec" && c["message"] == message.as_str())
        });
        let mut writes = 0;
        if !already {
            let mut cs: Vec<Value> = conditions.as_array().cloned().unwrap_or_default();
            cs.retain(|c| c["type"] != "InvalidSpec");
            let ts = now.to_string();
            cs.push(
                json!({"type": "InvalidSpec", "status": "True", "reason": "InvalidSpec", "message": message,
                           "lastUpdateTime": ts, "lastTransitionTime": ts}),
            );
            let patch = json!({"metadata": {"resourceVersion": ro.resource_version()},
                               "status": {"conditions": cs, "phase": "Degraded", "message": format!("InvalidSpec: {message}")}});
            Api::<Rollout>::namespaced(self.client.clone(), ns)
                .patch_status(name, &self.patch_params(), &Patch::Merge(&patch))
                .await
                .map_err(kube_err(format!("patch Rollout {ns}/{name} status")))?;
            writes = 1;
        }
        Ok(Outcome {
            decision: Decision {
                status: Default::default(),
                actions: vec![],
                next_wakeup: None,
            },
            status_written: writes > 0,
            writes,
            phase_before: None,
            phase_after: Some(core::RolloutPhase::Degraded),
        })
    }

    /// Carries out one action; returns the number of API writes.
    pub async fn execute(
        &self,
        ro: &Rollout,
        core_ro: &core::Rollout,
        ns: &str,
        action: &Action,
    ) -> Result<usize, Error> {
        let rs_api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
        let merge = |v: Value| Patch::Merge(v);
        let pp = self.patch_params();
        match action {
            Action::CreateReplicaSet {
                name,
                pod_template_hash,
                revision,
                replicas,
                template,
            } => {
                let rs = self.new_replica_set(
                    ro,
                    core_ro,
                    name,
                    pod_template_hash,
                    *revision,
                    *replicas,
                    template,
                )?;
                self.create_replica_set(&rs_api, ns, &rs).await
            }
            Action::CreateBaselineReplicaSet {
                name,
                source,
                pod_template_hash,
                replicas,
                labels,
            } => {
                // The stable pod template, as the server stores it, with the arm's labels.
                let src = rs_api
                    .get(source)
                    .await
                    .map_err(kube_err(format!("get ReplicaSet {ns}/{source}")))?;
                let template = core::machine::arm_template(
                    &serde_json::to_value(&src.spec.template)?,
                    pod_template_hash,
                    labels,
                );
                let revision = src
                    .metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get(REVISION_ANNOTATION))
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0);
                let rs = self.new_replica_set(
                    ro,
                    core_ro,
                    name,
                    pod_template_hash,
                    revision,
                    *replicas,
                    &template,
                )?;
                self.create_replica_set(&rs_api, ns, &rs).await
            }
            Action::ScaleReplicaSet { name, to, .. } => {
                let patch = json!({"metadata": {"annotations": {DESIRED_REPLICAS_ANNOTATION: core_ro.replicas().to_string()}},
                                   "spec": {"replicas": to}});
                rs_api
                    .patch(name, &pp, &merge(patch))
                    .await
                    .map_err(kube_err(format!("scale ReplicaSet {ns}/{name} to {to}")))?;
                Ok(1)
            }
            Action::SetScaleDownDeadline { name, deadline } => {
                let v = deadline
                    .map(|d| Value::String(d.to_string()))
                    .unwrap_or(Value::Null);
                let patch = json!({"metadata": {"annotations": {SCALE_DOWN_DEADLINE_ANNOTATION: v}}});
                rs_api
                    .patch(name, &pp, &merge(patch))
                    .await
                    .map_err(kube_err(format!("annotate ReplicaSet {ns}/{name}")))?;
                Ok(1)
            }
            Action::SetReplicaSetRevision { name, revision } => {
                let patch = json!({"metadata": {"annotations": {REVISION_ANNOTATION: revision.to_string()}}});
                rs_api
                    .patch(name, &pp, &merge(patch))
                    .await
                    .map_err(kube_err(format!("annotate ReplicaSet {ns}/{name}")))?;
                Ok(1)
            }
            Action::DeleteReplicaSet { name } => match rs_api.delete(name, &Default::default()).await {
                Ok(_) => Ok(1),
                Err(e) if is_conflict(&e, 404) => Ok(0),
                Err(e) => Err(kube_err(format!("delete ReplicaSet {ns}/{name}"))(e)),
            },
            Action::SetServiceSelector {
                service,
                pod_template_hash,
            } => {
                let api: Api<Service> = Api::namespaced(self.client.clone(), ns);
                let patch = json!({"spec": {"selector": {POD_TEMPLATE_HASH_LABEL: pod_template_hash}}});
                api.patch(service, &pp, &merge(patch))
                    .await
                    .map_err(kube_err(format!("switch Service {ns}/{service}")))?;
                Ok(1)
            }
            Action::SetTrafficWeight {
                canary_hash,
                stable_hash,
                weight,
            } => {
                use rollout_core::adapters::TrafficRouter;
                match crate::router::router_for(&self.client, core_ro, &self.field_manager) {
                    Some(router) => {
                        router
                            .set_weight(canary_hash, stable_hash, *weight)
                            .await
                            .map_err(|e| Error::Router {
                                rollout: format!("{ns}/{}", core_ro.metadata.name),
                                message: e.to_string(),
                            })?;
                        Ok(1)
                    }
                    // Replica-based canary: the weight is carried by the ReplicaSet sizes.
                    None => Ok(0),
                }
            }
            Action::CreateAnalysisRun(req) => self.create_analysis_run(ro, ns, req).await,
            Action::TerminateAnalysisRun { name } => {
                let api: Api<AnalysisRun> = Api::namespaced(self.client.clone(), ns);
                match api
                    .patch(name, &pp, &merge(json!({"spec": {"terminate": true}})))
                    .await
                {
                    Ok(_) => Ok(1),
                    Err(e) if is_conflict(&e, 404) => Ok(0),
                    Err(e) => Err(kube_err(format!("terminate AnalysisRun {ns}/{name}"))(e)),
                }
            }
            Action::DeleteAnalysisRun { name } => {
                // Run history limits; background propagation as upstream (`deleteAnalysisRuns`).
                let api: Api<AnalysisRun> = Api::namespaced(self.client.clone(), ns);
                match api.delete(name, &kube::api::DeleteParams::background()).await {
                    Ok(_) => Ok(1),
                    Err(e) if is_conflict(&e, 404) => Ok(0),
                    Err(e) => Err(kube_err(format!("delete AnalysisRun {ns}/{name}"))(e)),
                }
            }
            Action::ScaleWorkload { kind, name, replicas } if kind == "Deployment" => {
                let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
                api.patch(name, &pp, &merge(json!({"spec": {"replicas": replicas}})))
                    .await
                    .map_err(kube_err(format!("scale Deployment {ns}/{name} to {replicas}")))?;
                Ok(1)
            }
            Action::ScaleWorkload { .. } => Ok(0),
            // Events are published by the controller (on transitions), not here.
            Action::Event(_) => Ok(0),
        }
    }

    /// Creates `rs`; an existing one of the same name counts as created (deterministic names make
    /// creation idempotent, e.g. after a restart or a stale cache). Returns the API writes.
    async fn create_replica_set(
        &self,
        api: &Api<ReplicaSet>,
        ns: &str,
        rs: &ReplicaSet,
    ) -> Result<usize, Error> {
        let params = PostParams {
            field_manager: Some(self.field_manager.clone()),
            ..Default::default()
        };
        match api.create(&params, rs).await {
            Ok(_) => Ok(1),
            Err(e) if is_conflict(&e, 409) => Ok(0),
            Err(e) => Err(kube_err(format!("create ReplicaSet {ns}/{}", rs.name_any()))(e)),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn new_replica_set(
        &self,
        ro: &Rollout,
        core_ro: &core::Rollout,
        name: &str,
        hash: &str,
        revision: i64,
        replicas: i32,
        template: &Value,
    ) -> Result<ReplicaSet, Error> {
        let owner = ro.controller_owner_ref(&()).map(|mut o| {
            o.block_owner_deletion = Some(true);
            o
        });
        let mut selector = serde_json::to_value(core_ro.spec.selector.clone().unwrap_or_default())?;
        selector["matchLabels"][POD_TEMPLATE_HASH_LABEL] = Value::String(hash.to_string());
        let mut labels: BTreeMap<String, Value> =
            serde_json::from_value(template["metadata"]["labels"].clone()).unwrap_or_default();
        labels.insert(POD_TEMPLATE_HASH_LABEL.into(), Value::String(hash.to_string()));
        let rs = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": ro.namespace(),
                "labels": labels,
                "annotations": {
                    REVISION_ANNOTATION: revision.to_string(),
                    DESIRED_REPLICAS_ANNOTATION: core_ro.replicas().to_string(),
                },
                "ownerReferences": owner.into_iter().collect::<Vec<_>>(),
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": core_ro.spec.min_ready_seconds.unwrap_or(0),
                "selector": selector,
                "template": template,
            }
        });
        Ok(serde_json::from_value(rs)?)
    }

    async fn create_analysis_run(
        &self,
        ro: &Rollout,
        ns: &str,
        req: &AnalysisRunRequest,
    ) -> Result<usize, Error> {
        let mut templates = Vec::new();
        let mut cluster = Vec::new();
        for t in &req.templates {
            let what = format!("get template {} for AnalysisRun {}", t.template_name, req.name);
            if t.cluster_scope {
                let api: Api<ClusterAnalysisTemplate> = Api::all(self.client.clone());
                cluster.push(
                    api.get(&t.template_name)
                        .await
                        .map_err(kube_err(what))?
                        .to_core()?,
                );
            } else {
                let api: Api<AnalysisTemplate> = Api::namespaced(self.client.clone(), ns);
                templates.push(
                    api.get(&t.template_name)
                        .await
                        .map_err(kube_err(what))?
                        .to_core()?,
                );
            }
        }
        let run = req
            .build_run(&templates, &cluster, Some(ns))
            .map_err(|e| Error::AnalysisRun {
                name: req.name.clone(),
                message: e.to_string(),
            })?;
        let mut value = serde_json::to_value(&run)?;
        if let Some(id) = &self.instance_id {
            value["metadata"]["labels"][crate::resources::INSTANCE_ID_LABEL] = json!(id);
        }
        value["metadata"]["ownerReferences"] = json!([ro.controller_owner_ref(&())]);
        let obj: AnalysisRun = serde_json::from_value(value)?;
        let api: Api<AnalysisRun> = Api::namespaced(self.client.clone(), ns);
        match api.create(&PostParams::default(), &obj).await {
            Ok(_) => Ok(1),
            Err(e) if is_conflict(&e, 409) => Ok(0),
            Err(e) => Err(kube_err(format!("create AnalysisRun {ns}/{}", req.name))(e)),
        }
    }
}

fn is_replica_action(a: &Action) -> bool {
    matches!(
        a,
        Action::CreateReplicaSet { .. } | Action::ScaleReplicaSet { .. }
    )
}

fn set_replica_failure(status: &mut core::RolloutStatus, reason: &str, message: &str, now: Timestamp) {
    let same = status
        .condition(core::ConditionType::ReplicaFailure)
        .is_some_and(|c| c.reason == reason && c.message == message);
    if !same {
        status.remove_condition(core::ConditionType::ReplicaFailure);
        status.set_condition(
            core::ConditionType::ReplicaFailure,
            core::ConditionStatus::True,
            reason,
            message.to_string(),
            now,
        );
    }
}

fn remove_replica_failure(status: &mut core::RolloutStatus) {
    status.remove_condition(core::ConditionType::ReplicaFailure);
}
