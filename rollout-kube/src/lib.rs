//! # rollout-kube
//!
//! The Kubernetes driver for [`rollout_core`]: kube-rs resources for Argo's `argoproj.io/v1alpha1`
//! kinds, the API-server adapters of [`rollout_driver`]'s contracts (the observe → decide → act →
//! persist loop is the driver's, not this crate's), a controller that runs that loop per Rollout
//! and AnalysisRun, and the analysis providers that need the cluster (issue #8).
//!
//! Map of the crate:
//! - [`resources`]: Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun as kube resources.
//! - [`adapters`]: rollout-driver's contracts on the API server (status store, workloads, runs,
//!   traffic router dispatch, events).
//! - [`reconciler`]: one reconcile (a driver tick + weight timeline + events), usable in your own loop.
//! - [`analysis`]: AnalysisRuns driven by the run driver with the host's providers; the `job`
//!   provider; `secretKeyRef` args.
//! - [`audit`]: `rollout fleet audit`: entries from the AnalysisRuns and Rollouts, and review marks.
//! - [`merge_patch`]: merge patches of only the changed fields (status writes).
//! - [`snapshot`]: the observed snapshot (owned ReplicaSets/AnalysisRuns, Services, workloadRef).
//! - [`owner_index`]: owner uid → cached ReplicaSets/AnalysisRuns, kept from the watch events.
//! - [`controller`]: the `kube::runtime` controller: watches, concurrency, backoff, events, metrics.
//! - [`group`]: grouped rollouts: members from the Rollout cache, per-Rollout group inputs.
//! - [`events`]: one Kubernetes Event per transition the core reports.
//! - [`fleet_brake`]: the fleet brake ConfigMap: add/remove/list holds, the controller's watch.
//! - [`policy`]: the trigger policy ConfigMap (`rollout-policy`) the controller watches and applies.
//! - [`fleet_status`]: the fleet view of `rollout fleet status` (release outcomes from Prometheus or Rollouts).
//! - [`metrics`]: Prometheus metrics, with Argo Rollouts' per-object series behind a flag.
//! - [`router`]: traffic routers behind the core's trait: Gateway API `HTTPRoute` weights.
//! - [`weights`]: the canary weight timeline kept on each AnalysisRun for `exposure: weights` judges.
//! - [`sharding`]: shard label + one Lease per shard, so several replicas split the work.
//! - [`notify`]: webhook notifications of the feedback sentence (`status.feedback`), retried,
//!   at most once per sentence, never blocking a reconcile.
//! - [`migrate`]: `rollout migrate` / `rollout revert` on the API server (plans from the core).
//! - [`ops`]: `get`, `promote`, `abort`, `retry`, `pause` — the same patches as Argo's kubectl plugin.
//! - [`ratelimit`]: a client-side QPS/burst token bucket for `kube::Client`.
//! - [`manifests`]: CRDs, least-privilege RBAC, ServiceAccount and controller Deployment as YAML.
//! - `testenv` (feature `testenv`, for tests only): etcd + kube-apiserver (+ controller-manager) for tests.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod adapters;
pub mod analysis;
pub mod audit;
mod config_map_watch;
pub mod controller;
pub mod events;
pub mod fleet_brake;
pub mod fleet_status;
pub mod group;
pub mod manifests;
pub mod merge_patch;
pub mod metrics;
pub mod migrate;
pub mod notify;
pub mod ops;
pub mod owner_index;
pub mod policy;
pub mod ratelimit;
pub mod reconciler;
pub mod resources;
pub mod router;
pub mod sharding;
pub mod snapshot;
#[cfg(feature = "testenv")]
pub mod testenv;
pub mod weights;

pub use controller::{ControllerConfig, RolloutController};
pub use metrics::Metrics;
pub use reconciler::{Outcome, Reconciler};
