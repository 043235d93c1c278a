//! Shared helpers: paths of the committed components and small inputs.
#![allow(dead_code)]

use std::path::PathBuf;

pub mod sdk;

use analysis_host::{HostConfig, JudgeHost, LoadOptions, LoadedJudge};
use rollout_core::analysis::judge::{JudgeArg, JudgeInput, RatioPoint, Series};

/// `plugins/dist/<name>.wasm`.
pub fn dist(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../plugins/dist")
        .join(format!("{name}.wasm"))
}

/// A host with small limits so hostile tests finish fast.
pub fn small_host() -> JudgeHost {
    JudgeHost::new(HostConfig {
        fuel: 20_000_000,
        max_concurrent: 4,
        ..HostConfig::default()
    })
    .unwrap()
}

/// Loads `plugins/dist/<name>.wasm` with no pin and no WASI.
pub fn load(host: &JudgeHost, name: &str) -> LoadedJudge {
    host.load_file(&dist(name), &LoadOptions::default()).unwrap()
}

/// A series with one ratio point per (numerator, denominator).
pub fn ratios(name: &str, counts: &[(f64, f64)]) -> Series {
    Series {
        name: name.into(),
        ratios: counts
            .iter()
            .enumerate()
            .map(|(i, &(numerator, denominator))| RatioPoint {
                time_ms: i as i64 * 1000,
                numerator,
                denominator,
            })
            .collect(),
        ..Series::default()
    }
}

/// An input with the given series and args.
pub fn input(series: Vec<Series>, args: &[(&str, &str)]) -> JudgeInput {
    JudgeInput {
        metric: "error-rate".into(),
        now_ms: 1_700_000_000_000,
        series,
        args: args
            .iter()
            .map(|(n, v)| JudgeArg {
                name: n.to_string(),
                value: v.to_string(),
            })
            .collect(),
        config: "{}".into(),
        ..JudgeInput::default()
    }
}

/// A healthy input on which the reference judge says `successful`.
pub fn healthy() -> JudgeInput {
    input(
        vec![
            ratios("canary", &[(1.0, 100.0), (1.0, 100.0)]),
            ratios("stable", &[(2.0, 200.0)]),
        ],
        &[],
    )
}

/// Resident set size of this process in bytes (from /proc/self/statm).
pub fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap();
    let pages: u64 = statm.split_whitespace().nth(1).unwrap().parse().unwrap();
    pages * 4096
}
