//! AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun: types, run creation, conditions and the
//! run machine (issue #4).
//!
//! - [`types`]: serde types reading upstream YAML unchanged, plus our `judge` provider kind.
//! - [`provider`]: the async [`MeasurementProvider`] contract, keyed by provider name.
//! - [`judge`]: the [`Judge`](judge::Judge) contract (mirrors `analysis-sdk/wit/judge.wit`), a
//!   registry by name + sha256, the `judge` provider and a native judge.

pub mod judge;
mod phase;
pub mod provider;
pub mod types;

pub use phase::AnalysisPhase;
pub use provider::{MeasurementProvider, MeasurementRequest, Observation, ProviderError, Providers};
pub use types::*;
