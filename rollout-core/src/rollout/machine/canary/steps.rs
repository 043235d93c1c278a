//! Pauses and step completion (`rollout/canary.go`: `reconcileCanaryPause`,
//! `completedCurrentCanaryStep`, `shouldFullPromote`).

use super::*;

/// Upstream `reconcileCanaryPause`.
pub(super) fn reconcile_pause(c: &mut Ctx) {
    if c.ro.spec.paused {
        return;
    }
    let Some((_, step)) = current_step(c) else {
        return;
    };
    let Some(pause) = step.pause.as_ref() else {
        return;
    };
    match c.prev.pause_condition(PauseReason::CanaryPauseStep) {
        None => {
            if !c.prev.controller_pause {
                c.add_pause.push(PauseReason::CanaryPauseStep);
                if let Some(d) = pause.duration_seconds() {
                    let t = plus_secs(c.now, d.saturating_add(1));
                    c.wake_at(t);
                }
            }
        }
        Some(cond) => {
            if let Some(d) = pause.duration_seconds() {
                let t = plus_secs(cond.start_time, d.saturating_add(1));
                c.wake_at(t);
            }
        }
    }
}

/// Upstream `completedCurrentCanaryStep`.
pub(super) fn completed_current_step(c: &Ctx, canary: &CanaryStrategy) -> bool {
    if c.ro.spec.paused {
        return false;
    }
    let Some((_, step)) = current_step(c) else {
        return false;
    };
    if let Some(p) = &step.pause {
        let cond = c.prev.pause_condition(PauseReason::CanaryPauseStep);
        return match p.duration_seconds() {
            Some(d) => cond.is_some_and(|cond| c.now > plus_secs(cond.start_time, d)),
            None => c.prev.controller_pause && cond.is_none(),
        };
    }
    if step.set_canary_scale.is_some() {
        return at_desired(c, canary);
    }
    if step.set_weight.is_some() {
        let verified = c.prev.canary.weights.as_ref().and_then(|w| w.verified);
        return at_desired(c, canary) && verified != Some(false);
    }
    if step.analysis.is_some() {
        return c
            .st
            .canary
            .current_step_analysis_run_status
            .as_ref()
            .is_some_and(|s| {
                s.status == crate::analysis::AnalysisPhase::Successful || analysis::accepted_failure(c, s)
            });
    }
    super::super::routes::step_route_done(c, step)
}

/// Upstream `shouldFullPromote` for canary.
pub(super) fn should_full_promote(c: &Ctx, canary: &CanaryStrategy) -> Option<String> {
    if c.prev.stable_rs.is_empty() {
        return Some("Initial deploy".into());
    }
    if c.is_aborted() {
        return None;
    }
    let new = c.new_rs?;
    let r = c.replicas();
    if new.available < r
        && !progress_threshold_met(canary.replica_progress_threshold.as_ref(), Some(counts(new)), r)
    {
        return None;
    }
    if c.hash == c.prev.stable_rs {
        return Some("Fast rollback".into());
    }
    if within_rollback_window(c) {
        return Some("Rollback within window".into());
    }
    if c.inputs.hold {
        return None;
    }
    if c.st.promote_full {
        return Some("Full promotion requested".into());
    }
    let n = c.ro.steps().len() as i32;
    if n == 0 || c.st.current_step_index == Some(n) {
        return Some(format!("Completed all {n} canary steps"));
    }
    None
}
