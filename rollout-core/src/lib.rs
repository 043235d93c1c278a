//! # rollout-core
//!
//! Progressive delivery as a pure, sans-IO state machine, compatible with Argo Rollouts
//! (`argoproj.io/v1alpha1`). This crate performs no IO, reads no clock and starts no runtime:
//! callers pass an observed snapshot and `now`, and get back the new status, the actions to
//! perform and the time at which to call again. The loop that observes, calls the machines,
//! carries out their actions and persists status is the `rollout-driver` crate; drivers (the
//! Kubernetes controller, the in-memory simulator, your own operator) implement its adapter traits.
//!
//! The API most embedders need is re-exported here: [`reconcile`] (one Rollout decision) and
//! [`step`] (one AnalysisRun decision) with their inputs and outputs. The modules hold the rest
//! (validation details, replica math, router functions, judge input building).
//!
//! Map of the crate:
//! - [`common`]: small shared value types (durations, `IntOrString`, timestamps).
//! - [`rollout`]: Rollout spec/status types, validation, replica math and the rollout machine.
//! - [`analysis`]: AnalysisTemplate/AnalysisRun types, run creation, conditions and the run machine.
//! - [`fleet`]: release plans in waves over many environments, failure classification and the
//!   sequential release-issue test.
//! - `testing` (feature `testing`): proptest strategies, invariant checks and a fake cluster
//!   for property-testing your own rollout specs and drivers.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod analysis;
pub mod common;
pub mod fleet;
pub mod rollout;
#[cfg(feature = "testing")]
pub mod testing;

pub use analysis::{
    AnalysisPhase, AnalysisRun, AnalysisRunStatus, AnalysisTemplate, Measurement, MeasurementResult,
    MeasurementTask, RunStep, finish_measurement, step,
};
pub use common::Timestamp;
pub use rollout::{
    Action, Cause, Decision, Event, Inputs, Observed, Rollout, RolloutPhase, RolloutStatus, Why, reconcile,
    validate,
};
