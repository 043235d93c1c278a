//! Criterion benches: one evaluation of each shipped judge on realistic inputs.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use judge_stats::config::{JudgeConfig, decode_state, encode_state, parse_config};
use judge_stats::data::{Bucket, JudgeData, Point, RatioPoint, Series};
use judge_stats::special::SplitMix64;
use judge_stats::{error_ratio, kayenta, latency, pair, threshold};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The realistic inputs the WebAssembly bench gives the shipped judges (50 windows per arm).
#[path = "../../analysis-host/benches/shipped_inputs.rs"]
#[allow(dead_code)]
mod shipped_inputs;

/// One evaluation as the component glue runs it: parse the config and the state, judge, encode
/// the next state. Returns the phase, to be asserted.
fn glue<C, S>(
    input: &JudgeData,
    judge: fn(&JudgeData, &C, Option<S>) -> (judge_stats::Verdict, S),
    state: Option<&[u8]>,
) -> (judge_stats::Verdict, Vec<u8>)
where
    C: DeserializeOwned + Default + JudgeConfig,
    S: Serialize + DeserializeOwned,
{
    let config: C = parse_config(&input.config).unwrap_or_default();
    let st: Option<S> = decode_state(state).unwrap_or(None);
    let (v, next) = judge(input, &config, st);
    (v, encode_state(&next))
}

/// The shipped judges natively on the inputs of `analysis-host/benches/shipped_inputs.rs`: a
/// fresh evaluation on 50 windows per arm, and one more window on the carried state (glue
/// included: config, state decode and encode).
fn shipped(c: &mut Criterion) {
    type Run = fn(&JudgeData, Option<&[u8]>) -> (judge_stats::Verdict, Vec<u8>);
    let runs: [(&str, Run); 5] = [
        ("judge-error-ratio.wasm", |i, s| glue(i, error_ratio::judge, s)),
        ("judge-two-deployment.wasm", |i, s| glue(i, pair::judge, s)),
        ("judge-latency.wasm", |i, s| glue(i, latency::judge, s)),
        ("judge-kayenta.wasm", |i, s| glue(i, kayenta::judge, s)),
        ("judge-threshold.wasm", |i, s| glue(i, threshold::judge, s)),
    ];
    let first = shipped_inputs::shipped(shipped_inputs::WINDOWS);
    let next = shipped_inputs::shipped(shipped_inputs::WINDOWS + 1);
    let mut g = c.benchmark_group("shipped-50-windows");
    for (file, run) in runs {
        let (Some((_, input)), Some((_, more))) = (
            first.iter().find(|(f, _)| *f == file),
            next.iter().find(|(f, _)| *f == file),
        ) else {
            panic!("no shipped input for {file}");
        };
        let (v, state) = run(input, None);
        assert_ne!(v.phase, judge_stats::Phase::Error, "{file}: {}", v.reason);
        let (w, _) = run(more, Some(&state));
        assert_ne!(w.phase, judge_stats::Phase::Error, "{file}: {}", w.reason);
        println!(
            "{file}: fresh {:?} {}; next {:?} {}",
            v.phase, v.code, w.phase, w.code
        );
        let name = file.trim_end_matches(".wasm");
        g.bench_function(format!("{name}/fresh"), |b| {
            b.iter(|| run(black_box(input), None))
        });
        g.bench_function(format!("{name}/steady"), |b| {
            b.iter(|| run(black_box(more), Some(&state)))
        });
    }
    g.finish();
}

fn ratio(name: &str, windows: usize, e: f64, n: f64) -> Series {
    Series {
        name: name.into(),
        ratios: (0..windows)
            .map(|i| RatioPoint {
                time_ms: i as i64,
                numerator: e,
                denominator: n,
            })
            .collect(),
        ..Series::default()
    }
}

fn points(name: &str, n: usize, scale: f64) -> Series {
    Series {
        name: name.into(),
        points: (0..n)
            .map(|i| Point {
                time_ms: i as i64,
                value: scale * (1.0 + ((i * 7919) % 97) as f64 / 97.0),
            })
            .collect(),
        ..Series::default()
    }
}

fn bench(c: &mut Criterion) {
    // error-ratio: 100 windows folded into a fresh state (the worst case: a full-history query).
    let er = JudgeData {
        series: vec![
            ratio("canary", 100, 12.0, 1000.0),
            ratio("stable", 100, 10.0, 1000.0),
        ],
        ..JudgeData::default()
    };
    let cfg = error_ratio::Config::default();
    c.bench_function("error_ratio/100_windows_fresh", |b| {
        b.iter(|| error_ratio::judge(black_box(&er), &cfg, None))
    });
    // error-ratio: one new window on top of a state that has seen 100.
    let (_, st) = error_ratio::judge(&er, &cfg, None);
    let one = JudgeData {
        series: vec![
            ratio("canary", 101, 12.0, 1000.0),
            ratio("stable", 101, 10.0, 1000.0),
        ],
        ..JudgeData::default()
    };
    c.bench_function("error_ratio/incremental_window", |b| {
        b.iter(|| error_ratio::judge(black_box(&one), &cfg, Some(st.clone())))
    });
    // Without the Bayesian explanation, on equal 1% rates after 10,000 requests per arm: the
    // e-process, the confidence sequence and the projection of samples still needed (the verdict
    // is Inconclusive).
    let lean = error_ratio::Config {
        bayesian_details: false,
        ..error_ratio::Config::default()
    };
    let equal = |w| JudgeData {
        series: vec![ratio("canary", w, 10.0, 1000.0), ratio("stable", w, 10.0, 1000.0)],
        ..JudgeData::default()
    };
    let (_, lean_st) = error_ratio::judge(&equal(10), &lean, None);
    let eleventh = equal(11);
    c.bench_function("error_ratio/incremental_window_without_bayes", |b| {
        b.iter(|| error_ratio::judge(black_box(&eleventh), &lean, Some(lean_st.clone())))
    });

    let th = JudgeData {
        series: vec![points("canary", 60, 100.0), points("stable", 60, 100.0)],
        ..JudgeData::default()
    };
    let tcfg: threshold::Config = judge_stats::config::parse_config(
        r#"{"objectives":[{"name":"p99","aggregate":"p99","pass":["<=+10%","<500"],"warning":["<=+25%"]},
                          {"name":"mean","pass":["<300"]}]}"#,
    )
    .unwrap_or_default();
    c.bench_function("threshold/2_objectives_60_points", |b| {
        b.iter(|| threshold::judge(black_box(&th), &tcfg, None))
    });

    let ka = JudgeData {
        series: vec![points("canary", 60, 110.0), points("stable", 60, 100.0)],
        ..JudgeData::default()
    };
    let kcfg = kayenta::Config::default();
    c.bench_function("kayenta/1_metric_60_points", |b| {
        b.iter(|| kayenta::judge(black_box(&ka), &kcfg, None))
    });

    let h = |name: &str, slow: f64| Series {
        name: name.into(),
        buckets: vec![
            Bucket {
                upper_bound: 0.1,
                count: 600.0,
            },
            Bucket {
                upper_bound: 0.5,
                count: 1000.0 - slow,
            },
            Bucket {
                upper_bound: f64::INFINITY,
                count: 1000.0,
            },
        ],
        ..Series::default()
    };
    let la = JudgeData {
        series: vec![h("canary", 60.0), h("stable", 50.0)],
        ..JudgeData::default()
    };
    let lcfg = latency::Config {
        threshold: Some(0.5),
        ..latency::Config::default()
    };
    c.bench_function("latency/slower_than_histogram", |b| {
        b.iter(|| latency::judge(black_box(&la), &lcfg, None))
    });

    // latency, quantile mode on per-request samples: 1,000 new samples per arm on top of a
    // carried state that has folded in `evaluations` × 1,000 per arm before.
    let qcfg = latency::Config {
        mode: latency::Mode::Quantile,
        quantile: 0.99,
        ..latency::Config::default()
    };
    let mut rng = SplitMix64::new(42);
    let mut samples = |name: &str, look: i64, scale: f64| Series {
        name: name.into(),
        points: (0..1000)
            .map(|i| Point {
                time_ms: look * 1000 + i,
                value: scale * (0.3 * rng.gaussian()).exp(),
            })
            .collect(),
        ..Series::default()
    };
    for evaluations in [10, 100] {
        let mut st = None;
        for look in 0..evaluations {
            let input = JudgeData {
                series: vec![samples("canary", look, 100.0), samples("stable", look, 100.0)],
                ..JudgeData::default()
            };
            st = Some(latency::judge(&input, &qcfg, st.take()).1);
        }
        let next = JudgeData {
            series: vec![
                samples("canary", evaluations, 100.0),
                samples("stable", evaluations, 100.0),
            ],
            ..JudgeData::default()
        };
        let name = format!("latency/quantile_samples_1000_new_on_{evaluations}k");
        c.bench_function(&name, |b| {
            b.iter(|| latency::judge(black_box(&next), &qcfg, st.clone()))
        });
    }

    let pa = JudgeData {
        series: vec![
            ratio("canary", 10, 5.0, 1000.0),
            ratio("stable", 10, 5.0, 1000.0),
            ratio("canary-publish", 10, 9.0, 3000.0),
            ratio("stable-publish", 10, 8.0, 3000.0),
        ],
        ..JudgeData::default()
    };
    let pcfg = pair::Config::default();
    c.bench_function("pair/2_deployments_10_windows", |b| {
        b.iter(|| pair::judge(black_box(&pa), &pcfg, None))
    });
}

criterion_group!(benches, bench, shipped);
criterion_main!(benches);
