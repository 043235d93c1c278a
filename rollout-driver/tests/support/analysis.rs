//! Helpers for the run-driver tests: runs from YAML, a fixed clock.
#![allow(dead_code)]

use rollout_core::analysis::AnalysisRun;
use rollout_core::common::Timestamp;

/// `t0 + secs`.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

/// A run from the YAML of its `spec`.
pub fn run(spec_yaml: &str) -> AnalysisRun {
    let spec = serde_yaml::from_str(spec_yaml).unwrap();
    AnalysisRun {
        metadata: rollout_core::analysis::ObjectMeta {
            name: "run".into(),
            ..Default::default()
        },
        spec,
        ..Default::default()
    }
}
