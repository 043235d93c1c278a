//! # rollout-sim
//!
//! Run rollouts without a cluster: the core's rollout machine and analysis run machine driven on a
//! simulated clock against an in-memory cluster, a per-version traffic and metrics model with
//! injected faults, a simulated Prometheus and real judges. Deterministic for a given seed.
//!
//! Map of the crate:
//! - [`scenario`]: the environment and faults, from YAML.
//! - [`model`]: traffic (Poisson arrivals, binomial errors, log-normal latencies) into series.
//! - [`promql`]: the in-memory series store and the PromQL subset it evaluates.
//! - [`provider`]: [`SimPrometheus`](provider::SimPrometheus), the `prometheus` provider of a
//!   simulation: `analysis-providers`' Prometheus provider over the in-memory evaluator.
//! - [`cluster`]: ReplicaSets, pods with start-up delays or crash loops, Services, router weight
//!   and managed routes.
//! - [`pods`]: the pod groups listed as pods and evicted one by one (`spec.restartAt`).
//! - [`config`]: ConfigMaps and Secrets the pods need, and their protection (rollback-safe config).
//! - [`adapters`]: `rollout-driver`'s adapter contracts implemented in memory over the Rollout,
//!   the cluster and the runs.
//! - [`driver`]: the simulation: `rollout-driver`'s Rollout and AnalysisRun loops on the simulated
//!   clock, the traffic, the faults and the log, to an outcome; [`simulate`] is the one-call entry.
//! - [`group`]: grouped Rollouts simulated side by side on one clock, in lockstep
//!   ([`simulate_group`](group::simulate_group)).
//! - [`log`]: the event log, timeline and report.
//! - [`report`]: the SVG / HTML timeline chart.
//! - [`fleet`]: fleet releases: a seeded fleet of environments released in waves with the core's
//!   failure classification and gating, to a report (text, JSON, HTML).
//! - [`power`]: detection power of a step plan: Monte-Carlo traffic into a judge (the real one
//!   behind [`PowerJudge`](power::PowerJudge)), per step, with flags and a cheaper proposal.
//! - `testing` (feature `testing`): proptest strategies for scenarios.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod adapters;
pub mod cluster;
pub mod config;
pub mod driver;
pub mod fleet;
pub mod group;
pub mod log;
pub mod model;
pub mod pods;
pub mod power;
pub mod promql;
pub mod provider;
pub mod report;
pub mod scenario;
#[cfg(feature = "testing")]
pub mod testing;

pub use driver::{SimError, SimInput, Simulation};
pub use log::{LogEvent, Outcome, SimReport};
pub use scenario::Scenario;

/// Runs a simulation to its outcome, calling `sink` for each event as it happens.
pub async fn simulate(input: SimInput, sink: &mut dyn FnMut(&LogEvent)) -> Result<SimReport, SimError> {
    Simulation::new(input).await?.run(sink).await
}
