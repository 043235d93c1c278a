//! The Rollout: spec/status types, validation, replica math and the rollout machine (issue #3).
//!
//! - [`spec`] / [`status`]: serde types for `argoproj.io/v1alpha1` Rollouts.
//! - [`validation`]: every spec problem with its field path, upstream wording.
//! - [`replicas`]: pure replica math (basic canary, traffic-routed, DSS, minPods, thresholds).
//! - [`hash`]: step hash and pod-template hash.
//! - [`args`]: Rollout-side analysis argument resolution.
//! - [`observed`]: the observed snapshot, coordinator inputs, actions and decisions.
//! - [`machine`]: the state machine, [`reconcile`].

pub mod args;
pub mod hash;
pub mod machine;
pub mod observed;
pub mod replicas;
pub mod spec;
pub mod status;
pub mod validation;

pub use machine::reconcile;
pub use observed::*;
pub use spec::*;
pub use status::*;
pub use validation::{FieldError, FieldErrorKind, validate};

/// Annotation holding a Rollout's or ReplicaSet's revision.
pub const REVISION_ANNOTATION: &str = "rollout.argoproj.io/revision";
