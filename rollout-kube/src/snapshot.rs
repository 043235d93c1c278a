//! The observed snapshot: what the core needs to know about a Rollout's world, read from the
//! controller's caches (only the owner's objects, through [`crate::owner_index`], with cache
//! misses for objects the status names filled by GET) or, without caches, with list calls.
//! These are the listing half of the [`Workloads`] and [`AnalysisRuns`] adapters
//! ([`crate::adapters::workloads`]); the driver assembles the snapshot.
//!
//! [`Workloads`]: rollout_driver::Workloads
//! [`AnalysisRuns`]: rollout_driver::AnalysisRuns

use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Pod, Service};
use std::fmt::Debug;
use std::sync::Arc;

use k8s_openapi::NamespaceResourceScope;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::Store;
use kube::{Resource, ResourceExt};
use rollout_core::common::Timestamp;
use rollout_core::rollout::hash::POD_TEMPLATE_HASH_LABEL;
use rollout_core::rollout::{
    self as core, AnalysisRunKind, ObservedAnalysisRun, ObservedPod, ObservedReplicaSet, ObservedService,
    ObservedWorkload, REVISION_ANNOTATION,
};
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::owner_index::OwnerIndex;
use crate::reconciler::{Error, Reconciler, SCALE_DOWN_DEADLINE_ANNOTATION, kube_err};
use crate::resources::AnalysisRun;

/// k8s-openapi's timestamp (its own jiff version) as the core's.
pub(crate) fn time_of(t: &k8s_openapi::apimachinery::pkg::apis::meta::v1::Time) -> Option<Timestamp> {
    Timestamp::new(t.0.as_second(), t.0.subsec_nanosecond()).ok()
}

fn parse_ts(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

impl Reconciler {
    /// The objects of kind `K` in `ns` that `owned` accepts: from `cache` (through its owner index
    /// when kept), with the `referenced` names missing from it read from the server (an object
    /// we just created may not be in the cache yet); without a cache, listed by `label`.
    async fn owned_objects<K>(
        &self,
        cache: Option<(&Store<K>, Option<&OwnerIndex<K>>)>,
        ns: &str,
        uid: &str,
        referenced: &[String],
        label: &str,
        owned: impl Fn(&K) -> bool,
    ) -> Result<Vec<Arc<K>>, Error>
    where
        K: Resource<DynamicType = (), Scope = NamespaceResourceScope> + Clone + DeserializeOwned + Debug,
    {
        let api = || -> Api<K> { Api::namespaced(self.client.clone(), ns) };
        let kind = K::kind(&());
        let Some((store, index)) = cache else {
            let list = api()
                .list(&ListParams::default().labels(label))
                .await
                .map_err(kube_err(format!("list {kind}s in {ns}")))?;
            return Ok(list
                .items
                .into_iter()
                .filter(|o| owned(o))
                .map(Arc::new)
                .collect());
        };
        // Shared with the cache: nothing is copied.
        let mut objs: Vec<Arc<K>> = match index {
            Some(index) => index.owned_in(store, ns, uid),
            None => store
                .state()
                .into_iter()
                .filter(|o| o.meta().namespace.as_deref() == Some(ns) && owned(o))
                .collect(),
        };
        for name in referenced {
            if !objs
                .iter()
                .any(|o| o.meta().name.as_deref() == Some(name.as_str()))
                && let Some(o) = api()
                    .get_opt(name)
                    .await
                    .map_err(kube_err(format!("get {kind} {ns}/{name}")))?
                && owned(&o)
            {
                objs.push(Arc::new(o));
            }
        }
        Ok(objs)
    }

    /// The ReplicaSets the Rollout `uid` controls (see [`Self::owned_objects`]).
    async fn replica_sets(
        &self,
        ns: &str,
        uid: &str,
        referenced: &[String],
    ) -> Result<Vec<Arc<ReplicaSet>>, Error> {
        let caches = &self.caches;
        let cache = caches
            .replica_sets
            .as_ref()
            .map(|store| (store, caches.replica_set_owners.as_ref()));
        self.owned_objects(cache, ns, uid, referenced, POD_TEMPLATE_HASH_LABEL, |rs| {
            rs.owner_references()
                .iter()
                .any(|o| o.uid == uid && o.controller == Some(true))
        })
        .await
    }

    /// The AnalysisRuns the Rollout `uid` owns (see [`Self::owned_objects`]).
    pub(crate) async fn analysis_runs(
        &self,
        ns: &str,
        uid: &str,
        referenced: &[String],
    ) -> Result<Vec<Arc<AnalysisRun>>, Error> {
        let caches = &self.caches;
        let cache = caches
            .analysis_runs
            .as_ref()
            .map(|store| (store, caches.analysis_run_owners.as_ref()));
        self.owned_objects(cache, ns, uid, referenced, "rollout-type", |r| {
            r.owner_references().iter().any(|o| o.uid == uid)
        })
        .await
    }

    /// The core Rollout's namespace and uid.
    fn owner_of(ro: &core::Rollout) -> Result<(String, String), Error> {
        let ns = ro.metadata.namespace.clone().ok_or(Error::MissingMetadata)?;
        Ok((ns, ro.metadata.uid.clone().unwrap_or_default()))
    }

    /// The ReplicaSets `ro` owns, as the core sees them, sorted by name (from the cache, with the
    /// ones the status names read when missing from it, or listed).
    pub async fn observed_replica_sets(&self, ro: &core::Rollout) -> Result<Vec<ObservedReplicaSet>, Error> {
        let (ns, uid) = Self::owner_of(ro)?;
        let st = &ro.status;
        let referenced: Vec<String> = [&st.current_pod_hash, &st.stable_rs]
            .into_iter()
            .filter(|h| !h.is_empty())
            .map(|h| format!("{}-{h}", ro.metadata.name))
            .collect();
        let mut out = Vec::new();
        for rs in self.replica_sets(&ns, &uid, &referenced).await? {
            let labels = rs.labels();
            let ann = rs.annotations();
            let status = rs.status.as_ref();
            out.push(ObservedReplicaSet {
                name: rs.name_any(),
                pod_template_hash: labels.get(POD_TEMPLATE_HASH_LABEL).cloned().unwrap_or_default(),
                revision: ann
                    .get(REVISION_ANNOTATION)
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0),
                created_at: rs
                    .creation_timestamp()
                    .as_ref()
                    .and_then(time_of)
                    .unwrap_or_default(),
                replicas: rs.spec.replicas.unwrap_or(1),
                status_replicas: status.map_or(0, |s| s.replicas),
                ready: status.and_then(|s| s.ready_replicas).unwrap_or(0),
                available: status.and_then(|s| s.available_replicas).unwrap_or(0),
                scale_down_deadline: ann.get(SCALE_DOWN_DEADLINE_ANNOTATION).and_then(|s| parse_ts(s)),
                // The server defaults RS templates, so they never equal the Rollout's template:
                // the core matches ReplicaSets by hash label only.
                template: None,
                needs: crate::adapters::config::needs_of(&rs),
            });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The Services the strategy names that exist, with their pod-template-hash selector.
    pub async fn observed_services(&self, ro: &core::Rollout) -> Result<Vec<ObservedService>, Error> {
        let (ns, _) = Self::owner_of(ro)?;
        let services: Api<Service> = Api::namespaced(self.client.clone(), &ns);
        let mut out = Vec::new();
        for name in ro.service_names().map(str::to_string) {
            let svc = services
                .get_opt(&name)
                .await
                .map_err(kube_err(format!("get Service {ns}/{name}")))?;
            if let Some(svc) = svc {
                let selector_hash = svc
                    .spec
                    .and_then(|s| s.selector)
                    .and_then(|s| s.get(POD_TEMPLATE_HASH_LABEL).cloned());
                out.push(ObservedService { name, selector_hash });
            }
        }
        Ok(out)
    }

    /// The AnalysisRuns `ro` owns, as the core sees them, sorted by name.
    pub async fn observed_runs(&self, ro: &core::Rollout) -> Result<Vec<ObservedAnalysisRun>, Error> {
        let (ns, uid) = Self::owner_of(ro)?;
        let st = &ro.status;
        let referenced: Vec<String> = [
            &st.canary.current_step_analysis_run_status,
            &st.canary.current_background_analysis_run_status,
            &st.blue_green.pre_promotion_analysis_run_status,
            &st.blue_green.post_promotion_analysis_run_status,
        ]
        .into_iter()
        .flatten()
        .map(|r| r.name.clone())
        .collect();
        let mut out: Vec<ObservedAnalysisRun> = self
            .analysis_runs(&ns, &uid, &referenced)
            .await?
            .iter()
            .filter_map(|r| observe_run(r))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// The pods of `replica_sets` (the Rollout's, by controller owner reference), listed by the
    /// `rollouts-pod-template-hash` label, sorted by name. Only listed while a `spec.restartAt`
    /// restart is pending, so no pod cache is kept.
    pub async fn observed_pods(
        &self,
        ro: &core::Rollout,
        replica_sets: &[ObservedReplicaSet],
    ) -> Result<Vec<ObservedPod>, Error> {
        let (ns, _) = Self::owner_of(ro)?;
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &ns);
        let list = api
            .list(&ListParams::default().labels(POD_TEMPLATE_HASH_LABEL))
            .await
            .map_err(kube_err(format!("list pods in {ns}")))?;
        let mut out: Vec<ObservedPod> = list
            .items
            .iter()
            .filter_map(|pod| observe_pod(pod, replica_sets))
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }

    /// For `workloadRef`, only the referenced Deployment (read by name, never cached wholesale).
    pub async fn observed_workload(&self, ro: &core::Rollout) -> Result<Option<ObservedWorkload>, Error> {
        let Some(wr) = ro.spec.workload_ref.as_ref().filter(|wr| wr.kind == "Deployment") else {
            return Ok(None);
        };
        let (ns, _) = Self::owner_of(ro)?;
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), &ns);
        let dep = api
            .get_opt(&wr.name)
            .await
            .map_err(kube_err(format!("get Deployment {ns}/{}", wr.name)))?;
        let Some(dep) = dep else { return Ok(None) };
        Ok(Some(ObservedWorkload {
            template: serde_json::to_value(&dep.spec.template)?,
            selector: serde_json::from_value(serde_json::to_value(&dep.spec.selector)?).ok(),
            generation: dep.metadata.generation.unwrap_or(0),
            replicas: dep.spec.replicas.unwrap_or(1),
        }))
    }
}

/// `pod` as the restarter sees it, if one of `replica_sets` controls it.
fn observe_pod(pod: &Pod, replica_sets: &[ObservedReplicaSet]) -> Option<ObservedPod> {
    let owner = pod
        .owner_references()
        .iter()
        .find(|o| o.kind == "ReplicaSet" && o.controller == Some(true))?;
    let replica_set = replica_sets.iter().find(|r| r.name == owner.name)?;
    let ready = pod
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|cs| cs.iter().find(|c| c.type_ == "Ready"));
    Some(ObservedPod {
        name: pod.name_any(),
        replica_set: replica_set.name.clone(),
        created_at: pod.creation_timestamp().as_ref().and_then(time_of)?,
        ready: ready.is_some_and(|c| c.status == "True"),
        ready_since: ready
            .and_then(|c| c.last_transition_time.as_ref())
            .and_then(time_of),
        terminating: pod.metadata.deletion_timestamp.is_some(),
    })
}

fn observe_run(run: &AnalysisRun) -> Option<ObservedAnalysisRun> {
    let labels = run.labels();
    let kind = match labels.get("rollout-type").map(String::as_str) {
        Some("Step") => AnalysisRunKind::Step,
        Some("Background") => AnalysisRunKind::Background,
        Some("PrePromotion" | "BlueGreenPrePromotion") => AnalysisRunKind::PrePromotion,
        Some("PostPromotion" | "BlueGreenPostPromotion") => AnalysisRunKind::PostPromotion,
        _ => return None,
    };
    let phase =
        serde_json::from_value(run.status.get("phase").cloned().unwrap_or(json!(""))).unwrap_or_default();
    Some(ObservedAnalysisRun {
        name: run.name_any(),
        kind,
        pod_template_hash: labels.get(POD_TEMPLATE_HASH_LABEL).cloned().unwrap_or_default(),
        step_index: labels.get("step-index").and_then(|s| s.parse().ok()),
        phase,
        message: run
            .status
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        terminating: run
            .spec
            .get("terminate")
            .and_then(Value::as_bool)
            .unwrap_or(false),
        created_at: run.creation_timestamp().as_ref().and_then(time_of),
        decided_by: serde_json::from_value::<rollout_core::analysis::AnalysisRunStatus>(run.status.clone())
            .ok()
            .and_then(|status| core::DecidingMetric::of_run(&status)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rs(name: &str) -> ObservedReplicaSet {
        ObservedReplicaSet {
            name: name.into(),
            pod_template_hash: "h".into(),
            revision: 1,
            created_at: Timestamp::UNIX_EPOCH,
            replicas: 1,
            status_replicas: 1,
            ready: 1,
            available: 1,
            scale_down_deadline: None,
            template: None,
            needs: Vec::new(),
        }
    }

    fn pod(owner_kind: &str, owner: &str, ready: &str, deleting: bool) -> Pod {
        serde_json::from_value(json!({
            "metadata": {
                "name": "p", "creationTimestamp": "2024-01-01T00:00:00Z",
                "deletionTimestamp": if deleting { json!("2024-01-01T00:01:00Z") } else { Value::Null },
                "ownerReferences": [{"apiVersion": "apps/v1", "kind": owner_kind, "name": owner,
                                      "uid": "u", "controller": true}]
            },
            "status": {"conditions": [{"type": "Ready", "status": ready,
                                       "lastTransitionTime": "2024-01-01T00:00:30Z"}]}
        }))
        .unwrap()
    }

    #[test]
    fn pods_are_the_rollouts_replica_sets_pods_with_readiness_and_deletion() {
        let rss = [rs("demo-abc")];
        let p = observe_pod(&pod("ReplicaSet", "demo-abc", "True", false), &rss).unwrap();
        assert_eq!(p.replica_set, "demo-abc");
        assert_eq!(p.created_at, "2024-01-01T00:00:00Z".parse().unwrap());
        assert!(p.ready && !p.terminating);
        assert_eq!(p.ready_since, "2024-01-01T00:00:30Z".parse().ok());
        let p = observe_pod(&pod("ReplicaSet", "demo-abc", "False", true), &rss).unwrap();
        assert!(!p.ready && p.terminating);
        assert_eq!(
            observe_pod(&pod("ReplicaSet", "other", "True", false), &rss),
            None
        );
        assert_eq!(
            observe_pod(&pod("StatefulSet", "demo-abc", "True", false), &rss),
            None
        );
    }
}
