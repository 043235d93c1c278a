//! Request-sequence tests with kube's `tower-test` mock service: the exact method, path,
//! content type and body of every request an operation sends.

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
