//! The measurement-provider contract: how a metric's `provider` becomes a measurement.
//!
//! Providers are pluggable and keyed by the provider name in the metric spec (`prometheus`, `web`,
//! `job`, `judge`, ...). The core stays sans-IO: drivers own a [`Providers`] registry, take the
//! [`MeasurementRequest`]s the run machine emits, call the provider, and hand the
//! [`Observation`] back to the run machine, which applies the
//! metric's conditions and limits.

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::AnalysisPhase;
use super::judge::WeightPoint;
use super::types::{Argument, Measurement, Metric, MetricProvider};
use super::value::MetricValue;
use crate::common::Timestamp;

/// What a provider is asked to measure: one metric of one run, with args already substituted.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementRequest {
    /// Namespace of the run, if any.
    pub namespace: Option<String>,
    /// Name of the run.
    pub run: String,
    /// The metric, args substituted.
    pub metric: Metric,
    /// The run's resolved arguments (secret values resolved by the driver, if it does that).
    pub args: Vec<Argument>,
    /// Time of this measurement.
    pub now: Timestamp,
    /// Start of the run (`status.startedAt`): the beginning of the window for range queries.
    pub window_start: Timestamp,
    /// The metric's previous finished measurement, if any (judges read their state from it).
    pub previous: Option<Measurement>,
    /// The in-flight measurement to resume or terminate, if any.
    pub in_flight: Option<Measurement>,
    /// The canary weight timeline of the rollout, filled by the driver (empty if unknown).
    pub weights: Vec<WeightPoint>,
}

/// What a provider observed.
#[derive(Debug, Clone, PartialEq)]
pub enum Observation {
    /// A raw result (e.g. a Prometheus vector as JSON); the metric's `successCondition` /
    /// `failureCondition` decide the phase. `value` is the text shown in the measurement.
    Result {
        /// The value the conditions see as `result`.
        result: MetricValue,
        /// The text stored in `measurement.value`.
        value: String,
        /// Provider metadata stored in `measurement.metadata`.
        metadata: BTreeMap<String, String>,
    },
    /// The provider decided the phase itself (job, judge, kayenta-like providers).
    Decided {
        /// Successful, Failed, Inconclusive or Error.
        phase: AnalysisPhase,
        /// The text stored in `measurement.value`.
        value: String,
        /// Why, stored in `measurement.message`.
        message: String,
        /// Provider metadata stored in `measurement.metadata`.
        metadata: BTreeMap<String, String>,
    },
    /// Not finished yet (e.g. a Job still running); ask again with `resume` at `resume_at`.
    InFlight {
        /// When to resume.
        resume_at: Timestamp,
        /// Provider metadata (e.g. the job name) kept for the resume call.
        metadata: BTreeMap<String, String>,
    },
}

impl Observation {
    /// A measurement stopped by its provider without a verdict of its own: Successful with
    /// message [`METRIC_TERMINATED`](super::machine::METRIC_TERMINATED), as upstream's job provider.
    pub fn terminated() -> Self {
        Observation::Decided {
            phase: AnalysisPhase::Successful,
            value: String::new(),
            message: super::machine::METRIC_TERMINATED.to_string(),
            metadata: BTreeMap::new(),
        }
    }
}

/// One sample of a range query: a value at a time for one label set.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    /// Labels of the series (e.g. `le` for histogram buckets).
    pub labels: BTreeMap<String, String>,
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    /// The value.
    pub value: f64,
}

/// Why a provider could not produce an observation. Becomes an Error measurement with this text.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ProviderError {
    /// No provider is registered under this name.
    #[error("no measurement provider registered for {0:?}")]
    UnknownProvider(String),
    /// The provider does not support this operation (e.g. range queries for `job`).
    #[error("provider {provider:?} does not support {operation}")]
    Unsupported {
        /// Provider name.
        provider: String,
        /// The operation asked for.
        operation: &'static str,
    },
    /// The provider's configuration is invalid.
    #[error("invalid {provider} provider config: {message}")]
    InvalidConfig {
        /// Provider name.
        provider: String,
        /// What is wrong.
        message: String,
    },
    /// The query or transport failed.
    #[error("{0}")]
    Failed(String),
}

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

    /// Terminate `request.in_flight` with the provider the metric names: the provider's answer, or
    /// [`Observation::terminated`] when it has none. A Successful answer without a message gets
    /// upstream's "Metric Terminated"; a provider that leaves the measurement in flight gets an
    /// error (a terminating run must not wait on it).
    pub async fn terminate(&self, request: &MeasurementRequest) -> Result<Observation, ProviderError> {
        let provider = self.for_provider(&request.metric.provider)?;
        match provider.terminate(request).await? {
            None => Ok(Observation::terminated()),
            Some(Observation::InFlight { .. }) => Err(ProviderError::Failed(format!(
                "provider {:?} left the measurement in flight when asked to terminate it",
                provider.name()
            ))),
            Some(Observation::Decided {
                phase: AnalysisPhase::Successful,
                value,
                message,
                metadata,
            }) if message.is_empty() => Ok(Observation::Decided {
                phase: AnalysisPhase::Successful,
                value,
                message: super::machine::METRIC_TERMINATED.to_string(),
                metadata,
            }),
            Some(other) => Ok(other),
        }
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
