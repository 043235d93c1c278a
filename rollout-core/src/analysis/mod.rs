//! AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun: types, run creation, conditions and the
//! run machine (issue #4).
//!
//! - [`types`]: serde types reading upstream YAML unchanged, plus our `judge` provider kind.
//! - [`create`]: building a run from templates and Rollout args; `{{args.x}}` substitution.
//! - [`validate`]: metric validation and dry-run / retention rules, with upstream's messages.
//! - [`condition`]: `successCondition` / `failureCondition` (expr-lang) and measurement phases.
//! - [`machine`]: the pure run machine: due measurements, metric and run phases, next wake-up.
//! - [`provider`]: the async [`MeasurementProvider`] contract, keyed by provider name.
//! - [`judge`]: the [`Judge`](judge::Judge) contract (mirrors `analysis-sdk/wit/judge.wit`), a
//!   registry by name + sha256, the `judge` provider and a native judge.

pub mod condition;
pub mod create;
pub mod judge;
pub mod machine;
mod phase;
pub mod provider;
pub mod types;
pub mod validate;
mod value;

pub use create::{CreateError, new_run_from_templates};
pub use machine::{MeasurementResult, MeasurementTask, RunStep, TaskKind, finish_measurement, perform, step};
pub use phase::AnalysisPhase;
pub use provider::{MeasurementProvider, MeasurementRequest, Observation, ProviderError, Providers};
pub use types::*;
pub use value::MetricValue;
