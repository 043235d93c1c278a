//! Whole simulations of the bundled Rollout (an inline `error-ratio` analysis step after each
//! weight) with the committed WebAssembly judge, on the bundled scenarios.

mod support;

use std::collections::BTreeMap;

use rollout_core::analysis::machine::assess_metric;
use rollout_core::analysis::validate::validate_metrics;
use rollout_core::analysis::{AnalysisPhase, Measurement, MetricResult};
use rollout_core::rollout::Rollout;
use rollout_sim::log::EventKind;
use rollout_sim::{Outcome, Scenario, SimInput, SimReport, simulate};
use serde::Deserialize;
use support::{read, template};

fn input(scenario: &str, seed: u64) -> SimInput {
    support::input(Scenario::from_yaml(&read(scenario)).unwrap(), seed)
}

async fn run(scenario: &str, seed: u64) -> SimReport {
    let mut lines = Vec::new();
    let report = simulate(input(scenario, seed), &mut |e| lines.push(e.line()))
        .await
        .unwrap();
    eprintln!("{}", lines.join("\n"));
    report
}

/// One analysis run as the log tells it: its measurements (phase, judge code, message) in order
/// and how it completed.
#[derive(Debug, Default)]
struct RunLog {
    measurements: Vec<(String, String, String)>,
    completed: Option<String>,
}

fn runs(r: &SimReport) -> BTreeMap<String, RunLog> {
    let mut out: BTreeMap<String, RunLog> = BTreeMap::new();
    for e in &r.events {
        match &e.kind {
            EventKind::AnalysisStarted { run } => {
                out.entry(run.clone()).or_default();
            }
            EventKind::Measurement {
                run,
                phase,
                code,
                message,
                ..
            } => out.entry(run.clone()).or_default().measurements.push((
                phase.clone(),
                code.clone().unwrap_or_default(),
                message.clone(),
            )),
            EventKind::AnalysisCompleted { run, phase, .. } => {
                out.entry(run.clone()).or_default().completed = Some(phase.clone());
            }
            _ => {}
        }
    }
    out
}

/// The run of the analysis step at `step` (runs are named `<rollout>-<hash>-<revision>-<step>`).
fn step_run<'a>(runs: &'a BTreeMap<String, RunLog>, r: &SimReport, step: i32) -> &'a RunLog {
    let name = format!("guestbook-{}-2-{step}", r.canary_hash);
    runs.get(&name)
        .unwrap_or_else(|| panic!("no run {name} in {:?}", runs.keys()))
}

fn phases(run: &RunLog) -> Vec<&str> {
    run.measurements.iter().map(|(p, _, _)| p.as_str()).collect()
}

#[test]
fn the_bundled_step_metric_is_valid_and_decides_as_argo_does() {
    let t = template();
    validate_metrics(&t.spec.metrics).unwrap();
    let [metric] = t.spec.metrics.as_slice() else {
        panic!("one metric expected")
    };
    assert_eq!(metric.effective_count(), Some(10));
    assert_eq!(metric.consecutive_success_limit_value(), 1);
    assert_eq!(metric.failure_limit_value(), 0);
    assert_eq!(metric.inconclusive_limit_value(), 9);
    // Counters as the run machine keeps them: (successful, failed, inconclusive, consecutive success).
    let result = |s: i32, f: i32, i: i32, cs: i32| MetricResult {
        name: "error-ratio".into(),
        phase: AnalysisPhase::Running,
        measurements: vec![Measurement {
            phase: AnalysisPhase::Inconclusive,
            ..Measurement::default()
        }],
        count: s + f + i,
        successful: s,
        failed: f,
        inconclusive: i,
        consecutive_success: cs,
        ..MetricResult::default()
    };
    let cases = [
        // Nine looks without a decision: keep measuring.
        ((0, 0, 9, 0), AnalysisPhase::Running),
        // The tenth: count reached, inconclusive (10) > inconclusiveLimit (9).
        ((0, 0, 10, 0), AnalysisPhase::Inconclusive),
        // consecutiveSuccessLimit 1: the first Successful verdict completes the metric...
        ((1, 0, 3, 1), AnalysisPhase::Successful),
        ((1, 0, 9, 1), AnalysisPhase::Successful),
        // ...and failureLimit 0: so does the first Failed one.
        ((0, 1, 3, 0), AnalysisPhase::Failed),
        ((0, 1, 9, 0), AnalysisPhase::Failed),
    ];
    for ((s, f, i, cs), want) in cases {
        assert_eq!(
            assess_metric(metric, &result(s, f, i, cs), false),
            want,
            "successful {s}, failed {f}, inconclusive {i}"
        );
    }
}

#[tokio::test]
async fn healthy_canary_passes_every_step_and_is_promoted() {
    let r = run("healthy.yaml", 1).await;
    assert_eq!(r.outcome, Outcome::Promoted, "{}", r.reason);
    assert_eq!(r.reason, "all 8 steps completed; 4 analysis run(s) successful");
    let runs = runs(&r);
    assert_eq!(runs.len(), 4, "{runs:?}");
    for step in [1, 3, 5, 7] {
        let run = step_run(&runs, &r, step);
        // Inconclusive looks until the first Successful one, which completes the run.
        let (last, before) = run.measurements.split_last().unwrap();
        assert_eq!(last.0, "Successful", "step {step}: {run:?}");
        assert_eq!(last.1, "within-tolerance", "step {step}: {run:?}");
        assert!(
            last.2
                .starts_with("error-ratio: canary is within tolerance with confidence 95.0%"),
            "{}",
            last.2
        );
        assert!(
            before.iter().all(|(p, _, _)| p == "Inconclusive"),
            "step {step}: {run:?}"
        );
        assert_eq!(run.completed.as_deref(), Some("Successful"), "step {step}");
    }
    // initialDelay 1m, then one look a minute at 20/40/60/80%: between 4 and 20 minutes.
    assert!((240.0..1200.0).contains(&r.duration_secs), "{}", r.duration_secs);
}

#[tokio::test]
async fn error_spike_at_40_percent_is_failed_by_the_judge_and_rolled_back() {
    let r = run("error-spike.yaml", 1).await;
    assert_eq!(r.outcome, Outcome::Aborted, "{}", r.reason);
    let runs = runs(&r);
    // Step 1 (20%) passed before the spike; step 3 (40%) fails on its first look with a judge
    // Failed verdict: failureLimit 0.
    assert_eq!(step_run(&runs, &r, 1).completed.as_deref(), Some("Successful"));
    let failed = step_run(&runs, &r, 3);
    assert_eq!(failed.completed.as_deref(), Some("Failed"));
    assert_eq!(phases(failed), ["Failed"], "{failed:?}");
    assert_eq!(failed.measurements[0].1, "regression");
    let want = format!(
        "rolled back to the stable version: analysis guestbook-{}-2-3 Failed (judge: regression): \
         Metric \"error-ratio\" assessed Failed due to failed (1) > failureLimit (0): \
         \"Error Message: error-ratio: canary is worse than stable: rate ratio ",
        r.canary_hash
    );
    assert!(r.reason.starts_with(&want), "{}\nwanted {want}", r.reason);
    assert!(r.reason.contains("anytime-valid p <= "), "{}", r.reason);
    assert!(!runs.contains_key(&format!("guestbook-{}-2-5", r.canary_hash)));
    let last = r.timeline.last().unwrap();
    assert_eq!(last.weight, 0);
}

/// The start of the outcome's reason when the first step's run ended Inconclusive with the
/// judge's `code`, its message starting with `message`.
fn paused_inconclusive(r: &SimReport, code: &str, message: &str) -> String {
    format!(
        "InconclusiveAnalysisRun, not rolled back: analysis guestbook-{}-2-1 Inconclusive \
         (judge: {code}): Metric \"error-ratio\" assessed Inconclusive due to \
         inconclusive (10) > inconclusiveLimit (9): \"Error Message: error-ratio: {message}",
        r.canary_hash
    )
}

#[tokio::test]
async fn low_traffic_pauses_inconclusive_with_samples_still_needed() {
    let r = run("low-traffic.yaml", 1).await;
    assert_eq!(r.outcome, Outcome::Paused, "{}", r.reason);
    let want = paused_inconclusive(&r, "insufficient-data", "not enough evidence yet (canary ");
    assert!(r.reason.starts_with(&want), "{}\nwanted {want}", r.reason);
    assert!(
        r.reason
            .ends_with(" more requests per arm needed\"; waiting for promote or abort"),
        "{}",
        r.reason
    );
    let runs = runs(&r);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = step_run(&runs, &r, 1);
    assert_eq!(phases(run), ["Inconclusive"; 10], "{run:?}");
    // Every look says how many more requests it needs, never a pass on too little traffic.
    for (_, code, message) in &run.measurements {
        assert_eq!(code, "insufficient-data", "{message}");
        assert!(message.contains("more requests per arm needed"), "{message}");
    }
    // Held at the first weight: neither promoted nor rolled back.
    assert_eq!(r.timeline.last().unwrap().weight, 20);
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
async fn environment_already_failing_pauses_as_unhealthy_without_blaming_the_canary() {
    let r = run("already-failing.yaml", 1).await;
    assert_eq!(r.outcome, Outcome::Paused, "{}", r.reason);
    let want = paused_inconclusive(
        &r,
        "environment-unhealthy",
        "stable itself violates the SLO (rate ",
    );
    assert!(r.reason.starts_with(&want), "{}\nwanted {want}", r.reason);
    assert!(
        r.reason.ends_with(
            "the environment is unhealthy, so the canary is neither blamed nor promoted\"; waiting for promote or abort"
        ),
        "{}",
        r.reason
    );
    let runs = runs(&r);
    assert_eq!(runs.len(), 1, "{runs:?}");
    let run = step_run(&runs, &r, 1);
    assert_eq!(phases(run), ["Inconclusive"; 10], "{run:?}");
    assert!(
        run.measurements
            .iter()
            .all(|(_, code, _)| code == "environment-unhealthy"),
        "{run:?}"
    );
    // Not aborted: the canary keeps its 20% and nothing was rolled back.
    assert!(
        !r.events
            .iter()
            .any(|e| matches!(&e.kind, EventKind::RolloutEvent { reason, .. } if reason == "RolloutAborted")),
    );
    assert_eq!(r.timeline.last().unwrap().weight, 20);
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
