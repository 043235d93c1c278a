//! The machine writes one feedback sentence per cause to `status.feedback` (rendered from
//! `status.why`) and emits it once as a `RolloutFeedback` event; the sentence survives the status
//! JSON round trip and is cleared with its cause.

mod rollout_support;

use rollout_core::analysis::judge::{Detail, JudgeVerdict, VerdictPhase, verdict_observation};
use rollout_core::analysis::{
    AnalysisPhase, AnalysisRunStatus, Measurement, MeasurementRequest, MetricResult, finish_measurement,
};
use rollout_core::rollout::feedback::REASON_FEEDBACK;
use rollout_core::rollout::why::DecidingMetric;
use rollout_core::rollout::{Rollout, RolloutStatus};
use rollout_core::testing::FakeCluster;
use rollout_support::*;
use serde_json::json;

/// Status JSON (alone and inside the Rollout) read back equals the status; returns the
/// `feedback` field as JSON saw it.
fn round_trip(ro: &Rollout) -> String {
    let text = serde_json::to_string(&ro.status).unwrap();
    let back: RolloutStatus = serde_json::from_str(&text).unwrap();
    assert_eq!(back, ro.status);
    let whole = serde_json::to_value(ro).unwrap();
    let read: Rollout = serde_json::from_value(whole.clone()).unwrap();
    assert_eq!(read.status.feedback, ro.status.feedback);
    whole["status"]["feedback"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// What the shipped `error-ratio` judge reports for a regression, as the run machine records it.
fn regression() -> Measurement {
    let verdict = JudgeVerdict {
        phase: VerdictPhase::Failed,
        code: "regression".into(),
        score: Some(0.9),
        reason: "error-rate: canary error ratio is higher".into(),
        details: vec![
            Detail::new("error-rate", "e-value", 41.5)
                .with_samples(1840, 5520)
                .with("canary-rate", 0.0234)
                .with("stable-rate", 0.004)
                .with("looks", 3u64),
        ],
        state: None,
    };
    let now = t0();
    let request = MeasurementRequest {
        namespace: None,
        run: "run".into(),
        metric: Default::default(),
        args: Vec::new(),
        now,
        window_start: now,
        previous: None,
        in_flight: None,
        weights: Vec::new(),
    };
    let observation = verdict_observation("error-ratio", "ab12", verdict);
    finish_measurement(&request, Ok(observation), now).measurement
}

#[test]
fn a_failed_analysis_rolls_back_with_the_judges_numbers_once() {
    let mut c = deployed(fixture("03-rollout-background-analysis.yaml"));
    c.set_image("demo:v2");
    tick_until(&mut c, 20, |c| !c.observed.analysis_runs.is_empty());
    assert_eq!(c.rollout.status.feedback, "", "nothing wrong yet");
    let status = AnalysisRunStatus {
        phase: AnalysisPhase::Failed,
        message: "Metric \"error-rate\" assessed Failed".into(),
        metric_results: vec![MetricResult {
            name: "error-rate".into(),
            phase: AnalysisPhase::Failed,
            measurements: vec![regression()],
            ..Default::default()
        }],
        ..Default::default()
    };
    c.set_run_phase("rollout-background", AnalysisPhase::Failed, "failed");
    for run in &mut c.observed.analysis_runs {
        run.decided_by = DecidingMetric::of_run(&status);
    }
    c.settle(20, true);
    let want = "rolled back: canary error ratio 2.3% vs stable 0.4% over 1,840 canary requests";
    assert_eq!(c.rollout.status.feedback, want, "{:#?}", c.rollout.status.why);
    assert_eq!(
        events_with(&c, REASON_FEEDBACK),
        vec![want.to_string()],
        "one event per sentence"
    );
    assert_eq!(round_trip(&c.rollout), want);
}

#[test]
fn a_user_abort_is_told_once_and_cleared_by_retry() {
    let mut c: FakeCluster = deployed(canary(2, json!([{"setWeight": 50}, {"pause": {}}]), json!({})));
    c.set_image("demo:v2");
    c.settle(20, true);
    assert_eq!(c.rollout.status.feedback, "");
    c.abort();
    c.settle(20, true);
    assert_eq!(c.rollout.status.feedback, "rolled back: aborted by a user");
    assert_eq!(events_with(&c, REASON_FEEDBACK).len(), 1);
    assert_eq!(round_trip(&c.rollout), "rolled back: aborted by a user");
    c.retry();
    c.tick();
    assert_eq!(c.rollout.status.feedback, "");
    assert_eq!(round_trip(&c.rollout), "", "an empty sentence is not written");
    assert_eq!(
        events_with(&c, REASON_FEEDBACK).len(),
        1,
        "no event for a cleared sentence"
    );
}
