//! Argo CD's own test tables for its Rollout health check and actions (`health_test.yaml`,
//! `actions/action_test.yaml`), run through our Lua harness: proves the harness runs the scripts
//! as Argo CD does before the e2e test trusts it with the statuses our controller writes.

mod argocd;

use argocd::{ArgoCd, Discovered, Health, without_nulls};
use serde_json::Value;
use std::collections::BTreeMap;

fn str_of<'a>(v: &'a Value, k: &str) -> &'a str {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_else(|| panic!("missing {k} in {v}"))
}

#[test]
fn argo_cd_health_tests_pass_through_the_harness() {
    let Some(cd) = ArgoCd::find() else { return };
    let table = cd.yaml("health_test.yaml");
    let tests = table["tests"].as_array().expect("tests");
    assert!(tests.len() >= 20, "Argo CD's table shrank: {}", tests.len());
    let mut failures = vec![];
    for t in tests {
        let input = str_of(t, "inputPath");
        let want = Health {
            status: str_of(&t["healthStatus"], "status").to_string(),
            message: t["healthStatus"]["message"].as_str().unwrap_or("").to_string(),
        };
        let got = cd.health(&cd.yaml(input));
        if got != want {
            failures.push(format!("{input}: want {want:?}, got {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

/// What Argo CD's action test compares: the object without nulls and without `spec.restartAt`
/// (its test normalizer clears that, the value being the time of the run).
fn normalized(obj: &Value) -> Value {
    let mut v = without_nulls(obj);
    if let Some(spec) = v.get_mut("spec").and_then(Value::as_object_mut) {
        spec.remove("restartAt");
    }
    v
}

#[test]
fn argo_cd_action_tests_pass_through_the_harness() {
    let Some(cd) = ArgoCd::find() else { return };
    let table = cd.yaml("actions/action_test.yaml");
    let tests = table["actionTests"].as_array().expect("actionTests");
    assert!(tests.len() >= 8, "Argo CD's table shrank: {}", tests.len());
    let mut failures = vec![];
    for t in tests {
        let action = str_of(t, "action");
        let input = format!("actions/{}", str_of(t, "inputPath"));
        let expected = format!("actions/{}", str_of(t, "expectedOutputPath"));
        let out = cd.action(action, &cd.yaml(&input));
        if action == "restart" {
            let at = out["spec"]["restartAt"].as_str().unwrap_or("");
            if at.parse::<rollout_core::common::Timestamp>().is_err() {
                failures.push(format!("{action} {input}: restartAt {at:?} is not a timestamp"));
            }
        }
        let (got, want) = (normalized(&out), normalized(&cd.yaml(&expected)));
        if got != want {
            failures.push(format!(
                "{action} {input}: want {expected}:\n{want:#}\ngot:\n{got:#}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn argo_cd_action_discovery_tests_pass_through_the_harness() {
    let Some(cd) = ArgoCd::find() else { return };
    let table = cd.yaml("actions/action_test.yaml");
    let tests = table["discoveryTests"].as_array().expect("discoveryTests");
    assert!(!tests.is_empty());
    let mut failures = vec![];
    for t in tests {
        let input = format!("actions/{}", str_of(t, "inputPath"));
        let want: BTreeMap<String, Discovered> = t["result"]
            .as_array()
            .expect("result")
            .iter()
            .map(|r| {
                let d = Discovered {
                    disabled: r["disabled"].as_bool().unwrap_or(false),
                    display_name: r["displayName"].as_str().map(String::from),
                };
                (str_of(r, "name").to_string(), d)
            })
            .collect();
        let got = cd.discovery(&cd.yaml(&input));
        if got != want {
            failures.push(format!("{input}: want {want:?}\ngot {got:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// The harness itself: null is nil, an empty list stays a list, whole numbers stay integers.
#[test]
fn the_harness_converts_like_argo_cd() {
    let Some(cd) = ArgoCd::find() else { return };
    let obj = serde_json::json!({
        "metadata": {"generation": 3},
        "spec": {"paused": true, "strategy": {"canary": {"steps": []}}},
        "status": {"pauseConditions": null, "currentStepIndex": 1, "observedGeneration": "3"}
    });
    let out = cd.action("resume", &obj);
    assert_eq!(out["spec"]["paused"], Value::Bool(false));
    assert_eq!(out["spec"]["strategy"]["canary"]["steps"], serde_json::json!([]));
    assert_eq!(out["status"]["currentStepIndex"], serde_json::json!(1));
    assert!(out["status"].get("pauseConditions").is_none(), "{out}");
    // A status that lags the spec is Progressing whatever else it says.
    let h = cd.health(&serde_json::json!({
        "metadata": {"generation": 4},
        "spec": {"strategy": {"canary": {}}},
        "status": {"observedGeneration": "3", "phase": "Healthy"}
    }));
    assert_eq!(h.status, "Progressing");
}
