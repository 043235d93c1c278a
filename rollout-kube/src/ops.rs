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
    })
}

/// Request-sequence tests with kube's `tower-test` mock service: the exact method, path,
/// content type and body of every request an operation sends.
#[cfg(test)]
pub(crate) mod tests {
    use std::future::Future;
    use std::time::Duration;

    use http::{Request, Response};
    use kube::client::Body;
    use serde_json::{Value, json};

    use super::*;

    /// One request the client sent.
    #[derive(Debug, Clone, PartialEq)]
    pub(crate) struct Sent {
        pub method: String,
        /// Path and query.
        pub uri: String,
        pub content_type: Option<String>,
        /// The JSON body (`Null` when empty).
        pub body: Value,
    }

    impl Sent {
        pub(crate) fn new(method: &str, uri: &str, content_type: Option<&str>, body: Value) -> Self {
            Sent {
                method: method.into(),
                uri: uri.into(),
                content_type: content_type.map(str::to_string),
                body,
            }
        }
    }

    pub(crate) const MERGE: Option<&str> = Some("application/merge-patch+json");

    /// Runs `op` against a mock API server that answers every request with `respond(method,
    /// path, body)` (HTTP 200, JSON), and returns the requests in the order they were sent.
    pub(crate) async fn sent<F, Fut, T>(
        respond: impl Fn(&str, &str, &Value) -> Value + Send + 'static,
        op: F,
    ) -> (T, Vec<Sent>)
    where
        F: FnOnce(Client) -> Fut,
        Fut: Future<Output = T>,
    {
        let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(async move {
            let mut seen = Vec::new();
            while let Some((req, reply)) = handle.next_request().await {
                let (parts, body) = req.into_parts();
                let bytes = body.collect_bytes().await.unwrap();
                let body: Value = if bytes.is_empty() {
                    Value::Null
                } else {
                    serde_json::from_slice(&bytes).unwrap()
                };
                let content_type = parts
                    .headers
                    .get(http::header::CONTENT_TYPE)
                    .map(|v| v.to_str().unwrap().to_string());
                let answer = respond(parts.method.as_str(), parts.uri.path(), &body);
                seen.push(Sent {
                    method: parts.method.to_string(),
                    uri: parts.uri.to_string(),
                    content_type,
                    body,
                });
                reply.send_response(
                    Response::builder()
                        .status(200)
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .body(Body::from(serde_json::to_vec(&answer).unwrap()))
                        .unwrap(),
                );
            }
            seen
        });
        let out = op(Client::new(svc, "default")).await;
        // The client (and with it the mock service) is dropped: the server loop ends.
        let seen = tokio::time::timeout(Duration::from_secs(10), server)
            .await
            .expect("mock server stops once the client is dropped")
            .unwrap();
        (out, seen)
    }

    const RO: &str = "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/web";

    fn rollout(spec: Value, status: Value) -> Value {
        json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "ns", "resourceVersion": "7", "uid": "u1"},
            "spec": spec,
            "status": status
        })
    }

    fn canary(steps: usize) -> Value {
        let steps: Vec<Value> = (0..steps).map(|_| json!({"pause": {}})).collect();
        json!({"replicas": 2, "strategy": {"canary": {"steps": steps}}})
    }

    fn paused_at(idx: i64) -> Value {
        json!({
            "currentStepIndex": idx,
            "controllerPause": true,
            "pauseConditions": [{"reason": "CanaryPauseStep", "startTime": "2026-01-01T00:00:00Z"}],
            "currentPodHash": "new",
            "stableRS": "old"
        })
    }

    #[tokio::test]
    async fn abort_retry_and_pause_send_argos_single_merge_patch() {
        let answer = rollout(canary(1), json!({}));
        for (op, uri, body) in [
            (
                "abort",
                format!("{RO}/status?"),
                json!({"status": {"abort": true}}),
            ),
            (
                "retry",
                format!("{RO}/status?"),
                json!({"status": {"abort": false}}),
            ),
            ("pause", format!("{RO}?"), json!({"spec": {"paused": true}})),
        ] {
            let a = answer.clone();
            let (res, seen) = sent(
                move |_, _, _| a.clone(),
                |c| async move {
                    match op {
                        "abort" => abort(&c, "ns", "web").await,
                        "retry" => retry(&c, "ns", "web").await,
                        _ => pause(&c, "ns", "web").await,
                    }
                },
            )
            .await;
            res.unwrap();
            assert_eq!(seen, [Sent::new("PATCH", &uri, MERGE, body)], "{op}");
        }
    }

    #[tokio::test]
    async fn promote_sends_the_plugins_patches_status_first() {
        let status_uri = format!("{RO}/status?");
        let spec_uri = format!("{RO}?");
        let mut paused_spec = canary(3);
        paused_spec["paused"] = json!(true);
        let mut inconclusive = paused_at(1);
        inconclusive["canary"] =
            json!({"currentStepAnalysisRunStatus": {"name": "web-new-2-1", "status": "Inconclusive"}});
        let mut running = paused_at(1);
        running["pauseConditions"] = Value::Null;
        let mut done = paused_at(3);
        done["pauseConditions"] = Value::Null;
        done["stableRS"] = json!("new");
        let blue_green = json!({"replicas": 2, "strategy": {"blueGreen": {"activeService": "web"}}});
        // (case, spec, status, --full, patches after the GET)
        let table: Vec<(&str, Value, Value, bool, Vec<Sent>)> = vec![
            (
                "paused at a pause step",
                canary(3),
                paused_at(1),
                false,
                vec![Sent::new(
                    "PATCH",
                    &status_uri,
                    MERGE,
                    json!({"status": {"pauseConditions": null}}),
                )],
            ),
            (
                "manually paused as well: status patch, then spec",
                paused_spec.clone(),
                paused_at(1),
                false,
                vec![
                    Sent::new(
                        "PATCH",
                        &status_uri,
                        MERGE,
                        json!({"status": {"pauseConditions": null}}),
                    ),
                    Sent::new("PATCH", &spec_uri, MERGE, json!({"spec": {"paused": false}})),
                ],
            ),
            (
                "inconclusive step analysis",
                canary(3),
                inconclusive,
                false,
                vec![Sent::new(
                    "PATCH",
                    &status_uri,
                    MERGE,
                    json!({"status": {"pauseConditions": null, "controllerPause": false, "currentStepIndex": 2}}),
                )],
            ),
            (
                "not paused: skip the current step",
                canary(3),
                running,
                false,
                vec![Sent::new(
                    "PATCH",
                    &status_uri,
                    MERGE,
                    json!({"status": {"pauseConditions": null, "currentStepIndex": 2}}),
                )],
            ),
            (
                "past the last step: index unchanged",
                canary(3),
                done.clone(),
                false,
                vec![Sent::new(
                    "PATCH",
                    &status_uri,
                    MERGE,
                    json!({"status": {"pauseConditions": null, "currentStepIndex": 3}}),
                )],
            ),
            (
                "blue-green, not paused: nothing to do",
                blue_green,
                json!({}),
                false,
                vec![],
            ),
            (
                "--full during an update",
                canary(3),
                paused_at(1),
                true,
                vec![Sent::new(
                    "PATCH",
                    &status_uri,
                    MERGE,
                    json!({"status": {"promoteFull": true}}),
                )],
            ),
            (
                "--full on a manually paused update",
                paused_spec,
                paused_at(1),
                true,
                vec![
                    Sent::new(
                        "PATCH",
                        &status_uri,
                        MERGE,
                        json!({"status": {"promoteFull": true}}),
                    ),
                    Sent::new("PATCH", &spec_uri, MERGE, json!({"spec": {"paused": false}})),
                ],
            ),
            ("--full when already complete", canary(3), done, true, vec![]),
        ];
        for (case, spec, status, full, patches) in table {
            let answer = rollout(spec, status);
            let (res, seen) = sent(
                move |_, _, _| answer.clone(),
                |c| async move { promote(&c, "ns", "web", full).await },
            )
            .await;
            res.unwrap();
            let mut expected = vec![Sent::new("GET", RO, None, Value::Null)];
            expected.extend(patches);
            assert_eq!(seen, expected, "{case}");
        }
    }

    #[tokio::test]
    async fn a_failed_patch_is_an_error_naming_the_request() {
        let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
        let server = tokio::spawn(async move {
            if let Some((_, reply)) = handle.next_request().await {
                let status = json!({"kind": "Status", "apiVersion": "v1", "status": "Failure",
                    "message": "rollouts.argoproj.io \"web\" not found", "reason": "NotFound", "code": 404});
                reply.send_response(
                    Response::builder()
                        .status(404)
                        .header(http::header::CONTENT_TYPE, "application/json")
                        .body(Body::from(serde_json::to_vec(&status).unwrap()))
                        .unwrap(),
                );
            }
        });
        let e = abort(&Client::new(svc, "default"), "ns", "web")
            .await
            .unwrap_err();
        server.await.unwrap();
        let msg = e.to_string();
        assert!(msg.starts_with("patch Rollout ns/web status: "), "{msg}");
        assert!(msg.contains("not found"), "{msg}");
    }
}
