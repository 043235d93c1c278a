//! Helpers shared by the rollout integration tests.
#![allow(dead_code)]

use rollout_core::common::Timestamp;
use rollout_core::rollout::{Event, Rollout};
use rollout_core::testing::FakeCluster;
use serde::Deserialize;

pub fn t0() -> Timestamp {
    "2024-01-01T00:00:00Z".parse().unwrap()
}

pub fn fixture(file: &str) -> Rollout {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/argo-rollouts")
        .join(file);
    let text = std::fs::read_to_string(path).unwrap();
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v = serde_yaml::Value::deserialize(doc).unwrap();
        if v.get("kind").and_then(|k| k.as_str()) == Some("Rollout") {
            return serde_yaml::from_value(v).unwrap();
        }
    }
    panic!("no Rollout in {file}");
}

pub fn from_json(v: serde_json::Value) -> Rollout {
    serde_json::from_value(v).unwrap()
}

/// A basic canary with `replicas` and `steps` (JSON), app "demo", image demo:v1.
pub fn canary(replicas: i32, steps: serde_json::Value, extra: serde_json::Value) -> Rollout {
    let mut v = serde_json::json!({
        "metadata": {"name": "demo", "namespace": "default", "generation": 1},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "demo"}},
            "template": {"metadata": {"labels": {"app": "demo"}},
                         "spec": {"containers": [{"name": "app", "image": "demo:v1"}]}},
            "strategy": {"canary": {"steps": steps}}
        }
    });
    if let (Some(c), Some(e)) = (
        v.pointer_mut("/spec/strategy/canary")
            .and_then(|c| c.as_object_mut()),
        extra.as_object(),
    ) {
        for (k, x) in e {
            c.insert(k.clone(), x.clone());
        }
    }
    from_json(v)
}

/// Deploys the first revision and settles to Healthy.
pub fn deployed(ro: Rollout) -> FakeCluster {
    let mut c = FakeCluster::new(ro, t0());
    c.settle(50, true);
    c
}

pub fn events_with(c: &FakeCluster, reason: &str) -> Vec<String> {
    c.events
        .iter()
        .filter(|e| e.reason == reason)
        .map(|e| e.message.clone())
        .collect()
}

pub fn last_event(c: &FakeCluster, reason: &str) -> Option<Event> {
    c.events.iter().rev().find(|e| e.reason == reason).cloned()
}

/// Ticks (advancing 1s and making pods ready) until `pred` holds; panics after `max`.
pub fn tick_until(c: &mut FakeCluster, max: usize, pred: impl Fn(&FakeCluster) -> bool) {
    for _ in 0..max {
        if pred(c) {
            return;
        }
        c.tick();
        c.advance(1);
    }
    assert!(
        pred(c),
        "condition not reached; status: {:#?}\nrs: {:#?}",
        c.rollout.status,
        c.observed.replica_sets
    );
}
