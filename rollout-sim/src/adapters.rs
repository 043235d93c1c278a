//! The adapter contracts of [`rollout_driver`] implemented in memory ([`RolloutStore`],
//! [`Workloads`], [`TrafficRouter`], [`AnalysisRuns`], [`EventSink`], [`RunStore`]) over one
//! shared [`World`]: the Rollout, the simulated cluster, the AnalysisRuns, the canary weight
//! timeline and the simulated clock.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use rollout_core::rollout::Action;
//! use rollout_driver::Workloads;
//! use rollout_sim::adapters::{InMemory, World};
//!
//! let rollout = serde_json::from_value(serde_json::json!({"metadata": {"name": "demo"}})).unwrap();
//! let world = World::new(rollout, std::time::Duration::from_secs(5), "2024-01-01T00:00:00Z".parse().unwrap());
//! let io = InMemory::new(world, vec![]);
//! let ro = io.rollout();
//! io.apply(&ro, &Action::CreateReplicaSet {
//!     name: "demo-abc".into(), pod_template_hash: "abc".into(), revision: 1, replicas: 2,
//!     template: serde_json::Value::Null,
//! }).await.unwrap();
//! let seen = io.list_replica_sets(&ro).await.unwrap();
//! assert_eq!((seen[0].replicas, seen[0].ready), (2, 0));
//! io.advance(std::time::Duration::from_secs(5));
//! assert_eq!(io.list_replica_sets(&ro).await.unwrap()[0].ready, 2);
//! # });
//! ```

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use rollout_core::analysis::judge::WeightPoint;
use rollout_core::analysis::{AnalysisPhase, AnalysisRun, AnalysisRunStatus, AnalysisTemplate};
use rollout_core::rollout::routing::{HeaderRoute, MirrorRoute};
use rollout_core::rollout::{
    Action, AnalysisRunKind, AnalysisRunRequest, ConfigRef, DecidingMetric, Event, ObservedAnalysisRun,
    ObservedConfig, ObservedPod, ObservedReplicaSet, ObservedService, ObservedWorkload, PauseReason, Rollout,
    RolloutStatus, WorkloadRef,
};
use rollout_driver::{
    AdapterError, AnalysisRuns, Applied, EventSink, Loaded, NoSecrets, Providers, RolloutIo, RolloutStore,
    RunIo, RunStore, TrafficRouter, Workloads,
};
use serde_json::Value;

use crate::cluster::Cluster;

/// One AnalysisRun held by the in-memory runner.
#[derive(Debug, Clone, PartialEq)]
pub struct SimRun {
    /// The run (spec + status).
    pub run: AnalysisRun,
    /// Why it exists.
    pub kind: AnalysisRunKind,
    /// Pod-template hash label.
    pub hash: String,
    /// Step index label.
    pub step_index: Option<i32>,
    /// Termination was requested.
    pub terminating: bool,
    /// When its machine wants to be called again.
    pub next_wake: Option<Timestamp>,
    /// When it was created (run history keeps the newest).
    pub created_at: Timestamp,
}

impl SimRun {
    /// The run's name.
    pub fn name(&self) -> String {
        self.run.metadata.name.clone()
    }
}

/// Everything the in-memory adapters share.
#[derive(Debug, Clone)]
pub struct World {
    /// The simulated clock.
    pub now: Timestamp,
    /// The Rollout the store holds (spec + status). Change it with [`Arc::make_mut`]; the driver
    /// holds no clone between ticks, so that does not copy it.
    pub rollout: Arc<Rollout>,
    /// ReplicaSets, pods, Services, router weight, events.
    pub cluster: Cluster,
    /// AnalysisRuns.
    pub runs: Vec<SimRun>,
    /// Namespace of the Rollout (for run names in messages).
    pub namespace: Option<String>,
    /// The canary weight timeline the runs' judges see (`MeasurementRequest.weights`).
    pub weights: Vec<WeightPoint>,
}

impl World {
    /// A world holding `rollout`, with an empty cluster whose pods become ready `ready_after`
    /// after creation.
    pub fn new(rollout: Rollout, ready_after: Duration, now: Timestamp) -> Self {
        World {
            now,
            cluster: Cluster::new(&rollout, ready_after),
            runs: Vec::new(),
            namespace: rollout.metadata.namespace.clone(),
            rollout: Arc::new(rollout),
            weights: Vec::new(),
        }
    }
}

/// The in-memory adapters: one value implements every trait. Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct InMemory {
    world: Arc<Mutex<World>>,
    templates: Arc<Vec<AnalysisTemplate>>,
}

impl InMemory {
    /// Adapters over `world`; the runner resolves runs from `templates`.
    pub fn new(world: World, templates: Vec<AnalysisTemplate>) -> Self {
        InMemory {
            world: Arc::new(Mutex::new(world)),
            templates: Arc::new(templates),
        }
    }

    /// Locks the shared world (a poisoned lock is recovered: the state is plain data).
    pub fn world(&self) -> MutexGuard<'_, World> {
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The simulated time.
    pub fn now(&self) -> Timestamp {
        self.world().now
    }

    /// Sets the simulated time.
    pub fn set_now(&self, now: Timestamp) {
        self.world().now = now;
    }

    /// The Rollout as stored now.
    pub fn rollout(&self) -> Arc<Rollout> {
        self.world().rollout.clone()
    }

    /// The adapters of a [`RolloutDriver`](rollout_driver::RolloutDriver): all of them this value
    /// (the router too).
    pub fn rollout_io(&self) -> RolloutIo {
        RolloutIo {
            store: Arc::new(self.clone()),
            workloads: Arc::new(self.clone()),
            runs: Arc::new(self.clone()),
            router: Some(Arc::new(self.clone())),
            events: Arc::new(self.clone()),
        }
    }

    /// The adapters of a [`RunDriver`](rollout_driver::RunDriver): this value as the run store,
    /// `providers` for measurements, no secrets.
    pub fn run_io(&self, providers: Providers) -> RunIo {
        RunIo {
            store: Arc::new(self.clone()),
            providers: Arc::new(providers),
            secrets: Arc::new(NoSecrets),
        }
    }

    /// Applies a managed-route action to the cluster's router.
    fn route_action(&self, action: &Action) -> Applied {
        let mut w = self.world();
        let before = w.cluster.managed_routes.clone();
        let now = w.now;
        w.cluster.apply(action, now);
        if w.cluster.managed_routes == before {
            Applied::Unchanged
        } else {
            Applied::Written
        }
    }

    /// `kubectl argo rollouts promote` on the stored Rollout: unpauses, clears the pause
    /// conditions and, when paused only by canary pause steps (or not by a condition), moves to
    /// the next step.
    pub fn promote(&self) {
        let mut world = self.world();
        let rollout = Arc::make_mut(&mut world.rollout);
        rollout.spec.paused = false;
        let n = i32::try_from(rollout.steps().len()).unwrap_or(i32::MAX);
        let st = &mut rollout.status;
        if st
            .pause_conditions
            .iter()
            .all(|p| p.reason == PauseReason::CanaryPauseStep)
        {
            let idx = st.current_step_index.unwrap_or(0);
            if idx < n {
                st.current_step_index = Some(idx + 1);
            }
        }
        st.pause_conditions.clear();
    }

    /// `kubectl argo rollouts abort` on the stored Rollout.
    pub fn abort(&self) {
        Arc::make_mut(&mut self.world().rollout).status.abort = true;
    }

    /// A new revision: sets the first container's image of the stored Rollout and bumps its
    /// generation.
    pub fn set_image(&self, image: &str) {
        let mut world = self.world();
        let rollout = Arc::make_mut(&mut world.rollout);
        if let Some(c) = rollout
            .spec
            .template
            .as_mut()
            .and_then(|t| t.pointer_mut("/spec/containers/0"))
            .and_then(Value::as_object_mut)
        {
            c.insert("image".into(), Value::String(image.into()));
        }
        rollout.metadata.generation = Some(rollout.metadata.generation.unwrap_or(1) + 1);
    }

    /// Moves the simulated clock forward.
    pub fn advance(&self, by: Duration) {
        let mut w = self.world();
        if let Ok(d) = SignedDuration::try_from(by)
            && let Ok(t) = w.now.checked_add(d)
        {
            w.now = t;
        }
    }

    /// Builds the AnalysisRun a request asks for from the known templates. Errors become a run
    /// in phase Error with the reason, as a controller would record them.
    pub fn build_run(
        &self,
        req: &AnalysisRunRequest,
        namespace: Option<&str>,
        now: Timestamp,
    ) -> AnalysisRun {
        let (mut namespaced, mut cluster, mut missing) = (Vec::new(), Vec::new(), Vec::new());
        for r in &req.templates {
            let kind = if r.cluster_scope {
                "ClusterAnalysisTemplate"
            } else {
                "AnalysisTemplate"
            };
            let found = self.templates.iter().find(|t| {
                t.metadata.name == r.template_name && t.kind.as_deref().unwrap_or("AnalysisTemplate") == kind
            });
            match (found, r.cluster_scope) {
                (Some(t), false) => namespaced.push(t.clone()),
                (Some(t), true) => cluster.push(t.clone()),
                (None, _) => missing.push(format!("{kind} {:?}", r.template_name)),
            }
        }
        let created = if missing.is_empty() {
            req.build_run(&namespaced, &cluster, namespace)
                .map_err(|e| e.to_string())
        } else {
            Err(format!("not found: {}", missing.join(", ")))
        };
        created.unwrap_or_else(|message| {
            let mut run = AnalysisRun::default();
            run.metadata.name = req.name.clone();
            run.status = Some(AnalysisRunStatus {
                phase: AnalysisPhase::Error,
                message: format!("Analysis spec invalid: {message}"),
                started_at: Some(now),
                completed_at: Some(now),
                ..AnalysisRunStatus::default()
            });
            run
        })
    }
}

/// The workload a `workloadRef` points at, from its manifest (a `Deployment` or `ReplicaSet`:
/// `spec.template`, `spec.selector`, `spec.replicas` (default 1); a `PodTemplate`: `template`).
/// `None` when the manifest is not the object `reference` names.
pub fn referenced_workload(reference: &WorkloadRef, manifest: &Value) -> Option<ObservedWorkload> {
    let named = manifest.get("kind").and_then(Value::as_str) == Some(reference.kind.as_str())
        && manifest.pointer("/metadata/name").and_then(Value::as_str) == Some(reference.name.as_str());
    if !named {
        return None;
    }
    let spec = manifest.get("spec");
    let template = spec
        .and_then(|s| s.get("template"))
        .or_else(|| manifest.get("template"))
        .cloned()
        .unwrap_or(Value::Null);
    let replicas = spec
        .and_then(|s| s.get("replicas"))
        .and_then(Value::as_i64)
        .map_or(1, |r| i32::try_from(r.max(0)).unwrap_or(i32::MAX));
    Some(ObservedWorkload {
        template,
        selector: spec
            .and_then(|s| s.get("selector"))
            .and_then(|s| serde_json::from_value(s.clone()).ok()),
        generation: manifest
            .pointer("/metadata/generation")
            .and_then(Value::as_i64)
            .unwrap_or(1),
        replicas,
    })
}

#[async_trait]
impl RolloutStore for InMemory {
    async fn load(&self) -> Result<Loaded, AdapterError> {
        Ok(Loaded::Valid(self.world().rollout.clone()))
    }

    /// Writes `after` unless the stored status is already `after`; a stored status that is
    /// neither `before` nor `after` was changed by someone else: a conflict.
    async fn persist(&self, before: &RolloutStatus, after: &RolloutStatus) -> Result<bool, AdapterError> {
        let mut w = self.world();
        if w.rollout.status == *after {
            return Ok(false);
        }
        if w.rollout.status != *before {
            return Err(AdapterError::Conflict {
                kind: "Rollout".into(),
                name: w.rollout.metadata.name.clone(),
                message: "the status changed since it was read".into(),
            });
        }
        Arc::make_mut(&mut w.rollout).status = after.clone();
        Ok(true)
    }
}

#[async_trait]
impl Workloads for InMemory {
    async fn list_replica_sets(&self, _ro: &Rollout) -> Result<Vec<ObservedReplicaSet>, AdapterError> {
        let w = self.world();
        Ok(w.cluster.observe(w.now).replica_sets)
    }

    async fn referenced_workload(&self, _ro: &Rollout) -> Result<Option<ObservedWorkload>, AdapterError> {
        Ok(self.world().cluster.workload.clone())
    }

    async fn list_pods(
        &self,
        _ro: &Rollout,
        _replica_sets: &[ObservedReplicaSet],
    ) -> Result<Option<Vec<ObservedPod>>, AdapterError> {
        let w = self.world();
        Ok(w.cluster.pods(w.now))
    }

    async fn evict_pod(&self, _ro: &Rollout, name: &str, replica_set: &str) -> Result<Applied, AdapterError> {
        let mut w = self.world();
        let now = w.now;
        Ok(if w.cluster.evict(name, replica_set, now) {
            Applied::Written
        } else {
            Applied::Unchanged
        })
    }

    async fn list_services(&self, _ro: &Rollout) -> Result<Vec<ObservedService>, AdapterError> {
        Ok(self.world().cluster.services.clone())
    }

    async fn observe_config(
        &self,
        _ro: &Rollout,
        objects: &[ConfigRef],
    ) -> Result<Vec<ObservedConfig>, AdapterError> {
        Ok(self.world().cluster.observe_config(objects))
    }

    async fn protect_config(
        &self,
        _ro: &Rollout,
        object: &ConfigRef,
        replica_set: &str,
    ) -> Result<Applied, AdapterError> {
        let mut w = self.world();
        Ok(w.cluster
            .config
            .as_mut()
            .map_or(Applied::Unchanged, |c| c.protect(object, replica_set)))
    }

    async fn unprotect_config(
        &self,
        _ro: &Rollout,
        object: &ConfigRef,
        replica_set: &str,
    ) -> Result<Applied, AdapterError> {
        let mut w = self.world();
        Ok(w.cluster
            .config
            .as_mut()
            .map_or(Applied::Unchanged, |c| c.unprotect(object, replica_set)))
    }

    async fn apply(&self, _ro: &Rollout, action: &Action) -> Result<Applied, AdapterError> {
        let mut w = self.world();
        let now = w.now;
        if let Action::ScaleReplicaSet { name, .. }
        | Action::SetScaleDownDeadline { name, .. }
        | Action::SetReplicaSetRevision { name, .. } = action
            && !w.cluster.replica_sets.iter().any(|r| &r.name == name)
        {
            return Err(AdapterError::NotFound {
                kind: "ReplicaSet".into(),
                name: name.clone(),
            });
        }
        w.cluster.apply(action, now);
        Ok(Applied::Written)
    }
}

#[async_trait]
impl TrafficRouter for InMemory {
    async fn set_weight(
        &self,
        _ro: &Rollout,
        canary_hash: &str,
        stable_hash: &str,
        weight: i32,
    ) -> Result<Applied, AdapterError> {
        let mut w = self.world();
        let now = w.now;
        w.cluster.apply(
            &Action::SetTrafficWeight {
                canary_hash: canary_hash.to_string(),
                stable_hash: stable_hash.to_string(),
                weight,
            },
            now,
        );
        Ok(Applied::Written)
    }

    async fn verify_weight(&self, _ro: &Rollout, weight: i32) -> Result<Option<bool>, AdapterError> {
        Ok(Some(
            self.world()
                .cluster
                .router
                .as_ref()
                .is_some_and(|r| r.weight == weight),
        ))
    }

    async fn set_header_route(&self, _ro: &Rollout, route: &HeaderRoute) -> Result<Applied, AdapterError> {
        Ok(self.route_action(&Action::SetHeaderRoute(route.clone())))
    }

    async fn set_mirror_route(&self, _ro: &Rollout, route: &MirrorRoute) -> Result<Applied, AdapterError> {
        Ok(self.route_action(&Action::SetMirrorRoute(route.clone())))
    }

    async fn remove_managed_routes(&self, _ro: &Rollout, routes: &[String]) -> Result<Applied, AdapterError> {
        Ok(self.route_action(&Action::RemoveManagedRoutes {
            routes: routes.to_vec(),
        }))
    }
}

#[async_trait]
impl AnalysisRuns for InMemory {
    async fn create(&self, _ro: &Rollout, request: &AnalysisRunRequest) -> Result<Applied, AdapterError> {
        let (namespace, now) = {
            let w = self.world();
            if w.runs.iter().any(|r| r.name() == request.name) {
                return Ok(Applied::Unchanged);
            }
            (w.namespace.clone(), w.now)
        };
        let run = self.build_run(request, namespace.as_deref(), now);
        self.world().runs.push(SimRun {
            run,
            kind: request.kind,
            hash: request.pod_template_hash.clone(),
            step_index: request.step_index,
            terminating: false,
            next_wake: None,
            created_at: now,
        });
        Ok(Applied::Written)
    }

    async fn terminate(&self, _ro: &Rollout, name: &str) -> Result<Applied, AdapterError> {
        let mut w = self.world();
        Ok(match w.runs.iter_mut().find(|r| r.name() == name) {
            Some(run) => {
                run.run.spec.terminate = true;
                run.terminating = true;
                Applied::Written
            }
            None => Applied::Unchanged,
        })
    }

    async fn delete(&self, _ro: &Rollout, name: &str) -> Result<Applied, AdapterError> {
        let mut w = self.world();
        let before = w.runs.len();
        w.runs.retain(|r| r.name() != name);
        Ok(if w.runs.len() < before {
            Applied::Written
        } else {
            Applied::Unchanged
        })
    }

    async fn list(&self, _ro: &Rollout) -> Result<Vec<ObservedAnalysisRun>, AdapterError> {
        Ok(self
            .world()
            .runs
            .iter()
            .map(|r| {
                let (phase, message) = r
                    .run
                    .status
                    .as_ref()
                    .map_or((AnalysisPhase::default(), String::new()), |s| {
                        (s.phase, s.message.clone())
                    });
                ObservedAnalysisRun {
                    name: r.name(),
                    kind: r.kind,
                    pod_template_hash: r.hash.clone(),
                    step_index: r.step_index,
                    phase: match phase {
                        AnalysisPhase::Pending => AnalysisPhase::Running,
                        p => p,
                    },
                    message,
                    terminating: r.terminating,
                    created_at: Some(r.created_at),
                    decided_by: r.run.status.as_ref().and_then(DecidingMetric::of_run),
                }
            })
            .collect())
    }
}

#[async_trait]
impl EventSink for InMemory {
    async fn emit(&self, _ro: &Rollout, event: &Event) -> Result<(), AdapterError> {
        let mut w = self.world();
        let now = w.now;
        w.cluster.events.push((now, event.clone()));
        Ok(())
    }
}

#[async_trait]
impl RunStore for InMemory {
    async fn persist(&self, run: &AnalysisRun, after: &AnalysisRunStatus) -> Result<bool, AdapterError> {
        let mut w = self.world();
        let stored = w
            .runs
            .iter_mut()
            .find(|r| r.run.metadata.name == run.metadata.name)
            .ok_or_else(|| AdapterError::NotFound {
                kind: "AnalysisRun".into(),
                name: run.metadata.name.clone(),
            })?;
        if stored.run.status.as_ref() == Some(after) {
            return Ok(false);
        }
        stored.run.status = Some(after.clone());
        Ok(true)
    }

    fn weights(&self, _run: &AnalysisRun) -> Vec<WeightPoint> {
        self.world().weights.clone()
    }
}
