//! Benchmarks of issue #5: a fresh-instance evaluation of the Rust reference judge on a
//! 100-sample input, the same logic compiled natively, and loading from the precompiled cache
//! versus compiling.
//!
//! Run: `cargo bench -p analysis-host --bench evaluate`.

use std::hint::black_box;
use std::path::PathBuf;

use analysis_host::{HostConfig, JudgeHost, LoadOptions};
use criterion::{Criterion, criterion_group, criterion_main};
use rollout_core::analysis::judge::{JudgeInput, RatioPoint, Series};

#[path = "../../plugins/rust-error-ratio/src/logic.rs"]
#[allow(dead_code)]
mod logic;

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

fn sdk_input(i: &JudgeInput) -> analysis_sdk::Input {
    use analysis_sdk as s;
    s::Input::new(s::EvaluationInput {
        metric: i.metric.clone(),
        now_ms: i.now_ms,
        series: i
            .series
            .iter()
            .map(|x| s::Series {
                name: x.name.clone(),
                points: vec![],
                ratios: x
                    .ratios
                    .iter()
                    .map(|r| s::RatioPoint {
                        time_ms: r.time_ms,
                        numerator: r.numerator,
                        denominator: r.denominator,
                    })
                    .collect(),
                buckets: vec![],
            })
            .collect(),
        weights: vec![],
        args: vec![],
        config: String::new(),
        state: None,
    })
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

criterion_group!(benches, evaluate, load);
criterion_main!(benches);
