//! Webhook notifications of a Rollout's feedback sentence (`status.feedback`, rendered from
//! `status.why` by [`rollout_core::rollout::feedback`]).
//!
//! When a reconcile writes a new, non-empty sentence, the [`Notifier`] POSTs a JSON
//! [`Notification`] (`{rollout: {namespace, name}, revision, phase, feedback, why, time}`) to the
//! Rollout's URL: the `rollout.io/notify-url` annotation, else the controller's `--notify-url`.
//! An `Authorization` header comes from a Secret: the `rollout.io/notify-secret: NAME[/KEY]`
//! annotation (read in the Rollout's namespace; default key `token`), else the controller's
//! `--notify-secret` (read in the controller's namespace) when the URL is the controller's too.
//! A value with a space (`Basic ...`, `Bearer ...`) is sent as is, any other value as
//! `Bearer VALUE`. The value is held in [`Redacted`] and never logged.
//!
//! Delivery is asynchronous (a bounded queue and one worker, so a slow endpoint never blocks a
//! reconcile), retried with exponential backoff ([`RetryPolicy`]; 4xx other than 408 and 429
//! are not retried) and made at most once per (Rollout, revision, sentence). Every outcome —
//! sent, failed, dropped because the queue is full, duplicate, invalid config — is counted in
//! `rollout_notifications_total{outcome}` ([`NotifyMetrics`]) and failures are logged.

mod worker;

use std::collections::BTreeMap;
use std::time::Duration;

use reqwest::Url;
use rollout_core::common::Timestamp;
use rollout_core::rollout::{RolloutPhase, RolloutStatus, Why};
use serde::Serialize;
use sha2::{Digest, Sha256};

pub use worker::{Notifier, NotifyMetrics, Queued};

/// Annotation: the Rollout's webhook URL (http or https).
pub const URL_ANNOTATION: &str = "rollout.io/notify-url";
/// Annotation: `NAME[/KEY]` of the Secret in the Rollout's namespace with the header value.
pub const SECRET_ANNOTATION: &str = "rollout.io/notify-secret";
/// The Secret key read when `NAME[/KEY]` names none.
pub const DEFAULT_SECRET_KEY: &str = "token";

/// Notification errors; the messages never contain a token.
#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    /// A URL that is not an absolute http(s) URL with a host.
    #[error("{field}: invalid notification URL {value:?}: {reason}")]
    InvalidUrl {
        /// Field path: the annotation or the flag.
        field: String,
        /// The value given.
        value: String,
        /// Why it is refused.
        reason: String,
    },
    /// A Secret reference that is not `NAME[/KEY]`.
    #[error("{field}: invalid Secret reference {value:?}: expected NAME or NAME/KEY")]
    InvalidSecretRef {
        /// Field path: the annotation or the flag.
        field: String,
        /// The value given.
        value: String,
    },
    /// The Secret or its key could not be read.
    #[error("Secret {namespace}/{name} key {key:?}: {reason}")]
    Secret {
        /// Namespace read.
        namespace: String,
        /// Secret name.
        name: String,
        /// Key.
        key: String,
        /// What went wrong.
        reason: String,
    },
    /// The endpoint answered with a status that is not a success.
    #[error("{url} answered HTTP {status} after {attempts} attempt(s)")]
    Status {
        /// The URL without credentials.
        url: String,
        /// The last status.
        status: u16,
        /// Attempts made.
        attempts: u32,
    },
    /// The request could not be sent (connect, timeout, ...).
    #[error("POST {url} failed after {attempts} attempt(s): {reason}")]
    Transport {
        /// The URL without credentials.
        url: String,
        /// The last error.
        reason: String,
        /// Attempts made.
        attempts: u32,
    },
}

/// A secret value: `Debug` and `Display` print `***`.
#[derive(Clone, PartialEq, Eq)]
pub struct Redacted(String);

impl Redacted {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The value, for the one place that sends it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The `Authorization` header value: the value as is when it names a scheme (has a space),
    /// else `Bearer VALUE`.
    pub fn authorization(&self) -> String {
        let v = self.0.trim();
        if v.contains(' ') {
            v.to_string()
        } else {
            format!("Bearer {v}")
        }
    }
}

impl std::fmt::Debug for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

impl std::fmt::Display for Redacted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// A Secret key: `NAME[/KEY]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    /// Secret name.
    pub name: String,
    /// Key in its data.
    pub key: String,
}

impl SecretRef {
    /// Parses `NAME[/KEY]` (key default [`DEFAULT_SECRET_KEY`]); `field` names the annotation or
    /// flag in the error.
    pub fn parse(value: &str, field: &str) -> Result<Self, NotifyError> {
        let bad = || NotifyError::InvalidSecretRef {
            field: field.to_string(),
            value: value.to_string(),
        };
        let (name, key) = match value.trim().split_once('/') {
            Some((n, k)) => (n, k),
            None => (value.trim(), DEFAULT_SECRET_KEY),
        };
        let dns = |s: &str| {
            !s.is_empty()
                && s.len() <= 253
                && s.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        };
        let key_ok = !key.is_empty()
            && key.len() <= 253
            && key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-._".contains(c));
        if dns(name) && key_ok {
            Ok(Self {
                name: name.to_string(),
                key: key.to_string(),
            })
        } else {
            Err(bad())
        }
    }
}

/// Parses a webhook URL: absolute, `http` or `https`, with a host.
pub fn parse_url(value: &str, field: &str) -> Result<Url, NotifyError> {
    let err = |reason: &str| NotifyError::InvalidUrl {
        field: field.to_string(),
        value: value.to_string(),
        reason: reason.to_string(),
    };
    let url = Url::parse(value.trim()).map_err(|e| err(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(err("the scheme must be http or https"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(err("no host"));
    }
    Ok(url)
}

/// `url` without user info, for logs and errors.
pub fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

/// Retries of one delivery: `attempts` in all, waiting `base`, `2·base`, ... (at most `max`)
/// between them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (at least 1).
    pub attempts: u32,
    /// Wait after the first failed attempt.
    pub base: Duration,
    /// Longest wait.
    pub max: Duration,
    /// Timeout of one request.
    pub timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            attempts: 5,
            base: Duration::from_secs(1),
            max: Duration::from_secs(30),
            timeout: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// The wait after failed attempt `n` (1-based).
    pub fn delay(&self, n: u32) -> Duration {
        let factor = 2u32.saturating_pow(n.saturating_sub(1).min(20));
        self.base.saturating_mul(factor).min(self.max)
    }
}

/// Whether an HTTP status is worth another attempt: 408, 429 and 5xx.
pub fn retryable(status: u16) -> bool {
    status == 408 || status == 429 || status >= 500
}

/// The controller-wide notification settings (`--notify-url`, `--notify-secret`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifyConfig {
    /// The default URL (`None`: only Rollouts annotated with a URL are notified).
    pub url: Option<Url>,
    /// The Secret with the header value for the default URL.
    pub secret: Option<SecretRef>,
    /// Where `secret` is read (the controller's namespace).
    pub secret_namespace: String,
    /// Retries.
    pub retry: RetryPolicy,
    /// Notifications waiting at most; more are dropped (and counted).
    pub queue: usize,
}

impl Default for NotifyConfig {
    fn default() -> Self {
        Self {
            url: None,
            secret: None,
            secret_namespace: "rollout-system".into(),
            retry: RetryPolicy::default(),
            queue: 256,
        }
    }
}

/// Where one Rollout's notifications go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The webhook.
    pub url: Url,
    /// The Secret (namespace, reference) with the header value, if any.
    pub secret: Option<(String, SecretRef)>,
}

impl NotifyConfig {
    /// The target of a Rollout in `namespace` with `annotations`: its own URL (and only its own
    /// Secret), else the default URL with its own Secret or the default one. `None`: nothing to
    /// notify. Errors name the annotation.
    pub fn target(
        &self,
        namespace: &str,
        annotations: &BTreeMap<String, String>,
    ) -> Result<Option<Target>, NotifyError> {
        let field = |a: &str| format!("metadata.annotations[{a}]");
        let own_secret = annotations
            .get(SECRET_ANNOTATION)
            .map(|v| SecretRef::parse(v, &field(SECRET_ANNOTATION)))
            .transpose()?
            .map(|s| (namespace.to_string(), s));
        if let Some(v) = annotations.get(URL_ANNOTATION) {
            let url = parse_url(v, &field(URL_ANNOTATION))?;
            return Ok(Some(Target {
                url,
                secret: own_secret,
            }));
        }
        Ok(self.url.clone().map(|url| Target {
            url,
            secret: own_secret.or_else(|| self.secret.clone().map(|s| (self.secret_namespace.clone(), s))),
        }))
    }
}

/// The Rollout a notification is about.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RolloutRef {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// The JSON body POSTed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Notification {
    /// The Rollout.
    pub rollout: RolloutRef,
    /// The revision of the update concerned, when known.
    pub revision: Option<i64>,
    /// The Rollout's phase.
    pub phase: Option<RolloutPhase>,
    /// The sentence (`status.feedback`).
    pub feedback: String,
    /// The structured causes (`status.why`).
    pub why: Vec<Why>,
    /// When the controller decided it.
    pub time: Timestamp,
}

impl Notification {
    /// The notification of `status` for the Rollout `namespace/name` at `revision` (the abort
    /// cause's revision wins); `None` when there is no sentence.
    pub fn of_status(
        namespace: &str,
        name: &str,
        revision: Option<i64>,
        status: &RolloutStatus,
        time: Timestamp,
    ) -> Option<Self> {
        if status.feedback.is_empty() {
            return None;
        }
        let revision = status.why.iter().find_map(|w| w.revision).or(revision);
        Some(Self {
            rollout: RolloutRef {
                namespace: namespace.to_string(),
                name: name.to_string(),
            },
            revision,
            phase: status.phase,
            feedback: status.feedback.clone(),
            why: status.why.clone(),
            time,
        })
    }

    /// The sentence's fingerprint (16 hex digits of its SHA-256).
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::digest(self.feedback.as_bytes());
        digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
    }

    /// `namespace/name/revision/fingerprint`: sent as `Idempotency-Key`, so a receiver can drop
    /// a repeat after a controller restart.
    pub fn key(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.rollout.namespace,
            self.rollout.name,
            self.revision.map_or_else(|| "-".to_string(), |r| r.to_string()),
            self.fingerprint()
        )
    }
}

/// A delivered notification.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivered {
    /// Attempts it took.
    pub attempts: u32,
    /// The final status.
    pub status: u16,
}

/// POSTs `body` to `url` with `auth` as `Authorization` (see [`Redacted::authorization`]),
/// retrying as `retry` says. The error names the URL without credentials, never the token.
pub async fn deliver(
    http: &reqwest::Client,
    url: &Url,
    auth: Option<&Redacted>,
    body: &Notification,
    retry: &RetryPolicy,
) -> Result<Delivered, NotifyError> {
    let shown = display_url(url);
    let attempts = retry.attempts.max(1);
    let mut n = 0;
    loop {
        n += 1;
        let mut request = http
            .post(url.clone())
            .timeout(retry.timeout)
            .header("Idempotency-Key", body.key())
            .json(body);
        if let Some(auth) = auth {
            // Marked sensitive: never printed by the HTTP stack's logs or Debug.
            let mut value = reqwest::header::HeaderValue::from_str(&auth.authorization()).map_err(|_| {
                NotifyError::Transport {
                    url: shown.clone(),
                    reason: "the Secret's value is not a valid header value".into(),
                    attempts: n,
                }
            })?;
            value.set_sensitive(true);
            request = request.header(reqwest::header::AUTHORIZATION, value);
        }
        let failure = match request.send().await {
            Ok(resp) if resp.status().is_success() => {
                return Ok(Delivered {
                    attempts: n,
                    status: resp.status().as_u16(),
                });
            }
            Ok(resp) => {
                let status = resp.status().as_u16();
                let err = NotifyError::Status {
                    url: shown.clone(),
                    status,
                    attempts: n,
                };
                if !retryable(status) {
                    return Err(err);
                }
                err
            }
            Err(e) => NotifyError::Transport {
                url: shown.clone(),
                // Without the URL: reqwest's text may repeat it with credentials.
                reason: e.without_url().to_string(),
                attempts: n,
            },
        };
        if n >= attempts {
            return Err(failure);
        }
        tracing::debug!(url = %shown, attempt = n, error = %failure, "notification attempt failed, retrying");
        tokio::time::sleep(retry.delay(n)).await;
    }
}

#[cfg(test)]
mod tests;
