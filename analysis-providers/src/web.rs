//! The `web` provider: JSON over HTTP, one value picked with a JSON path (upstream `webmetric`).
//!
//! Behaviour follows upstream:
//! - `method` is GET (default), POST or PUT; `body` (a string) or `jsonBody` (any JSON, sent with
//!   `Content-Type: application/json`) only with POST/PUT, never both;
//! - `timeoutSeconds` defaults to 10; `headers` are sent as given; `insecure` skips TLS verification;
//! - a non-2xx status is an error ("received non 2xx response code: 503");
//! - a body that is not JSON is kept as the value and the measurement is Successful, as upstream;
//! - otherwise the first value the JSON path selects is the `result` the conditions see, and its
//!   JSON text is the measurement value; a path that selects nothing is an error.
//!
//! `jsonPath` uses the Kubernetes template syntax upstream accepts (`{$.data.ok}`, `{.data.ok}`);
//! the braces are removed and the expression is evaluated as RFC 9535 JSONPath.

use std::collections::BTreeMap;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::Method;
use reqwest::header::{CONTENT_TYPE, HeaderValue};
use rollout_core::analysis::{AnalysisPhase, MeasurementRequest, Observation, ProviderError};
use rollout_driver::MeasurementProvider;
use serde::Deserialize;
use serde_json::Value;
use serde_json_path::JsonPath;

use crate::http::{Clients, Header, header_map, transport_failure};

/// The provider key in `metric.provider`.
pub const WEB: &str = "web";

/// Default request timeout, as upstream.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// The `web` block of a metric provider (upstream `WebMetric`).
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WebConfig {
    /// The URL to call.
    #[serde(default)]
    pub url: String,
    /// GET, POST or PUT (default GET).
    #[serde(default)]
    pub method: Option<String>,
    /// HTTP headers.
    #[serde(default)]
    pub headers: Vec<Header>,
    /// A string body (POST/PUT only).
    #[serde(default)]
    pub body: Option<String>,
    /// A JSON body (POST/PUT only).
    #[serde(default)]
    pub json_body: Option<Value>,
    /// Timeout in seconds (default 10; zero or negative means the default).
    #[serde(default)]
    pub timeout_seconds: Option<i64>,
    /// Kubernetes-style JSON path, e.g. `{$.data.ok}` (default: the whole body).
    #[serde(default)]
    pub json_path: Option<String>,
    /// Skip TLS certificate verification.
    #[serde(default)]
    pub insecure: bool,
}

impl WebConfig {
    /// Reads the `web` block of a metric provider.
    pub fn from_value(value: &Value) -> Result<Self, ProviderError> {
        serde_json::from_value(value.clone()).map_err(|e| invalid(&e.to_string()))
    }

    /// The request timeout.
    pub fn timeout(&self) -> Duration {
        match self.timeout_seconds {
            Some(t) if t > 0 => Duration::from_secs(t.unsigned_abs()),
            _ => DEFAULT_TIMEOUT,
        }
    }

    /// The HTTP method, validated.
    pub fn method(&self) -> Result<Method, ProviderError> {
        match self
            .method
            .as_deref()
            .unwrap_or("GET")
            .to_ascii_uppercase()
            .as_str()
        {
            "GET" => Ok(Method::GET),
            "POST" => Ok(Method::POST),
            "PUT" => Ok(Method::PUT),
            other => Err(invalid(&format!(
                "unsupported method {other:?} (use GET, POST or PUT)"
            ))),
        }
    }

    /// The compiled JSON path.
    pub fn json_path(&self) -> Result<JsonPath, ProviderError> {
        compile_json_path(self.json_path.as_deref().unwrap_or(""))
    }
}

fn invalid(message: &str) -> ProviderError {
    ProviderError::InvalidConfig {
        provider: WEB.to_string(),
        message: message.to_string(),
    }
}

/// Compiles a Kubernetes-style JSON path (`{$.a.b}`, `{.a.b}`, `$.a.b`; empty = the whole body).
pub fn compile_json_path(path: &str) -> Result<JsonPath, ProviderError> {
    let trimmed = path.trim();
    let inner = match trimmed.strip_prefix('{') {
        Some(rest) => rest
            .strip_suffix('}')
            .ok_or_else(|| invalid(&format!("jsonPath {path:?} has an unclosed {{")))?,
        None => trimmed,
    };
    let inner = inner.trim();
    if inner.contains("}{") || inner.contains("} {") {
        return Err(invalid(&format!(
            "jsonPath {path:?}: only one expression is supported"
        )));
    }
    let expr = if inner.is_empty() {
        "$".to_string()
    } else if inner.starts_with('$') {
        inner.to_string()
    } else if inner.starts_with('.') || inner.starts_with('[') {
        format!("${inner}")
    } else {
        format!("$.{inner}")
    };
    JsonPath::parse(&expr).map_err(|e| invalid(&format!("jsonPath {path:?} is not valid: {e}")))
}

/// Calls JSON-over-HTTP endpoints.
#[derive(Debug, Clone)]
pub struct WebProvider {
    clients: Clients,
}

impl WebProvider {
    /// A new provider. Fails only if the TLS backend cannot start.
    pub fn new() -> Result<Self, ProviderError> {
        Ok(WebProvider {
            clients: Clients::new().map_err(ProviderError::unreachable)?,
        })
    }

    /// Performs the call a config describes and maps the response to an observation.
    pub async fn measure_config(&self, cfg: &WebConfig) -> Result<Observation, ProviderError> {
        let method = cfg.method()?;
        let path = cfg.json_path()?;
        if cfg.body.is_some() && cfg.json_body.is_some() {
            return Err(ProviderError::bad_query(
                "use either Body or JSONBody; both cannot exists for WebMetric payload",
            ));
        }
        if (cfg.body.is_some() || cfg.json_body.is_some()) && method == Method::GET {
            return Err(ProviderError::bad_query(
                "Body/JSONBody can only be used with POST or PUT WebMetric Method types",
            ));
        }
        let url = reqwest::Url::parse(&cfg.url)
            .map_err(|e| invalid(&format!("url {:?} is not valid: {e}", cfg.url)))?;
        let mut headers = header_map(&[], None, &cfg.headers).map_err(|m| invalid(&m))?;
        let timeout = cfg.timeout();
        let mut builder = self
            .clients
            .get(cfg.insecure)
            .request(method, url)
            .timeout(timeout);
        if let Some(body) = &cfg.body {
            builder = builder.body(body.clone());
        } else if let Some(json) = &cfg.json_body {
            headers.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
            builder = builder.body(json.to_string());
        }
        let response = builder
            .headers(headers)
            .send()
            .await
            .map_err(|e| transport_failure("web request", e, timeout))?;
        let status = response.status();
        if !status.is_success() {
            return Err(ProviderError::http_status(
                status.as_u16(),
                format!("received non 2xx response code: {}", status.as_u16()),
            ));
        }
        let body = response.text().await.map_err(|e| {
            ProviderError::bad_response(format!("Received no bytes in response: {e}")).with_source(e)
        })?;
        observe_body(&body, &path).map_err(ProviderError::bad_response)
    }
}

/// Maps a 2xx response body to an observation (see the module docs).
pub fn observe_body(body: &str, path: &JsonPath) -> Result<Observation, String> {
    let data: Value = match serde_json::from_str(body) {
        Ok(v) => v,
        Err(_) => {
            return Ok(Observation::Decided {
                phase: AnalysisPhase::Successful,
                value: body.to_string(),
                message: String::new(),
                metadata: BTreeMap::new(),
            });
        }
    };
    let first = path
        .query(&data)
        .first()
        .cloned()
        .ok_or_else(|| "result of web metric produced no value".to_string())?;
    Ok(Observation::Result {
        value: first.to_string(),
        result: first.into(),
        metadata: BTreeMap::new(),
    })
}

#[async_trait]
impl MeasurementProvider for WebProvider {
    fn name(&self) -> &str {
        WEB
    }

    async fn measure(&self, request: &MeasurementRequest) -> Result<Observation, ProviderError> {
        let value = request
            .metric
            .provider
            .config(WEB)
            .ok_or_else(|| invalid("no web block"))?;
        let cfg = WebConfig::from_value(value)?;
        self.measure_config(&cfg).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rollout_core::analysis::MetricValue;
    use serde_json::json;

    fn result_of(body: &str, path: &str) -> Result<(MetricValue, String), String> {
        let path = compile_json_path(path).map_err(|e| e.to_string())?;
        match observe_body(body, &path)? {
            Observation::Result { result, value, .. } => Ok((result, value)),
            other => Err(format!("{other:?}")),
        }
    }

    #[test]
    fn json_paths_in_kubernetes_syntax() {
        let body = r#"{"data":{"ok":true,"rate":0.97,"name":"x","items":[{"v":1},{"v":2}]}}"#;
        let cases: Vec<(&str, Value, &str)> = vec![
            ("{$.data.ok}", json!(true), "true"),
            ("{.data.rate}", json!(0.97), "0.97"),
            ("$.data.name", json!("x"), "\"x\""),
            ("{$.data.items[1].v}", json!(2), "2"),
            ("{$.data.items[*].v}", json!(1), "1"),
            ("{$.data.items[?(@.v > 1)].v}", json!(2), "2"),
            ("", serde_json::from_str::<Value>(body).unwrap(), body),
        ];
        for (path, result, value) in cases {
            let (r, v) = result_of(body, path).unwrap();
            assert_eq!(r, MetricValue::from(result), "{path}");
            assert_eq!(v, value, "{path}");
        }
    }

    #[test]
    fn missing_values_and_bad_paths_are_errors() {
        assert_eq!(
            result_of(r#"{"data":{}}"#, "{$.data.ok}").unwrap_err(),
            "result of web metric produced no value"
        );
        assert!(
            compile_json_path("{$.data[}")
                .unwrap_err()
                .to_string()
                .starts_with("invalid web provider config: jsonPath \"{$.data[}\" is not valid")
        );
        assert_eq!(
            compile_json_path("{$.a").unwrap_err().to_string(),
            "invalid web provider config: jsonPath \"{$.a\" has an unclosed {"
        );
    }

    #[test]
    fn non_json_bodies_are_successful_as_upstream() {
        let path = compile_json_path("{$.ok}").unwrap();
        match observe_body("all good", &path).unwrap() {
            Observation::Decided { phase, value, .. } => {
                assert_eq!(phase, AnalysisPhase::Successful);
                assert_eq!(value, "all good");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn config_defaults_and_validation() {
        let cfg = WebConfig::from_value(&json!({"url": "http://x", "timeoutSeconds": 0})).unwrap();
        assert_eq!(cfg.timeout(), DEFAULT_TIMEOUT);
        assert_eq!(cfg.method().unwrap(), Method::GET);
        let cfg = WebConfig::from_value(&json!({"url": "http://x", "method": "DELETE", "timeoutSeconds": 3}))
            .unwrap();
        assert_eq!(cfg.timeout(), Duration::from_secs(3));
        assert_eq!(
            cfg.method().unwrap_err().to_string(),
            "invalid web provider config: unsupported method \"DELETE\" (use GET, POST or PUT)"
        );
    }
}
