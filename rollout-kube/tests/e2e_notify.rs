//! End-to-end notification on the real API server: a failing step analysis aborts a Rollout
//! annotated with `rollout.io/notify-url` and `rollout.io/notify-secret`; the local webhook
//! receives the feedback sentence written to `status.feedback` (once, after a 503 retry) with
//! the Secret's token, and the sentence is a `RolloutFeedback` event.

mod common;
mod notify_server;

use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use notify_server::Server;
use prometheus_client::registry::Registry;
use rollout_kube::notify::{NotifyConfig, RetryPolicy};
use rollout_kube::{ControllerConfig, RolloutController};
use serde_json::json;

const TOKEN: &str = "e2e-hook-t0ken";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_analysis_is_notified_with_its_feedback_sentence() {
    let Some(c) = cluster("notify").await else {
        return;
    };
    let (probe_port, probe) = json_endpoint(|_| ("200 OK", r#"{"ok": false}"#.to_string())).await;
    let hook = Server::start(&[503, 200]).await;

    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "hook"}, "stringData": {"token": TOKEN}
    }))
    .unwrap();
    Api::<Secret>::namespaced(c.admin.clone(), &c.ns)
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    common::create_health_template(&c.admin, &c.ns, probe_port, 1).await;

    let providers = common::web_providers();
    let mut registry = Registry::default();
    let config = ControllerConfig {
        namespace: Some(c.ns.clone()),
        notify: NotifyConfig {
            retry: RetryPolicy {
                base: Duration::from_millis(100),
                ..Default::default()
            },
            ..Default::default()
        },
        ..Default::default()
    };
    let ctrl = RolloutController::new(c.sa.clone(), config, &mut registry).with_providers(providers);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ctrl.run(async move {
        let _ = rx.await;
    }));

    let steps =
        json!([{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "health"}]}}, {"pause": {}}]);
    let mut ro = rollout("shop", 2, steps, "example.invalid/shop:v1");
    ro["metadata"]["annotations"] = json!({
        "rollout.io/notify-url": hook.url,
        "rollout.io/notify-secret": "hook/token",
    });
    create(&c, ro).await;
    wait_for(&c, "shop", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    assert!(
        hook.seen().is_empty(),
        "nothing to tell while healthy: {:#?}",
        hook.seen()
    );
    set_image(&c, "shop", "example.invalid/shop:v2").await;
    let aborted = wait_for(&c, "shop", 120, "Degraded after failed analysis", |r| {
        phase(r) == "Degraded"
    })
    .await;
    let feedback = aborted.status["feedback"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(feedback.starts_with("rolled back: "), "{:#}", aborted.status);
    assert!(feedback.contains("healthy"), "names the metric: {feedback}");
    assert!(
        feedback.starts_with("rolled back: metric healthy failed"),
        "the deciding metric: {feedback}"
    );
    assert_eq!(
        aborted.status["why"][0]["metric"]["name"], "healthy",
        "{:#}",
        aborted.status
    );

    let deadline = Instant::now() + Duration::from_secs(30);
    while hook
        .seen()
        .iter()
        .filter(|s| s.body["feedback"] == feedback)
        .count()
        < 2
    {
        assert!(
            Instant::now() < deadline,
            "webhook not called: {:#?}",
            hook.seen()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Reconciles go on; the sentence is not sent again.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let seen = hook.seen();
    assert_eq!(seen.len(), 2, "a 503 then one delivery: {seen:#?}");
    let last = &seen[1];
    assert_eq!(last.header("authorization"), Some(format!("Bearer {TOKEN}")));
    assert_eq!(last.body["rollout"], json!({"namespace": c.ns, "name": "shop"}));
    assert_eq!(last.body["revision"], 2);
    assert_eq!(last.body["phase"], "Degraded");
    assert_eq!(last.body["why"][0]["cause"], "AnalysisFailed");
    assert_eq!(last.body["why"], aborted.status["why"]);

    let events = rollout_events(&c, "Rollout", "shop").await;
    let told: Vec<_> = events.iter().filter(|e| e.0 == "RolloutFeedback").collect();
    assert_eq!(told.len(), 1, "{events:?}");
    assert_eq!(told[0].2, feedback);
    for e in &events {
        assert!(!e.2.contains(TOKEN), "token in an event: {e:?}");
    }
    assert!(!aborted.status.to_string().contains(TOKEN));

    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
    assert!(
        text.contains("rollout_notifications_total{outcome=\"sent\"} 1"),
        "{text}"
    );

    let _ = tx.send(());
    task.await.unwrap();
    probe.abort();
}
