//! Shared e2e helpers: a control plane per test binary, the controller running as its
//! least-privilege ServiceAccount, a kubelet stand-in, and waiting helpers.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use prometheus_client::registry::Registry;
use rollout_kube::manifests::{self, ManifestOptions};
use rollout_kube::resources::Rollout;
use rollout_kube::testenv::{self, TestEnv, TestEnvOptions, apply_objects};
use rollout_kube::{ControllerConfig, RolloutController};
use serde_json::{Value, json};

pub struct Cluster {
    pub env: Arc<TestEnv>,
    pub ns: String,
    pub admin: Client,
    pub sa: Client,
    pub kubelet: tokio::task::JoinHandle<()>,
}

impl Drop for Cluster {
    fn drop(&mut self) {
        self.kubelet.abort();
    }
}

/// Starts (or joins) the control plane, installs CRDs and RBAC, makes a namespace and starts the
/// kubelet stand-in there. `None` when skipped locally.
pub async fn cluster(prefix: &str) -> Option<Cluster> {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("rollout_kube=info,warn")
        .with_test_writer()
        .try_init();
    let env = testenv::shared(TestEnvOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))?;
    let admin = env.client().unwrap();
    env.install_crds(&manifests::crds_yaml().unwrap()).await.unwrap();
    let install = ManifestOptions::default();
    let mut objs =
        vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": install.namespace}})];
    objs.extend(manifests::rbac(&install));
    apply_objects(&admin, &objs, &install.namespace).await.unwrap();
    let ns = env.namespace(prefix).await.unwrap();
    // The controller's client: impersonates its ServiceAccount (so only its RBAC applies) and is
    // rate-limited client-side like Argo's controller (40 QPS, burst 80).
    let mut config = env.config().clone();
    config.auth_info.impersonate = Some(format!(
        "system:serviceaccount:{}:{}",
        install.namespace, install.name
    ));
    config.auth_info.impersonate_groups = Some(vec![
        "system:serviceaccounts".into(),
        "system:authenticated".into(),
    ]);
    let sa = rollout_kube::ratelimit::rate_limited_client(config, 40.0, 80).unwrap();
    let kubelet = testenv::spawn_kubelet(admin.clone(), &ns, Duration::from_millis(300), |_| false);
    Some(Cluster {
        env,
        ns,
        admin,
        sa,
        kubelet,
    })
}

pub struct Running {
    pub stop: Option<tokio::sync::oneshot::Sender<()>>,
    pub task: tokio::task::JoinHandle<()>,
    pub registry: Registry,
}

impl Running {
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        tokio::time::timeout(Duration::from_secs(20), &mut self.task)
            .await
            .expect("controller stops")
            .unwrap();
    }

    pub fn metrics_text(&self) -> String {
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry).unwrap();
        out
    }
}

/// Runs a controller with `config` as the ServiceAccount (its ClusterRole only), measuring with
/// `providers` when given, until the returned handle stops it.
pub fn spawn_controller(
    c: &Cluster,
    config: ControllerConfig,
    providers: Option<rollout_driver::Providers>,
) -> Running {
    let mut registry = Registry::default();
    let mut ctrl = RolloutController::new(c.sa.clone(), config, &mut registry);
    if let Some(p) = providers {
        ctrl = ctrl.with_providers(p);
    }
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ctrl.run(async move {
        let _ = rx.await;
    }));
    Running {
        stop: Some(tx),
        task,
        registry,
    }
}

fn watching(c: &Cluster) -> ControllerConfig {
    ControllerConfig {
        namespace: Some(c.ns.clone()),
        ..Default::default()
    }
}

/// Runs the controller as the ServiceAccount (its ClusterRole only), watching `c.ns`.
pub fn start_controller(c: &Cluster) -> Running {
    spawn_controller(c, watching(c), None)
}

pub fn rollout(name: &str, replicas: i32, steps: Value, image: &str) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": image}]}
            },
            "strategy": {"canary": {"steps": steps}}
        }
    })
}

pub fn rollouts(c: &Cluster) -> Api<Rollout> {
    Api::namespaced(c.admin.clone(), &c.ns)
}

pub async fn create(c: &Cluster, obj: Value) -> Rollout {
    let ro: Rollout = serde_json::from_value(obj).unwrap();
    rollouts(c).create(&PostParams::default(), &ro).await.unwrap()
}

pub async fn set_image(c: &Cluster, name: &str, image: &str) {
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": image}]}}}});
    rollouts(c)
        .patch(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
}

/// Waits until `pred` holds for the Rollout; panics with the last status after `secs`.
pub async fn wait_for(
    c: &Cluster,
    name: &str,
    secs: u64,
    what: &str,
    pred: impl Fn(&Rollout) -> bool,
) -> Rollout {
    let start = Instant::now();
    loop {
        let ro = rollouts(c).get(name).await.unwrap();
        if pred(&ro) {
            return ro;
        }
        if start.elapsed() > Duration::from_secs(secs) {
            let rss = replica_sets(c, name).await;
            let runs: Vec<_> =
                Api::<rollout_kube::resources::AnalysisRun>::namespaced(c.admin.clone(), &c.ns)
                    .list(&ListParams::default())
                    .await
                    .unwrap()
                    .items
                    .into_iter()
                    .map(|r| {
                        (
                            r.metadata.name.clone(),
                            r.spec.get("terminate").cloned(),
                            r.status.clone(),
                        )
                    })
                    .collect();
            panic!(
                "timed out waiting for {what}; status: {:#}\nreplicasets: {rss:?}\nanalysisruns: {runs:#?}",
                ro.status
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// `(name, hash, spec.replicas, ready)` of the ReplicaSets owned by the Rollout, sorted by name.
pub async fn replica_sets(c: &Cluster, rollout: &str) -> Vec<(String, String, i32, i32)> {
    let ro = rollouts(c).get(rollout).await.unwrap();
    let uid = ro.uid().unwrap();
    let api: Api<ReplicaSet> = Api::namespaced(c.admin.clone(), &c.ns);
    let mut out: Vec<_> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|rs| rs.owner_references().iter().any(|o| o.uid == uid))
        .map(|rs| {
            (
                rs.name_any(),
                rs.labels()
                    .get("rollouts-pod-template-hash")
                    .cloned()
                    .unwrap_or_default(),
                rs.spec.replicas.unwrap_or(0),
                rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0),
            )
        })
        .collect();
    out.sort();
    out
}

pub fn phase(ro: &Rollout) -> &str {
    ro.status.get("phase").and_then(Value::as_str).unwrap_or("")
}

pub fn text<'a>(ro: &'a Rollout, key: &str) -> &'a str {
    ro.status.get(key).and_then(Value::as_str).unwrap_or("")
}

pub fn paused(ro: &Rollout) -> bool {
    ro.status
        .get("pauseConditions")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty())
}

pub fn step_index(ro: &Rollout) -> i64 {
    ro.status
        .get("currentStepIndex")
        .and_then(Value::as_i64)
        .unwrap_or(-1)
}

pub fn healthy_at_new_revision(ro: &Rollout) -> bool {
    phase(ro) == "Healthy"
        && !text(ro, "stableRS").is_empty()
        && text(ro, "stableRS") == text(ro, "currentPodHash")
}

/// Waits until the owned ReplicaSets satisfy `pred`.
pub async fn wait_for_rs(
    c: &Cluster,
    name: &str,
    pred: impl Fn(&[(String, String, i32, i32)]) -> bool,
) -> Vec<(String, String, i32, i32)> {
    let start = std::time::Instant::now();
    loop {
        let rss = replica_sets(c, name).await;
        if pred(&rss) {
            return rss;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "ReplicaSets never reached the expected state: {rss:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Waits until stable (`stable` hash) is back at `replicas` ready and the canary at 0: full
/// stable capacity restored after an abort.
pub async fn wait_for_stable_restored(c: &Cluster, name: &str, stable: &str, canary: &str, replicas: i32) {
    wait_for_rs(c, name, |rss| {
        rss.iter().any(|r| r.1 == stable)
            && rss
                .iter()
                .all(|r| (r.1 == stable && r.2 == replicas && r.3 == replicas) || (r.1 == canary && r.2 == 0))
    })
    .await;
}

/// `(reason, count, note)` of the `events.k8s.io/v1` Events regarding the `kind` object `name`
/// in `c.ns`, sorted; `count` is the event series count (1 for a single occurrence).
pub async fn rollout_events(c: &Cluster, kind: &str, name: &str) -> Vec<(String, u32, String)> {
    use k8s_openapi::api::events::v1::Event;
    let api: Api<Event> = Api::namespaced(c.admin.clone(), &c.ns);
    let mut out: Vec<_> = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| {
            e.regarding
                .as_ref()
                .is_some_and(|r| r.kind.as_deref() == Some(kind) && r.name.as_deref() == Some(name))
        })
        .map(|e| {
            let count = e.series.as_ref().map_or(1, |s| s.count.max(1) as u32);
            (e.reason.unwrap_or_default(), count, e.note.unwrap_or_default())
        })
        .collect();
    out.sort();
    out
}

/// Waits (at most 30 s) until the Events regarding the object stop changing for 2 s; returns them.
pub async fn wait_for_steady_events(c: &Cluster, kind: &str, name: &str) -> Vec<(String, u32, String)> {
    let start = Instant::now();
    let mut last = rollout_events(c, kind, name).await;
    let mut since = Instant::now();
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now = rollout_events(c, kind, name).await;
        if now != last {
            last = now;
            since = Instant::now();
        } else if since.elapsed() >= Duration::from_secs(2) {
            return last;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "events never settled: {last:#?}"
        );
    }
}

/// Runs the controller as the ServiceAccount, watching `c.ns`, measuring with `providers`.
pub fn start_controller_with(c: &Cluster, providers: rollout_driver::Providers) -> Running {
    spawn_controller(c, watching(c), Some(providers))
}

/// A real Prometheus on 127.0.0.1 serving a TSDB backfilled (with `promtool tsdb
/// create-blocks-from openmetrics`) from OpenMetrics text; killed by PID and its directory removed
/// on drop.
pub struct Prometheus {
    pub port: u16,
    dir: std::path::PathBuf,
    child: std::process::Child,
}

impl Prometheus {
    /// Backfills `openmetrics` and starts Prometheus on a free port. `None` (skipped with a
    /// message) without `ROLLOUT_PROMETHEUS_BIN`/`ROLLOUT_PROMTOOL_BIN` or the binaries on PATH,
    /// except under `CI=true`, where that panics.
    pub fn start(openmetrics: &str) -> Option<Prometheus> {
        use std::process::Command;
        let find = |env: &str, name: &str| -> Option<std::path::PathBuf> {
            match std::env::var_os(env) {
                Some(p) if !p.is_empty() => Some(p.into()),
                _ => std::env::var_os("PATH").and_then(|paths| {
                    std::env::split_paths(&paths)
                        .map(|d| d.join(name))
                        .find(|p| p.is_file())
                }),
            }
        };
        let (Some(bin), Some(promtool)) = (
            find("ROLLOUT_PROMETHEUS_BIN", "prometheus"),
            find("ROLLOUT_PROMTOOL_BIN", "promtool"),
        ) else {
            assert!(
                !std::env::var("CI").is_ok_and(|v| v == "true"),
                "Prometheus is required in CI: set ROLLOUT_PROMETHEUS_BIN and ROLLOUT_PROMTOOL_BIN"
            );
            eprintln!("SKIPPED: prometheus/promtool not found (run scripts/test, which installs them)");
            return None;
        };
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rollout-kube-prom-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("data.om"), openmetrics).unwrap();
        let out = Command::new(&promtool)
            .args(["tsdb", "create-blocks-from", "openmetrics"])
            .arg(dir.join("data.om"))
            .arg(dir.join("tsdb"))
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        std::fs::write(dir.join("prometheus.yml"), "global:\n  evaluation_interval: 1m\n").unwrap();
        Some(Prometheus::launch(
            &bin,
            dir,
            &["--storage.tsdb.retention.time=100y"],
        ))
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Pod label the job kubelet stand-in reads: `"0"` ends the pod Succeeded, any other number
/// Failed with that exit code; pods without it keep running.
pub const JOB_EXIT_LABEL: &str = "e2e.rollout.io/exit";

/// A kubelet stand-in for Job pods (labelled `job-name` by the Job controller): once the regular
/// stand-in has marked a pod Running and Ready, ends it as its [`JOB_EXIT_LABEL`] says, by
/// patching the pod status (phase Succeeded/Failed, container terminated with that exit code).
/// The Ready condition is left as it is, so the regular stand-in does not revive the pod.
pub fn spawn_job_kubelet(client: Client, namespace: &str) -> tokio::task::JoinHandle<()> {
    use k8s_openapi::api::core::v1::Pod;
    let pods: Api<Pod> = Api::namespaced(client, namespace);
    tokio::spawn(async move {
        loop {
            let lp = ListParams::default().labels(&format!("job-name,{JOB_EXIT_LABEL}"));
            if let Ok(list) = pods.list(&lp).await {
                for pod in list.items {
                    let status = pod.status.clone().unwrap_or_default();
                    let ready = status
                        .conditions
                        .as_ref()
                        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                    let Some(Ok(code)) = pod.labels().get(JOB_EXIT_LABEL).map(|v| v.parse::<i32>()) else {
                        continue;
                    };
                    if !ready || status.phase.as_deref() != Some("Running") {
                        continue;
                    }
                    let (phase, reason) = if code == 0 {
                        ("Succeeded", "Completed")
                    } else {
                        ("Failed", "Error")
                    };
                    let containers: Vec<Value> = pod
                        .spec
                        .iter()
                        .flat_map(|s| s.containers.iter())
                        .map(|c| {
                            json!({"name": c.name, "image": c.image, "imageID": "", "ready": false,
                                   "restartCount": 0,
                                   "state": {"terminated": {"exitCode": code, "reason": reason}}})
                        })
                        .collect();
                    let patch = json!({"status": {"phase": phase, "containerStatuses": containers}});
                    let _ = pods
                        .patch_status(&pod.name_any(), &PatchParams::default(), &Patch::Merge(&patch))
                        .await;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}

/// A minimal HTTPRoute CRD (structural, spec kept as is), like a Gateway API install.
fn httproute_crd() -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": "httproutes.gateway.networking.k8s.io",
                     "annotations": {"api-approved.kubernetes.io": "https://github.com/kubernetes-sigs/gateway-api/pull/2466"}},
        "spec": {
            "group": "gateway.networking.k8s.io",
            "names": {"kind": "HTTPRoute", "listKind": "HTTPRouteList", "plural": "httproutes", "singular": "httproute"},
            "scope": "Namespaced",
            "versions": [{"name": "v1", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]
        }
    })
}

/// Installs the HTTPRoute CRD and, for `app`, the Services `<app>-stable` and `<app>-canary` and
/// the route `<app>-route` sending all traffic to stable; returns the HTTPRoute API.
pub async fn install_httproute(c: &Cluster, app: &str) -> Api<kube::api::DynamicObject> {
    use k8s_openapi::api::core::v1::Service;
    use kube::api::{ApiResource, DynamicObject, GroupVersionKind};
    c.env
        .install_crds(&serde_yaml::to_string(&httproute_crd()).unwrap())
        .await
        .unwrap();
    for svc in [format!("{app}-stable"), format!("{app}-canary")] {
        let s: Service = serde_json::from_value(json!({
            "metadata": {"name": svc},
            "spec": {"selector": {"app": app}, "ports": [{"port": 80}]}
        }))
        .unwrap();
        Api::<Service>::namespaced(c.admin.clone(), &c.ns)
            .create(&PostParams::default(), &s)
            .await
            .unwrap();
    }
    let route = json!({
        "apiVersion": "gateway.networking.k8s.io/v1", "kind": "HTTPRoute",
        "metadata": {"name": format!("{app}-route")},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [{"backendRefs": [
            {"name": format!("{app}-stable"), "port": 80, "weight": 100},
            {"name": format!("{app}-canary"), "port": 80, "weight": 0}
        ]}]}
    });
    apply_objects(&c.admin, &[route], &c.ns).await.unwrap();
    let gvk = GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute");
    Api::<DynamicObject>::namespaced_with(
        c.admin.clone(),
        &c.ns,
        &ApiResource::from_gvk_with_plural(&gvk, "httproutes"),
    )
}

/// Makes `ro` (a Rollout from [`rollout`]) route traffic through the HTTPRoute of
/// [`install_httproute`] for `app`.
pub fn route_through_httproute(ro: &mut Value, app: &str) {
    let canary = &mut ro["spec"]["strategy"]["canary"];
    canary["canaryService"] = json!(format!("{app}-canary"));
    canary["stableService"] = json!(format!("{app}-stable"));
    canary["trafficRouting"] =
        json!({"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": format!("{app}-route")}}});
}

/// A JSON HTTP endpoint on 127.0.0.1 (a free port) answering each request with `respond(request
/// text) -> (status line, body)`; stopped when the returned task is aborted.
pub async fn json_endpoint(
    respond: impl Fn(&str) -> (&'static str, String) + Send + Sync + 'static,
) -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            let n = sock.read(&mut buf).await.unwrap_or(0);
            let (status, body) = respond(&String::from_utf8_lossy(&buf[..n]));
            let resp = format!(
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    });
    (port, task)
}

/// Serves `registry` as Prometheus text on `http://127.0.0.1:PORT/metrics` (a free port, like
/// `rollout controller`'s metrics endpoint); stopped when the returned task is aborted.
pub async fn serve_registry(registry: Arc<Registry>) -> (u16, tokio::task::JoinHandle<()>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        loop {
            let Ok((mut sock, _)) = listener.accept().await else {
                return;
            };
            let mut buf = vec![0u8; 4096];
            let _ = sock.read(&mut buf).await;
            let mut body = String::new();
            prometheus_client::encoding::text::encode(&mut body, &registry).unwrap();
            let resp = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/plain; version=0.0.4; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = sock.write_all(resp.as_bytes()).await;
        }
    });
    (port, task)
}

impl Prometheus {
    /// Starts Prometheus on a free port with an empty TSDB, scraping `targets` (`host:port`,
    /// path `/metrics`) every second, each under its own `cluster` label (`targets[i].0`). `None`
    /// as [`Prometheus::start`] without the binary.
    pub fn scraping(targets: &[(&str, u16)]) -> Option<Prometheus> {
        let bin = match std::env::var_os("ROLLOUT_PROMETHEUS_BIN") {
            Some(p) if !p.is_empty() => std::path::PathBuf::from(p),
            _ => {
                assert!(
                    !std::env::var("CI").is_ok_and(|v| v == "true"),
                    "Prometheus is required in CI: set ROLLOUT_PROMETHEUS_BIN"
                );
                eprintln!("SKIPPED: prometheus not found (run scripts/test, which installs it)");
                return None;
            }
        };
        static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "rollout-kube-prom-scrape-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let mut config =
            String::from("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n");
        for (cluster, port) in targets {
            config.push_str(&format!(
                "  - job_name: controller-{cluster}\n    static_configs:\n      - targets: ['127.0.0.1:{port}']\n        labels: {{cluster: {cluster}}}\n"
            ));
        }
        std::fs::write(dir.join("prometheus.yml"), config).unwrap();
        Some(Prometheus::launch(&bin, dir, &[]))
    }

    /// Runs `bin` on a free port with `dir/prometheus.yml` and the TSDB in `dir/tsdb` (plus
    /// `extra` flags) and waits until it answers `/-/ready`; panics if it exits or is not ready
    /// within 60 s.
    fn launch(bin: &std::path::Path, dir: std::path::PathBuf, extra: &[&str]) -> Prometheus {
        use std::process::{Command, Stdio};
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(bin)
            .arg(format!("--config.file={}", dir.join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.join("tsdb").display()))
            .args(extra)
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("prometheus.log")).unwrap())
            .spawn()
            .unwrap();
        let mut prom = Prometheus { port, dir, child };
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(mut s) = std::net::TcpStream::connect(("127.0.0.1", port)) {
                use std::io::{Read, Write};
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let _ = s.write_all(b"GET /-/ready HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
                let mut answer = String::new();
                let _ = s.read_to_string(&mut answer);
                if answer.starts_with("HTTP/1.0 200") || answer.starts_with("HTTP/1.1 200") {
                    return prom;
                }
            }
            if let Ok(Some(status)) = prom.child.try_wait() {
                let log = std::fs::read_to_string(prom.dir.join("prometheus.log")).unwrap_or_default();
                panic!("prometheus exited with {status}: {log}");
            }
            assert!(Instant::now() < deadline, "prometheus not ready after 60 s");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Prometheus' log so far (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("prometheus.log")).unwrap_or_default()
    }
}

/// Creates the AnalysisTemplate `health` in `ns`: one `web` metric `healthy` that reads `{$.ok}`
/// from `http://127.0.0.1:PORT/health` `count` times, one second apart, and fails on the first
/// `false` (pair it with [`json_endpoint`] and [`web_providers`]).
pub async fn create_health_template(client: &Client, ns: &str, port: u16, count: u32) {
    use rollout_kube::resources::AnalysisTemplate;
    let template: AnalysisTemplate = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "health"},
        "spec": {"metrics": [{
            "name": "healthy", "count": count, "interval": "1s", "failureLimit": 0,
            "successCondition": "result == true",
            "provider": {"web": {"url": format!("http://127.0.0.1:{port}/health"), "jsonPath": "{$.ok}"}}
        }]}
    }))
    .unwrap();
    Api::<AnalysisTemplate>::namespaced(client.clone(), ns)
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
}

/// Providers with the real `web` provider registered.
pub fn web_providers() -> rollout_driver::Providers {
    let mut providers = rollout_driver::Providers::new();
    providers.register(Arc::new(analysis_providers::web::WebProvider::new().unwrap()));
    providers
}
