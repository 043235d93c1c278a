//! A real control plane for tests: etcd + kube-apiserver (+ kube-controller-manager) on
//! 127.0.0.1 with free ports and token authentication, like controller-runtime's envtest.
//!
//! The binaries come from `scripts/setup/30-kube-apiserver.sh`, which builds kube-apiserver and
//! kube-controller-manager from Debian's `kubernetes` source package and exports
//! `ROLLOUT_KUBE_BIN` (a directory that also links `etcd`). [`TestEnv::start`] spawns the servers,
//! waits for `/readyz`, and returns an environment whose [`TestEnv::client`] talks to it as a
//! `system:masters` user; [`TestEnv::client_as`] impersonates another user (e.g. a ServiceAccount,
//! to run the controller under its least-privilege RBAC). Dropping the environment kills every
//! process it started by PID and removes its temporary directory.
//!
//! Tests call [`TestEnv::start_or_skip`]: without `ROLLOUT_KUBE_BIN` it returns `Ok(None)` with a
//! clear skip message locally, and an error when `CI=true`, so CI never skips silently.

use std::fs::{self, File};
use std::io::{Read, Seek, SeekFrom};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{Namespace, Pod};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::discovery::{self, Scope};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Client, Config};

/// The environment variable naming the directory with `kube-apiserver`, `kube-controller-manager`
/// and `etcd`.
pub const BIN_ENV: &str = "ROLLOUT_KUBE_BIN";

/// The bearer token of the `system:masters` user the harness creates.
const ADMIN_TOKEN: &str = "rollout-testenv-admin-token";

/// Errors while starting the test control plane.
#[derive(Debug, thiserror::Error)]
pub enum TestEnvError {
    /// `ROLLOUT_KUBE_BIN` is not set while running in CI.
    #[error(
        "{BIN_ENV} is not set but CI=true: run scripts/test (scripts/setup/30-kube-apiserver.sh builds \
         kube-apiserver and exports {BIN_ENV}); the Kubernetes tests must not be skipped in CI"
    )]
    MissingInCi,
    /// A binary is missing from `ROLLOUT_KUBE_BIN`.
    #[error(
        "{path} does not exist or is not a file; {BIN_ENV} must point to the directory made by scripts/setup/30-kube-apiserver.sh"
    )]
    MissingBinary {
        /// The path that was looked up.
        path: PathBuf,
    },
    /// Filesystem or process error.
    #[error("test environment: {what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A server did not become ready in time.
    #[error("{server} was not ready after {secs} s; last lines of its log:\n{log}")]
    NotReady {
        /// Which server.
        server: &'static str,
        /// The timeout.
        secs: u64,
        /// The tail of the server's log.
        log: String,
    },
    /// A server exited early.
    #[error("{server} exited early with {status}; last lines of its log:\n{log}")]
    Exited {
        /// Which server.
        server: &'static str,
        /// Its exit status.
        status: String,
        /// The tail of the server's log.
        log: String,
    },
    /// Building the client failed.
    #[error("kube client for the test environment: {0}")]
    Kubeconfig(#[from] kube::config::KubeconfigError),
    /// A request to the API server failed.
    #[error("kube request: {0}")]
    Kube(#[from] kube::Error),
    /// Parsing a manifest failed.
    #[error("manifest: {0}")]
    Manifest(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TestEnvError {
    let what = what.into();
    move |source| TestEnvError::Io { what, source }
}

/// What to start.
#[derive(Debug, Clone)]
pub struct TestEnvOptions {
    /// Also start kube-controller-manager (ReplicaSet, Deployment, garbage-collector controllers...).
    pub controller_manager: bool,
}

impl Default for TestEnvOptions {
    fn default() -> Self {
        Self {
            controller_manager: true,
        }
    }
}

struct Proc {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

/// A running etcd + kube-apiserver (+ kube-controller-manager). Dropping it stops them.
pub struct TestEnv {
    dir: PathBuf,
    procs: Vec<Proc>,
    config: Config,
    kubeconfig: PathBuf,
    server: String,
}

impl std::fmt::Debug for TestEnv {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestEnv")
            .field("server", &self.server)
            .field("dir", &self.dir)
            .finish()
    }
}

fn free_port() -> Result<u16, TestEnvError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("bind a free port"))?;
    Ok(l.local_addr().map_err(io("read the bound port"))?.port())
}

fn tail(path: &Path, max: u64) -> String {
    let Ok(mut f) = File::open(path) else {
        return format!("(no log at {})", path.display());
    };
    let len = f.metadata().map(|m| m.len()).unwrap_or(0);
    let _ = f.seek(SeekFrom::Start(len.saturating_sub(max)));
    let mut s = String::new();
    let _ = f.read_to_string(&mut s);
    s
}

impl TestEnv {
    /// Starts the environment if `ROLLOUT_KUBE_BIN` is set. Without it: `Ok(None)` after printing
    /// a skip message, or [`TestEnvError::MissingInCi`] when `CI=true`.
    pub async fn start_or_skip(opts: TestEnvOptions) -> Result<Option<TestEnv>, TestEnvError> {
        match std::env::var_os(BIN_ENV) {
            Some(dir) if !dir.is_empty() => Self::start(Path::new(&dir), opts).await.map(Some),
            _ if std::env::var("CI").is_ok_and(|v| v == "true") => Err(TestEnvError::MissingInCi),
            _ => {
                eprintln!(
                    "SKIPPED: {BIN_ENV} is not set, so this Kubernetes test did not run. \
                     Run scripts/test, or source scripts/setup/30-kube-apiserver.sh first."
                );
                Ok(None)
            }
        }
    }

    /// Starts etcd, kube-apiserver and (per `opts`) kube-controller-manager from `bin`. A port
    /// found free can be taken before a server binds it (by any process's outgoing connection,
    /// the servers' own included): a server that exits with `address already in use` is started
    /// again on new ports, up to three times in all.
    pub async fn start(bin: &Path, opts: TestEnvOptions) -> Result<TestEnv, TestEnvError> {
        let mut attempt = 1;
        loop {
            match Self::start_once(bin, opts.clone()).await {
                Err(TestEnvError::Exited { log, .. })
                    if attempt < 3 && log.contains("address already in use") =>
                {
                    attempt += 1;
                }
                other => return other,
            }
        }
    }

    async fn start_once(bin: &Path, opts: TestEnvOptions) -> Result<TestEnv, TestEnvError> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let binary = |name: &str| {
            let path = bin.join(name);
            if path.is_file() {
                Ok(path)
            } else {
                Err(TestEnvError::MissingBinary { path })
            }
        };
        let (etcd, apiserver) = (binary("etcd")?, binary("kube-apiserver")?);
        let kcm = if opts.controller_manager {
            Some(binary("kube-controller-manager")?)
        } else {
            None
        };

        let dir = std::env::temp_dir().join(format!(
            "rollout-kube-testenv-{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(dir.join("certs")).map_err(io(format!("create {}", dir.display())))?;
        let mut env = TestEnv {
            dir: dir.clone(),
            procs: Vec::new(),
            config: Config::new(
                "https://127.0.0.1:1"
                    .parse()
                    .map_err(|e| TestEnvError::Manifest(format!("{e}")))?,
            ),
            kubeconfig: dir.join("kubeconfig"),
            server: String::new(),
        };

        // Service-account signing key (the apiserver requires one; the controller-manager signs with it).
        let status = Command::new("openssl")
            .args(["genrsa", "-out"])
            .arg(dir.join("sa.key"))
            .arg("2048")
            .stderr(Stdio::null())
            .status()
            .map_err(io("run openssl genrsa (is openssl installed?)"))?;
        let status2 = Command::new("openssl")
            .args(["rsa", "-pubout", "-in"])
            .arg(dir.join("sa.key"))
            .arg("-out")
            .arg(dir.join("sa.pub"))
            .stderr(Stdio::null())
            .status()
            .map_err(io("run openssl rsa"))?;
        if !status.success() || !status2.success() {
            return Err(TestEnvError::Manifest(
                "openssl failed to create the service-account key".into(),
            ));
        }
        fs::write(
            dir.join("tokens.csv"),
            format!("{ADMIN_TOKEN},admin,1,\"system:masters\"\n"),
        )
        .map_err(io("write tokens.csv"))?;

        // etcd
        let (client_port, peer_port) = (free_port()?, free_port()?);
        let etcd_url = format!("http://127.0.0.1:{client_port}");
        let peer_url = format!("http://127.0.0.1:{peer_port}");
        let mut cmd = Command::new(etcd);
        cmd.arg(format!("--data-dir={}", dir.join("etcd").display()))
            .arg("--name=testenv")
            .arg(format!("--listen-client-urls={etcd_url}"))
            .arg(format!("--advertise-client-urls={etcd_url}"))
            .arg(format!("--listen-peer-urls={peer_url}"))
            .arg(format!("--initial-advertise-peer-urls={peer_url}"))
            .arg(format!("--initial-cluster=testenv={peer_url}"))
            .arg("--unsafe-no-fsync=true");
        env.spawn("etcd", cmd)?;

        // kube-apiserver
        let port = free_port()?;
        env.server = format!("https://127.0.0.1:{port}");
        let mut cmd = Command::new(apiserver);
        cmd.arg(format!("--etcd-servers={etcd_url}"))
            .arg("--bind-address=127.0.0.1")
            .arg(format!("--secure-port={port}"))
            .arg(format!("--cert-dir={}", dir.join("certs").display()))
            .arg("--service-cluster-ip-range=10.0.0.0/24")
            .arg("--service-account-issuer=https://kubernetes.default.svc")
            .arg(format!(
                "--service-account-key-file={}",
                dir.join("sa.pub").display()
            ))
            .arg(format!(
                "--service-account-signing-key-file={}",
                dir.join("sa.key").display()
            ))
            .arg(format!("--token-auth-file={}", dir.join("tokens.csv").display()))
            .arg("--authorization-mode=RBAC")
            .arg("--disable-admission-plugins=ServiceAccount")
            .arg("--allow-privileged=true")
            .arg("--profiling=false");
        env.spawn("kube-apiserver", cmd)?;

        let kubeconfig = format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: testenv\n  cluster:\n    server: {}\n    insecure-skip-tls-verify: true\n\
             users:\n- name: admin\n  user:\n    token: {ADMIN_TOKEN}\ncontexts:\n- name: testenv\n  context:\n    cluster: testenv\n    user: admin\n    namespace: default\n\
             current-context: testenv\n",
            env.server
        );
        fs::write(&env.kubeconfig, &kubeconfig).map_err(io("write kubeconfig"))?;
        let kc = Kubeconfig::from_yaml(&kubeconfig)?;
        env.config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?;
        env.wait_ready().await?;

        if let Some(kcm) = kcm {
            let mut cmd = Command::new(kcm);
            cmd.arg(format!("--kubeconfig={}", env.kubeconfig.display()))
                .arg("--bind-address=127.0.0.1")
                .arg("--secure-port=0")
                .arg("--port=0")
                .arg("--leader-elect=false")
                .arg(format!(
                    "--service-account-private-key-file={}",
                    dir.join("sa.key").display()
                ))
                .arg("--use-service-account-credentials=false")
                .arg("--controllers=*");
            env.spawn("kube-controller-manager", cmd)?;
        }
        Ok(env)
    }

    fn spawn(&mut self, name: &'static str, mut cmd: Command) -> Result<(), TestEnvError> {
        let log = self.dir.join(format!("{name}.log"));
        let out = File::create(&log).map_err(io(format!("create {}", log.display())))?;
        let err = out.try_clone().map_err(io("clone log handle"))?;
        let child = cmd
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(io(format!("spawn {name}")))?;
        self.procs.push(Proc { name, child, log });
        Ok(())
    }

    fn check_alive(&mut self) -> Result<(), TestEnvError> {
        for p in &mut self.procs {
            if let Ok(Some(status)) = p.child.try_wait() {
                return Err(TestEnvError::Exited {
                    server: p.name,
                    status: status.to_string(),
                    log: tail(&p.log, 3000),
                });
            }
        }
        Ok(())
    }

    async fn wait_ready(&mut self) -> Result<(), TestEnvError> {
        const TIMEOUT: Duration = Duration::from_secs(90);
        let start = Instant::now();
        let client = self.client()?;
        loop {
            self.check_alive()?;
            let req = http::Request::get("/readyz")
                .body(Vec::new())
                .map_err(|e| TestEnvError::Manifest(e.to_string()));
            if let Ok(body) = client.request_text(req?).await
                && body.trim() == "ok"
            {
                // The bootstrap controller creates `default` shortly after /readyz.
                if Api::<Namespace>::all(client.clone())
                    .get_opt("default")
                    .await
                    .ok()
                    .flatten()
                    .is_some()
                {
                    return Ok(());
                }
            }
            if start.elapsed() > TIMEOUT {
                let log = self
                    .procs
                    .iter()
                    .find(|p| p.name == "kube-apiserver")
                    .map(|p| tail(&p.log, 3000));
                return Err(TestEnvError::NotReady {
                    server: "kube-apiserver",
                    secs: TIMEOUT.as_secs(),
                    log: log.unwrap_or_default(),
                });
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// A client authenticated as a `system:masters` user (built in the caller's runtime).
    pub fn client(&self) -> Result<Client, TestEnvError> {
        Ok(Client::try_from(self.config.clone())?)
    }

    /// A client that impersonates `user` (e.g. `system:serviceaccount:NS:NAME`) with `groups`, so
    /// requests are authorized by that user's RBAC only.
    pub fn client_as(&self, user: &str, groups: &[&str]) -> Result<Client, TestEnvError> {
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(user.to_string());
        config.auth_info.impersonate_groups =
            (!groups.is_empty()).then(|| groups.iter().map(|g| g.to_string()).collect());
        Ok(Client::try_from(config)?)
    }

    /// The kube config of the admin user.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Path of a kubeconfig file for the admin user (e.g. for `kubectl --kubeconfig`).
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    /// The API server URL.
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Creates a namespace with a unique name starting with `prefix` and returns its name.
    pub async fn namespace(&self, prefix: &str) -> Result<String, TestEnvError> {
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let name = format!("{prefix}-{}", SEQ.fetch_add(1, Ordering::Relaxed));
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}
        }))
        .map_err(|e| TestEnvError::Manifest(e.to_string()))?;
        Api::<Namespace>::all(self.client()?)
            .create(&PostParams::default(), &ns)
            .await?;
        Ok(name)
    }

    /// Server-side applies every CRD in `yaml` (a multi-document stream; other kinds are ignored)
    /// and waits until each is Established.
    pub async fn install_crds(&self, yaml: &str) -> Result<(), TestEnvError> {
        let api = Api::<CustomResourceDefinition>::all(self.client()?);
        let pp = PatchParams::apply("rollout-testenv").force();
        let mut names = Vec::new();
        for value in yaml_documents(yaml)? {
            if value.get("kind").and_then(|k| k.as_str()) != Some("CustomResourceDefinition") {
                continue;
            }
            let crd: CustomResourceDefinition =
                serde_json::from_value(value).map_err(|e| TestEnvError::Manifest(format!("CRD: {e}")))?;
            let name = crd.metadata.name.clone().unwrap_or_default();
            api.patch(&name, &pp, &Patch::Apply(&crd)).await?;
            names.push(name);
        }
        for name in names {
            let established = await_condition(api.clone(), &name, conditions::is_crd_established());
            tokio::time::timeout(Duration::from_secs(30), established)
                .await
                .map_err(|_| TestEnvError::NotReady {
                    server: "CRD",
                    secs: 30,
                    log: name.clone(),
                })?
                .map_err(|e| TestEnvError::Manifest(format!("waiting for CRD {name}: {e}")))?;
        }
        Ok(())
    }
}

/// One environment shared by the tests of a test binary that run at the same time: the servers
/// stop when the last returned handle is dropped.
pub async fn shared(opts: TestEnvOptions) -> Result<Option<std::sync::Arc<TestEnv>>, TestEnvError> {
    static SHARED: tokio::sync::Mutex<std::sync::Weak<TestEnv>> =
        tokio::sync::Mutex::const_new(std::sync::Weak::new());
    let mut slot = SHARED.lock().await;
    if let Some(env) = slot.upgrade() {
        return Ok(Some(env));
    }
    let Some(env) = TestEnv::start_or_skip(opts).await? else {
        return Ok(None);
    };
    let env = std::sync::Arc::new(env);
    *slot = std::sync::Arc::downgrade(&env);
    Ok(Some(env))
}

/// A kubelet stand-in (there is no scheduler or kubelet): marks the pods in `namespace` Running
/// and Ready `delay` after they appear, except those for which `keep_unready` returns true.
/// Stops when the returned handle is aborted or dropped with its runtime.
pub fn spawn_kubelet(
    client: Client,
    namespace: &str,
    delay: Duration,
    keep_unready: impl Fn(&Pod) -> bool + Send + 'static,
) -> tokio::task::JoinHandle<()> {
    let pods: Api<Pod> = Api::namespaced(client, namespace);
    tokio::spawn(async move {
        let mut first_seen: std::collections::HashMap<String, Instant> = std::collections::HashMap::new();
        loop {
            if let Ok(list) = pods.list(&Default::default()).await {
                for pod in list.items {
                    let name = pod.metadata.name.clone().unwrap_or_default();
                    let ready = pod
                        .status
                        .as_ref()
                        .and_then(|s| s.conditions.as_ref())
                        .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"));
                    let seen = *first_seen.entry(name.clone()).or_insert_with(Instant::now);
                    if ready
                        || pod.metadata.deletion_timestamp.is_some()
                        || seen.elapsed() < delay
                        || keep_unready(&pod)
                    {
                        continue;
                    }
                    let now = jiff_now();
                    let cond =
                        |t: &str| serde_json::json!({"type": t, "status": "True", "lastTransitionTime": now});
                    let patch = serde_json::json!({"status": {
                        "phase": "Running",
                        "conditions": [cond("PodScheduled"), cond("Initialized"), cond("ContainersReady"), cond("Ready")],
                        "podIP": "10.1.0.1", "startTime": now,
                    }});
                    let _ = pods
                        .patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
                        .await;
                }
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    })
}

fn jiff_now() -> String {
    use rollout_core::common::Timestamp;
    Timestamp::from_second(Timestamp::now().as_second())
        .map(|t| t.to_string())
        .unwrap_or_default()
}

/// Splits a multi-document YAML stream into JSON values, skipping empty documents.
pub fn yaml_documents(yaml: &str) -> Result<Vec<serde_json::Value>, TestEnvError> {
    let mut out = Vec::new();
    for doc in serde_yaml::Deserializer::from_str(yaml) {
        let value: serde_json::Value =
            serde::Deserialize::deserialize(doc).map_err(|e| TestEnvError::Manifest(format!("YAML: {e}")))?;
        if !value.is_null() {
            out.push(value);
        }
    }
    Ok(out)
}

/// Server-side applies `objects` (any kinds the server knows, resolved through discovery) with
/// `client`, putting namespaced objects without a namespace into `namespace`. Returns the
/// objects as stored by the server.
pub async fn apply_objects(
    client: &Client,
    objects: &[serde_json::Value],
    namespace: &str,
) -> Result<Vec<DynamicObject>, TestEnvError> {
    let pp = PatchParams::apply("rollout-testenv").force();
    let mut out = Vec::new();
    for value in objects {
        let obj: DynamicObject = serde_json::from_value(value.clone())
            .map_err(|e| TestEnvError::Manifest(format!("object: {e}")))?;
        let types = obj
            .types
            .clone()
            .ok_or_else(|| TestEnvError::Manifest("object without apiVersion/kind".into()))?;
        let gvk = GroupVersionKind::try_from(&types).map_err(|e| TestEnvError::Manifest(e.to_string()))?;
        let (ar, caps) = discovery::pinned_kind(client, &gvk).await?;
        let name = obj
            .metadata
            .name
            .clone()
            .ok_or_else(|| TestEnvError::Manifest(format!("{} without a name", types.kind)))?;
        let api: Api<DynamicObject> = if caps.scope == Scope::Namespaced {
            let ns = obj
                .metadata
                .namespace
                .clone()
                .unwrap_or_else(|| namespace.to_string());
            Api::namespaced_with(client.clone(), &ns, &ar)
        } else {
            Api::all_with(client.clone(), &ar)
        };
        let mut body = value.clone();
        if caps.scope == Scope::Namespaced && body["metadata"].get("namespace").is_none() {
            body["metadata"]["namespace"] = serde_json::Value::String(namespace.to_string());
        }
        out.push(api.patch(&name, &pp, &Patch::Apply(&body)).await?);
    }
    Ok(out)
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        // Stop in reverse order of start (controller-manager, apiserver, etcd), each by its PID.
        for p in self.procs.iter_mut().rev() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}
