//! The cluster subcommands of the real `rollout` binary: `controller manifests`, error handling
//! without a cluster, and `controller` + `get`/`abort`/`retry`/`promote` against a real
//! kube-apiserver (skipped locally without ROLLOUT_KUBE_BIN; CI sets it).

use std::io::{BufRead, BufReader, Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use kube::api::{Api, Patch, PatchParams, PostParams};
use rollout_kube::manifests;
use rollout_kube::resources::Rollout;
use rollout_kube::testenv::{self, TestEnvOptions};
use serde_json::{Value, json};

fn rollout_cmd() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rollout"))
}

fn kinds(yaml: &str) -> Vec<(String, String)> {
    serde_yaml::Deserializer::from_str(yaml)
        .map(|doc| {
            let v: serde_yaml::Value = serde::Deserialize::deserialize(doc).unwrap();
            let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            (s("kind"), v["metadata"]["name"].as_str().unwrap().to_string())
        })
        .collect()
}

#[test]
fn controller_manifests_print_crds_rbac_and_the_deployment() {
    let out = rollout_cmd().args(["controller", "manifests"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let yaml = String::from_utf8(out.stdout).unwrap();
    let docs = kinds(&yaml);
    let names = |kind: &str| -> Vec<&str> {
        docs.iter()
            .filter(|(k, _)| k == kind)
            .map(|(_, n)| n.as_str())
            .collect()
    };
    let mut crds = names("CustomResourceDefinition");
    crds.sort();
    assert_eq!(
        crds,
        [
            "analysisruns.argoproj.io",
            "analysistemplates.argoproj.io",
            "clusteranalysistemplates.argoproj.io",
            "rollouts.argoproj.io"
        ]
    );
    assert_eq!(names("Namespace"), ["rollout-system"]);
    assert_eq!(names("ServiceAccount"), ["rollout-controller"]);
    assert!(names("ClusterRole").contains(&"rollout-controller"), "{docs:?}");
    assert!(
        names("ClusterRoleBinding").contains(&"rollout-controller"),
        "{docs:?}"
    );
    assert_eq!(names("Deployment"), ["rollout-controller"]);
    // The only namespaced grant: the shard Leases, in the controller's own namespace.
    assert_eq!(names("Role"), ["rollout-controller-leases"], "{docs:?}");
    assert_eq!(names("RoleBinding"), ["rollout-controller-leases"], "{docs:?}");

    // The Deployment runs this binary's `controller` subcommand with flags it accepts.
    let deployment = serde_yaml::Deserializer::from_str(&yaml)
        .map(|d| <serde_yaml::Value as serde::Deserialize>::deserialize(d).unwrap())
        .find(|v| v["kind"] == "Deployment")
        .unwrap();
    let args: Vec<String> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    assert_eq!(args[0], "controller");
    assert!(
        args.contains(&"--metrics-addr=0.0.0.0:8090".to_string()),
        "{args:?}"
    );
    // Clap accepts the flags (a bad QPS is the first thing checked after parsing).
    let check = rollout_cmd().args(&args).arg("--qps=0").output().unwrap();
    let stderr = String::from_utf8_lossy(&check.stderr);
    assert!(stderr.starts_with("error: --qps must be"), "{stderr}");
}

#[test]
fn namespaced_manifests_use_a_role_and_can_leave_out_the_crds() {
    let out = rollout_cmd()
        .args([
            "controller",
            "manifests",
            "--watch-namespace",
            "team-a",
            "--no-crds",
        ])
        .args(["--namespace", "ops", "--image", "example.invalid/rollout:1"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let yaml = String::from_utf8(out.stdout).unwrap();
    let docs = kinds(&yaml);
    assert!(
        !docs.iter().any(|(k, _)| k == "CustomResourceDefinition"),
        "{docs:?}"
    );
    assert!(docs.iter().any(|(k, _)| k == "Role"), "{docs:?}");
    assert!(
        docs.contains(&("Namespace".to_string(), "ops".to_string())),
        "{docs:?}"
    );
    assert!(yaml.contains("example.invalid/rollout:1"));
    assert!(yaml.contains("--namespace=team-a"));
}

#[test]
fn without_a_cluster_config_the_error_is_one_clear_line() {
    let home = std::env::temp_dir().join(format!("rollout-cli-nohome-{}", std::process::id()));
    std::fs::create_dir_all(&home).unwrap();
    let out = rollout_cmd()
        .args(["get", "web", "-n", "default"])
        .env("KUBECONFIG", home.join("missing-kubeconfig"))
        .env("HOME", &home)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .unwrap();
    std::fs::remove_dir_all(&home).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.starts_with("error: no usable Kubernetes configuration"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// Kills the child (by its PID) if the test fails before stopping it.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn run(kubeconfig: &Path, args: &[&str]) -> Output {
    let out = rollout_cmd()
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rollout {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn status_str<'a>(ro: &'a Rollout, key: &str) -> &'a str {
    ro.status.get(key).and_then(Value::as_str).unwrap_or("")
}

fn paused_at(ro: &Rollout, step: i64) -> bool {
    ro.status
        .get("pauseConditions")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty())
        && ro.status.get("currentStepIndex").and_then(Value::as_i64) == Some(step)
        && ro.status.get("abort").and_then(Value::as_bool) != Some(true)
}

fn healthy(ro: &Rollout) -> bool {
    status_str(ro, "phase") == "Healthy"
        && !status_str(ro, "stableRS").is_empty()
        && status_str(ro, "stableRS") == status_str(ro, "currentPodHash")
}

async fn wait_for(api: &Api<Rollout>, what: &str, pred: impl Fn(&Rollout) -> bool) -> Rollout {
    let start = Instant::now();
    loop {
        let ro = api.get("web").await.unwrap();
        if pred(&ro) {
            return ro;
        }
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "timed out waiting for {what}: {:#}",
            ro.status
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn http_get(addr: &str, path: &str) -> String {
    let mut conn = std::net::TcpStream::connect(addr).unwrap();
    write!(conn, "GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut response = String::new();
    conn.read_to_string(&mut response).unwrap();
    response
}

/// Runs `rollout controller ARGS` with metrics on a free port; returns the process, the metrics
/// address it reported on stderr, and a thread collecting the rest of its stderr.
fn spawn_controller(
    kubeconfig: &Path,
    args: &[&str],
) -> (Proc, String, std::thread::JoinHandle<Vec<String>>) {
    spawn_controller_with_env(kubeconfig, args, &[])
}

/// [`spawn_controller`] with extra environment variables (e.g. the downward-API pod env).
fn spawn_controller_with_env(
    kubeconfig: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Proc, String, std::thread::JoinHandle<Vec<String>>) {
    let mut child = rollout_cmd()
        .arg("controller")
        .args(args)
        .args(["--metrics-addr", "127.0.0.1:0"])
        .env("KUBECONFIG", kubeconfig)
        .envs(env.iter().copied())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let controller = Proc(child);
    let mut lines = BufReader::new(stderr).lines();
    let first = lines.next().unwrap().unwrap();
    let metrics_addr = first
        .split("http://")
        .nth(1)
        .and_then(|s| s.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("no metrics address in {first:?}"))
        .to_string();
    let log = std::thread::spawn(move || lines.map_while(Result::ok).collect::<Vec<_>>());
    (controller, metrics_addr, log)
}

/// The shared test API server with our CRDs installed, an admin client, a fresh namespace and the
/// kubeconfig path for the `rollout` binary. Keep `env` alive for the whole test.
struct Cluster {
    env: std::sync::Arc<testenv::TestEnv>,
    admin: kube::Client,
    ns: String,
    kubeconfig: std::path::PathBuf,
}

/// `None` (the test is skipped) when no API server binaries are available outside CI.
async fn cluster(prefix: &str) -> Option<Cluster> {
    let env = testenv::shared(TestEnvOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))?;
    let admin = env.client().unwrap();
    env.install_crds(&manifests::crds_yaml().unwrap()).await.unwrap();
    let ns = env.namespace(prefix).await.unwrap();
    let kubeconfig = env.kubeconfig_path().to_path_buf();
    Some(Cluster {
        env,
        admin,
        ns,
        kubeconfig,
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_get_abort_retry_promote_against_a_real_api_server() {
    let Some(Cluster {
        env: _env,
        admin,
        ns,
        kubeconfig,
    }) = cluster("cli").await
    else {
        return;
    };
    let kubelet = testenv::spawn_kubelet(admin.clone(), &ns, Duration::from_millis(300), |_| false);

    let (mut controller, metrics_addr, log) = spawn_controller(&kubeconfig, &["--namespace", &ns]);

    let api: Api<Rollout> = Api::namespaced(admin.clone(), &ns);
    let ro: Rollout = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/web:v1"}]}
            },
            "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}
        }
    }))
    .unwrap();
    api.create(&PostParams::default(), &ro).await.unwrap();
    let v1 = wait_for(&api, "v1 Healthy", healthy).await;
    let stable = status_str(&v1, "stableRS").to_string();
    let patch = json!({"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "example.invalid/web:v2"}]}}}});
    api.patch("web", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let at_pause = wait_for(&api, "paused at step 1", |r| paused_at(r, 1)).await;
    let canary = status_str(&at_pause, "currentPodHash").to_string();
    assert_ne!(canary, stable);

    // `rollout get` shows phase, step, weight and both ReplicaSets with their roles.
    let out = run(&kubeconfig, &["get", "web", "-n", &ns]);
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(shown.contains(&format!("Name:        {ns}/web")), "{shown}");
    assert!(shown.contains("Status:      Paused"), "{shown}");
    assert!(shown.contains("Step:        1/2"), "{shown}");
    assert!(shown.contains("SetWeight:   50"), "{shown}");
    let rs_line = |hash: &str| {
        shown
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("web-{hash} ")))
            .unwrap_or_else(|| panic!("no line for web-{hash}: {shown}"))
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
    };
    // `ready/desired`: 50% of 2 replicas on each side.
    let (s, c) = (rs_line(&stable), rs_line(&canary));
    assert!(
        s.starts_with(&format!("web-{stable} rev 1 stable ")) && s.ends_with("/1 ready"),
        "{shown}"
    );
    assert!(
        c.starts_with(&format!("web-{canary} rev 2 canary ")) && c.ends_with("/1 ready"),
        "{shown}"
    );

    // `rollout abort` writes Argo's `status.abort: true`; the controller degrades the rollout.
    let out = run(&kubeconfig, &["abort", "web", "-n", &ns]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("rollout '{ns}/web' aborted\n")
    );
    let aborted = api.get("web").await.unwrap();
    assert_eq!(aborted.status["abort"], json!(true));
    wait_for(&api, "Degraded after abort", |r| {
        status_str(r, "phase") == "Degraded"
    })
    .await;

    // `rollout retry` clears it; the canary comes back to the pause.
    run(&kubeconfig, &["retry", "web", "-n", &ns]);
    assert_eq!(api.get("web").await.unwrap().status["abort"], json!(false));
    wait_for(&api, "paused again after retry", |r| paused_at(r, 1)).await;

    // `rollout promote` removes the pause; the controller completes the update.
    let out = run(&kubeconfig, &["promote", "web", "-n", &ns]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        format!("rollout '{ns}/web' promoted\n")
    );
    let done = wait_for(&api, "v2 Healthy", healthy).await;
    assert_eq!(status_str(&done, "stableRS"), canary);

    // Metrics over HTTP, without per-object labels.
    let metrics = http_get(&metrics_addr, "/metrics");
    assert!(metrics.starts_with("HTTP/1.1 200 OK"), "{metrics}");
    assert!(metrics.contains("rollout_reconciles_total"), "{metrics}");
    // Argo's per-object series are off without --per-object-metrics; the fleet's outcome series are not.
    for argo in [
        "rollout_info{",
        "rollout_phase{",
        "rollout_reconcile_bucket{",
        "rollout_events_total{",
    ] {
        assert!(!metrics.contains(argo), "no {argo} without the flag: {metrics}");
    }
    assert!(metrics.contains("rollout_release_outcome{"), "{metrics}");
    assert!(http_get(&metrics_addr, "/other").starts_with("HTTP/1.1 404"));

    // SIGTERM: graceful shutdown with exit status 0.
    let pid = controller.0.id().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let start = Instant::now();
    let status = loop {
        if let Some(s) = controller.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "controller did not stop on SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let log = log.join().unwrap();
    assert!(status.success(), "{status:?}: {log:?}");
    assert!(log.iter().any(|l| l.contains("shutting down")), "{log:?}");
    kubelet.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_with_a_shard_takes_the_lease_and_manages_only_its_shard() {
    let Some(Cluster {
        env: _env,
        admin,
        ns,
        kubeconfig,
    }) = cluster("cli-shard").await
    else {
        return;
    };
    // Lease namespace and holder come from the env the Deployment sets from the downward API.
    let (controller, _, _log) = spawn_controller_with_env(
        &kubeconfig,
        &["--namespace", &ns, "--shard", "0"],
        &[("POD_NAMESPACE", &ns), ("POD_NAME", "replica-a")],
    );
    let api: Api<Rollout> = Api::namespaced(admin.clone(), &ns);
    for (name, shard) in [("mine", "0"), ("other", "1")] {
        let ro: Rollout = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": name, "labels": {"rollout.io/shard": shard}},
            "spec": {
                "replicas": 0,
                "selector": {"matchLabels": {"app": name}},
                "template": {
                    "metadata": {"labels": {"app": name}},
                    "spec": {"containers": [{"name": "app", "image": "example.invalid/x:v1"}]}
                },
                "strategy": {"canary": {"steps": [{"setWeight": 50}]}}
            }
        }))
        .unwrap();
        api.create(&PostParams::default(), &ro).await.unwrap();
    }
    let start = Instant::now();
    while api
        .get("mine")
        .await
        .unwrap()
        .status
        .get("currentPodHash")
        .is_none()
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "shard 0 Rollout never reconciled"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // Give the other shard's Rollout the same time again: nobody may touch it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let other = api.get("other").await.unwrap();
    assert!(other.status.get("currentPodHash").is_none(), "{:#}", other.status);
    let lease = Api::<k8s_openapi::api::coordination::v1::Lease>::namespaced(admin, &ns)
        .get("rollout-controller-shard-0")
        .await
        .unwrap();
    let holder = lease.spec.and_then(|s| s.holder_identity);
    assert_eq!(holder.as_deref(), Some("replica-a"));
    drop(controller);
}

/// A Rollout with `replicas: 0` (no pods needed), optionally labelled.
fn zero_replica_rollout(name: &str, labels: Value) -> Rollout {
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": [{"name": "app", "image": "example.invalid/x:v1"}]}
            },
            "strategy": {"canary": {"steps": [{"setWeight": 50}]}}
        }
    }))
    .unwrap()
}

/// Sends `signal` to the child by its PID and waits (at most 40 s) for it to exit.
fn signal_and_wait(child: &mut Child, signal: &str) -> std::process::ExitStatus {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success()
    );
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            start.elapsed() < Duration::from_secs(40),
            "process did not stop on {signal}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn controller_with_an_instance_id_manages_only_its_labelled_rollouts() {
    let Some(Cluster {
        env: _env,
        admin,
        ns,
        kubeconfig,
    }) = cluster("cli-instance").await
    else {
        return;
    };
    let (mut controller, _, log) =
        spawn_controller(&kubeconfig, &["--namespace", &ns, "--instance-id", "ours"]);
    let api: Api<Rollout> = Api::namespaced(admin.clone(), &ns);
    let id = "argo-rollouts.argoproj.io/controller-instance-id";
    let mut untouched = Vec::new();
    for (name, labels) in [
        ("mine", json!({ id: "ours" })),
        ("argos", json!({ id: "argo" })),
        ("unlabelled", json!({})),
    ] {
        let created = api
            .create(&PostParams::default(), &zero_replica_rollout(name, labels))
            .await
            .unwrap();
        if name != "mine" {
            untouched.push((name, created.metadata.resource_version.unwrap()));
        }
    }
    let start = Instant::now();
    while status_str(&api.get("mine").await.unwrap(), "currentPodHash").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the labelled Rollout was never reconciled"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    // The Rollouts without our id: same resourceVersion and no status while the controller runs.
    for _ in 0..8 {
        for (name, rv) in &untouched {
            let ro = api.get(name).await.unwrap();
            assert_eq!(ro.metadata.resource_version.as_ref(), Some(rv), "{name}");
            assert!(
                ro.status.is_null() || ro.status == json!({}),
                "{name}: {:#}",
                ro.status
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let status = signal_and_wait(&mut controller.0, "-TERM");
    assert!(status.success(), "{status:?}: {:?}", log.join().unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn get_watch_redraws_the_status_until_interrupted() {
    let Some(Cluster {
        env: _env,
        admin,
        ns,
        kubeconfig,
    }) = cluster("cli-watch").await
    else {
        return;
    };
    let api: Api<Rollout> = Api::namespaced(admin.clone(), &ns);
    api.create(&PostParams::default(), &zero_replica_rollout("web", json!({})))
        .await
        .unwrap();
    // No controller here: the test writes the status the watch must follow.
    let set_status = |status: Value| {
        let api = api.clone();
        async move {
            api.patch_status(
                "web",
                &PatchParams::default(),
                &Patch::Merge(json!({ "status": status })),
            )
            .await
            .unwrap();
        }
    };
    set_status(json!({"phase": "Paused", "message": "CanaryPauseStep", "currentStepIndex": 0})).await;

    let mut child = rollout_cmd()
        .args(["get", "web", "-n", &ns, "--watch"])
        .env("KUBECONFIG", &kubeconfig)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let watch = Proc(child);
    let shown = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let reader = {
        let shown = shown.clone();
        std::thread::spawn(move || {
            let mut chunk = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut chunk) {
                shown
                    .lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&chunk[..n]));
            }
        })
    };
    const CLEAR: &str = "\x1b[2J\x1b[H";
    let frames = || -> Vec<String> {
        shown
            .lock()
            .unwrap()
            .split(CLEAR)
            .filter(|f| !f.is_empty())
            .map(str::to_string)
            .collect()
    };
    let wait_frames = |what: &str, pred: &dyn Fn(&[String]) -> bool| {
        let start = Instant::now();
        loop {
            let f = frames();
            if pred(&f) {
                return f;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "watch never showed {what}: {f:#?}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    };
    let first = wait_frames("a first frame", &|f| !f.is_empty());
    assert!(
        first[0].starts_with(&format!("Name:        {ns}/web\n")),
        "{first:?}"
    );
    assert!(
        first[0].contains("Status:      Paused (CanaryPauseStep)"),
        "{first:?}"
    );
    assert!(first[0].contains("Step:        0/1"), "{first:?}");

    // A status change shows up on a later redraw; every frame is a whole view.
    set_status(json!({"phase": "Healthy", "message": null, "currentStepIndex": 1})).await;
    let all = wait_frames("the new phase", &|f| {
        f.len() >= 2 && f.last().is_some_and(|l| l.contains("Status:      Healthy\n"))
    });
    for frame in &all {
        assert!(frame.starts_with("Name:"), "{frame:?}");
        assert!(frame.contains("ReplicaSets:"), "{frame:?}");
    }
    assert!(all.last().unwrap().contains("Step:        1/1"), "{all:?}");

    // Ctrl-C (SIGINT, by PID): a clean exit with status 0 and nothing on stderr.
    let mut watch = watch;
    let status = signal_and_wait(&mut watch.0, "-INT");
    reader.join().unwrap();
    let mut err = String::new();
    stderr.read_to_string(&mut err).unwrap();
    assert!(status.success(), "{status:?}: {err}");
    assert!(err.is_empty(), "{err}");
}
