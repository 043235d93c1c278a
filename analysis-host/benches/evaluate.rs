//! Benchmarks of issue #5: a fresh-instance evaluation of the Rust reference judge on a
//! 100-sample input, the same logic compiled natively, and loading from the precompiled cache
//! versus compiling, and fresh-instance evaluations of the same reference logic written in C,
//! Python and JavaScript.
//!
//! Run: `cargo bench -p analysis-host --bench evaluate`. The Python and JavaScript components are too
//! large to commit; they are read from `$ROLLOUT_REBUILT_JUDGES` (set by `scripts/setup`, default
//! `~/.cache/rollout/judges-rebuilt`) and skipped with a message when absent. Their compiled code is
//! cached in `~/.cache/rollout/bench-cwasm`, so only the first run pays the compile.

use std::hint::black_box;
use std::path::PathBuf;

use analysis_host::{HostConfig, JudgeHost, LoadOptions};
use criterion::{Criterion, criterion_group, criterion_main};
use rollout_core::analysis::judge::{JudgeInput, RatioPoint, Series};

#[path = "../../plugins/rust-error-ratio/src/logic.rs"]
#[allow(dead_code)]
mod logic;

#[path = "../tests/common/sdk.rs"]
mod sdk;
use sdk::sdk_input;

fn component() -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist/rust-error-ratio.wasm");
    std::fs::read(path).unwrap_or_default()
}

/// 100 samples: 50 ratio points per arm.
fn input() -> JudgeInput {
    let arm = |name: &str, errors: f64| Series {
        name: name.into(),
        ratios: (0..50)
            .map(|i| RatioPoint {
                time_ms: i * 10_000,
                numerator: errors,
                denominator: 100.0,
            })
            .collect(),
        ..Series::default()
    };
    JudgeInput {
        metric: "error-rate".into(),
        series: vec![arm("canary", 2.0), arm("stable", 1.0)],
        ..JudgeInput::default()
    }
}

fn evaluate(c: &mut Criterion) {
    let host = JudgeHost::new(HostConfig::default()).expect("host");
    let judge = host
        .load_bytes(&component(), &LoadOptions::default())
        .expect("reference judge");
    let input = input();
    let sdk = sdk_input(&input);
    let mut group = c.benchmark_group("evaluate-100-samples");
    group.bench_function("wasm-fresh-instance", |b| {
        b.iter(|| black_box(judge.evaluate(black_box(&input)).map(|e| e.instructions)))
    });
    group.bench_function("native", |b| {
        b.iter(|| black_box(logic::evaluate(black_box(&sdk)).is_ok()))
    });
    group.finish();
}

fn load(c: &mut Criterion) {
    let bytes = component();
    let dir = std::env::temp_dir().join(format!("analysis-host-bench-{}", std::process::id()));
    let cached = HostConfig {
        cache_dir: Some(dir.clone()),
        max_concurrent: 2,
        ..HostConfig::default()
    };
    let uncached = HostConfig {
        max_concurrent: 2,
        ..HostConfig::default()
    };
    let cached_host = JudgeHost::new(cached).expect("host");
    let uncached_host = JudgeHost::new(uncached).expect("host");
    let _ = cached_host.load_bytes(&bytes, &LoadOptions::default());
    let mut group = c.benchmark_group("load-reference-judge");
    group.sample_size(20);
    group.bench_function("compile", |b| {
        b.iter(|| black_box(uncached_host.load_bytes(&bytes, &LoadOptions::default()).is_ok()))
    });
    group.bench_function("precompiled-cache", |b| {
        b.iter(|| black_box(cached_host.load_bytes(&bytes, &LoadOptions::default()).is_ok()))
    });
    group.finish();
    let _ = std::fs::remove_dir_all(dir);
}

/// The reference judge in other languages: C (committed), Python and JavaScript (rebuilt).
fn other_languages(c: &mut Criterion) {
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
    let rebuilt = std::env::var_os("ROLLOUT_REBUILT_JUDGES")
        .map(PathBuf::from)
        .unwrap_or_else(|| home.join(".cache/rollout/judges-rebuilt"));
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
    let host = JudgeHost::new(HostConfig {
        cache_dir: Some(home.join(".cache/rollout/bench-cwasm")),
        ..HostConfig::default()
    })
    .expect("host");
    let input = input();
    let mut group = c.benchmark_group("evaluate-100-samples-by-language");
    for (language, path) in [
        ("c", dist.join("c-error-ratio.wasm")),
        ("python", rebuilt.join("python-error-ratio.wasm")),
        ("javascript", rebuilt.join("js-error-ratio.wasm")),
    ] {
        let Ok(bytes) = std::fs::read(&path) else {
            eprintln!(
                "skipping {language}: {} not found (run plugins/build)",
                path.display()
            );
            continue;
        };
        let judge = match host.load_bytes(&bytes, &LoadOptions::default()) {
            Ok(judge) => judge,
            Err(e) => {
                eprintln!("skipping {language}: {e}");
                continue;
            }
        };
        // Benchmark only a judge that really evaluates: an error path would measure the wrong thing.
        if let Err(e) = judge.evaluate(&input) {
            eprintln!("skipping {language}: evaluation failed: {e}");
            continue;
        }
        group.bench_function(format!("{language}-fresh-instance"), |b| {
            b.iter(|| black_box(judge.evaluate(black_box(&input)).map(|e| e.instructions)))
        });
    }
    group.finish();
}

criterion_group!(benches, evaluate, load, other_languages);
criterion_main!(benches);
