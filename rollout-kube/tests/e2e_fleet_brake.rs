//! End-to-end: the fleet brake on a real kube-apiserver. The controller (as its least-privilege
//! ServiceAccount) watches the `rollout-fleet-brake` ConfigMap in its install namespace; a hold on
//! image v2 pauses an update to v2 with a `FleetHold` condition naming the release, an update to
//! v3 is not held, an invalid brake object keeps the last valid holds, and removing the hold lets
//! the v2 update finish.

mod common;

use std::time::Duration;

use common::*;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use rollout_core::common::Timestamp;
use rollout_core::fleet::brake::{BRAKE_CONFIGMAP, Hold, HoldSelector};
use rollout_kube::fleet_brake::{DEFAULT_BRAKE_NAMESPACE, add_hold, list_holds, remove_hold};
use rollout_kube::resources::Rollout;
use serde_json::{Value, json};

const NS: &str = DEFAULT_BRAKE_NAMESPACE;

fn fleet_hold(ro: &Rollout) -> Option<&Value> {
    ro.status
        .get("conditions")
        .and_then(Value::as_array)?
        .iter()
        .find(|c| c["type"] == "FleetHold")
}

fn why_of(ro: &Rollout) -> Option<&Value> {
    ro.status
        .get("why")
        .and_then(Value::as_array)?
        .iter()
        .find(|w| w["cause"] == "FleetHold")
}

async fn set_brake_text(c: &Cluster, text: &str) {
    let patch = json!({"data": {"holds.yaml": text}});
    Api::<ConfigMap>::namespaced(c.admin.clone(), NS)
        .patch(BRAKE_CONFIGMAP, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_release_pauses_until_the_hold_is_removed() {
    let Some(c) = cluster("brake").await else { return };
    let ctrl = start_controller(&c);
    let steps = json!([{"setWeight": 50}, {"pause": {"duration": 1}}]);
    create(&c, rollout("web", 2, steps.clone(), "example.invalid/web:v1")).await;
    create(&c, rollout("api", 2, steps, "example.invalid/api:v1")).await;
    let web_v1 = wait_for(&c, "web", 90, "web v1 Healthy", healthy_at_new_revision).await;
    wait_for(&c, "api", 90, "api v1 Healthy", healthy_at_new_revision).await;
    let stable_v1 = text(&web_v1, "stableRS").to_string();

    // The fleet tool halts release v2: one hold on the v2 images.
    let since: Timestamp = "2026-12-02T10:00:00Z".parse().unwrap();
    for image in ["example.invalid/web:v2", "example.invalid/api:v2"] {
        let hold = Hold {
            image: Some(image.into()),
            revision: None,
            release: "v2".into(),
            reason: "fails in 7 of 120 environments".into(),
            since,
        };
        assert!(add_hold(&c.admin, NS, hold.clone()).await.unwrap());
        assert!(
            !add_hold(&c.admin, NS, hold).await.unwrap(),
            "adding it again changes nothing"
        );
    }
    assert_eq!(list_holds(&c.admin, NS).await.unwrap().holds.len(), 2);

    // web updates to the held v2: it pauses at its step, saying which release and why.
    set_image(&c, "web", "example.invalid/web:v2").await;
    let held = wait_for(&c, "web", 60, "web held by the brake", |r| {
        fleet_hold(r).is_some()
    })
    .await;
    let cond = fleet_hold(&held).unwrap();
    assert_eq!(cond["reason"], "ReleaseHeld");
    let message = cond["message"].as_str().unwrap();
    assert!(
        message.contains("release v2") && message.contains("image example.invalid/web:v2"),
        "{message}"
    );
    assert!(message.contains("fails in 7 of 120 environments"), "{message}");
    let why = why_of(&held).expect("status.why names the hold");
    assert_eq!(why["fleetHold"]["release"], "v2");
    assert_eq!(why["fleetHold"]["matched"]["image"], "example.invalid/web:v2");

    // api updates to v3 (not held): it goes all the way.
    set_image(&c, "api", "example.invalid/api:v3").await;
    let api = wait_for(&c, "api", 90, "api v3 promoted", healthy_at_new_revision).await;
    assert!(fleet_hold(&api).is_none());

    // Held means held: no step completes, the stable stays v1.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let still = rollouts(&c).get("web").await.unwrap();
    assert_eq!(step_index(&still), 0, "{:#}", still.status);
    assert_eq!(text(&still, "stableRS"), stable_v1);
    assert!(fleet_hold(&still).is_some());

    // An invalid brake object is reported and changes nothing: the hold stays in force.
    let valid = Api::<ConfigMap>::namespaced(c.admin.clone(), NS)
        .get(BRAKE_CONFIGMAP)
        .await
        .unwrap()
        .data
        .unwrap()["holds.yaml"]
        .clone();
    set_brake_text(&c, "- {release: v2}\n").await;
    let start = std::time::Instant::now();
    while !ctrl
        .metrics_text()
        .contains("rollout_fleet_brake_invalid_total 1")
    {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "{}",
            ctrl.metrics_text()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(ctrl.metrics_text().contains("rollout_fleet_brake_valid 0"));
    let err = list_holds(&c.admin, NS).await.unwrap_err().to_string();
    assert!(err.contains("holds[0].image"), "{err}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    let still = rollouts(&c).get("web").await.unwrap();
    assert!(fleet_hold(&still).is_some(), "the last valid holds stay in force");
    assert_eq!(text(&still, "stableRS"), stable_v1);
    set_brake_text(&c, &valid).await;

    // Removing the hold resumes the update; the condition goes away.
    let removed = remove_hold(
        &c.admin,
        NS,
        &HoldSelector {
            release: Some("v2".into()),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(removed.len(), 2);
    assert!(list_holds(&c.admin, NS).await.unwrap().holds.is_empty());
    let done = wait_for(&c, "web", 90, "web v2 promoted", healthy_at_new_revision).await;
    assert_ne!(text(&done, "stableRS"), stable_v1);
    assert!(fleet_hold(&done).is_none());
    assert!(why_of(&done).is_none());
    assert!(ctrl.metrics_text().contains("rollout_fleet_brake_holds 0"));
    ctrl.shutdown().await;
}
