//! The bundled Rollout and AnalysisTemplate (`examples/scenarios`) with the committed WebAssembly
//! judges: the registry searches `plugins/dist` for the digest the template pins, as
//! `rollout simulate` does.

// Shared by several test binaries (and the bench); each uses a part.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use analysis_host::{HostConfig, JudgeHost, WasmJudges};
use rollout_core::analysis::AnalysisTemplate;
use rollout_core::rollout::Rollout;
use rollout_sim::{Scenario, SimInput};

/// `examples/scenarios`.
pub const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/scenarios");

/// A file of `examples/scenarios`.
pub fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).unwrap()
}

/// One registry per test binary (components are compiled once).
pub fn judges() -> WasmJudges {
    static JUDGES: OnceLock<WasmJudges> = OnceLock::new();
    JUDGES
        .get_or_init(|| {
            let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
            WasmJudges::new(JudgeHost::new(HostConfig::default()).unwrap(), vec![dist])
        })
        .clone()
}

/// The bundled template (`error-ratio`).
pub fn template() -> AnalysisTemplate {
    serde_yaml::from_str(&read("analysis.yaml")).unwrap()
}

/// The bundled Rollout and template with `scenario`.
pub fn input(scenario: Scenario, seed: u64) -> SimInput {
    SimInput {
        rollout: serde_yaml::from_str::<Rollout>(&read("rollout.yaml")).unwrap(),
        templates: vec![template()],
        scenario,
        seed,
        judges: Arc::new(judges()),
        workload: None,
    }
}
