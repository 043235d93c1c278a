//! The outcome of every Rollout's current release, exported for fleet tools (`rollout fleet
//! status`) and computed at scrape time from the controller's Rollout cache:
//!
//! - `rollout_release_outcome{namespace,rollout,revision,image,release,outcome,cause,environment,message} 1`
//! - `rollout_release_duration_seconds{namespace,rollout,revision}`: update start → outcome, or
//!   → now while the update is undecided.
//!
//! Always on (unlike Argo's per-object gauges behind `per_object_metrics`): fleet views need them
//! from every controller, and they are bounded, two series per Rollout. The labels:
//! `revision` is the pod-template hash of the update target (`status.currentPodHash`), `image`
//! the first container's image, `release` the [`RELEASE_ANNOTATION`] or else the image,
//! `environment` the [`ENVIRONMENT_ANNOTATION`] or else `namespace/name`, `outcome`
//! [`OutcomeKind::as_str`], `cause` the name of the typed cause that decided the outcome
//! (`AnalysisFailed`, `ProgressDeadline`, ...; empty without one) and `message` its sentence
//! (at most [`MAX_MESSAGE`] bytes), so that a fleet view read from Prometheus can list it.
//!
//! Until the status has caught up with the spec (`status.observedGeneration` = `metadata.generation`)
//! the outcome is `in-progress` without a cause: the status describes the previous update.
//!
//! The update start is `status.cost.startedAt` when the controller keeps cost accounting, else
//! the time the `Completed` condition turned `False` (the update began); the end is
//! `status.cost.finishedAt`, else the `Progressing` condition's last transition once it is
//! `False` (aborted, timed out) or the `Completed` condition's once promoted. A promoted Rollout
//! without `status.cost` has no known start, so no duration series.

use kube::ResourceExt;
use kube::api::ObjectMeta;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use rollout_core::Timestamp;
use rollout_core::fleet::OutcomeKind;
use rollout_core::rollout::{RolloutPhase, Why};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::resources::Rollout;

/// Annotation naming the release a Rollout's update belongs to (default: its first image).
pub const RELEASE_ANNOTATION: &str = "rollout.io/release";
/// Annotation naming the Rollout's environment (default: `namespace/name`).
pub const ENVIRONMENT_ANNOTATION: &str = "rollout.io/environment";
/// The longest `message` label, in bytes (cut at a character boundary).
pub const MAX_MESSAGE: usize = 240;
/// The longest `release`, `environment` and `image` labels, in bytes.
const MAX_LABEL: usize = 253;

/// Name of the outcome series.
pub const OUTCOME_SERIES: &str = "rollout_release_outcome";
/// Name of the duration series.
pub const DURATION_SERIES: &str = "rollout_release_duration_seconds";

/// One Rollout's current release and its outcome, as exported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutcomeRow {
    /// Pod-template hash of the update target.
    pub revision: String,
    /// The first container's image (empty when the template is elsewhere, e.g. `workloadRef`).
    pub image: String,
    /// The release ([`RELEASE_ANNOTATION`], else the image).
    pub release: String,
    /// The environment ([`ENVIRONMENT_ANNOTATION`], else `namespace/name`).
    pub environment: String,
    /// The outcome.
    pub outcome: OutcomeKind,
    /// The deciding cause's name (`AnalysisFailed`, ...), empty without one.
    pub cause: String,
    /// The deciding cause's sentence, empty without one.
    pub message: String,
    /// Update start, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started: Option<i64>,
    /// When the outcome was reached, Unix seconds (`None` while undecided).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished: Option<i64>,
}

impl OutcomeRow {
    /// The row of a Rollout from its metadata, spec and status (as stored); `None` before the
    /// controller recorded an update target (`status.currentPodHash`).
    pub fn of(meta: &ObjectMeta, spec: &Value, status: &Value) -> Option<OutcomeRow> {
        let revision = text(status, "/currentPodHash");
        if revision.is_empty() {
            return None;
        }
        let image = cut(text(spec, "/template/spec/containers/0/image"), MAX_LABEL);
        let annotation = |k: &str| {
            meta.annotations
                .as_ref()
                .and_then(|a| a.get(k))
                .filter(|v| !v.is_empty())
                .map(|v| cut(v, MAX_LABEL))
        };
        let release = annotation(RELEASE_ANNOTATION).unwrap_or_else(|| image.clone());
        let environment = annotation(ENVIRONMENT_ANNOTATION).unwrap_or_else(|| {
            format!(
                "{}/{}",
                meta.namespace.as_deref().unwrap_or_default(),
                meta.name.as_deref().unwrap_or_default()
            )
        });
        let phase = status
            .get("phase")
            .and_then(|p| serde_json::from_value::<RolloutPhase>(p.clone()).ok())
            .unwrap_or(RolloutPhase::Progressing);
        // Causes that do not parse (another version's) are left out rather than failing the row.
        let why: Vec<Why> = status
            .get("why")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|w| serde_json::from_value(w.clone()).ok())
            .collect();
        // A status that has not caught up with the spec describes the previous update.
        let observed = match status.get("observedGeneration") {
            Some(Value::String(g)) => g.parse::<i64>().ok(),
            Some(g) => g.as_i64(),
            None => None,
        };
        let current = meta.generation.is_none_or(|g| observed == Some(g));
        let why = if current { why } else { vec![] };
        let outcome = if current {
            OutcomeKind::from_status(phase, &why)
        } else {
            OutcomeKind::InProgress
        };
        let deciding = why
            .iter()
            .find(|w| OutcomeKind::from_status(phase, std::slice::from_ref(*w)) == outcome)
            .or(why.first());
        let (cause, message) = match deciding {
            Some(w) => (
                serde_json::to_value(w.cause)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_string))
                    .unwrap_or_default(),
                cut(&w.message(), MAX_MESSAGE),
            ),
            None => (String::new(), String::new()),
        };
        let (started, finished) = times(status, outcome);
        Some(OutcomeRow {
            revision: revision.to_string(),
            image,
            release,
            environment,
            outcome,
            cause,
            message,
            started,
            finished,
        })
    }

    /// Seconds from the update start to the outcome, or to `now` while undecided; `None`
    /// without a known start.
    pub fn duration_seconds(&self, now: Timestamp) -> Option<i64> {
        let start = self.started?;
        let end = self.finished.unwrap_or_else(|| now.as_second());
        Some(end.saturating_sub(start).max(0))
    }
}

fn text<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or_default()
}

/// `s` cut to at most `max` bytes at a character boundary.
fn cut(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

fn seconds(v: &Value, pointer: &str) -> Option<i64> {
    v.pointer(pointer)
        .and_then(Value::as_str)
        .and_then(|t| t.parse::<Timestamp>().ok())
        .map(Timestamp::as_second)
}

/// `(start, end)` of the update (module docs).
fn times(status: &Value, outcome: OutcomeKind) -> (Option<i64>, Option<i64>) {
    let condition = |kind: &str| {
        status
            .get("conditions")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(kind))
    };
    let transition = |kind: &str, state: &str| {
        condition(kind)
            .filter(|c| c.get("status").and_then(Value::as_str) == Some(state))
            .and_then(|c| seconds(c, "/lastTransitionTime"))
    };
    let started = seconds(status, "/cost/startedAt").or_else(|| transition("Completed", "False"));
    let decided = !matches!(outcome, OutcomeKind::InProgress | OutcomeKind::Inconclusive);
    let finished = if decided {
        seconds(status, "/cost/finishedAt").or_else(|| {
            if outcome == OutcomeKind::Promoted {
                transition("Completed", "True")
            } else {
                transition("Progressing", "False")
            }
        })
    } else {
        None
    };
    (started, finished)
}

/// What the trimmed Rollout cache keeps in `spec` for these series: `{"outcome": row}`, or
/// `null` without a row ([`super::trim_cached_rollout`]).
pub(super) fn cached(meta: &ObjectMeta, spec: &Value, status: &Value) -> Value {
    OutcomeRow::of(meta, spec, status)
        .and_then(|row| serde_json::to_value(row).ok())
        .map_or(Value::Null, |row| serde_json::json!({ "outcome": row }))
}

/// The row a trimmed cached Rollout keeps.
fn cached_row(ro: &Rollout) -> Option<OutcomeRow> {
    let row = ro.spec.get("outcome")?;
    serde_json::from_value(row.clone()).ok()
}

/// `rollout_release_outcome` and `rollout_release_duration_seconds` for the cached `rollouts`
/// at `now` (nothing when none has a row).
pub(super) fn encode<'a>(
    encoder: &mut DescriptorEncoder,
    rollouts: impl Iterator<Item = &'a Rollout>,
    now: Timestamp,
) -> Result<(), std::fmt::Error> {
    let rows: Vec<(String, String, OutcomeRow)> = rollouts
        .filter_map(|ro| Some((ro.namespace().unwrap_or_default(), ro.name_any(), cached_row(ro)?)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let mut e = encoder.encode_descriptor(
        OUTCOME_SERIES,
        "The outcome of each Rollout's current release (1 per Rollout), with its typed cause.",
        None,
        MetricType::Gauge,
    )?;
    for (ns, name, r) in &rows {
        let labels = [
            ("namespace", ns.as_str()),
            ("rollout", name.as_str()),
            ("revision", r.revision.as_str()),
            ("image", r.image.as_str()),
            ("release", r.release.as_str()),
            ("outcome", r.outcome.as_str()),
            ("cause", r.cause.as_str()),
            ("environment", r.environment.as_str()),
            ("message", r.message.as_str()),
        ];
        e.encode_family(&labels)?.encode_gauge(&1i64)?;
    }
    let mut e = encoder.encode_descriptor(
        DURATION_SERIES,
        "Seconds from the start of each Rollout's current update to its outcome, or to now while undecided.",
        None,
        MetricType::Gauge,
    )?;
    for (ns, name, r) in &rows {
        if let Some(d) = r.duration_seconds(now) {
            let labels = [
                ("namespace", ns.as_str()),
                ("rollout", name.as_str()),
                ("revision", r.revision.as_str()),
            ];
            e.encode_family(&labels)?.encode_gauge(&d)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use kube::runtime::reflector;
    use kube::runtime::watcher;
    use prometheus_client::registry::Registry;
    use serde_json::json;

    use super::*;
    use crate::metrics::{Metrics, Sources, trim_cached_rollout};

    fn condition(kind: &str, status: &str, at: &str) -> Value {
        json!({"type": kind, "status": status, "lastTransitionTime": at, "lastUpdateTime": at,
               "reason": "r", "message": "m"})
    }

    fn why(cause: &str, detail: &str) -> Value {
        json!({"cause": cause, "condition": "Progressing", "reason": "RolloutAborted",
               "revision": 2, "detail": detail})
    }

    fn rollout(name: &str, annotations: Value, status: Value) -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": "shop", "annotations": annotations},
            "spec": {"template": {"spec": {"containers": [{"name": "app", "image": "shop:v2"},
                                                          {"name": "sidecar", "image": "proxy:v1"}]}}},
            "status": status,
        }))
        .unwrap()
    }

    fn row(ro: &Rollout) -> Option<OutcomeRow> {
        OutcomeRow::of(&ro.metadata, &ro.spec, &ro.status)
    }

    /// Annotations, status, outcome, cause, message part, release, environment, duration.
    type Case = (
        Value,
        Value,
        OutcomeKind,
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        Option<i64>,
    );

    #[test]
    fn rows_name_the_outcome_its_cause_and_the_update_times() {
        let t0 = "2026-12-02T10:00:00Z";
        let t1 = "2026-12-02T10:05:00Z";
        let base = Timestamp::from_second(1_796_205_600).unwrap(); // 2026-12-02T10:00:00Z
        let now = Timestamp::from_second(base.as_second() + 1_000).unwrap();
        // (annotations, status, outcome, cause, message contains, release, environment, duration)
        let cases: Vec<Case> = vec![
            (
                json!({}),
                json!({"currentPodHash": "abc", "phase": "Healthy",
                       "cost": {"startedAt": t0, "finishedAt": t1}}),
                OutcomeKind::Promoted,
                "",
                "",
                "shop:v2",
                "shop/web",
                Some(300),
            ),
            (
                json!({"rollout.io/release": "v2.4.0", "rollout.io/environment": "eu-1/shop"}),
                json!({"currentPodHash": "abc", "phase": "Degraded",
                       "why": [why("AnalysisFailed", "metric error-ratio failed")],
                       "conditions": [condition("Completed", "False", t0),
                                      condition("Progressing", "False", t1)]}),
                OutcomeKind::AnalysisFailed,
                "AnalysisFailed",
                "error-ratio failed",
                "v2.4.0",
                "eu-1/shop",
                Some(300),
            ),
            (
                json!({}),
                json!({"currentPodHash": "abc", "phase": "Degraded",
                       "why": [why("UserAbort", ""), why("ProgressDeadline", "ReplicaSet \"web-abc\" has timed out progressing.")],
                       "conditions": [condition("Completed", "False", t0)]}),
                OutcomeKind::ProgressDeadline,
                "ProgressDeadline",
                "timed out",
                "shop:v2",
                "shop/web",
                // Decided, but without an end (no `Progressing` False): the duration runs to now.
                Some(1_000),
            ),
            (
                json!({"rollout.io/release": ""}),
                json!({"currentPodHash": "abc", "phase": "Progressing",
                       "conditions": [condition("Completed", "False", t0)]}),
                OutcomeKind::InProgress,
                "",
                "",
                "shop:v2",
                "shop/web",
                Some(1_000),
            ),
        ];
        for (i, (annotations, status, outcome, cause, message, release, env, duration)) in
            cases.into_iter().enumerate()
        {
            let r = row(&rollout("web", annotations, status)).unwrap();
            assert_eq!(r.outcome, outcome, "case {i}");
            assert_eq!(r.cause, cause, "case {i}");
            assert!(r.message.contains(message), "case {i}: {}", r.message);
            assert_eq!(
                (r.release.as_str(), r.environment.as_str()),
                (release, env),
                "case {i}"
            );
            assert_eq!(
                (r.revision.as_str(), r.image.as_str()),
                ("abc", "shop:v2"),
                "case {i}"
            );
            assert_eq!(r.duration_seconds(now), duration, "case {i}");
        }
        // A spec the status has not caught up with: in progress, without the old causes.
        let mut stale = rollout(
            "web",
            json!({}),
            json!({"currentPodHash": "abc", "phase": "Degraded", "observedGeneration": "3",
                   "why": [why("AnalysisFailed", "old")]}),
        );
        stale.metadata.generation = Some(4);
        let r = row(&stale).unwrap();
        assert_eq!((r.outcome, r.cause.as_str()), (OutcomeKind::InProgress, ""));
        stale.metadata.generation = Some(3);
        assert_eq!(row(&stale).unwrap().outcome, OutcomeKind::AnalysisFailed);
        // No update target yet: no row.
        assert_eq!(
            row(&rollout("web", json!({}), json!({"phase": "Progressing"}))),
            None
        );
    }

    #[test]
    fn long_messages_are_cut_at_a_character_boundary() {
        let long = "é".repeat(400);
        let r = row(&rollout(
            "web",
            json!({}),
            json!({"currentPodHash": "abc", "phase": "Degraded", "why": [why("InvalidSpec", &long)]}),
        ))
        .unwrap();
        assert!(
            r.message.len() <= MAX_MESSAGE && r.message.len() >= MAX_MESSAGE - 1,
            "{}",
            r.message.len()
        );
        assert_eq!(r.outcome, OutcomeKind::InvalidSpec);
    }

    #[test]
    fn the_series_are_on_without_per_object_metrics_one_per_rollout() {
        let mut failed = rollout(
            "web",
            json!({"rollout.io/release": "v2"}),
            json!({"currentPodHash": "abc", "phase": "Degraded",
                   "why": [why("AnalysisFailed", "canary error ratio 2.3%")],
                   "conditions": [condition("Completed", "False", "2026-12-02T10:00:00Z"),
                                  condition("Progressing", "False", "2026-12-02T10:01:40Z")]}),
        );
        let mut fresh = rollout("new", json!({}), json!({}));
        trim_cached_rollout(&mut failed, false);
        trim_cached_rollout(&mut fresh, false);
        assert_eq!(fresh.spec, Value::Null);
        let (reader, mut writer) = reflector::store();
        for o in [failed, fresh] {
            writer.apply_watcher_event(&watcher::Event::Apply(o));
        }
        let mut registry = Registry::default();
        let m = Metrics::register(&mut registry);
        let _a = m.attach(
            false,
            Sources {
                rollouts: reader,
                runs: None,
            },
        );
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &registry).unwrap();
        let outcome: Vec<&str> = out
            .lines()
            .filter(|l| l.starts_with("rollout_release_outcome{"))
            .collect();
        assert_eq!(
            outcome,
            [concat!(
                r#"rollout_release_outcome{namespace="shop",rollout="web",revision="abc",image="shop:v2","#,
                r#"release="v2",outcome="analysis-failed",cause="AnalysisFailed",environment="shop/web","#,
                r#"message="Rollout aborted update to revision 2: canary error ratio 2.3%"} 1"#
            )],
            "{out}"
        );
        assert!(
            out.contains(
                r#"rollout_release_duration_seconds{namespace="shop",rollout="web",revision="abc"} 100"#
            ),
            "{out}"
        );
        assert!(!out.contains("rollout_info"), "{out}");
    }
}
