//! The Rollout controller on `kube::runtime`: label-selected watches of Rollouts and of the
//! ReplicaSets/AnalysisRuns they own (cached with `managedFields` pruned), bounded concurrency,
//! per-object retry backoff, events on transitions only, Prometheus metrics ([`crate::metrics`]),
//! a tracing span per reconcile, and a shutdown future from the host.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::{FutureExt, StreamExt};
use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::Api;
use kube::runtime::controller::{Action as Requeue, Config as RuntimeConfig, Controller};
use kube::runtime::reflector::{self, ObjectRef};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Client, ResourceExt};
use prometheus_client::registry::Registry;
use rollout_core::common::Timestamp;
use rollout_core::rollout::Action;
use tracing::{Instrument, info_span, warn};

use crate::analysis::{AnalysisRunner, owner_runs_dry};
use crate::events::EventPublisher;
use crate::fleet_brake::BrakeWatch;
pub use crate::metrics::Metrics;
use crate::metrics::{Sources, trim_cached_rollout};
use crate::notify::{Notifier, NotifyConfig, NotifyMetrics};
use crate::reconciler::{Caches, Error, Reconciler, SeenRollouts, requeue_after};
use crate::resources::{AnalysisRun, INSTANCE_ID_LABEL, Rollout};

/// How the controller runs.
#[derive(Debug, Clone)]
pub struct ControllerConfig {
    /// Watch one namespace (`None`: all).
    pub namespace: Option<String>,
    /// Extra label selector for Rollouts (e.g. a shard label `rollout.io/shard=2`).
    pub label_selector: Option<String>,
    /// Argo-compatible instance id (see [`INSTANCE_ID_LABEL`]).
    pub instance_id: Option<String>,
    /// Maximum reconciles at once (0 = unbounded; avoid).
    pub concurrency: u16,
    /// Field manager and event reporter name.
    pub name: String,
    /// This replica's name in the Events it publishes (`reportingInstance`), e.g. the pod name
    /// ([`crate::sharding::POD_NAME_ENV`]).
    pub instance: Option<String>,
    /// First retry delay after an error; doubles per consecutive failure.
    pub backoff_base: Duration,
    /// Retry delay cap.
    pub backoff_max: Duration,
    /// Resync period when the core asks for no wake-up.
    pub resync: Duration,
    /// Also serve Argo's per-object series (`rollout_info`, `analysis_run_info`, ...; see
    /// [`crate::metrics`]); costs memory per Rollout and AnalysisRun.
    pub per_object_metrics: bool,
    /// Webhook notifications of feedback sentences: the default URL and Secret, retries, queue
    /// ([`crate::notify`]; a Rollout's own URL is its `rollout.io/notify-url` annotation).
    pub notify: NotifyConfig,
    /// Where the fleet brake ConfigMap is watched: the install namespace ([`crate::fleet_brake`];
    /// `None`: no brake).
    pub brake_namespace: Option<String>,
    /// Where the trigger policy ConfigMap is watched: the install namespace
    /// ([`crate::policy`]; `None`: no policy).
    pub policy_namespace: Option<String>,
}

impl Default for ControllerConfig {
    fn default() -> Self {
        Self {
            namespace: None,
            label_selector: None,
            instance_id: None,
            concurrency: 16,
            name: "rollout-controller".into(),
            instance: None,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(300),
            resync: Duration::from_secs(15 * 60),
            per_object_metrics: false,
            notify: NotifyConfig::default(),
            brake_namespace: Some(crate::fleet_brake::DEFAULT_BRAKE_NAMESPACE.into()),
            policy_namespace: Some(crate::policy::DEFAULT_POLICY_NAMESPACE.into()),
        }
    }
}

impl ControllerConfig {
    /// The label selector for Rollouts: instance id plus the extra selector.
    pub fn rollout_selector(&self) -> String {
        let mut parts = vec![match &self.instance_id {
            Some(id) => format!("{INSTANCE_ID_LABEL}={id}"),
            None => format!("!{INSTANCE_ID_LABEL}"),
        }];
        parts.extend(self.label_selector.iter().filter(|s| !s.is_empty()).cloned());
        parts.join(",")
    }
}

/// Shared state of the running controller.
struct Ctx {
    reconciler: Reconciler,
    config: ControllerConfig,
    metrics: Metrics,
    failures: Mutex<HashMap<ObjectRef<Rollout>, u32>>,
    /// The Rollout cache (metadata and the group annotation).
    rollouts: reflector::Store<Rollout>,
    /// Reconciles a group's other members once a member's status changed.
    group_trigger: tokio::sync::mpsc::UnboundedSender<ObjectRef<Rollout>>,
}

fn error_kind(e: &Error) -> &'static str {
    e.kind()
}

async fn reconcile(ro: Arc<Rollout>, ctx: Arc<Ctx>) -> Result<Requeue, Error> {
    let span = info_span!(
        "reconcile",
        namespace = ro.namespace().unwrap_or_default(),
        rollout = ro.name_any()
    );
    async move {
        let start = Instant::now();
        let now = Timestamp::now();
        let result = ctx.reconciler.reconcile(&ro, now).await;
        ctx.metrics.rollout_reconciled(&ro, start.elapsed());
        let outcome = result?;
        ctx.metrics.rollout_outcome(&outcome);
        if let Ok(mut f) = ctx.failures.lock() {
            f.remove(&ObjectRef::from_obj(&*ro));
        }
        if outcome.status_written {
            for member in crate::group::others_in_group(&ctx.rollouts, &ro) {
                // The receiver lives as long as the controller; a closed one means shutdown.
                let _ = ctx.group_trigger.send(member);
            }
        }
        // Events: only the transitions the core reports (step completed, RS created, aborted, ...),
        // published by the reconciler once the tick succeeded.
        for action in &outcome.decision.actions {
            if let Action::Event(e) = action {
                ctx.metrics.rollout_event(&ro, e);
            }
        }
        Ok(match requeue_after(&outcome, now) {
            Some(d) => Requeue::requeue(d.max(Duration::from_millis(100))),
            None => Requeue::requeue(ctx.config.resync),
        })
    }
    .instrument(span)
    .await
}

fn error_policy(ro: Arc<Rollout>, err: &Error, ctx: Arc<Ctx>) -> Requeue {
    ctx.metrics.rollout_failed(&ro, error_kind(err));
    let n = match ctx.failures.lock() {
        Ok(mut f) => {
            let n = f.entry(ObjectRef::from_obj(&*ro)).or_insert(0);
            *n = n.saturating_add(1);
            *n
        }
        Err(_) => 1,
    };
    // Conflicts mean our view was stale: retry quickly. Otherwise exponential backoff per object.
    let delay = if error_kind(err) == "conflict" {
        Duration::from_millis(200)
    } else {
        let factor = 2u32.saturating_pow(n.saturating_sub(1).min(20));
        ctx.config
            .backoff_base
            .saturating_mul(factor)
            .min(ctx.config.backoff_max)
    };
    warn!(rollout = ro.name_any(), error = %err, retry_in_ms = delay.as_millis() as u64, "reconcile failed");
    Requeue::requeue(delay)
}

async fn reconcile_run(run: Arc<AnalysisRun>, ctx: Arc<RunCtx>) -> Result<Requeue, Error> {
    let span = info_span!(
        "analysisrun",
        namespace = run.namespace().unwrap_or_default(),
        run = run.name_any()
    );
    async move {
        if owner_runs_dry(&run, &ctx.rollouts) {
            // Looked at again later: a Rollout change does not trigger its runs.
            return Ok(Requeue::requeue(Duration::from_secs(30)));
        }
        let now = Timestamp::now();
        let out = ctx.runner.reconcile(&run, now).await?;
        Ok(match out.next_wake {
            Some(t) => {
                let ms = t.as_millisecond().saturating_sub(now.as_millisecond()).max(100);
                Requeue::requeue(Duration::from_millis(ms as u64))
            }
            None => Requeue::await_change(),
        })
    }
    .instrument(span)
    .await
}

/// The AnalysisRun loop's context: the runner, and the Rollout cache (a dry-run Rollout's runs
/// are held).
struct RunCtx {
    runner: AnalysisRunner,
    rollouts: reflector::Store<Rollout>,
}

fn run_error_policy(run: Arc<AnalysisRun>, err: &Error, _: Arc<RunCtx>) -> Requeue {
    warn!(run = run.name_any(), error = %err, "analysis run reconcile failed");
    Requeue::requeue(
        Duration::from_secs(if error_kind(err) == "conflict" { 0 } else { 5 })
            .max(Duration::from_millis(200)),
    )
}

/// Trims a cached AnalysisRun status to what the snapshot reads: phase and message, and for a
/// Failed, Error or Inconclusive run the metric results with only the measurement that explains
/// each (the last in the metric's phase, else the last), so the Rollout's `status.why` and
/// feedback sentence name the deciding metric and the judge's numbers.
fn keep_run_status(st: &mut serde_json::Map<String, serde_json::Value>) {
    use serde_json::Value;
    let decided = matches!(
        st.get("phase").and_then(Value::as_str),
        Some("Failed" | "Error" | "Inconclusive")
    );
    st.retain(|k, _| k == "phase" || k == "message" || (decided && k == "metricResults"));
    let Some(Value::Array(results)) = st.get_mut("metricResults") else {
        return;
    };
    for r in results {
        let phase = r.get("phase").cloned();
        if let Some(Value::Array(ms)) = r.get_mut("measurements") {
            let keep = ms
                .iter()
                .rposition(|m| m.get("phase") == phase.as_ref())
                .or(ms.len().checked_sub(1));
            *ms = keep.map(|i| vec![ms[i].clone()]).unwrap_or_default();
        }
    }
}

/// A configured controller; [`RolloutController::run`] drives it, and
/// [`crate::sharding::run_shard`] runs it for one shard while holding that shard's Lease.
/// Clones share the client, the registered metrics and the providers.
#[derive(Clone)]
pub struct RolloutController {
    pub(crate) client: Client,
    pub(crate) config: ControllerConfig,
    metrics: Metrics,
    inputs: rollout_core::rollout::Inputs,
    providers: rollout_driver::Providers,
    dry_run: bool,
    notify_metrics: NotifyMetrics,
    brake: BrakeWatch,
    policy: crate::policy::PolicyWatch,
}

impl std::fmt::Debug for RolloutController {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutController")
            .field("config", &self.config)
            .finish()
    }
}

impl RolloutController {
    /// A controller using the host's `client`, registering its metrics into `registry`.
    pub fn new(client: Client, config: ControllerConfig, registry: &mut Registry) -> Self {
        let metrics = Metrics::register(registry);
        let notify_metrics = NotifyMetrics::register(registry);
        let brake = BrakeWatch::register(registry);
        let policy = crate::policy::PolicyWatch::register(registry);
        Self {
            client,
            config,
            metrics,
            inputs: Default::default(),
            providers: Default::default(),
            dry_run: false,
            notify_metrics,
            brake,
            policy,
        }
    }

    /// A controller reusing already registered `metrics` (e.g. one per leadership term).
    pub fn with_metrics(client: Client, config: ControllerConfig, metrics: Metrics) -> Self {
        Self {
            client,
            config,
            metrics,
            inputs: Default::default(),
            providers: Default::default(),
            dry_run: false,
            notify_metrics: NotifyMetrics::default(),
            brake: BrakeWatch::default(),
            policy: Default::default(),
        }
    }

    /// Dry run for every Rollout it manages: decisions are recorded (events, a `DryRun`
    /// condition, log lines) and no ReplicaSet, Service, route, AnalysisRun or Deployment is
    /// written (see [`rollout_core::rollout::dry_run`]).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// The configuration this controller runs with.
    pub fn config(&self) -> &ControllerConfig {
        &self.config
    }

    /// Measurement providers for AnalysisRuns (Prometheus, web, judges...); `job` is built in.
    pub fn with_providers(mut self, providers: rollout_driver::Providers) -> Self {
        self.providers = providers;
        self
    }

    /// Coordinator inputs passed to the core on every reconcile (e.g. hold all rollouts).
    pub fn with_inputs(mut self, inputs: rollout_core::rollout::Inputs) -> Self {
        self.inputs = inputs;
        self
    }

    /// Runs until `shutdown` resolves; in-flight reconciles finish first.
    pub async fn run(self, shutdown: impl Future<Output = ()> + Send + Sync + 'static) {
        let RolloutController {
            client,
            config,
            metrics,
            inputs,
            providers,
            dry_run,
            notify_metrics,
            brake,
            policy,
        } = self;
        let shutdown = shutdown.shared();
        let (rollouts, replica_sets, runs): (Api<Rollout>, Api<ReplicaSet>, Api<AnalysisRun>) =
            match &config.namespace {
                Some(ns) => (
                    Api::namespaced(client.clone(), ns),
                    Api::namespaced(client.clone(), ns),
                    Api::namespaced(client.clone(), ns),
                ),
                None => (
                    Api::all(client.clone()),
                    Api::all(client.clone()),
                    Api::all(client.clone()),
                ),
            };
        let (rs_reader, rs_writer) = reflector::store();
        let rs_owners = crate::owner_index::replica_sets();
        let rs_stream = reflector::reflector(
            rs_writer,
            rs_owners.track(
                watcher(
                    replica_sets,
                    watcher::Config::default()
                        .labels("rollouts-pod-template-hash")
                        .any_semantic(),
                )
                .modify(|o| {
                    // The snapshot needs metadata, spec.replicas, status counts and the ConfigMaps
                    // and Secrets the pods need (kept in memory before the template is dropped).
                    o.managed_fields_mut().clear();
                    crate::adapters::config::keep_needs(o);
                    o.spec.template = None;
                }),
            ),
        )
        .applied_objects();
        let (ar_reader, ar_writer) = reflector::store();
        let ar_owners = crate::owner_index::analysis_runs();
        let ar_stream = reflector::reflector(
            ar_writer,
            ar_owners.track(
                watcher(
                    runs,
                    watcher::Config::default().labels("rollout-type").any_semantic(),
                )
                .modify(|o| {
                    // The snapshot needs labels, spec.terminate, status.phase and status.message.
                    o.managed_fields_mut().clear();
                    let terminate = o.spec.get("terminate").cloned();
                    o.spec = serde_json::json!({ "terminate": terminate });
                    if let Some(st) = o.status.as_object_mut() {
                        keep_run_status(st);
                    }
                }),
            ),
        )
        .applied_objects();
        let mut reconciler = Reconciler::new(client.clone());
        reconciler.field_manager = config.name.clone();
        reconciler.inputs = inputs;
        reconciler.dry_run = dry_run;
        reconciler.brake = brake.clone();
        reconciler.policy = policy.clone();
        // The trigger policy: when it changes, every Rollout is reconciled again.
        let policy_changes = match &config.policy_namespace {
            Some(ns) => crate::policy::watch(client.clone(), ns, policy).boxed(),
            None => futures::stream::pending().boxed(),
        };
        // The fleet brake: when its holds change, every Rollout is reconciled again.
        let brake_changes = match &config.brake_namespace {
            Some(ns) => crate::fleet_brake::watch(client.clone(), ns, brake).boxed(),
            None => futures::stream::pending().boxed(),
        };
        reconciler.instance_id = config.instance_id.clone();
        reconciler.notifier = Some(Notifier::start(
            Some(client.clone()),
            config.notify.clone(),
            notify_metrics,
        ));
        reconciler.events = Some(EventPublisher::new(
            client,
            config.name.clone(),
            config.instance.clone(),
        ));
        let (ro_reader, ro_writer) = reflector::store();
        let seen_rollouts = SeenRollouts::default();
        reconciler.caches = Caches {
            replica_sets: Some(rs_reader),
            replica_set_owners: Some(rs_owners),
            analysis_runs: Some(ar_reader),
            analysis_run_owners: Some(ar_owners),
            rollouts: Some(ro_reader.clone()),
            seen_rollouts: Some(seen_rollouts.clone()),
        };
        let (group_trigger, group_triggers) = tokio::sync::mpsc::unbounded_channel();
        let ctx = Arc::new(Ctx {
            reconciler,
            metrics,
            failures: Mutex::new(HashMap::new()),
            config: config.clone(),
            rollouts: ro_reader.clone(),
            group_trigger,
        });
        let group_triggers = futures::stream::unfold(group_triggers, |mut rx| async move {
            rx.recv().await.map(|member| (member, rx))
        });
        let wc = watcher::Config::default()
            .labels(&config.rollout_selector())
            .any_semantic();
        // Each reconcile reads its Rollout from `seen_rollouts` (compact JSON kept before this
        // trimming; a GET when that copy is older than our last write, see `SeenRollouts`), so
        // the reflector's cache keeps metadata only (no spec,
        // status, managedFields, and of the annotations only
        // `rollout.io/group`, which finds a group's members, `rollout.io/dry-run`, which holds
        // the Rollout's AnalysisRuns, and the release and environment annotations of the release
        // outcome series), the outcome row (`metrics::outcomes`), plus the few fields Argo's
        // per-object gauges read when `per_object_metrics` is on.
        let per_object_metrics = config.per_object_metrics;
        let metrics_reader = ro_reader.clone();
        let ro_stream = reflector::reflector(
            ro_writer,
            seen_rollouts.track(watcher(rollouts, wc)).modify(move |o| {
                o.managed_fields_mut().clear();
                o.annotations_mut().retain(|k, _| {
                    k == rollout_core::rollout::group::GROUP_ANNOTATION
                        || k == rollout_core::rollout::dry_run::DRY_RUN_ANNOTATION
                        || k == crate::metrics::outcomes::RELEASE_ANNOTATION
                        || k == crate::metrics::outcomes::ENVIRONMENT_ANNOTATION
                });
                trim_cached_rollout(o, per_object_metrics);
            }),
        )
        .applied_objects();
        let rollout_loop = Controller::for_stream(ro_stream, ro_reader.clone())
            .with_config(RuntimeConfig::default().concurrency(config.concurrency))
            .owns_stream(rs_stream)
            .owns_stream(ar_stream)
            .reconcile_on(group_triggers)
            .reconcile_all_on(brake_changes)
            .reconcile_all_on(policy_changes)
            .graceful_shutdown_on(shutdown.clone())
            .run(reconcile, error_policy, ctx.clone())
            .for_each(|_| async {});
        let run_api: Api<AnalysisRun> = match &config.namespace {
            Some(ns) => Api::namespaced(ctx.reconciler.client.clone(), ns),
            None => Api::all(ctx.reconciler.client.clone()),
        };
        let runner = Arc::new(RunCtx {
            runner: AnalysisRunner::new(ctx.reconciler.client.clone(), providers),
            rollouts: ro_reader.clone(),
        });
        let run_wc = watcher::Config::default()
            .labels(&config.rollout_selector())
            .any_semantic();
        let run_controller = Controller::new(run_api, run_wc);
        let _attached = ctx.metrics.attach(
            per_object_metrics,
            Sources {
                rollouts: metrics_reader,
                runs: Some(run_controller.store()),
            },
        );
        let run_metrics = ctx.metrics.clone();
        let run_loop = run_controller
            .with_config(RuntimeConfig::default().concurrency(config.concurrency))
            .graceful_shutdown_on(shutdown)
            .run(
                move |run, runner| {
                    let metrics = run_metrics.clone();
                    async move {
                        let start = Instant::now();
                        let result = reconcile_run(run.clone(), runner).await;
                        metrics.run_reconciled(&run, start.elapsed(), result.is_err());
                        result
                    }
                },
                run_error_policy,
                runner,
            )
            .for_each(|_| async {});
        if dry_run {
            // A controller-wide dry run writes no AnalysisRun either: the runs' loop stays off.
            rollout_loop.await;
        } else {
            futures::join!(rollout_loop, run_loop);
        }
    }
}

#[cfg(test)]
mod tests;
