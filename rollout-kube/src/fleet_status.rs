//! The fleet view of `rollout fleet status`: every environment's outcome of its current release,
//! read from the controllers' release series through the Prometheus HTTP API
//! ([`read_prometheus`]; federation or a central Prometheus aggregates clusters) or from Rollouts
//! directly ([`read_rollouts`]), classified by the core ([`assess`], [`decide`]) per release
//! ([`fleet_view`]), with the degraded list and the cost of safety when the controllers export it.

use std::collections::{BTreeMap, BTreeSet};

use analysis_providers::prometheus::{PrometheusConfig, PrometheusProvider, QueryResult, Series};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};
use rollout_core::Timestamp;
use rollout_core::fleet::brake::Hold;
use rollout_core::fleet::{
    Decision, EnvironmentHistory, EnvironmentOutcome, FailureClass, FleetHealth, OutcomeKind, ReleasePlan,
    assess, decide,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::metrics::outcomes::{DURATION_SERIES, OUTCOME_SERIES, OutcomeRow};
use crate::resources::Rollout;

/// The cost series, summed per release when present.
pub use crate::metrics::cost::{EXTRA_POD_SECONDS_SERIES, WALL_SECONDS_SERIES};
/// The most series one query may return (a bound on the work; 17k environments fit).
pub const MAX_SERIES: usize = 500_000;
/// Labels of the outcome series that the duration and cost series do not carry.
const OUTCOME_ONLY: [&str; 6] = ["image", "release", "outcome", "cause", "environment", "message"];
/// Labels every series carries that identify the Rollout (the rest identify the source).
const ROLLOUT_KEY: [&str; 3] = ["namespace", "rollout", "revision"];

/// Why the fleet's outcomes could not be read.
#[derive(Debug, thiserror::Error)]
pub enum FleetStatusError {
    /// Prometheus did not answer the query.
    #[error("prometheus query {query:?}: {source}")]
    Prometheus {
        /// The query.
        query: String,
        /// What went wrong.
        #[source]
        source: rollout_core::analysis::ProviderError,
    },
    /// Prometheus answered something other than an instant vector.
    #[error("prometheus query {query:?}: expected an instant vector")]
    NotAVector {
        /// The query.
        query: String,
    },
    /// More series than [`MAX_SERIES`].
    #[error("prometheus query {query:?}: {count} series (at most {MAX_SERIES})")]
    TooManySeries {
        /// The query.
        query: String,
        /// Series returned.
        count: usize,
    },
    /// Listing Rollouts failed.
    #[error("listing Rollouts in {source_name}: {source}")]
    Kube {
        /// The cluster (kube context).
        source_name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// One environment's outcome of its current release, with where it came from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseOutcome {
    /// The source: the series' other labels (`instance=…,job=…`) or the kube context.
    pub source: String,
    /// Namespace of the Rollout.
    pub namespace: String,
    /// The Rollout.
    pub rollout: String,
    /// The exported row (revision, image, release, environment, outcome, cause, message).
    pub row: OutcomeRow,
    /// Seconds from the update start to the outcome (or to now), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_seconds: Option<f64>,
    /// Pod-seconds above `spec.replicas`, when the controller exports the cost of safety.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub extra_pod_seconds: Option<f64>,
    /// Wall seconds of the update, when the controller exports the cost of safety.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wall_seconds: Option<f64>,
}

impl ReleaseOutcome {
    /// The outcome as the core classifies it (no history: every failure is judged on this
    /// release alone).
    pub fn environment_outcome(&self) -> EnvironmentOutcome {
        EnvironmentOutcome {
            environment: self.row.environment.clone(),
            kind: self.row.outcome,
            why: vec![],
            stable_unhealthy_before: false,
            retry_succeeded: false,
            history: EnvironmentHistory::default(),
        }
    }
}

/// What a set of series gave: the outcomes, and the series that could not be read.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outcomes {
    /// One per Rollout.
    pub outcomes: Vec<ReleaseOutcome>,
    /// Series left out, each with why (e.g. an outcome this version does not know).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

fn label<'a>(s: &'a Series, name: &str) -> &'a str {
    s.labels.get(name).map(String::as_str).unwrap_or_default()
}

/// The join key of a series: its labels without the name and the outcome-only labels.
fn key(s: &Series) -> BTreeMap<&str, &str> {
    s.labels
        .iter()
        .filter(|(k, _)| *k != "__name__" && !OUTCOME_ONLY.contains(&k.as_str()))
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

fn value(s: &Series) -> Option<f64> {
    s.points.first().map(|p| p.1).filter(|v| v.is_finite())
}

fn by_key(series: &[Series]) -> BTreeMap<BTreeMap<&str, &str>, f64> {
    series.iter().filter_map(|s| Some((key(s), value(s)?))).collect()
}

/// The outcomes of instant-vector answers to [`OUTCOME_SERIES`], [`DURATION_SERIES`] and the cost
/// series, joined on every label but the outcome-only ones (so federated series from several
/// clusters stay apart by their `cluster`/`instance` labels).
pub fn from_series(outcomes: &[Series], durations: &[Series], extra: &[Series], wall: &[Series]) -> Outcomes {
    let (durations, extra, wall) = (by_key(durations), by_key(extra), by_key(wall));
    let mut out = Outcomes::default();
    for s in outcomes {
        let text = label(s, "outcome");
        let Some(outcome) = OutcomeKind::ALL.into_iter().find(|k| k.as_str() == text) else {
            out.ignored
                .push(format!("{:?}: unknown outcome {text:?}", s.labels));
            continue;
        };
        let k = key(s);
        let source = k
            .iter()
            .filter(|(name, _)| !ROLLOUT_KEY.contains(name))
            .map(|(name, v)| format!("{name}={v}"))
            .collect::<Vec<_>>()
            .join(",");
        let row = OutcomeRow {
            revision: label(s, "revision").into(),
            image: label(s, "image").into(),
            release: label(s, "release").into(),
            environment: label(s, "environment").into(),
            outcome,
            cause: label(s, "cause").into(),
            message: label(s, "message").into(),
            started: None,
            finished: None,
        };
        out.outcomes.push(ReleaseOutcome {
            source,
            namespace: label(s, "namespace").into(),
            rollout: label(s, "rollout").into(),
            row,
            duration_seconds: durations.get(&k).copied(),
            extra_pod_seconds: extra.get(&k).copied(),
            wall_seconds: wall.get(&k).copied(),
        });
    }
    out
}

async fn instant(
    provider: &PrometheusProvider,
    address: &str,
    query: &str,
    now: Timestamp,
) -> Result<Vec<Series>, FleetStatusError> {
    let cfg = PrometheusConfig {
        address: address.to_string(),
        query: query.to_string(),
        ..PrometheusConfig::default()
    };
    let answer = provider
        .query(&cfg, now)
        .await
        .map_err(|source| FleetStatusError::Prometheus {
            query: query.to_string(),
            source,
        })?;
    match answer.result {
        QueryResult::Vector(v) if v.len() > MAX_SERIES => Err(FleetStatusError::TooManySeries {
            query: query.to_string(),
            count: v.len(),
        }),
        QueryResult::Vector(v) => Ok(v),
        _ => Err(FleetStatusError::NotAVector {
            query: query.to_string(),
        }),
    }
}

/// Reads the outcomes from Prometheus at `address` (`http://prometheus:9090`) at `now`.
pub async fn read_prometheus(address: &str, now: Timestamp) -> Result<Outcomes, FleetStatusError> {
    let provider = PrometheusProvider::new().map_err(|source| FleetStatusError::Prometheus {
        query: OUTCOME_SERIES.to_string(),
        source,
    })?;
    let mut answers = Vec::with_capacity(4);
    for query in [
        OUTCOME_SERIES,
        DURATION_SERIES,
        EXTRA_POD_SECONDS_SERIES,
        WALL_SECONDS_SERIES,
    ] {
        answers.push(instant(&provider, address, query, now).await?);
    }
    let [outcomes, durations, extra, wall] = <[Vec<Series>; 4]>::try_from(answers).unwrap_or_default();
    Ok(from_series(&outcomes, &durations, &extra, &wall))
}

/// The cost of safety of a Rollout's status at `now` (`status.cost`: the pod-seconds accumulated
/// up to `since` plus `extraPods` since then; wall time from `startedAt` to `finishedAt` or now).
fn cost(status: &Value, now: Timestamp) -> (Option<f64>, Option<f64>) {
    let Some(c) = status.get("cost") else {
        return (None, None);
    };
    let at = |k: &str| {
        c.get(k)
            .and_then(Value::as_str)
            .and_then(|t| t.parse::<Timestamp>().ok())
    };
    let end = at("finishedAt").unwrap_or(now);
    #[allow(clippy::cast_precision_loss)]
    let secs = |a: Timestamp, b: Timestamp| (b.as_second() - a.as_second()).max(0) as f64;
    let extra = c.get("extraPodSeconds").and_then(Value::as_f64).map(|base| {
        let pods = c.get("extraPods").and_then(Value::as_f64).unwrap_or(0.0);
        base + at("since").map_or(0.0, |s| pods * secs(s, end))
    });
    (extra, at("startedAt").map(|s| secs(s, end)))
}

/// Reads the outcomes from the Rollouts `client` sees (in `namespace`, else all), labelled with
/// `source` (the kube context).
pub async fn read_rollouts(
    client: Client,
    namespace: Option<&str>,
    source: &str,
    now: Timestamp,
) -> Result<Outcomes, FleetStatusError> {
    let api: Api<Rollout> = match namespace {
        Some(ns) => Api::namespaced(client, ns),
        None => Api::all(client),
    };
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| FleetStatusError::Kube {
            source_name: source.to_string(),
            source: e,
        })?;
    let mut out = Outcomes::default();
    for ro in &list.items {
        let Some(row) = OutcomeRow::of(&ro.metadata, &ro.spec, &ro.status) else {
            out.ignored.push(format!(
                "{source}: {}/{}: no update target yet",
                ro.namespace().unwrap_or_default(),
                ro.name_any()
            ));
            continue;
        };
        let (extra, wall) = cost(&ro.status, now);
        #[allow(clippy::cast_precision_loss)]
        let duration = row.duration_seconds(now).map(|d| d as f64);
        out.outcomes.push(ReleaseOutcome {
            source: source.to_string(),
            namespace: ro.namespace().unwrap_or_default(),
            rollout: ro.name_any(),
            row,
            duration_seconds: duration,
            extra_pod_seconds: extra,
            wall_seconds: wall,
        });
    }
    Ok(out)
}

/// One failed environment and its class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Classified {
    /// The environment.
    pub environment: String,
    /// Its outcome.
    pub outcome: OutcomeKind,
    /// Its class.
    pub class: FailureClass,
}

/// One entry of the degraded list: an environment whose update stopped (invalid spec, progress
/// deadline, analysis error or failure, unreachable provider, abort, replica failure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Degraded {
    /// The environment.
    pub environment: String,
    /// Namespace of the Rollout.
    pub namespace: String,
    /// The Rollout.
    pub rollout: String,
    /// The update target's pod-template hash.
    pub revision: String,
    /// The outcome.
    pub outcome: OutcomeKind,
    /// The typed cause's name.
    pub cause: String,
    /// The cause's sentence.
    pub message: String,
}

/// The cost of safety summed over a release's environments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseCost {
    /// Pod-seconds above `spec.replicas`.
    pub extra_pod_seconds: f64,
    /// Wall seconds of the updates.
    pub wall_seconds: f64,
    /// Environments that exported a cost.
    pub environments: u64,
}

/// One release across the fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReleaseView {
    /// The release.
    pub release: String,
    /// Counts, the sequential test's evidence and each outcome's class (input order of
    /// `environments`).
    pub health: FleetHealth,
    /// What the plan does next.
    pub decision: Decision,
    /// The decision as a sentence.
    pub decision_message: String,
    /// Every failed environment with its class.
    pub classified: Vec<Classified>,
    /// The degraded list.
    pub degraded: Vec<Degraded>,
    /// The cost of safety (`None` when no controller exports it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cost: Option<ReleaseCost>,
}

/// The whole fleet view.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetView {
    /// One per release, by name.
    pub releases: Vec<ReleaseView>,
    /// Series or Rollouts left out, with why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ignored: Vec<String>,
}

/// Whether an outcome belongs on the degraded list: the update stopped without promoting.
pub fn is_degraded(kind: OutcomeKind) -> bool {
    kind.is_failure() || kind == OutcomeKind::Stopped
}

/// The fleet view: per release, the core's assessment ([`assess`]) and the decision after wave
/// `wave` of `plan` ([`decide`], every outcome of the release counted as that wave's), the
/// classes, the degraded list and the summed cost.
pub fn fleet_view(plan: &ReleasePlan, wave: usize, outcomes: &Outcomes) -> FleetView {
    let releases: BTreeSet<&str> = outcomes.outcomes.iter().map(|o| o.row.release.as_str()).collect();
    let releases = releases
        .into_iter()
        .map(|release| {
            let mine: Vec<&ReleaseOutcome> = outcomes
                .outcomes
                .iter()
                .filter(|o| o.row.release == release)
                .collect();
            let env: Vec<EnvironmentOutcome> = mine.iter().map(|o| o.environment_outcome()).collect();
            let health = assess(plan, &env);
            let decision = decide(plan, wave, &health, &health.counts);
            let classified = mine
                .iter()
                .zip(&health.classes)
                .filter_map(|(o, c)| {
                    c.map(|class| Classified {
                        environment: o.row.environment.clone(),
                        outcome: o.row.outcome,
                        class,
                    })
                })
                .collect();
            let degraded = mine
                .iter()
                .filter(|o| is_degraded(o.row.outcome))
                .map(|o| Degraded {
                    environment: o.row.environment.clone(),
                    namespace: o.namespace.clone(),
                    rollout: o.rollout.clone(),
                    revision: o.row.revision.clone(),
                    outcome: o.row.outcome,
                    cause: o.row.cause.clone(),
                    message: o.row.message.clone(),
                })
                .collect();
            let costs: Vec<(f64, f64)> = mine
                .iter()
                .filter(|o| o.extra_pod_seconds.is_some() || o.wall_seconds.is_some())
                .map(|o| (o.extra_pod_seconds.unwrap_or(0.0), o.wall_seconds.unwrap_or(0.0)))
                .collect();
            let cost = (!costs.is_empty()).then(|| ReleaseCost {
                extra_pod_seconds: costs.iter().map(|c| c.0).sum(),
                wall_seconds: costs.iter().map(|c| c.1).sum(),
                environments: costs.len() as u64,
            });
            ReleaseView {
                release: release.to_string(),
                decision_message: decision.message(),
                health,
                decision,
                classified,
                degraded,
                cost,
            }
        })
        .collect();
    FleetView {
        releases,
        ignored: outcomes.ignored.clone(),
    }
}

/// The fleet-brake hold that halts `release` when its decision is a halt (`None` otherwise):
/// on the release's image when its environments share one, else on their shared revision, with
/// the decision's sentence as the reason. `rollout fleet status --halt` writes it with
/// [`crate::fleet_brake::add_hold`].
pub fn halt_hold(release: &ReleaseView, outcomes: &Outcomes, now: Timestamp) -> Option<Hold> {
    if !release.decision.is_halt() {
        return None;
    }
    let mine = || {
        outcomes
            .outcomes
            .iter()
            .filter(|o| o.row.release == release.release)
    };
    fn one(values: BTreeSet<&str>) -> Option<&str> {
        let mut it = values.into_iter();
        it.next().filter(|_| it.next().is_none())
    }
    let image = one(mine().map(|o| o.row.image.as_str()).collect()).filter(|i| !i.is_empty());
    let revision = one(mine().map(|o| o.row.revision.as_str()).collect()).filter(|r| !r.is_empty());
    let (image, revision) = match (image, revision) {
        (Some(i), _) => (Some(i.to_string()), None),
        (None, Some(r)) => (None, Some(r.to_string())),
        (None, None) => return None,
    };
    let reason = release.decision_message.chars().take(2000).collect();
    Some(Hold {
        image,
        revision,
        release: release.release.clone(),
        reason,
        since: now,
    })
}

#[cfg(test)]
mod tests;
