//! End-to-end: the baseline arm (our extension `spec.strategy.canary.baseline`) on a real
//! kube-apiserver + kube-controller-manager: the controller creates a ReplicaSet of the stable pod
//! template beside the canary, keeps it at the canary's size, and deletes it on promotion and on
//! abort.

mod common;

use common::*;
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::Api;
use rollout_kube::ops;
use serde_json::json;

/// The baseline arm's ReplicaSet name and hash for a stable hash.
fn arm(rollout: &str, stable: &str) -> (String, String) {
    (
        format!("{rollout}-{stable}-baseline"),
        format!("{stable}-baseline"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_baseline_arm_follows_the_canary_and_is_deleted_on_promotion_and_abort() {
    let Some(c) = cluster("baseline").await else {
        return;
    };
    let ctrl = start_controller(&c);
    let steps = json!([{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {}}]);
    let mut ro = rollout("web", 4, steps, "example.invalid/web:v1");
    ro["spec"]["strategy"]["canary"]["baseline"] = json!({"labels": {"role": "baseline"}});
    create(&c, ro).await;
    let v1 = wait_for(&c, "web", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    let stable = text(&v1, "stableRS").to_string();
    let (arm_name, arm_hash) = arm("web", &stable);
    assert_eq!(replica_sets(&c, "web").await.len(), 1, "no arm outside an update");

    set_image(&c, "web", "example.invalid/web:v2").await;
    let p = wait_for(&c, "web", 90, "paused at step 1", |r| {
        paused(r) && step_index(r) == 1
    })
    .await;
    let canary = text(&p, "currentPodHash").to_string();
    // Stable 3, canary 1 and, beside them, a baseline arm of 1 with its pods ready.
    let rss = wait_for_rs(&c, "web", |rss| {
        rss.iter()
            .any(|r| r.0 == arm_name && r.1 == arm_hash && r.2 == 1 && r.3 == 1)
    })
    .await;
    assert_eq!(rss.len(), 3, "{rss:?}");
    assert!(rss.iter().any(|r| r.1 == canary && r.2 == 1), "{rss:?}");
    assert!(rss.iter().any(|r| r.1 == stable && r.2 == 3), "{rss:?}");
    // The stable pod template, labelled as the arm: a Service pinned to the stable hash and a
    // query for the stable hash never see these pods.
    let rs = Api::<ReplicaSet>::namespaced(c.admin.clone(), &c.ns)
        .get(&arm_name)
        .await
        .unwrap();
    let template = rs.spec.template.unwrap();
    let labels = template.metadata.unwrap().labels.unwrap();
    assert_eq!(labels["rollouts-pod-template-hash"], arm_hash);
    assert_eq!(labels["rollouts-arm"], "baseline");
    assert_eq!(labels["role"], "baseline");
    assert_eq!(labels["app"], "web");
    let image = template.spec.unwrap().containers[0].image.clone();
    assert_eq!(image.as_deref(), Some("example.invalid/web:v1"));
    assert_eq!(
        rs.spec.selector.match_labels.unwrap()["rollouts-pod-template-hash"],
        arm_hash
    );
    // Status counts leave the arm out.
    assert_eq!(p.status["replicas"], json!(4), "{:#}", p.status);

    ops::promote(&c.admin, &c.ns, "web", false).await.unwrap();
    wait_for(&c, "web", 90, "paused at step 3", |r| {
        paused(r) && step_index(r) == 3
    })
    .await;
    wait_for_rs(&c, "web", |rss| {
        rss.iter().any(|r| r.0 == arm_name && r.2 == 2 && r.3 == 2)
            && rss.iter().any(|r| r.1 == canary && r.2 == 2)
    })
    .await;

    ops::promote(&c.admin, &c.ns, "web", false).await.unwrap();
    let done = wait_for(&c, "web", 120, "promoted to v2", healthy_at_new_revision).await;
    assert_eq!(text(&done, "stableRS"), canary);
    wait_for_rs(&c, "web", |rss| rss.iter().all(|r| r.0 != arm_name)).await;

    // The next update gets a fresh arm of the new stable version; abort deletes it.
    set_image(&c, "web", "example.invalid/web:v3").await;
    wait_for(&c, "web", 90, "v3 paused at step 1", |r| {
        paused(r) && step_index(r) == 1
    })
    .await;
    let (arm_v2, _) = arm("web", &canary);
    wait_for_rs(&c, "web", |rss| rss.iter().any(|r| r.0 == arm_v2 && r.2 == 1)).await;
    ops::abort(&c.admin, &c.ns, "web").await.unwrap();
    wait_for(&c, "web", 90, "Degraded after abort", |r| phase(r) == "Degraded").await;
    let rss = wait_for_rs(&c, "web", |rss| rss.iter().all(|r| r.0 != arm_v2)).await;
    assert!(rss.iter().all(|r| !r.1.ends_with("-baseline")), "{rss:?}");
    ctrl.shutdown().await;
}
