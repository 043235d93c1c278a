//! The controller's Prometheus metrics.
//!
//! Always on: the outcome of every Rollout's current release ([`outcomes`], one series per
//! Rollout, for fleet views) and its cost of safety ([`cost`]), and without per-object labels our own aggregates (`rollout_reconciles_total`,
//! `rollout_reconcile_failures_total`, `rollout_api_writes_total`,
//! `rollout_phase_transitions_total`, `rollout_reconcile_duration_seconds`) and Argo's
//! `argo_rollouts_controller_info`.
//!
//! With [`crate::ControllerConfig::per_object_metrics`], also Argo Rollouts' per-object series with
//! upstream's names, help texts, labels and buckets (`controller/metrics/prommetrics.go`), so
//! existing dashboards and alerts work unchanged:
//! - computed at scrape time from the controller's caches: `rollout_info`,
//!   `rollout_info_replicas_{available,unavailable,desired,updated}`, `rollout_phase`,
//!   `analysis_run_info`, `analysis_run_phase`, `analysis_run_metric_type`,
//!   `analysis_run_metric_phase`;
//! - recorded as reconciles happen: the `rollout_reconcile` and `analysis_run_reconcile`
//!   histograms, `rollout_reconcile_error`, `analysis_run_reconcile_error` and
//!   `rollout_events_total`. Their series are dropped [`CLEANUP_DELAY`] after the object left the
//!   cache (upstream's default metric cleanup delay).
//!
//! Upstream's client writes counters without a `_total` suffix; OpenMetrics requires one on a
//! `counter`, so `rollout_reconcile_error` and `analysis_run_reconcile_error` are typed `unknown`
//! to keep their sample names.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::reflector::Store;
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, EncodeMetric, MetricEncoder};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::metrics::{MetricType, TypedMetric};
use prometheus_client::registry::Registry;
use rollout_core::rollout::{Event, EventType};

use crate::reconciler::Outcome;
use crate::resources::{AnalysisRun, Rollout};

pub mod cost;
mod objects;
pub mod outcomes;

pub use objects::trim_cached_rollout;

/// How long the recorded series of a deleted object are kept (upstream's
/// `DefaultMetricCleanupDelay`, 65 s: one more scrape at the default interval).
pub const CLEANUP_DELAY: Duration = Duration::from_secs(65);

/// Upstream's buckets for `rollout_reconcile` and `analysis_run_reconcile` (seconds).
pub const RECONCILE_BUCKETS: [f64; 5] = [0.01, 0.15, 0.25, 0.5, 1.0];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ErrorLabels {
    error: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct PhaseLabels {
    phase: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ObjectLabels {
    namespace: String,
    name: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    namespace: String,
    name: String,
    r#type: String,
    reason: String,
}

/// A counter encoded like upstream's: no `_total` suffix (OpenMetrics type `unknown`).
#[derive(Clone, Debug, Default)]
struct PlainCounter(Arc<AtomicU64>);

impl PlainCounter {
    fn inc(&self) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

impl TypedMetric for PlainCounter {
    const TYPE: MetricType = MetricType::Unknown;
}

impl EncodeMetric for PlainCounter {
    fn encode(&self, mut encoder: MetricEncoder) -> Result<(), std::fmt::Error> {
        encoder.encode_gauge(&self.0.load(Ordering::Relaxed))
    }

    fn metric_type(&self) -> MetricType {
        Self::TYPE
    }
}

type HistogramFamily = Family<ObjectLabels, Histogram, fn() -> Histogram>;

fn reconcile_histogram() -> Histogram {
    Histogram::new(RECONCILE_BUCKETS)
}

/// Which kind of object a recorded series belongs to.
#[derive(Clone, Copy, Debug, Hash, PartialEq, Eq)]
enum Kind {
    Rollout,
    Run,
}

/// The caches the per-object gauges are computed from, attached by a running controller.
#[derive(Clone)]
pub struct Sources {
    /// Cached Rollouts, trimmed by [`trim_cached_rollout`] with `per_object: true`.
    pub rollouts: Store<Rollout>,
    /// Cached AnalysisRuns (`None`: no AnalysisRun gauges).
    pub runs: Option<Store<AnalysisRun>>,
}

impl std::fmt::Debug for Sources {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sources")
            .field("rollouts", &self.rollouts.len())
            .field("runs", &self.runs.as_ref().map(Store::len))
            .finish()
    }
}

/// Kind, namespace and name of an object with recorded series.
type ObjectKey = (Kind, String, String);

/// When an object's series were last recorded, and its event `(type, reason)` pairs.
struct Seen {
    last: Instant,
    events: HashSet<(String, String)>,
}

#[derive(Default)]
struct Recorded {
    /// Objects with recorded series: when last recorded, and their event label pairs.
    objects: HashMap<ObjectKey, Seen>,
    last_prune: Option<Instant>,
}

/// Per-object state shared by the recording side and the scrape-time collector.
struct Objects {
    enabled: std::sync::atomic::AtomicBool,
    generation: AtomicU64,
    sources: RwLock<Option<(u64, Sources)>>,
    rollout_reconcile: HistogramFamily,
    rollout_errors: Family<ObjectLabels, PlainCounter>,
    rollout_events: Family<EventLabels, Counter>,
    run_reconcile: HistogramFamily,
    run_errors: Family<ObjectLabels, PlainCounter>,
    recorded: Mutex<Recorded>,
}

impl std::fmt::Debug for Objects {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Objects")
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// Detaches the caches from the metrics when the controller run that attached them ends.
#[derive(Debug)]
pub struct Attached {
    objects: Arc<Objects>,
    generation: u64,
}

impl Drop for Attached {
    fn drop(&mut self) {
        if let Ok(mut s) = self.objects.sources.write()
            && s.as_ref().is_some_and(|(g, _)| *g == self.generation)
        {
            *s = None;
        }
    }
}

/// The controller's metrics, registered into the host's registry (see the module docs).
#[derive(Clone, Debug)]
pub struct Metrics {
    reconciles: Counter,
    failures: Family<ErrorLabels, Counter>,
    writes: Counter,
    transitions: Family<PhaseLabels, Counter>,
    duration: Histogram,
    objects: Arc<Objects>,
}

impl Metrics {
    /// Registers the metrics under `registry` (prefix them with `sub_registry_with_prefix`).
    /// Per-object series stay empty until a controller with
    /// [`crate::ControllerConfig::per_object_metrics`] runs with them.
    pub fn register(registry: &mut Registry) -> Self {
        let objects = Arc::new(Objects {
            enabled: Default::default(),
            generation: AtomicU64::new(0),
            sources: RwLock::new(None),
            rollout_reconcile: Family::new_with_constructor(reconcile_histogram),
            rollout_errors: Family::default(),
            rollout_events: Family::default(),
            run_reconcile: Family::new_with_constructor(reconcile_histogram),
            run_errors: Family::default(),
            recorded: Mutex::default(),
        });
        let m = Metrics {
            reconciles: Counter::default(),
            failures: Family::default(),
            writes: Counter::default(),
            transitions: Family::default(),
            duration: Histogram::new(exponential_buckets(0.001, 2.0, 14)),
            objects,
        };
        registry.register("rollout_reconciles", "Rollout reconciles", m.reconciles.clone());
        registry.register(
            "rollout_reconcile_failures",
            "Failed Rollout reconciles by error kind",
            m.failures.clone(),
        );
        registry.register(
            "rollout_api_writes",
            "API writes made by reconciles",
            m.writes.clone(),
        );
        registry.register(
            "rollout_phase_transitions",
            "Rollout phase transitions by new phase",
            m.transitions.clone(),
        );
        registry.register(
            "rollout_reconcile_duration_seconds",
            "Reconcile duration",
            m.duration.clone(),
        );
        registry.register_collector(Box::new(ObjectCollector(m.objects.clone())));
        m
    }

    /// Turns the per-object series on or off and attaches the caches they are computed from,
    /// until the returned guard drops (a later attachment replaces this one).
    pub fn attach(&self, per_object: bool, sources: Sources) -> Attached {
        let o = &self.objects;
        o.enabled.store(per_object, Ordering::Relaxed);
        let generation = o.generation.fetch_add(1, Ordering::Relaxed) + 1;
        // Attached whatever `per_object` says: the release outcomes are always on.
        if let Ok(mut s) = o.sources.write() {
            *s = Some((generation, sources));
        }
        Attached {
            objects: o.clone(),
            generation,
        }
    }

    fn per_object(&self) -> bool {
        self.objects.enabled.load(Ordering::Relaxed)
    }

    /// One Rollout reconcile took `elapsed` (upstream `IncRolloutReconcile`).
    pub fn rollout_reconciled(&self, ro: &Rollout, elapsed: Duration) {
        self.reconciles.inc();
        self.duration.observe(elapsed.as_secs_f64());
        if self.per_object() {
            let labels = labels(ro);
            self.objects
                .rollout_reconcile
                .get_or_create(&labels)
                .observe(elapsed.as_secs_f64());
            self.objects.touch(Kind::Rollout, &labels, None);
        }
    }

    /// A successful Rollout reconcile's writes and phase transition.
    pub fn rollout_outcome(&self, outcome: &Outcome) {
        self.writes.inc_by(outcome.writes as u64);
        if outcome.phase_before != outcome.phase_after
            && let Some(p) = outcome.phase_after
        {
            self.transitions
                .get_or_create(&PhaseLabels {
                    phase: format!("{p:?}"),
                })
                .inc();
        }
    }

    /// A Rollout reconcile failed with an error of `kind` (upstream `IncError`).
    pub fn rollout_failed(&self, ro: &Rollout, kind: &str) {
        self.failures
            .get_or_create(&ErrorLabels { error: kind.into() })
            .inc();
        if self.per_object() {
            let labels = labels(ro);
            self.objects.rollout_errors.get_or_create(&labels).inc();
            self.objects.touch(Kind::Rollout, &labels, None);
        }
    }

    /// The controller recorded `event` about `ro` (upstream counts every Rollout event).
    pub fn rollout_event(&self, ro: &Rollout, event: &Event) {
        if !self.per_object() {
            return;
        }
        let labels = labels(ro);
        let kind = match event.kind {
            EventType::Normal => "Normal",
            EventType::Warning => "Warning",
        };
        self.objects
            .rollout_events
            .get_or_create(&EventLabels {
                namespace: labels.namespace.clone(),
                name: labels.name.clone(),
                r#type: kind.into(),
                reason: event.reason.clone(),
            })
            .inc();
        self.objects
            .touch(Kind::Rollout, &labels, Some((kind, &event.reason)));
    }

    /// One AnalysisRun reconcile took `elapsed`, and failed if `failed`.
    pub fn run_reconciled(&self, run: &AnalysisRun, elapsed: Duration, failed: bool) {
        if !self.per_object() {
            return;
        }
        let labels = labels(run);
        self.objects
            .run_reconcile
            .get_or_create(&labels)
            .observe(elapsed.as_secs_f64());
        if failed {
            self.objects.run_errors.get_or_create(&labels).inc();
        }
        self.objects.touch(Kind::Run, &labels, None);
    }
}

fn labels<K: kube::Resource>(o: &K) -> ObjectLabels {
    ObjectLabels {
        namespace: o.namespace().unwrap_or_default(),
        name: o.name_any(),
    }
}

impl Objects {
    fn touch(&self, kind: Kind, l: &ObjectLabels, event: Option<(&str, &str)>) {
        let now = Instant::now();
        let due = {
            let Ok(mut r) = self.recorded.lock() else {
                return;
            };
            let entry = r
                .objects
                .entry((kind, l.namespace.clone(), l.name.clone()))
                .or_insert_with(|| Seen {
                    last: now,
                    events: HashSet::new(),
                });
            entry.last = now;
            if let Some((t, reason)) = event {
                entry.events.insert((t.to_string(), reason.to_string()));
            }
            r.last_prune
                .is_none_or(|t| now.duration_since(t) >= CLEANUP_DELAY)
        };
        if due {
            self.prune(now);
        }
    }

    /// Drops the recorded series of objects that are gone from the attached caches and were not
    /// recorded for [`CLEANUP_DELAY`]. Without attached caches nothing is dropped.
    fn prune(&self, now: Instant) {
        let Some(sources) = self.sources() else {
            return;
        };
        let live = |store_keys: &HashSet<(String, String)>, k: &ObjectKey| {
            store_keys.contains(&(k.1.clone(), k.2.clone()))
        };
        let rollouts = keys(&sources.rollouts);
        let runs = sources.runs.as_ref().map(keys);
        let Ok(mut r) = self.recorded.lock() else {
            return;
        };
        r.last_prune = Some(now);
        r.objects.retain(|k, Seen { last, events }| {
            let present = match k.0 {
                Kind::Rollout => live(&rollouts, k),
                Kind::Run => runs.as_ref().is_none_or(|keys| live(keys, k)),
            };
            if present || now.saturating_duration_since(*last) < CLEANUP_DELAY {
                return true;
            }
            let labels = ObjectLabels {
                namespace: k.1.clone(),
                name: k.2.clone(),
            };
            match k.0 {
                Kind::Rollout => {
                    self.rollout_reconcile.remove(&labels);
                    self.rollout_errors.remove(&labels);
                    for (t, reason) in events.drain() {
                        self.rollout_events.remove(&EventLabels {
                            namespace: k.1.clone(),
                            name: k.2.clone(),
                            r#type: t,
                            reason,
                        });
                    }
                }
                Kind::Run => {
                    self.run_reconcile.remove(&labels);
                    self.run_errors.remove(&labels);
                }
            }
            false
        });
    }

    fn sources(&self) -> Option<Sources> {
        self.sources
            .read()
            .ok()
            .and_then(|s| s.as_ref().map(|(_, s)| s.clone()))
    }
}

fn keys<K: kube::Resource + Clone>(store: &Store<K>) -> HashSet<(String, String)>
where
    K::DynamicType: std::hash::Hash + Eq + Clone,
{
    store
        .state()
        .iter()
        .map(|o| (o.namespace().unwrap_or_default(), o.name_any()))
        .collect()
}

/// Encodes the per-object gauges from the attached caches at scrape time.
#[derive(Debug)]
struct ObjectCollector(Arc<Objects>);

impl Collector for ObjectCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let version = concat!("v", env!("CARGO_PKG_VERSION"));
        let mut e = encoder.encode_descriptor(
            "argo_rollouts_controller_info",
            "Running Argo-rollouts version",
            None,
            MetricType::Gauge,
        )?;
        e.encode_family(&[("version", version)])?.encode_gauge(&1i64)?;
        // Encoded here rather than registered: the registry would append a period to upstream's
        // help texts.
        let o = &self.0;
        let recorded: [(&str, &str, &dyn EncodeMetric); 5] = [
            (
                "rollout_reconcile",
                "Rollout reconciliation performance.",
                &o.rollout_reconcile,
            ),
            (
                "rollout_reconcile_error",
                "Error occurring during the rollout",
                &o.rollout_errors,
            ),
            ("rollout_events", "Count of rollout events", &o.rollout_events),
            (
                "analysis_run_reconcile",
                "Analysis Run reconciliation performance.",
                &o.run_reconcile,
            ),
            (
                "analysis_run_reconcile_error",
                "Error occurring during the analysis run",
                &o.run_errors,
            ),
        ];
        for (name, help, family) in recorded {
            if !family.is_empty() {
                family.encode(encoder.encode_descriptor(name, help, None, family.metric_type())?)?;
            }
        }
        let Some(sources) = o.sources() else {
            return Ok(());
        };
        let rollouts: Vec<_> = sources.rollouts.state();
        outcomes::encode(
            &mut encoder,
            rollouts.iter().map(|r| r.as_ref()),
            rollout_core::Timestamp::now(),
        )?;
        cost::encode(
            &mut encoder,
            rollouts.iter().map(|r| r.as_ref()),
            rollout_core::Timestamp::now(),
        )?;
        if !o.enabled.load(Ordering::Relaxed) {
            return Ok(());
        }
        o.prune(Instant::now());
        objects::encode_rollouts(&mut encoder, rollouts.iter().map(|r| r.as_ref()))?;
        if let Some(runs) = &sources.runs {
            let runs: Vec<_> = runs.state();
            objects::encode_runs(&mut encoder, runs.iter().map(|r| r.as_ref()))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
