//! The phase of an analysis run, a metric or a measurement.

use serde::{Deserialize, Serialize};

/// Phase of an AnalysisRun, one of its metrics, or one measurement (upstream `AnalysisPhase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub enum AnalysisPhase {
    /// Not started yet.
    #[default]
    Pending,
    /// In progress.
    Running,
    /// Finished and passed.
    Successful,
    /// Finished and failed.
    Failed,
    /// Finished with errors.
    Error,
    /// Finished without a clear verdict.
    Inconclusive,
}

impl AnalysisPhase {
    /// Whether this phase is final (upstream `Completed()`).
    pub fn is_completed(self) -> bool {
        !matches!(self, AnalysisPhase::Pending | AnalysisPhase::Running)
    }
}
