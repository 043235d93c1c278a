//! AnalysisTemplate, ClusterAnalysisTemplate and AnalysisRun: types, run creation, conditions and the
//! run machine (issue #4).

mod phase;

pub use phase::AnalysisPhase;
