//! Cost of the analysis machine's pure parts: one run step, one condition, one substitution.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use rollout_core::analysis::condition::{Condition, evaluate_result};
use rollout_core::analysis::create::resolve_metric_args;
use rollout_core::analysis::{
    AnalysisPhase, AnalysisRun, Argument, Measurement, MetricResult, MetricValue, step,
};
use rollout_core::common::Timestamp;

fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

/// A run with `metrics` Prometheus metrics, each with 10 retained Successful measurements.
fn busy_run(metrics: usize) -> AnalysisRun {
    let mut run = AnalysisRun::default();
    run.metadata.name = "bench".into();
    run.spec.args = vec![Argument {
        name: "hash".into(),
        value: Some("6d4f8b7c9".into()),
        value_from: None,
    }];
    let mut results = Vec::new();
    for i in 0..metrics {
        let yaml = format!(
            "name: m{i}\ninterval: 30s\nfailureLimit: 2\nsuccessCondition: result[0] >= 0.95\nprovider:\n  prometheus:\n    address: http://prom:9090\n    query: sum(rate(req{{hash=\"{{{{args.hash}}}}\",code!~\"5..\"}}[1m])) / sum(rate(req{{hash=\"{{{{args.hash}}}}\"}}[1m]))\n"
        );
        run.spec.metrics.push(serde_yaml::from_str(&yaml).unwrap());
        let measurements = (0..10)
            .map(|k| Measurement {
                phase: AnalysisPhase::Successful,
                started_at: Some(at(30 * k)),
                finished_at: Some(at(30 * k)),
                value: "[0.99]".into(),
                ..Default::default()
            })
            .collect();
        results.push(MetricResult {
            name: format!("m{i}"),
            phase: AnalysisPhase::Running,
            measurements,
            count: 10,
            successful: 10,
            consecutive_success: 10,
            ..Default::default()
        });
    }
    run.status = Some(rollout_core::analysis::AnalysisRunStatus {
        phase: AnalysisPhase::Running,
        metric_results: results,
        started_at: Some(at(0)),
        ..Default::default()
    });
    run
}

fn bench(c: &mut Criterion) {
    let run = busy_run(5);
    c.bench_function("analysis/step 5 metrics x 10 measurements, nothing due", |b| {
        b.iter(|| step(black_box(&run), at(280), vec![]))
    });
    c.bench_function("analysis/step 5 metrics x 10 measurements, all due", |b| {
        b.iter(|| step(black_box(&run), at(400), vec![]))
    });
    let cond = Condition::compile("result[0] >= 0.95 && all(result, {# > 0.5})").unwrap();
    let value: MetricValue = vec![0.99, 0.97, 0.98].into();
    c.bench_function("analysis/condition evaluate (compiled)", |b| {
        b.iter(|| cond.evaluate(black_box(&value)))
    });
    c.bench_function("analysis/evaluate_result (compile + evaluate both)", |b| {
        b.iter(|| {
            evaluate_result(
                Some("result[0] >= 0.95"),
                Some("result[0] < 0.5"),
                black_box(&value),
            )
        })
    });
    let metric = run.spec.metrics[0].clone();
    c.bench_function("analysis/resolve {{args}} in one metric", |b| {
        b.iter(|| resolve_metric_args(black_box(&metric), &run.spec.args))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
