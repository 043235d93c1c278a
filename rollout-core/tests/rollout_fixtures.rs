//! Every Rollout in the upstream fixtures deserializes, validates and keeps unknown fields.

use rollout_core::rollout::{Rollout, hash, validate};
use serde::Deserialize;

fn fixtures_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/argo-rollouts")
}

fn rollouts() -> Vec<(String, Rollout)> {
    let mut out = Vec::new();
    let mut entries: Vec<_> = std::fs::read_dir(fixtures_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    entries.sort();
    for path in entries {
        let text = std::fs::read_to_string(&path).unwrap();
        for doc in serde_yaml::Deserializer::from_str(&text) {
            let v = serde_yaml::Value::deserialize(doc).unwrap();
            if v.get("kind").and_then(|k| k.as_str()) == Some("Rollout") {
                let ro: Rollout =
                    serde_yaml::from_value(v).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                out.push((path.file_name().unwrap().to_string_lossy().into_owned(), ro));
            }
        }
    }
    out
}

#[test]
fn all_fixture_rollouts_deserialize() {
    let all = rollouts();
    let names: Vec<&str> = all.iter().map(|(_, r)| r.metadata.name.as_str()).collect();
    assert_eq!(
        names,
        [
            "rollout-canary",
            "rollout-bluegreen",
            "rollout-background-analysis",
            "rollout-ref-deployment",
            "dynamic-stable-scale",
            "canary-scaledownd-on-abort",
            "window"
        ]
    );
}

#[test]
fn fixture_fields_are_read() {
    let all = rollouts();
    let get = |n: &str| all.iter().find(|(_, r)| r.metadata.name == n).unwrap().1.clone();
    let canary = get("rollout-canary");
    assert_eq!(canary.replicas(), 5);
    assert_eq!(canary.steps().len(), 8);
    assert_eq!(
        canary.steps()[3].pause.as_ref().unwrap().duration_seconds(),
        Some(40)
    );
    assert_eq!(canary.steps()[1].pause.as_ref().unwrap().duration_seconds(), None);
    let bg = get("rollout-bluegreen");
    let s = bg.blue_green().unwrap();
    assert_eq!(s.active_service, "rollout-bluegreen-active");
    assert_eq!(s.auto_promotion_enabled, Some(false));
    let bga = get("rollout-background-analysis");
    let a = bga.canary().unwrap().analysis.as_ref().unwrap();
    assert_eq!(a.analysis.templates[0].template_name, "random-fail");
    let wr = get("rollout-ref-deployment");
    assert_eq!(wr.spec.workload_ref.as_ref().unwrap().kind, "Deployment");
    let dss = get("dynamic-stable-scale");
    assert!(dss.canary().unwrap().dynamic_stable_scale);
    assert!(dss.has_traffic_routing());
    let abort = get("canary-scaledownd-on-abort");
    assert_eq!(abort.spec.replicas, None);
    assert_eq!(abort.replicas(), 1);
    assert_eq!(abort.canary().unwrap().abort_scale_down_delay_seconds, Some(1));
    assert_eq!(
        abort.steps()[0].set_canary_scale.as_ref().unwrap().replicas,
        Some(1)
    );
    let window = get("window");
    assert_eq!(window.spec.rollback_window.as_ref().unwrap().revisions, Some(2));
    let arg = &window.steps()[1].analysis.as_ref().unwrap().args[0];
    assert_eq!(
        arg.value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .field_path,
        "metadata.labels['rev']"
    );
}

#[test]
fn fixture_rollouts_validate_clean() {
    for (file, ro) in rollouts() {
        // workloadRef rollouts validate against the resolved Deployment template.
        let resolved = serde_json::json!({
            "metadata": {"labels": {"app": "rollout-ref-deployment"}},
            "spec": {"containers": [{"name": "rollouts-demo"}]}
        });
        let wt = ro.spec.workload_ref.as_ref().map(|_| &resolved);
        assert_eq!(validate(&ro, wt), vec![], "{file}");
    }
}

#[test]
fn unknown_fields_are_preserved_on_round_trip() {
    let json = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "x", "finalizers": ["a"]},
        "spec": {"replicas": 2, "futureField": {"a": 1},
                 "strategy": {"canary": {"newKnob": true, "steps": [{"setWeight": 5}]}}},
        "status": {"alb": {"loadBalancer": {"name": "lb"}}}
    });
    let ro: Rollout = serde_json::from_value(json.clone()).unwrap();
    let back = serde_json::to_value(&ro).unwrap();
    assert_eq!(back["spec"]["futureField"], json["spec"]["futureField"]);
    assert_eq!(back["spec"]["strategy"]["canary"]["newKnob"], true);
    assert_eq!(back["metadata"]["finalizers"], json["metadata"]["finalizers"]);
    assert_eq!(back["status"]["alb"], json["status"]["alb"]);
}

#[test]
fn step_hash_is_stable_and_sensitive() {
    let all = rollouts();
    let canary = &all[0].1;
    let h = hash::step_hash(canary.canary().unwrap().steps.as_deref());
    assert_eq!(h.len(), h.chars().filter(|c| c.is_ascii_alphanumeric()).count());
    assert_eq!(h, hash::step_hash(canary.canary().unwrap().steps.as_deref()));
    let mut other = canary.clone();
    other
        .spec
        .strategy
        .canary
        .as_mut()
        .unwrap()
        .steps
        .as_mut()
        .unwrap()[0]
        .set_weight = Some(21);
    assert_ne!(h, hash::step_hash(other.canary().unwrap().steps.as_deref()));
}
