//! Argo CD as an external test suite, on a real kube-apiserver: its Rollout health check
//! (`health.lua`) must give the Rollouts our controller writes the health it gives Argo Rollouts in
//! the same situation, and each of its Rollout actions (`actions/*/action.lua`), applied to a live
//! Rollout the way Argo CD applies it, must make our controller do what the action means.
//!
//! Argo CD has no `promote` action: `resume` (clear the pause) and `promote-full` are its promotes.

mod argocd;
mod common;

use std::time::Duration;

use argocd::{ArgoCd, merge_diff};
use common::*;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use rollout_core::common::Timestamp;
use rollout_core::rollout::phase::WORKLOAD_GENERATION_ANNOTATION;
use rollout_core::rollout::{RolloutPhase, rollout_phase};
use rollout_kube::resources::Rollout;
use rollout_kube::testenv;
use serde_json::{Value, json};

/// Pods with an image ending in this never become ready.
const STUCK: &str = ":stuck";

/// Replaces the kubelet stand-in with one that leaves pods of `STUCK` images unready.
fn kubelet_with_stuck_images(c: &mut Cluster) {
    c.kubelet.abort();
    c.kubelet = testenv::spawn_kubelet(c.admin.clone(), &c.ns, Duration::from_millis(300), |p: &Pod| {
        p.spec.as_ref().is_some_and(|s| {
            s.containers
                .iter()
                .any(|c| c.image.as_deref().is_some_and(|i| i.ends_with(STUCK)))
        })
    });
}

/// The Rollout object as Argo CD reads it from the API server.
fn object(ro: &Rollout) -> Value {
    serde_json::to_value(ro).expect("Rollout to JSON")
}

fn observed(ro: &Rollout) -> bool {
    text(ro, "observedGeneration") == ro.metadata.generation.unwrap_or(0).to_string()
}

/// Asserts Argo CD's health of `ro` is `(status, message)`, and that it agrees with what our
/// `rollout_phase` shows for the same object (Argo CD shows `Paused` as `Suspended`).
fn assert_health(cd: &ArgoCd, ro: &Rollout, status: &str, message: &str) {
    let h = cd.health(&object(ro));
    assert_eq!(
        (h.status.as_str(), h.message.as_str()),
        (status, message),
        "Argo CD's health of {:#}",
        ro.status
    );
    // What `rollout get` shows (`ops::get`): `rollout_phase`, or for a spec the core cannot read,
    // the status as the controller wrote it.
    let (phase, msg) = match ro.to_core() {
        Ok(core) => {
            let (phase, msg) = rollout_phase(&core);
            (format!("{phase:?}"), msg)
        }
        Err(_) => (text(ro, "phase").to_string(), text(ro, "message").to_string()),
    };
    let ours = if phase == format!("{:?}", RolloutPhase::Paused) {
        "Suspended".to_string()
    } else {
        phase
    };
    if observed(ro) {
        assert_eq!((ours.as_str(), msg.as_str()), (status, message), "rollout_phase");
    } else {
        assert_eq!(ours, status, "rollout_phase while the spec is not observed");
    }
}

/// Runs Argo CD's action `name` on the live Rollout and writes the result back as Argo CD does: a
/// JSON merge patch from the live object to the action's result, sent to the status subresource
/// when the status changed, then to the object. Returns the patch.
async fn apply_action(c: &Cluster, cd: &ArgoCd, name: &str, action: &str) -> Value {
    let live = object(&rollouts(c).get(name).await.unwrap());
    let changed = cd.action(action, &live);
    let patch = merge_diff(&live, &changed);
    let pp = PatchParams::default();
    if patch.get("status").is_some() {
        rollouts(c)
            .patch_status(name, &pp, &Patch::Merge(&patch))
            .await
            .unwrap_or_else(|e| panic!("{action}: patch status {patch}: {e}"));
    }
    rollouts(c)
        .patch(name, &pp, &Patch::Merge(&patch))
        .await
        .unwrap_or_else(|e| panic!("{action}: patch {patch}: {e}"));
    patch
}

/// Replicas of the ReplicaSet with pod-template hash `hash`.
async fn rs_replicas(c: &Cluster, name: &str, hash: &str) -> i32 {
    replica_sets(c, name)
        .await
        .iter()
        .find(|r| r.1 == hash)
        .map_or(0, |r| r.2)
}

fn pause_reason(ro: &Rollout) -> &str {
    ro.status["pauseConditions"][0]["reason"].as_str().unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn canary_health_and_actions_match_argo_cd() {
    let Some(cd) = ArgoCd::find() else { return };
    let Some(c) = cluster("argocd-canary").await else {
        return;
    };
    let ctrl = start_controller(&c);
    let steps = json!([
        {"setWeight": 25}, {"pause": {"duration": 5}},
        {"setWeight": 50}, {"pause": {}},
        {"setWeight": 75}, {"pause": {}}
    ]);
    create(&c, rollout("web", 4, steps, "example.invalid/web:v1")).await;
    let v1 = wait_for(&c, "web", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    assert_health(&cd, &v1, "Healthy", "");
    let stable = text(&v1, "stableRS").to_string();

    // pause: `spec.paused`; the rollout holds at its current step, even past a timed pause.
    set_image(&c, "web", "example.invalid/web:v2").await;
    let patch = apply_action(&c, &cd, "web", "pause").await;
    assert_eq!(patch, json!({"spec": {"paused": true}}));
    let p = wait_for(&c, "web", 60, "manually paused", |r| {
        observed(r) && phase(r) == "Paused" && text(r, "message") == "manually paused"
    })
    .await;
    assert_health(&cd, &p, "Suspended", "manually paused");
    tokio::time::sleep(Duration::from_secs(7)).await;
    let held = rollouts(&c).get("web").await.unwrap();
    assert!(step_index(&held) <= 1, "advanced while paused: {:#}", held.status);
    assert_health(&cd, &held, "Suspended", "manually paused");
    let canary = text(&held, "currentPodHash").to_string();
    assert_ne!(canary, stable);

    // resume: clears `spec.paused`; the rollout goes on to the next indefinite pause.
    apply_action(&c, &cd, "web", "resume").await;
    let p3 = wait_for(&c, "web", 90, "paused at step 3", |r| {
        paused(r) && step_index(r) == 3
    })
    .await;
    assert_health(&cd, &p3, "Suspended", "CanaryPauseStep");
    assert!(!p3.spec["paused"].as_bool().unwrap_or(false));
    assert_eq!(rs_replicas(&c, "web", &canary).await, 2, "50% of 4");

    // skip-current-step: the step index moves on and the pause is gone.
    let patch = apply_action(&c, &cd, "web", "skip-current-step").await;
    assert_eq!(patch["status"]["currentStepIndex"], json!(4), "{patch}");
    let p5 = wait_for(&c, "web", 90, "paused at step 5", |r| {
        paused(r) && step_index(r) == 5
    })
    .await;
    assert_health(&cd, &p5, "Suspended", "CanaryPauseStep");
    assert_eq!(rs_replicas(&c, "web", &canary).await, 3, "75% of 4");

    // abort: Degraded, all traffic and capacity back on stable.
    let patch = apply_action(&c, &cd, "web", "abort").await;
    assert_eq!(patch["status"]["abort"], json!(true), "{patch}");
    let aborted = wait_for(&c, "web", 90, "Degraded after abort", |r| phase(r) == "Degraded").await;
    assert_health(
        &cd,
        &aborted,
        "Degraded",
        "RolloutAborted: Rollout aborted update to revision 2",
    );
    wait_for_stable_restored(&c, "web", &stable, &canary, 4).await;

    // retry: the abort is lifted and the update starts again.
    let patch = apply_action(&c, &cd, "web", "retry").await;
    assert_eq!(patch, json!({"status": {"abort": null}}));
    let retried = wait_for(&c, "web", 90, "update resumed and paused", |r| {
        phase(r) == "Paused" && paused(r)
    })
    .await;
    assert!(retried.status.get("abort").is_none_or(|a| a == &json!(false)));
    assert_health(&cd, &retried, "Suspended", "CanaryPauseStep");
    assert!(rs_replicas(&c, "web", &canary).await > 0, "the canary is back");

    // promote-full: every remaining step skipped, the canary becomes stable.
    let patch = apply_action(&c, &cd, "web", "promote-full").await;
    assert_eq!(patch, json!({"status": {"promoteFull": true}}));
    let done = wait_for(&c, "web", 120, "fully promoted", healthy_at_new_revision).await;
    assert_eq!(text(&done, "stableRS"), canary);
    assert_health(&cd, &done, "Healthy", "");
    ctrl.shutdown().await;
}

/// Argo CD's restart action sets `spec.restartAt`; until the pods are restarted both Argo CD and
/// `rollout_phase` show the Rollout as Progressing, as upstream (`CalculateRolloutPhase`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_action_sets_restart_at_and_reads_as_restarting() {
    let Some(cd) = ArgoCd::find() else { return };
    let Some(c) = cluster("argocd-restart-at").await else {
        return;
    };
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
    wait_for(&c, "api", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    let patch = apply_action(&c, &cd, "api", "restart").await;
    let keys: Vec<&String> = patch["spec"]
        .as_object()
        .map(|o| o.keys().collect())
        .unwrap_or_default();
    assert_eq!(keys, ["restartAt"], "{patch}");
    assert!(patch.get("status").is_none(), "{patch}");
    let at: Timestamp = patch["spec"]["restartAt"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no restartAt timestamp in {patch}"));
    let live = rollouts(&c).get("api").await.unwrap();
    assert_eq!(live.to_core().unwrap().spec.restart_at, Some(at));
    // The restart itself now completes within seconds (each pod is replaced and ready in about a
    // second), so the poll may see it pending or already recorded: both are checked.
    let seen = wait_for(&c, "api", 60, "restart observed or recorded", |r| {
        observed(r)
            && (text(r, "message") == "rollout is restarting"
                || text(r, "restartedAt").parse::<Timestamp>().ok() == Some(at))
    })
    .await;
    if text(&seen, "message") == "rollout is restarting" {
        assert_eq!(phase(&seen), "Progressing");
        assert_health(&cd, &seen, "Progressing", "rollout is restarting");
    } else {
        let done = wait_for(&c, "api", 60, "Healthy after the restart", |r| {
            phase(r) == "Healthy"
        })
        .await;
        assert_health(&cd, &done, "Healthy", "");
    }
    ctrl.shutdown().await;
}

/// Argo CD's restart action: our controller evicts every pod created before `restartAt` (the
/// ReplicaSet controller replaces them), then records `status.restartedAt` and is Healthy again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_action_restarts_the_pods() {
    let Some(cd) = ArgoCd::find() else { return };
    let Some(c) = cluster("argocd-restart").await else {
        return;
    };
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
    wait_for(&c, "api", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    let pods: Api<Pod> = Api::namespaced(c.admin.clone(), &c.ns);
    let listed = pods.list(&ListParams::default()).await.unwrap().items;
    let before: Vec<String> = listed.iter().filter_map(|p| p.metadata.uid.clone()).collect();
    assert_eq!(before.len(), 2);
    // `restartAt` has whole seconds (the action's `os.date`) and, as upstream, only pods created
    // strictly before it restart: a pod created in the same second as the action counts as
    // restarted already. Apply the action once the clock is past the newest pod's second.
    let newest = listed
        .iter()
        .filter_map(|p| p.metadata.creation_timestamp.as_ref())
        .map(|t| t.0)
        .max()
        .expect("pods have creation timestamps");
    while Timestamp::now().as_second() <= newest.as_second() {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let patch = apply_action(&c, &cd, "api", "restart").await;
    let at: Timestamp = patch["spec"]["restartAt"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no restartAt timestamp in {patch}"));
    // Restarted: every pod replaced, `status.restartedAt` records the request, Healthy again.
    let done = wait_for(&c, "api", 120, "restart recorded", |r| {
        text(r, "restartedAt").parse::<Timestamp>().ok() == Some(at) && phase(r) == "Healthy"
    })
    .await;
    assert_health(&cd, &done, "Healthy", "");
    let after: Vec<String> = pods
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| p.metadata.uid)
        .collect();
    assert!(
        after.iter().all(|u| !before.contains(u)),
        "pods not restarted: {before:?} -> {after:?}"
    );
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn progressing_deadline_invalid_spec_and_unobserved_spec_health_match_argo_cd() {
    let Some(cd) = ArgoCd::find() else { return };
    let Some(mut c) = cluster("argocd-degraded").await else {
        return;
    };
    kubelet_with_stuck_images(&mut c);
    let ctrl = start_controller(&c);
    let mut ro = rollout(
        "slow",
        2,
        json!([{"setWeight": 50}, {"pause": {}}]),
        "example.invalid/slow:v1",
    );
    ro["spec"]["progressDeadlineSeconds"] = json!(8);
    create(&c, ro).await;
    wait_for(&c, "slow", 90, "initial deploy Healthy", healthy_at_new_revision).await;

    // Progressing: the canary's pods never become ready.
    set_image(&c, "slow", &format!("example.invalid/slow:v2{STUCK}")).await;
    let prog = wait_for(&c, "slow", 60, "observed and Progressing", |r| {
        observed(r) && phase(r) == "Progressing" && !text(r, "currentPodHash").is_empty()
    })
    .await;
    let msg = text(&prog, "message").to_string();
    assert_health(&cd, &prog, "Progressing", &msg);

    // Progress deadline exceeded: Degraded with the ReplicaSet's timeout.
    let late = wait_for(&c, "slow", 60, "ProgressDeadlineExceeded", |r| {
        phase(r) == "Degraded"
    })
    .await;
    let hash = text(&late, "currentPodHash");
    assert_health(
        &cd,
        &late,
        "Degraded",
        &format!("ProgressDeadlineExceeded: ReplicaSet \"slow-{hash}\" has timed out progressing."),
    );

    // InvalidSpec: Degraded with the validation message.
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
    let bad = wait_for(&c, "bad", 60, "InvalidSpec", |r| phase(r) == "Degraded").await;
    let msg = text(&bad, "message").to_string();
    assert!(msg.starts_with("InvalidSpec: "), "{msg}");
    assert_health(&cd, &bad, "Degraded", &msg);

    // A spec change the controller has not observed yet: Progressing, whatever the old phase.
    ctrl.shutdown().await;
    set_image(&c, "slow", "example.invalid/slow:v3").await;
    let unseen = rollouts(&c).get("slow").await.unwrap();
    assert!(!observed(&unseen));
    assert_eq!(phase(&unseen), "Degraded");
    assert_health(
        &cd,
        &unseen,
        "Progressing",
        "Waiting for rollout spec update to be observed",
    );
    assert_eq!(
        rollout_phase(&unseen.to_core().unwrap()).1,
        "waiting for rollout spec update to be observed"
    );
}

fn service(name: &str, app: &str) -> Service {
    serde_json::from_value(json!({
        "metadata": {"name": name},
        "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]}
    }))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blue_green_preview_health_and_resume_match_argo_cd() {
    let Some(cd) = ArgoCd::find() else { return };
    let Some(c) = cluster("argocd-bluegreen").await else {
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
    let mut ro = rollout("shop", 2, json!([]), "example.invalid/shop:v1");
    ro["spec"]["strategy"] = json!({"blueGreen": {
        "activeService": "shop-active", "previewService": "shop-preview", "autoPromotionEnabled": false
    }});
    create(&c, ro).await;
    let v1 = wait_for(&c, "shop", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    assert_health(&cd, &v1, "Healthy", "");

    set_image(&c, "shop", "example.invalid/shop:v2").await;
    let p = wait_for(&c, "shop", 90, "BlueGreenPause", |r| {
        pause_reason(r) == "BlueGreenPause"
    })
    .await;
    assert_health(&cd, &p, "Suspended", "BlueGreenPause");
    let green = text(&p, "currentPodHash").to_string();

    // resume is how Argo CD's UI promotes a paused blue-green Rollout.
    let patch = apply_action(&c, &cd, "shop", "resume").await;
    assert_eq!(patch, json!({"status": {"pauseConditions": null}}));
    let done = wait_for(&c, "shop", 90, "promoted to green", healthy_at_new_revision).await;
    assert_eq!(text(&done, "stableRS"), green);
    assert_eq!(done.status["blueGreen"]["activeSelector"], json!(green));
    assert_health(&cd, &done, "Healthy", "");
    ctrl.shutdown().await;
}

/// A `workloadRef` Rollout managed by Argo CD carries annotations (Argo CD's tracking id), so Argo
/// CD compares the `rollout.argoproj.io/workload-generation` annotation with
/// `status.workloadObservedGeneration`: the controller must keep that annotation, as upstream does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workload_ref_health_matches_argo_cd() {
    use k8s_openapi::api::apps::v1::Deployment;
    let Some(cd) = ArgoCd::find() else { return };
    let Some(c) = cluster("argocd-workload").await else {
        return;
    };
    let dep: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "legacy"},
        "spec": {
            "replicas": 0,
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
            "metadata": {"name": "legacy", "annotations": {"argocd.argoproj.io/tracking-id": "shop:argoproj.io/Rollout:legacy"}},
            "spec": {
                "replicas": 2,
                "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "legacy"},
                "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}
            }
        }),
    )
    .await;
    // The controller annotates the Rollout right after it writes the status.
    let done = wait_for(&c, "legacy", 90, "Healthy from the Deployment's template", |r| {
        let observed = text(r, "workloadObservedGeneration");
        healthy_at_new_revision(r)
            && !observed.is_empty()
            && r.annotations()
                .get(WORKLOAD_GENERATION_ANNOTATION)
                .map(String::as_str)
                == Some(observed)
    })
    .await;
    assert_health(&cd, &done, "Healthy", "");
    // The annotation the health check compares is the Deployment's generation, as upstream writes it.
    let generation = deployments.get("legacy").await.unwrap().metadata.generation;
    let annotation = done.annotations().get(WORKLOAD_GENERATION_ANNOTATION).cloned();
    assert_eq!(annotation, generation.map(|g| g.to_string()));
    ctrl.shutdown().await;
}

/// A spec edit the controller cannot even read (a string where a number belongs; the CRD schema
/// lets it through) must read as Degraded in Argo CD, as upstream's InvalidSpec does: the controller
/// records it with `status.observedGeneration` caught up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreadable_spec_edit_is_degraded_in_argo_cd() {
    let Some(cd) = ArgoCd::find() else { return };
    let Some(c) = cluster("argocd-unreadable").await else {
        return;
    };
    let ctrl = start_controller(&c);
    create(
        &c,
        rollout(
            "typo",
            1,
            json!([{"setWeight": 50}, {"pause": {}}]),
            "example.invalid/typo:v1",
        ),
    )
    .await;
    wait_for(&c, "typo", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    let patch = json!({"spec": {"strategy": {"canary": {"steps": [{"setWeight": "fifty"}]}}}});
    rollouts(&c)
        .patch("typo", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let bad = wait_for(&c, "typo", 60, "InvalidSpec", |r| {
        r.status["conditions"]
            .as_array()
            .is_some_and(|cs| cs.iter().any(|c| c["type"] == "InvalidSpec"))
    })
    .await;
    let msg = text(&bad, "message").to_string();
    assert!(msg.starts_with("InvalidSpec: "), "{msg}");
    assert_health(&cd, &bad, "Degraded", &msg);
    ctrl.shutdown().await;
}
