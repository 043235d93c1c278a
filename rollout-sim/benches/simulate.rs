//! Simulation costs: a whole bundled scenario, one PromQL query over an hour of series, one
//! traffic tick.
//!
//! `cargo bench -p rollout-sim --bench simulate`

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rollout_core::analysis::AnalysisTemplate;
use rollout_core::analysis::judge::{RatioThresholdJudge, StaticJudges};
use rollout_core::rollout::Rollout;
use rollout_sim::model::{Share, TrafficModel};
use rollout_sim::promql::SeriesStore;
use rollout_sim::scenario::VersionBehaviour;
use rollout_sim::{Scenario, SimInput, simulate};

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/scenarios");

fn input(scenario: &str) -> SimInput {
    let read = |n: &str| std::fs::read_to_string(format!("{DIR}/{n}")).unwrap();
    let template = read("analysis.yaml")
        .replace(
            "name: error-ratio-reference",
            &format!("name: {}", RatioThresholdJudge::NAME),
        )
        .replace(
            "sha256: 5318de441fe708f52a13b95a655c92aff9dbc0ea2a9e0c0f1bb9b996769a75d3",
            &format!("sha256: {}", RatioThresholdJudge::SHA256),
        );
    let mut judges = StaticJudges::new();
    judges.insert(
        RatioThresholdJudge::NAME,
        RatioThresholdJudge::SHA256,
        Arc::new(RatioThresholdJudge),
    );
    SimInput {
        rollout: serde_yaml::from_str::<Rollout>(&read("rollout.yaml")).unwrap(),
        templates: vec![serde_yaml::from_str::<AnalysisTemplate>(&template).unwrap()],
        scenario: Scenario::from_yaml(&read(scenario)).unwrap(),
        seed: 1,
        judges: Arc::new(judges),
    }
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
    c.bench_function("simulate healthy scenario (5m19s simulated, native judge)", |b| {
        b.iter(|| rt.block_on(simulate(input("healthy.yaml"), &mut |_| {})).unwrap())
    });
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
