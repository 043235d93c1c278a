//! [`SimPrometheus`]: the `prometheus` measurement provider of a simulation. It answers the same
//! provider blocks as the real one (`query`, `rangeQuery`, judges' range queries) from the
//! simulation's [`SeriesStore`], and fails like an unreachable server during outages.

use std::sync::{Arc, Mutex};

use analysis_providers::prometheus::{
    PROMETHEUS, PrometheusConfig, QueryResponse, judge_step, observation, samples,
};
use async_trait::async_trait;
use jiff::Timestamp;
use rollout_core::analysis::provider::Sample;
use rollout_core::analysis::{
    MeasurementProvider, MeasurementRequest, MetricProvider, Observation, ProviderError,
};

use crate::promql::SeriesStore;

/// Shared state of the simulated metric source.
#[derive(Debug, Default)]
pub struct MetricSource {
    /// The series.
    pub store: SeriesStore,
    /// Outage windows `[start, end)`.
    pub outages: Vec<(Timestamp, Timestamp)>,
}

impl MetricSource {
    /// Whether the source is unreachable at `t`.
    pub fn unreachable(&self, t: Timestamp) -> bool {
        self.outages.iter().any(|(s, e)| *s <= t && t < *e)
    }
}

/// The simulated Prometheus.
#[derive(Debug, Clone, Default)]
pub struct SimPrometheus {
    source: Arc<Mutex<MetricSource>>,
}

impl SimPrometheus {
    /// A provider reading `source`.
    pub fn new(source: Arc<Mutex<MetricSource>>) -> Self {
        SimPrometheus { source }
    }

    fn with_source<T>(
        &self,
        now: Timestamp,
        f: impl FnOnce(&SeriesStore) -> Result<T, String>,
    ) -> Result<T, ProviderError> {
        let guard = self
            .source
            .lock()
            .map_err(|_| ProviderError::Failed("simulated metric source is poisoned".to_string()))?;
        if guard.unreachable(now) {
            return Err(ProviderError::Failed(
                "prometheus query failed: connection refused (simulated outage)".to_string(),
            ));
        }
        f(&guard.store).map_err(|e| ProviderError::Failed(format!("prometheus returned HTTP 400: {e}")))
    }
}

#[async_trait]
impl MeasurementProvider for SimPrometheus {
    fn name(&self) -> &str {
        PROMETHEUS
    }

    async fn measure(&self, request: &MeasurementRequest) -> Result<Observation, ProviderError> {
        let cfg = PrometheusConfig::from_provider(&request.metric.provider)?;
        let now = request.now;
        let response: QueryResponse = match &cfg.range_query {
            None => self.with_source(now, |s| s.query(&cfg.query, now.as_millisecond()))?,
            Some(r) => {
                let (start, end, step) = r.window(now)?;
                self.with_source(now, |s| {
                    s.query_range(&cfg.query, start.as_millisecond(), end.as_millisecond(), step)
                })?
            }
        };
        observation(&response).map_err(ProviderError::Failed)
    }

    async fn query_range(
        &self,
        request: &MeasurementRequest,
        provider: &MetricProvider,
    ) -> Result<Vec<Sample>, ProviderError> {
        let cfg = PrometheusConfig::from_provider(provider)?;
        let start = request.window_start.min(request.now);
        let step = judge_step(&cfg, request.now.duration_since(start).unsigned_abs())?;
        let response = self.with_source(request.now, |s| {
            s.query_range(
                &cfg.query,
                start.as_millisecond(),
                request.now.as_millisecond(),
                step,
            )
        })?;
        samples(&response.result).map_err(ProviderError::Failed)
    }
}
