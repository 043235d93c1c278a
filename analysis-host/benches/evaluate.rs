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

mod shipped_inputs;
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

/// Every Rust and C component we ship (the two reference judges and the five judges), fresh
/// instance per evaluation, on realistic 50-window inputs, in one group on one host. Each judge's
/// verdict is checked first and printed with its peak memory and fuel: a judge answering with its
/// own error would time the wrong path.
fn shipped(c: &mut Criterion) {
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
    let host = JudgeHost::new(HostConfig::default()).expect("host");
    let mut group = c.benchmark_group("fresh-instance-50-windows");
    let next = shipped_inputs::shipped(shipped_inputs::WINDOWS + 1);
    for ((file, input), (_, mut next)) in shipped_inputs::shipped(shipped_inputs::WINDOWS)
        .into_iter()
        .zip(next)
    {
        let bytes = std::fs::read(dist.join(file)).expect("component in plugins/dist");
        let judge = host.load_bytes(&bytes, &LoadOptions::default()).expect("loads");
        let first = judge.evaluate(&input).expect("evaluates");
        let verdict = match &first.outcome {
            Ok(v) => v,
            Err(e) => panic!("{file}: the judge answered with its own error: {e}"),
        };
        eprintln!(
            "{file}: {} bytes, verdict {:?} {:?}, peak memory {} KiB, {} instructions",
            bytes.len(),
            verdict.phase,
            verdict.code,
            first.peak_memory_bytes / 1024,
            first.instructions
        );
        group.bench_function(file.trim_end_matches(".wasm"), |b| {
            b.iter(|| black_box(judge.evaluate(black_box(&input)).map(|e| e.instructions)))
        });
        // A judge that keeps state folds only the new window into it: the steady-state cost of an
        // evaluation in a run (the one above is the first, or one after a long initial delay).
        let Some(state) = verdict.state.clone() else {
            continue;
        };
        next.state = Some(state);
        let carried = judge.evaluate(&next).expect("evaluates");
        let verdict = carried.outcome.as_ref().expect("verdict on carried state");
        eprintln!(
            "{file} +1 window on carried state: verdict {:?} {:?}, {} instructions",
            verdict.phase, verdict.code, carried.instructions
        );
        let name = format!("{} +1 window on carried state", file.trim_end_matches(".wasm"));
        group.bench_function(name, |b| {
            b.iter(|| black_box(judge.evaluate(black_box(&next)).map(|e| e.instructions)))
        });
    }
    group.finish();
}

criterion_group!(benches, evaluate, load, other_languages, shipped);
criterion_main!(benches);
