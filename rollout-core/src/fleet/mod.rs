//! Fleet releases: one version to many environments in waves, each wave gated on the outcomes so
//! far, with every failure classified as a release issue, an environment issue or transient.
//!
//! Pure like the rest of the crate: callers pass the outcomes they observed (each built from a
//! Rollout's phase and typed causes, [`EnvironmentOutcome::from_status`]) and get back the fleet's
//! health and the decision for the next wave.
//!
//! - [`plan`]: [`ReleasePlan`] (waves as percentages or named rings, per-wave gates, the test's
//!   parameters), its validation with field paths, and [`assign_waves`].
//! - [`outcome`]: [`EnvironmentOutcome`] and [`OutcomeKind`].
//! - [`sprt`]: the release-issue test (Wald's binomial SPRT, valid under repeated looks) and its
//!   [`SequentialEvidence`].
//! - [`audit`]: the audit of updates that were not promoted: false-alarm and miss rates per
//!   template and judge ([`audit::audit`]).
//! - [`brake`]: the fleet brake: release holds every controller obeys ([`Brake`]).
//! - [`classify`]: [`attribute`], [`assess`] (fleet health) and [`decide`] (wave gating).

pub mod audit;
pub mod brake;
pub mod classify;
pub mod outcome;
pub mod plan;
pub mod sprt;

pub use brake::{Brake, BrakeError, FleetHoldCause, Hold, HoldMatch, HoldSelector};
pub use classify::{
    Decision, EnvironmentReason, FailureClass, FleetHealth, HaltReason, HealthCounts, HoldReason,
    TransientReason, assess, attribute, decide,
};
pub use outcome::{EnvironmentHistory, EnvironmentOutcome, OutcomeKind};
pub use plan::{ClassificationPolicy, Gate, ReleasePlan, ReleaseTest, Wave, WaveAssignment, assign_waves};
pub use sprt::{SequentialEvidence, sprt};
