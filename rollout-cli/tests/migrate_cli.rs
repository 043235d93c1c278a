//! `rollout migrate` and `rollout revert` (the real binary) against a real kube-apiserver with
//! kube-controller-manager and a kubelet stand-in, while `rollout controller` runs: a
//! ResourceQuota that refuses the hand-over's peak is reported (exit 7, nothing applied); with
//! room, `--apply` creates the Rollout and the controller drains and annotates the Deployment
//! (`rollout get` shows it); `revert` gives the pods back, sampled all along: never fewer ready
//! pods than the availability floor. Skipped locally without ROLLOUT_KUBE_BIN (CI sets it).

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, ResourceQuota};
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::runtime::watcher::{self, watcher};
use kube::{Client, ResourceExt};
use rollout_kube::manifests;
use rollout_kube::resources::Rollout;
use rollout_kube::testenv::{self, TestEnvOptions};
use serde_json::{Value, json};

/// Kills the child if the test fails before it ends.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn rollout(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

async fn wait_until<T>(what: &str, secs: u64, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = probe().await {
            return v;
        }
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Ready pods that are not being deleted, of the Deployment and of the Rollout together.
async fn ready_pods(client: &Client, ns: &str) -> usize {
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    pods.list(&ListParams::default().labels("app=web"))
        .await
        .unwrap()
        .items
        .iter()
        .filter(|p| serving(p))
        .count()
}

/// Ready and not being deleted.
fn serving(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The most `app=web` pods ready (and not being deleted) at once, as a pod watch sees them from
/// now on (the watch task ends with the test's runtime).
fn watch_most_ready(client: &Client, ns: &str) -> Arc<AtomicUsize> {
    let most = Arc::new(AtomicUsize::new(0));
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    let config = watcher::Config::default().labels("app=web");
    let seen = most.clone();
    tokio::spawn(async move {
        let mut ready: HashMap<String, bool> = HashMap::new();
        let mut events = std::pin::pin!(watcher(pods, config));
        while let Some(event) = events.next().await {
            match event {
                Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p)) => {
                    ready.insert(p.uid().unwrap_or_default(), serving(&p));
                }
                Ok(watcher::Event::Delete(p)) => {
                    ready.remove(&p.uid().unwrap_or_default());
                }
                Ok(watcher::Event::Init | watcher::Event::InitDone) | Err(_) => {}
            }
            seen.fetch_max(ready.values().filter(|r| **r).count(), Ordering::SeqCst);
        }
    });
    most
}

async fn quota_used_pods(quotas: &Api<ResourceQuota>) -> Option<String> {
    let q = quotas.get("team").await.ok()?;
    q.status?.used?.get("pods").map(|v| v.0.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn migrate_reports_a_refusing_quota_then_applies_and_reverts_above_the_floor() {
    let Some(env) = testenv::shared(TestEnvOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    let admin = env.client().unwrap();
    env.install_crds(&manifests::crds_yaml().unwrap()).await.unwrap();
    let ns = env.namespace("migrate").await.unwrap();
    let kubeconfig = env.kubeconfig_path().to_path_buf();
    let kubelet = testenv::spawn_kubelet(admin.clone(), &ns, Duration::from_millis(300), |_| false);

    let deployments: Api<Deployment> = Api::namespaced(admin.clone(), &ns);
    let dep: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "app", "image": "example.invalid/web:v1",
                                   "resources": {"requests": {"cpu": "100m", "memory": "32Mi"}}}]}}
        }
    }))
    .unwrap();
    deployments.create(&PostParams::default(), &dep).await.unwrap();
    wait_until("the Deployment available", 90, async || {
        let d = deployments.get("web").await.ok()?;
        (d.status?.available_replicas? == 3).then_some(())
    })
    .await;
    // Room for 2 more pods; the hand-over adds 3.
    let quotas: Api<ResourceQuota> = Api::namespaced(admin.clone(), &ns);
    let quota: ResourceQuota = serde_json::from_value(json!({
        "metadata": {"name": "team"},
        "spec": {"hard": {"pods": "5", "requests.cpu": "1"}}
    }))
    .unwrap();
    quotas.create(&PostParams::default(), &quota).await.unwrap();
    wait_until("the quota's usage", 60, async || {
        (quota_used_pods(&quotas).await.as_deref() == Some("3")).then_some(())
    })
    .await;

    let out = rollout(
        &kubeconfig,
        &["migrate", "web", "-n", &ns, "--dry-run", "-o", "json"],
    );
    assert_eq!(
        out.status.code(),
        Some(7),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let plan: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(plan["quotaRefused"], true);
    assert_eq!(plan["handOver"]["peakPods"], 6);
    assert_eq!(plan["handOver"]["extraPods"], 3);
    let checks = plan["quota"].as_array().unwrap();
    let pods = checks.iter().find(|c| c["resource"] == "pods").unwrap();
    assert_eq!(
        (pods["available"].as_i64(), pods["needed"].as_i64()),
        (Some(2), Some(3))
    );
    assert_eq!(pods["refused"], true);
    let cpu = checks.iter().find(|c| c["resource"] == "requestsCpu").unwrap();
    assert_eq!(
        (cpu["available"].as_i64(), cpu["needed"].as_i64(), &cpu["refused"]),
        (Some(700), Some(300), &json!(false))
    );
    assert_eq!(plan["rollout"]["spec"]["workloadRef"]["name"], "web");

    let out = rollout(&kubeconfig, &["migrate", "web", "-n", &ns, "--dry-run"]);
    assert_eq!(out.status.code(), Some(7));
    let text = stdout(&out);
    assert!(
        text.contains("Quota: quota team: pods: needs 3, 2 available: refused"),
        "{text}"
    );
    let out = rollout(&kubeconfig, &["migrate", "web", "-n", &ns, "--apply"]);
    assert_eq!(out.status.code(), Some(7), "refused, not applied");
    let rollouts: Api<Rollout> = Api::namespaced(admin.clone(), &ns);
    assert!(
        rollouts.get_opt("web").await.unwrap().is_none(),
        "nothing applied"
    );

    // Raise the quota, then apply for real while the controller runs.
    let patch = json!({"spec": {"hard": {"pods": "10"}}});
    quotas
        .patch("team", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    wait_until("the raised quota", 60, async || {
        let q = quotas.get("team").await.ok()?;
        (q.status?.hard?.get("pods")?.0 == "10").then_some(())
    })
    .await;
    let controller = Proc(
        Command::new(env!("CARGO_BIN_EXE_rollout"))
            .args(["controller", "--namespace", &ns, "--metrics-addr", "127.0.0.1:0"])
            .env("KUBECONFIG", &kubeconfig)
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let out = rollout(
        &kubeconfig,
        &[
            "migrate",
            "web",
            "-n",
            &ns,
            "--scale-down",
            "onsuccess",
            "--apply",
        ],
    );
    assert!(
        out.status.success(),
        "{}\n{}",
        stdout(&out),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout(&out).contains("Applied: Rollout web created."),
        "{}",
        stdout(&out)
    );
    let annotated = wait_until("the Deployment drained and annotated", 120, async || {
        let d = deployments.get("web").await.ok()?;
        (d.spec.replicas == Some(0) && d.annotations().contains_key("rollout.io/managed-by-rollout"))
            .then_some(d)
    })
    .await;
    assert_eq!(
        annotated.annotations().get("rollout.io/revert").cloned(),
        Some(format!("rollout revert web -n {ns}"))
    );
    let get = stdout(&rollout(&kubeconfig, &["get", "web", "-n", &ns]));
    assert!(
        get.contains("Workload:    Deployment/web (scaleDown onsuccess): 0 replicas"),
        "{get}"
    );
    assert!(get.contains("managed by Rollout web"), "{get}");
    assert!(
        get.contains(&format!("Revert:      rollout revert web -n {ns}")),
        "{get}"
    );
    wait_until("3 ready Rollout pods", 60, async || {
        (ready_pods(&admin, &ns).await == 3).then_some(())
    })
    .await;

    // Dry run first: nothing changes.
    let out = rollout(&kubeconfig, &["revert", "web", "-n", &ns, "--dry-run"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(
        stdout(&out).contains("2. scale Deployment web from 0 to 3"),
        "{}",
        stdout(&out)
    );
    assert_eq!(deployments.get("web").await.unwrap().spec.replicas, Some(0));

    // The way back, sampled while it runs: floor = 3 - 25% of 3 (rounded down) = 3. The overlap
    // (both workloads ready at once before the Rollout goes) can last less than a sampling
    // interval, so it is read from a pod watch, which sees every transition in order.
    let most_ready = watch_most_ready(&admin, &ns);
    let mut revert = Proc(
        Command::new(env!("CARGO_BIN_EXE_rollout"))
            .args(["revert", "web", "-n", &ns, "--timeout", "120"])
            .env("KUBECONFIG", &kubeconfig)
            .stdout(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut samples = Vec::new();
    let start = Instant::now();
    let status = loop {
        samples.push(ready_pods(&admin, &ns).await);
        if let Some(status) = revert.0.try_wait().unwrap() {
            break status;
        }
        assert!(
            start.elapsed() < Duration::from_secs(150),
            "revert did not finish"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(status.success(), "revert failed: {status:?}");
    assert!(samples.len() > 3, "sampled during the revert: {samples:?}");
    assert!(
        samples.iter().all(|n| *n >= 3),
        "below the floor of 3: {samples:?}"
    );
    // The watch may still be delivering the revert's last events.
    let caught_up = Instant::now();
    while most_ready.load(Ordering::SeqCst) <= 3 && caught_up.elapsed() < Duration::from_secs(10) {
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let most = most_ready.load(Ordering::SeqCst);
    assert!(
        most > 3,
        "both ran at once before the Rollout went: at most {most} ready (samples {samples:?})"
    );
    let d = deployments.get("web").await.unwrap();
    assert_eq!(d.spec.replicas, Some(3));
    assert_eq!(d.status.as_ref().and_then(|s| s.available_replicas), Some(3));
    assert!(!d.annotations().contains_key("rollout.io/managed-by-rollout"));
    wait_until("the Rollout deleted", 30, async || {
        rollouts.get_opt("web").await.unwrap().is_none().then_some(())
    })
    .await;
    wait_until("only the Deployment's pods", 60, async || {
        (ready_pods(&admin, &ns).await == 3).then_some(())
    })
    .await;
    drop(controller);
    kubelet.abort();
}
