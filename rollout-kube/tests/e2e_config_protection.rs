//! End-to-end (issue #13, story 2): rollback-safe config on a real API server, the controller
//! running as its least-privilege ServiceAccount. Helm style: the update mounts a new immutable
//! Secret `cfg-b` and the old `cfg-a` is deleted; an abort is then held (the canary keeps its
//! pods, a Degraded condition and an event name `cfg-a`) until `cfg-a` is back. On the normal
//! path the old ReplicaSet's owner reference is removed before history cleanup deletes it.

mod common;

use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use rollout_kube::ops;
use rollout_kube::resources::Rollout;
use serde_json::{Value, json};

fn secrets(c: &Cluster) -> Api<Secret> {
    Api::namespaced(c.admin.clone(), &c.ns)
}

async fn create_secret(c: &Cluster, name: &str) {
    let s: Secret = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": name},
        "immutable": true, "data": {"app.conf": "bW9kZT1h"}
    }))
    .unwrap();
    secrets(c).create(&PostParams::default(), &s).await.unwrap();
}

/// The names of the ReplicaSets owning the Secret `name` (`None` when it does not exist).
async fn owners(c: &Cluster, name: &str) -> Option<Vec<String>> {
    let s = secrets(c).get_opt(name).await.unwrap()?;
    let mut out: Vec<String> = s
        .owner_references()
        .iter()
        .filter(|r| r.kind == "ReplicaSet")
        .map(|r| r.name.clone())
        .collect();
    out.sort();
    Some(out)
}

async fn wait_owners(c: &Cluster, name: &str, want: &[String]) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = owners(c, name).await;
        if got.as_deref() == Some(want) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "owners of {name}: {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

/// A canary Rollout (50%, then an indefinite pause) whose pods mount the Secret `cfg`.
fn rollout_with_secret(name: &str, cfg: &str, history: i32) -> Value {
    let mut ro = rollout(
        name,
        2,
        json!([{"setWeight": 50}, {"pause": {}}]),
        "example.invalid/app:v1",
    );
    ro["spec"]["revisionHistoryLimit"] = json!(history);
    ro["spec"]["template"]["spec"]["volumes"] = json!([{"name": "cfg", "secret": {"secretName": cfg}}]);
    ro
}

/// A release: the pods mount `cfg` instead.
async fn mount(c: &Cluster, name: &str, cfg: &str) {
    let patch = json!({"spec": {"template": {"spec": {
        "volumes": [{"name": "cfg", "secret": {"secretName": cfg}}]}}}});
    rollouts(c)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

fn degraded(ro: &Rollout) -> Option<&Value> {
    ro.status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Degraded")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn helm_style_deleted_secret_holds_the_abort_until_it_is_restored() {
    let Some(c) = cluster("cfg-held").await else {
        return;
    };
    let ctrl = start_controller(&c);
    create_secret(&c, "cfg-a").await;
    create(&c, rollout_with_secret("app", "cfg-a", 10)).await;
    let v1 = wait_for(&c, "app", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    let stable = text(&v1, "stableRS").to_string();
    let stable_rs = format!("app-{stable}");
    wait_owners(&c, "cfg-a", std::slice::from_ref(&stable_rs)).await;

    // The release: a new immutable Secret, mounted by the new revision.
    create_secret(&c, "cfg-b").await;
    mount(&c, "app", "cfg-b").await;
    let p = wait_for(&c, "app", 90, "paused at step 1", |r| {
        paused(r) && step_index(r) == 1
    })
    .await;
    let canary = text(&p, "currentPodHash").to_string();
    wait_owners(&c, "cfg-b", &[format!("app-{canary}")]).await;
    wait_owners(&c, "cfg-a", std::slice::from_ref(&stable_rs)).await;

    // Helm deletes the previous release's Secret: an owner reference does not stop that.
    secrets(&c)
        .delete("cfg-a", &DeleteParams::default())
        .await
        .unwrap();
    let missing = wait_for(&c, "app", 60, "ConfigMissing", |r| {
        degraded(r).is_some_and(|d| d["reason"] == "ConfigMissing")
    })
    .await;
    let message = degraded(&missing).unwrap()["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(message.contains("Secret \"cfg-a\""), "{message}");
    assert_eq!(
        phase(&missing),
        "Paused",
        "a missing object alone does not degrade the update"
    );

    // The canary fails: abort. The stable pods could not start, so the rollback is held.
    ops::abort(&c.admin, &c.ns, "app").await.unwrap();
    let held = wait_for(&c, "app", 60, "rollback held", |r| {
        degraded(r).is_some_and(|d| d["reason"] == "RollbackHeldForConfig")
    })
    .await;
    assert_eq!(phase(&held), "Degraded");
    let d = degraded(&held).unwrap();
    assert_eq!(d["status"], "True");
    let message = d["message"].as_str().unwrap();
    assert!(
        message.contains(&stable_rs) && message.contains("Secret \"cfg-a\""),
        "{message}"
    );
    let why = held.status["why"].as_array().unwrap();
    let cause = why.iter().find(|w| w["cause"] == "RollbackHeld").expect("why");
    assert_eq!(
        cause["missingConfig"][0]["object"],
        json!({"kind": "Secret", "name": "cfg-a"})
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss = replica_sets(&c, "app").await;
    let canary_rs = rss.iter().find(|r| r.1 == canary).unwrap();
    assert_eq!(canary_rs.2, 1, "the canary keeps serving: {rss:?}");
    let events = wait_for_steady_events(&c, "Rollout", "app").await;
    let named: Vec<_> = events
        .iter()
        .filter(|e| (e.0 == "RollbackHeldForConfig" || e.0 == "ConfigMissing") && e.2.contains("cfg-a"))
        .map(|e| e.0.as_str())
        .collect();
    assert_eq!(named, ["ConfigMissing", "RollbackHeldForConfig"], "{events:#?}");

    // The Secret is re-applied (same content, same name): the abort completes.
    create_secret(&c, "cfg-a").await;
    wait_for_stable_restored(&c, "app", &stable, &canary, 2).await;
    let after = wait_for(&c, "app", 60, "condition cleared", |r| degraded(r).is_none()).await;
    assert_eq!(phase(&after), "Degraded", "still aborted");
    wait_owners(&c, "cfg-a", std::slice::from_ref(&stable_rs)).await;
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn protection_is_removed_when_the_old_replica_set_goes() {
    let Some(c) = cluster("cfg-normal").await else {
        return;
    };
    let ctrl = start_controller(&c);
    create_secret(&c, "cfg-a").await;
    create(&c, rollout_with_secret("web", "cfg-a", 0)).await;
    let v1 = wait_for(&c, "web", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    let old_rs = format!("web-{}", text(&v1, "stableRS"));
    wait_owners(&c, "cfg-a", std::slice::from_ref(&old_rs)).await;

    create_secret(&c, "cfg-b").await;
    mount(&c, "web", "cfg-b").await;
    wait_for(&c, "web", 90, "paused at step 1", |r| {
        paused(r) && step_index(r) == 1
    })
    .await;
    ops::promote(&c.admin, &c.ns, "web", false).await.unwrap();
    let done = wait_for(&c, "web", 120, "promoted", healthy_at_new_revision).await;
    let new_rs = format!("web-{}", text(&done, "stableRS"));
    // revisionHistoryLimit 0: the old ReplicaSet is deleted once scaled down, its reference first.
    wait_for_rs(&c, "web", |rss| rss.len() == 1).await;
    wait_owners(&c, "cfg-a", &[]).await;
    wait_owners(&c, "cfg-b", &[new_rs]).await;
    assert!(
        secrets(&c).get_opt("cfg-a").await.unwrap().is_some(),
        "an unprotected object is left to its owner (the release tool)"
    );
    let ro = rollouts(&c).get("web").await.unwrap();
    assert!(degraded(&ro).is_none(), "{:#?}", ro.status);
    ctrl.shutdown().await;
}
