//! `rollout fleet audit` on the API server: the [`AuditEntry`]s of a namespace (or all) read from
//! the AnalysisRuns the controller keeps and the Rollouts' status, and [`mark`] (an operator's
//! review as an annotation on a run). The grouping, rates and buckets are the core's
//! ([`rollout_core::fleet::audit`]).
//!
//! Where the history comes from, and its limits:
//! - one entry per AnalysisRun owned by a Rollout: its outcome from the run's phase, its causes
//!   from the Rollout's `status.why` when they name the run (else rebuilt from the run's status
//!   as the controller does), its judges from its `judge` metrics. Runs are kept only up to the
//!   Rollout's `analysisRunHistoryLimit`s (default 5 successful and 5 unsuccessful), so older
//!   updates are gone;
//! - its templates from the [`TEMPLATES_ANNOTATION`] when present, else from the Rollout's current
//!   spec at the run's `rollout-type`/`step-index` labels — right unless the steps changed since;
//! - one entry for the causes of a Rollout's latest update that no run explains (progress
//!   deadline, invalid spec, replica failure, an abort): a Rollout's status shows only its latest
//!   update, so earlier ones of these are not seen. Events are not read (they expire after an
//!   hour by default).

use std::collections::BTreeSet;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, ListParams, ObjectList, Patch, PatchParams};
use kube::{Client, ResourceExt};
use rollout_core::analysis::{AnalysisPhase, AnalysisRun as CoreRun};
use rollout_core::common::Timestamp;
use rollout_core::fleet::OutcomeKind;
use rollout_core::fleet::audit::{AuditEntry, REVIEW_ANNOTATION, REVIEW_NOTE_ANNOTATION, Review};
use rollout_core::rollout::{
    AnalysisRunKind, Cause, DecidingMetric, ObservedAnalysisRun, RolloutPhase, RolloutStatus, Why,
};
use serde_json::{Value, json};

use crate::resources::{AnalysisRun, Rollout};

/// The annotation naming the templates a run was built from (the core writes it).
pub use rollout_core::rollout::decision::TEMPLATES_ANNOTATION;

/// Objects listed per request.
pub const PAGE: u32 = 500;
/// The most AnalysisRuns or Rollouts read per scope; more is an error (narrow the scope).
pub const MAX_OBJECTS: usize = 50_000;

/// Why the audit could not read or mark.
#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    /// A request failed.
    #[error("{what}: {source}")]
    Request {
        /// What was asked.
        what: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// More objects than [`MAX_OBJECTS`].
    #[error("more than {MAX_OBJECTS} {kind} in {scope}: audit one namespace at a time")]
    TooMany {
        /// Kind listed.
        kind: &'static str,
        /// Namespace or "all namespaces".
        scope: String,
    },
}

/// The entries of one scope, and the runs that could not be read (name: why).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Collected {
    /// One per run owned by a Rollout, plus the Rollouts' causes without a run.
    pub entries: Vec<AuditEntry>,
    /// Runs skipped, with why.
    pub skipped: Vec<String>,
}

async fn list_all<K>(api: &Api<K>, kind: &'static str, scope: &str) -> Result<Vec<K>, AuditError>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let mut params = ListParams::default().limit(PAGE);
        if let Some(t) = &token {
            params = params.continue_token(t);
        }
        let page: ObjectList<K> = api.list(&params).await.map_err(|source| AuditError::Request {
            what: format!("list {kind} in {scope}"),
            source,
        })?;
        items.extend(page.items);
        if items.len() > MAX_OBJECTS {
            return Err(AuditError::TooMany {
                kind,
                scope: scope.to_string(),
            });
        }
        token = page.metadata.continue_.filter(|t| !t.is_empty());
        if token.is_none() {
            return Ok(items);
        }
    }
}

/// Reads the entries of `namespace` (`None`: all namespaces); `context` prefixes environment
/// names; `now` dates the Rollout causes whose condition has no time.
pub async fn collect(
    client: &Client,
    namespace: Option<&str>,
    context: Option<&str>,
    now: Timestamp,
) -> Result<Collected, AuditError> {
    let (runs, rollouts): (Api<AnalysisRun>, Api<Rollout>) = match namespace {
        Some(ns) => (
            Api::namespaced(client.clone(), ns),
            Api::namespaced(client.clone(), ns),
        ),
        None => (Api::all(client.clone()), Api::all(client.clone())),
    };
    let scope = namespace.map_or("all namespaces".to_string(), |ns| format!("namespace {ns}"));
    let runs = list_all(&runs, "AnalysisRuns", &scope).await?;
    let rollouts = list_all(&rollouts, "Rollouts", &scope).await?;
    Ok(entries_from(&rollouts, &runs, context, now))
}

/// The entries of these objects (pure over the listed objects).
pub fn entries_from(
    rollouts: &[Rollout],
    runs: &[AnalysisRun],
    context: Option<&str>,
    now: Timestamp,
) -> Collected {
    let mut out = Collected::default();
    let env = |ns: &str, name: &str| match context {
        Some(c) => format!("{c}/{ns}/{name}"),
        None => format!("{ns}/{name}"),
    };
    let status_of =
        |ro: &Rollout| serde_json::from_value::<RolloutStatus>(ro.status.clone()).unwrap_or_default();
    for run in runs {
        let ns = run.namespace().unwrap_or_default();
        let Some(owner) = run.owner_references().iter().find(|o| o.kind == "Rollout") else {
            continue;
        };
        let ro = rollouts
            .iter()
            .find(|r| r.name_any() == owner.name && r.namespace().as_deref() == Some(ns.as_str()));
        match run_entry(run, ro, &env(&ns, &owner.name), ro.map(status_of).as_ref()) {
            Ok(e) => out.entries.push(e),
            Err(why) => out.skipped.push(format!("{ns}/{}: {why}", run.name_any())),
        }
    }
    for ro in rollouts {
        let status = status_of(ro);
        let ns = ro.namespace().unwrap_or_default();
        if let Some(e) = rollout_entry(&status, &env(&ns, &ro.name_any()), now) {
            out.entries.push(e);
        }
    }
    out
}

fn time(t: Option<&Time>) -> Option<Timestamp> {
    t.and_then(crate::snapshot::time_of)
}

fn run_entry(
    run: &AnalysisRun,
    ro: Option<&Rollout>,
    environment: &str,
    status: Option<&RolloutStatus>,
) -> Result<AuditEntry, String> {
    let core: CoreRun = run.to_core().map_err(|e| e.to_string())?;
    let labels = run.labels();
    let kind = match labels.get("rollout-type").map(String::as_str) {
        Some("Step") => AnalysisRunKind::Step,
        Some("Background") => AnalysisRunKind::Background,
        Some("PrePromotion" | "BlueGreenPrePromotion") => AnalysisRunKind::PrePromotion,
        Some("PostPromotion" | "BlueGreenPostPromotion") => AnalysisRunKind::PostPromotion,
        other => return Err(format!("unknown rollout-type label {other:?}")),
    };
    let step_index = labels.get("step-index").and_then(|s| s.parse().ok());
    let run_status = core.status.clone().unwrap_or_default();
    let name = run.name_any();
    let observed = ObservedAnalysisRun {
        name: name.clone(),
        kind,
        pod_template_hash: labels
            .get(rollout_core::rollout::hash::POD_TEMPLATE_HASH_LABEL)
            .cloned()
            .unwrap_or_default(),
        step_index,
        phase: run_status.phase,
        message: run_status.message.clone(),
        terminating: core.spec.terminate,
        created_at: time(run.metadata.creation_timestamp.as_ref()),
        decided_by: DecidingMetric::of_run(&run_status),
    };
    let from_rollout: Vec<Why> = status
        .map(|s| {
            s.why
                .iter()
                .filter(|w| w.run.as_ref().is_some_and(|r| r.name == name))
                .cloned()
                .collect()
        })
        .unwrap_or_default();
    let mut why: Vec<Why> = if from_rollout.is_empty() {
        Why::analysis(&observed, run_status.message.clone())
            .into_iter()
            .collect()
    } else {
        from_rollout
    };
    // The Rollout may have recorded the cause before the run's deciding metric was visible.
    for w in why.iter_mut().filter(|w| w.metric.is_none()) {
        w.metric = observed.decided_by.as_ref().map(DecidingMetric::to_why);
    }
    let outcome = match run_status.phase {
        AnalysisPhase::Successful => OutcomeKind::Promoted,
        AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive => {
            OutcomeKind::from_status(RolloutPhase::Degraded, &why)
        }
        _ => OutcomeKind::InProgress,
    };
    let templates = match run.annotations().get(TEMPLATES_ANNOTATION) {
        Some(list) => list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(String::from)
            .collect(),
        None => ro
            .map(|ro| spec_templates(&ro.spec, kind, step_index))
            .unwrap_or_default(),
    };
    let judges: BTreeSet<String> = core
        .spec
        .metrics
        .iter()
        .filter_map(|m| m.provider.judge.as_ref().map(|j| j.name.clone()))
        .collect();
    let at = run_status
        .completed_at
        .or(run_status.started_at)
        .or(observed.created_at)
        .ok_or("no completion, start or creation time")?;
    Ok(AuditEntry {
        environment: environment.to_string(),
        pod_template_hash: observed.pod_template_hash,
        run: Some(name),
        templates,
        judges: judges.into_iter().collect(),
        at,
        outcome,
        why,
        review: run
            .annotations()
            .get(REVIEW_ANNOTATION)
            .and_then(|v| Review::parse(v)),
        note: run
            .annotations()
            .get(REVIEW_NOTE_ANNOTATION)
            .cloned()
            .unwrap_or_default(),
    })
}

/// The template names the Rollout's current spec gives a run of this kind and step.
fn spec_templates(spec: &Value, kind: AnalysisRunKind, step: Option<i32>) -> Vec<String> {
    let analysis = match kind {
        AnalysisRunKind::Step => {
            let i = step.and_then(|i| usize::try_from(i).ok()).unwrap_or(usize::MAX);
            &spec["strategy"]["canary"]["steps"][i]["analysis"]
        }
        AnalysisRunKind::Background => &spec["strategy"]["canary"]["analysis"],
        AnalysisRunKind::PrePromotion => &spec["strategy"]["blueGreen"]["prePromotionAnalysis"],
        AnalysisRunKind::PostPromotion => &spec["strategy"]["blueGreen"]["postPromotionAnalysis"],
    };
    analysis["templates"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t["templateName"].as_str().map(String::from))
        .collect()
}

/// The causes of the Rollout's latest update that no run explains, as one entry (none when they
/// leave the update promoted or in progress).
fn rollout_entry(status: &RolloutStatus, environment: &str, now: Timestamp) -> Option<AuditEntry> {
    let why: Vec<Why> = status.why.iter().filter(|w| w.run.is_none()).cloned().collect();
    let outcome = OutcomeKind::from_status(RolloutPhase::Degraded, &why);
    if matches!(outcome, OutcomeKind::Promoted | OutcomeKind::InProgress) {
        return None;
    }
    let first = why.iter().find(|w| !matches!(w.cause, Cause::GroupHold))?;
    let at = status
        .conditions
        .iter()
        .find(|c| c.kind == first.condition)
        .map(|c| c.last_transition_time)
        .or(status.aborted_at)
        .unwrap_or(now);
    Some(AuditEntry {
        environment: environment.to_string(),
        pod_template_hash: status.current_pod_hash.clone(),
        run: None,
        templates: Vec::new(),
        judges: Vec::new(),
        at,
        outcome,
        why,
        review: None,
        note: String::new(),
    })
}

/// Marks the run `namespace/run` with `review` and `note` (no note removes an earlier one).
pub async fn mark(
    client: &Client,
    namespace: &str,
    run: &str,
    review: Review,
    note: Option<&str>,
) -> Result<(), AuditError> {
    let api: Api<AnalysisRun> = Api::namespaced(client.clone(), namespace);
    let patch = json!({"metadata": {"annotations": {
        REVIEW_ANNOTATION: review.as_str(),
        REVIEW_NOTE_ANNOTATION: note,
    }}});
    api.patch(run, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(|_| ())
        .map_err(|source| AuditError::Request {
            what: format!("mark AnalysisRun {namespace}/{run}"),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(name: &str, labels: Value, status: Value, annotations: Value) -> AnalysisRun {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisRun",
            "metadata": {"name": name, "namespace": "shop", "labels": labels, "annotations": annotations,
                         "creationTimestamp": "2026-12-01T10:00:00Z",
                         "ownerReferences": [{"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                                              "name": "web", "uid": "u1"}]},
            "spec": {"metrics": [
                {"name": "ratio", "provider": {"judge": {"name": "error-ratio", "sha256": "00"}}},
                {"name": "up", "provider": {"web": {"url": "http://x"}}}]},
            "status": status
        }))
        .unwrap()
    }

    fn rollout(status: Value) -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"strategy": {"canary": {
                "analysis": {"templates": [{"templateName": "bg"}]},
                "steps": [{"setWeight": 20}, {"analysis": {"templates": [{"templateName": "health"}, {"templateName": "latency"}]}}]}}},
            "status": status
        }))
        .unwrap()
    }

    #[test]
    fn runs_and_rollout_causes_become_entries() {
        let now: Timestamp = "2026-12-02T00:00:00Z".parse().unwrap();
        let step = json!({"rollout-type": "Step", "step-index": "1", "rollouts-pod-template-hash": "h2"});
        let runs = [
            run(
                "web-h2-2-1",
                step.clone(),
                json!({"phase": "Failed", "message": "metric \"up\" assessed Failed", "completedAt": "2026-12-01T10:05:00Z"}),
                json!({REVIEW_ANNOTATION: "false-alarm", REVIEW_NOTE_ANNOTATION: "probe was down"}),
            ),
            run(
                "web-h1-1-bg",
                json!({"rollout-type": "Background", "rollouts-pod-template-hash": "h1"}),
                json!({"phase": "Successful"}),
                json!({TEMPLATES_ANNOTATION: "pinned, other"}),
            ),
            run("web-h3-3-1", step.clone(), json!({"phase": "Running"}), json!({})),
            run(
                "web-odd",
                json!({"rollout-type": "Experiment"}),
                json!({}),
                json!({}),
            ),
        ];
        let ro = rollout(json!({
            "currentPodHash": "h3",
            "why": [{"cause": "ProgressDeadline", "condition": "Progressing", "reason": "ProgressDeadlineExceeded",
                     "detail": "ReplicaSet web-h3 has timed out progressing."}],
            "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                            "message": "", "lastUpdateTime": "2026-12-01T12:00:00Z",
                            "lastTransitionTime": "2026-12-01T11:00:00Z"}]
        }));
        let c = entries_from(&[ro], &runs, Some("eu"), now);
        assert_eq!(c.skipped.len(), 1, "{:?}", c.skipped);
        assert!(c.skipped[0].contains("Experiment"), "{:?}", c.skipped);
        let rows: Vec<_> = c
            .entries
            .iter()
            .map(|e| {
                (
                    e.environment.as_str(),
                    e.run.as_deref(),
                    e.outcome,
                    e.templates.join(","),
                    e.review,
                    e.at.to_string(),
                )
            })
            .collect();
        assert_eq!(
            rows,
            [
                (
                    "eu/shop/web",
                    Some("web-h2-2-1"),
                    OutcomeKind::AnalysisFailed,
                    "health,latency".into(),
                    Some(Review::FalseAlarm),
                    "2026-12-01T10:05:00Z".into()
                ),
                (
                    "eu/shop/web",
                    Some("web-h1-1-bg"),
                    OutcomeKind::Promoted,
                    "pinned,other".into(),
                    None,
                    "2026-12-01T10:00:00Z".into()
                ),
                (
                    "eu/shop/web",
                    Some("web-h3-3-1"),
                    OutcomeKind::InProgress,
                    "health,latency".into(),
                    None,
                    "2026-12-01T10:00:00Z".into()
                ),
                (
                    "eu/shop/web",
                    None,
                    OutcomeKind::ProgressDeadline,
                    String::new(),
                    None,
                    "2026-12-01T11:00:00Z".into()
                ),
            ]
        );
        assert_eq!(c.entries[0].judges, ["error-ratio"]);
        assert_eq!(c.entries[0].note, "probe was down");
        assert_eq!(c.entries[0].why[0].cause, Cause::AnalysisFailed);
        assert_eq!(c.entries[3].pod_template_hash, "h3");
    }

    #[test]
    fn spec_templates_by_kind() {
        let ro = rollout(json!({}));
        assert_eq!(
            spec_templates(&ro.spec, AnalysisRunKind::Background, None),
            ["bg"]
        );
        assert_eq!(
            spec_templates(&ro.spec, AnalysisRunKind::Step, Some(1)),
            ["health", "latency"]
        );
        assert!(spec_templates(&ro.spec, AnalysisRunKind::Step, Some(7)).is_empty());
        assert!(spec_templates(&ro.spec, AnalysisRunKind::Step, Some(-1)).is_empty());
        assert!(spec_templates(&ro.spec, AnalysisRunKind::PrePromotion, None).is_empty());
    }
}
