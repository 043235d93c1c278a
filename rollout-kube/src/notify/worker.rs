//! The [`Notifier`]: a bounded queue, one delivery worker, at-most-once bookkeeping and the
//! `rollout_notifications_total{outcome}` counter.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::Secret;
use kube::{Api, Client};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::registry::Registry;
use rollout_core::common::Timestamp;
use rollout_core::rollout::RolloutStatus;
use tokio::sync::mpsc;
use tracing::{info, warn};

use super::{Notification, NotifyConfig, NotifyError, Redacted, SecretRef, Target, deliver, display_url};

/// Sentences remembered per Rollout and revision (older ones may be sent again).
const REMEMBERED: usize = 16;
/// Rollouts remembered; past this the memory is cleared (a repeat may then be sent again).
const MAX_ROLLOUTS: usize = 65_536;

/// `rollout_notifications_total{outcome}`: `queued`, `sent`, `failed`, `dropped` (queue full),
/// `duplicate`, `invalid` (a bad URL or Secret reference).
#[derive(Clone, Debug, Default)]
pub struct NotifyMetrics {
    outcomes: Family<Vec<(String, String)>, Counter>,
}

impl NotifyMetrics {
    /// Registers the counter into `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "rollout_notifications",
            "Webhook notifications of feedback sentences by outcome",
            m.outcomes.clone(),
        );
        m
    }

    fn count(&self, outcome: &str) {
        self.outcomes.get_or_create(&labels(outcome)).inc();
    }

    /// The count of `outcome` so far.
    pub fn get(&self, outcome: &str) -> u64 {
        self.outcomes.get_or_create(&labels(outcome)).get()
    }
}

fn labels(outcome: &str) -> Vec<(String, String)> {
    vec![("outcome".to_string(), outcome.to_string())]
}

/// What [`Notifier::notify`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// Queued for delivery.
    Queued,
    /// No sentence, or no URL for this Rollout.
    Nothing,
    /// This sentence was already queued for this Rollout and revision.
    Duplicate,
    /// The queue was full: dropped (counted and logged).
    Dropped,
    /// The Rollout's annotations are invalid (counted and logged).
    Invalid(String),
}

struct Job {
    target: Target,
    body: Notification,
}

type Seen = HashMap<(String, String), (Option<i64>, VecDeque<String>)>;

/// Queues notifications and delivers them on a background task. Cheap to clone.
#[derive(Clone)]
pub struct Notifier {
    tx: mpsc::Sender<Job>,
    config: Arc<NotifyConfig>,
    metrics: NotifyMetrics,
    seen: Arc<Mutex<Seen>>,
}

impl std::fmt::Debug for Notifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Notifier").field("config", &self.config).finish()
    }
}

impl Notifier {
    /// Starts the delivery worker on the current Tokio runtime; it ends when every clone of
    /// the notifier is dropped. `client` reads the Secrets (`None`: a Secret reference fails the
    /// delivery).
    pub fn start(client: Option<Client>, config: NotifyConfig, metrics: NotifyMetrics) -> Self {
        let (tx, rx) = mpsc::channel(config.queue.max(1));
        let config = Arc::new(config);
        tokio::spawn(run(rx, client, config.clone(), metrics.clone()));
        Self {
            tx,
            config,
            metrics,
            seen: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// The counters.
    pub fn metrics(&self) -> &NotifyMetrics {
        &self.metrics
    }

    /// Queues the notification of `status` (its `feedback` and `why`) for the Rollout
    /// `namespace/name` with `annotations`, at most once per revision and sentence. Never waits.
    pub fn notify(
        &self,
        namespace: &str,
        name: &str,
        annotations: &BTreeMap<String, String>,
        revision: Option<i64>,
        status: &RolloutStatus,
        time: Timestamp,
    ) -> Queued {
        let target = match self.config.target(namespace, annotations) {
            Ok(Some(t)) => t,
            Ok(None) => return Queued::Nothing,
            Err(e) => {
                self.metrics.count("invalid");
                warn!(namespace, rollout = name, error = %e, "notification not sent");
                return Queued::Invalid(e.to_string());
            }
        };
        let Some(body) = Notification::of_status(namespace, name, revision, status, time) else {
            return Queued::Nothing;
        };
        let id = (namespace.to_string(), name.to_string());
        let fingerprint = body.fingerprint();
        if let Ok(seen) = self.seen.lock()
            && let Some((rev, fps)) = seen.get(&id)
            && *rev == body.revision
            && fps.contains(&fingerprint)
        {
            self.metrics.count("duplicate");
            return Queued::Duplicate;
        }
        let revision = body.revision;
        match self.tx.try_send(Job { target, body }) {
            Ok(()) => {
                self.metrics.count("queued");
                if let Ok(mut seen) = self.seen.lock() {
                    if seen.len() >= MAX_ROLLOUTS && !seen.contains_key(&id) {
                        seen.clear();
                    }
                    let entry = seen.entry(id).or_insert_with(|| (revision, VecDeque::new()));
                    if entry.0 != revision {
                        *entry = (revision, VecDeque::new());
                    }
                    if entry.1.len() >= REMEMBERED {
                        entry.1.pop_front();
                    }
                    entry.1.push_back(fingerprint);
                }
                Queued::Queued
            }
            Err(_) => {
                self.metrics.count("dropped");
                warn!(
                    namespace,
                    rollout = name,
                    queue = self.config.queue,
                    "notification queue full: notification dropped"
                );
                Queued::Dropped
            }
        }
    }
}

async fn run(
    mut rx: mpsc::Receiver<Job>,
    client: Option<Client>,
    config: Arc<NotifyConfig>,
    metrics: NotifyMetrics,
) {
    let http = reqwest::Client::new();
    while let Some(Job { target, body }) = rx.recv().await {
        let (ns, name) = (&body.rollout.namespace, &body.rollout.name);
        let auth = match &target.secret {
            Some((secret_ns, r)) => match read_secret(client.as_ref(), secret_ns, r).await {
                Ok(v) => Some(v),
                Err(e) => {
                    metrics.count("failed");
                    warn!(namespace = %ns, rollout = %name, error = %e, "notification not sent");
                    continue;
                }
            },
            None => None,
        };
        match deliver(&http, &target.url, auth.as_ref(), &body, &config.retry).await {
            Ok(d) => {
                metrics.count("sent");
                info!(namespace = %ns, rollout = %name, url = %display_url(&target.url),
                      attempts = d.attempts, "notification sent");
            }
            Err(e) => {
                metrics.count("failed");
                warn!(namespace = %ns, rollout = %name, error = %e, "notification failed");
            }
        }
    }
}

/// The value under `r.key` in the Secret `namespace/r.name`.
pub async fn read_secret(
    client: Option<&Client>,
    namespace: &str,
    r: &SecretRef,
) -> Result<Redacted, NotifyError> {
    let err = |reason: String| NotifyError::Secret {
        namespace: namespace.to_string(),
        name: r.name.clone(),
        key: r.key.clone(),
        reason,
    };
    let client = client.ok_or_else(|| err("no API client to read it with".into()))?;
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = api.get(&r.name).await.map_err(|e| err(e.to_string()))?;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&r.key))
        .ok_or_else(|| err("no such key".into()))?;
    let value = String::from_utf8(bytes.0.clone()).map_err(|_| err("not UTF-8".into()))?;
    Ok(Redacted::new(value.trim()))
}
