//! Measures the controller at scale on the local test API server (no controller-manager):
//! creates N Rollouts, runs the controller until every one has been reconciled (its first
//! ReplicaSet exists and status is written), then reports the time, the controller's resident
//! memory growth per Rollout, and the API writes during a quiet period (should be zero).
//!
//! `ROLLOUT_KUBE_BIN=... cargo run --release -p rollout-kube --features testenv --example scale -- 1000`

use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use kube::api::{Api, PostParams};
use prometheus_client::registry::Registry;
use rollout_kube::resources::Rollout;
use rollout_kube::testenv::{TestEnv, TestEnvOptions};
use rollout_kube::{ControllerConfig, RolloutController, manifests};
use serde_json::json;

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn counter(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1000);
    let Some(env) = TestEnv::start_or_skip(TestEnvOptions {
        controller_manager: false,
    })
    .await?
    else {
        return Ok(());
    };
    let client = env.client()?;
    env.install_crds(&manifests::crds_yaml()?).await?;
    let ns = env.namespace("scale").await?;
    let api: Api<Rollout> = Api::namespaced(client.clone(), &ns);
    let t = Instant::now();
    stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let api = api.clone();
            async move {
                let name = format!("ro-{i}");
                let ro: Rollout = serde_json::from_value(json!({
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                    "metadata": {"name": name, "labels": {"team": "scale"}},
                    "spec": {
                        "replicas": 3,
                        "selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}},
                            "spec": {"containers": [{"name": "app", "image": "example.invalid/app:v1",
                                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                                "ports": [{"containerPort": 8080}]}]}},
                        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}
                    }
                }))
                .unwrap_or_default();
                if let Err(e) = api.create(&PostParams::default(), &ro).await {
                    eprintln!("create {name}: {e}");
                }
            }
        })
        .await;
    println!("created {n} Rollouts in {:.1} s", t.elapsed().as_secs_f64());

    let before = rss_kb();
    let mut registry = Registry::default();
    let config = ControllerConfig {
        namespace: Some(ns.clone()),
        concurrency: 32,
        ..Default::default()
    };
    let ctrl = RolloutController::new(client.clone(), config, &mut registry);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ctrl.run(async move {
        let _ = rx.await;
    }));
    // Progress from the controller's own metrics (listing 1000 Rollouts here would inflate RSS):
    // done when the writes counter has not moved for 2 s after at least one write per Rollout.
    let t = Instant::now();
    let mut last = (0.0, Instant::now());
    loop {
        tokio::time::sleep(Duration::from_millis(250)).await;
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry)?;
        let writes = counter(&text, "rollout_api_writes_total");
        if writes != last.0 {
            last = (writes, Instant::now());
        } else if writes >= n as f64 && last.1.elapsed() > Duration::from_secs(2) {
            break;
        }
        if t.elapsed() > Duration::from_secs(600) {
            println!("not settled after 600 s ({writes} writes)");
            break;
        }
    }
    let after = rss_kb();
    let done = api
        .list(&Default::default())
        .await?
        .items
        .iter()
        .filter(|r| r.status.get("currentPodHash").is_some())
        .count();
    println!("{done}/{n} Rollouts reconciled");
    let converge = (last.1 - t).as_secs_f64();
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    let (writes0, reconciles0) = (
        counter(&text, "rollout_api_writes_total"),
        counter(&text, "rollout_reconciles_total"),
    );
    tokio::time::sleep(Duration::from_secs(20)).await;
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry)?;
    let (writes1, reconciles1) = (
        counter(&text, "rollout_api_writes_total"),
        counter(&text, "rollout_reconciles_total"),
    );

    println!(
        "{n} Rollouts: first reconcile of all in {converge:.1} s ({:.0} Rollouts/s, {reconciles0} reconciles, {writes0} writes)",
        n as f64 / converge
    );
    println!(
        "controller RSS growth {} KB = {:.1} KB per Rollout (Rollout + its ReplicaSet cached)",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / n as f64
    );
    println!(
        "quiet 20 s: {} reconciles, {} API writes",
        reconciles1 - reconciles0,
        writes1 - writes0
    );
    let _ = tx.send(());
    let _ = task.await;
    Ok(())
}
