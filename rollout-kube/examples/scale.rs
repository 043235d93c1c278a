//! Measures the controller at scale on the local test API server (no controller-manager, so no
//! pods): creates N Rollouts, then runs the controller until every one has been reconciled (its
//! first ReplicaSet exists and status is written), then watches a quiet period. Reported
//! separately:
//! - the first pass: wall time, reconciles and writes (the controller's own metrics), every API
//!   request the controller sent by verb (a metering layer on its client), the time requests
//!   waited in the client-side rate limiter (`--qps`, off by default), and the CPU time of this
//!   process (the controller: creation is finished before it starts) and of the API server and
//!   etcd (child processes) over the same window;
//! - the controller's resident memory growth per Rollout;
//! - the quiet period: reconciles (only resyncs expected), writes (zero expected), requests and
//!   CPU, per reconcile when there were any.
//!
//! `cargo build --release -p rollout-kube --features testenv --example scale`, then
//! `$CARGO_TARGET_DIR/release/examples/scale N [--qps 40 --burst 80] [--replicas 3]
//! [--resync SECS] [--quiet SECS]`
//!
//! With the default 3 replicas and no pods, every Rollout stays Progressing and the core wakes
//! it at its progress deadline (601 s after it started progressing), which comes before the
//! resync; with `--replicas 0` each Rollout becomes Healthy and is reconciled again only every
//! `--resync` seconds, so a quiet period of one resync period reconciles each Rollout once.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use futures::{StreamExt, stream};
use kube::api::{Api, PostParams};
use kube::client::ClientBuilder;
use prometheus_client::registry::Registry;
use rollout_kube::ratelimit::RateLimitLayer;
use rollout_kube::resources::Rollout;
use rollout_kube::testenv::{TestEnv, TestEnvOptions};
use rollout_kube::{ControllerConfig, RolloutController, manifests};
use serde_json::json;
use tower::{Layer, Service};

/// The `rollout` binary's allocator, so the controller is measured as shipped.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// The example's options (`scale N [--qps Q] [--burst B] [--replicas R] [--resync S] [--quiet S]`).
struct Opts {
    n: usize,
    /// Client-side limit of the controller's client (0: none).
    qps: f64,
    burst: u32,
    replicas: u32,
    resync: u64,
    quiet: u64,
}

fn opts() -> Opts {
    let mut o = Opts {
        n: 1000,
        qps: 0.0,
        burst: 80,
        replicas: 3,
        resync: 15 * 60,
        quiet: 20,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let value = args.get(i + 1).map(String::as_str).unwrap_or("");
        let mut flag = true;
        match args[i].as_str() {
            "--qps" => o.qps = value.parse().unwrap_or(o.qps),
            "--burst" => o.burst = value.parse().unwrap_or(o.burst),
            "--replicas" => o.replicas = value.parse().unwrap_or(o.replicas),
            "--resync" => o.resync = value.parse().unwrap_or(o.resync),
            "--quiet" => o.quiet = value.parse().unwrap_or(o.quiet),
            other => {
                o.n = other.parse().unwrap_or(o.n);
                flag = false;
            }
        }
        i += if flag { 2 } else { 1 };
    }
    o
}

/// API requests sent by the controller's client, by kind, and the time spent waiting for the
/// client to be ready (with a rate limit below this layer: waiting for a token).
#[derive(Default)]
struct Requests {
    get: AtomicU64,
    list: AtomicU64,
    watch: AtomicU64,
    create: AtomicU64,
    patch: AtomicU64,
    other_write: AtomicU64,
    /// ReplicaSets created (every Rollout's first reconcile creates one).
    replica_sets: AtomicU64,
    wait_ns: AtomicU64,
}

#[derive(Clone, Copy, Debug, Default)]
struct RequestCounts {
    get: u64,
    list: u64,
    watch: u64,
    create: u64,
    patch: u64,
    other_write: u64,
    replica_sets: u64,
    wait: Duration,
}

impl Requests {
    fn snapshot(&self) -> RequestCounts {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        RequestCounts {
            get: l(&self.get),
            list: l(&self.list),
            watch: l(&self.watch),
            create: l(&self.create),
            patch: l(&self.patch),
            other_write: l(&self.other_write),
            replica_sets: l(&self.replica_sets),
            wait: Duration::from_nanos(l(&self.wait_ns)),
        }
    }
}

impl RequestCounts {
    fn since(self, b: RequestCounts) -> RequestCounts {
        RequestCounts {
            get: self.get - b.get,
            list: self.list - b.list,
            watch: self.watch - b.watch,
            create: self.create - b.create,
            patch: self.patch - b.patch,
            other_write: self.other_write - b.other_write,
            replica_sets: self.replica_sets - b.replica_sets,
            wait: self.wait.saturating_sub(b.wait),
        }
    }
    fn writes(&self) -> u64 {
        self.create + self.patch + self.other_write
    }
    fn total(&self) -> u64 {
        self.get + self.list + self.watch + self.writes()
    }
    fn describe(&self) -> String {
        format!(
            "{} requests: {} GET, {} LIST, {} WATCH, {} POST, {} PATCH, {} other writes",
            self.total(),
            self.get,
            self.list,
            self.watch,
            self.create,
            self.patch,
            self.other_write
        )
    }
}

struct MeterLayer(Arc<Requests>);

impl<S> Layer<S> for MeterLayer {
    type Service = Meter<S>;
    fn layer(&self, inner: S) -> Meter<S> {
        Meter {
            inner,
            stats: self.0.clone(),
            waiting_since: None,
        }
    }
}

struct Meter<S> {
    inner: S,
    stats: Arc<Requests>,
    waiting_since: Option<Instant>,
}

impl<S, B> Service<http::Request<B>> for Meter<S>
where
    S: Service<http::Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        let ready = self.inner.poll_ready(cx);
        match (&ready, self.waiting_since) {
            (Poll::Pending, None) => self.waiting_since = Some(Instant::now()),
            (Poll::Ready(_), Some(since)) => {
                let ns = since.elapsed().as_nanos() as u64;
                self.stats.wait_ns.fetch_add(ns, Ordering::Relaxed);
                self.waiting_since = None;
            }
            _ => {}
        }
        ready
    }

    fn call(&mut self, req: http::Request<B>) -> Self::Future {
        let s = &self.stats;
        let query = req.uri().query().unwrap_or("");
        let counter = match req.method().as_str() {
            "GET" if query.contains("watch=true") || query.contains("watch=1") => &s.watch,
            // A named object's path has an even number of segments after the group/version
            // (`namespaces/NS/rollouts/NAME`); a collection's an odd one.
            "GET" if is_collection(req.uri().path()) => &s.list,
            "GET" => &s.get,
            "POST" => {
                if req.uri().path().ends_with("/replicasets") {
                    s.replica_sets.fetch_add(1, Ordering::Relaxed);
                }
                &s.create
            }
            "PATCH" => &s.patch,
            _ => &s.other_write,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        self.inner.call(req)
    }
}

/// Whether `path` names a collection (`/api/v1/namespaces/ns/events`,
/// `/apis/g/v1/namespaces/ns/rollouts`) rather than one object or its `status`/`scale`.
fn is_collection(path: &str) -> bool {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let after_version = match segments.first() {
        Some(&"api") => 2,
        _ => 3,
    };
    let rest = segments.len().saturating_sub(after_version);
    rest % 2 == 1 && !matches!(segments.last(), Some(&"status" | &"scale"))
}

/// CPU time (user + system) of process `pid` from `/proc/PID/stat`, in clock ticks (1/100 s).
fn cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    // After the command: state (3), ppid (4), ... utime (14), stime (15).
    Some(fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?)
}

/// CPU time of this process (the controller and the example around it).
fn self_cpu() -> Duration {
    Duration::from_millis(cpu_ticks("self").unwrap_or(0) * 10)
}

/// CPU time of this process's children (the test API server and etcd).
fn children_cpu() -> Duration {
    let me = std::process::id().to_string();
    let mut ticks = 0;
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let pid = entry.file_name().to_string_lossy().to_string();
        if !pid.bytes().all(|b| b.is_ascii_digit()) {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_string));
        if ppid.as_deref() == Some(me.as_str()) {
            ticks += cpu_ticks(&pid).unwrap_or(0);
        }
    }
    Duration::from_millis(ticks * 10)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("VmRSS:")).map(|l| l.to_string()))
        .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        .unwrap_or(0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

fn sample(text: &str, name: &str) -> f64 {
    text.lines()
        .find(|l| l.starts_with(name))
        .and_then(|l| l.split_whitespace().last())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

/// One reading of everything measured at a point in time.
#[derive(Clone, Copy)]
struct Reading {
    at: Instant,
    reconciles: f64,
    writes: f64,
    reconcile_secs: f64,
    cpu: Duration,
    server_cpu: Duration,
    requests: RequestCounts,
}

fn read(registry: &Registry, requests: &Requests) -> Result<Reading, std::fmt::Error> {
    let mut text = String::new();
    prometheus_client::encoding::text::encode(&mut text, registry)?;
    Ok(Reading {
        at: Instant::now(),
        reconciles: sample(&text, "rollout_reconciles_total"),
        writes: sample(&text, "rollout_api_writes_total"),
        reconcile_secs: sample(&text, "rollout_reconcile_duration_seconds_sum"),
        cpu: self_cpu(),
        server_cpu: children_cpu(),
        requests: requests.snapshot(),
    })
}

/// What happened between two readings.
fn report(label: &str, a: &Reading, b: &Reading, qps: f64) {
    let secs = (b.at - a.at).as_secs_f64();
    let reconciles = b.reconciles - a.reconciles;
    let cpu = (b.cpu - a.cpu).as_secs_f64();
    let server = (b.server_cpu - a.server_cpu).as_secs_f64();
    let r = b.requests.since(a.requests);
    println!(
        "{label}: {secs:.1} s, {reconciles} reconciles ({:.0}/s), {} writes counted by the controller",
        reconciles / secs,
        b.writes - a.writes
    );
    println!(
        "  controller {} = {:.1}/s ({:.1} writes/s){}",
        r.describe(),
        r.total() as f64 / secs,
        r.writes() as f64 / secs,
        if qps > 0.0 {
            format!(
                "; limiter {qps} QPS, requests waited {:.1} s for it",
                r.wait.as_secs_f64()
            )
        } else {
            "; no client-side limit".into()
        }
    );
    let per = |x: f64| {
        if reconciles > 0.0 {
            format!("{:.0} µs per reconcile", x / reconciles * 1e6)
        } else {
            "no reconciles".into()
        }
    };
    println!(
        "  CPU: controller process {cpu:.2} s ({:.1}% of a core; {}), API server + etcd {server:.2} s ({:.1}% of a core); mean reconcile wall time {}",
        cpu / secs * 100.0,
        per(cpu),
        server / secs * 100.0,
        per(b.reconcile_secs - a.reconcile_secs)
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let o = opts();
    let n = o.n;
    let Some(env) = TestEnv::start_or_skip(TestEnvOptions {
        controller_manager: false,
    })
    .await?
    else {
        return Ok(());
    };
    let client = env.client()?;
    env.install_crds(&manifests::crds_yaml()?).await?;
    let ns = env.namespace("scale").await?;
    let api: Api<Rollout> = Api::namespaced(client.clone(), &ns);
    println!(
        "{n} Rollouts, {} replicas each; controller client: {}; resync {} s; load average {}",
        o.replicas,
        if o.qps > 0.0 {
            format!("limited to {} QPS, burst {}", o.qps, o.burst)
        } else {
            "no rate limit".into()
        },
        o.resync,
        load_average()
    );
    let t = Instant::now();
    let replicas = o.replicas;
    stream::iter(0..n)
        .for_each_concurrent(32, |i| {
            let api = api.clone();
            async move {
                let name = format!("ro-{i}");
                let ro: Rollout = serde_json::from_value(json!({
                    "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                    "metadata": {"name": name, "labels": {"team": "scale"}},
                    "spec": {
                        "replicas": replicas,
                        "selector": {"matchLabels": {"app": name}},
                        "template": {"metadata": {"labels": {"app": name}},
                            "spec": {"containers": [{"name": "app", "image": "example.invalid/app:v1",
                                "env": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
                                "ports": [{"containerPort": 8080}]}]}},
                        "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}
                    }
                }))
                .unwrap_or_default();
                if let Err(e) = api.create(&PostParams::default(), &ro).await {
                    eprintln!("create {name}: {e}");
                }
            }
        })
        .await;
    println!(
        "created {n} Rollouts in {:.1} s (the example's own client; not measured below)",
        t.elapsed().as_secs_f64()
    );
    drop(api);
    drop(client);
    tokio::time::sleep(Duration::from_secs(1)).await;

    // The controller's client: metered, and rate limited like `rollout controller --qps`.
    let requests = Arc::new(Requests::default());
    let builder = ClientBuilder::try_from(env.config().clone())?;
    let ctrl_client = if o.qps > 0.0 {
        builder
            .with_layer(&RateLimitLayer::new(o.qps, o.burst))
            .with_layer(&MeterLayer(requests.clone()))
            .build()
    } else {
        builder.with_layer(&MeterLayer(requests.clone())).build()
    };
    let before = rss_kb();
    let mut registry = Registry::default();
    let config = ControllerConfig {
        namespace: Some(ns.clone()),
        concurrency: 32,
        resync: Duration::from_secs(o.resync),
        ..Default::default()
    };
    let start = read(&registry, &requests)?;
    let ctrl = RolloutController::new(ctrl_client, config, &mut registry);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ctrl.run(async move {
        let _ = rx.await;
    }));
    // Progress from the controller's own metrics and requests (listing the Rollouts here would
    // inflate RSS and CPU): done once a ReplicaSet was created for every Rollout and the writes
    // counter has not moved for 5 s since. Read every 2 s: encoding the registry walks every
    // cached Rollout (its per-Rollout collectors), which at 10k and every 250 ms was 41% of the
    // process's CPU and would be counted as the controller's.
    let mut last = start;
    let settled = loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        let now = read(&registry, &requests)?;
        if now.writes != last.writes {
            last = now;
        } else if now.requests.replica_sets >= n as u64 && last.at.elapsed() > Duration::from_secs(5) {
            break now;
        }
        if start.at.elapsed() > Duration::from_secs(3600) {
            println!("not settled after 3600 s ({} writes)", now.writes);
            break now;
        }
    };
    let after = rss_kb();
    println!(
        "first pass: every Rollout reconciled and written in {:.1} s ({:.0} Rollouts/s); load average {}",
        (last.at - start.at).as_secs_f64(),
        n as f64 / (last.at - start.at).as_secs_f64(),
        load_average()
    );
    report("first pass (to the last write)", &start, &last, o.qps);
    println!(
        "controller RSS growth {} KB = {:.1} KB per Rollout (Rollout + its ReplicaSet cached)",
        after.saturating_sub(before),
        after.saturating_sub(before) as f64 / n as f64
    );

    tokio::time::sleep(Duration::from_secs(o.quiet)).await;
    let quiet = read(&registry, &requests)?;
    report(
        &format!("quiet period after the first pass (resync {} s)", o.resync),
        &settled,
        &quiet,
        o.qps,
    );
    println!("load average {}", load_average());

    let api: Api<Rollout> = Api::namespaced(env.client()?, &ns);
    let list = api.list(&Default::default()).await?.items;
    let done = list
        .iter()
        .filter(|r| r.status.get("currentPodHash").is_some())
        .count();
    let mut phases = std::collections::BTreeMap::<String, usize>::new();
    for r in &list {
        let phase = r.status.get("phase").and_then(|p| p.as_str()).unwrap_or("-");
        *phases.entry(phase.to_string()).or_default() += 1;
    }
    println!("{done}/{n} Rollouts reconciled; phases {phases:?}");
    let _ = tx.send(());
    let _ = task.await;
    Ok(())
}
