//! End-to-end dry run on a real kube-apiserver (+ controller-manager, kubelet stand-in): a Rollout
//! annotated `rollout.io/dry-run: "true"` that takes over a Deployment gets a `DryRun` condition
//! and one `DryRun` event per withheld action, and nothing else happens (no ReplicaSet, the
//! Deployment untouched, no status write per tick). Removing the annotation lets the controller
//! act: the Deployment is drained and annotated with the Rollout that manages it. The
//! controller-wide `with_dry_run` does the same for a Rollout without the annotation.

mod common;

use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::apps::v1::Deployment;
use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams, PostParams};
use prometheus_client::registry::Registry;
use rollout_core::rollout::migration::{MANAGED_BY_ANNOTATION, REVERT_ANNOTATION};
use rollout_kube::resources::Rollout;
use rollout_kube::{ControllerConfig, RolloutController, ops};
use serde_json::{Value, json};

fn dry_condition(ro: &Rollout) -> Option<Value> {
    ro.status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "DryRun")
        .cloned()
}

async fn legacy_deployment(c: &Cluster, name: &str, replicas: i32) -> Api<Deployment> {
    let dep: Deployment = serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}},
                         "spec": {"containers": [{"name": "app", "image": "example.invalid/legacy:v1"}]}}
        }
    }))
    .unwrap();
    let api: Api<Deployment> = Api::namespaced(c.admin.clone(), &c.ns);
    api.create(&PostParams::default(), &dep).await.unwrap();
    api
}

fn taking_over(name: &str, replicas: i32, annotations: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "replicas": replicas,
            "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name, "scaleDown": "onsuccess"},
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {"duration": 1}}]}}
        }
    })
}

/// The Deployment's generation, replicas and annotations stay as created for `secs`, and the
/// Rollout gets no ReplicaSet and no write.
async fn assert_untouched(c: &Cluster, deployments: &Api<Deployment>, name: &str, replicas: i32, secs: u64) {
    let rv = rollouts(c).get(name).await.unwrap().metadata.resource_version;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(secs) {
        let d = deployments.get(name).await.unwrap();
        assert_eq!(d.metadata.generation, Some(1), "Deployment spec never written");
        assert_eq!(d.spec.replicas, Some(replicas));
        assert!(!d.annotations().contains_key(MANAGED_BY_ANNOTATION));
        assert_eq!(replica_sets(c, name).await, vec![], "no ReplicaSet created");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        rollouts(c).get(name).await.unwrap().metadata.resource_version,
        rv,
        "a steady dry run writes no status"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn annotated_rollout_records_and_withholds_then_acts_when_the_annotation_goes() {
    let Some(c) = cluster("dryrun").await else { return };
    let deployments = legacy_deployment(&c, "legacy", 3).await;
    let ctrl = start_controller(&c);
    create(
        &c,
        taking_over("legacy", 3, json!({"rollout.io/dry-run": "true"})),
    )
    .await;
    let ro = wait_for(&c, "legacy", 60, "a DryRun condition", |r| {
        dry_condition(r).is_some()
    })
    .await;
    let cond = dry_condition(&ro).unwrap();
    assert_eq!(cond["reason"], "ActionsWithheld", "{cond:#}");
    let msg = cond["message"].as_str().unwrap();
    assert!(msg.contains("create ReplicaSet legacy-"), "{msg}");
    assert!(msg.contains("with 3 replicas"), "{msg}");
    assert_untouched(&c, &deployments, "legacy", 3, 4).await;

    let events = wait_for_steady_events(&c, "Rollout", "legacy").await;
    let dry: Vec<_> = events.iter().filter(|e| e.0 == "DryRun").collect();
    assert!(
        dry.iter()
            .any(|e| e.2.starts_with("dry run: would create ReplicaSet legacy-")),
        "{events:#?}"
    );
    assert!(
        dry.iter().all(|e| e.1 == 1),
        "each recorded once, not once per tick: {events:#?}"
    );
    let view = ops::get(&c.admin, &c.ns, "legacy").await.unwrap();
    assert_eq!(view.dry_run.as_deref(), Some(msg));
    let w = view.workload.expect("the referenced Deployment");
    assert_eq!((w.replicas, w.managed_by), (3, None));

    // The annotation goes: the controller acts, the Deployment is drained and annotated.
    let patch = json!({"metadata": {"annotations": {"rollout.io/dry-run": null}}});
    rollouts(&c)
        .patch("legacy", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_for(&c, "legacy", 120, "Healthy, DryRun condition gone", |r| {
        healthy_at_new_revision(r) && dry_condition(r).is_none()
    })
    .await;
    let start = Instant::now();
    let d = loop {
        let d = deployments.get("legacy").await.unwrap();
        if d.spec.replicas == Some(0) {
            break d;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "not drained: {:?}",
            d.spec.replicas
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert_eq!(
        d.annotations().get(MANAGED_BY_ANNOTATION).map(String::as_str),
        Some("legacy")
    );
    assert_eq!(
        d.annotations().get(REVERT_ANNOTATION).cloned(),
        Some(format!("rollout revert legacy -n {}", c.ns))
    );
    let view = ops::get(&c.admin, &c.ns, "legacy").await.unwrap();
    assert_eq!(view.dry_run, None);
    let w = view.workload.unwrap();
    assert_eq!((w.replicas, w.managed_by.as_deref()), (0, Some("legacy")));
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_wide_dry_run_touches_nothing() {
    let Some(c) = cluster("dryrun-all").await else {
        return;
    };
    let deployments = legacy_deployment(&c, "shop", 2).await;
    let mut registry = Registry::default();
    let config = ControllerConfig {
        namespace: Some(c.ns.clone()),
        ..Default::default()
    };
    let ctrl = RolloutController::new(c.sa.clone(), config, &mut registry).with_dry_run(true);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ctrl.run(async move {
        let _ = rx.await;
    }));
    create(&c, taking_over("shop", 2, json!({}))).await;
    let ro = wait_for(&c, "shop", 60, "a DryRun condition", |r| {
        dry_condition(r).is_some()
    })
    .await;
    assert!(
        text(&ro, "currentPodHash").is_empty(),
        "no progress recorded: {:#}",
        ro.status
    );
    assert_untouched(&c, &deployments, "shop", 2, 4).await;
    let _ = tx.send(());
    tokio::time::timeout(Duration::from_secs(20), task)
        .await
        .unwrap()
        .unwrap();
}
