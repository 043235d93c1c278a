//! Benchmarks of issue #5: a fresh-instance evaluation of the Rust reference judge on a
//! 100-sample input, the same logic compiled natively, and loading from the precompiled cache
//! versus compiling, and fresh-instance evaluations of the same reference logic written in C,
//! Python and JavaScript.
//!
//! Run: `cargo bench -p analysis-host --bench evaluate`. Every judge is timed only after its
//! verdict is checked ([`checked`]): neither the judge's own `err` nor an `Error` verdict (a judge
//! rejecting its input or config) may be timed as an evaluation. The Python and JavaScript components are too
//! large to commit; they are read from `$ROLLOUT_REBUILT_JUDGES` (set by `scripts/setup`, default
//! `~/.cache/rollout/judges-rebuilt`) and skipped with a message when absent. Their compiled code is
//! cached in `~/.cache/rollout/bench-cwasm`, so only the first run pays the compile.

use std::hint::black_box;
use std::path::PathBuf;

use analysis_host::{Evaluation, HostConfig, JudgeHost, LoadOptions, LoadedJudge};
use criterion::{Criterion, criterion_group, criterion_main};
use rollout_core::analysis::judge::{JudgeInput, JudgeVerdict, RatioPoint, Series, VerdictPhase};

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

/// One evaluation of `judge` on `input` that really judged: the judge's own `err` or an `Error`
/// verdict (a rejected input or config, which returns early) is a failure of the bench, since
/// timing it would time the wrong path.
fn checked(
    label: &str,
    judge: &LoadedJudge,
    input: &JudgeInput,
) -> Result<(Evaluation, JudgeVerdict), String> {
    let evaluation = judge
        .evaluate(input)
        .map_err(|e| format!("{label}: evaluation failed: {e}"))?;
    let verdict = match &evaluation.outcome {
        Ok(v) if v.phase != VerdictPhase::Error => v.clone(),
        Ok(v) => return Err(format!("{label}: Error verdict {}: {}", v.code, v.reason)),
        Err(e) => return Err(format!("{label}: the judge answered with its own error: {e}")),
    };
    Ok((evaluation, verdict))
}

fn evaluate(c: &mut Criterion) {
    let host = JudgeHost::new(HostConfig::default()).expect("host");
    let judge = host
        .load_bytes(&component(), &LoadOptions::default())
        .expect("reference judge");
    let input = input();
    let sdk = sdk_input(&input);
    if let Err(e) = checked("rust-error-ratio.wasm", &judge, &input) {
        panic!("{e}");
    }
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
        if let Err(e) = checked(language, &judge, &input) {
            eprintln!("skipping {e}");
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
/// verdict is checked first ([`checked`]) and printed with its peak memory and fuel.
///
/// With `ROLLOUT_JUDGES_BEFORE=DIR` (e.g. a copy of `plugins/dist` taken before a change) each
/// component found there is timed too, as `before/<name>`, interleaved with the current one in
/// the same group, so before and after come from one invocation under the same load.
fn shipped(c: &mut Criterion) {
    let dist = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist");
    let before = std::env::var_os("ROLLOUT_JUDGES_BEFORE").map(PathBuf::from);
    let host = JudgeHost::new(HostConfig::default()).expect("host");
    let mut group = c.benchmark_group("fresh-instance-50-windows");
    let next = shipped_inputs::shipped(shipped_inputs::WINDOWS + 1);
    for ((file, input), (_, next)) in shipped_inputs::shipped(shipped_inputs::WINDOWS)
        .into_iter()
        .zip(next)
    {
        let builds = [("", Some(dist.clone())), ("before/", before.clone())];
        for (prefix, dir) in builds {
            let Some(bytes) = dir.and_then(|d| std::fs::read(d.join(file)).ok()) else {
                assert!(!prefix.is_empty(), "{file} not in plugins/dist");
                continue;
            };
            let judge = host.load_bytes(&bytes, &LoadOptions::default()).expect("loads");
            let label = format!("{prefix}{}", file.trim_end_matches(".wasm"));
            time_judge(&mut group, &label, bytes.len(), &judge, &input, next.clone());
        }
    }
    group.finish();
}

/// Times `judge` on `input` and, when it keeps state, on `next` with the state it returned.
fn time_judge(
    group: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
    label: &str,
    size: usize,
    judge: &LoadedJudge,
    input: &JudgeInput,
    mut next: JudgeInput,
) {
    let (first, verdict) = checked(label, judge, input).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{label}: {size} bytes, verdict {:?} {:?}, peak memory {} KiB, {} instructions",
        verdict.phase,
        verdict.code,
        first.peak_memory_bytes / 1024,
        first.instructions
    );
    group.bench_function(label, |b| {
        b.iter(|| black_box(judge.evaluate(black_box(input)).map(|e| e.instructions)))
    });
    // A judge that keeps state folds only the new window into it: the steady-state cost of an
    // evaluation in a run (the one above is the first, or one after a long initial delay).
    let Some(state) = verdict.state.clone() else {
        return;
    };
    next.state = Some(state);
    let (carried, verdict) = checked(label, judge, &next).unwrap_or_else(|e| panic!("{e}"));
    eprintln!(
        "{label} +1 window on carried state: verdict {:?} {:?}, peak memory {} KiB, {} instructions",
        verdict.phase,
        verdict.code,
        carried.peak_memory_bytes / 1024,
        carried.instructions
    );
    group.bench_function(format!("{label} +1 window on carried state"), |b| {
        b.iter(|| black_box(judge.evaluate(black_box(&next)).map(|e| e.instructions)))
    });
}

criterion_group!(benches, evaluate, load, other_languages, shipped);
criterion_main!(benches);
