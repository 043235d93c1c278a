//! In-memory implementations of every adapter trait of the core
//! ([`Workloads`], [`TrafficRouter`], [`AnalysisRunner`], [`EventSink`]) over one shared
//! [`World`]: the simulated cluster, the AnalysisRuns and the simulated clock.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! use rollout_core::adapters::{Workloads, observe};
//! use rollout_core::rollout::Action;
//! use rollout_sim::adapters::{InMemory, World};
//!
//! let rollout = serde_json::from_value(serde_json::json!({"metadata": {"name": "demo"}})).unwrap();
//! let world = World::new(&rollout, std::time::Duration::from_secs(5), "2024-01-01T00:00:00Z".parse().unwrap());
//! let io = InMemory::new(world, vec![]);
//! io.apply_workload_action(&Action::CreateReplicaSet {
//!     name: "demo-abc".into(), pod_template_hash: "abc".into(), revision: 1, replicas: 2,
//!     template: serde_json::Value::Null,
//! }).await.unwrap();
//! let seen = observe(&io, &io).await.unwrap();
//! assert_eq!((seen.replica_sets[0].replicas, seen.replica_sets[0].ready), (2, 0));
//! io.advance(std::time::Duration::from_secs(5));
//! assert_eq!(observe(&io, &io).await.unwrap().replica_sets[0].ready, 2);
//! # });
//! ```

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use jiff::{SignedDuration, Timestamp};
use rollout_core::adapters::{AdapterError, AnalysisRunner, EventSink, TrafficRouter, Workloads};
use rollout_core::analysis::{AnalysisPhase, AnalysisRun, AnalysisRunStatus, AnalysisTemplate};
use rollout_core::rollout::{
    Action, AnalysisRunKind, AnalysisRunRequest, Event, ObservedAnalysisRun, ObservedReplicaSet,
    ObservedService, ObservedWorkload, Rollout, WorkloadRef,
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
    /// ReplicaSets, pods, Services, router weight, events.
    pub cluster: Cluster,
    /// AnalysisRuns.
    pub runs: Vec<SimRun>,
    /// Namespace of the Rollout (for run names in messages).
    pub namespace: Option<String>,
}

impl World {
    /// An empty world for `rollout` whose pods become ready `ready_after` after creation.
    pub fn new(rollout: &Rollout, ready_after: Duration, now: Timestamp) -> Self {
        World {
            now,
            cluster: Cluster::new(rollout, ready_after),
            runs: Vec::new(),
            namespace: rollout.metadata.namespace.clone(),
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
impl Workloads for InMemory {
    async fn list_replica_sets(&self) -> Result<Vec<ObservedReplicaSet>, AdapterError> {
        let w = self.world();
        Ok(w.cluster.observe(w.now).replica_sets)
    }

    async fn referenced_workload(&self) -> Result<Option<ObservedWorkload>, AdapterError> {
        Ok(self.world().cluster.workload.clone())
    }

    async fn list_services(&self) -> Result<Vec<ObservedService>, AdapterError> {
        Ok(self.world().cluster.services.clone())
    }

    async fn apply_workload_action(&self, action: &Action) -> Result<(), AdapterError> {
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
        Ok(())
    }
}

#[async_trait]
impl TrafficRouter for InMemory {
    async fn set_weight(
        &self,
        canary_hash: &str,
        stable_hash: &str,
        weight: i32,
    ) -> Result<(), AdapterError> {
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
        Ok(())
    }

    async fn verify_weight(&self, weight: i32) -> Result<Option<bool>, AdapterError> {
        Ok(Some(
            self.world()
                .cluster
                .router
                .as_ref()
                .is_some_and(|r| r.weight == weight),
        ))
    }
}

#[async_trait]
impl AnalysisRunner for InMemory {
    async fn create(&self, request: &AnalysisRunRequest) -> Result<(), AdapterError> {
        let (namespace, now) = {
            let w = self.world();
            (w.namespace.clone(), w.now)
        };
        let run = self.build_run(request, namespace.as_deref(), now);
        let mut w = self.world();
        if w.runs.iter().any(|r| r.name() == request.name) {
            return Ok(());
        }
        w.runs.push(SimRun {
            run,
            kind: request.kind,
            hash: request.pod_template_hash.clone(),
            step_index: request.step_index,
            terminating: false,
            next_wake: None,
            created_at: now,
        });
        Ok(())
    }

    async fn terminate(&self, name: &str) -> Result<(), AdapterError> {
        let mut w = self.world();
        let run = w
            .runs
            .iter_mut()
            .find(|r| r.name() == name)
            .ok_or_else(|| AdapterError::NotFound {
                kind: "AnalysisRun".into(),
                name: name.to_string(),
            })?;
        run.run.spec.terminate = true;
        run.terminating = true;
        Ok(())
    }

    async fn delete(&self, name: &str) -> Result<(), AdapterError> {
        self.world().runs.retain(|r| r.name() != name);
        Ok(())
    }

    async fn list(&self) -> Result<Vec<ObservedAnalysisRun>, AdapterError> {
        Ok(self
            .world()
            .runs
            .iter()
            .map(|r| {
                let status = r.run.status.clone().unwrap_or_default();
                ObservedAnalysisRun {
                    name: r.name(),
                    kind: r.kind,
                    pod_template_hash: r.hash.clone(),
                    step_index: r.step_index,
                    phase: match status.phase {
                        AnalysisPhase::Pending => AnalysisPhase::Running,
                        p => p,
                    },
                    message: status.message,
                    terminating: r.terminating,
                    created_at: Some(r.created_at),
                }
            })
            .collect())
    }
}

#[async_trait]
impl EventSink for InMemory {
    async fn emit(&self, event: &Event) -> Result<(), AdapterError> {
        let mut w = self.world();
        let now = w.now;
        w.cluster.events.push((now, event.clone()));
        Ok(())
    }
}
