//! The Rollout: spec/status types, validation, replica math and the rollout machine (issue #3).
//!
//! - [`spec`] / [`status`]: serde types for `argoproj.io/v1alpha1` Rollouts.
//! - [`validation`]: every spec problem with its field path, upstream wording.
//! - [`replicas`]: pure replica math (basic canary, traffic-routed, DSS, minPods, thresholds).
//! - [`hash`]: step hash and pod-template hash.
//! - [`args`]: Rollout-side analysis argument resolution.
//! - [`config_deps`]: the ConfigMaps and Secrets a pod template needs and which ReplicaSets'
//!   needs are protected (rollback-safe config).
//! - [`observed`]: the machine's input: the observed snapshot and the coordinator inputs.
//! - [`decision`]: the machine's output: the decision, its actions and events.
//! - [`phase`]: `status.phase` / `status.message` (upstream `CalculateRolloutPhase`) and what a
//!   reader shows for a Rollout object (upstream `GetRolloutPhase`, [`rollout_phase`]).
//! - [`dry_run`]: which actions a dry run withholds and the `DryRun` condition it records.
//! - [`migration`]: the hand-over from a Deployment (`workloadRef`) and the way back, as plans.
//! - [`group`]: grouped rollouts: a member's coordinator inputs from every member's state.
//! - [`policy`]: trigger-aware policy: step profile, dry-run analysis and hold-on-failure per trigger.
//! - [`cost`]: the cost of safety (`status.cost`): extra pod-seconds and wall time of an update.
//! - [`why`]: the structured cause of every abort, hold and degraded condition (`status.why`).
//! - [`feedback`]: one sentence for people rendered from those causes (`status.feedback`).
//! - [`machine`]: the state machine, [`reconcile`] (and [`machine::reconcile_prepared`] with
//!   spec-derived values cached per generation).
//!
//! Deliberate differences from upstream Argo Rollouts (each covered by a test):
//! - `workloadRef.scaleDown` drains the referenced Deployment on any revision until the
//!   migration completes, not only at revision 1 (upstream #4935).
//! - Dynamic stable scale abort drain compares step sizes after `minPodsPerReplicaSet`, which
//!   avoids an aborted canary that never drains.
//! - The basic-canary scale-up budget is clamped at 0 (never shrinks the stable through the
//!   scale-up path), so the availability floor holds after `spec.replicas` shrinks.
//! - `experiment` and step `plugin` steps are parsed and validated but reported as
//!   `InvalidSpec` (Unsupported) instead of being skipped; `setHeaderRoute`/`setMirrorRoute`
//!   complete immediately (as upstream) but no route action is emitted yet.
//! - The pod-template hash is FNV-1a over key-sorted JSON (Go's struct order cannot be
//!   reproduced for an opaque template); ReplicaSets with an equal template are adopted
//!   whatever their hash, so switching controllers does not start a new rollout. The step
//!   hash is byte-compatible with upstream.
//! - `spec.replicas` absent is read as 1; the machine does not write it back into the spec.
//! - `spec.restartAt` pods are evicted only when the driver lists them (`Observed::pods`); a
//!   driver that cannot leaves the restart pending rather than claiming it done.
//! - Not modelled yet: scaling events via the `desired-replicas` annotation, ALB weight verification calls (a recorded `verified:
//!   false` still blocks a step), AnalysisRun history limits, ephemeral metadata.

pub mod args;
pub mod config_deps;
pub mod cost;
pub mod decision;
pub mod dry_run;
pub mod failures;
pub mod feedback;
pub mod group;
pub mod hash;
pub mod machine;
pub mod migration;
pub mod observed;
pub mod phase;
pub mod policy;
pub mod replicas;
pub mod routing;
pub mod spec;
pub mod status;
pub mod validation;
pub mod why;

pub use config_deps::{ConfigKind, ConfigRef};
pub use decision::*;
pub use machine::reconcile;
pub use observed::*;
pub use phase::{calculate_phase, rollout_phase};
pub use spec::*;
pub use status::*;
pub use validation::{FieldError, FieldErrorKind, validate};
pub use why::{Cause, DecidingMetric, Why};

/// Annotation holding a Rollout's or ReplicaSet's revision.
pub const REVISION_ANNOTATION: &str = "rollout.argoproj.io/revision";
