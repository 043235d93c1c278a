//! The AnalysisRun machine (upstream `analysis/analysis.go:reconcileAnalysisRun`), pure: given the
//! run, `now` and the measurements the driver completed since the last step, it returns the new
//! status, the measurements to take / resume / terminate, and when to call again.
//!
//! Driver loop (`rollout_driver::RunDriver`): `step(run, now, results)` → perform `tasks` with
//! the measurement providers
//! → turn each outcome into a [`MeasurementResult`] with [`finish_measurement`] → call `step`
//! again with them (and again at `next_wake` if nothing happens before).
//!
//! Deliberate choices where upstream is wrong or unclear (see also [`assess_metric`]):
//! - **No metric is Successful without a Successful measurement (upstream #4479).** Upstream
//!   reports Successful for a metric whose measurements all errored or failed within their limits
//!   (count reached with `failed <= failureLimit`, or a terminated background run against an
//!   unreachable Prometheus). Here such a metric is Failed (something failed), else Inconclusive,
//!   else Error, with reason `no successful measurement: failed (f), inconclusive (i), errors (e)`.
//! - **A metric with no conditions** keeps upstream's *code* behaviour: a provider result with
//!   neither `successCondition` nor `failureCondition` is Successful (docs say Inconclusive).
//!   Providers that decide themselves (job, judge) are unaffected.
//! - In-flight measurements of a terminating run are terminated at once (upstream waits for their
//!   `resumeAt`); each takes the phase the provider's terminate returns, as upstream, and a
//!   measurement is due when `now >= due time` (upstream: strictly
//!   after), so a simulated clock that jumps exactly to `next_wake` makes progress.
//! - When a metric completes Failed/Error/Inconclusive, upstream finishes the run on the *next*
//!   reconcile (triggered by the status update). The machine keeps that two-pass shape and
//!   reports `next_wake = now` for the second pass.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::AnalysisPhase;
use super::condition::evaluate_result;
use super::create::{CreateError, resolve_metric_args, resolve_placeholders_lenient};
use super::provider::{MeasurementRequest, Observation, ProviderError};
use super::types::{AnalysisRun, AnalysisRunStatus, Argument, Measurement, Metric, MetricResult, RunSummary};
use super::validate::{
    DEFAULT_MEASUREMENT_HISTORY_LIMIT, dry_run_metrics, retention_limits, validate_metrics,
};
use crate::common::{Timestamp, parse_duration};

mod assess;

pub use assess::{
    assess_metric, assess_run, failure_inconclusive_or_error, is_terminating, metric_reason, severity,
};

/// Retry interval after an Error measurement.
pub const ERROR_RETRY_INTERVAL: Duration = Duration::from_secs(10);
/// Message of an in-flight measurement stopped because the run is terminating.
pub const METRIC_TERMINATED: &str = "Metric Terminated";
/// Run message when `spec.terminate` is set.
pub const RUN_TERMINATED: &str = "Run Terminated";

/// A measurement the driver finished (or found still in flight) for one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementResult {
    /// Metric name.
    pub metric: String,
    /// The measurement (phase Running with `resume_at` if still in flight).
    pub measurement: Measurement,
    /// Whether this replaces the metric's in-flight measurement (a resume) rather than adding one.
    pub resumed: bool,
}

/// What the driver should do for one metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TaskKind {
    /// Take a new measurement (`provider.measure`).
    Measure,
    /// Continue the in-flight measurement (`provider.resume`).
    Resume,
    /// Stop the in-flight measurement (the provider's `terminate`, settled by
    /// [`terminated_observation`](super::provider::terminated_observation)); hand the result back to the next
    /// [`step`] like a resumed measurement: it takes the phase the provider's terminate returns.
    Terminate,
}

/// One task for the driver.
#[derive(Debug, Clone, PartialEq)]
pub struct MeasurementTask {
    /// What to do.
    pub kind: TaskKind,
    /// The request to hand to the provider.
    pub request: MeasurementRequest,
}

/// The outcome of one [`step`].
#[derive(Debug, Clone, PartialEq)]
pub struct RunStep {
    /// The new status.
    pub status: AnalysisRunStatus,
    /// Measurements to take, resume or terminate now.
    pub tasks: Vec<MeasurementTask>,
    /// When to call `step` again even if nothing else happens (None: only on change).
    pub next_wake: Option<Timestamp>,
    /// Metrics whose measurement history was trimmed, with the limit (for provider GC).
    pub garbage_collected: Vec<(String, usize)>,
}

/// Turns a provider outcome into a measurement, applying the metric's conditions to raw results.
/// A provider error becomes an Error measurement with the error's text and its kind in the
/// metadata ([`ProviderError::metadata`]).
/// Values of secret args (`valueFrom.secretKeyRef` args the driver filled in `request.args`) are
/// replaced by `*****` in the message, as upstream.
pub fn finish_measurement(
    request: &MeasurementRequest,
    outcome: Result<Observation, ProviderError>,
    finished_at: Timestamp,
) -> MeasurementResult {
    let mut m = request.in_flight.clone().unwrap_or(Measurement {
        started_at: Some(request.now),
        ..Measurement::default()
    });
    m.resume_at = None;
    match outcome {
        Ok(Observation::Result {
            result,
            value,
            metadata,
        }) => {
            let (phase, error) = evaluate_result(
                request.metric.success_condition.as_deref(),
                request.metric.failure_condition.as_deref(),
                &result,
            );
            m.phase = phase;
            m.message = error.unwrap_or_default();
            m.value = value;
            m.metadata.extend(metadata);
            m.finished_at = Some(finished_at);
        }
        Ok(Observation::Decided {
            phase,
            value,
            message,
            metadata,
        }) => {
            m.value = value;
            m.metadata.extend(metadata);
            m.finished_at = Some(finished_at);
            if phase.is_completed() {
                m.phase = phase;
                m.message = message;
            } else {
                m.phase = AnalysisPhase::Error;
                m.message = format!("provider returned phase {phase:?} without resumeAt");
            }
        }
        Ok(Observation::Judged(judged)) => {
            super::judge::record_verdict(&mut m, *judged);
            m.finished_at = Some(finished_at);
        }
        Ok(Observation::InFlight { resume_at, metadata }) => {
            m.phase = AnalysisPhase::Running;
            m.metadata.extend(metadata);
            m.resume_at = Some(resume_at);
            m.finished_at = None;
        }
        Err(e) => {
            m.phase = AnalysisPhase::Error;
            m.message = e.to_string();
            m.metadata.extend(e.metadata());
            m.finished_at = Some(finished_at);
        }
    }
    for secret in request
        .args
        .iter()
        .filter(|a| a.value_from.as_ref().is_some_and(|v| v.secret_key_ref.is_some()))
    {
        if let Some(value) = secret.value.as_deref().filter(|v| !v.is_empty()) {
            m.message = m.message.replace(value, "*****");
        }
    }
    MeasurementResult {
        metric: request.metric.name.clone(),
        measurement: m,
        resumed: request.in_flight.is_some(),
    }
}

/// Metrics with args substituted (secret args replaced by a placeholder, as upstream does for
/// validation and scheduling).
pub fn resolve_metrics(metrics: &[Metric], args: &[Argument]) -> Result<Vec<Metric>, CreateError> {
    let args = without_secrets(args);
    metrics.iter().map(|m| resolve_metric_args(m, &args)).collect()
}

fn without_secrets(args: &[Argument]) -> Vec<Argument> {
    args.iter()
        .map(|a| {
            let mut a = a.clone();
            if a.value.is_none() && a.value_from.as_ref().is_some_and(|v| v.secret_key_ref.is_some()) {
                a.value = Some("temp-for-secret".to_string());
                a.value_from = None;
            }
            a
        })
        .collect()
}

fn duration(text: Option<&str>) -> Option<Duration> {
    text.filter(|t| !t.is_empty())
        .and_then(|t| parse_duration(t).ok())
}

fn add(t: Timestamp, d: Duration) -> Timestamp {
    jiff::SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(jiff::Timestamp::MAX)
}

fn apply(status: &mut AnalysisRunStatus, result: MeasurementResult, dry_run: &BTreeSet<String>) {
    let idx = match status.metric_results.iter().position(|r| r.name == result.metric) {
        Some(i) => i,
        None => {
            status.metric_results.push(MetricResult {
                name: result.metric.clone(),
                phase: AnalysisPhase::Running,
                dry_run: dry_run.contains(&result.metric),
                ..MetricResult::default()
            });
            status.metric_results.len() - 1
        }
    };
    let Some(r) = status.metric_results.get_mut(idx) else {
        return;
    };
    if r.phase.is_completed() {
        return;
    }
    let m = result.measurement;
    record(r, &m);
    let replace = result.resumed && r.measurements.last().is_some_and(|l| l.finished_at.is_none());
    match (replace, r.measurements.last_mut()) {
        (true, Some(last)) => *last = m,
        _ => r.measurements.push(m),
    }
}

fn record(r: &mut MetricResult, m: &Measurement) {
    match m.phase {
        AnalysisPhase::Successful => {
            r.successful += 1;
            r.count += 1;
            r.consecutive_error = 0;
            r.consecutive_success += 1;
        }
        AnalysisPhase::Failed | AnalysisPhase::Inconclusive => {
            if m.phase == AnalysisPhase::Failed {
                r.failed += 1;
            } else {
                r.inconclusive += 1;
            }
            r.count += 1;
            r.consecutive_error = 0;
            r.consecutive_success = 0;
        }
        AnalysisPhase::Error => {
            r.error += 1;
            r.consecutive_error += 1;
            r.consecutive_success = 0;
        }
        AnalysisPhase::Pending | AnalysisPhase::Running => {}
    }
}

fn error_step(mut status: AnalysisRunStatus, now: Timestamp, message: String) -> RunStep {
    status.phase = AnalysisPhase::Error;
    status.message = message;
    status.completed_at = Some(now);
    RunStep {
        status,
        tasks: vec![],
        next_wake: None,
        garbage_collected: vec![],
    }
}

/// One reconcile of the run. See the module docs for the driver loop.
pub fn step(run: &AnalysisRun, now: Timestamp, results: Vec<MeasurementResult>) -> RunStep {
    let mut status = run.status.clone().unwrap_or_default();
    if status.phase.is_completed() {
        return RunStep {
            status,
            tasks: vec![],
            next_wake: None,
            garbage_collected: vec![],
        };
    }
    let metrics = match resolve_metrics(&run.spec.metrics, &run.spec.args) {
        Ok(m) => m,
        Err(e) => return error_step(status, now, format!("Unable to resolve metric arguments: {e}")),
    };
    if let Err(e) = validate_metrics(&metrics) {
        return error_step(status, now, format!("Analysis spec invalid: {e}"));
    }
    let dry_run = match dry_run_metrics(&run.spec.dry_run, &metrics) {
        Ok(d) => d,
        Err(e) => return error_step(status, now, format!("Analysis spec invalid: {e}")),
    };
    let retention = match retention_limits(&run.spec.measurement_retention, &metrics) {
        Ok(r) => r,
        Err(e) => return error_step(status, now, format!("Analysis spec invalid: {e}")),
    };
    for r in results {
        apply(&mut status, r, &dry_run);
    }
    status.started_at.get_or_insert(now);
    let mut tasks = Vec::new();
    let (phase, message) = assess_run(&mut status, &metrics, &dry_run, run.spec.terminate);
    if phase != status.phase {
        status.phase = phase;
        status.message = message;
        if phase.is_completed() {
            status.completed_at = Some(now);
        }
    }
    let garbage_collected = garbage_collect(&mut status, &retention);
    let mut next_wake = None;
    if !status.phase.is_completed() {
        let terminating_now = is_terminating(run.spec.terminate, &status);
        tasks.extend(due_tasks(run, &status, &metrics, now, terminating_now));
        next_wake = next_reconcile(&status, &metrics);
        if terminating_now {
            next_wake = Some(now);
        }
    }
    RunStep {
        status,
        tasks,
        next_wake,
        garbage_collected,
    }
}

fn garbage_collect(
    status: &mut AnalysisRunStatus,
    retention: &BTreeMap<String, i32>,
) -> Vec<(String, usize)> {
    let mut out = Vec::new();
    for r in &mut status.metric_results {
        let limit = retention
            .get(&r.name)
            .filter(|l| **l > 0)
            .map(|l| *l as usize)
            .unwrap_or(DEFAULT_MEASUREMENT_HISTORY_LIMIT);
        if r.measurements.len() > limit {
            let excess = r.measurements.len() - limit;
            r.measurements.drain(..excess);
            out.push((r.name.clone(), limit));
        }
    }
    out
}

fn request(
    run: &AnalysisRun,
    status: &AnalysisRunStatus,
    metric: &Metric,
    now: Timestamp,
    in_flight: Option<Measurement>,
) -> MeasurementRequest {
    // Hand providers real arg values; secret args the driver resolves stay as placeholders.
    let resolved = run
        .spec
        .metrics
        .iter()
        .find(|m| m.name == metric.name)
        .and_then(|raw| {
            let json = serde_json::to_string(raw).ok()?;
            let text = resolve_placeholders_lenient(&json, &run.spec.args, true).ok()?;
            serde_json::from_str::<Metric>(&text).ok()
        })
        .unwrap_or_else(|| metric.clone());
    let previous = status
        .metric_results
        .iter()
        .find(|r| r.name == metric.name)
        .and_then(|r| r.measurements.iter().rev().find(|m| m.finished_at.is_some()))
        .cloned();
    MeasurementRequest {
        namespace: run.metadata.namespace.clone(),
        run: run.metadata.name.clone(),
        metric: resolved,
        args: run.spec.args.clone(),
        now,
        window_start: status.started_at.unwrap_or(now),
        previous,
        in_flight,
        weights: vec![],
    }
}

/// Upstream `generateMetricTasks`.
fn due_tasks(
    run: &AnalysisRun,
    status: &AnalysisRunStatus,
    metrics: &[Metric],
    now: Timestamp,
    terminating: bool,
) -> Vec<MeasurementTask> {
    let mut tasks = Vec::new();
    for metric in metrics {
        let r = status.metric_results.iter().find(|r| r.name == metric.name);
        if r.is_some_and(|r| r.phase.is_completed()) {
            continue;
        }
        let last = r.and_then(|r| r.measurements.last());
        let task = |kind, in_flight| MeasurementTask {
            kind,
            request: request(run, status, metric, now, in_flight),
        };
        match last {
            Some(l) if l.finished_at.is_none() => {
                if terminating {
                    tasks.push(task(TaskKind::Terminate, Some(l.clone())));
                } else if l.resume_at.is_none_or(|t| t <= now) {
                    tasks.push(task(TaskKind::Resume, Some(l.clone())));
                }
            }
            _ if terminating => {}
            None => {
                let start = status.started_at.unwrap_or(now);
                let ready = match duration(metric.initial_delay.as_deref()) {
                    Some(d) => add(start, d) <= now,
                    None => metric.initial_delay.as_deref().unwrap_or("").is_empty(),
                };
                if ready {
                    tasks.push(task(TaskKind::Measure, None));
                }
            }
            Some(l) => {
                let count = r.map_or(0, |r| r.count);
                if metric.effective_count().is_some_and(|ec| i64::from(count) >= ec) {
                    continue;
                }
                let no_interval = metric.interval.as_deref().unwrap_or("").is_empty();
                let interval = if l.phase == AnalysisPhase::Error || no_interval {
                    Some(ERROR_RETRY_INTERVAL)
                } else {
                    duration(metric.interval.as_deref())
                };
                if let (Some(i), Some(done)) = (interval, l.finished_at)
                    && add(done, i) <= now
                {
                    tasks.push(task(TaskKind::Measure, None));
                }
            }
        }
    }
    tasks
}

/// Upstream `calculateNextReconcileTime`.
fn next_reconcile(status: &AnalysisRunStatus, metrics: &[Metric]) -> Option<Timestamp> {
    let mut best: Option<Timestamp> = None;
    let mut consider = |t: Timestamp| {
        if best.is_none_or(|b| t < b) {
            best = Some(t);
        }
    };
    for metric in metrics {
        let r = status.metric_results.iter().find(|r| r.name == metric.name);
        if r.is_some_and(|r| r.phase.is_completed()) {
            continue;
        }
        match r.and_then(|r| r.measurements.last()) {
            None => {
                if let (Some(d), Some(start)) = (duration(metric.initial_delay.as_deref()), status.started_at)
                {
                    consider(add(start, d));
                }
            }
            Some(l) if l.finished_at.is_none() => {
                if let Some(t) = l.resume_at {
                    consider(t);
                }
            }
            Some(l) => {
                let count = r.map_or(0, |r| r.count);
                if metric.effective_count().is_some_and(|ec| i64::from(count) >= ec) {
                    continue;
                }
                let interval = if l.phase == AnalysisPhase::Error {
                    Some(ERROR_RETRY_INTERVAL)
                } else {
                    duration(metric.interval.as_deref())
                };
                if let (Some(i), Some(done)) = (interval, l.finished_at) {
                    consider(add(done, i));
                }
            }
        }
    }
    best
}
