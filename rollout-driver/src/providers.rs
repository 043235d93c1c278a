//! Measurement providers: the async contract a metric's `provider` block is served by, and the
//! registry keyed by provider name (`prometheus`, `web`, `job`, `judge`, ...).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use rollout_core::analysis::{
    MeasurementRequest, MetricProvider, Observation, ProviderError, Sample, terminated_observation,
};

/// A source of measurements for one provider name.
#[async_trait]
pub trait MeasurementProvider: Send + Sync {
    /// The key in `metric.provider` this provider serves (`prometheus`, `web`, `job`, `judge`, ...).
    fn name(&self) -> &str;

    /// Take a new measurement.
    async fn measure(&self, request: &MeasurementRequest) -> Result<Observation, ProviderError>;

    /// Continue an in-flight measurement (`request.in_flight`). Defaults to measuring again.
    async fn resume(&self, request: &MeasurementRequest) -> Result<Observation, ProviderError> {
        self.measure(request).await
    }

    /// Stop an in-flight measurement because the run is terminating (a sibling metric failed,
    /// or `spec.terminate`), and say how it ended (upstream `Provider.Terminate` returns the
    /// measurement). `None`, the default, records it as [`Observation::terminated`]; an
    /// observation is recorded as it is; an error makes it an Error measurement.
    async fn terminate(&self, _request: &MeasurementRequest) -> Result<Option<Observation>, ProviderError> {
        Ok(None)
    }

    /// Query a series over `[request.window_start, request.now]` with this provider's config in
    /// `provider`, for judges. Defaults to unsupported.
    async fn query_range(
        &self,
        _request: &MeasurementRequest,
        _provider: &MetricProvider,
    ) -> Result<Vec<Sample>, ProviderError> {
        Err(ProviderError::Unsupported {
            provider: self.name().to_string(),
            operation: "range queries",
        })
    }
}

/// Providers by name.
#[derive(Clone, Default)]
pub struct Providers {
    by_name: BTreeMap<String, Arc<dyn MeasurementProvider>>,
}

impl std::fmt::Debug for Providers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Providers")
            .field("names", &self.by_name.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Providers {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register `provider` under its [`MeasurementProvider::name`], replacing any previous one.
    pub fn register(&mut self, provider: Arc<dyn MeasurementProvider>) -> &mut Self {
        self.by_name.insert(provider.name().to_string(), provider);
        self
    }

    /// The provider registered under `name`.
    pub fn get(&self, name: &str) -> Option<&Arc<dyn MeasurementProvider>> {
        self.by_name.get(name)
    }

    /// The provider for a metric's provider block (which must name exactly one provider).
    pub fn for_provider(
        &self,
        provider: &MetricProvider,
    ) -> Result<&Arc<dyn MeasurementProvider>, ProviderError> {
        let name = provider.name().ok_or_else(|| ProviderError::InvalidConfig {
            provider: provider.names().join(","),
            message: "exactly one provider must be specified".to_string(),
        })?;
        self.get(name)
            .ok_or_else(|| ProviderError::UnknownProvider(name.to_string()))
    }

    /// Terminate `request.in_flight` with the provider the metric names, settled by
    /// [`terminated_observation`] (no answer → "Metric Terminated"; still in flight → error).
    pub async fn terminate(&self, request: &MeasurementRequest) -> Result<Observation, ProviderError> {
        let provider = self.for_provider(&request.metric.provider)?;
        let answer = provider.terminate(request).await?;
        terminated_observation(provider.name(), answer)
    }

    /// Measure (or resume, when `request.in_flight` is set) with the provider the metric names.
    pub async fn observe(&self, request: &MeasurementRequest) -> Result<Observation, ProviderError> {
        let provider = self.for_provider(&request.metric.provider)?;
        if request.in_flight.is_some() {
            provider.resume(request).await
        } else {
            provider.measure(request).await
        }
    }
}
