//! The `prometheus` provider: instant and range queries over Prometheus' HTTP API.
//!
//! Behaviour follows upstream (`metricproviders/prometheus`):
//! - a scalar becomes `result = 1.5`, `value = "1.5"`; a vector becomes `result = [a, b]`,
//!   `value = "[a,b]"`; a range query's matrix is flattened the same way (`"[11,12,13,14]"`);
//! - an empty vector is handed on as `[]`, so a condition such as `result[0] >= 0.95` errors with
//!   upstream's "no data" message (the run's `consecutiveErrorLimit` then decides);
//! - a string result is an error ("Prometheus metric type not supported");
//! - transport failures (connection refused, timeouts), HTTP errors and malformed bodies are
//!   errors with the reason, which the run turns into Error measurements;
//! - `timeout` is in seconds, default 30; `headers` are sent with every query; warnings are kept in
//!   the measurement metadata under `warnings`.
//!
//! Values are floats for the conditions (`NaN` and infinities included), as upstream's `float64`.
//!
//! Queries go through a [`PrometheusTransport`]: [`HttpTransport`] by default, an in-memory
//! evaluator in the simulator (same config handling, same measurements).

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use rollout_core::analysis::provider::Sample;
use rollout_core::analysis::{MeasurementRequest, MetricProvider, MetricValue, Observation, ProviderError};
use rollout_core::common::parse_duration;
use rollout_driver::MeasurementProvider;
use serde::Deserialize;

use crate::http::{Header, snippet};
use crate::time_expr::eval_time;

mod transport;

#[cfg(test)]
use transport::unix_param;
pub use transport::{HttpTransport, PrometheusTransport};

/// The provider key in `metric.provider`.
pub const PROMETHEUS: &str = "prometheus";

/// Default query timeout, as upstream.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// Default range-query step when the config does not give one.
pub const DEFAULT_STEP: Duration = Duration::from_secs(60);

/// Prometheus refuses range queries with more than this many points per series.
const MAX_POINTS: u64 = 11_000;

/// The `prometheus` block of a metric provider (upstream `PrometheusMetric`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PrometheusConfig {
    /// Base URL of the Prometheus server, e.g. `http://prometheus:9090`.
    #[serde(default)]
    pub address: String,
    /// The PromQL query.
    #[serde(default)]
    pub query: String,
    /// Query timeout in seconds (default 30; negative is invalid).
    #[serde(default)]
    pub timeout: Option<i64>,
    /// Extra HTTP headers.
    #[serde(default)]
    pub headers: Vec<Header>,
    /// Skip TLS certificate verification.
    #[serde(default)]
    pub insecure: bool,
    /// Makes this a range query.
    #[serde(default)]
    pub range_query: Option<RangeQueryConfig>,
}

/// `rangeQuery`: time expressions for the window and the step.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RangeQueryConfig {
    /// Start, e.g. `now() - duration("10m")`.
    #[serde(default)]
    pub start: String,
    /// End, e.g. `now()`.
    #[serde(default)]
    pub end: String,
    /// Step, e.g. `1m`.
    #[serde(default)]
    pub step: String,
}

impl RangeQueryConfig {
    /// The window `(start, end, step)` these expressions give at `now`, with upstream's messages
    /// when one does not parse.
    pub fn window(&self, now: Timestamp) -> Result<(Timestamp, Timestamp, Duration), ProviderError> {
        let start = eval_time(&self.start, now).map_err(|e| {
            ProviderError::bad_query(format!("failed to parse rangeQuery.start as time: {e}"))
        })?;
        let end = eval_time(&self.end, now)
            .map_err(|e| ProviderError::bad_query(format!("failed to parse rangeQuery.end as time: {e}")))?;
        Ok((start, end, self.step()?))
    }

    /// The step, with upstream's message when it does not parse.
    pub fn step(&self) -> Result<Duration, ProviderError> {
        parse_duration(&self.step).map_err(|e| {
            ProviderError::bad_query(format!("failed to parse rangeQuery.step as duration: {e}"))
        })
    }
}

impl PrometheusConfig {
    /// Reads the `prometheus` block of a metric provider.
    pub fn from_provider(provider: &MetricProvider) -> Result<Self, ProviderError> {
        let value = provider
            .config(PROMETHEUS)
            .ok_or_else(|| invalid("no prometheus block"))?;
        serde_json::from_value(value.clone()).map_err(|e| invalid(&e.to_string()))
    }

    /// The query timeout.
    pub fn timeout(&self) -> Result<Duration, ProviderError> {
        match self.timeout {
            None => Ok(DEFAULT_TIMEOUT),
            Some(t) if t < 0 => Err(invalid("prometheus timeout should not be negative")),
            Some(0) => Ok(DEFAULT_TIMEOUT),
            Some(t) => Ok(Duration::from_secs(t.unsigned_abs())),
        }
    }
}

fn invalid(message: &str) -> ProviderError {
    ProviderError::InvalidConfig {
        provider: PROMETHEUS.to_string(),
        message: message.to_string(),
    }
}

/// One series of a query result.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// The series labels.
    pub labels: BTreeMap<String, String>,
    /// `(unix seconds, value)` points: one for a vector, many for a matrix.
    pub points: Vec<(f64, f64)>,
}

/// A decoded query result.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryResult {
    /// A scalar.
    Scalar(f64),
    /// A string (not supported as a measurement, as upstream).
    String(String),
    /// An instant vector: one point per series.
    Vector(Vec<Series>),
    /// A range matrix.
    Matrix(Vec<Series>),
}

/// A successful API response: the result and Prometheus' warnings.
#[derive(Debug, Clone, PartialEq)]
pub struct QueryResponse {
    /// The result.
    pub result: QueryResult,
    /// Warnings Prometheus attached to the answer.
    pub warnings: Vec<String>,
}

/// Queries Prometheus through a [`PrometheusTransport`]: by default its HTTP API
/// ([`HttpTransport`]); the simulator plugs in an in-memory evaluator. Cheap to clone.
#[derive(Debug, Clone)]
pub struct PrometheusProvider<T = HttpTransport> {
    transport: T,
}

impl PrometheusProvider<HttpTransport> {
    /// A provider over HTTP with no defaults. Fails only if the TLS backend cannot start.
    pub fn new() -> Result<Self, ProviderError> {
        Ok(PrometheusProvider {
            transport: HttpTransport::new()?,
        })
    }

    /// The address used when a metric gives none (upstream reads `ARGO_ROLLOUTS_PROMETHEUS_ADDRESS`).
    pub fn with_default_address(mut self, address: impl Into<String>) -> Self {
        self.transport = self.transport.with_default_address(address);
        self
    }

    /// Sends `Authorization: Bearer <token>` with every query (a metric's own headers win).
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.transport = self.transport.with_bearer_token(token);
        self
    }

    /// Sends this header with every query (a metric's own headers win).
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.transport = self.transport.with_header(key, value);
        self
    }

    /// The validated base URL for a config.
    #[cfg(test)]
    fn base_url(&self, cfg: &PrometheusConfig) -> Result<String, ProviderError> {
        self.transport.base_url(cfg)
    }
}

impl<T: PrometheusTransport> PrometheusProvider<T> {
    /// A provider whose queries go to `transport`.
    pub fn with_transport(transport: T) -> Self {
        PrometheusProvider { transport }
    }

    /// The transport.
    pub fn transport(&self) -> &T {
        &self.transport
    }

    /// Runs an instant query evaluated at `at`.
    pub async fn query(&self, cfg: &PrometheusConfig, at: Timestamp) -> Result<QueryResponse, ProviderError> {
        self.transport.query(cfg, at).await
    }

    /// Runs a range query over `[start, end]` with `step`.
    pub async fn query_range_at(
        &self,
        cfg: &PrometheusConfig,
        start: Timestamp,
        end: Timestamp,
        step: Duration,
    ) -> Result<QueryResponse, ProviderError> {
        self.transport.query_range(cfg, start, end, step).await
    }

    /// Measures a metric at `now`: a range query when `rangeQuery` is set, else an instant query;
    /// the transport's [`annotate`](PrometheusTransport::annotate) entries join the metadata.
    pub async fn measure_config(
        &self,
        cfg: &PrometheusConfig,
        now: Timestamp,
    ) -> Result<Observation, ProviderError> {
        let response = match &cfg.range_query {
            None => self.query(cfg, now).await?,
            Some(range) => {
                let (start, end, step) = range.window(now)?;
                self.query_range_at(cfg, start, end, step).await?
            }
        };
        let mut observed = observation(&response).map_err(ProviderError::bad_response)?;
        if let Observation::Result { metadata, .. } = &mut observed {
            metadata.extend(self.transport.annotate(cfg, &response));
        }
        Ok(observed)
    }
}

#[derive(Deserialize)]
struct ApiResponse {
    status: String,
    #[serde(default)]
    data: Option<ApiData>,
    #[serde(default, rename = "errorType")]
    error_type: Option<String>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    warnings: Vec<String>,
}

#[derive(Deserialize)]
#[serde(tag = "resultType", content = "result", rename_all = "lowercase")]
enum ApiData {
    Scalar(ApiPoint),
    String((f64, String)),
    Vector(Vec<ApiVectorSample>),
    Matrix(Vec<ApiMatrixSeries>),
}

#[derive(Deserialize)]
struct ApiPoint(f64, String);

#[derive(Deserialize)]
struct ApiVectorSample {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    value: ApiPoint,
}

#[derive(Deserialize)]
struct ApiMatrixSeries {
    #[serde(default)]
    metric: BTreeMap<String, String>,
    values: Vec<ApiPoint>,
}

fn parse_value(point: &ApiPoint) -> Result<(f64, f64), String> {
    let v = point.1.parse::<f64>().map_err(|_| {
        format!(
            "malformed prometheus response: sample value {:?} is not a number",
            point.1
        )
    })?;
    Ok((point.0, v))
}

/// A [`decode_response`] error as a typed [`ProviderError`] (same text): HTTP 400 and 422 (the
/// query was rejected) are [`ProviderError::BadQuery`], other non-2xx statuses
/// [`ProviderError::HttpStatus`], a 2xx answer that cannot be read [`ProviderError::BadResponse`].
pub fn response_error(status: u16, message: String) -> ProviderError {
    match status {
        400 | 422 => ProviderError::bad_query(message),
        200..=299 => ProviderError::bad_response(message),
        _ => ProviderError::http_status(status, message),
    }
}

/// Decodes an HTTP status and body from the query API into a result, or says what went wrong.
pub fn decode_response(status: u16, body: &str) -> Result<QueryResponse, String> {
    let parsed: Result<ApiResponse, _> = serde_json::from_str(body);
    let api = match parsed {
        Ok(api) => api,
        Err(e) if (200..300).contains(&status) => {
            return Err(format!(
                "malformed prometheus response: {e} (body: {:?})",
                snippet(body, 120)
            ));
        }
        Err(_) => {
            return Err(format!(
                "prometheus returned HTTP {status}: {}",
                snippet(body, 200)
            ));
        }
    };
    if api.status != "success" {
        let kind = api.error_type.unwrap_or_else(|| "error".to_string());
        let msg = api.error.unwrap_or_else(|| "no error message".to_string());
        return Err(format!("prometheus returned HTTP {status}: {kind}: {msg}"));
    }
    if !(200..300).contains(&status) {
        return Err(format!(
            "prometheus returned HTTP {status}: {}",
            snippet(body, 200)
        ));
    }
    let data = api
        .data
        .ok_or_else(|| "malformed prometheus response: success without data".to_string())?;
    let result = match data {
        ApiData::Scalar(p) => QueryResult::Scalar(parse_value(&p)?.1),
        ApiData::String((_, s)) => QueryResult::String(s),
        ApiData::Vector(samples) => QueryResult::Vector(
            samples
                .iter()
                .map(|s| {
                    Ok(Series {
                        labels: s.metric.clone(),
                        points: vec![parse_value(&s.value)?],
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
        ApiData::Matrix(series) => QueryResult::Matrix(
            series
                .iter()
                .map(|s| {
                    Ok(Series {
                        labels: s.metric.clone(),
                        points: s.values.iter().map(parse_value).collect::<Result<_, String>>()?,
                    })
                })
                .collect::<Result<_, String>>()?,
        ),
    };
    Ok(QueryResponse {
        result,
        warnings: api.warnings,
    })
}

/// Formats a sample value as upstream does (Go's `strconv.FormatFloat(v, 'f', -1, 64)`).
pub fn format_value(v: f64) -> String {
    if v.is_nan() {
        "NaN".to_string()
    } else if v == f64::INFINITY {
        "+Inf".to_string()
    } else if v == f64::NEG_INFINITY {
        "-Inf".to_string()
    } else {
        format!("{v}")
    }
}

/// Maps a query result to the measurement observation, as upstream's `processResponse`.
pub fn observation(response: &QueryResponse) -> Result<Observation, String> {
    let (result, value) = match &response.result {
        QueryResult::Scalar(v) => (MetricValue::Float(*v), format_value(*v)),
        QueryResult::String(_) => return Err("Prometheus metric type not supported".to_string()),
        QueryResult::Vector(series) | QueryResult::Matrix(series) => {
            let values: Vec<f64> = series.iter().flat_map(|s| s.points.iter().map(|p| p.1)).collect();
            let text: Vec<String> = values.iter().map(|v| format_value(*v)).collect();
            (MetricValue::from(values), format!("[{}]", text.join(",")))
        }
    };
    let mut metadata = BTreeMap::new();
    if !response.warnings.is_empty() {
        let quoted: Vec<String> = response.warnings.iter().map(|w| format!("\"{w}\"")).collect();
        metadata.insert("warnings".to_string(), quoted.join(", "));
    }
    Ok(Observation::Result {
        result,
        value,
        metadata,
    })
}

/// The samples of a result, for judges (`time_ms` in milliseconds since the epoch).
pub fn samples(result: &QueryResult) -> Result<Vec<Sample>, String> {
    match result {
        QueryResult::Scalar(_) | QueryResult::String(_) => {
            Err("a judge series needs a vector or matrix result from Prometheus".to_string())
        }
        QueryResult::Vector(series) | QueryResult::Matrix(series) => Ok(series
            .iter()
            .flat_map(|s| {
                s.points.iter().map(|(t, v)| Sample {
                    labels: s.labels.clone(),
                    time_ms: (t * 1000.0).round() as i64,
                    value: *v,
                })
            })
            .collect()),
    }
}

/// The step for a judge's range query over `window`: the config's `rangeQuery.step`, else
/// [`DEFAULT_STEP`], widened so the query stays under Prometheus' point limit.
pub fn judge_step(cfg: &PrometheusConfig, window: Duration) -> Result<Duration, ProviderError> {
    let step = match cfg.range_query.as_ref().filter(|r| !r.step.is_empty()) {
        Some(r) => r.step()?,
        None => DEFAULT_STEP,
    };
    let step = step.max(Duration::from_secs(1));
    let min = Duration::from_secs(window.as_secs() / MAX_POINTS + 1);
    Ok(step.max(min))
}

#[async_trait]
impl<T: PrometheusTransport> MeasurementProvider for PrometheusProvider<T> {
    fn name(&self) -> &str {
        PROMETHEUS
    }

    async fn measure(&self, request: &MeasurementRequest) -> Result<Observation, ProviderError> {
        let cfg = PrometheusConfig::from_provider(&request.metric.provider)?;
        self.measure_config(&cfg, request.now).await
    }

    async fn query_range(
        &self,
        request: &MeasurementRequest,
        provider: &MetricProvider,
    ) -> Result<Vec<Sample>, ProviderError> {
        let cfg = PrometheusConfig::from_provider(provider)?;
        let start = request.window_start.min(request.now);
        let window = request.now.duration_since(start).unsigned_abs();
        let step = judge_step(&cfg, window)?;
        let response = self.query_range_at(&cfg, start, request.now, step).await?;
        samples(&response.result).map_err(ProviderError::bad_response)
    }
}

#[cfg(test)]
mod tests;
