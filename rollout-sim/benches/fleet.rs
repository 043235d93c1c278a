//! The whole fleet simulation of 17,000 environments (the bundled plans): environments, waves,
//! classification and gating.
//!
//! `cargo bench -p rollout-sim --bench fleet`

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use rollout_sim::fleet::{FleetSpec, simulate_fleet};

fn spec(file: &str) -> FleetSpec {
    let path = format!("{}/../examples/fleet/{file}", env!("CARGO_MANIFEST_DIR"));
    FleetSpec::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn benches(c: &mut Criterion) {
    let good = spec("plan.yaml");
    let bad = spec("bad-release.yaml");
    // Check that each run does the whole work before timing it.
    let r = simulate_fleet(&good, None).unwrap();
    assert!(!r.halted() && r.exposed == 17_000, "{:?}", r.decision);
    assert!(simulate_fleet(&bad, None).unwrap().halted());
    let mut g = c.benchmark_group("fleet");
    g.sample_size(10).measurement_time(Duration::from_secs(10));
    g.bench_function("17k good release, every wave", |b| {
        b.iter(|| simulate_fleet(black_box(&good), None).unwrap());
    });
    g.bench_function("17k bad release, halted", |b| {
        b.iter(|| simulate_fleet(black_box(&bad), None).unwrap());
    });
    g.finish();
}

criterion_group!(fleet, benches);
criterion_main!(fleet);
