//! The measurement-provider contract: how a metric's `provider` becomes a measurement.
//!
//! Providers are pluggable and keyed by the provider name in the metric spec (`prometheus`, `web`,
//! `job`, `judge`, ...). The core stays sans-IO: drivers (crate `rollout-driver`) own the provider
//! registry, take the [`MeasurementRequest`]s the run machine emits, call the provider, and hand
//! the [`Observation`] back to the run machine, which applies the metric's conditions and limits.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use super::AnalysisPhase;
use super::judge::{JudgeError, WeightPoint};
use super::types::{Argument, Measurement, Metric};
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
    /// A judge's verdict (the `judge` provider), recorded by
    /// [`record_verdict`](super::judge::record_verdict): like `Decided`, with the judge's state
    /// in the measurement's `judgeState` instead of its metadata.
    Judged(Box<super::judge::JudgedMeasurement>),
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

/// The error behind a [`ProviderError`] or [`JudgeError`]: any error,
/// shared so the errors stay `Clone`. Two sources are equal when they render the same text.
#[derive(Clone)]
pub struct ErrorSource(Arc<dyn std::error::Error + Send + Sync>);

impl ErrorSource {
    /// Wraps `error`.
    pub fn new(error: impl std::error::Error + Send + Sync + 'static) -> Self {
        ErrorSource(Arc::new(error))
    }

    /// The wrapped error.
    pub fn get(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
        self.0.as_ref()
    }
}

impl fmt::Debug for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.0, f)
    }
}

impl fmt::Display for ErrorSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl std::error::Error for ErrorSource {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.0.source()
    }
}

impl PartialEq for ErrorSource {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0) || self.0.to_string() == other.0.to_string()
    }
}

/// Why a provider could not produce an observation. Becomes an Error measurement with this text
/// (the [`Display`](fmt::Display)), and the kind ([`ProviderError::kind`]) is recorded in the
/// measurement metadata under [`error_keys`].
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
    /// The metric source could not be reached (connection refused, DNS, TLS, reset).
    #[error("{message}")]
    Unreachable {
        /// The measurement message.
        message: String,
        /// The transport error.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The metric source did not answer in time.
    #[error("{message}")]
    Timeout {
        /// The measurement message.
        message: String,
        /// The transport error.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The metric source answered with a non-success HTTP status.
    #[error("{message}")]
    HttpStatus {
        /// The HTTP status code.
        status: u16,
        /// The measurement message.
        message: String,
    },
    /// The answer could not be read or has an unexpected shape.
    #[error("{message}")]
    BadResponse {
        /// The measurement message.
        message: String,
        /// The decoding error.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The query (or its window) is invalid, or the source rejected it.
    #[error("{message}")]
    BadQuery {
        /// The measurement message.
        message: String,
        /// The parsing error.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The judge of a `judge` metric could not return a verdict.
    #[error("{0}")]
    Judge(#[from] JudgeError),
    /// Any other failure, as text only (kind [`ProviderErrorKind::Other`]); prefer a typed variant.
    #[error("{0}")]
    Failed(String),
}

/// The kind of a [`ProviderError`], as recorded in measurements and in a Rollout's
/// [`Why`](crate::rollout::why::Why).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderErrorKind {
    /// [`ProviderError::UnknownProvider`].
    UnknownProvider,
    /// [`ProviderError::Unsupported`].
    Unsupported,
    /// [`ProviderError::InvalidConfig`].
    InvalidConfig,
    /// [`ProviderError::Unreachable`].
    Unreachable,
    /// [`ProviderError::Timeout`].
    Timeout,
    /// [`ProviderError::HttpStatus`].
    HttpStatus,
    /// [`ProviderError::BadResponse`].
    BadResponse,
    /// [`ProviderError::BadQuery`].
    BadQuery,
    /// [`ProviderError::Judge`].
    Judge,
    /// [`ProviderError::Failed`].
    Other,
}

impl ProviderErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [ProviderErrorKind; 10] = [
        ProviderErrorKind::UnknownProvider,
        ProviderErrorKind::Unsupported,
        ProviderErrorKind::InvalidConfig,
        ProviderErrorKind::Unreachable,
        ProviderErrorKind::Timeout,
        ProviderErrorKind::HttpStatus,
        ProviderErrorKind::BadResponse,
        ProviderErrorKind::BadQuery,
        ProviderErrorKind::Judge,
        ProviderErrorKind::Other,
    ];

    /// The kebab-case name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            ProviderErrorKind::UnknownProvider => "unknown-provider",
            ProviderErrorKind::Unsupported => "unsupported",
            ProviderErrorKind::InvalidConfig => "invalid-config",
            ProviderErrorKind::Unreachable => "unreachable",
            ProviderErrorKind::Timeout => "timeout",
            ProviderErrorKind::HttpStatus => "http-status",
            ProviderErrorKind::BadResponse => "bad-response",
            ProviderErrorKind::BadQuery => "bad-query",
            ProviderErrorKind::Judge => "judge",
            ProviderErrorKind::Other => "other",
        }
    }

    /// The kind named `name` ([`ProviderErrorKind::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

/// Keys under which [`finish_measurement`](super::finish_measurement) records a typed provider
/// error in `measurement.metadata` (an untyped [`ProviderError::Failed`] records none).
pub mod error_keys {
    /// The [`ProviderErrorKind`](super::ProviderErrorKind) name.
    pub const KIND: &str = "error.kind";
    /// The HTTP status code of [`ProviderError::HttpStatus`](super::ProviderError::HttpStatus).
    pub const HTTP_STATUS: &str = "error.httpStatus";
    /// The [`JudgeErrorKind`](crate::analysis::judge::JudgeErrorKind) name of a judge failure.
    pub const JUDGE: &str = "error.judge";
}

impl ProviderError {
    /// A [`ProviderError::Unreachable`] without a source.
    pub fn unreachable(message: impl Into<String>) -> Self {
        ProviderError::Unreachable {
            message: message.into(),
            source: None,
        }
    }

    /// A [`ProviderError::Timeout`] without a source.
    pub fn timeout(message: impl Into<String>) -> Self {
        ProviderError::Timeout {
            message: message.into(),
            source: None,
        }
    }

    /// A [`ProviderError::HttpStatus`].
    pub fn http_status(status: u16, message: impl Into<String>) -> Self {
        ProviderError::HttpStatus {
            status,
            message: message.into(),
        }
    }

    /// A [`ProviderError::BadResponse`] without a source.
    pub fn bad_response(message: impl Into<String>) -> Self {
        ProviderError::BadResponse {
            message: message.into(),
            source: None,
        }
    }

    /// A [`ProviderError::BadQuery`] without a source.
    pub fn bad_query(message: impl Into<String>) -> Self {
        ProviderError::BadQuery {
            message: message.into(),
            source: None,
        }
    }

    /// The same error with `error` as its source (variants without a source slot are unchanged).
    #[must_use]
    pub fn with_source(mut self, error: impl std::error::Error + Send + Sync + 'static) -> Self {
        match &mut self {
            ProviderError::Unreachable { source, .. }
            | ProviderError::Timeout { source, .. }
            | ProviderError::BadResponse { source, .. }
            | ProviderError::BadQuery { source, .. } => *source = Some(ErrorSource::new(error)),
            _ => {}
        }
        self
    }

    /// The kind of this error.
    pub fn kind(&self) -> ProviderErrorKind {
        match self {
            ProviderError::UnknownProvider(_) => ProviderErrorKind::UnknownProvider,
            ProviderError::Unsupported { .. } => ProviderErrorKind::Unsupported,
            ProviderError::InvalidConfig { .. } => ProviderErrorKind::InvalidConfig,
            ProviderError::Unreachable { .. } => ProviderErrorKind::Unreachable,
            ProviderError::Timeout { .. } => ProviderErrorKind::Timeout,
            ProviderError::HttpStatus { .. } => ProviderErrorKind::HttpStatus,
            ProviderError::BadResponse { .. } => ProviderErrorKind::BadResponse,
            ProviderError::BadQuery { .. } => ProviderErrorKind::BadQuery,
            ProviderError::Judge(_) => ProviderErrorKind::Judge,
            ProviderError::Failed(_) => ProviderErrorKind::Other,
        }
    }

    /// The metadata a measurement records for this error ([`error_keys`]): the kind, the HTTP
    /// status and the judge error kind where they apply; nothing for [`ProviderError::Failed`].
    pub fn metadata(&self) -> BTreeMap<String, String> {
        let mut out = BTreeMap::new();
        if matches!(self, ProviderError::Failed(_)) {
            return out;
        }
        out.insert(error_keys::KIND.to_string(), self.kind().as_str().to_string());
        match self {
            ProviderError::HttpStatus { status, .. } => {
                out.insert(error_keys::HTTP_STATUS.to_string(), status.to_string());
            }
            ProviderError::Judge(e) => {
                out.insert(error_keys::JUDGE.to_string(), e.kind().as_str().to_string());
            }
            _ => {}
        }
        out
    }
}

/// How a terminated in-flight measurement ends, given the provider's answer to `terminate`
/// (upstream `Provider.Terminate` returns the measurement): `None` is recorded as
/// [`Observation::terminated`]; a Successful answer without a message gets upstream's
/// "Metric Terminated"; an answer still in flight is an error (a terminating run must not wait on
/// it); any other answer is recorded as it is.
pub fn terminated_observation(
    provider: &str,
    answer: Option<Observation>,
) -> Result<Observation, ProviderError> {
    match answer {
        None => Ok(Observation::terminated()),
        Some(Observation::InFlight { .. }) => Err(ProviderError::bad_response(format!(
            "provider {provider:?} left the measurement in flight when asked to terminate it"
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
