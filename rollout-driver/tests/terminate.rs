//! A measurement terminated because a sibling metric failed takes the result the provider's
//! `terminate` returns (upstream `runMeasurements`: `newMeasurement = provider.Terminate(...)`),
//! not a hard-coded Successful.

mod support;

use std::sync::Arc;

use rollout_core::analysis::AnalysisPhase::{self, *};
use rollout_core::analysis::machine::{METRIC_TERMINATED, RunStep, TaskKind, step};
use rollout_core::analysis::{AnalysisRun, MeasurementRequest, Observation, ProviderError};
use rollout_driver::{MeasurementProvider, Providers, perform};
use serde_json::json;
use support::analysis::{at, run};
use support::block_on;

/// `bad` fails at once; `job` stays in flight until terminated, and its terminate answers
/// `on_terminate` (`None`: the trait's default).
struct Fake {
    name: &'static str,
    on_terminate: Option<Result<Observation, ProviderError>>,
}

#[async_trait::async_trait]
impl MeasurementProvider for Fake {
    fn name(&self) -> &str {
        self.name
    }
    async fn measure(&self, _req: &MeasurementRequest) -> Result<Observation, ProviderError> {
        Ok(match self.name {
            "prometheus" => Observation::Result {
                result: json!(0).into(),
                value: "0".into(),
                metadata: Default::default(),
            },
            _ => Observation::InFlight {
                resume_at: at(600),
                metadata: Default::default(),
            },
        })
    }
    async fn terminate(&self, _req: &MeasurementRequest) -> Result<Option<Observation>, ProviderError> {
        match &self.on_terminate {
            None => Ok(None),
            Some(r) => r.clone().map(Some),
        }
    }
}

fn providers(on_terminate: Option<Result<Observation, ProviderError>>) -> Providers {
    let mut p = Providers::new();
    p.register(Arc::new(Fake {
        name: "prometheus",
        on_terminate: None,
    }));
    p.register(Arc::new(Fake {
        name: "job",
        on_terminate,
    }));
    p
}

/// Drives the run at one instant with `providers` (the driver loop, `perform` for every task)
/// until it completes; returns the last step and the kinds of tasks performed.
fn drive(r: &mut AnalysisRun, providers: &Providers) -> (RunStep, Vec<TaskKind>) {
    let mut results = Vec::new();
    let mut kinds = Vec::new();
    for _ in 0..10 {
        let out = step(r, at(0), std::mem::take(&mut results));
        r.status = Some(out.status.clone());
        for task in &out.tasks {
            kinds.push(task.kind);
            results.push(block_on(perform(providers, task)));
        }
        if out.status.phase.is_completed() {
            return (out, kinds);
        }
    }
    panic!("run did not complete: {:#?}", r.status);
}

fn two_metrics() -> AnalysisRun {
    run(r#"
metrics:
- name: bad
  successCondition: result > 0
  provider: {prometheus: {query: q}}
- name: job
  provider: {job: {spec: {}}}
"#)
}

fn job_measurement(out: &RunStep) -> (AnalysisPhase, String, AnalysisPhase) {
    let r = out
        .status
        .metric_results
        .iter()
        .find(|r| r.name == "job")
        .unwrap();
    let m = r.measurements.last().unwrap();
    (m.phase, m.message.clone(), r.phase)
}

#[test]
fn provider_without_an_answer_records_metric_terminated() {
    let mut r = two_metrics();
    let (out, kinds) = drive(&mut r, &providers(None));
    assert!(kinds.contains(&TaskKind::Terminate), "{kinds:?}");
    assert_eq!(
        job_measurement(&out),
        (Successful, METRIC_TERMINATED.to_string(), Successful)
    );
    assert_eq!(out.status.phase, Failed);
}

#[test]
fn terminated_metric_takes_the_providers_failed_result() {
    let mut r = two_metrics();
    let answer = Observation::Decided {
        phase: Failed,
        value: "1".into(),
        message: "job failed while being stopped".into(),
        metadata: Default::default(),
    };
    let (out, _) = drive(&mut r, &providers(Some(Ok(answer))));
    assert_eq!(
        job_measurement(&out),
        (Failed, "job failed while being stopped".to_string(), Failed)
    );
    let summary = out.status.run_summary.unwrap();
    assert_eq!((summary.failed, summary.successful), (2, 0));
}

#[test]
fn terminate_error_is_an_error_measurement() {
    let mut r = two_metrics();
    let err = ProviderError::Failed("cannot delete job: forbidden".into());
    let (out, _) = drive(&mut r, &providers(Some(Err(err))));
    let (phase, message, _) = job_measurement(&out);
    assert_eq!((phase, message.as_str()), (Error, "cannot delete job: forbidden"));
    assert_eq!(
        out.status.phase, Failed,
        "the sibling's failure is still the worst"
    );
}

#[test]
fn a_provider_that_stays_in_flight_cannot_hold_the_run() {
    let mut r = two_metrics();
    let still = Observation::InFlight {
        resume_at: at(5),
        metadata: Default::default(),
    };
    let (out, _) = drive(&mut r, &providers(Some(Ok(still))));
    let (phase, message, _) = job_measurement(&out);
    assert_eq!(phase, Error);
    assert!(message.contains("left the measurement in flight"), "{message}");
}
