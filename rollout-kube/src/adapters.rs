//! rollout-kube's implementations of [`rollout_driver`]'s contracts: the Rollout loop itself is
//! [`RolloutDriver::tick`](rollout_driver::RolloutDriver::tick); these adapters only do the API
//! calls.
//!
//! | contract | here |
//! |---|---|
//! | [`RolloutStore`] | [`RolloutStatusStore`]: GET the Rollout (or the controller's cached copy when not stale), merge-patch `/status` |
//! | [`Workloads`](rollout_driver::Workloads), [`AnalysisRuns`](rollout_driver::AnalysisRuns) | [`Reconciler`](crate::Reconciler) ([`workloads`]; ConfigMap/Secret protection: [`config`]) |
//! | [`TrafficRouter`] | [`KubeRouter`]: the router the Rollout's `trafficRouting` names |
//! | [`EventSink`] | [`TickEvents`]: published once the tick succeeded |
//! | [`RunStore`](rollout_driver::RunStore), [`Secrets`](rollout_driver::Secrets) | [`crate::analysis`] |
//!
//! Kubernetes errors become [`AdapterError::Request`] with the server's `Status` reason
//! (`Forbidden`, `Conflict`, `Invalid`, ...) or `RequestFailed`, and the `kube::Error` as source.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use kube::api::{Api, Patch, PatchParams};
use kube::{Client, ResourceExt};
use rollout_core::rollout::phase::{
    AnnotationChange, WORKLOAD_GENERATION_ANNOTATION, workload_generation_change,
};
use rollout_core::rollout::{self as core, Event, RolloutStatus};
use rollout_driver::{AdapterError, Applied, EventSink, Loaded, RolloutStore, TrafficRouter};
use serde_json::{Map, Value, json};

use crate::merge_patch::merge_diff;
use crate::resources::Rollout;
use crate::router::{GATEWAY_API_PLUGIN, Routers, routers_for};

pub mod config;
pub mod workloads;

/// The machine-readable reason of a failed request: the `Status` reason of an API error, else
/// `RequestFailed`.
pub fn reason_of(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if !s.reason.is_empty() => s.reason.clone(),
        _ => "RequestFailed".to_string(),
    }
}

/// Maps a failed request `what` (e.g. `create ReplicaSet ns/name`) to
/// [`AdapterError::Request`].
pub fn request_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> AdapterError {
    let what = what.into();
    move |source| AdapterError::Request {
        what,
        reason: reason_of(&source),
        source: Box::new(source),
    }
}

/// The HTTP status code of the API error behind `e`, if there is one.
pub fn status_code(e: &AdapterError) -> Option<u16> {
    match e {
        AdapterError::Request { source, .. } => match source.downcast_ref::<kube::Error>() {
            Some(kube::Error::Api(s)) => Some(s.code),
            _ => None,
        },
        AdapterError::Conflict { .. } => Some(409),
        AdapterError::NotFound { .. } => Some(404),
        _ => None,
    }
}

pub(crate) fn is_status(e: &kube::Error, code: u16) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == code)
}

pub(crate) fn serialize_err(e: serde_json::Error) -> AdapterError {
    AdapterError::Other(format!("serialize: {e}"))
}

/// One Rollout's status store: [`load`](RolloutStore::load) reads the Rollout (a GET, unless a
/// copy was [preloaded](RolloutStatusStore::preload)) and remembers its `resourceVersion`; [`persist`](RolloutStore::persist) writes a
/// JSON merge patch on `/status` of only the fields that changed, with that `resourceVersion` as
/// a precondition. So fields users and Argo's kubectl plugin write (`abort`, `promoteFull`,
/// `pauseConditions`, `currentStepIndex`) are never overwritten with stale values: either the
/// patch applies to exactly the object read, or the server answers 409 and the tick is retried.
/// The controller may hand it the Rollout its watch cache holds ([`RolloutStatusStore::preload`];
/// when that is safe: [`crate::reconciler::SeenRollouts`]) to read instead of the GET.
pub struct RolloutStatusStore {
    client: Client,
    namespace: String,
    name: String,
    field_manager: String,
    loaded: Mutex<Option<LoadedRollout>>,
    /// The Rollout the next `load` returns instead of a GET, with its `resourceVersion`.
    preloaded: Mutex<Option<(String, Arc<core::Rollout>)>>,
    /// The `resourceVersion` the server answered our last write with.
    written: Mutex<Option<String>>,
}

#[derive(Clone)]
struct LoadedRollout {
    resource_version: Option<String>,
    /// The status read, when the spec was readable.
    status: Option<RolloutStatus>,
    /// The Rollout read, when the spec was readable.
    rollout: Option<Arc<core::Rollout>>,
}

impl std::fmt::Debug for RolloutStatusStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutStatusStore")
            .field("namespace", &self.namespace)
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl RolloutStatusStore {
    /// The store of Rollout `namespace/name`, writing as `field_manager`.
    pub fn new(client: Client, namespace: &str, name: &str, field_manager: &str) -> Self {
        Self {
            client,
            namespace: namespace.to_string(),
            name: name.to_string(),
            field_manager: field_manager.to_string(),
            loaded: Mutex::new(None),
            preloaded: Mutex::new(None),
            written: Mutex::new(None),
        }
    }

    /// The next [`load`](RolloutStore::load) returns `rollout` (at `resource_version`, the
    /// precondition of the status write) instead of reading the Rollout from the server.
    pub fn preload(&self, resource_version: String, rollout: Arc<core::Rollout>) {
        if let Ok(mut p) = self.preloaded.lock() {
            *p = Some((resource_version, rollout));
        }
    }

    /// The `resourceVersion` of the Rollout after this store's last write (status or
    /// annotation), if it wrote.
    pub fn written_resource_version(&self) -> Option<String> {
        self.written.lock().ok()?.clone()
    }

    fn wrote(&self, ro: &Rollout) {
        if let Ok(mut w) = self.written.lock() {
            *w = ro.resource_version();
        }
    }

    /// The status of the last [`load`](RolloutStore::load), when the Rollout was readable.
    pub fn loaded_status(&self) -> Option<RolloutStatus> {
        self.loaded.lock().ok()?.as_ref()?.status.clone()
    }

    /// The Rollout of the last [`load`](RolloutStore::load), when it was readable.
    pub fn loaded_rollout(&self) -> Option<Arc<core::Rollout>> {
        self.loaded.lock().ok()?.as_ref()?.rollout.clone()
    }

    /// Keeps the Rollout's [`WORKLOAD_GENERATION_ANNOTATION`] as upstream does, once the tick
    /// left `status` on the Rollout last [`load`](RolloutStore::load)ed (persisted, or unchanged):
    /// one metadata merge patch when [`workload_generation_change`] asks for one. Returns whether
    /// it wrote. Nothing is done for an unreadable spec.
    pub async fn sync_workload_generation(&self, status: &RolloutStatus) -> Result<bool, AdapterError> {
        let loaded = self
            .loaded
            .lock()
            .ok()
            .and_then(|l| l.as_ref().and_then(|l| l.rollout.clone()));
        let Some(ro) = loaded else { return Ok(false) };
        let value = match workload_generation_change(&ro, status) {
            None => return Ok(false),
            Some(AnnotationChange::Set(g)) => Value::String(g),
            Some(AnnotationChange::Remove) => Value::Null,
        };
        let patch = json!({"metadata": {"annotations": {WORKLOAD_GENERATION_ANNOTATION: value}}});
        let pp = PatchParams {
            field_manager: Some(self.field_manager.clone()),
            ..Default::default()
        };
        let (ns, name) = (&self.namespace, &self.name);
        let written = self
            .api()
            .patch(name, &pp, &Patch::Merge(&patch))
            .await
            .map_err(request_err(format!("annotate Rollout {ns}/{name}")))?;
        self.wrote(&written);
        Ok(true)
    }

    fn api(&self) -> Api<Rollout> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    fn remember(&self, loaded: LoadedRollout) {
        if let Ok(mut l) = self.loaded.lock() {
            *l = Some(loaded);
        }
    }
}

/// A status read leniently: every top-level field the core can read is kept, the others are
/// left out (so an unreadable spec can still be recorded on the status as stored).
pub fn lenient_status(raw: &Value) -> RolloutStatus {
    if let Ok(st) = serde_json::from_value(raw.clone()) {
        return st;
    }
    let readable: Map<String, Value> = raw
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(k, v)| {
            serde_json::from_value::<RolloutStatus>(Value::Object(Map::from_iter([(
                (*k).clone(),
                (*v).clone(),
            )])))
            .is_ok()
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    serde_json::from_value(Value::Object(readable)).unwrap_or_default()
}

#[async_trait]
impl RolloutStore for RolloutStatusStore {
    async fn load(&self) -> Result<Loaded, AdapterError> {
        let preloaded = self.preloaded.lock().ok().and_then(|mut p| p.take());
        if let Some((resource_version, ro)) = preloaded {
            self.remember(LoadedRollout {
                resource_version: Some(resource_version),
                status: Some(ro.status.clone()),
                rollout: Some(ro.clone()),
            });
            return Ok(Loaded::Valid(ro));
        }
        let (ns, name) = (&self.namespace, &self.name);
        let Some(fresh) = self
            .api()
            .get_opt(name)
            .await
            .map_err(request_err(format!("get Rollout {ns}/{name}")))?
        else {
            return Ok(Loaded::Gone);
        };
        let resource_version = fresh.resource_version();
        Ok(match fresh.to_core() {
            Ok(ro) => {
                let ro = Arc::new(ro);
                self.remember(LoadedRollout {
                    resource_version,
                    status: Some(ro.status.clone()),
                    rollout: Some(ro.clone()),
                });
                Loaded::Valid(ro)
            }
            Err(e) => {
                self.remember(LoadedRollout {
                    resource_version,
                    status: None,
                    rollout: None,
                });
                Loaded::Invalid {
                    status: Box::new(lenient_status(&fresh.status)),
                    message: e.source.to_string(),
                    generation: fresh.metadata.generation,
                }
            }
        })
    }

    async fn persist(&self, before: &RolloutStatus, after: &RolloutStatus) -> Result<bool, AdapterError> {
        let before = serde_json::to_value(before).map_err(serialize_err)?;
        let after = serde_json::to_value(after).map_err(serialize_err)?;
        let diff = merge_diff(&before, &after);
        if diff.is_null() {
            return Ok(false);
        }
        let resource_version = self
            .loaded
            .lock()
            .ok()
            .and_then(|l| l.as_ref().and_then(|l| l.resource_version.clone()));
        let patch = json!({
            "metadata": {"resourceVersion": resource_version},
            "status": diff,
        });
        let pp = PatchParams {
            field_manager: Some(self.field_manager.clone()),
            ..Default::default()
        };
        let (ns, name) = (&self.namespace, &self.name);
        let written = self
            .api()
            .patch_status(name, &pp, &Patch::Merge(&patch))
            .await
            .map_err(request_err(format!("patch Rollout {ns}/{name} status")))?;
        self.wrote(&written);
        Ok(true)
    }
}

/// The traffic router a Rollout's `trafficRouting` names, picked per call (one value serves
/// every Rollout). A Rollout that names a router this crate does not implement gets
/// [`AdapterError::Unsupported`], never a silent success.
#[derive(Clone)]
pub struct KubeRouter {
    client: Client,
    field_manager: String,
}

impl std::fmt::Debug for KubeRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeRouter")
            .field("field_manager", &self.field_manager)
            .finish_non_exhaustive()
    }
}

impl KubeRouter {
    /// Routers writing with `client` as `field_manager`.
    pub fn new(client: Client, field_manager: &str) -> Self {
        Self {
            client,
            field_manager: field_manager.to_string(),
        }
    }

    fn router(&self, ro: &core::Rollout) -> Result<Routers, AdapterError> {
        routers_for(&self.client, ro, &self.field_manager).unwrap_or_else(|| {
            let named = configured_routers(ro);
            Err(AdapterError::Unsupported(format!(
                "Rollout {}/{}: no traffic router for trafficRouting {}; this controller implements istio, nginx, smi, alb, traefik and the {GATEWAY_API_PLUGIN:?} plugin",
                ro.metadata.namespace.as_deref().unwrap_or_default(),
                ro.metadata.name,
                if named.is_empty() {
                    "(none configured)".to_string()
                } else {
                    format!("{named:?}")
                },
            )))
        })
    }
}

/// The routers a Rollout's `trafficRouting` names (`istio`, `plugins.<name>`, ...).
pub fn configured_routers(ro: &core::Rollout) -> Vec<String> {
    let Some(tr) = ro.canary().and_then(|c| c.traffic_routing.as_ref()) else {
        return Vec::new();
    };
    let Ok(Value::Object(fields)) = serde_json::to_value(tr) else {
        return Vec::new();
    };
    fields
        .into_iter()
        .flat_map(|(k, v)| match k.as_str() {
            "maxTrafficWeight" | "managedRoutes" => Vec::new(),
            "plugins" => v
                .as_object()
                .into_iter()
                .flat_map(|p| p.keys().map(|n| format!("plugins.{n}")))
                .collect(),
            _ => vec![k],
        })
        .collect()
}

#[async_trait]
impl TrafficRouter for KubeRouter {
    async fn set_weight(
        &self,
        ro: &core::Rollout,
        canary_hash: &str,
        stable_hash: &str,
        weight: i32,
    ) -> Result<Applied, AdapterError> {
        self.router(ro)?
            .set_weight(ro, canary_hash, stable_hash, weight)
            .await
    }

    async fn verify_weight(&self, ro: &core::Rollout, weight: i32) -> Result<Option<bool>, AdapterError> {
        self.router(ro)?.verify_weight(ro, weight).await
    }

    async fn set_header_route(
        &self,
        ro: &core::Rollout,
        route: &rollout_core::rollout::routing::HeaderRoute,
    ) -> Result<Applied, AdapterError> {
        self.router(ro)?.set_header_route(ro, route).await
    }

    async fn set_mirror_route(
        &self,
        ro: &core::Rollout,
        route: &rollout_core::rollout::routing::MirrorRoute,
    ) -> Result<Applied, AdapterError> {
        self.router(ro)?.set_mirror_route(ro, route).await
    }

    async fn remove_managed_routes(
        &self,
        ro: &core::Rollout,
        routes: &[String],
    ) -> Result<Applied, AdapterError> {
        self.router(ro)?.remove_managed_routes(ro, routes).await
    }
}

/// The machine's events of one tick, held until the tick has succeeded (status written) and
/// then published as Kubernetes Events by the [`Reconciler`](crate::Reconciler). A tick that
/// fails part-way (a conflict, a refused ReplicaSet) is retried and decides its events again, so
/// publishing them as they are dispatched would repeat them on every retry.
#[derive(Debug, Default)]
pub struct TickEvents {
    events: Mutex<Vec<Event>>,
}

impl TickEvents {
    /// The events emitted so far, in order; the buffer is emptied.
    pub fn take(&self) -> Vec<Event> {
        self.events
            .lock()
            .map(|mut e| std::mem::take(&mut *e))
            .unwrap_or_default()
    }
}

#[async_trait]
impl EventSink for TickEvents {
    async fn emit(&self, _ro: &core::Rollout, event: &Event) -> Result<(), AdapterError> {
        self.events
            .lock()
            .map_err(|_| AdapterError::Other("event buffer poisoned".into()))?
            .push(event.clone());
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_core::rollout::RolloutPhase;

    #[test]
    fn a_status_is_read_field_by_field_when_one_field_is_unreadable() {
        let raw = json!({"phase": "Paused", "message": "waiting", "currentStepIndex": "not a number"});
        let st = lenient_status(&raw);
        assert_eq!(st.phase, Some(RolloutPhase::Paused));
        assert_eq!(st.message, "waiting");
        assert_eq!(lenient_status(&Value::Null), RolloutStatus::default());
    }

    /// The workload-generation annotation is written once, after the status, with the generation
    /// the tick observed; nothing is sent when it already matches.
    #[tokio::test]
    async fn the_workload_generation_annotation_is_patched_only_when_it_changes() {
        const RO: &str = "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/web";
        let live = |annotation: &str| {
            json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": "web", "namespace": "ns", "resourceVersion": "7", "generation": 1,
                             "annotations": {WORKLOAD_GENERATION_ANNOTATION: annotation}},
                "spec": {"replicas": 1,
                         "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                         "strategy": {"canary": {}}},
                "status": {"workloadObservedGeneration": annotation}
            })
        };
        for (annotation, observed, want) in [("1", "2", Some("2")), ("2", "2", None)] {
            let stored = live(annotation);
            let (out, seen) = crate::ops::tests::sent(
                move |_, _, _| stored.clone(),
                |client| async move {
                    let store = RolloutStatusStore::new(client, "ns", "web", "test");
                    assert!(matches!(store.load().await.unwrap(), Loaded::Valid(_)));
                    let st = RolloutStatus {
                        workload_observed_generation: observed.into(),
                        ..Default::default()
                    };
                    store.sync_workload_generation(&st).await
                },
            )
            .await;
            assert_eq!(out.unwrap(), want.is_some());
            assert_eq!(seen[0].method, "GET");
            let patches: Vec<_> = seen[1..]
                .iter()
                .map(|s| (s.method.as_str(), s.uri.as_str(), &s.body))
                .collect();
            match want {
                Some(g) => assert_eq!(
                    patches,
                    [(
                        "PATCH",
                        format!("{RO}?&fieldManager=test").as_str(),
                        &json!({"metadata": {"annotations": {WORKLOAD_GENERATION_ANNOTATION: g}}})
                    )],
                    "{seen:#?}"
                ),
                None => assert!(patches.is_empty(), "{seen:#?}"),
            }
        }
    }

    #[test]
    fn configured_routers_names_each_router_and_plugin() {
        let ro: core::Rollout = serde_json::from_value(json!({
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": {"strategy": {"canary": {"trafficRouting": {
                "maxTrafficWeight": 1000,
                "istio": {"virtualService": {"name": "vs"}},
                "plugins": {"example/router": {}}
            }}}}
        }))
        .unwrap();
        assert_eq!(
            configured_routers(&ro),
            vec!["istio".to_string(), "plugins.example/router".to_string()]
        );
    }

    #[tokio::test]
    async fn a_router_we_do_not_implement_is_an_error_and_sends_nothing() {
        let ro: core::Rollout = serde_json::from_value(json!({
            "metadata": {"name": "r", "namespace": "ns"},
            "spec": {"strategy": {"canary": {"canaryService": "c", "stableService": "s",
                "trafficRouting": {"ambassador": {"mappings": ["web"]}}}}}
        }))
        .unwrap();
        let (out, seen) = crate::ops::tests::sent(
            |m, p, _| panic!("unexpected request {m} {p}"),
            |client| async move {
                KubeRouter::new(client, "test")
                    .set_weight(&ro, "new", "old", 20)
                    .await
            },
        )
        .await;
        assert!(seen.is_empty(), "{seen:#?}");
        let err = out.unwrap_err();
        assert!(matches!(err, AdapterError::Unsupported(_)), "{err:?}");
        assert!(err.to_string().contains("[\"ambassador\"]"), "{err}");
    }
}
