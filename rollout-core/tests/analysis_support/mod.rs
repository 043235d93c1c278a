//! Shared helpers for the analysis machine tests: build runs from YAML and drive them with a
//! synchronous fake provider and a simulated clock.
#![allow(dead_code)]

use rollout_core::analysis::machine::{RunStep, TaskKind, finish_measurement, step};
use rollout_core::analysis::{AnalysisRun, MeasurementRequest, Observation, ProviderError};
use rollout_core::common::Timestamp;

/// `t0 + secs`.
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_second(1_800_000_000 + secs).unwrap()
}

/// A run from the YAML of its `spec`.
pub fn run(spec_yaml: &str) -> AnalysisRun {
    let spec = serde_yaml::from_str(spec_yaml).unwrap();
    AnalysisRun {
        metadata: rollout_core::analysis::ObjectMeta {
            name: "run".into(),
            ..Default::default()
        },
        spec,
        ..Default::default()
    }
}

/// Steps the run at `now` until it settles: performs every Measure/Resume task with `provider`,
/// feeds the results back, and repeats while there are tasks or the machine asks to be called
/// again at `now`. Returns the last step; `run.status` is updated.
pub fn settle(
    run: &mut AnalysisRun,
    now: Timestamp,
    provider: &mut dyn FnMut(&MeasurementRequest) -> Result<Observation, ProviderError>,
) -> RunStep {
    let mut results = Vec::new();
    for _ in 0..20 {
        let out = step(run, now, std::mem::take(&mut results));
        run.status = Some(out.status.clone());
        for task in &out.tasks {
            let outcome = if task.kind == TaskKind::Terminate {
                Ok(Observation::terminated())
            } else {
                provider(&task.request)
            };
            results.push(finish_measurement(&task.request, outcome, now));
        }
        if results.is_empty() && out.next_wake != Some(now) {
            return out;
        }
    }
    panic!("run did not settle at {now}");
}

/// Drives the run from `start` by jumping to each `next_wake` until it completes or `limit` is
/// passed. Returns the completion time.
pub fn run_to_end(
    run: &mut AnalysisRun,
    start: Timestamp,
    limit: Timestamp,
    provider: &mut dyn FnMut(&MeasurementRequest) -> Result<Observation, ProviderError>,
) -> Option<Timestamp> {
    let mut now = start;
    loop {
        let out = settle(run, now, provider);
        if out.status.phase.is_completed() {
            return Some(now);
        }
        match out.next_wake {
            Some(t) if t <= limit => now = t,
            _ => return None,
        }
    }
}

/// An observation of a plain value, judged by the metric's conditions.
pub fn value(v: serde_json::Value) -> Result<Observation, ProviderError> {
    Ok(Observation::Result {
        value: v.to_string(),
        result: v.into(),
        metadata: Default::default(),
    })
}
