//! [`SimPrometheus`]: the `prometheus` measurement provider of a simulation: the real provider
//! (`query`, `rangeQuery`, judges' range queries) over [`SimTransport`], which answers from the
//! simulation's [`SeriesStore`] and fails like an unreachable server during outages. When a query
//! selects nothing because a selector matches no simulated series, the measurement says which one
//! and which series and labels the simulation has ([`HINT`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use analysis_providers::prometheus::{
    PrometheusConfig, PrometheusProvider, PrometheusTransport, QueryResponse, QueryResult,
};
use async_trait::async_trait;
use jiff::Timestamp;
use rollout_core::analysis::{Measurement, ProviderError};

use crate::model::HASH_LABEL;
use crate::promql::{Labels, SeriesStore};
use crate::scenario::ScenarioError;

/// Measurement metadata key of the simulation's hint (see [`SeriesStore::no_match_hint`]).
pub const HINT: &str = "simulation-hint";

/// Labels the traffic model sets itself (see [`crate::model`]); a scenario cannot declare them.
pub const MODEL_LABELS: [&str; 3] = [HASH_LABEL, "code", "le"];

/// Most labels a scenario may declare.
pub const MAX_SCENARIO_LABELS: usize = 32;

/// Longest label name or value a scenario may declare, in bytes.
pub const MAX_LABEL_LEN: usize = 256;

/// Checks a scenario's `labels`: Prometheus label names (not `__`-prefixed, not one the model sets)
/// and bounded sizes; problems name the field (`labels.NAME`).
pub fn check_labels(labels: &Labels) -> Result<(), ScenarioError> {
    let bad = |field: String, message: String| Err(ScenarioError::Invalid { field, message });
    if labels.len() > MAX_SCENARIO_LABELS {
        return bad(
            "labels".into(),
            format!("at most {MAX_SCENARIO_LABELS} labels, got {}", labels.len()),
        );
    }
    for (name, value) in labels {
        let field = format!("labels.{name}");
        let mut chars = name.chars();
        let valid = chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid || name.starts_with("__") || name.len() > MAX_LABEL_LEN {
            return bad(
                field,
                format!(
                    "not a label name: [a-zA-Z_][a-zA-Z0-9_]*, not starting with __, at most {MAX_LABEL_LEN} bytes"
                ),
            );
        }
        if MODEL_LABELS.contains(&name.as_str()) {
            return bad(field, "set by the traffic model on every series".into());
        }
        if value.len() > MAX_LABEL_LEN {
            return bad(field, format!("value longer than {MAX_LABEL_LEN} bytes"));
        }
    }
    Ok(())
}

/// A measurement's message with the simulation's hint, if any, appended.
pub fn message_with_hint(m: &Measurement) -> String {
    match (m.message.as_str(), m.metadata.get(HINT)) {
        (message, None) => message.to_string(),
        ("", Some(hint)) => hint.clone(),
        (message, Some(hint)) => format!("{message}; {hint}"),
    }
}

/// Shared state of the simulated metric source.
#[derive(Debug, Default)]
pub struct MetricSource {
    /// The series.
    pub store: SeriesStore,
    /// Outage windows `[start, end)`.
    pub outages: Vec<(Timestamp, Timestamp)>,
    /// The simulated time (the driver moves it): queries fail while it is in an outage.
    pub now: Timestamp,
}

impl MetricSource {
    /// A source whose series all carry `labels` (a scenario's `labels`).
    pub fn with_labels(labels: Labels) -> Self {
        MetricSource {
            store: SeriesStore::with_labels(labels),
            ..MetricSource::default()
        }
    }

    /// Whether the source is unreachable at `t`.
    pub fn unreachable(&self, t: Timestamp) -> bool {
        self.outages.iter().any(|(s, e)| *s <= t && t < *e)
    }
}

/// The simulated Prometheus: the real provider (config, range windows, judge steps, measurements)
/// over [`SimTransport`].
pub type SimPrometheus = PrometheusProvider<SimTransport>;

/// A [`SimPrometheus`] reading `source`.
pub fn sim_prometheus(source: Arc<Mutex<MetricSource>>) -> SimPrometheus {
    PrometheusProvider::with_transport(SimTransport::new(source))
}

/// Answers Prometheus queries from the simulation's [`MetricSource`] with the in-memory PromQL
/// evaluator, and fails like an unreachable server during outages.
#[derive(Debug, Clone, Default)]
pub struct SimTransport {
    source: Arc<Mutex<MetricSource>>,
}

impl SimTransport {
    /// A transport reading `source`.
    pub fn new(source: Arc<Mutex<MetricSource>>) -> Self {
        SimTransport { source }
    }

    fn with_source<T>(&self, f: impl FnOnce(&SeriesStore) -> Result<T, String>) -> Result<T, ProviderError> {
        let guard = self
            .source
            .lock()
            .map_err(|_| ProviderError::Failed("simulated metric source is poisoned".to_string()))?;
        if guard.unreachable(guard.now) {
            return Err(ProviderError::unreachable(
                "prometheus query failed: connection refused (simulated outage)",
            ));
        }
        f(&guard.store)
            .map_err(|e| ProviderError::http_status(400, format!("prometheus returned HTTP 400: {e}")))
    }
}

#[async_trait]
impl PrometheusTransport for SimTransport {
    async fn query(&self, cfg: &PrometheusConfig, at: Timestamp) -> Result<QueryResponse, ProviderError> {
        self.with_source(|s| s.query(&cfg.query, at.as_millisecond()))
    }

    async fn query_range(
        &self,
        cfg: &PrometheusConfig,
        start: Timestamp,
        end: Timestamp,
        step: Duration,
    ) -> Result<QueryResponse, ProviderError> {
        self.with_source(|s| s.query_range(&cfg.query, start.as_millisecond(), end.as_millisecond(), step))
    }

    /// The simulation's hint ([`HINT`]) when a measurement's query selected nothing.
    fn annotate(&self, cfg: &PrometheusConfig, response: &QueryResponse) -> BTreeMap<String, String> {
        let empty =
            matches!(&response.result, QueryResult::Vector(v) | QueryResult::Matrix(v) if v.is_empty());
        let hint = empty
            .then(|| self.source.lock().ok()?.store.no_match_hint(&cfg.query))
            .flatten();
        hint.map(|h| (HINT.to_string(), h)).into_iter().collect()
    }
}
