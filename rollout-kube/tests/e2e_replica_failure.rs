//! End-to-end: a ReplicaSet the API server refuses (here: an exceeded ResourceQuota, as when
//! Deployments are migrated into a namespace at its quota) surfaces as a `ReplicaFailure` condition
//! with the server's reason and message; the rollout neither advances nor aborts, and carries on
//! by itself once the quota allows the ReplicaSet.

mod common;

use common::*;
use k8s_openapi::api::core::v1::ResourceQuota;
use kube::api::{Api, DeleteParams, PostParams};
use rollout_kube::resources::Rollout;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

fn condition<'a>(ro: &'a Rollout, kind: &str) -> Option<&'a Value> {
    ro.status
        .get("conditions")
        .and_then(Value::as_array)
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exceeded_quota_is_a_replica_failure_that_holds_the_rollout_until_it_clears() {
    let Some(c) = cluster("quota").await else { return };
    let ctrl = start_controller(&c);
    let steps = json!([{"setWeight": 50}, {"pause": {}}]);
    create(&c, rollout("web", 2, steps, "example.invalid/web:v1")).await;
    let v1 = wait_for(&c, "web", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    let stable = text(&v1, "stableRS").to_string();

    // Room for exactly the one ReplicaSet that exists; wait until the quota controller has
    // counted it, as admission only enforces a quota whose usage is known.
    let quotas: Api<ResourceQuota> = Api::namespaced(c.admin.clone(), &c.ns);
    let quota: ResourceQuota = serde_json::from_value(json!({
        "metadata": {"name": "rs-quota"},
        "spec": {"hard": {"count/replicasets.apps": "1"}}
    }))
    .unwrap();
    quotas.create(&PostParams::default(), &quota).await.unwrap();
    let start = Instant::now();
    loop {
        let q = quotas.get("rs-quota").await.unwrap();
        let used = q
            .status
            .and_then(|s| s.used)
            .and_then(|u| u.get("count/replicasets.apps").map(|v| v.0.clone()));
        if used.as_deref() == Some("1") {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "quota usage never computed: {used:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    set_image(&c, "web", "example.invalid/web:v2").await;
    let failed = wait_for(&c, "web", 60, "a ReplicaFailure condition", |r| {
        condition(r, "ReplicaFailure").is_some()
    })
    .await;
    let cond = condition(&failed, "ReplicaFailure").unwrap().clone();
    assert_eq!(cond["status"], "True", "{cond}");
    assert_eq!(cond["reason"], "Forbidden", "the API server's reason: {cond}");
    let message = cond["message"].as_str().unwrap();
    assert!(message.contains("exceeded quota: rs-quota"), "{message}");
    assert!(
        message.contains("create ReplicaSet"),
        "says what failed: {message}"
    );

    // Held: not aborted, no step advance, stable untouched, no canary ReplicaSet, for a while.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let held = rollouts(&c).get("web").await.unwrap();
    assert_ne!(phase(&held), "Degraded", "{:#}", held.status);
    assert_ne!(held.status.get("abort"), Some(&json!(true)));
    assert!(held.status.get("abortedAt").is_none(), "{:#}", held.status);
    assert_eq!(text(&held, "stableRS"), stable);
    assert!(condition(&held, "ReplicaFailure").is_some());
    assert_eq!(
        replica_sets(&c, "web").await,
        vec![(format!("web-{stable}"), stable.clone(), 2, 2)]
    );

    // Quota lifted: the canary ReplicaSet is created, the condition goes, the first step runs.
    quotas.delete("rs-quota", &DeleteParams::default()).await.unwrap();
    let at_pause = wait_for(&c, "web", 90, "paused at step 1 with no ReplicaFailure", |r| {
        paused(r) && step_index(r) == 1 && condition(r, "ReplicaFailure").is_none()
    })
    .await;
    let canary = text(&at_pause, "currentPodHash").to_string();
    assert_ne!(canary, stable);
    let rss = replica_sets(&c, "web").await;
    assert_eq!(rss.len(), 2, "{rss:?}");
    assert!(rss.iter().any(|r| r.1 == canary && r.2 == 1), "50% of 2: {rss:?}");
    ctrl.shutdown().await;
}
