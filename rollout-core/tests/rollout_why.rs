//! Every abort, hold and degraded condition carries a typed `Why` in `status.why`, the condition
//! messages and events are the `Why` rendered, and the `Why` round-trips through the Rollout's
//! status JSON (what a fleet tool reads).

mod rollout_support;

use std::collections::BTreeMap;

use rollout_core::analysis::judge::{
    Detail, JudgeError, JudgeErrorKind, JudgeVerdict, VerdictPhase, verdict_observation,
};
use rollout_core::analysis::provider::error_keys;
use rollout_core::analysis::{
    AnalysisPhase, AnalysisRunStatus, Measurement, MeasurementRequest, MetricResult, Observation,
    ProviderError, ProviderErrorKind, finish_measurement,
};
use rollout_core::rollout::failures::{invalid_spec, replica_failure, replica_success};
use rollout_core::rollout::why::{Cause, DecidingMetric, Why};
use rollout_core::rollout::{
    AnalysisRunKind, ConditionType, Inputs, Observed, Rollout, RolloutPhase, RolloutStatus, reconcile,
};
use rollout_core::testing::FakeCluster;
use rollout_support::*;
use serde_json::json;

/// Serializes the status (alone and inside the Rollout), reads it back, and returns the causes
/// read back; they must equal the ones written.
fn round_trip(ro: &Rollout) -> Vec<Why> {
    let status = &ro.status;
    let text = serde_json::to_string(status).unwrap();
    let back: RolloutStatus = serde_json::from_str(&text).unwrap();
    assert_eq!(&back, status, "status round trip");
    let whole = serde_json::to_value(ro).unwrap();
    assert_eq!(
        whole["status"]["why"].as_array().map(Vec::len),
        Some(status.why.len()),
        "status.why is a JSON array: {whole:#}"
    );
    let read: Rollout = serde_json::from_value(whole).unwrap();
    assert_eq!(read.status.why, status.why);
    back.why
}

fn only(st: &RolloutStatus) -> &Why {
    assert_eq!(st.why.len(), 1, "{:#?}", st.why);
    &st.why[0]
}

fn progressing_message(st: &RolloutStatus) -> String {
    st.condition(ConditionType::Progressing).unwrap().message.clone()
}

fn request() -> MeasurementRequest {
    let now = t0();
    MeasurementRequest {
        namespace: None,
        run: "run".into(),
        metric: Default::default(),
        args: Vec::new(),
        now,
        window_start: now,
        previous: None,
        in_flight: None,
        weights: Vec::new(),
    }
}

/// A run status decided by metric `name` with `measurement`.
fn run_status(phase: AnalysisPhase, name: &str, measurement: Measurement) -> AnalysisRunStatus {
    AnalysisRunStatus {
        phase,
        message: format!("Metric {name:?} assessed {phase:?}"),
        metric_results: vec![
            MetricResult {
                name: "latency".into(),
                phase: AnalysisPhase::Successful,
                ..Default::default()
            },
            MetricResult {
                name: name.into(),
                phase,
                measurements: vec![
                    Measurement {
                        phase: AnalysisPhase::Successful,
                        ..Default::default()
                    },
                    measurement,
                ],
                ..Default::default()
            },
        ],
        ..Default::default()
    }
}

fn regression_verdict() -> JudgeVerdict {
    JudgeVerdict {
        phase: VerdictPhase::Failed,
        code: "regression".into(),
        score: Some(0.12),
        reason: "canary error ratio 4.1% vs stable 1.0%".into(),
        details: vec![Detail {
            name: "error-ratio".into(),
            statistic: "e-value".into(),
            value: 41.5,
            effect: Some(0.031),
            interval: Some((0.02, 0.04)),
            samples: (1200, 3600),
            samples_needed: None,
            extra: vec![],
        }],
        state: None,
    }
}

/// The measurement a judge's verdict becomes, as the run machine records it.
fn judged(verdict: JudgeVerdict) -> Measurement {
    let observation = verdict_observation("error-ratio", "ab12", verdict);
    finish_measurement(&request(), Ok(observation), t0()).measurement
}

/// The measurement a provider error becomes.
fn errored(error: ProviderError) -> Measurement {
    finish_measurement(&request(), Err(error), t0()).measurement
}

/// Background analysis (fixture 03) updating to revision 2, its run in `phase` decided by
/// `status`; two ticks later.
fn background_run_ends(phase: AnalysisPhase, message: &str, status: &AnalysisRunStatus) -> FakeCluster {
    let mut c = deployed(fixture("03-rollout-background-analysis.yaml"));
    c.set_image("demo:v2");
    tick_until(&mut c, 20, |c| !c.observed.analysis_runs.is_empty());
    c.set_run_phase("rollout-background", phase, message);
    for run in &mut c.observed.analysis_runs {
        run.decided_by = DecidingMetric::of_run(status);
    }
    c.tick();
    c.tick();
    c
}

#[test]
fn analysis_failed_names_the_run_metric_judge_code_and_evidence() {
    let status = run_status(AnalysisPhase::Failed, "error-ratio", judged(regression_verdict()));
    let msg = "Metric \"error-ratio\" assessed Failed due to failed (1) > failureLimit (0)";
    let c = background_run_ends(AnalysisPhase::Failed, msg, &status);
    let st = &c.rollout.status;
    assert_eq!(
        st.message,
        format!("RolloutAborted: Rollout aborted update to revision 2: {msg}")
    );
    let why = only(st);
    assert_eq!(why.cause, Cause::AnalysisFailed);
    assert_eq!(
        (why.condition, why.reason.as_str()),
        (ConditionType::Progressing, "RolloutAborted")
    );
    assert_eq!(why.revision, Some(2));
    assert_eq!(why.detail, msg);
    let run = why.run.as_ref().unwrap();
    assert!(
        run.name.starts_with("rollout-background-analysis-"),
        "{}",
        run.name
    );
    assert_eq!(
        (run.kind, run.phase),
        (AnalysisRunKind::Background, AnalysisPhase::Failed)
    );
    let metric = why.metric.as_ref().unwrap();
    assert_eq!(
        (metric.name.as_str(), metric.phase),
        ("error-ratio", AnalysisPhase::Failed)
    );
    assert_eq!(metric.message, "canary error ratio 4.1% vs stable 1.0%");
    assert_eq!(metric.provider_error, None);
    let judge = metric.judge.as_ref().unwrap();
    assert_eq!(
        (judge.name.as_str(), judge.code.as_str()),
        ("error-ratio", "regression")
    );
    assert_eq!(judge.score, Some(0.12));
    assert_eq!(judge.evidence.len(), 1);
    let e = &judge.evidence[0];
    assert_eq!(
        (e.name.as_str(), e.statistic.as_str()),
        ("error-ratio", "e-value")
    );
    assert_eq!((e.value, e.effect), (Some(41.5), Some(0.031)));
    assert_eq!(
        (e.interval, e.samples, e.samples_needed),
        (Some((0.02, 0.04)), Some((1200, 3600)), None)
    );
    // The condition and the event are the Why rendered.
    assert_eq!(progressing_message(st), why.message());
    assert_eq!(last_event(&c, "RolloutAborted").unwrap().message, why.message());
    // Machine-readable without prose: the JSON names the cause and the judge code.
    let v = serde_json::to_value(st).unwrap();
    assert_eq!(v["why"][0]["cause"], "AnalysisFailed");
    assert_eq!(v["why"][0]["metric"]["judge"]["code"], "regression");
    assert_eq!(
        v["why"][0]["metric"]["judge"]["evidence"][0]["samples"],
        json!([1200, 3600])
    );
    assert_eq!(round_trip(&c.rollout), st.why);
}

#[test]
fn analysis_error_from_an_unreachable_provider_is_provider_unreachable() {
    let refused = ProviderError::unreachable("prometheus query failed: connection refused")
        .with_source(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
    let status = run_status(AnalysisPhase::Error, "success-rate", errored(refused));
    let c = background_run_ends(AnalysisPhase::Error, "boom", &status);
    let st = &c.rollout.status;
    assert_eq!(
        st.message,
        "RolloutAborted: Rollout aborted update to revision 2: boom"
    );
    let why = only(st);
    assert_eq!(why.cause, Cause::ProviderUnreachable);
    let metric = why.metric.as_ref().unwrap();
    assert_eq!(metric.provider_error, Some(ProviderErrorKind::Unreachable));
    assert_eq!(metric.message, "prometheus query failed: connection refused");
    assert_eq!(metric.judge, None);
    assert_eq!(progressing_message(st), why.message());
    assert_eq!(round_trip(&c.rollout), st.why);
}

#[test]
fn analysis_error_keeps_the_http_status_and_judge_failure_kind() {
    let status = run_status(
        AnalysisPhase::Error,
        "success-rate",
        errored(ProviderError::http_status(
            503,
            "received non 2xx response code: 503",
        )),
    );
    let c = background_run_ends(AnalysisPhase::Error, "boom", &status);
    let why = only(&c.rollout.status);
    assert_eq!(why.cause, Cause::AnalysisError);
    let metric = why.metric.as_ref().unwrap();
    assert_eq!(
        (metric.provider_error, metric.http_status),
        (Some(ProviderErrorKind::HttpStatus), Some(503))
    );
    assert_eq!(round_trip(&c.rollout), c.rollout.status.why);

    let fuel = JudgeError::FuelExhausted {
        message: "judge ran out of its budget of 100 instructions".into(),
        source: None,
    };
    let status = run_status(
        AnalysisPhase::Error,
        "error-ratio",
        errored(ProviderError::Judge(fuel)),
    );
    let c = background_run_ends(AnalysisPhase::Error, "boom", &status);
    let why = only(&c.rollout.status);
    assert_eq!(why.cause, Cause::AnalysisError);
    let metric = why.metric.as_ref().unwrap();
    assert_eq!(metric.provider_error, Some(ProviderErrorKind::Judge));
    assert_eq!(metric.judge_error, Some(JudgeErrorKind::FuelExhausted));
    assert_eq!(
        metric.message,
        "judge failed: judge ran out of its budget of 100 instructions"
    );
    assert_eq!(round_trip(&c.rollout), c.rollout.status.why);
}

#[test]
fn inconclusive_analysis_holds_with_its_why_until_resumed() {
    let inconclusive = JudgeVerdict {
        phase: VerdictPhase::Inconclusive,
        code: "insufficient-data".into(),
        score: None,
        ..regression_verdict()
    };
    let status = run_status(AnalysisPhase::Inconclusive, "error-ratio", judged(inconclusive));
    let c = background_run_ends(AnalysisPhase::Inconclusive, "", &status);
    let st = &c.rollout.status;
    assert_eq!(st.phase, Some(RolloutPhase::Paused));
    assert!(!st.abort);
    let why = only(st);
    assert_eq!(why.cause, Cause::AnalysisInconclusive);
    assert_eq!(
        (why.condition, why.reason.as_str()),
        (ConditionType::Paused, "InconclusiveAnalysisRun")
    );
    let judge = why.metric.as_ref().and_then(|m| m.judge.as_ref()).unwrap();
    assert_eq!((judge.code.as_str(), judge.score), ("insufficient-data", None));
    assert_eq!(
        last_event(&c, "RolloutPaused").unwrap().message,
        why.message(),
        "the pause event is the Why rendered"
    );
    assert_eq!(round_trip(&c.rollout), st.why);
    // A user resumes: the hold and its cause are gone.
    let mut c = c;
    c.promote();
    c.tick();
    assert!(c.rollout.status.why.is_empty(), "{:#?}", c.rollout.status.why);
}

#[test]
fn user_abort_then_retry() {
    let mut c = deployed(canary(2, json!([{"setWeight": 50}, {"pause": {}}]), json!({})));
    c.set_image("demo:v2");
    c.settle(20, true);
    c.abort();
    c.tick();
    let why = only(&c.rollout.status).clone();
    assert_eq!(why.cause, Cause::UserAbort);
    assert_eq!((why.revision, why.detail.as_str()), (Some(2), ""));
    assert_eq!(why.message(), "Rollout aborted update to revision 2");
    assert_eq!(progressing_message(&c.rollout.status), why.message());
    assert_eq!(round_trip(&c.rollout), vec![why.clone()]);
    // Later ticks keep the same cause.
    c.settle(20, true);
    assert_eq!(c.rollout.status.why, vec![why]);
    c.retry();
    c.tick();
    assert!(c.rollout.status.why.is_empty(), "{:#?}", c.rollout.status.why);
}

#[test]
fn forced_abort_by_the_coordinator() {
    let mut c = deployed(canary(4, json!([{"setWeight": 25}, {"pause": {}}]), json!({})));
    c.set_image("demo:v2");
    c.settle(20, true);
    c.inputs.force_abort = Some("group member failed".into());
    c.tick();
    c.tick();
    let st = &c.rollout.status;
    assert_eq!(
        st.message,
        "RolloutAborted: Rollout aborted update to revision 2: group member failed"
    );
    let why = only(st);
    assert_eq!(why.cause, Cause::ForcedAbort);
    assert_eq!(why.detail, "group member failed");
    assert_eq!(progressing_message(st), why.message());
    assert_eq!(round_trip(&c.rollout), st.why);
}

#[test]
fn progress_deadline_degrades_then_aborts() {
    let mut ro = canary(2, json!([{"setWeight": 50}, {"pause": {}}]), json!({}));
    ro.spec.progress_deadline_seconds = Some(60);
    ro.spec.progress_deadline_abort = true;
    let mut c = deployed(ro);
    c.auto_ready = false;
    c.set_image("demo:v2");
    for _ in 0..5 {
        c.tick();
        c.advance(1);
    }
    let rs_name = c
        .rs(&c.rollout.status.current_pod_hash.clone())
        .unwrap()
        .name
        .clone();
    c.advance(120);
    c.tick();
    let st = &c.rollout.status;
    assert_eq!(st.phase, Some(RolloutPhase::Degraded));
    let timed_out = st
        .why
        .iter()
        .find(|w| w.reason == "ProgressDeadlineExceeded")
        .unwrap();
    assert_eq!(timed_out.cause, Cause::ProgressDeadline);
    assert_eq!(timed_out.replica_set.as_deref(), Some(rs_name.as_str()));
    assert_eq!(progressing_message(st), timed_out.message());
    assert!(events_with(&c, "RolloutAborted").contains(&timed_out.message()));
    let abort = st.why.iter().find(|w| w.reason == "RolloutAborted").unwrap();
    assert_eq!(
        abort.cause,
        Cause::ProgressDeadline,
        "the abort's cause is the deadline"
    );
    assert_eq!(round_trip(&c.rollout), st.why);
    c.tick();
    let st = &c.rollout.status;
    assert_eq!(st.message, "RolloutAborted: Rollout aborted update to revision 2");
    let why = only(st);
    assert_eq!(
        (why.cause, why.reason.as_str()),
        (Cause::ProgressDeadline, "RolloutAborted")
    );
    assert_eq!(why.replica_set.as_deref(), Some(rs_name.as_str()));
    assert_eq!(progressing_message(st), why.message());
    assert_eq!(round_trip(&c.rollout), st.why);
}

#[test]
fn progress_deadline_without_abort_is_degraded_only() {
    let mut ro = canary(2, json!([{"setWeight": 50}, {"pause": {}}]), json!({}));
    ro.spec.progress_deadline_seconds = Some(60);
    let mut c = deployed(ro);
    c.auto_ready = false;
    c.set_image("demo:v2");
    for _ in 0..5 {
        c.tick();
        c.advance(1);
    }
    c.advance(120);
    c.tick();
    c.tick();
    let st = &c.rollout.status;
    assert!(!st.abort);
    let why = only(st);
    assert_eq!(
        (why.cause, why.reason.as_str()),
        (Cause::ProgressDeadline, "ProgressDeadlineExceeded")
    );
    assert_eq!(st.message, format!("ProgressDeadlineExceeded: {}", why.message()));
    assert_eq!(round_trip(&c.rollout), st.why);
}

#[test]
fn invalid_spec_from_the_machine_and_from_an_unreadable_spec() {
    let mut ro = canary(3, json!([{"setWeight": 120}]), json!({}));
    let d = reconcile(&ro, &Observed::default(), t0(), &Inputs::default());
    let why = only(&d.status).clone();
    assert_eq!(
        (why.cause, why.condition),
        (Cause::InvalidSpec, ConditionType::InvalidSpec)
    );
    assert_eq!(d.status.message, format!("InvalidSpec: {}", why.message()));
    ro.status = d.status;
    assert_eq!(round_trip(&ro), vec![why.clone()]);
    // The same invalid spec again keeps the cause; a valid one clears it.
    let again = reconcile(&ro, &Observed::default(), t0(), &Inputs::default());
    assert_eq!(again.status.why, vec![why]);
    let mut fixed = canary(3, json!([{"setWeight": 20}]), json!({}));
    fixed.status = again.status;
    let d = reconcile(&fixed, &Observed::default(), t0(), &Inputs::default());
    assert!(d.status.why.is_empty(), "{:#?}", d.status.why);

    let st = invalid_spec(&RolloutStatus::default(), "spec.replicas: invalid type", t0());
    let why = only(&st);
    assert_eq!(why.cause, Cause::InvalidSpec);
    assert_eq!(st.message, format!("InvalidSpec: {}", why.message()));
    assert_eq!(invalid_spec(&st, "spec.replicas: invalid type", t0()).why, st.why);
    let mut ro = canary(1, json!([]), json!({}));
    ro.status = st;
    assert_eq!(round_trip(&ro), ro.status.why);
}

#[test]
fn replica_failure_from_the_driver_is_kept_by_the_machine_until_success() {
    let mut c = deployed(canary(2, json!([{"setWeight": 50}, {"pause": {}}]), json!({})));
    let failed = replica_failure(&c.rollout.status, "Forbidden", "exceeded quota: pods", t0());
    let why = only(&failed).clone();
    assert_eq!(
        (why.cause, why.reason.as_str()),
        (Cause::ReplicaFailure, "Forbidden")
    );
    assert_eq!(
        failed.condition(ConditionType::ReplicaFailure).unwrap().message,
        why.message()
    );
    c.rollout.status = failed;
    assert_eq!(round_trip(&c.rollout), vec![why.clone()]);
    let d = c.tick();
    assert_eq!(
        d.status.why,
        vec![why],
        "the machine keeps a cause whose condition stays"
    );
    assert!(replica_success(d.status).why.is_empty());
}

#[test]
fn typed_errors_keep_their_kind_text_and_source() {
    let io = std::io::Error::from(std::io::ErrorKind::ConnectionRefused);
    let e = ProviderError::unreachable("web request failed: connection refused").with_source(io);
    assert_eq!(e.to_string(), "web request failed: connection refused");
    assert_eq!(e.kind(), ProviderErrorKind::Unreachable);
    assert!(std::error::Error::source(&e).is_some());
    assert_eq!(e.clone(), e);
    let m = errored(e);
    assert_eq!(m.phase, AnalysisPhase::Error);
    assert_eq!(
        m.metadata.get(error_keys::KIND).map(String::as_str),
        Some("unreachable")
    );
    // An untyped error records no kind, as before.
    assert_eq!(
        errored(ProviderError::Failed("boom".into())).metadata,
        BTreeMap::new()
    );
    for kind in ProviderErrorKind::ALL {
        assert_eq!(ProviderErrorKind::parse(kind.as_str()), Some(kind));
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
    }
    for kind in JudgeErrorKind::ALL {
        assert_eq!(JudgeErrorKind::parse(kind.as_str()), Some(kind));
        assert_eq!(serde_json::to_value(kind).unwrap(), kind.as_str());
    }
    let trap = JudgeError::Trap {
        message: "judge trapped: unreachable".into(),
        source: None,
    }
    .with_source(std::io::Error::other("wasm backtrace"));
    let wrapped = ProviderError::from(trap.clone());
    assert_eq!(wrapped.to_string(), "judge failed: judge trapped: unreachable");
    assert_eq!(
        wrapped.metadata().get(error_keys::JUDGE).map(String::as_str),
        Some("trap")
    );
    let source = std::error::Error::source(&wrapped).unwrap();
    assert_eq!(source.to_string(), trap.to_string());
    assert!(
        source.source().is_some(),
        "the judge error keeps the host's error"
    );
    // A verdict that is not a failure leaves no error keys.
    let ok = Observation::Decided {
        phase: AnalysisPhase::Successful,
        value: String::new(),
        message: String::new(),
        metadata: BTreeMap::new(),
    };
    let m = finish_measurement(&request(), Ok(ok), t0()).measurement;
    assert!(!m.metadata.contains_key(error_keys::KIND));
}

#[test]
fn blue_green_pre_promotion_failure_names_the_pre_promotion_run() {
    let mut c = deployed(from_json(json!({
        "metadata": {"name": "bg", "generation": 1},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "bg"}},
                 "template": {"metadata": {"labels": {"app": "bg"}},
                              "spec": {"containers": [{"name": "c", "image": "bg:v1"}]}},
                 "strategy": {"blueGreen": {"activeService": "active", "previewService": "preview",
                     "prePromotionAnalysis": {"templates": [{"templateName": "smoke"}]}}}}
    })));
    c.set_image("bg:v2");
    tick_until(&mut c, 20, |c| !c.observed.analysis_runs.is_empty());
    c.set_run_phase("bg-", AnalysisPhase::Failed, "smoke failed");
    c.tick();
    c.tick();
    let st = &c.rollout.status;
    assert_eq!(
        st.message,
        "RolloutAborted: Rollout aborted update to revision 2: smoke failed"
    );
    let why = only(st);
    assert_eq!(why.cause, Cause::AnalysisFailed);
    let run = why.run.as_ref().unwrap();
    assert_eq!(run.kind, AnalysisRunKind::PrePromotion);
    assert!(run.name.ends_with("-pre"), "{}", run.name);
    assert_eq!(why.metric, None, "the driver reported no deciding metric");
    assert_eq!(progressing_message(st), why.message());
    assert_eq!(round_trip(&c.rollout), st.why);
}
