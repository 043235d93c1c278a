//! Where a [`PrometheusProvider`](super::PrometheusProvider)'s queries go: the
//! [`PrometheusTransport`] contract and [`HttpTransport`], Prometheus' HTTP API.
//!
//! The provider owns everything upstream specifies (reading the config, the range-query window,
//! the judge step, turning an answer into a measurement); a transport only answers instant and
//! range queries. The simulator answers them from an in-memory PromQL evaluator.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use reqwest::Url;
use rollout_core::analysis::ProviderError;

use super::{PrometheusConfig, QueryResponse, decode_response, invalid, response_error};
use crate::http::{Clients, Header, header_map, transport_failure};

/// Answers a Prometheus provider's queries.
#[async_trait]
pub trait PrometheusTransport: Send + Sync {
    /// Runs the instant query `cfg.query` evaluated at `at`.
    async fn query(&self, cfg: &PrometheusConfig, at: Timestamp) -> Result<QueryResponse, ProviderError>;

    /// Runs the range query `cfg.query` over `[start, end]` with `step`.
    async fn query_range(
        &self,
        cfg: &PrometheusConfig,
        start: Timestamp,
        end: Timestamp,
        step: Duration,
    ) -> Result<QueryResponse, ProviderError>;

    /// Extra measurement metadata for the answer `response` to a measurement's query (`cfg`), e.g.
    /// a simulator's hint on why a query selected nothing. Default: none.
    fn annotate(&self, _cfg: &PrometheusConfig, _response: &QueryResponse) -> BTreeMap<String, String> {
        BTreeMap::new()
    }
}

/// Prometheus' HTTP API (`/api/v1/query`, `/api/v1/query_range`). Cheap to clone; shares its
/// connection pools.
#[derive(Debug, Clone)]
pub struct HttpTransport {
    clients: Clients,
    default_address: Option<String>,
    bearer_token: Option<String>,
    default_headers: Vec<Header>,
}

impl HttpTransport {
    /// A transport with no defaults. Fails only if the TLS backend cannot start.
    pub fn new() -> Result<Self, ProviderError> {
        Ok(HttpTransport {
            clients: Clients::new().map_err(ProviderError::unreachable)?,
            default_address: None,
            bearer_token: None,
            default_headers: Vec::new(),
        })
    }

    /// The address used when a metric gives none.
    pub fn with_default_address(mut self, address: impl Into<String>) -> Self {
        self.default_address = Some(address.into());
        self
    }

    /// Sends `Authorization: Bearer <token>` with every query (a metric's own headers win).
    pub fn with_bearer_token(mut self, token: impl Into<String>) -> Self {
        self.bearer_token = Some(token.into());
        self
    }

    /// Sends this header with every query (a metric's own headers win).
    pub fn with_header(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.default_headers.push(Header {
            key: key.into(),
            value: value.into(),
        });
        self
    }

    /// The validated base URL for a config.
    pub(super) fn base_url(&self, cfg: &PrometheusConfig) -> Result<String, ProviderError> {
        let address = if cfg.address.is_empty() {
            self.default_address
                .clone()
                .filter(|a| !a.is_empty())
                .ok_or_else(|| invalid("prometheus address is not configured"))?
        } else {
            cfg.address.clone()
        };
        match Url::parse(&address) {
            Ok(url) if url.has_host() && !url.scheme().is_empty() => {
                Ok(address.trim_end_matches('/').to_string())
            }
            _ => Err(invalid(&format!("prometheus address {address:?} is not a URL"))),
        }
    }

    async fn call(
        &self,
        cfg: &PrometheusConfig,
        url: &str,
        params: &[(&str, String)],
    ) -> Result<QueryResponse, ProviderError> {
        let timeout = cfg.timeout()?;
        let headers = header_map(&self.default_headers, self.bearer_token.as_deref(), &cfg.headers)
            .map_err(|m| invalid(&m))?;
        let mut url = Url::parse(url).map_err(|e| invalid(&format!("bad URL {url:?}: {e}")))?;
        url.query_pairs_mut()
            .extend_pairs(params.iter().map(|(k, v)| (*k, v.as_str())));
        let send = self
            .clients
            .get(cfg.insecure)
            .get(url)
            .headers(headers)
            .timeout(timeout)
            .send();
        let response = send
            .await
            .map_err(|e| transport_failure("prometheus query", e, timeout))?;
        let status = response.status();
        let body = response
            .text()
            .await
            .map_err(|e| transport_failure("reading the prometheus response", e, timeout))?;
        decode_response(status.as_u16(), &body).map_err(|m| response_error(status.as_u16(), m))
    }
}

#[async_trait]
impl PrometheusTransport for HttpTransport {
    async fn query(&self, cfg: &PrometheusConfig, at: Timestamp) -> Result<QueryResponse, ProviderError> {
        let base = self.base_url(cfg)?;
        let params = vec![("query", cfg.query.clone()), ("time", unix_param(at))];
        self.call(cfg, &format!("{base}/api/v1/query"), &params).await
    }

    async fn query_range(
        &self,
        cfg: &PrometheusConfig,
        start: Timestamp,
        end: Timestamp,
        step: Duration,
    ) -> Result<QueryResponse, ProviderError> {
        let base = self.base_url(cfg)?;
        let params = vec![
            ("query", cfg.query.clone()),
            ("start", unix_param(start)),
            ("end", unix_param(end)),
            ("step", format!("{}", step.as_secs_f64())),
        ];
        self.call(cfg, &format!("{base}/api/v1/query_range"), &params)
            .await
    }
}

/// Unix seconds with millisecond precision, as Prometheus accepts.
pub(super) fn unix_param(t: Timestamp) -> String {
    let ms = t.as_millisecond();
    if ms % 1000 == 0 {
        format!("{}", ms / 1000)
    } else {
        format!("{}.{:03}", ms.div_euclid(1000), ms.rem_euclid(1000))
    }
}
