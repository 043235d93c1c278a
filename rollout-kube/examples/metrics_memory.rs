//! What Argo's per-object metrics cost at N Rollouts (default 5,000), without a cluster: fills
//! the controller's caches with N seeded Rollouts (one AnalysisRun each) exactly as its watchers
//! trim them, records the series a few reconciles leave, and scrapes. Reports the resident memory
//! growth of each part and the scrape's time and size.
//!
//! `cargo run --release -p rollout-kube --example metrics_memory -- 5000`

use std::time::{Duration, Instant};

use kube::runtime::reflector::{self, Store};
use kube::runtime::watcher;
use prometheus_client::registry::Registry;
use rollout_core::rollout::{Event, EventType};
use rollout_kube::Metrics;
use rollout_kube::metrics::{Sources, trim_cached_rollout};
use rollout_kube::resources::{AnalysisRun, Rollout};
use serde_json::{Value, json};

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

/// A small deterministic generator (the figures must not depend on the run).
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        (self.0 >> 33) % n
    }
}

/// A Rollout as the API server stores it: labels, annotations, a pod template, steps, a status.
fn rollout(i: usize, rng: &mut Lcg) -> Value {
    let name = format!("service-{i:05}");
    let strategy = if rng.next(4) == 0 {
        json!({"blueGreen": {"activeService": format!("{name}-active"), "autoPromotionEnabled": false}})
    } else {
        json!({"canary": {
            "canaryService": format!("{name}-canary"), "stableService": format!("{name}-stable"),
            "trafficRouting": {"nginx": {"stableIngress": name}},
            "steps": [{"setWeight": 10}, {"pause": {"duration": "5m"}}, {"setWeight": 50},
                      {"analysis": {"templates": [{"templateName": "success-rate"}]}}, {"setWeight": 100}]
        }})
    };
    let replicas = 1 + rng.next(10);
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "namespace": format!("team-{}", i % 50), "uid": format!("uid-{i}"),
                     "resourceVersion": format!("{}", 1000 + i), "generation": 3,
                     "labels": {"app": name, "team": format!("team-{}", i % 50)},
                     "annotations": {"rollout.argoproj.io/revision": "3"}},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": name}},
                 "template": {"metadata": {"labels": {"app": name}},
                              "spec": {"containers": [{"name": "app", "image": format!("registry.example/{name}:v3"),
                                                       "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}},
                 "strategy": strategy},
        "status": {"replicas": replicas, "availableReplicas": replicas, "updatedReplicas": replicas,
                   "readyReplicas": replicas, "currentPodHash": "6d4f8b9c7", "stableRS": "6d4f8b9c7",
                   "phase": "Healthy", "observedGeneration": "3",
                   "conditions": [
                       {"type": "Available", "status": "True", "reason": "AvailableReason", "message": "Rollout has minimum availability"},
                       {"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable", "message": "Rollout has completed"},
                       {"type": "Healthy", "status": "True", "reason": "RolloutHealthy", "message": "Rollout is healthy"}]}
    })
}

fn run(i: usize) -> AnalysisRun {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
        "metadata": {"name": format!("service-{i:05}-6d4f8b9c7-3-3"), "namespace": format!("team-{}", i % 50)},
        "spec": {"metrics": [
            {"name": "success-rate", "interval": "1m", "provider": {"prometheus": {"query": "sum(rate(x[5m]))"}}},
            {"name": "latency", "interval": "1m", "provider": {"web": {"url": "http://latency"}}}]},
        "status": {"phase": "Successful", "metricResults": [
            {"name": "success-rate", "phase": "Successful"}, {"name": "latency", "phase": "Successful"}]}
    }))
    .unwrap_or_default()
}

fn store<K>(objects: impl Iterator<Item = K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()> + Clone + 'static,
{
    let (reader, mut writer) = reflector::store();
    for o in objects {
        writer.apply_watcher_event(&watcher::Event::Apply(o));
    }
    reader
}

fn cached(n: usize, per_object: bool) -> Store<Rollout> {
    let mut rng = Lcg(42);
    store((0..n).map(|i| {
        let mut ro: Rollout = serde_json::from_value(rollout(i, &mut rng)).unwrap_or_default();
        ro.metadata.managed_fields = None;
        ro.metadata.annotations = None;
        trim_cached_rollout(&mut ro, per_object);
        ro
    }))
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(5000);
    let kb_per = |kb: u64| kb as f64 * 1024.0 / n as f64;

    let base = rss_kb();
    let plain = cached(n, false);
    let after_plain = rss_kb();
    let projected = cached(n, true);
    let after_projected = rss_kb();
    let runs = store((0..n).map(run));
    let after_runs = rss_kb();

    let mut registry = Registry::default();
    let metrics = Metrics::register(&mut registry);
    let _attached = metrics.attach(
        true,
        Sources {
            rollouts: projected.clone(),
            runs: Some(runs.clone()),
        },
    );
    let before_series = rss_kb();
    let reasons = [
        "RolloutUpdated",
        "RolloutStepCompleted",
        "RolloutCompleted",
        "RolloutPaused",
    ];
    for ro in projected.state() {
        for (k, reason) in reasons.iter().enumerate() {
            metrics.rollout_reconciled(&ro, Duration::from_millis(3 + k as u64));
            let event = Event {
                kind: EventType::Normal,
                reason: reason.to_string(),
                message: String::new(),
            };
            metrics.rollout_event(&ro, &event);
        }
        metrics.rollout_failed(&ro, "conflict");
    }
    for r in runs.state() {
        metrics.run_reconciled(&r, Duration::from_millis(20), false);
    }
    let after_series = rss_kb();

    let mut times = Vec::new();
    let mut size = 0;
    let mut peak = 0;
    for _ in 0..10 {
        let start = Instant::now();
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &registry).is_err() {
            eprintln!("encoding failed");
            return;
        }
        times.push(start.elapsed());
        size = out.len();
        peak = peak.max(rss_kb());
    }
    times.sort();
    let series = {
        let mut out = String::new();
        let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        out.lines().filter(|l| !l.starts_with('#')).count()
    };

    println!(
        "{n} Rollouts, {n} AnalysisRuns ({} / {} cached)",
        plain.len(),
        runs.len()
    );
    println!(
        "Rollout cache, metadata only:              {:>8} KB  ({:.0} B per Rollout)",
        after_plain - base,
        kb_per(after_plain - base)
    );
    println!(
        "Rollout cache, with the metrics' fields:   {:>8} KB  ({:.0} B per Rollout)",
        after_projected - after_plain,
        kb_per(after_projected - after_plain)
    );
    println!(
        "AnalysisRun cache (exists without metrics): {:>7} KB",
        after_runs - after_projected
    );
    println!(
        "recorded series (reconcile histograms, 4 event reasons, errors; per Rollout and run): {} KB ({:.0} B per Rollout)",
        after_series - before_series,
        kb_per(after_series - before_series)
    );
    println!(
        "scrape: {series} samples, {:.1} MB of text, median {:.1} ms, RSS peak +{} KB during scrapes",
        size as f64 / 1e6,
        times[times.len() / 2].as_secs_f64() * 1e3,
        peak.saturating_sub(after_series)
    );
}
