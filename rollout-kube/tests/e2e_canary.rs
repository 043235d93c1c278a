//! End-to-end: the controller (as its least-privilege ServiceAccount) drives canary Rollouts on a
//! real kube-apiserver + kube-controller-manager, with a kubelet stand-in marking pods ready.

mod common;

use common::*;
use rollout_kube::{ControllerConfig, ops};
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_pauses_promotes_and_scales_down_the_old_replicaset() {
    let Some(c) = cluster("canary").await else { return };
    let ctrl = start_controller(&c);
    let steps = json!([{"setWeight": 25}, {"pause": {}}, {"setWeight": 50}, {"pause": {"duration": 1}}]);
    create(&c, rollout("web", 4, steps, "example.invalid/web:v1")).await;
    let v1 = wait_for(&c, "web", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    let stable_v1 = text(&v1, "stableRS").to_string();
    assert_eq!(
        replica_sets(&c, "web").await,
        vec![(format!("web-{stable_v1}"), stable_v1.clone(), 4, 4)]
    );

    set_image(&c, "web", "example.invalid/web:v2").await;
    let at_pause = wait_for(&c, "web", 90, "paused at step 1", |r| {
        paused(r) && step_index(r) == 1
    })
    .await;
    assert_eq!(phase(&at_pause), "Paused");
    let canary = text(&at_pause, "currentPodHash").to_string();
    assert_ne!(canary, stable_v1);
    let rss = replica_sets(&c, "web").await;
    assert_eq!(rss.len(), 2, "{rss:?}");
    let by_hash = |h: &str| rss.iter().find(|r| r.1 == h).cloned().unwrap();
    assert_eq!(by_hash(&canary).2, 1, "25% of 4 replicas: {rss:?}");
    assert_eq!(by_hash(&stable_v1).2, 3, "{rss:?}");

    // Argo's `promote` on a paused rollout: `status.pauseConditions: null`.
    ops::promote(&c.admin, &c.ns, "web", false).await.unwrap();
    let done = wait_for(&c, "web", 120, "promoted to v2", healthy_at_new_revision).await;
    assert_eq!(text(&done, "stableRS"), canary);
    let rss = wait_for_rs(&c, "web", |rss| {
        rss.iter()
            .all(|r| (r.1 == canary && r.2 == 4) || (r.1 != canary && r.2 == 0))
    })
    .await;
    assert_eq!(rss.len(), 2);

    // Steady state: no writes to the Rollout while nothing changes.
    let rv = rollouts(&c).get("web").await.unwrap().metadata.resource_version;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        rollouts(&c).get("web").await.unwrap().metadata.resource_version,
        rv
    );

    // A view an engineer can read.
    let view = ops::get(&c.admin, &c.ns, "web").await.unwrap();
    assert_eq!(view.phase, "Healthy");
    assert_eq!(view.replica_sets[0].role, "stable");
    assert_eq!(
        (view.replica_sets[0].replicas, view.replica_sets[0].ready),
        (4, 4)
    );
    assert_eq!(view.step, Some((4, 4)));

    let metrics = ctrl.metrics_text();
    assert!(metrics.contains("rollout_reconciles_total"), "{metrics}");
    // Argo's per-object series are off by default; the fleet's outcome and cost series are not.
    for argo in [
        "rollout_info{",
        "rollout_phase{",
        "rollout_reconcile_bucket{",
        "rollout_events_total{",
    ] {
        assert!(!metrics.contains(argo), "no {argo} without the flag: {metrics}");
    }
    assert!(metrics.contains("rollout_release_outcome{"), "{metrics}");
    ctrl.shutdown().await;

    // With the flag, Argo's per-object series: gauges from the restarted controller's cache and
    // the reconcile histogram its first pass records.
    let config = ControllerConfig {
        namespace: Some(c.ns.clone()),
        per_object_metrics: true,
        ..Default::default()
    };
    let ctrl = spawn_controller(&c, config, None);
    let id = format!(r#"namespace="{}",name="web""#, c.ns);
    let want = [
        format!(r#"rollout_info{{{id},strategy="canary",traffic_router="",phase="Completed"}} 1"#),
        format!(r#"rollout_phase{{{id},strategy="canary",phase="Completed"}} 1"#),
        format!("rollout_info_replicas_available{{{id}}} 4"),
        format!("rollout_info_replicas_unavailable{{{id}}} 0"),
        format!("rollout_info_replicas_desired{{{id}}} 4"),
        format!("rollout_info_replicas_updated{{{id}}} 4"),
        format!(r#"rollout_reconcile_bucket{{le="+Inf",{id}}} "#),
    ];
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let mut metrics = ctrl.metrics_text();
    while !want
        .iter()
        .all(|w| metrics.lines().any(|l| l.starts_with(w.as_str())))
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(200)).await;
        metrics = ctrl.metrics_text();
    }
    for w in &want {
        assert!(
            metrics.lines().any(|l| l.starts_with(w.as_str())),
            "missing {w}\n{metrics}"
        );
    }
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn argo_abort_patch_aborts_and_restores_stable_capacity() {
    let Some(c) = cluster("abort").await else { return };
    let ctrl = start_controller(&c);
    create(
        &c,
        rollout(
            "api",
            2,
            json!([{"setWeight": 50}, {"pause": {}}]),
            "example.invalid/api:v1",
        ),
    )
    .await;
    let v1 = wait_for(&c, "api", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    let stable = text(&v1, "stableRS").to_string();
    set_image(&c, "api", "example.invalid/api:v2").await;
    let p = wait_for(&c, "api", 90, "paused at step 1", |r| {
        paused(r) && step_index(r) == 1
    })
    .await;
    let canary = text(&p, "currentPodHash").to_string();

    // `kubectl argo rollouts abort`: `{"status":{"abort":true}}`.
    ops::abort(&c.admin, &c.ns, "api").await.unwrap();
    let aborted = wait_for(&c, "api", 90, "Degraded after abort", |r| phase(r) == "Degraded").await;
    assert_eq!(text(&aborted, "stableRS"), stable);
    assert_eq!(aborted.status["abort"], json!(true), "the user's abort stays set");
    wait_for_stable_restored(&c, "api", &stable, &canary, 2).await;
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_spec_shows_invalidspec_and_touches_nothing() {
    let Some(c) = cluster("invalid").await else { return };
    let ctrl = start_controller(&c);
    // Two fields in one step is invalid.
    create(
        &c,
        rollout(
            "bad",
            2,
            json!([{"setWeight": 20, "pause": {}}]),
            "example.invalid/bad:v1",
        ),
    )
    .await;
    let ro = wait_for(&c, "bad", 60, "InvalidSpec", |r| {
        r.status["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "InvalidSpec"))
    })
    .await;
    assert_eq!(phase(&ro), "Degraded");
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        replica_sets(&c, "bad").await.is_empty(),
        "no ReplicaSet for an invalid spec"
    );
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_mid_rollout_resumes_without_duplicates() {
    let Some(c) = cluster("restart").await else { return };
    let first = start_controller(&c);
    create(
        &c,
        rollout(
            "svc",
            3,
            json!([{"setWeight": 34}, {"pause": {}}, {"setWeight": 67}, {"pause": {}}]),
            "example.invalid/svc:v1",
        ),
    )
    .await;
    wait_for(&c, "svc", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    set_image(&c, "svc", "example.invalid/svc:v2").await;
    let p = wait_for(&c, "svc", 90, "paused at step 1", |r| {
        paused(r) && step_index(r) == 1
    })
    .await;
    first.shutdown().await;

    let second = start_controller(&c);
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rollouts(&c).get("svc").await.unwrap();
    assert_eq!(step_index(&after), 1, "no double step advance");
    assert!(paused(&after));
    assert_eq!(text(&after, "currentPodHash"), text(&p, "currentPodHash"));
    assert_eq!(replica_sets(&c, "svc").await.len(), 2, "no duplicate ReplicaSet");

    ops::promote(&c.admin, &c.ns, "svc", false).await.unwrap();
    wait_for(&c, "svc", 90, "paused at step 3", |r| {
        paused(r) && step_index(r) == 3
    })
    .await;
    ops::promote(&c.admin, &c.ns, "svc", true).await.unwrap();
    wait_for(&c, "svc", 120, "fully promoted", healthy_at_new_revision).await;
    assert_eq!(replica_sets(&c, "svc").await.len(), 2);
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_ref_progressively_drains_the_deployment() {
    use k8s_openapi::api::apps::v1::Deployment;
    use kube::api::{Api, PostParams};
    let Some(c) = cluster("workload").await else {
        return;
    };
    let dep: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "legacy"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "legacy"}},
            "template": {"metadata": {"labels": {"app": "legacy"}},
                         "spec": {"containers": [{"name": "app", "image": "example.invalid/legacy:v1"}]}}
        }
    }))
    .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(c.admin.clone(), &c.ns);
    deployments.create(&PostParams::default(), &dep).await.unwrap();
    let ctrl = start_controller(&c);
    create(
        &c,
        json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "legacy"},
            "spec": {
                "replicas": 3,
                "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "legacy", "scaleDown": "progressively"},
                "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {"duration": 1}}]}}
            }
        }),
    )
    .await;
    wait_for(
        &c,
        "legacy",
        120,
        "Healthy from the Deployment's template",
        healthy_at_new_revision,
    )
    .await;
    let rss = wait_for_rs(&c, "legacy", |rss| rss.len() == 1 && rss[0].3 == 3).await;
    assert_eq!(rss[0].2, 3);
    // The Deployment was drained as the Rollout's pods became ready.
    let start = std::time::Instant::now();
    loop {
        let replicas = deployments.get("legacy").await.unwrap().spec.replicas;
        if replicas == Some(0) {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "Deployment still has {replicas:?} replicas"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    ctrl.shutdown().await;
}
