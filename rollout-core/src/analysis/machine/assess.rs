//! Assessing measurements, metrics and the run (upstream `assessMetricStatus`,
//! `assessRunStatus`): phases, their precedence and the messages upstream writes.

use super::*;

/// Upstream `IsTerminating`: `spec.terminate`, or a non-dry-run metric already Failed, Error or
/// Inconclusive.
pub fn is_terminating(terminate: bool, status: &AnalysisRunStatus) -> bool {
    terminate
        || status.metric_results.iter().any(|r| {
            !r.dry_run
                && matches!(
                    r.phase,
                    AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
                )
        })
}

/// Upstream `IsWorse` order: Successful < Running < Pending < Inconclusive < Error < Failed.
pub fn severity(p: AnalysisPhase) -> u8 {
    match p {
        AnalysisPhase::Successful => 0,
        AnalysisPhase::Running => 1,
        AnalysisPhase::Pending => 2,
        AnalysisPhase::Inconclusive => 3,
        AnalysisPhase::Error => 4,
        AnalysisPhase::Failed => 5,
    }
}

/// Upstream `assessMetricFailureInconclusiveOrError`: the LAST exceeded limit wins, so Error >
/// Inconclusive > Failed. A failure limit of -1 disables the failure check.
pub fn failure_inconclusive_or_error(metric: &Metric, r: &MetricResult) -> Option<(AnalysisPhase, String)> {
    let mut out = None;
    let fl = metric.failure_limit_value();
    if fl >= 0 && i64::from(r.failed) > fl {
        out = Some((
            AnalysisPhase::Failed,
            format!("failed ({}) > failureLimit ({fl})", r.failed),
        ));
    }
    let il = metric.inconclusive_limit_value();
    if i64::from(r.inconclusive) > il {
        out = Some((
            AnalysisPhase::Inconclusive,
            format!("inconclusive ({}) > inconclusiveLimit ({il})", r.inconclusive),
        ));
    }
    let cel = metric.consecutive_error_limit_value();
    if i64::from(r.consecutive_error) > cel {
        out = Some((
            AnalysisPhase::Error,
            format!(
                "consecutiveErrors ({}) > consecutiveErrorLimit ({cel})",
                r.consecutive_error
            ),
        ));
    }
    out
}

/// The #4479 guard: the phase for a metric that measured something but never succeeded, in place
/// of the Successful upstream would report (Failed if anything failed, else Inconclusive, else
/// Error). `None` when a measurement succeeded or nothing was measured.
fn nothing_succeeded(r: &MetricResult) -> Option<AnalysisPhase> {
    if r.successful > 0 {
        None
    } else if r.failed > 0 {
        Some(AnalysisPhase::Failed)
    } else if r.inconclusive > 0 {
        Some(AnalysisPhase::Inconclusive)
    } else if r.error > 0 {
        Some(AnalysisPhase::Error)
    } else {
        None
    }
}

/// Upstream `assessMetricStatus` (with `consecutiveSuccessLimit`), plus the #4479 guard: a metric
/// whose measurements were all Error / Failed / Inconclusive (within their limits) is not
/// Successful but Failed, Inconclusive or Error (see `nothing_succeeded`).
pub fn assess_metric(metric: &Metric, r: &MetricResult, terminating: bool) -> AnalysisPhase {
    if r.phase.is_completed() {
        return r.phase;
    }
    let Some(last) = r.measurements.last() else {
        return if terminating {
            AnalysisPhase::Successful
        } else {
            AnalysisPhase::Pending
        };
    };
    if !last.phase.is_completed() {
        return AnalysisPhase::Running;
    }
    if let Some((phase, _)) = failure_inconclusive_or_error(metric, r) {
        return phase;
    }
    let csl = metric.consecutive_success_limit_value();
    if csl > 0 && i64::from(r.consecutive_success) >= csl {
        return AnalysisPhase::Successful;
    }
    let successful_unless_only_errors = nothing_succeeded(r).unwrap_or(AnalysisPhase::Successful);
    if let Some(ec) = metric.effective_count()
        && i64::from(r.count) >= ec
    {
        let failure_applicable = metric.failure_limit_value() >= 0;
        let success_applicable = csl > 0;
        return match (failure_applicable, success_applicable) {
            (true, true) => AnalysisPhase::Inconclusive,
            (false, true) => AnalysisPhase::Failed,
            _ => successful_unless_only_errors,
        };
    }
    if terminating {
        return successful_unless_only_errors;
    }
    AnalysisPhase::Running
}

/// Why a completed metric is in its phase (the text after `due to` in the run message).
pub fn metric_reason(metric: &Metric, r: &MetricResult) -> Option<String> {
    if let Some((_, msg)) = failure_inconclusive_or_error(metric, r) {
        return Some(msg);
    }
    let csl = metric.consecutive_success_limit_value();
    if r.phase.is_completed() && nothing_succeeded(r) == Some(r.phase) {
        return Some(format!(
            "no successful measurement: failed ({}), inconclusive ({}), errors ({})",
            r.failed, r.inconclusive, r.error
        ));
    }
    match r.phase {
        AnalysisPhase::Inconclusive | AnalysisPhase::Failed if csl > 0 => Some(format!(
            "consecutiveSuccess ({}) < consecutiveSuccessLimit ({csl}) after count ({})",
            r.consecutive_success, r.count
        )),
        _ => None,
    }
}

fn tally(summary: &mut RunSummary, phase: AnalysisPhase) {
    match phase {
        AnalysisPhase::Error => summary.error += 1,
        AnalysisPhase::Failed => summary.failed += 1,
        AnalysisPhase::Inconclusive => summary.inconclusive += 1,
        _ => summary.successful += 1,
    }
}

/// Upstream `assessRunStatus`: updates metric phases, messages and summaries in `status` and
/// returns the run's phase and message.
pub fn assess_run(
    status: &mut AnalysisRunStatus,
    metrics: &[Metric],
    dry_run: &BTreeSet<String>,
    terminate: bool,
) -> (AnalysisPhase, String) {
    let terminating = is_terminating(terminate, status);
    let mut worst: Option<AnalysisPhase> = None;
    let mut message = if terminate {
        RUN_TERMINATED.to_string()
    } else {
        String::new()
    };
    let mut everything_completed = true;
    let mut run_summary = RunSummary::default();
    let mut dry_summary = RunSummary::default();
    for metric in metrics {
        let is_dry = dry_run.contains(&metric.name);
        if is_dry {
            dry_summary.count += 1;
        } else {
            run_summary.count += 1;
        }
        let Some(r) = status.metric_results.iter_mut().find(|r| r.name == metric.name) else {
            // Never measured: done once the run terminates (as `assess_metric` without measurements).
            everything_completed &= terminating;
            continue;
        };
        let phase = assess_metric(metric, r, terminating);
        if r.phase != phase {
            if let Some(last) = r.measurements.last() {
                r.message = last.message.clone();
            }
            r.phase = phase;
        }
        if !phase.is_completed() {
            everything_completed = false;
            continue;
        }
        let reason = metric_reason(metric, r);
        if is_dry {
            if worst.is_none() {
                worst = Some(AnalysisPhase::Successful);
            }
            if let Some(reason) = &reason {
                r.message = format!("Metric assessed {phase:?} due to {reason}");
            }
            tally(&mut dry_summary, phase);
        } else {
            if worst.is_none_or(|w| severity(phase) > severity(w)) {
                worst = Some(phase);
                if let Some(reason) = &reason {
                    message = format!("Metric \"{}\" assessed {phase:?} due to {reason}", metric.name);
                    if !r.message.is_empty() {
                        message.push_str(&format!(": \"Error Message: {}\"", r.message));
                    }
                }
            }
            tally(&mut run_summary, phase);
        }
    }
    status.run_summary = Some(run_summary);
    status.dry_run_summary = Some(dry_summary);
    let message = message.trim().to_string();
    if terminating && everything_completed {
        // In-flight measurements are being terminated; the run completes once they are back.
        return (worst.unwrap_or(AnalysisPhase::Successful), message);
    }
    match worst {
        Some(w) if everything_completed => (w, message),
        _ => (AnalysisPhase::Running, String::new()),
    }
}
