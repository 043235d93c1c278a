//! [`Workloads`] and [`AnalysisRuns`] on the API server, implemented by the
//! [`Reconciler`] (it holds the client, the field manager, the watch caches and the instance id).
//! Listing is in [`crate::snapshot`]; this file carries out the actions.

use std::collections::BTreeMap;

use async_trait::async_trait;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, DeleteParams, EvictParams, Patch, PatchParams, PostParams};
use kube::{Resource, ResourceExt};
use rollout_core::rollout::hash::POD_TEMPLATE_HASH_LABEL;
use rollout_core::rollout::{
    self as core, Action, AnalysisRunRequest, ConfigRef, ObservedAnalysisRun, ObservedConfig, ObservedPod,
    ObservedReplicaSet, ObservedService, ObservedWorkload, REVISION_ANNOTATION,
};
use rollout_driver::{AdapterError, AnalysisRuns, Applied, Workloads, action_kind};
use serde_json::{Value, json};

use super::{is_status, request_err, serialize_err};
use crate::reconciler::{DESIRED_REPLICAS_ANNOTATION, Reconciler, SCALE_DOWN_DEADLINE_ANNOTATION};
use crate::resources::{AnalysisRun, AnalysisTemplate, ClusterAnalysisTemplate, INSTANCE_ID_LABEL};

/// The Rollout's namespace (the adapters act for namespaced Rollouts only).
pub(crate) fn namespace(ro: &core::Rollout) -> Result<&str, AdapterError> {
    ro.metadata
        .namespace
        .as_deref()
        .ok_or_else(|| AdapterError::Other(format!("Rollout {} has no namespace", ro.metadata.name)))
}

/// The controller owner reference to `ro` (what `kube::Resource::controller_owner_ref` gives for
/// the kube object); `None` without a uid.
pub(crate) fn owner_ref(ro: &core::Rollout) -> Option<OwnerReference> {
    Some(OwnerReference {
        api_version: crate::resources::Rollout::api_version(&()).into_owned(),
        kind: crate::resources::Rollout::kind(&()).into_owned(),
        name: ro.metadata.name.clone(),
        uid: ro.metadata.uid.clone()?,
        controller: Some(true),
        block_owner_deletion: None,
    })
}

/// `Written` for a successful write, `Unchanged` when the server answered `code` (404 on a
/// delete: already gone; 409 on a create: already there), else the error.
fn written_unless<T>(
    result: Result<T, kube::Error>,
    code: u16,
    what: impl FnOnce() -> String,
) -> Result<Applied, AdapterError> {
    match result {
        Ok(_) => Ok(Applied::Written),
        Err(e) if is_status(&e, code) => Ok(Applied::Unchanged),
        Err(e) => Err(request_err(what())(e)),
    }
}

impl Reconciler {
    fn patch_params(&self) -> PatchParams {
        PatchParams {
            field_manager: Some(self.field_manager.clone()),
            ..Default::default()
        }
    }

    /// Creates `rs`; an existing one of the same name counts as created (deterministic names make
    /// creation idempotent, e.g. after a restart or a stale cache).
    async fn create_replica_set(&self, ns: &str, rs: &ReplicaSet) -> Result<Applied, AdapterError> {
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
        let params = PostParams {
            field_manager: Some(self.field_manager.clone()),
            ..Default::default()
        };
        written_unless(api.create(&params, rs).await, 409, || {
            format!("create ReplicaSet {ns}/{}", rs.name_any())
        })
    }

    fn new_replica_set(
        ro: &core::Rollout,
        name: &str,
        hash: &str,
        revision: i64,
        replicas: i32,
        template: &Value,
    ) -> Result<ReplicaSet, AdapterError> {
        let owner = owner_ref(ro).map(|mut o| {
            o.block_owner_deletion = Some(true);
            o
        });
        let mut selector =
            serde_json::to_value(ro.spec.selector.clone().unwrap_or_default()).map_err(serialize_err)?;
        selector["matchLabels"][POD_TEMPLATE_HASH_LABEL] = Value::String(hash.to_string());
        let mut labels: BTreeMap<String, Value> =
            serde_json::from_value(template["metadata"]["labels"].clone()).unwrap_or_default();
        labels.insert(POD_TEMPLATE_HASH_LABEL.into(), Value::String(hash.to_string()));
        let rs = json!({
            "apiVersion": "apps/v1",
            "kind": "ReplicaSet",
            "metadata": {
                "name": name,
                "namespace": ro.metadata.namespace,
                "labels": labels,
                "annotations": {
                    REVISION_ANNOTATION: revision.to_string(),
                    DESIRED_REPLICAS_ANNOTATION: ro.replicas().to_string(),
                },
                "ownerReferences": owner.into_iter().collect::<Vec<_>>(),
            },
            "spec": {
                "replicas": replicas,
                "minReadySeconds": ro.spec.min_ready_seconds.unwrap_or(0),
                "selector": selector,
                "template": template,
            }
        });
        serde_json::from_value(rs).map_err(serialize_err)
    }

    /// A ReplicaSet merge patch, counted as one write.
    async fn patch_replica_set(
        &self,
        ns: &str,
        name: &str,
        patch: Value,
        what: impl FnOnce() -> String,
    ) -> Result<Applied, AdapterError> {
        let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
        api.patch(name, &self.patch_params(), &Patch::Merge(patch))
            .await
            .map_err(|e| request_err(what())(e))?;
        Ok(Applied::Written)
    }
}

#[async_trait]
impl Workloads for Reconciler {
    async fn list_replica_sets(&self, ro: &core::Rollout) -> Result<Vec<ObservedReplicaSet>, AdapterError> {
        Ok(self.observed_replica_sets(ro).await?)
    }

    async fn list_services(&self, ro: &core::Rollout) -> Result<Vec<ObservedService>, AdapterError> {
        Ok(self.observed_services(ro).await?)
    }

    async fn referenced_workload(
        &self,
        ro: &core::Rollout,
    ) -> Result<Option<ObservedWorkload>, AdapterError> {
        Ok(self.observed_workload(ro).await?)
    }

    async fn list_pods(
        &self,
        ro: &core::Rollout,
        replica_sets: &[ObservedReplicaSet],
    ) -> Result<Option<Vec<ObservedPod>>, AdapterError> {
        Ok(Some(self.observed_pods(ro, replica_sets).await?))
    }

    async fn evict_pod(
        &self,
        ro: &core::Rollout,
        name: &str,
        replica_set: &str,
    ) -> Result<Applied, AdapterError> {
        // The Eviction API honours PodDisruptionBudgets: a refusal (429) is skipped, not an
        // error, as upstream; the restarter checks again. A pod already gone (404) is done.
        let ns = namespace(ro)?;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), ns);
        match api.evict(name, &EvictParams::default()).await {
            Ok(_) => Ok(Applied::Written),
            Err(e) if is_status(&e, 429) => {
                tracing::info!(
                    pod = name,
                    replica_set,
                    "eviction refused by a PodDisruptionBudget"
                );
                Ok(Applied::Unchanged)
            }
            Err(e) => written_unless(Err::<(), _>(e), 404, || {
                format!("evict pod {ns}/{name} of ReplicaSet {replica_set}")
            }),
        }
    }

    async fn observe_config(
        &self,
        ro: &core::Rollout,
        objects: &[ConfigRef],
    ) -> Result<Vec<ObservedConfig>, AdapterError> {
        super::config::observe(&self.client, namespace(ro)?, objects).await
    }

    async fn protect_config(
        &self,
        ro: &core::Rollout,
        object: &ConfigRef,
        replica_set: &str,
    ) -> Result<Applied, AdapterError> {
        super::config::protect(&self.client, &self.field_manager, ro, object, replica_set).await
    }

    async fn unprotect_config(
        &self,
        ro: &core::Rollout,
        object: &ConfigRef,
        replica_set: &str,
    ) -> Result<Applied, AdapterError> {
        super::config::unprotect(&self.client, &self.field_manager, ro, object, replica_set).await
    }

    async fn apply(&self, ro: &core::Rollout, action: &Action) -> Result<Applied, AdapterError> {
        let ns = namespace(ro)?;
        match action {
            Action::CreateReplicaSet {
                name,
                pod_template_hash,
                revision,
                replicas,
                template,
            } => {
                let rs = Self::new_replica_set(ro, name, pod_template_hash, *revision, *replicas, template)?;
                self.create_replica_set(ns, &rs).await
            }
            Action::CreateBaselineReplicaSet {
                name,
                source,
                pod_template_hash,
                replicas,
                labels,
            } => {
                // The stable pod template, as the server stores it, with the arm's labels.
                let src = Api::<ReplicaSet>::namespaced(self.client.clone(), ns)
                    .get(source)
                    .await
                    .map_err(request_err(format!("get ReplicaSet {ns}/{source}")))?;
                let template = core::machine::arm_template(
                    &serde_json::to_value(&src.spec.template).map_err(serialize_err)?,
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
                let rs = Self::new_replica_set(ro, name, pod_template_hash, revision, *replicas, &template)?;
                self.create_replica_set(ns, &rs).await
            }
            Action::ScaleReplicaSet { name, to, .. } => {
                let patch = json!({"metadata": {"annotations": {DESIRED_REPLICAS_ANNOTATION: ro.replicas().to_string()}},
                                   "spec": {"replicas": to}});
                self.patch_replica_set(ns, name, patch, || {
                    format!("scale ReplicaSet {ns}/{name} to {to}")
                })
                .await
            }
            Action::SetScaleDownDeadline { name, deadline } => {
                let v = deadline
                    .map(|d| Value::String(d.to_string()))
                    .unwrap_or(Value::Null);
                let patch = json!({"metadata": {"annotations": {SCALE_DOWN_DEADLINE_ANNOTATION: v}}});
                self.patch_replica_set(ns, name, patch, || format!("annotate ReplicaSet {ns}/{name}"))
                    .await
            }
            Action::SetReplicaSetRevision { name, revision } => {
                let patch = json!({"metadata": {"annotations": {REVISION_ANNOTATION: revision.to_string()}}});
                self.patch_replica_set(ns, name, patch, || format!("annotate ReplicaSet {ns}/{name}"))
                    .await
            }
            Action::DeleteReplicaSet { name } => {
                let api: Api<ReplicaSet> = Api::namespaced(self.client.clone(), ns);
                written_unless(api.delete(name, &Default::default()).await, 404, || {
                    format!("delete ReplicaSet {ns}/{name}")
                })
            }
            Action::SetServiceSelector {
                service,
                pod_template_hash,
            } => {
                let api: Api<Service> = Api::namespaced(self.client.clone(), ns);
                let patch = json!({"spec": {"selector": {POD_TEMPLATE_HASH_LABEL: pod_template_hash}}});
                api.patch(service, &self.patch_params(), &Patch::Merge(patch))
                    .await
                    .map_err(request_err(format!("switch Service {ns}/{service}")))?;
                Ok(Applied::Written)
            }
            Action::ScaleWorkload { kind, name, replicas } if kind == "Deployment" => {
                // Whoever meets the drained Deployment reads which Rollout manages it and how to
                // revert (`rollout get` shows it too).
                let annotations: serde_json::Map<String, Value> =
                    core::migration::deployment_annotations(&ro.metadata.name, ns)
                        .into_iter()
                        .map(|(k, v)| (k.to_string(), Value::String(v)))
                        .collect();
                let api: Api<Deployment> = Api::namespaced(self.client.clone(), ns);
                api.patch(
                    name,
                    &self.patch_params(),
                    &Patch::Merge(json!({"metadata": {"annotations": annotations},
                                         "spec": {"replicas": replicas}})),
                )
                .await
                .map_err(request_err(format!("scale Deployment {ns}/{name} to {replicas}")))?;
                Ok(Applied::Written)
            }
            // Only Deployments are observed as `workloadRef` targets, so nothing else is scaled.
            Action::ScaleWorkload { .. } => Ok(Applied::Unchanged),
            other => Err(AdapterError::Unsupported(format!(
                "{} is not a workload action",
                action_kind(other)
            ))),
        }
    }
}

#[async_trait]
impl AnalysisRuns for Reconciler {
    async fn list(&self, ro: &core::Rollout) -> Result<Vec<ObservedAnalysisRun>, AdapterError> {
        Ok(self.observed_runs(ro).await?)
    }

    async fn create(&self, ro: &core::Rollout, req: &AnalysisRunRequest) -> Result<Applied, AdapterError> {
        let ns = namespace(ro)?;
        let mut templates = Vec::new();
        let mut cluster = Vec::new();
        for t in &req.templates {
            let what = format!("get template {} for AnalysisRun {}", t.template_name, req.name);
            let unreadable = |e: crate::resources::ConvertError| AdapterError::Other(e.to_string());
            if t.cluster_scope {
                let api: Api<ClusterAnalysisTemplate> = Api::all(self.client.clone());
                let tpl = api.get(&t.template_name).await.map_err(request_err(what))?;
                cluster.push(tpl.to_core().map_err(unreadable)?);
            } else {
                let api: Api<AnalysisTemplate> = Api::namespaced(self.client.clone(), ns);
                let tpl = api.get(&t.template_name).await.map_err(request_err(what))?;
                templates.push(tpl.to_core().map_err(unreadable)?);
            }
        }
        let run = req
            .build_run(&templates, &cluster, Some(ns))
            .map_err(|e| AdapterError::Other(format!("AnalysisRun {}: {e}", req.name)))?;
        let mut value = serde_json::to_value(&run).map_err(serialize_err)?;
        if let Some(id) = &self.instance_id {
            value["metadata"]["labels"][INSTANCE_ID_LABEL] = json!(id);
        }
        value["metadata"]["ownerReferences"] = json!([owner_ref(ro)]);
        let obj: AnalysisRun = serde_json::from_value(value).map_err(serialize_err)?;
        let api: Api<AnalysisRun> = Api::namespaced(self.client.clone(), ns);
        written_unless(api.create(&PostParams::default(), &obj).await, 409, || {
            format!("create AnalysisRun {ns}/{}", req.name)
        })
    }

    async fn terminate(&self, ro: &core::Rollout, name: &str) -> Result<Applied, AdapterError> {
        let ns = namespace(ro)?;
        let api: Api<AnalysisRun> = Api::namespaced(self.client.clone(), ns);
        let patch = Patch::Merge(json!({"spec": {"terminate": true}}));
        written_unless(api.patch(name, &self.patch_params(), &patch).await, 404, || {
            format!("terminate AnalysisRun {ns}/{name}")
        })
    }

    async fn delete(&self, ro: &core::Rollout, name: &str) -> Result<Applied, AdapterError> {
        // Run history limits; background propagation as upstream (`deleteAnalysisRuns`).
        let ns = namespace(ro)?;
        let api: Api<AnalysisRun> = Api::namespaced(self.client.clone(), ns);
        written_unless(api.delete(name, &DeleteParams::background()).await, 404, || {
            format!("delete AnalysisRun {ns}/{name}")
        })
    }
}
