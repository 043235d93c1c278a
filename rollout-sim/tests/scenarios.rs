//! Whole simulations of the bundled Rollout with a native judge (the CLI tests run the same
//! scenarios with the real WebAssembly judge).

use std::sync::Arc;

use rollout_core::analysis::AnalysisTemplate;
use rollout_core::analysis::judge::{RatioThresholdJudge, StaticJudges};
use rollout_core::rollout::Rollout;
use rollout_sim::{Outcome, Scenario, SimInput, SimReport, simulate};
use serde::Deserialize;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/scenarios");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DIR}/{name}")).unwrap()
}

/// The bundled template with the WASM judge swapped for the native one (same series, same rule).
fn templates() -> Vec<AnalysisTemplate> {
    let text = read("analysis.yaml")
        .replace(
            "name: error-ratio-reference",
            &format!("name: {}", RatioThresholdJudge::NAME),
        )
        .replace(
            "sha256: 5318de441fe708f52a13b95a655c92aff9dbc0ea2a9e0c0f1bb9b996769a75d3",
            &format!(
                "sha256: {}\n          config: {{maxIncrease: 0.05, minSamples: 100}}",
                RatioThresholdJudge::SHA256
            ),
        );
    vec![serde_yaml::from_str(&text).unwrap()]
}

fn input(scenario: &str, seed: u64) -> SimInput {
    let mut judges = StaticJudges::new();
    judges.insert(
        RatioThresholdJudge::NAME,
        RatioThresholdJudge::SHA256,
        Arc::new(RatioThresholdJudge),
    );
    SimInput {
        rollout: serde_yaml::from_str::<Rollout>(&read("rollout.yaml")).unwrap(),
        templates: templates(),
        scenario: Scenario::from_yaml(&read(scenario)).unwrap(),
        seed,
        judges: Arc::new(judges),
    }
}

async fn run(scenario: &str, seed: u64) -> SimReport {
    let mut lines = Vec::new();
    let report = simulate(input(scenario, seed), &mut |e| lines.push(e.line()))
        .await
        .unwrap();
    eprintln!("{}", lines.join("\n"));
    report
}

#[tokio::test]
async fn healthy_canary_is_promoted() {
    let r = run("healthy.yaml", 1).await;
    assert_eq!(r.outcome, Outcome::Promoted, "{}", r.reason);
    // 4 one-minute pauses plus pod start-up: between 4 and 10 simulated minutes.
    assert!((240.0..600.0).contains(&r.duration_secs), "{}", r.duration_secs);
}

#[tokio::test]
async fn error_spike_at_40_percent_is_aborted_and_rolled_back() {
    let r = run("error-spike.yaml", 1).await;
    assert_eq!(r.outcome, Outcome::Aborted, "{}", r.reason);
    let last = r.timeline.last().unwrap();
    assert_eq!(last.weight, 0);
}

#[tokio::test]
async fn low_traffic_pauses_instead_of_rolling_back() {
    let r = run("low-traffic.yaml", 1).await;
    assert_eq!(r.outcome, Outcome::Paused, "{}", r.reason);
    assert!(r.reason.contains("Inconclusive"), "{}", r.reason);
}

#[tokio::test]
async fn same_seed_same_log() {
    let a = run("error-spike.yaml", 9).await;
    let b = run("error-spike.yaml", 9).await;
    assert_eq!(
        serde_json::to_string(&a).unwrap(),
        serde_json::to_string(&b).unwrap()
    );
}

#[tokio::test]
async fn environment_already_failing_is_aborted_by_the_absolute_guard() {
    let r = run("already-failing.yaml", 1).await;
    assert_eq!(r.outcome, Outcome::Aborted, "{}", r.reason);
    assert!(r.reason.contains("canary-error-ratio"), "{}", r.reason);
}

#[tokio::test]
async fn a_metric_outage_shorter_than_the_error_limit_does_not_roll_back() {
    let mut i = input("healthy.yaml", 3);
    i.scenario.faults = Scenario::from_yaml("faults: [{at: {time: 70s}, metricsUnreachable: 30s}]")
        .unwrap()
        .faults;
    let mut lines = Vec::new();
    let r = simulate(i, &mut |e| lines.push(e.line())).await.unwrap();
    let errors = lines.iter().filter(|l| l.contains("connection refused")).count();
    assert!(errors >= 2, "{}", lines.join("\n"));
    assert_eq!(r.outcome, Outcome::Promoted, "{}\n{}", r.reason, lines.join("\n"));
}

#[tokio::test]
async fn crash_looping_canary_never_progresses() {
    let mut i = input("healthy.yaml", 1);
    i.scenario.max_duration = "20m".into();
    i.scenario.faults = Scenario::from_yaml("faults: [{at: {time: 0s}, canaryCrashLoop: true}]")
        .unwrap()
        .faults;
    let r = simulate(i, &mut |_| {}).await.unwrap();
    // progressDeadlineSeconds (600 s) passes with the canary never ready.
    assert!(
        matches!(r.outcome, Outcome::Degraded | Outcome::TimedOut),
        "{:?}: {}",
        r.outcome,
        r.reason
    );
    let last = r.timeline.last().unwrap();
    assert_eq!(last.versions[&r.canary_hash].ready, 0);
}

fn fixture(name: &str) -> Rollout {
    let text = std::fs::read_to_string(format!(
        "{}/../../shared/fixtures/argo-rollouts/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let doc = serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .find(|v| v.get("kind").and_then(|k| k.as_str()) == Some("Rollout"))
        .unwrap();
    serde_yaml::from_value(doc).unwrap()
}

#[tokio::test]
async fn indefinite_pauses_wait_for_a_person_or_a_simulated_promote() {
    for name in ["01-rollout-canary.yaml", "02-rollout-bluegreen.yaml"] {
        let mut i = input("healthy.yaml", 1);
        i.rollout = fixture(name);
        i.templates.clear();
        let r = simulate(i, &mut |_| {}).await.unwrap();
        assert_eq!(r.outcome, Outcome::Paused, "{name}: {}", r.reason);
        assert!(
            r.reason.starts_with("paused until someone runs promote"),
            "{name}: {}",
            r.reason
        );

        let mut i = input("healthy.yaml", 1);
        i.rollout = fixture(name);
        i.templates.clear();
        i.scenario.promote_paused_after = Some("30s".into());
        let mut promotes = 0;
        let r = simulate(i, &mut |e| {
            promotes += usize::from(matches!(e.kind, rollout_sim::log::EventKind::Promote));
        })
        .await
        .unwrap();
        assert_eq!(r.outcome, Outcome::Promoted, "{name}: {}", r.reason);
        assert!(promotes >= 1, "{name}");
    }
}

#[tokio::test]
async fn a_long_metric_outage_errors_out_after_the_consecutive_error_limit() {
    let mut i = input("healthy.yaml", 3);
    i.scenario.faults = Scenario::from_yaml("faults: [{at: {time: 70s}, metricsUnreachable: 10m}]")
        .unwrap()
        .faults;
    let mut errors = 0;
    let r = simulate(i, &mut |e| {
        if let rollout_sim::log::EventKind::Measurement { phase, message, .. } = &e.kind
            && phase == "Error"
        {
            assert!(message.contains("connection refused"), "{message}");
            errors += 1;
        }
    })
    .await
    .unwrap();
    assert_eq!(r.outcome, Outcome::Aborted, "{}", r.reason);
    // consecutiveErrorLimit defaults to 4: the fifth consecutive error ends the metric.
    assert!(r.reason.contains("assessed Error"), "{}", r.reason);
    assert!(errors >= 5, "{errors}");
}

#[tokio::test]
async fn blue_green_traffic_follows_the_active_service() {
    let mut i = input("healthy.yaml", 1);
    i.rollout = fixture("02-rollout-bluegreen.yaml");
    i.templates.clear();
    let r = simulate(i, &mut |_| {}).await.unwrap();
    assert_eq!(r.outcome, Outcome::Paused, "{}", r.reason);
    // While paused for promotion the preview (new) version is up but serves nothing.
    let last = r.timeline.last().unwrap();
    let preview = &last.versions[&r.canary_hash];
    assert!(preview.ready > 0, "{last:?}");
    assert_eq!(preview.traffic, 0.0, "{last:?}");
    assert_eq!(last.versions[&r.stable_hash].traffic, 1.0, "{last:?}");
}
