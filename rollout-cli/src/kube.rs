//! Cluster subcommands on top of `rollout-kube`: `get [--watch]`, `promote`, `abort`, `retry`,
//! `pause` (the same patches as Argo's kubectl plugin), `controller` and `controller manifests`.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use ::kube::{Client, Config};
use analysis_host::{HostConfig, JudgeHost, LoadOptions, WasmJudges};
use analysis_providers::{PrometheusProvider, WebProvider};
use clap::{Args, Subcommand};
use prometheus_client::registry::Registry;
use rollout_driver::{JudgeProvider, Providers};
use rollout_kube::controller::{ControllerConfig, RolloutController};
use rollout_kube::manifests::{self, ManifestOptions};
use rollout_kube::notify::{self, NotifyConfig};
use rollout_kube::ops;
use rollout_kube::sharding::{
    DEFAULT_LEASE_SECONDS, POD_NAME_ENV, POD_NAMESPACE_ENV, ShardOptions, run_shard,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::CliError;

/// `rollout get --help` examples.
pub const GET_EXAMPLES: &str = "Examples:
  rollout get guestbook                  # phase, step, weights, ReplicaSets, analysis runs
  rollout get guestbook -n shop --watch  # redraw every 2 seconds until Ctrl-C";
/// `rollout promote --help` examples.
pub const PROMOTE_EXAMPLES: &str = "Examples:
  rollout promote guestbook         # resume a pause, or skip the current step
  rollout promote guestbook --full  # skip all remaining steps and analysis";
/// `rollout abort --help` examples.
pub const ABORT_EXAMPLES: &str = "Examples:
  rollout abort guestbook -n shop   # scale the canary down, traffic back to stable
  rollout retry guestbook -n shop   # then start the update again";
/// `rollout retry --help` examples.
pub const RETRY_EXAMPLES: &str = "Examples:
  rollout retry guestbook           # after `rollout abort` or an aborted analysis";
/// `rollout pause --help` examples.
pub const PAUSE_EXAMPLES: &str = "Examples:
  rollout pause guestbook -n shop   # hold at the current step
  rollout promote guestbook -n shop # resume";
/// `rollout controller --help` examples.
pub const CONTROLLER_EXAMPLES: &str = "Examples:
  rollout controller manifests | kubectl apply -f -   # CRDs, RBAC, ServiceAccount, Deployment
  rollout controller --namespace shop --metrics-addr 0.0.0.0:8090
  rollout controller --shard 1 --judges ./judges
  rollout controller --notify-url https://hooks.example/rollouts --notify-secret rollout-hook/token";

/// Which Rollout a command acts on.
#[derive(Debug, Args)]
pub struct Target {
    /// The Rollout's name.
    pub name: String,
    /// Its namespace (default: the kubeconfig context's namespace).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
}

/// `rollout get`.
#[derive(Debug, Args)]
pub struct GetArgs {
    #[command(flatten)]
    target: Target,
    /// Redraw every 2 seconds until Ctrl-C.
    #[arg(short = 'w', long)]
    watch: bool,
}

/// `rollout promote`.
#[derive(Debug, Args)]
pub struct PromoteArgs {
    #[command(flatten)]
    target: Target,
    /// Skip all remaining steps and analysis (`status.promoteFull`).
    #[arg(long)]
    full: bool,
}

/// The user operations that patch a Rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `status.abort = true`.
    Abort,
    /// `status.abort = false`.
    Retry,
    /// `spec.paused = true`.
    Pause,
}

/// `rollout controller [manifests]`.
#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct ControllerArgs {
    #[command(subcommand)]
    command: Option<ControllerCommand>,
    /// Manage Rollouts in this namespace only (default: all namespaces).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Manage only Rollouts labelled `rollout.io/shard=SHARD`, while holding that shard's Lease.
    #[arg(long)]
    shard: Option<String>,
    /// Argo's controller instance id: manage only Rollouts with this instance-id label.
    #[arg(long)]
    instance_id: Option<String>,
    /// Extra label selector for Rollouts.
    #[arg(short = 'l', long)]
    selector: Option<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics.
    #[arg(long, default_value = "127.0.0.1:8090", value_name = "ADDR")]
    metrics_addr: SocketAddr,
    /// Also serve Argo Rollouts' per-object series (rollout_info, analysis_run_info, ...).
    #[arg(long)]
    per_object_metrics: bool,
    /// Client-side API request rate limit (requests per second).
    #[arg(long, default_value_t = 40.0)]
    qps: f64,
    /// Requests allowed in a burst above the QPS.
    #[arg(long, default_value_t = 80)]
    burst: u32,
    /// Rollouts reconciled at once.
    #[arg(long, default_value_t = 16)]
    concurrency: u16,
    /// This replica's name: shard Lease holder and Events' reporting instance (default: $POD_NAME;
    /// for the Lease then $HOSTNAME).
    #[arg(long)]
    identity: Option<String>,
    /// Namespace of the shard Leases (default: $POD_NAMESPACE, else rollout-system).
    #[arg(long)]
    lease_namespace: Option<String>,
    /// Shard Lease duration in seconds.
    #[arg(long, default_value_t = DEFAULT_LEASE_SECONDS)]
    lease_seconds: u64,
    /// Directories searched for WebAssembly judges by digest (the judges shipped in plugins/dist are
    /// built in).
    #[arg(long, value_name = "DIR")]
    judges: Vec<std::path::PathBuf>,
    /// After SIGINT/SIGTERM, wait at most this many seconds for in-flight reconciles.
    #[arg(long, default_value_t = 30)]
    shutdown_timeout: u64,
    /// Decide but do not act, for every Rollout: record what would be done (events, a `DryRun`
    /// condition, a log line per action); write no ReplicaSet, Service, route, AnalysisRun or
    /// Deployment. One Rollout: annotate it `rollout.io/dry-run: "true"`.
    #[arg(long)]
    dry_run: bool,
    /// POST every new feedback sentence (rolled back, held, ...) as JSON to this http(s) URL.
    /// One Rollout: annotate it `rollout.io/notify-url: URL`.
    #[arg(long, value_name = "URL")]
    notify_url: Option<String>,
    /// Secret (in $POD_NAMESPACE, else rollout-system) whose key (default `token`) is sent as
    /// `Authorization` to --notify-url: `Bearer VALUE`, or VALUE when it has a space.
    #[arg(long, value_name = "NAME[/KEY]")]
    notify_secret: Option<String>,
    /// Attempts per notification (retried on connection errors, 408, 429 and 5xx).
    #[arg(long, default_value_t = 5, value_name = "N")]
    notify_attempts: u32,
    /// Wait after the first failed attempt in milliseconds; doubles per attempt, at most 30 s.
    #[arg(long, default_value_t = 1000, value_name = "MS")]
    notify_backoff_ms: u64,
}

#[derive(Debug, Subcommand)]
enum ControllerCommand {
    /// Print everything a cluster needs as YAML: CRDs, least-privilege RBAC, ServiceAccount, Deployment.
    #[command(after_help = "Examples:
  rollout controller manifests | kubectl apply -f -
  rollout controller manifests --watch-namespace shop --image registry.example/rollout:0.1.0 --no-crds")]
    Manifests(ManifestArgs),
}

#[derive(Debug, Args)]
struct ManifestArgs {
    /// Namespace of the controller's ServiceAccount and Deployment.
    #[arg(short = 'n', long, default_value = "rollout-system")]
    namespace: String,
    /// Container image of the controller.
    #[arg(long, default_value = "rollout:latest")]
    image: String,
    /// Manage Rollouts in this namespace only (a Role instead of a ClusterRole).
    #[arg(long)]
    watch_namespace: Option<String>,
    /// Argo controller instance id passed to the controller.
    #[arg(long)]
    instance_id: Option<String>,
    /// Leave out the CRDs (for clusters that already run Argo Rollouts).
    #[arg(long)]
    no_crds: bool,
    /// Run this shard (`--shard=N`; Deployment `rollout-controller-shard-N`). Render once per
    /// shard; label each Rollout `rollout.io/shard=N`.
    #[arg(long)]
    shard: Option<String>,
}

pub(crate) fn runtime() -> Result<tokio::runtime::Runtime, CliError> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the async runtime: {e}")))
}

/// A rate-limited client from the kubeconfig / in-cluster config, and the default namespace.
pub(crate) async fn client(qps: f64, burst: u32) -> Result<(Client, String), CliError> {
    let config = Config::infer().await.map_err(|e| {
        CliError::new(format!(
            "no usable Kubernetes configuration (KUBECONFIG, ~/.kube/config or in-cluster): {e}"
        ))
    })?;
    let ns = config.default_namespace.clone();
    let client = rollout_kube::ratelimit::rate_limited_client(config, qps, burst)
        .map_err(|e| CliError::new(format!("cannot create a Kubernetes client: {e}")))?;
    Ok((client, ns))
}

fn op_error(e: impl std::fmt::Display) -> CliError {
    CliError::new(e.to_string())
}

/// `rollout get NAME [--watch]`.
pub fn get(args: &GetArgs) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let (client, default_ns) = client(20.0, 40).await?;
        let ns = args.target.namespace.clone().unwrap_or(default_ns);
        let name = &args.target.name;
        if !args.watch {
            let view = ops::get(&client, &ns, name).await.map_err(op_error)?;
            crate::outf!("{}", crate::view::render(&view));
            let group = rollout_kube::group::group_view(&client, &ns, name)
                .await
                .map_err(op_error)?;
            crate::outf!("{}", crate::view::render_group(group.as_ref()));
            return Ok(());
        }
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            let view = ops::get(&client, &ns, name).await.map_err(op_error)?;
            let group = rollout_kube::group::group_view(&client, &ns, name)
                .await
                .map_err(op_error)?;
            // Clear the screen and redraw, like `watch`.
            crate::outf!(
                "\x1b[2J\x1b[H{}{}",
                crate::view::render(&view),
                crate::view::render_group(group.as_ref())
            );
            tokio::select! {
                _ = &mut ctrl_c => return Ok(()),
                () = tokio::time::sleep(Duration::from_secs(2)) => {}
            }
        }
    })
}

/// `rollout promote NAME [--full]`.
pub fn promote(args: &PromoteArgs) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let (client, default_ns) = client(20.0, 40).await?;
        let ns = args.target.namespace.clone().unwrap_or(default_ns);
        ops::promote(&client, &ns, &args.target.name, args.full)
            .await
            .map_err(op_error)?;
        let what = if args.full { "fully promoted" } else { "promoted" };
        crate::outln!("rollout '{ns}/{}' {what}", args.target.name);
        // A group moves together: the other members are promoted too (only those paused, since
        // promoting a running Rollout skips its step).
        let members = rollout_kube::group::members_in_write_order(&client, &ns, &args.target.name)
            .await
            .map_err(op_error)?;
        for (member, paused) in members {
            if member != args.target.name && (paused || args.full) {
                ops::promote(&client, &ns, &member, args.full)
                    .await
                    .map_err(op_error)?;
                crate::outln!("rollout '{ns}/{member}' {what} (same group)");
            }
        }
        Ok(())
    })
}

/// `rollout abort|retry|pause NAME`.
pub fn operate(op: Op, target: &Target) -> Result<(), CliError> {
    runtime()?.block_on(async {
        let (client, default_ns) = client(20.0, 40).await?;
        let ns = target.namespace.clone().unwrap_or(default_ns);
        let name = &target.name;
        // Abort and retry apply to the whole group (retry: members aborted by their own cause
        // first, so none is aborted again by the group); pause applies to one Rollout.
        let mut names = vec![name.clone()];
        if matches!(op, Op::Abort | Op::Retry) {
            let members = rollout_kube::group::members_in_write_order(&client, &ns, name)
                .await
                .map_err(op_error)?;
            if !members.is_empty() {
                names = members.into_iter().map(|(m, _)| m).collect();
            }
        }
        for member in &names {
            let (result, done) = match op {
                Op::Abort => (ops::abort(&client, &ns, member).await, "aborted"),
                Op::Retry => (ops::retry(&client, &ns, member).await, "retried"),
                Op::Pause => (ops::pause(&client, &ns, member).await, "paused"),
            };
            result.map_err(op_error)?;
            let same = if member == name { "" } else { " (same group)" };
            crate::outln!("rollout '{ns}/{member}' {done}{same}");
        }
        Ok(())
    })
}

/// `rollout controller` or `rollout controller manifests`.
pub fn controller(args: &ControllerArgs) -> Result<(), CliError> {
    if let Some(ControllerCommand::Manifests(m)) = &args.command {
        let yaml = manifests::all_with(&ManifestOptions {
            namespace: m.namespace.clone(),
            image: m.image.clone(),
            watch_namespace: m.watch_namespace.clone(),
            instance_id: m.instance_id.clone(),
            crds: !m.no_crds,
            shard: m.shard.clone(),
            ..ManifestOptions::default()
        })
        .map_err(|e| CliError::new(format!("cannot render the manifests: {e}")))?;
        crate::outf!("{yaml}");
        return Ok(());
    }
    if !(args.qps > 0.0 && args.qps.is_finite()) || args.burst == 0 {
        return Err(CliError::new(format!(
            "--qps must be a positive number and --burst at least 1 (got {} and {})",
            args.qps, args.burst
        )));
    }
    runtime()?.block_on(run_controller(args))
}

/// The measurement providers the controller offers: Prometheus, web, and WASM judges over them
/// (`job` is built into the controller).
fn providers(judge_dirs: &[std::path::PathBuf]) -> Result<Providers, CliError> {
    let mut sources = Providers::new();
    let prom = PrometheusProvider::new().map_err(|e| CliError::new(format!("prometheus provider: {e}")))?;
    let web = WebProvider::new().map_err(|e| CliError::new(format!("web provider: {e}")))?;
    sources.register(Arc::new(prom));
    sources.register(Arc::new(web));
    let host =
        JudgeHost::new(HostConfig::default()).map_err(|e| CliError::new(format!("judge host: {e}")))?;
    let mut bundled = Vec::new();
    for (file, bytes) in crate::simulate::BUNDLED_JUDGES {
        bundled.push(
            host.load_bytes(bytes, &LoadOptions::default())
                .map_err(|e| CliError::new(format!("bundled judge {file}: {e}")))?,
        );
    }
    let judges = WasmJudges::new(host, judge_dirs.to_vec());
    for judge in bundled {
        judges.insert(judge);
    }
    let mut providers = sources.clone();
    providers.register(Arc::new(JudgeProvider::new(Arc::new(judges), sources)));
    Ok(providers)
}

/// Resolves on the first SIGINT or SIGTERM.
async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// The controller-wide notification settings from the `--notify-*` flags (checked before any
/// API call; errors name the flag).
fn notify_config(args: &ControllerArgs) -> Result<NotifyConfig, CliError> {
    let url = args
        .notify_url
        .as_deref()
        .map(|u| notify::parse_url(u, "--notify-url"))
        .transpose()
        .map_err(|e| CliError::new(e.to_string()))?;
    let secret = args
        .notify_secret
        .as_deref()
        .map(|s| notify::SecretRef::parse(s, "--notify-secret"))
        .transpose()
        .map_err(|e| CliError::new(e.to_string()))?;
    if secret.is_some() && url.is_none() {
        return Err(CliError::new("--notify-secret needs --notify-url"));
    }
    let defaults = NotifyConfig::default();
    Ok(NotifyConfig {
        url,
        secret,
        secret_namespace: std::env::var(POD_NAMESPACE_ENV)
            .ok()
            .filter(|v| !v.is_empty())
            .unwrap_or(defaults.secret_namespace),
        retry: notify::RetryPolicy {
            attempts: args.notify_attempts.max(1),
            base: Duration::from_millis(args.notify_backoff_ms),
            ..defaults.retry
        },
        queue: defaults.queue,
    })
}

async fn run_controller(args: &ControllerArgs) -> Result<(), CliError> {
    let notify = notify_config(args)?;
    let (client, _) = client(args.qps, args.burst).await?;
    // The brake and the policy live in the controller's own namespace, like the notify Secret.
    let own_namespace = std::env::var(POD_NAMESPACE_ENV).ok().filter(|v| !v.is_empty());
    let defaults = ControllerConfig::default();
    let config = ControllerConfig {
        brake_namespace: own_namespace.clone().or(defaults.brake_namespace),
        policy_namespace: own_namespace.or(defaults.policy_namespace),
        namespace: args.namespace.clone(),
        instance_id: args.instance_id.clone(),
        label_selector: args.selector.clone(),
        concurrency: args.concurrency,
        per_object_metrics: args.per_object_metrics,
        // Events name the replica that published them: the pod (downward API) or --identity.
        instance: args
            .identity
            .clone()
            .or_else(|| std::env::var(POD_NAME_ENV).ok().filter(|v| !v.is_empty())),
        notify,
        ..defaults
    };
    let mut registry = Registry::default();
    let controller = RolloutController::new(client, config, &mut registry)
        .with_providers(providers(&args.judges)?)
        .with_dry_run(args.dry_run);
    let registry = Arc::new(registry);
    let listener = TcpListener::bind(args.metrics_addr)
        .await
        .map_err(|e| CliError::new(format!("cannot listen for metrics on {}: {e}", args.metrics_addr)))?;
    let bound = listener.local_addr().unwrap_or(args.metrics_addr);
    let server = tokio::spawn(serve_metrics(listener, registry));
    eprintln!("rollout controller: metrics on http://{bound}/metrics");

    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = async move {
        let mut rx = stop_rx;
        let _ = rx.wait_for(|s| *s).await;
    };
    let work = async move {
        match &args.shard {
            None => {
                controller.run(stopped).await;
                Ok(())
            }
            Some(shard) => {
                // Identity and Lease namespace default to the pod's (downward API env).
                let mut opts = ShardOptions::from_env(shard.clone());
                if let Some(identity) = &args.identity {
                    opts.identity = identity.clone();
                }
                if let Some(ns) = &args.lease_namespace {
                    opts.lease_namespace = ns.clone();
                }
                opts.lease_seconds = args.lease_seconds;
                run_shard(controller, opts, stopped).await.map_err(op_error)
            }
        }
    };
    tokio::pin!(work);
    let result = tokio::select! {
        r = &mut work => r,
        () = shutdown_signal() => {
            eprintln!("rollout controller: shutting down (waiting for in-flight reconciles)");
            let _ = stop_tx.send(true);
            match tokio::time::timeout(Duration::from_secs(args.shutdown_timeout), &mut work).await {
                Ok(r) => r,
                Err(_) => Err(CliError::new(format!(
                    "in-flight reconciles did not finish within --shutdown-timeout {}s",
                    args.shutdown_timeout
                ))),
            }
        }
    };
    server.abort();
    result
}

/// A minimal HTTP/1.1 responder: `GET /metrics` returns the registry in the OpenMetrics text
/// format; anything else is 404. One request per connection.
async fn serve_metrics(listener: TcpListener, registry: Arc<Registry>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let registry = registry.clone();
        tokio::spawn(async move {
            let mut buf = Vec::with_capacity(1024);
            let mut chunk = [0u8; 1024];
            let read = async {
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") && buf.len() < 16 * 1024 {
                    match conn.read(&mut chunk).await {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(chunk.get(..n).unwrap_or_default()),
                    }
                }
            };
            if tokio::time::timeout(Duration::from_secs(5), read).await.is_err() {
                return;
            }
            let request = String::from_utf8_lossy(&buf);
            let mut first = request.lines().next().unwrap_or_default().split(' ');
            let (method, path) = (first.next().unwrap_or(""), first.next().unwrap_or(""));
            let response = if method == "GET" && (path == "/metrics" || path.starts_with("/metrics?")) {
                let mut body = String::new();
                match prometheus_client::encoding::text::encode(&mut body, &registry) {
                    Ok(()) => http_response(
                        "200 OK",
                        "application/openmetrics-text; version=1.0.0; charset=utf-8",
                        &body,
                    ),
                    Err(e) => http_response("500 Internal Server Error", "text/plain", &e.to_string()),
                }
            } else {
                http_response("404 Not Found", "text/plain", "not found; try GET /metrics\n")
            };
            let _ = conn.write_all(response.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}

fn http_response(status: &str, content_type: &str, body: &str) -> String {
    format!(
        "HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    )
}
