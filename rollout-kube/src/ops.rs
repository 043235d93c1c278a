//! User operations, writing exactly the patches of Argo's kubectl plugin
//! (`kubectl argo rollouts promote|abort|retry|pause`), and a `get` status view.

use std::fmt;

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

async fn unpause_spec(client: &Client, ns: &str, ro: &Rollout) -> Result<(), Error> {
    if ro.spec.get("paused").and_then(Value::as_bool) == Some(true) {
        let name = ro.name_any();
        api(client, ns)
            .patch(
                &name,
                &PatchParams::default(),
                &Patch::Merge(json!({"spec": {"paused": false}})),
            )
            .await
            .map_err(err(format!("patch Rollout {ns}/{name}")))?;
    }
    Ok(())
}

/// `promote`: resumes a paused Rollout (`pauseConditions: null`), or skips the current step when
/// nothing is paused (`currentStepIndex + 1`); with `full`, `promoteFull: true` skips all steps.
pub async fn promote(client: &Client, ns: &str, name: &str, full: bool) -> Result<(), Error> {
    let ro = api(client, ns)
        .get(name)
        .await
        .map_err(err(format!("get Rollout {ns}/{name}")))?;
    unpause_spec(client, ns, &ro).await?;
    let st = &ro.status;
    if full {
        if st.get("currentPodHash") != st.get("stableRS") {
            status_patch(
                client,
                ns,
                name,
                json!({"promoteFull": true, "pauseConditions": null}),
            )
            .await?;
        }
        return Ok(());
    }
    let paused = st
        .get("pauseConditions")
        .and_then(Value::as_array)
        .is_some_and(|p| !p.is_empty());
    let canary = ro.spec.pointer("/strategy/canary").is_some();
    if !paused && canary {
        let steps = ro
            .spec
            .pointer("/strategy/canary/steps")
            .and_then(Value::as_array)
            .map_or(0, Vec::len) as i64;
        let idx = st.get("currentStepIndex").and_then(Value::as_i64).unwrap_or(0);
        if idx < steps {
            return status_patch(
                client,
                ns,
                name,
                json!({"pauseConditions": null, "currentStepIndex": idx + 1}),
            )
            .await;
        }
    }
    // `controllerPause` stays as it is: removing the pause condition while it is true is what
    // tells the controller the step was completed.
    status_patch(client, ns, name, json!({"pauseConditions": null})).await
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
    api(client, ns)
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"paused": true}})),
        )
        .await
        .map_err(err(format!("patch Rollout {ns}/{name}")))?;
    Ok(())
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

/// What `rollout get` shows.
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
    Ok(RolloutView {
        name: format!("{ns}/{name}"),
        phase: text("/phase"),
        message: text("/message"),
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
    })
}

impl fmt::Display for RolloutView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "Name:        {}", self.name)?;
        let msg = if self.message.is_empty() {
            String::new()
        } else {
            format!(" ({})", self.message)
        };
        writeln!(
            f,
            "Status:      {}{msg}",
            if self.phase.is_empty() {
                "Unknown"
            } else {
                &self.phase
            }
        )?;
        writeln!(f, "Strategy:    {}", self.strategy)?;
        if let Some((i, n)) = self.step {
            writeln!(f, "Step:        {i}/{n}")?;
        }
        if let Some(w) = self.set_weight {
            writeln!(f, "SetWeight:   {w}")?;
        }
        let (d, u, r, a) = self.replicas;
        writeln!(
            f,
            "Replicas:    desired {d}, updated {u}, ready {r}, available {a}"
        )?;
        writeln!(f, "ReplicaSets:")?;
        for rs in &self.replica_sets {
            writeln!(
                f,
                "  {:<40} rev {:<3} {:<7} {}/{} ready",
                rs.name, rs.revision, rs.role, rs.ready, rs.replicas
            )?;
        }
        if !self.analysis_runs.is_empty() {
            writeln!(f, "AnalysisRuns:")?;
            for r in &self.analysis_runs {
                writeln!(f, "  {:<40} {} {}", r.name, r.phase, r.message)?;
                for m in &r.last_measurements {
                    writeln!(f, "    {m}")?;
                }
            }
        }
        Ok(())
    }
}
