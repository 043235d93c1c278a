//! Async traits that drivers (Kubernetes, in-memory simulation, your operator) implement to carry
//! out the actions the machines decide.
//!
//! The machine ([`crate::rollout::reconcile`]) returns plain [`Action`]s; a driver observes the
//! cluster through these traits, calls the machine, and hands each action to [`apply`], which
//! routes it to the right adapter. Keep adapters dumb: no decisions, just IO.
//!
//! ```
//! use rollout_core::adapters::*;
//! use rollout_core::rollout::{Action, ObservedReplicaSet};
//!
//! /// A driver that only logs (a dry run).
//! struct Log(std::sync::Mutex<Vec<String>>);
//! #[async_trait::async_trait]
//! impl Workloads for Log {
//!     async fn list_replica_sets(&self) -> Result<Vec<ObservedReplicaSet>, AdapterError> { Ok(vec![]) }
//!     async fn apply_workload_action(&self, a: &Action) -> Result<(), AdapterError> {
//!         self.0.lock().unwrap().push(format!("{a:?}"));
//!         Ok(())
//!     }
//! }
//! ```

use async_trait::async_trait;

use crate::rollout::{
    Action, AnalysisRunRequest, Event, Observed, ObservedAnalysisRun, ObservedReplicaSet, ObservedService,
    ObservedWorkload,
};

/// An adapter failure, with enough context to log and retry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
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
    /// Anything else (transport, permissions, ...).
    #[error("{0}")]
    Other(String),
}

/// ReplicaSets, Services and the `workloadRef` target.
#[async_trait]
pub trait Workloads: Send + Sync {
    /// The ReplicaSets owned by the Rollout.
    async fn list_replica_sets(&self) -> Result<Vec<ObservedReplicaSet>, AdapterError>;
    /// Services referenced by the strategy (default: none).
    async fn list_services(&self) -> Result<Vec<ObservedService>, AdapterError> {
        Ok(Vec::new())
    }
    /// The referenced workload, if any (default: none).
    async fn referenced_workload(&self) -> Result<Option<ObservedWorkload>, AdapterError> {
        Ok(None)
    }
    /// Applies a ReplicaSet/Service/workload action (`CreateReplicaSet`, `ScaleReplicaSet`,
    /// `SetScaleDownDeadline`, `SetReplicaSetRevision`, `DeleteReplicaSet`,
    /// `SetServiceSelector`, `ScaleWorkload`).
    async fn apply_workload_action(&self, action: &Action) -> Result<(), AdapterError>;
}

/// The traffic router (ALB, Istio, NGINX, SMI, Gateway API, a plugin...).
#[async_trait]
pub trait TrafficRouter: Send + Sync {
    /// Points canary/stable destinations at the given hashes and sets the canary weight.
    async fn set_weight(&self, canary_hash: &str, stable_hash: &str, weight: i32)
    -> Result<(), AdapterError>;
    /// Whether the router reports the weight as applied (`None` = cannot verify).
    async fn verify_weight(&self, _weight: i32) -> Result<Option<bool>, AdapterError> {
        Ok(None)
    }
}

/// Creates, observes and terminates AnalysisRuns.
#[async_trait]
pub trait AnalysisRunner: Send + Sync {
    /// Creates a run (templates are resolved by the runner, e.g. with [`crate::analysis`]).
    async fn create(&self, request: &AnalysisRunRequest) -> Result<(), AdapterError>;
    /// Requests termination of a run.
    async fn terminate(&self, name: &str) -> Result<(), AdapterError>;
    /// Deletes a run (run history limits); a run that is already gone counts as deleted.
    async fn delete(&self, name: &str) -> Result<(), AdapterError>;
    /// The runs owned by the Rollout.
    async fn list(&self) -> Result<Vec<ObservedAnalysisRun>, AdapterError>;
}

/// Where events go (Kubernetes Events, logs, a test vector).
#[async_trait]
pub trait EventSink: Send + Sync {
    /// Records one event.
    async fn emit(&self, event: &Event) -> Result<(), AdapterError>;
}

/// Gathers an [`Observed`] snapshot from the adapters.
pub async fn observe(
    workloads: &dyn Workloads,
    analysis: &dyn AnalysisRunner,
) -> Result<Observed, AdapterError> {
    Ok(Observed {
        replica_sets: workloads.list_replica_sets().await?,
        services: workloads.list_services().await?,
        analysis_runs: analysis.list().await?,
        workload: workloads.referenced_workload().await?,
    })
}

/// Routes one action to the adapter that performs it.
pub async fn apply(
    action: &Action,
    workloads: &dyn Workloads,
    router: Option<&dyn TrafficRouter>,
    analysis: &dyn AnalysisRunner,
    events: &dyn EventSink,
) -> Result<(), AdapterError> {
    match action {
        Action::SetTrafficWeight {
            canary_hash,
            stable_hash,
            weight,
        } => match router {
            Some(r) => r.set_weight(canary_hash, stable_hash, *weight).await,
            None => Err(AdapterError::Unsupported(
                "SetTrafficWeight without a traffic router".into(),
            )),
        },
        Action::CreateAnalysisRun(req) => analysis.create(req).await,
        Action::TerminateAnalysisRun { name } => analysis.terminate(name).await,
        Action::DeleteAnalysisRun { name } => analysis.delete(name).await,
        Action::Event(e) => events.emit(e).await,
        other => workloads.apply_workload_action(other).await,
    }
}
