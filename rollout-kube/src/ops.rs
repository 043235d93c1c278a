//! User operations, writing exactly the patches of Argo's kubectl plugin
//! (`kubectl argo rollouts promote|abort|retry|pause`), and a `get` status view.

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::api::{Api, ListParams, Patch, PatchParams};
use kube::{Client, ResourceExt};
use rollout_core::rollout::REVISION_ANNOTATION;
use rollout_core::rollout::hash::POD_TEMPLATE_HASH_LABEL;
use serde_json::{Value, json};

use crate::reconciler::Error;
use crate::resources::{AnalysisRun, Rollout};

fn api(client: &Client, ns: &str) -> Api<Rollout> {
    Api::namespaced(client.clone(), ns)
}

fn err(what: String) -> impl FnOnce(kube::Error) -> Error {
    move |source| Error::Kube { what, source }
}

async fn status_patch(client: &Client, ns: &str, name: &str, status: Value) -> Result<(), Error> {
    api(client, ns)
        .patch_status(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "status": status })),
        )
        .await
        .map_err(err(format!("patch Rollout {ns}/{name} status")))?;
    Ok(())
}

async fn spec_patch(client: &Client, ns: &str, name: &str, spec: Value) -> Result<(), Error> {
    api(client, ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({ "spec": spec })),
        )
        .await
        .map_err(err(format!("patch Rollout {ns}/{name}")))?;
    Ok(())
}

/// The patches `promote` sends for `ro`, as Argo's kubectl plugin computes them (`getPatches`):
/// `(spec, status)`, each the content of the `spec` / `status` object of a merge patch, `None`
/// when that patch is not sent. The status patch goes first (to `/status`), then the spec patch.
///
/// - `full`: `promoteFull: true`, only while the update is not complete (`currentPodHash !=
///   stableRS`); a manually paused spec is unpaused. Deliberate difference: the plugin's `--full`
///   leaves `spec.paused` alone, so a manually paused rollout stays paused after a "full
///   promote"; we unpause it, as the promote without `--full` does (and Argo CD's promote action).
/// - Otherwise `spec.paused: false` if paused, and one status patch:
///   - paused on an Inconclusive step analysis the controller paused for:
///     `pauseConditions: null, controllerPause: false, currentStepIndex: i+1`;
///   - any pause condition: `pauseConditions: null`;
///   - a canary with steps and no pause: `pauseConditions: null, currentStepIndex: i+1` (skips
///     the current step; `i` stays when already past the last step).
pub fn promote_patches(ro: &Rollout, full: bool) -> (Option<Value>, Option<Value>) {
    let spec =
        (ro.spec.get("paused").and_then(Value::as_bool) == Some(true)).then(|| json!({"paused": false}));
    let st = &ro.status;
    if full {
        let text = |k: &str| st.get(k).and_then(Value::as_str).unwrap_or_default();
        let status = (text("currentPodHash") != text("stableRS")).then(|| json!({"promoteFull": true}));
        return (spec, status);
    }
    let paused = st
        .get("pauseConditions")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    let steps = ro
        .spec
        .pointer("/strategy/canary/steps")
        .and_then(Value::as_array)
        .map_or(0, Vec::len) as i64;
    // Argo's `GetCurrentCanaryStep` index: none without steps, 0 when unset; then one step on.
    let next_index = (steps > 0).then(|| {
        let idx = st.get("currentStepIndex").and_then(Value::as_i64).unwrap_or(0);
        if idx < steps { idx + 1 } else { idx }
    });
    let inconclusive = st
        .pointer("/canary/currentStepAnalysisRunStatus/status")
        .and_then(Value::as_str)
        == Some("Inconclusive");
    let controller_pause = st.get("controllerPause").and_then(Value::as_bool) == Some(true);
    let status = if inconclusive && paused && controller_pause {
        next_index.map(|i| json!({"pauseConditions": null, "controllerPause": false, "currentStepIndex": i}))
    } else if paused {
        Some(json!({"pauseConditions": null}))
    } else {
        next_index.map(|i| json!({"pauseConditions": null, "currentStepIndex": i}))
    };
    (spec, status)
}

/// `promote`: resumes a paused Rollout (`pauseConditions: null`), or skips the current step when
/// nothing is paused (`currentStepIndex + 1`); with `full`, `promoteFull: true` skips all steps.
/// Exactly the requests of Argo's kubectl plugin: GET, then the patches of [`promote_patches`].
/// Removing a pause condition while `controllerPause` is true is what tells the controller the
/// pause step was completed.
pub async fn promote(client: &Client, ns: &str, name: &str, full: bool) -> Result<(), Error> {
    let ro = api(client, ns)
        .get(name)
        .await
        .map_err(err(format!("get Rollout {ns}/{name}")))?;
    let (spec, status) = promote_patches(&ro, full);
    if let Some(status) = status {
        status_patch(client, ns, name, status).await?;
    }
    if let Some(spec) = spec {
        spec_patch(client, ns, name, spec).await?;
    }
    Ok(())
}

/// `abort`: `status.abort = true`.
pub async fn abort(client: &Client, ns: &str, name: &str) -> Result<(), Error> {
    status_patch(client, ns, name, json!({"abort": true})).await
}

/// `retry`: `status.abort = false`.
pub async fn retry(client: &Client, ns: &str, name: &str) -> Result<(), Error> {
    status_patch(client, ns, name, json!({"abort": false})).await
}

/// `pause`: `spec.paused = true`.
pub async fn pause(client: &Client, ns: &str, name: &str) -> Result<(), Error> {
    spec_patch(client, ns, name, json!({"paused": true})).await
}

/// One ReplicaSet in [`RolloutView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicaSetView {
    /// Name.
    pub name: String,
    /// Revision.
    pub revision: i64,
    /// `stable`, `canary` or empty.
    pub role: String,
    /// Desired pods.
    pub replicas: i32,
    /// Ready pods.
    pub ready: i32,
}

/// One AnalysisRun in [`RolloutView`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnalysisRunView {
    /// Name.
    pub name: String,
    /// Phase.
    pub phase: String,
    /// Message (why it failed, ...).
    pub message: String,
    /// Last measurement per metric: `metric: phase value (message)`.
    pub last_measurements: Vec<String>,
}

/// What `rollout get` shows (the CLI renders it). `phase` and `message` are what Argo CD and
/// `kubectl argo rollouts` show ([`rollout_core::rollout::rollout_phase`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutView {
    /// `namespace/name`.
    pub name: String,
    /// Phase (Healthy, Progressing, Paused, Degraded).
    pub phase: String,
    /// Status message.
    pub message: String,
    /// `canary` or `blueGreen`.
    pub strategy: String,
    /// `(current step index, number of steps)` for canaries.
    pub step: Option<(i64, i64)>,
    /// Weight the current step asks for.
    pub set_weight: Option<i64>,
    /// Desired / updated / ready / available replicas.
    pub replicas: (i64, i64, i64, i64),
    /// ReplicaSets, newest first.
    pub replica_sets: Vec<ReplicaSetView>,
    /// Analysis runs.
    pub analysis_runs: Vec<AnalysisRunView>,
    /// The `workloadRef` Deployment, with the migration annotations the Rollout set on it.
    pub workload: Option<crate::migrate::WorkloadView>,
    /// The `DryRun` condition's message while the Rollout runs dry.
    pub dry_run: Option<String>,
    /// `status.cost` at the time of the read, as text ([`CostStatus::summary`]).
    ///
    /// [`CostStatus::summary`]: rollout_core::rollout::cost::CostStatus::summary
    pub cost: Option<String>,
}

/// Reads a Rollout, its ReplicaSets and AnalysisRuns into a [`RolloutView`].
pub async fn get(client: &Client, ns: &str, name: &str) -> Result<RolloutView, Error> {
    let ro = api(client, ns)
        .get(name)
        .await
        .map_err(err(format!("get Rollout {ns}/{name}")))?;
    let uid = ro.uid().unwrap_or_default();
    let st = &ro.status;
    let int = |p: &str| st.pointer(p).and_then(Value::as_i64).unwrap_or(0);
    let text = |p: &str| {
        st.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let canary = ro.spec.pointer("/strategy/canary");
    let steps = canary
        .and_then(|c| c.get("steps"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let idx = st.get("currentStepIndex").and_then(Value::as_i64);
    let set_weight = canary.and_then(|_| {
        let upto = idx.unwrap_or(steps.len() as i64).min(steps.len() as i64) as usize;
        steps
            .iter()
            .take(upto)
            .rev()
            .find_map(|s| s.get("setWeight").and_then(Value::as_i64))
            .or(Some(if upto >= steps.len() { 100 } else { 0 }))
    });
    let (stable, current) = (text("/stableRS"), text("/currentPodHash"));
    let rs_api: Api<ReplicaSet> = Api::namespaced(client.clone(), ns);
    let mut replica_sets: Vec<ReplicaSetView> = rs_api
        .list(&ListParams::default().labels(POD_TEMPLATE_HASH_LABEL))
        .await
        .map_err(err(format!("list ReplicaSets in {ns}")))?
        .items
        .into_iter()
        .filter(|rs| rs.owner_references().iter().any(|o| o.uid == uid))
        .map(|rs| {
            let hash = rs
                .labels()
                .get(POD_TEMPLATE_HASH_LABEL)
                .cloned()
                .unwrap_or_default();
            let role = if hash == stable {
                "stable"
            } else if hash == current {
                "canary"
            } else if rollout_core::rollout::machine::is_baseline_hash(&hash) {
                "baseline"
            } else {
                ""
            };
            ReplicaSetView {
                name: rs.name_any(),
                revision: rs
                    .annotations()
                    .get(REVISION_ANNOTATION)
                    .and_then(|r| r.parse().ok())
                    .unwrap_or(0),
                role: role.into(),
                replicas: rs.spec.replicas.unwrap_or(0),
                ready: rs.status.as_ref().and_then(|s| s.ready_replicas).unwrap_or(0),
            }
        })
        .collect();
    replica_sets.sort_by_key(|r| std::cmp::Reverse(r.revision));
    let ar_api: Api<AnalysisRun> = Api::namespaced(client.clone(), ns);
    let analysis_runs = ar_api
        .list(&ListParams::default())
        .await
        .map_err(err(format!("list AnalysisRuns in {ns}")))?
        .items
        .into_iter()
        .filter(|r| r.owner_references().iter().any(|o| o.uid == uid))
        .map(|r| {
            let s = |p: &str| {
                r.status
                    .pointer(p)
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            };
            let last_measurements = r
                .status
                .get("metricResults")
                .and_then(Value::as_array)
                .map(|ms| {
                    ms.iter()
                        .map(|m| {
                            let last = m
                                .get("measurements")
                                .and_then(Value::as_array)
                                .and_then(|v| v.last());
                            let f = |k: &str| {
                                last.and_then(|l| l.get(k))
                                    .and_then(Value::as_str)
                                    .unwrap_or_default()
                            };
                            format!(
                                "{}: {} {} {}",
                                m["name"].as_str().unwrap_or_default(),
                                f("phase"),
                                f("value"),
                                f("message")
                            )
                            .trim_end()
                            .to_string()
                        })
                        .collect()
                })
                .unwrap_or_default();
            AnalysisRunView {
                name: r.name_any(),
                phase: s("/phase"),
                message: s("/message"),
                last_measurements,
            }
        })
        .collect();
    // What Argo CD and `kubectl argo rollouts` show: upstream's GetRolloutPhase over the
    // persisted status (a status the core cannot read is shown as written).
    let (phase, message) = match ro.to_core() {
        Ok(core) => {
            let (phase, message) = rollout_core::rollout::rollout_phase(&core);
            (format!("{phase:?}"), message)
        }
        Err(_) => (text("/phase"), text("/message")),
    };
    Ok(RolloutView {
        name: format!("{ns}/{name}"),
        phase,
        message,
        strategy: if canary.is_some() {
            "canary".into()
        } else {
            "blueGreen".into()
        },
        step: canary.map(|_| (idx.unwrap_or(0), steps.len() as i64)),
        set_weight,
        replicas: (
            ro.spec.get("replicas").and_then(Value::as_i64).unwrap_or(1),
            int("/updatedReplicas"),
            int("/readyReplicas"),
            int("/availableReplicas"),
        ),
        replica_sets,
        analysis_runs,
        workload: crate::migrate::workload_view(client, ns, &ro).await?,
        dry_run: crate::migrate::dry_run_message(&ro.status),
        cost: ro
            .status
            .get("cost")
            .and_then(|c| serde_json::from_value::<rollout_core::rollout::cost::CostStatus>(c.clone()).ok())
            .map(|c| c.summary(rollout_core::Timestamp::now())),
    })
}

#[cfg(test)]
pub(crate) mod tests;
