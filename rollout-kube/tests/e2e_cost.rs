//! End-to-end: the cost of safety of a canary update on a real kube-apiserver: `status.cost` and
//! the `rollout_cost_*` gauges are above zero after the update, and the wall time is about the
//! update's duration.

mod common;

use common::*;
use rollout_core::rollout::cost::CostStatus;
use serde_json::json;
use std::time::{Duration, Instant};

/// The value of the `series` sample for Rollout `name` at `revision` in the metrics text.
fn sample(metrics: &str, series: &str, name: &str, revision: &str) -> Option<f64> {
    let labels = format!("rollout=\"{name}\",revision=\"{revision}\"}}");
    metrics
        .lines()
        .find(|l| l.starts_with(&format!("{series}{{")) && l.contains(&labels))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_update_reports_extra_pod_seconds_and_wall_time() {
    let Some(c) = cluster("cost").await else { return };
    let ctrl = start_controller(&c);
    let mut ro = rollout(
        "web",
        4,
        json!([{"setWeight": 25}, {"pause": {"duration": 3}}]),
        "example.invalid/web:v1",
    );
    ro["spec"]["strategy"]["canary"]["maxSurge"] = json!(1);
    ro["spec"]["strategy"]["canary"]["maxUnavailable"] = json!(0);
    create(&c, ro).await;
    let v1 = wait_for(&c, "web", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    assert!(
        v1.status.get("cost").is_none(),
        "the first deploy is not an update: {:#}",
        v1.status
    );

    let started = Instant::now();
    set_image(&c, "web", "example.invalid/web:v2").await;
    let done = wait_for(&c, "web", 120, "promoted to v2 and the cost settled", |r| {
        healthy_at_new_revision(r) && r.status.pointer("/cost/finishedAt").is_some()
    })
    .await;
    let elapsed = started.elapsed().as_secs_f64();
    let cost: CostStatus = serde_json::from_value(done.status["cost"].clone()).unwrap();
    let revision = text(&done, "currentPodHash").to_string();
    assert_eq!(cost.pod_hash, revision);
    let figures = cost.at(rollout_core::Timestamp::now());
    // The canary pod runs above spec.replicas until the stable scales down (maxSurge 1).
    assert!(figures.extra_pod_seconds > 0.0, "{cost:?}");
    // The wall time is the update's: at least the 3 s pause, at most what this test waited.
    assert!(
        figures.wall_seconds >= 3.0 && figures.wall_seconds <= elapsed + 1.0,
        "wall {} s, update took {elapsed} s: {cost:?}",
        figures.wall_seconds
    );

    // The gauges, computed from the controller's cache at scrape time, agree with the status.
    let deadline = Instant::now() + Duration::from_secs(30);
    let (extra, wall) = loop {
        let metrics = ctrl.metrics_text();
        let extra = sample(&metrics, "rollout_cost_extra_pod_seconds", "web", &revision);
        let wall = sample(&metrics, "rollout_cost_wall_seconds", "web", &revision);
        if let (Some(e), Some(w)) = (extra, wall) {
            break (e, w);
        }
        assert!(
            Instant::now() < deadline,
            "no cost series for web@{revision}:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        (extra - figures.extra_pod_seconds).abs() < 1e-6,
        "{extra} vs {figures:?}"
    );
    assert!(
        (wall - figures.wall_seconds).abs() < 1e-6,
        "{wall} vs {figures:?}"
    );

    // Finished figures are final: no status writes while nothing changes.
    let rv = rollouts(&c).get("web").await.unwrap().metadata.resource_version;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        rollouts(&c).get("web").await.unwrap().metadata.resource_version,
        rv
    );
    ctrl.shutdown().await;
}
