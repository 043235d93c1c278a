//! `rollout simulate` with several Rollouts (issue #13): the bundled group's Rollouts run as one
//! group on one clock; when one member's canary fails, both roll back; a healthy group is
//! promoted in lockstep; the log and the HTML report show the members side by side.

mod common;

use common::*;
use serde_json::Value;

/// A judge-free analysis on the canary's errors per minute (the simulated Prometheus answers it).
const ERRORS_TEMPLATE: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: error-ratio}
spec:
  args: [{name: canary-hash}, {name: stable-hash}]
  metrics:
    - name: canary-errors
      initialDelay: 1m
      interval: 1m
      count: 1
      successCondition: result[0] <= 30
      failureCondition: result[0] > 30
      provider:
        prometheus:
          address: http://prometheus:9090
          query: sum(increase(http_requests_total{code=~"5..",rollouts_pod_template_hash="{{args.canary-hash}}"}[1m]))
"#;

fn simulate_group(name: &str, extra: &[&str]) -> (std::process::Output, std::path::PathBuf) {
    let dir = scratch(name);
    let template = dir.join("template.yaml");
    std::fs::write(&template, ERRORS_TEMPLATE).unwrap();
    let rollouts = scenarios().join("group-rollouts.yaml");
    let mut args = vec![
        "simulate",
        rollouts.to_str().unwrap(),
        "--analysis",
        template.to_str().unwrap(),
    ];
    args.extend(extra);
    (rollout_in(&dir, &args), dir)
}

/// `(t, member, step index)` of every step event of the JSON report, in time order.
fn steps(report: &Value) -> Vec<(f64, String, i64)> {
    let mut out = Vec::new();
    for m in report["members"].as_array().unwrap() {
        for e in m["events"].as_array().unwrap() {
            if e["kind"] == "step" {
                let name = m["rollout"].as_str().unwrap().to_string();
                out.push((e["t"].as_f64().unwrap(), name, e["index"].as_i64().unwrap()));
            }
        }
    }
    out.sort_by(|a, b| a.0.total_cmp(&b.0));
    out
}

#[test]
fn one_members_failed_canary_rolls_both_back() {
    let scenario = scenarios().join("group.yaml");
    let (o, dir) = simulate_group(
        "group-abort",
        &["--scenario", scenario.to_str().unwrap(), "--report", "group.html"],
    );
    assert_exit(&o, ABORTED);
    let out = stdout(&o);
    assert!(
        out.contains("simulating group of 2 Rollouts (author, publish)"),
        "{out}"
    );
    // Side by side: every log line names its member.
    assert!(out.contains("] author  | update applied"), "{out}");
    assert!(out.contains("] publish | update applied"), "{out}");
    assert!(summary_line(&out, "group outcome").contains("aborted"), "{out}");
    assert!(summary_line(&out, "why:").starts_with("publish: "), "{out}");
    assert!(
        out.contains("rolled back with the group: Rollout aborted update to revision 2: group cms: member publish aborted"),
        "{out}"
    );
    let page = std::fs::read_to_string(dir.join("group.html")).unwrap();
    assert_eq!(page.matches("<svg").count(), 2, "one chart per member");
    assert!(page.contains("author  | update applied"), "merged log");

    let scenario = scenarios().join("group.yaml");
    let (o, _) = simulate_group(
        "group-abort-json",
        &["--scenario", scenario.to_str().unwrap(), "--json"],
    );
    assert_exit(&o, ABORTED);
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["outcome"], "aborted");
    assert_eq!(report["aborted_by_group"], serde_json::json!(["author"]));
    for m in report["members"].as_array().unwrap() {
        assert_eq!(m["outcome"], "aborted", "{m:#}");
    }
}

#[test]
fn a_healthy_group_is_promoted_in_lockstep() {
    let dir = scratch("group-healthy-scenario");
    let healthy = dir.join("healthy.yaml");
    std::fs::write(
        &healthy,
        "name: healthy\nseed: 1\ntraffic: {requestsPerSecond: 40}\npods: {readyAfter: 15s}\n",
    )
    .unwrap();
    let (o, _) = simulate_group(
        "group-healthy",
        &["--scenario", healthy.to_str().unwrap(), "--json"],
    );
    assert_exit(&o, PROMOTED);
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["reason"], "all 2 members promoted");
    // Lockstep: replaying the step events in time order, no member is ever more than one step
    // ahead of the other.
    let mut at = std::collections::BTreeMap::from([("author".to_string(), 0), ("publish".to_string(), 0)]);
    let log = steps(&report);
    assert!(log.len() >= 8, "{log:?}");
    for (t, member, index) in log {
        at.insert(member, index);
        let (lo, hi) = (at.values().min().unwrap(), at.values().max().unwrap());
        assert!(hi - lo <= 1, "at {t}s: {at:?}");
    }
}

#[test]
fn group_input_mistakes_are_reported_before_simulating() {
    let dir = scratch("group-mistakes");
    let bad = dir.join("bad.yaml");
    std::fs::write(&bad, "members:\n  nobody:\n    canary: {errorRate: 0.5}\n").unwrap();
    let (o, _) = simulate_group("group-mistakes-run", &["--scenario", bad.to_str().unwrap()]);
    assert_exit(&o, ERROR);
    assert!(
        stderr(&o).contains("members.nobody: no Rollout named \"nobody\" is given"),
        "{}",
        stderr(&o)
    );
    let (o, _) = simulate_group("group-mistakes-svg", &["--report", "x.svg"]);
    assert_exit(&o, ERROR);
    assert!(
        stderr(&o).contains("a group report is an .html page"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_bundled_group_scenario_rolls_both_tiers_back_with_the_wasm_judge() {
    let dir = scratch("group-bundled");
    let o = rollout_in(&dir, &["simulate", "--scenario", "group", "--json"]);
    assert_exit(&o, ABORTED);
    let report: Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(report["aborted_by_group"], serde_json::json!(["author"]));
    assert!(
        report["reason"].as_str().unwrap().starts_with("publish: "),
        "{report:#}"
    );
    let outcomes: Vec<&str> = report["members"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["outcome"].as_str().unwrap())
        .collect();
    assert_eq!(outcomes, ["aborted", "aborted"]);
}
