//! End-to-end blue-green: the controller (as its least-privilege ServiceAccount) keeps the active
//! Service on the stable ReplicaSet, puts an update behind the preview Service, pauses
//! (`BlueGreenPause`), switches the active Service on an Argo-style promote and scales the old
//! ReplicaSet down after `scaleDownDelaySeconds`. Kubernetes Events are published on transitions
//! only: their count stays the same while the Rollout is steady.

mod common;

use common::*;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, PostParams};
use rollout_kube::ops;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Seconds the old ReplicaSet stays up after the switch.
const SCALE_DOWN_DELAY: u64 = 3;

fn service(name: &str, app: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]}
    }))
    .unwrap()
}

fn blue_green(name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": 2,
            "revisionHistoryLimit": 2,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            },
            "strategy": {"blueGreen": {
                "activeService": format!("{name}-active"),
                "previewService": format!("{name}-preview"),
                "autoPromotionEnabled": false,
                "scaleDownDelaySeconds": SCALE_DOWN_DELAY
            }}
        }
    })
}

async fn selector_hash(services: &Api<Service>, name: &str) -> Option<String> {
    services
        .get(name)
        .await
        .unwrap()
        .spec
        .and_then(|s| s.selector)
        .and_then(|s| s.get("rollouts-pod-template-hash").cloned())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_previews_pauses_switches_on_promote_and_scales_down_after_the_delay() {
    let Some(c) = cluster("bluegreen").await else {
        return;
    };
    let services: Api<Service> = Api::namespaced(c.admin.clone(), &c.ns);
    for s in ["shop-active", "shop-preview"] {
        services
            .create(&PostParams::default(), &service(s, "shop"))
            .await
            .unwrap();
    }
    let ctrl = start_controller(&c);
    create(&c, blue_green("shop", "example.invalid/shop:v1")).await;

    // First deploy: straight to active (nothing to preview).
    let v1 = wait_for(&c, "shop", 60, "initial deploy Healthy", healthy_at_new_revision).await;
    let blue = text(&v1, "stableRS").to_string();
    assert_eq!(selector_hash(&services, "shop-active").await, Some(blue.clone()));
    assert_eq!(v1.status["blueGreen"]["activeSelector"], json!(blue));
    wait_for_rs(&c, "shop", |rss| rss.len() == 1 && rss[0].2 == 2 && rss[0].3 == 2).await;

    // The update goes behind the preview Service and pauses.
    set_image(&c, "shop", "example.invalid/shop:v2").await;
    let p = wait_for(&c, "shop", 60, "BlueGreenPause", |r| {
        r.status["pauseConditions"]
            .as_array()
            .is_some_and(|p| p.iter().any(|c| c["reason"] == "BlueGreenPause"))
    })
    .await;
    assert_eq!(phase(&p), "Paused");
    let green = text(&p, "currentPodHash").to_string();
    assert_ne!(green, blue);
    assert_eq!(
        selector_hash(&services, "shop-preview").await,
        Some(green.clone())
    );
    assert_eq!(
        selector_hash(&services, "shop-active").await,
        Some(blue.clone()),
        "active traffic stays on blue while paused"
    );
    assert_eq!(text(&p, "stableRS"), blue);
    // Both colours at full size: the preview is a full copy.
    let rss = wait_for_rs(&c, "shop", |rss| {
        rss.len() == 2 && rss.iter().all(|r| r.2 == 2 && r.3 == 2)
    })
    .await;
    assert!(rss.iter().any(|r| r.1 == green), "{rss:?}");

    // Argo's promote: `status.pauseConditions: null`.
    ops::promote(&c.admin, &c.ns, "shop", false).await.unwrap();
    let switched = Instant::now();
    let done = wait_for(&c, "shop", 60, "promoted to green", healthy_at_new_revision).await;
    assert_eq!(text(&done, "stableRS"), green);
    assert_eq!(selector_hash(&services, "shop-active").await, Some(green.clone()));
    assert_eq!(done.status["blueGreen"]["activeSelector"], json!(green));

    // Blue keeps its pods for the scale-down delay, then goes to 0.
    let rss = replica_sets(&c, "shop").await;
    let blue_rs = rss.iter().find(|r| r.1 == blue).unwrap().clone();
    if switched.elapsed() < Duration::from_secs(SCALE_DOWN_DELAY - 1) {
        assert_eq!(blue_rs.2, 2, "blue scaled down before the delay: {rss:?}");
    }
    let rss = wait_for_rs(&c, "shop", |rss| {
        rss.iter()
            .all(|r| (r.1 == green && r.2 == 2 && r.3 == 2) || (r.1 == blue && r.2 == 0))
    })
    .await;
    assert!(
        switched.elapsed() >= Duration::from_secs(SCALE_DOWN_DELAY - 1),
        "blue scaled down after {:?}, before the {SCALE_DOWN_DELAY} s delay: {rss:?}",
        switched.elapsed()
    );

    // Events: the transitions, each once, and nothing more while steady.
    let steady = wait_for_steady_events(&c, "Rollout", "shop").await;
    let reasons: BTreeMap<String, u32> = steady.iter().fold(BTreeMap::new(), |mut m, e| {
        *m.entry(e.0.clone()).or_default() += e.1;
        m
    });
    // One event per transition: each revision's creation, start and completion, the pause, and
    // blue's scale-down (green was created at full size). A promote by the user removes the pause
    // conditions itself, so the controller never sees a pause -> resume transition to report.
    let want: BTreeMap<String, u32> = [
        ("NewReplicaSetCreated", 2),
        ("RolloutCompleted", 2),
        ("RolloutNotCompleted", 2),
        ("RolloutPaused", 1),
        ("ScalingReplicaSet", 1),
    ]
    .into_iter()
    .map(|(r, n)| (r.to_string(), n))
    .collect();
    assert_eq!(reasons, want, "{steady:#?}");
    let notes: Vec<&str> = steady.iter().map(|e| e.2.as_str()).collect();
    let blue_down = format!("Scaled down ReplicaSet shop-{blue} (revision 1) from 2 to 0");
    assert!(notes.contains(&blue_down.as_str()), "{notes:#?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        rollout_events(&c, "Rollout", "shop").await,
        steady,
        "events while nothing changes"
    );
    ctrl.shutdown().await;
}
