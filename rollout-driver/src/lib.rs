//! # rollout-driver
//!
//! The one loop around [`rollout_core`]: **observe → decide → act → persist**, for Rollouts and
//! for AnalysisRuns, and the adapter contracts a driver implements. The Kubernetes controller
//! (`rollout-kube`), the simulator (`rollout-sim`) and your own operator all run through it; they
//! differ only in their adapters.
//!
//! Map of the crate:
//! - [`contracts`]: the adapter traits ([`RolloutStore`], [`Workloads`], [`TrafficRouter`],
//!   [`AnalysisRuns`], [`EventSink`], [`RunStore`], [`Secrets`]) and [`AdapterError`].
//! - [`GroupCoordinator`]: a grouped Rollout's inputs from its members ([`GroupMembers`]).
//! - [`RolloutDriver`]: one Rollout per [`tick`](RolloutDriver::tick): load, observe,
//!   [`reconcile`](rollout_core::rollout::reconcile), dispatch every action to its adapter,
//!   persist the status; the same failure policy for every driver. A driver rebuilt per tick
//!   carries its spec-derived values over in a [`Kept`].
//! - [`RunDriver`]: one AnalysisRun per [`tick`](RunDriver::tick): step the run machine, take the
//!   due measurements with the [`Providers`], step again, persist.
//! - `conformance` (feature): the scenario table every driver's tests run.
//! - [`providers`] and [`judges`]: the async measurement-provider and judge contracts, their
//!   registries, and the `judge` provider.
//!
//! Time is the caller's: each tick takes `now`, read once, and every decision and measurement of
//! that tick uses it. Ticks are plain futures: any executor runs them.
//!
//! The whole embedding loop, with adapters over an in-memory cluster (see `tests/embed.rs` for
//! the same loop with a failing router):
//!
//! ```
#![doc = include_str!("../examples/embed.rs")]
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

#[cfg(feature = "conformance")]
pub mod conformance;
pub mod contracts;
pub mod group;
pub mod judges;
pub mod providers;
mod rollout_loop;
mod run_loop;

pub use contracts::{
    AdapterError, AnalysisRuns, Applied, BoxError, EventSink, Loaded, NoSecrets, RolloutStore, RunStore,
    Secrets, TrafficRouter, Workloads,
};
pub use group::{GroupCoordinator, GroupMembers};
pub use judges::{Judge, JudgeProvider, JudgeRegistry, StaticJudges};
pub use providers::{MeasurementProvider, Providers};
pub use rollout_loop::{DriverError, Kept, Outcome, RolloutDriver, RolloutIo, action_kind};
pub use run_loop::{RunDriver, RunIo, RunOutcome, perform};
