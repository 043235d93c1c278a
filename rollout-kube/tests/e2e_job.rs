//! End-to-end `job` provider (`rollout_kube::analysis::JobProvider`): a step analysis whose
//! metric runs a Kubernetes Job. The run creates the Job (owned by the AnalysisRun); the real
//! Job controller of kube-controller-manager creates its pod; a kubelet stand-in
//! (`common::spawn_job_kubelet`) ends the pod Succeeded or Failed by patching its status, and the
//! Job controller then sets the Job's `Complete` or `Failed` (BackoffLimitExceeded) condition,
//! which decides the measurement. No Job status is patched by the test.
//!
//! - a Job that succeeds: measurement and run Successful, the rollout continues;
//! - a Job that fails: measurement and run Failed with the Job controller's message, the rollout
//!   aborts and stable is back at full capacity;
//! - a Job still running when the run terminates (the rollout is aborted): the Job is deleted.

mod common;

use std::time::{Duration, Instant};

use common::*;
use k8s_openapi::api::batch::v1::Job;
use kube::ResourceExt;
use kube::api::{Api, ListParams, PostParams};
use rollout_kube::ops;
use rollout_kube::resources::{AnalysisRun, AnalysisTemplate};
use serde_json::{Value, json};

/// An AnalysisTemplate `check` whose single metric runs a Job; its pod ends with `exit`
/// (`None`: it never ends).
fn template(exit: Option<i32>) -> AnalysisTemplate {
    let mut labels = json!({"app": "check"});
    if let Some(code) = exit {
        labels[JOB_EXIT_LABEL] = json!(code.to_string());
    }
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "check"},
        "spec": {"metrics": [{
            "name": "smoke",
            "provider": {"job": {
                "metadata": {"labels": {"team": "payments"}},
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [{"name": "check", "image": "example.invalid/smoke-test:v1",
                                            "args": ["--target", "http://canary"]}]
                        }
                    }
                }
            }}
        }]}
    }))
    .unwrap()
}

struct JobCluster {
    c: Cluster,
    job_kubelet: tokio::task::JoinHandle<()>,
}

impl Drop for JobCluster {
    fn drop(&mut self) {
        self.job_kubelet.abort();
    }
}

/// A namespace with the job kubelet stand-in and the template; `None` when skipped.
async fn setup(prefix: &str, exit: Option<i32>) -> Option<JobCluster> {
    let c = cluster(prefix).await?;
    let job_kubelet = spawn_job_kubelet(c.admin.clone(), &c.ns);
    Api::<AnalysisTemplate>::namespaced(c.admin.clone(), &c.ns)
        .create(&PostParams::default(), &template(exit))
        .await
        .unwrap();
    Some(JobCluster { c, job_kubelet })
}

/// Deploys `name` (v1 Healthy), then updates it to v2, whose step 1 is the Job analysis.
/// Returns the stable hash.
async fn deploy_then_update(c: &Cluster, name: &str) -> String {
    let steps =
        json!([{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "check"}]}}, {"pause": {}}]);
    create(c, rollout(name, 2, steps, &format!("example.invalid/{name}:v1"))).await;
    let v1 = wait_for(c, name, 60, "initial deploy Healthy", healthy_at_new_revision).await;
    set_image(c, name, &format!("example.invalid/{name}:v2")).await;
    text(&v1, "stableRS").to_string()
}

async fn jobs(c: &Cluster) -> Vec<Job> {
    Api::<Job>::namespaced(c.admin.clone(), &c.ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
}

async fn the_run(c: &Cluster) -> AnalysisRun {
    let runs = Api::<AnalysisRun>::namespaced(c.admin.clone(), &c.ns)
        .list(&ListParams::default())
        .await
        .unwrap()
        .items;
    assert_eq!(runs.len(), 1, "one step run");
    runs.into_iter().next().unwrap()
}

/// The Job is the run's: controller owner reference to the run, the template's labels plus
/// `analysisrun`, and the template's pod spec.
fn assert_owned_by(job: &Job, run: &AnalysisRun) {
    let owner = &job.owner_references()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.name.as_str(), owner.controller),
        ("AnalysisRun", run.name_any().as_str(), Some(true))
    );
    assert_eq!(owner.uid, run.uid().unwrap());
    assert_eq!(job.labels()["team"], "payments");
    assert_eq!(job.labels()["analysisrun"], run.name_any());
    let pod = job.spec.as_ref().unwrap().template.spec.as_ref().unwrap();
    assert_eq!(
        pod.containers[0].args,
        Some(vec!["--target".to_string(), "http://canary".to_string()])
    );
}

fn condition(job: &Job, kind: &str) -> Option<(String, String)> {
    job.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == kind && c.status == "True")
        .map(|c| {
            (
                c.reason.clone().unwrap_or_default(),
                c.message.clone().unwrap_or_default(),
            )
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn succeeding_job_passes_the_step() {
    let Some(jc) = setup("job-ok", Some(0)).await else {
        return;
    };
    let c = &jc.c;
    let ctrl = start_controller(c);
    let stable = deploy_then_update(c, "shop").await;
    let paused = wait_for(c, "shop", 60, "paused at step 2 after the Job analysis", |r| {
        paused(r) && step_index(r) == 2
    })
    .await;
    assert_eq!(text(&paused, "stableRS"), stable);

    let run = the_run(c).await;
    let status = &run.status;
    assert_eq!(status["phase"], "Successful", "{status:#}");
    let m = &status["metricResults"][0]["measurements"][0];
    assert_eq!(
        (&m["phase"], &m["value"]),
        (&json!("Successful"), &json!("1")),
        "{status:#}"
    );
    let jobs = jobs(c).await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_eq!(m["metadata"]["job-name"], job.name_any());
    assert_owned_by(job, &run);
    // Decided by the Job controller, from the pod the stand-in ended.
    assert!(condition(job, "Complete").is_some(), "{:?}", job.status);
    assert_eq!(job.status.as_ref().unwrap().succeeded, Some(1));
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_job_fails_the_run_and_aborts_the_rollout() {
    let Some(jc) = setup("job-fail", Some(3)).await else {
        return;
    };
    let c = &jc.c;
    let ctrl = start_controller(c);
    let stable = deploy_then_update(c, "cart").await;
    let aborted = wait_for(c, "cart", 60, "Degraded after the Job failed", |r| {
        phase(r) == "Degraded"
    })
    .await;
    assert_eq!(text(&aborted, "stableRS"), stable);

    let run = the_run(c).await;
    let status = &run.status;
    assert_eq!(status["phase"], "Failed", "{status:#}");
    let m = &status["metricResults"][0]["measurements"][0];
    assert_eq!(
        (&m["phase"], &m["value"]),
        (&json!("Failed"), &json!("0")),
        "{status:#}"
    );
    let jobs = jobs(c).await;
    assert_eq!(jobs.len(), 1);
    let job = &jobs[0];
    assert_owned_by(job, &run);
    let (reason, message) = condition(job, "Failed").expect("Job Failed condition");
    assert_eq!(
        (reason.as_str(), message.as_str()),
        (
            "BackoffLimitExceeded",
            "Job has reached the specified backoff limit"
        )
    );
    assert_eq!(m["message"], json!(message), "{status:#}");
    assert_eq!(job.status.as_ref().unwrap().failed, Some(1));
    let rollout_message = text(&aborted, "message");
    assert!(
        rollout_message.starts_with("RolloutAborted: Rollout aborted update to revision 2")
            && rollout_message.contains(&message),
        "{rollout_message}"
    );

    let canary = text(&aborted, "currentPodHash").to_string();
    wait_for_stable_restored(c, "cart", &stable, &canary, 2).await;
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn running_job_is_deleted_when_the_run_terminates() {
    let Some(jc) = setup("job-term", None).await else {
        return;
    };
    let c = &jc.c;
    let ctrl = start_controller(c);
    let stable = deploy_then_update(c, "feed").await;

    // The Job's pod runs (and never ends) while the analysis waits for it.
    let start = Instant::now();
    let job = loop {
        let jobs = jobs(c).await;
        if let Some(job) = jobs
            .into_iter()
            .find(|j| j.status.as_ref().and_then(|s| s.active) == Some(1))
        {
            break job;
        }
        assert!(start.elapsed() < Duration::from_secs(60), "no active Job");
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let run = the_run(c).await;
    assert_owned_by(&job, &run);
    assert_eq!(run.status["phase"], "Running", "{:#}", run.status);

    ops::abort(&c.admin, &c.ns, "feed").await.unwrap();
    let aborted = wait_for(c, "feed", 60, "Degraded after abort", |r| phase(r) == "Degraded").await;
    assert_eq!(text(&aborted, "stableRS"), stable);
    let start = Instant::now();
    loop {
        let run = the_run(c).await;
        let left: Vec<Value> = jobs(c)
            .await
            .iter()
            .map(|j| json!([j.name_any(), j.metadata.deletion_timestamp]))
            .collect();
        if left.is_empty() {
            assert_eq!(run.spec["terminate"], json!(true), "{:#}", run.spec);
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "Job not deleted after the run terminated: {left:?}; run {:#}",
            run.status
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    ctrl.shutdown().await;
}
