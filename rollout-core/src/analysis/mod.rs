//! AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun: types, run creation, conditions and the
//! run machine (issue #4).
//!
//! - [`types`]: serde types reading upstream YAML unchanged, plus our `judge` provider kind.
//! - [`create`]: building a run from templates and Rollout args; `{{args.x}}` substitution.
//! - [`validate`]: metric validation and dry-run / retention rules, with upstream's messages.
//! - [`condition`]: `successCondition` / `failureCondition` (expr-lang) and measurement phases.
//! - [`machine`]: the pure run machine: due measurements, metric and run phases, next wake-up.
//! - [`provider`]: what a measurement provider is asked ([`MeasurementRequest`]) and answers
//!   ([`Observation`], [`ProviderError`]); the async provider contract is in `rollout-driver`.
//! - [`judge`]: the judge's input and verdict (mirrors `analysis-sdk/wit/judge.wit`), building the
//!   input and recording the verdict for the `judge` provider, and a native judge.
//!
//! The driver loop, with a provider answered inline:
//!
//! ```
//! use rollout_core::analysis::{finish_measurement, step, AnalysisPhase, AnalysisRun, Observation};
//!
//! let mut run: AnalysisRun = serde_json::from_value(serde_json::json!({
//!     "metadata": {"name": "demo"},
//!     "spec": {"metrics": [{
//!         "name": "success-rate", "interval": "10s", "count": 2,
//!         "successCondition": "result[0] >= 0.95",
//!         "provider": {"prometheus": {"address": "http://prom:9090", "query": "up"}}
//!     }]}
//! })).unwrap();
//! let mut now: rollout_core::common::Timestamp = "2026-01-01T00:00:00Z".parse().unwrap();
//! let mut results = Vec::new();
//! loop {
//!     let out = step(&run, now, std::mem::take(&mut results));
//!     run.status = Some(out.status.clone());
//!     if out.status.phase.is_completed() {
//!         break;
//!     }
//!     for task in &out.tasks {
//!         // A real driver (rollout_driver::RunDriver) asks the metric's provider here.
//!         let observed = Ok(Observation::Result {
//!             result: vec![0.99].into(),
//!             value: "[0.99]".into(),
//!             metadata: Default::default(),
//!         });
//!         results.push(finish_measurement(&task.request, observed, now));
//!     }
//!     if results.is_empty() {
//!         now = out.next_wake.unwrap();
//!     }
//! }
//! let status = run.status.unwrap();
//! assert_eq!(status.phase, AnalysisPhase::Successful);
//! assert_eq!(status.metric_results[0].count, 2);
//! ```

pub mod condition;
pub mod create;
pub mod judge;
pub mod machine;
mod phase;
pub mod provider;
pub mod types;
pub mod validate;
mod value;

pub use create::{CreateError, new_run_from_templates, rollout_field_ref};
pub use machine::{MeasurementResult, MeasurementTask, RunStep, TaskKind, finish_measurement, step};
pub use phase::AnalysisPhase;
pub use provider::{
    ErrorSource, MeasurementRequest, Observation, ProviderError, ProviderErrorKind, Sample,
    terminated_observation,
};
pub use types::*;
pub use value::MetricValue;
