//! HTTP plumbing shared by the providers: clients, headers and readable transport errors.

use std::error::Error as _;
use std::time::Duration;

use reqwest::header::{AUTHORIZATION, HeaderMap, HeaderName, HeaderValue};
use rollout_core::analysis::ProviderError;
use serde::Deserialize;

/// One `key: value` HTTP header of a provider config (upstream `WebMetricHeader`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Header {
    /// Header name.
    pub key: String,
    /// Header value.
    pub value: String,
}

/// Two reusable clients: one that verifies TLS certificates and one that does not (`insecure: true`).
#[derive(Debug, Clone)]
pub(crate) struct Clients {
    secure: reqwest::Client,
    insecure: reqwest::Client,
}

impl Clients {
    /// Builds both clients. Fails only if the TLS backend cannot be initialised.
    pub(crate) fn new() -> Result<Self, String> {
        let secure = reqwest::Client::builder()
            .build()
            .map_err(|e| format!("cannot build HTTP client: {}", chain(&e)))?;
        let insecure = reqwest::Client::builder()
            .tls_danger_accept_invalid_certs(true)
            .build()
            .map_err(|e| format!("cannot build HTTP client: {}", chain(&e)))?;
        Ok(Clients { secure, insecure })
    }

    /// The client for a config's `insecure` flag.
    pub(crate) fn get(&self, insecure: bool) -> &reqwest::Client {
        if insecure { &self.insecure } else { &self.secure }
    }
}

/// Builds a header map from default headers, an optional bearer token and per-metric headers
/// (later entries win, as `Header.Set` does upstream).
pub(crate) fn header_map(
    defaults: &[Header],
    bearer_token: Option<&str>,
    headers: &[Header],
) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::new();
    if let Some(token) = bearer_token {
        let value = HeaderValue::from_str(&format!("Bearer {token}"))
            .map_err(|_| "bearer token is not a valid HTTP header value".to_string())?;
        map.insert(AUTHORIZATION, value);
    }
    for h in defaults.iter().chain(headers) {
        let name = HeaderName::from_bytes(h.key.as_bytes())
            .map_err(|_| format!("invalid HTTP header name {:?}", h.key))?;
        let value = HeaderValue::from_str(&h.value)
            .map_err(|_| format!("invalid value for HTTP header {:?}", h.key))?;
        map.insert(name, value);
    }
    Ok(map)
}

/// A transport error as one line: what failed and the chain of causes (e.g. "connection refused"),
/// without the request URL (which can be long and hold the query).
pub(crate) fn transport_error(what: &str, err: &reqwest::Error, timeout: Duration) -> String {
    if err.is_timeout() {
        return format!("{what} timed out after {}", format_duration(timeout));
    }
    format!("{what} failed: {}", chain(err))
}

/// A transport error as a typed [`ProviderError`] with the [`transport_error`] text and the
/// reqwest error as its source: a timeout is [`ProviderError::Timeout`], an unreadable body
/// [`ProviderError::BadResponse`], anything else (connect, DNS, TLS, reset) is
/// [`ProviderError::Unreachable`].
pub(crate) fn transport_failure(what: &str, err: reqwest::Error, timeout: Duration) -> ProviderError {
    let message = transport_error(what, &err, timeout);
    let typed = if err.is_timeout() {
        ProviderError::timeout(message)
    } else if err.is_body() || err.is_decode() {
        ProviderError::bad_response(message)
    } else {
        ProviderError::unreachable(message)
    };
    typed.with_source(err)
}

/// The error and its sources joined with ": ", skipping repeated texts.
fn chain(err: &reqwest::Error) -> String {
    let mut parts: Vec<String> = Vec::new();
    let top = err.without_url_ref();
    parts.push(top);
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !parts.iter().any(|p| p == &text) {
            parts.push(text);
        }
        source = s.source();
    }
    parts.join(": ")
}

/// Extension to render a reqwest error without its URL.
trait WithoutUrlRef {
    fn without_url_ref(&self) -> String;
}

impl WithoutUrlRef for reqwest::Error {
    fn without_url_ref(&self) -> String {
        let text = self.to_string();
        match self.url() {
            Some(url) => text
                .replace(&format!(" for url ({url})"), "")
                .replace(&format!(" ({url})"), ""),
            None => text,
        }
    }
}

/// `5s`, `1.5s`, `2m0s`-like short rendering of a timeout.
pub(crate) fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{secs}s")
    }
}

/// At most `max` characters of a response body, for error messages.
pub(crate) fn snippet(body: &str, max: usize) -> String {
    let trimmed = body.trim();
    match trimmed.char_indices().nth(max) {
        Some((idx, _)) => format!("{}…", &trimmed[..idx]),
        None => trimmed.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn later_headers_override_earlier_ones_and_bearer() {
        let defaults = vec![Header {
            key: "X-Scope-OrgID".into(),
            value: "default".into(),
        }];
        let headers = vec![
            Header {
                key: "x-scope-orgid".into(),
                value: "tenant_a".into(),
            },
            Header {
                key: "Authorization".into(),
                value: "Basic abc".into(),
            },
        ];
        let map = header_map(&defaults, Some("tok"), &headers).unwrap();
        assert_eq!(map.get("x-scope-orgid").unwrap(), "tenant_a");
        assert_eq!(map.get("authorization").unwrap(), "Basic abc");
        let map = header_map(&[], Some("tok"), &[]).unwrap();
        assert_eq!(map.get("authorization").unwrap(), "Bearer tok");
    }

    #[test]
    fn bad_header_names_and_values_are_reported() {
        let bad = vec![Header {
            key: "bad name".into(),
            value: "v".into(),
        }];
        assert_eq!(
            header_map(&[], None, &bad).unwrap_err(),
            "invalid HTTP header name \"bad name\""
        );
        let bad = vec![Header {
            key: "x".into(),
            value: "a\nb".into(),
        }];
        assert_eq!(
            header_map(&[], None, &bad).unwrap_err(),
            "invalid value for HTTP header \"x\""
        );
    }

    #[test]
    fn snippets_are_cut_on_char_boundaries() {
        assert_eq!(snippet("  héllo  ", 3), "hél…");
        assert_eq!(snippet("ok", 3), "ok");
        assert_eq!(format_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(format_duration(Duration::from_secs(30)), "30s");
    }
}
