//! The adapter contracts: the only things a driver implements. Keep adapters dumb: no decisions,
//! just IO. Every method gets the Rollout it acts for, so one adapter value can serve many.
//!
//! | contract | reads | writes |
//! |---|---|---|
//! | [`RolloutStore`] | the Rollout | its status |
//! | [`Workloads`] | ReplicaSets, Services, the `workloadRef` target, needed ConfigMaps/Secrets, pods (restarts) | their replicas, selectors, annotations; config protection; pod evictions |
//! | [`TrafficRouter`] | — | route weights |
//! | [`AnalysisRuns`] | the Rollout's AnalysisRuns | create / terminate / delete |
//! | [`EventSink`] | — | events |
//! | [`RunStore`] | a run's weight timeline | a run's status |
//! | [`Secrets`] | `secretKeyRef` values | — |

use std::sync::Arc;

use async_trait::async_trait;
use rollout_core::analysis::judge::WeightPoint;
use rollout_core::analysis::{AnalysisRun, AnalysisRunStatus, MeasurementRequest, ProviderError};
use rollout_core::rollout::routing::{HeaderRoute, MirrorRoute};
use rollout_core::rollout::{
    Action, AnalysisRunRequest, ConfigRef, Event, ObservedAnalysisRun, ObservedConfig, ObservedPod,
    ObservedReplicaSet, ObservedService, ObservedWorkload, Rollout, RolloutStatus,
};

/// The error type adapters keep as the source of a failed request.
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// An adapter failure, with enough context to log, retry and record.
#[derive(Debug, thiserror::Error)]
pub enum AdapterError {
    /// The object does not exist (any more).
    #[error("{kind} {name:?} not found")]
    NotFound {
        /// Object kind.
        kind: String,
        /// Object name.
        name: String,
    },
    /// Optimistic-concurrency conflict; re-observe and call the machine again.
    #[error("conflict updating {kind} {name:?}: {message}")]
    Conflict {
        /// Object kind.
        kind: String,
        /// Object name.
        name: String,
        /// Server message.
        message: String,
    },
    /// The adapter does not handle this action (e.g. a router without header routes).
    #[error("unsupported action: {0}")]
    Unsupported(String),
    /// A request failed (refused by the server, transport, permissions...).
    #[error("{what}: {source}")]
    Request {
        /// The request, e.g. `create ReplicaSet ns/name`.
        what: String,
        /// The server's machine-readable reason (`Forbidden`, `Invalid`, ...) or `RequestFailed`.
        reason: String,
        /// The underlying error.
        #[source]
        source: BoxError,
    },
    /// Anything else.
    #[error("{0}")]
    Other(String),
}

/// Whether a write changed something (for write counts and metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// One write was made.
    Written,
    /// Nothing needed writing (already so, or already gone).
    Unchanged,
}

/// The Rollout as the store holds it.
#[derive(Debug, Clone, PartialEq)]
pub enum Loaded {
    /// The Rollout no longer exists.
    Gone,
    /// The Rollout, read as the core's type.
    Valid(Arc<Rollout>),
    /// The object exists but its spec cannot be read as the core's type.
    Invalid {
        /// Its status as stored (read leniently; default when unreadable too).
        status: Box<RolloutStatus>,
        /// Why the spec cannot be read.
        message: String,
        /// `metadata.generation`: an unreadable spec is still an observed one (upstream sets
        /// `status.observedGeneration` on this path, and Argo CD's health check reads it).
        generation: Option<i64>,
    },
}

/// Reads the Rollout and writes its status.
#[async_trait]
pub trait RolloutStore: Send + Sync {
    /// The Rollout as it is now (read fresh: never decide on a stale status).
    async fn load(&self) -> Result<Loaded, AdapterError>;
    /// Writes `after` where it differs from `before` (the status [`load`](Self::load) returned);
    /// returns whether anything was written.
    async fn persist(&self, before: &RolloutStatus, after: &RolloutStatus) -> Result<bool, AdapterError>;
}

/// ReplicaSets, Services and the `workloadRef` target.
#[async_trait]
pub trait Workloads: Send + Sync {
    /// The ReplicaSets owned by the Rollout.
    async fn list_replica_sets(&self, ro: &Rollout) -> Result<Vec<ObservedReplicaSet>, AdapterError>;
    /// Services referenced by the strategy (default: none).
    async fn list_services(&self, _ro: &Rollout) -> Result<Vec<ObservedService>, AdapterError> {
        Ok(Vec::new())
    }
    /// The referenced workload, if any (default: none).
    async fn referenced_workload(&self, _ro: &Rollout) -> Result<Option<ObservedWorkload>, AdapterError> {
        Ok(None)
    }
    /// The ConfigMaps and Secrets in `objects` (what the ReplicaSets need), each present or
    /// missing (rollback-safe config). Default: none looked up, so nothing is missing or
    /// protected.
    async fn observe_config(
        &self,
        _ro: &Rollout,
        _objects: &[ConfigRef],
    ) -> Result<Vec<ObservedConfig>, AdapterError> {
        Ok(Vec::new())
    }
    /// Protects `object` for the ReplicaSet `replica_set` (`ProtectConfig`). Default: refused;
    /// the machine only asks for objects [`observe_config`](Self::observe_config) returned.
    async fn protect_config(
        &self,
        _ro: &Rollout,
        object: &ConfigRef,
        replica_set: &str,
    ) -> Result<Applied, AdapterError> {
        Err(AdapterError::Unsupported(format!(
            "protecting {object} for ReplicaSet {replica_set}"
        )))
    }
    /// Removes that protection (`UnprotectConfig`); an object that is gone or not protected by
    /// `replica_set` counts as done. Default: refused.
    async fn unprotect_config(
        &self,
        _ro: &Rollout,
        object: &ConfigRef,
        replica_set: &str,
    ) -> Result<Applied, AdapterError> {
        Err(AdapterError::Unsupported(format!(
            "unprotecting {object} for ReplicaSet {replica_set}"
        )))
    }
    /// The pods of `replica_sets` (the Rollout's), listed while a `spec.restartAt` restart is
    /// pending. Default: `None`, the adapter cannot list pods; the core then evicts nothing and
    /// leaves the restart pending (phase `Progressing`, "rollout is restarting") while any
    /// ReplicaSet has pods, rather than claim pods restarted that it never saw.
    async fn list_pods(
        &self,
        _ro: &Rollout,
        _replica_sets: &[ObservedReplicaSet],
    ) -> Result<Option<Vec<ObservedPod>>, AdapterError> {
        Ok(None)
    }
    /// Evicts the pod `name` of `replica_set` (`EvictPod`). A pod already gone, or whose eviction
    /// a PodDisruptionBudget refuses (HTTP 429), counts as `Unchanged`: the restarter checks
    /// again. Default: refused (only asked for pods [`list_pods`](Self::list_pods) returned).
    async fn evict_pod(&self, _ro: &Rollout, name: &str, replica_set: &str) -> Result<Applied, AdapterError> {
        Err(AdapterError::Unsupported(format!(
            "evicting pod {name} of ReplicaSet {replica_set}"
        )))
    }
    /// Applies a ReplicaSet/Service/workload action (`CreateReplicaSet`,
    /// `CreateBaselineReplicaSet`, `ScaleReplicaSet`, `SetScaleDownDeadline`,
    /// `SetReplicaSetRevision`, `DeleteReplicaSet`, `SetServiceSelector`, `ScaleWorkload`).
    async fn apply(&self, ro: &Rollout, action: &Action) -> Result<Applied, AdapterError>;
}

/// The traffic router (Gateway API, Istio, NGINX, SMI, ALB, a plugin...).
#[async_trait]
pub trait TrafficRouter: Send + Sync {
    /// Points canary/stable destinations at the given hashes and sets the canary weight.
    async fn set_weight(
        &self,
        ro: &Rollout,
        canary_hash: &str,
        stable_hash: &str,
        weight: i32,
    ) -> Result<Applied, AdapterError>;
    /// Whether the router reports the weight as applied (`None` = cannot verify).
    async fn verify_weight(&self, _ro: &Rollout, _weight: i32) -> Result<Option<bool>, AdapterError> {
        Ok(None)
    }
    /// Sets (or, without match, removes) a `setHeaderRoute` managed route (issue #15). Routers
    /// without header routes refuse: the step then does not complete.
    async fn set_header_route(&self, _ro: &Rollout, route: &HeaderRoute) -> Result<Applied, AdapterError> {
        Err(AdapterError::Unsupported(format!(
            "setHeaderRoute {:?}",
            route.name
        )))
    }
    /// Sets (or, without match, removes) a `setMirrorRoute` managed route (issue #15).
    async fn set_mirror_route(&self, _ro: &Rollout, route: &MirrorRoute) -> Result<Applied, AdapterError> {
        Err(AdapterError::Unsupported(format!(
            "setMirrorRoute {:?}",
            route.name
        )))
    }
    /// Removes the managed routes named in `routes` (issue #15); nothing to remove is success.
    async fn remove_managed_routes(&self, _ro: &Rollout, routes: &[String]) -> Result<Applied, AdapterError> {
        Err(AdapterError::Unsupported(format!(
            "removing managed routes {routes:?}"
        )))
    }
}

/// Creates, observes, terminates and deletes the Rollout's AnalysisRuns.
#[async_trait]
pub trait AnalysisRuns: Send + Sync {
    /// The runs owned by the Rollout.
    async fn list(&self, ro: &Rollout) -> Result<Vec<ObservedAnalysisRun>, AdapterError>;
    /// Creates a run (templates are resolved by the adapter, e.g. with
    /// `rollout_core::analysis::new_run_from_templates`); an existing run counts as created.
    async fn create(&self, ro: &Rollout, request: &AnalysisRunRequest) -> Result<Applied, AdapterError>;
    /// Requests termination of a run; a run that is gone counts as terminated.
    async fn terminate(&self, ro: &Rollout, name: &str) -> Result<Applied, AdapterError>;
    /// Deletes a run (run history limits); a run that is already gone counts as deleted.
    async fn delete(&self, ro: &Rollout, name: &str) -> Result<Applied, AdapterError>;
}

/// Where events go (Kubernetes Events, logs, a test vector).
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Records one event about `ro`.
    async fn emit(&self, ro: &Rollout, event: &Event) -> Result<(), AdapterError>;
}

/// An AnalysisRun's status store and the canary weight timeline its judges see.
#[async_trait]
pub trait RunStore: Send + Sync {
    /// Writes `after` where it differs from the run's status; returns whether anything was written.
    async fn persist(&self, run: &AnalysisRun, after: &AnalysisRunStatus) -> Result<bool, AdapterError>;
    /// The canary weight timeline of the run's Rollout (`MeasurementRequest.weights`); empty when
    /// unknown.
    fn weights(&self, _run: &AnalysisRun) -> Vec<WeightPoint> {
        Vec::new()
    }
}

/// Resolves `secretKeyRef` args for a provider call. The resolved request goes to the provider
/// only; statuses, events and logs see the placeholder.
#[async_trait]
pub trait Secrets: Send + Sync {
    /// `request` with secret args resolved (and substituted into the metric).
    async fn resolve(&self, request: &MeasurementRequest) -> Result<MeasurementRequest, ProviderError>;
}

/// A driver without secrets: requests pass unchanged.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSecrets;

#[async_trait]
impl Secrets for NoSecrets {
    async fn resolve(&self, request: &MeasurementRequest) -> Result<MeasurementRequest, ProviderError> {
        Ok(request.clone())
    }
}
