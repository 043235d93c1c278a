//! Bounded work on extreme inputs (issue 16): counters that cannot overflow, pods modelled per
//! ReplicaSet rather than per replica, many steps and long strings in a spec, and `workloadRef`
//! Rollouts simulated with their Deployment.

mod support;

use std::sync::Arc;
use std::time::Duration;

use rollout_core::rollout::Rollout;
use rollout_sim::adapters::referenced_workload;
use rollout_sim::model::{Share, TrafficModel};
use rollout_sim::promql::SeriesStore;
use rollout_sim::scenario::VersionBehaviour;
use rollout_sim::{Outcome, Scenario, SimError, SimInput, SimReport, simulate};

/// A Rollout with `replicas` and these canary `steps` (no analysis, so no judge is needed).
fn rollout(replicas: i64, steps: serde_json::Value) -> Rollout {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": {"name": "demo"},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": "demo"}},
            "template": {"metadata": {"labels": {"app": "demo"}},
                         "spec": {"containers": [{"name": "demo", "image": "demo:1.0"}]}},
            "strategy": {"canary": {"steps": steps}}
        }
    }))
    .unwrap()
}

fn input(rollout: Rollout) -> SimInput {
    SimInput {
        rollout,
        templates: Vec::new(),
        scenario: Scenario::default(),
        seed: 1,
        judges: Arc::new(support::judges()),
        workload: None,
    }
}

async fn run(input: SimInput) -> (SimReport, Vec<String>) {
    let mut lines = Vec::new();
    let report = simulate(input, &mut |e| lines.push(e.line())).await.unwrap();
    (report, lines)
}

#[test]
fn traffic_counters_saturate_instead_of_overflowing() {
    // 1e18 requests/s is refused by scenario validation; the model itself must still not
    // overflow its cumulative counters (it panicked with "attempt to add with overflow").
    let mut model = TrafficModel::new(7, 1e18);
    let mut store = SeriesStore::new();
    let shares = [Share {
        hash: "h".into(),
        fraction: 1.0,
        behaviour: VersionBehaviour::default(),
    }];
    for k in 1..=5 {
        let served = model.tick(k * 10_000, Duration::from_secs(10), &shares, &mut store);
        assert!(served["h"].errors <= served["h"].requests);
    }
    let err = Scenario::from_yaml("traffic: {requestsPerSecond: 1e18}").unwrap_err();
    assert_eq!(
        err.to_string(),
        "scenario field traffic.requestsPerSecond: must be a number from 0 to 1000000"
    );
}

#[tokio::test]
async fn the_largest_replica_count_is_simulated_in_aggregate() {
    // One simulated pod per replica needed 2 GB for this; pods are now counted per group.
    let steps = serde_json::json!([{"setWeight": 50}, {"pause": {"duration": "1m"}}]);
    let (report, lines) = run(input(rollout(i64::from(i32::MAX), steps))).await;
    assert_eq!(report.outcome, Outcome::Promoted, "{lines:#?}");
    assert!(
        lines.iter().any(|l| l.contains("-> 2147483647")),
        "the new ReplicaSet scales to every replica: {lines:#?}"
    );
}

#[tokio::test]
async fn many_steps_and_long_strings_finish() {
    // 2,000 alternating steps and a 256 KB string in the pod template: the step and
    // pod-template hashes are computed once per spec generation instead of on every reconcile.
    let long = "x".repeat(256 * 1024);
    let steps: Vec<serde_json::Value> = (0..2_000)
        .map(|i| {
            if i % 2 == 0 {
                serde_json::json!({"setWeight": (i / 2) % 100 + 1})
            } else {
                serde_json::json!({"pause": {"duration": "1s"}})
            }
        })
        .collect();
    let mut long_rollout = rollout(3, serde_json::Value::Array(steps));
    if let Some(metadata) = long_rollout
        .spec
        .template
        .as_mut()
        .and_then(|t| t.get_mut("metadata"))
    {
        metadata["annotations"] = serde_json::json!({ "note": long });
    }
    let mut sim = input(long_rollout);
    sim.scenario.max_duration = "48h".into();
    let (report, lines) = run(sim).await;
    assert_eq!(report.outcome, Outcome::Promoted, "{:?}", lines.last());
    assert_eq!(
        report.reason,
        "all 2000 steps completed; 0 analysis run(s) successful"
    );
}

/// The `workloadRef` fixture of upstream (`05-workload-ref.yaml`): a Deployment and a Rollout
/// that takes its template, here with a `scaleDown` mode and a running Deployment.
fn workload_ref(scale_down: &str, deployment_replicas: i32) -> SimInput {
    let deployment = serde_json::json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "rollout-ref-deployment"},
        "spec": {"replicas": deployment_replicas,
                 "selector": {"matchLabels": {"app": "rollout-ref-deployment"}},
                 "template": {"metadata": {"labels": {"app": "rollout-ref-deployment"}},
                              "spec": {"containers": [{"name": "rollouts-demo", "image": "argoproj/rollouts-demo:blue"}]}}}
    });
    let rollout: Rollout = serde_json::from_value(serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {"name": "rollout-ref-deployment"},
        "spec": {"replicas": 5,
                 "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                 "name": "rollout-ref-deployment", "scaleDown": scale_down},
                 "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": "10s"}}]}}}
    }))
    .unwrap();
    let workload = referenced_workload(rollout.spec.workload_ref.as_ref().unwrap(), &deployment);
    assert!(workload.is_some());
    SimInput {
        workload,
        ..input(rollout)
    }
}

#[tokio::test]
async fn a_workload_ref_rollout_takes_the_deployment_template_and_drains_it() {
    let (report, lines) = run(workload_ref("onsuccess", 5)).await;
    assert_eq!(report.outcome, Outcome::Promoted, "{lines:#?}");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("scale deployment/rollout-ref-deployment: 5 -> 0")),
        "{lines:#?}"
    );
    // The update is a new image in the Deployment's template: a second ReplicaSet.
    assert_ne!(report.canary_hash, report.stable_hash);
    assert!(!report.canary_hash.is_empty());

    // `progressively` drains it as the Rollout's pods become ready.
    let (report, lines) = run(workload_ref("progressively", 5)).await;
    assert_eq!(report.outcome, Outcome::Promoted, "{lines:#?}");
    let drained: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("scale deployment/rollout-ref-deployment"))
        .collect();
    assert!(drained.last().is_some_and(|l| l.ends_with("-> 0")), "{lines:#?}");

    // `never` (the fixture's default) leaves it alone.
    let (report, lines) = run(workload_ref("never", 5)).await;
    assert_eq!(report.outcome, Outcome::Promoted);
    assert!(!lines.iter().any(|l| l.contains("deployment/")), "{lines:#?}");
}

#[tokio::test]
async fn a_missing_workload_is_one_clear_error() {
    let sim = SimInput {
        workload: None,
        ..workload_ref("never", 0)
    };
    let err = match rollout_sim::Simulation::new(sim).await {
        Err(e) => e,
        Ok(_) => panic!("a workloadRef Rollout without its Deployment must be refused"),
    };
    assert!(matches!(err, SimError::NoWorkload { .. }));
    assert_eq!(
        err.to_string(),
        "spec.workloadRef: Deployment \"rollout-ref-deployment\" is not in the input \
         (put it in the Rollout's file or pass --workload FILE)"
    );
}

#[tokio::test]
async fn the_longest_pause_times_out_instead_of_overflowing() {
    // The wake-up after a pause of i64::MAX seconds overflowed ("attempt to add with overflow").
    let steps = serde_json::json!([{"setWeight": 50}, {"pause": {"duration": i64::MAX}}]);
    let mut sim = input(rollout(2, steps));
    sim.scenario.max_duration = "1h".into();
    let (report, _) = run(sim).await;
    assert_eq!(report.outcome, Outcome::TimedOut);
    assert_eq!(report.reason, "still Paused after maxDuration");
}
