//! End-to-end analysis: a step analysis with the `web` provider (a local HTTP endpoint that
//! reports the canary unhealthy) fails, the Rollout aborts and stable capacity is restored. The
//! endpoint's token comes from a Secret through `secretKeyRef` and never appears in the status.

mod common;

use common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use prometheus_client::registry::Registry;
use rollout_driver::Providers;
use rollout_kube::resources::{AnalysisRun, AnalysisTemplate};
use rollout_kube::{ControllerConfig, RolloutController};
use serde_json::json;
use std::sync::Arc;

const TOKEN: &str = "s3cr3t-t0ken-value";

/// Answers `{"ok": false}` to requests carrying the token and 401 otherwise; counts requests.
async fn health_endpoint() -> (
    u16,
    Arc<std::sync::atomic::AtomicUsize>,
    tokio::task::JoinHandle<()>,
) {
    let hits = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let h = hits.clone();
    let (port, task) = json_endpoint(move |req| {
        h.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        if req.contains(&format!("token={TOKEN}")) {
            ("200 OK", r#"{"ok": false}"#.to_string())
        } else {
            ("401 Unauthorized", r#"{"error": "bad token"}"#.to_string())
        }
    })
    .await;
    (port, hits, task)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_step_analysis_aborts_and_keeps_the_secret_out_of_status() {
    let Some(c) = cluster("analysis").await else {
        return;
    };
    let (port, hits, server) = health_endpoint().await;

    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "probe"}, "stringData": {"token": TOKEN}
    }))
    .unwrap();
    Api::<Secret>::namespaced(c.admin.clone(), &c.ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let template: AnalysisTemplate = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "health"},
        "spec": {
            "args": [{"name": "token", "valueFrom": {"secretKeyRef": {"name": "probe", "key": "token"}}}],
            "metrics": [{
                "name": "healthy",
                "count": 2,
                "interval": "1s",
                "failureLimit": 0,
                "successCondition": "result == true",
                "provider": {"web": {"url": format!("http://127.0.0.1:{port}/health?token={{{{args.token}}}}"), "jsonPath": "{$.ok}"}}
            }]
        }
    }))
    .unwrap();
    Api::<AnalysisTemplate>::namespaced(c.admin.clone(), &c.ns)
        .create(&PostParams::default(), &template)
        .await
        .unwrap();

    let mut providers = Providers::new();
    providers.register(Arc::new(analysis_providers::web::WebProvider::new().unwrap()));
    let mut registry = Registry::default();
    let config = ControllerConfig {
        namespace: Some(c.ns.clone()),
        ..Default::default()
    };
    let ctrl = RolloutController::new(c.sa.clone(), config, &mut registry).with_providers(providers);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ctrl.run(async move {
        let _ = rx.await;
    }));

    let steps =
        json!([{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "health"}]}}, {"pause": {}}]);
    create(&c, rollout("shop", 2, steps, "example.invalid/shop:v1")).await;
    let v1 = wait_for(&c, "shop", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    let stable = text(&v1, "stableRS").to_string();
    set_image(&c, "shop", "example.invalid/shop:v2").await;

    let aborted = wait_for(&c, "shop", 120, "Degraded after failed analysis", |r| {
        phase(r) == "Degraded"
    })
    .await;
    assert_eq!(text(&aborted, "stableRS"), stable);
    let message = text(&aborted, "message").to_string();
    assert!(message.contains("RolloutAborted"), "{message}");

    let runs = Api::<AnalysisRun>::namespaced(c.admin.clone(), &c.ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let names: Vec<_> = runs
        .iter()
        .map(|r| (r.metadata.name.clone(), r.status["phase"].clone()))
        .collect();
    assert_eq!(runs.len(), 1, "one step run: {names:?}");
    let run = &runs[0];
    assert_eq!(run.status["phase"], "Failed", "{:#}", run.status);
    assert_eq!(
        run.status["metricResults"][0]["measurements"][0]["value"],
        "false"
    );
    assert!(hits.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    for text in [run.status.to_string(), aborted.status.to_string()] {
        assert!(!text.contains(TOKEN), "secret leaked into status: {text}");
    }
    let canary = text(&aborted, "currentPodHash").to_string();
    wait_for_stable_restored(&c, "shop", &stable, &canary, 2).await;
    // Nor into the Events of the Rollout and the run (the abort event carries the run's message).
    let mut events = rollout_events(&c, "Rollout", "shop").await;
    events.extend(rollout_events(&c, "AnalysisRun", &run.metadata.name.clone().unwrap()).await);
    assert!(events.iter().any(|e| e.0 == "RolloutAborted"), "{events:?}");
    for e in &events {
        assert!(!e.2.contains(TOKEN), "secret leaked into an event: {e:?}");
    }

    let _ = tx.send(());
    task.await.unwrap();
    server.abort();
}
