//! Argo's controller instance id against a real API server: a controller started with
//! `instance_id = Some("ours")` manages only Rollouts labelled
//! `argo-rollouts.argoproj.io/controller-instance-id: ours`; a controller without an instance id
//! manages only Rollouts without the label. A Rollout labelled with another id (an existing Argo
//! controller's) is never touched by either: no status, no ReplicaSet, same resourceVersion.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::events::v1::Event;
use kube::ResourceExt;
use kube::api::Api;
use rollout_kube::ControllerConfig;
use rollout_kube::resources::INSTANCE_ID_LABEL;
use serde_json::json;

/// Runs a controller as the ServiceAccount in `c.ns` with `instance_id`, writing as `name`.
fn start(c: &Cluster, name: &str, instance_id: Option<&str>) -> Running {
    let config = ControllerConfig {
        namespace: Some(c.ns.clone()),
        instance_id: instance_id.map(str::to_string),
        name: name.to_string(),
        instance: Some(format!("{name}-0")),
        ..Default::default()
    };
    spawn_controller(c, config, None)
}

/// The field managers that wrote the Rollout (ours start with `rollout-`).
fn writers(ro: &rollout_kube::resources::Rollout) -> Vec<String> {
    let mut m: Vec<String> = ro
        .managed_fields()
        .iter()
        .filter_map(|f| f.manager.clone())
        .filter(|m| m.starts_with("rollout-"))
        .collect();
    m.sort();
    m.dedup();
    m
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instance_id_selects_exactly_the_labelled_rollouts() {
    let Some(c) = cluster("instance").await else {
        return;
    };
    let ours = start(&c, "rollout-ours", Some("ours"));
    let default = start(&c, "rollout-default", None);

    let mut created = Vec::new();
    for (name, id) in [
        ("labelled-ours", Some("ours")),
        ("labelled-theirs", Some("theirs")),
        ("unlabelled", None),
    ] {
        let mut ro = rollout(name, 1, json!([{"setWeight": 50}]), "example.invalid/x:v1");
        if let Some(id) = id {
            ro["metadata"]["labels"] = json!({ INSTANCE_ID_LABEL: id });
        }
        created.push(create(&c, ro).await);
    }
    let theirs_rv = created[1].resource_version();
    assert!(theirs_rv.is_some());

    // Each of our Rollouts is reconciled to Healthy by exactly the controller that selects it.
    for (name, writer) in [
        ("labelled-ours", "rollout-ours"),
        ("unlabelled", "rollout-default"),
    ] {
        let ro = wait_for(&c, name, 60, "Healthy", healthy_at_new_revision).await;
        assert_eq!(writers(&ro), [writer], "{name} was written by {:?}", writers(&ro));
        let rss = replica_sets(&c, name).await;
        assert_eq!(rss.len(), 1, "{name}: {rss:?}");
        assert_eq!(rss[0].2, 1, "{name}: {rss:?}");
    }

    // Another instance's Rollout: untouched while both controllers keep running.
    for _ in 0..12 {
        let theirs = rollouts(&c).get("labelled-theirs").await.unwrap();
        assert_eq!(
            theirs.resource_version(),
            theirs_rv,
            "status: {:#}",
            theirs.status
        );
        assert!(
            theirs.status.is_null() || theirs.status == json!({}),
            "{:#}",
            theirs.status
        );
        assert!(writers(&theirs).is_empty(), "{:?}", writers(&theirs));
        assert!(replica_sets(&c, "labelled-theirs").await.is_empty());
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // Events: published by the controller that manages the Rollout, naming its replica; none
    // about the other instance's Rollout.
    let events: Api<Event> = Api::namespaced(c.admin.clone(), &c.ns);
    let events = events.list(&Default::default()).await.unwrap().items;
    let about = |name: &str| -> Vec<(String, String)> {
        events
            .iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .map(|e| {
                let controller = e.reporting_controller.clone().unwrap_or_default();
                let instance = e.reporting_instance.clone().unwrap_or_default();
                (controller, instance)
            })
            .collect()
    };
    for (name, writer) in [
        ("labelled-ours", "rollout-ours"),
        ("unlabelled", "rollout-default"),
    ] {
        let by = about(name);
        assert!(!by.is_empty(), "no events about {name}");
        assert!(
            by.iter()
                .all(|(ctl, inst)| ctl == writer && *inst == format!("{writer}-0")),
            "{name}: {by:?}"
        );
    }
    assert_eq!(about("labelled-theirs"), []);

    // Relabelling hands a Rollout over: ours → the default controller's.
    let unlabel = json!({"metadata": {"labels": {INSTANCE_ID_LABEL: null}}});
    rollouts(&c)
        .patch(
            "labelled-ours",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&unlabel),
        )
        .await
        .unwrap();
    set_image(&c, "labelled-ours", "example.invalid/x:v2").await;
    let ro = wait_for(&c, "labelled-ours", 60, "Healthy at v2", |r| {
        healthy_at_new_revision(r) && writers(r).contains(&"rollout-default".to_string())
    })
    .await;
    assert_eq!(
        replica_sets(&c, "labelled-ours").await.len(),
        2,
        "{:#}",
        ro.status
    );

    ours.shutdown().await;
    default.shutdown().await;
}
