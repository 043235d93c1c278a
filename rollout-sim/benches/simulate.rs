//! Simulation costs: a whole bundled scenario, one PromQL query over an hour of series, one
//! traffic tick.
//!
//! `cargo bench -p rollout-sim --bench simulate`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rollout_sim::model::{Share, TrafficModel};
use rollout_sim::promql::SeriesStore;
use rollout_sim::scenario::VersionBehaviour;
use rollout_sim::{Scenario, SimInput, simulate};

#[path = "../tests/support/mod.rs"]
mod support;

fn input(scenario: &str) -> SimInput {
    support::input(Scenario::from_yaml(&support::read(scenario)).unwrap(), 1)
}

fn shares() -> Vec<Share> {
    vec![
        Share {
            hash: "c".into(),
            fraction: 0.2,
            behaviour: VersionBehaviour::default(),
        },
        Share {
            hash: "s".into(),
            fraction: 0.8,
            behaviour: VersionBehaviour::default(),
        },
    ]
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    // Warm the registry: the first lookup compiles the component.
    rt.block_on(simulate(input("healthy.yaml"), &mut |_| {})).unwrap();
    c.bench_function(
        "simulate healthy scenario (4 analysis steps, WASM error-ratio judge)",
        |b| b.iter(|| rt.block_on(simulate(input("healthy.yaml"), &mut |_| {})).unwrap()),
    );
    let mut store = SeriesStore::new();
    let mut model = TrafficModel::new(1, 50.0);
    for k in 1..=360 {
        model.tick(k * 10_000, Duration::from_secs(10), &shares(), &mut store);
    }
    let q = r#"sum(increase(http_requests_total{rollouts_pod_template_hash="c",code=~"5.."}[2m])) / sum(increase(http_requests_total{rollouts_pod_template_hash="c"}[2m]))"#;
    c.bench_function("promql ratio query over 1h of series", |b| {
        b.iter(|| store.query(black_box(q), 3_600_000).unwrap())
    });
    c.bench_function("traffic tick (50 rps, 10 s, 2 versions)", |b| {
        let mut m = TrafficModel::new(2, 50.0);
        let mut s = SeriesStore::new();
        let mut t = 0;
        b.iter(|| {
            t += 10_000;
            m.tick(t, Duration::from_secs(10), &shares(), &mut s)
        })
    });
}

criterion_group!(simulation, benches);
criterion_main!(simulation);
