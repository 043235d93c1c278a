//! The controller's reconcile against kube's `tower-test` mock API server: exactly which
//! requests one pass sends, and what its status write contains.

use std::sync::{Arc, Mutex};

use rollout_core::common::Timestamp;
use serde_json::{Value, json};

use super::*;
use crate::ops::tests::{MERGE, Sent, sent};

const RO: &str = "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/web";
const RS_LIST: &str = "/apis/apps/v1/namespaces/ns/replicasets";
const AR_LIST: &str = "/apis/argoproj.io/v1alpha1/namespaces/ns/analysisruns";

/// RFC 7386 JSON merge patch.
fn apply_merge(target: &mut Value, patch: &Value) {
    match (target.as_object_mut(), patch.as_object()) {
        (Some(t), Some(p)) => {
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    apply_merge(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => {
            *target = patch.clone();
            if let Some(t) = target.as_object_mut() {
                t.retain(|_, v| !v.is_null());
            }
        }
    }
}

/// A tiny API server state: the Rollout and its ReplicaSets.
#[derive(Clone)]
struct Server {
    rollout: Arc<Mutex<Value>>,
    replica_sets: Arc<Mutex<Vec<Value>>>,
}

impl Server {
    fn respond(&self, method: &str, path: &str, body: &Value) -> Value {
        let list = |kind: &str, items: Vec<Value>| json!({"apiVersion": "v1", "kind": kind, "metadata": {"resourceVersion": "1"}, "items": items});
        match (method, path) {
            ("GET", RO) => self.rollout.lock().unwrap().clone(),
            ("GET", RS_LIST) => list("ReplicaSetList", self.replica_sets.lock().unwrap().clone()),
            ("GET", AR_LIST) => list("AnalysisRunList", vec![]),
            ("POST", RS_LIST) => {
                self.replica_sets.lock().unwrap().push(body.clone());
                body.clone()
            }
            ("PATCH", p) if p == format!("{RO}/status") => {
                let mut ro = self.rollout.lock().unwrap();
                apply_merge(&mut ro, body);
                ro.clone()
            }
            other => panic!("unexpected request {other:?}"),
        }
    }

    /// Every ReplicaSet's pods are all ready.
    fn all_ready(&self) {
        for rs in self.replica_sets.lock().unwrap().iter_mut() {
            let n = rs["spec"]["replicas"].clone();
            rs["status"] = json!({"replicas": n, "readyReplicas": n, "availableReplicas": n,
                                  "fullyLabeledReplicas": n, "observedGeneration": 1});
            rs["metadata"]["generation"] = json!(1);
        }
    }

    fn bump_resource_version(&self, rv: &str) {
        self.rollout.lock().unwrap()["metadata"]["resourceVersion"] = json!(rv);
    }
}

async fn reconcile_once(server: &Server) -> Vec<Sent> {
    let s = server.clone();
    let ro: Rollout = serde_json::from_value(server.rollout.lock().unwrap().clone()).unwrap();
    let (out, seen) = sent(
        move |m, p, b| s.respond(m, p, b),
        |client| async move {
            let r = Reconciler::new(client);
            r.reconcile(&ro, Timestamp::from_second(1_800_000_000).unwrap())
                .await
        },
    )
    .await;
    out.unwrap();
    seen
}

#[tokio::test]
async fn status_writes_are_merge_patches_of_changed_fields_with_the_resource_version() {
    let server = Server {
        rollout: Arc::new(Mutex::new(json!({
            "apiVersion": "argoproj.io/v1alpha1",
            "kind": "Rollout",
            "metadata": {"name": "web", "namespace": "ns", "resourceVersion": "7", "uid": "u1", "generation": 1},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "app", "image": "example.invalid/web:v1"}]}},
                "strategy": {"canary": {"steps": [{"setWeight": 50}, {"pause": {}}]}}
            }
        }))),
        replica_sets: Arc::default(),
    };
    let reads = [
        Sent::new("GET", RO, None, Value::Null),
        Sent::new(
            "GET",
            &format!("{RS_LIST}?&labelSelector=rollouts-pod-template-hash"),
            None,
            Value::Null,
        ),
        Sent::new(
            "GET",
            &format!("{AR_LIST}?&labelSelector=rollout-type"),
            None,
            Value::Null,
        ),
    ];
    let status_uri = format!("{RO}/status?&fieldManager=rollout-controller");

    // First pass: the reads, the ReplicaSet create, then one status patch.
    let seen = reconcile_once(&server).await;
    assert_eq!(seen[..3], reads, "{seen:#?}");
    assert_eq!(seen.len(), 5, "{seen:#?}");
    assert_eq!(
        (seen[3].method.as_str(), seen[3].uri.as_str()),
        (
            "POST",
            format!("{RS_LIST}?&fieldManager=rollout-controller").as_str()
        )
    );
    let rs = &seen[3].body;
    assert_eq!(rs["metadata"]["ownerReferences"][0]["uid"], "u1");
    assert_eq!(rs["spec"]["replicas"], 2);
    let hash = rs["metadata"]["labels"]["rollouts-pod-template-hash"]
        .as_str()
        .unwrap()
        .to_string();
    let patch = &seen[4];
    assert_eq!(
        (
            patch.method.as_str(),
            patch.uri.as_str(),
            patch.content_type.as_deref()
        ),
        ("PATCH", status_uri.as_str(), MERGE)
    );
    assert_eq!(patch.body["metadata"], json!({"resourceVersion": "7"}));
    assert_eq!(patch.body.as_object().unwrap().len(), 2, "{:#}", patch.body);
    assert_eq!(patch.body["status"]["currentPodHash"], hash.as_str());
    // Nothing the user writes is sent when it did not change.
    for user_field in ["abort", "promoteFull", "pauseConditions"] {
        assert!(
            patch.body["status"].get(user_field).is_none(),
            "{user_field}: {:#}",
            patch.body
        );
    }

    // Second pass, pods ready: only the fields that changed since the stored status.
    server.bump_resource_version("8");
    server.all_ready();
    let stored = server.rollout.lock().unwrap()["status"].clone();
    let seen = reconcile_once(&server).await;
    assert_eq!(seen[..3], reads, "{seen:#?}");
    let writes: Vec<&Sent> = seen[3..].iter().collect();
    assert_eq!(writes.len(), 1, "{writes:#?}");
    assert_eq!(writes[0].uri, status_uri);
    assert_eq!(writes[0].body["metadata"], json!({"resourceVersion": "8"}));
    let diff = writes[0].body["status"].as_object().unwrap();
    assert!(!diff.is_empty());
    for (k, v) in diff {
        assert_ne!(
            stored.get(k),
            Some(v),
            "unchanged field {k} was sent: {:#}",
            writes[0].body
        );
    }

    // Steady state: reads only, no write at all.
    server.bump_resource_version("9");
    let seen = reconcile_once(&server).await;
    assert_eq!(seen, reads, "{seen:#?}");
}

#[test]
fn a_decided_runs_cached_status_keeps_the_measurement_that_explains_each_metric() {
    let status = serde_json::json!({
        "phase": "Failed", "message": "m", "startedAt": "x",
        "metricResults": [{
            "name": "errors", "phase": "Failed",
            "measurements": [{"phase": "Successful", "value": "1"}, {"phase": "Failed", "value": "2"},
                             {"phase": "Successful", "value": "3"}]
        }, {"name": "latency", "phase": "Successful", "measurements": []}]
    });
    let mut st = status.as_object().unwrap().clone();
    super::keep_run_status(&mut st);
    assert_eq!(
        serde_json::Value::Object(st),
        serde_json::json!({
            "phase": "Failed", "message": "m",
            "metricResults": [{"name": "errors", "phase": "Failed", "measurements": [{"phase": "Failed", "value": "2"}]},
                              {"name": "latency", "phase": "Successful", "measurements": []}]
        })
    );
    let mut running = serde_json::json!({"phase": "Running", "message": "", "metricResults": []})
        .as_object()
        .unwrap()
        .clone();
    super::keep_run_status(&mut running);
    assert_eq!(
        serde_json::Value::Object(running),
        serde_json::json!({"phase": "Running", "message": ""})
    );
}
