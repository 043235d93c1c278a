//! AnalysisRun handling for the Rollout (`rollout/analysis.go`): create, track, terminate (and
//! delete old runs, see [`super::history`]).

use std::collections::BTreeMap;

use super::Ctx;
use crate::analysis::AnalysisPhase;
use crate::rollout::args::resolve_args;
use crate::rollout::hash::POD_TEMPLATE_HASH_LABEL;
use crate::rollout::policy::PolicyHold;
use crate::rollout::spec::RolloutAnalysis;
use crate::rollout::status::{PauseReason, RolloutAnalysisRunStatus};
use crate::rollout::why::Why;
use crate::rollout::{Action, AnalysisRunKind, AnalysisRunRequest, ObservedAnalysisRun};

/// What happened to one tracked run this tick.
pub(super) enum RunOutcome {
    /// Not applicable / nothing to do.
    None,
    /// Still running (or just created).
    Running,
    /// Successful.
    Successful,
    /// Inconclusive: pause added.
    Inconclusive,
    /// Failed/Error: abort requested.
    Failed,
    /// Failed/Error held by the trigger policy: `PolicyHold` pause added.
    Held,
}

impl Ctx<'_> {
    fn run_name(&self, suffix: &str) -> String {
        let base = format!(
            "{}-{}-{}{}",
            self.ro.metadata.name,
            self.hash,
            self.revision(),
            suffix
        );
        let taken = |n: &str| self.obs.analysis_runs.iter().any(|r| r.name == n);
        if !taken(&base) {
            return base;
        }
        (1..)
            .map(|i| format!("{base}.{i}"))
            .find(|n| !taken(n))
            .unwrap_or(base)
    }

    fn create_run(
        &mut self,
        a: &RolloutAnalysis,
        kind: AnalysisRunKind,
        step_index: Option<i32>,
        suffix: &str,
    ) -> RolloutAnalysisRunStatus {
        let name = self.run_name(suffix);
        let mut labels = BTreeMap::new();
        labels.insert(POD_TEMPLATE_HASH_LABEL.to_string(), self.hash.to_string());
        let kind_label = match kind {
            AnalysisRunKind::Step => "Step",
            AnalysisRunKind::Background => "Background",
            AnalysisRunKind::PrePromotion => "PrePromotion",
            AnalysisRunKind::PostPromotion => "PostPromotion",
        };
        labels.insert("rollout-type".into(), kind_label.into());
        if let Some(i) = step_index {
            labels.insert("step-index".into(), i.to_string());
        }
        for (k, v) in &a.analysis_run_metadata.labels {
            labels.insert(k.clone(), v.clone());
        }
        if let Some(sel) = &self.ro.spec.selector {
            for (k, v) in &sel.match_labels {
                labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
        }
        let args = resolve_args(self.ro, &a.args, &self.prev.stable_rs, &self.hash);
        self.actions.push(Action::CreateAnalysisRun(AnalysisRunRequest {
            name: name.clone(),
            kind,
            step_index,
            pod_template_hash: self.hash.to_string(),
            templates: a.templates.clone(),
            args,
            dry_run: a.dry_run.clone(),
            measurement_retention: a.measurement_retention.clone(),
            labels,
        }));
        RolloutAnalysisRunStatus {
            name,
            status: AnalysisPhase::Pending,
            message: String::new(),
        }
    }

    /// Tracks one run: refreshes its status from the observed run, creates it when needed,
    /// aborts on Failed/Error, pauses on Inconclusive. `slot` is the status field.
    pub(super) fn track_run(
        &mut self,
        a: &RolloutAnalysis,
        kind: AnalysisRunKind,
        step_index: Option<i32>,
        suffix: &str,
        slot: Option<RolloutAnalysisRunStatus>,
        keep: &mut Vec<String>,
    ) -> (Option<RolloutAnalysisRunStatus>, RunOutcome) {
        let retry = self.prev.aborted_at.is_some() && !self.prev.abort;
        let inconclusive_paused = self
            .prev
            .pause_condition(PauseReason::InconclusiveAnalysisRun)
            .is_some();
        let mut status = slot;
        let was_failed = status
            .as_ref()
            .is_some_and(|s| matches!(s.status, AnalysisPhase::Failed | AnalysisPhase::Error));
        if let Some(s) = &status {
            let resumed = s.status == AnalysisPhase::Inconclusive && !inconclusive_paused;
            if retry || resumed {
                status = None;
            }
        }
        let Some(mut s) = status else {
            if !self.prev.pause_conditions.is_empty() && kind == AnalysisRunKind::Step {
                return (None, RunOutcome::None);
            }
            let s = self.create_run(a, kind, step_index, suffix);
            keep.push(s.name.clone());
            return (Some(s), RunOutcome::Running);
        };
        keep.push(s.name.clone());
        let observed = self.obs.analysis_runs.iter().find(|r| r.name == s.name);
        if let Some(run) = observed {
            s.status = run.phase;
            s.message = run.message.clone();
        }
        let why = run_why(observed, &s, kind);
        let outcome = match s.status {
            AnalysisPhase::Successful => RunOutcome::Successful,
            AnalysisPhase::Failed | AnalysisPhase::Error => {
                let canary = matches!(kind, AnalysisRunKind::Step | AnalysisRunKind::Background);
                match self.inputs.hold_on_failure.as_ref().filter(|_| canary) {
                    Some(hold) => self.hold_failed(why, hold, was_failed),
                    None => {
                        self.abort(why.unwrap_or_else(Why::user_abort));
                        RunOutcome::Failed
                    }
                }
            }
            AnalysisPhase::Inconclusive => {
                self.add_pause.push(PauseReason::InconclusiveAnalysisRun);
                if let Some(why) = why {
                    self.record_why(why, false);
                }
                RunOutcome::Inconclusive
            }
            _ => RunOutcome::Running,
        };
        (Some(s), outcome)
    }

    /// A failed canary run the trigger policy holds ([`policy`](crate::rollout::policy)): pause
    /// at the step with `PolicyHold` and the failure's cause; once a person promoted (the run
    /// was already failed and the pause is gone) the failure is accepted as a success.
    fn hold_failed(&mut self, why: Option<Why>, hold: &PolicyHold, was_failed: bool) -> RunOutcome {
        let held = self.prev.pause_condition(PauseReason::PolicyHold).is_some();
        if was_failed && !held {
            return RunOutcome::Successful;
        }
        self.add_pause.push(PauseReason::PolicyHold);
        if let Some(why) = why {
            self.record_why(Why::policy_hold(why, hold), false);
        }
        RunOutcome::Held
    }

    /// Terminates every observed run that is still running and not in `keep`.
    pub(super) fn terminate_others(&mut self, keep: &[String]) {
        let to_stop: Vec<String> = self
            .obs
            .analysis_runs
            .iter()
            .filter(|r| !r.phase.is_completed() && !r.terminating && !keep.contains(&r.name))
            .map(|r| r.name.clone())
            .collect();
        for name in to_stop {
            self.actions.push(Action::TerminateAnalysisRun { name });
        }
        self.delete_old_runs(keep);
    }
}

/// The cause a Failed, Error or Inconclusive run gives (the observed run when there is one,
/// else the status slot's name and phase).
fn run_why(
    observed: Option<&ObservedAnalysisRun>,
    slot: &RolloutAnalysisRunStatus,
    kind: AnalysisRunKind,
) -> Option<Why> {
    let fallback;
    let run = match observed {
        Some(run) => run,
        None => {
            fallback = ObservedAnalysisRun {
                name: slot.name.clone(),
                kind,
                pod_template_hash: String::new(),
                step_index: None,
                phase: slot.status,
                message: slot.message.clone(),
                terminating: false,
                created_at: None,
                decided_by: None,
            };
            &fallback
        }
    };
    Why::analysis(run, slot.message.clone())
}

/// Whether the step run `s` is a failure the trigger policy held and a person then promoted
/// (it was already failed last pass and the `PolicyHold` pause is gone): the step completes.
pub(super) fn accepted_failure(c: &Ctx, s: &RolloutAnalysisRunStatus) -> bool {
    let failed = |p: AnalysisPhase| matches!(p, AnalysisPhase::Failed | AnalysisPhase::Error);
    c.inputs.hold_on_failure.is_some()
        && failed(s.status)
        && c.prev.pause_condition(PauseReason::PolicyHold).is_none()
        && c.prev
            .canary
            .current_step_analysis_run_status
            .as_ref()
            .is_some_and(|p| p.name == s.name && failed(p.status))
}

/// Whether `outcome` adds a pause the Rollout did not have (Inconclusive, or a policy hold).
fn newly_paused(c: &Ctx, outcome: &RunOutcome) -> bool {
    let reason = match outcome {
        RunOutcome::Inconclusive => PauseReason::InconclusiveAnalysisRun,
        RunOutcome::Held => PauseReason::PolicyHold,
        _ => return false,
    };
    c.prev.pause_condition(reason).is_none()
}

/// Canary step and background analysis. Returns true if an Inconclusive or policy-hold pause
/// was added.
pub(super) fn reconcile_canary(c: &mut Ctx) -> bool {
    let Some(canary) = c.ro.canary() else {
        return false;
    };
    let fully_promoted = !c.prev.stable_rs.is_empty() && c.prev.stable_rs == c.hash;
    let active = !fully_promoted && !c.is_aborted() && !c.st.promote_full;
    let mut keep = Vec::new();
    let mut paused = false;
    let idx = c.st.current_step_index.unwrap_or(0);
    let step = usize::try_from(idx)
        .ok()
        .and_then(|i| c.ro.steps().get(i))
        .and_then(|s| s.analysis.as_ref());
    match step {
        Some(a) if active => {
            let slot =
                c.st.canary
                    .current_step_analysis_run_status
                    .clone()
                    .filter(|s| s.name.ends_with(&format!("-{idx}")) || s.name.contains(&format!("-{idx}.")));
            let (s, outcome) = c.track_run(
                a,
                AnalysisRunKind::Step,
                Some(idx),
                &format!("-{idx}"),
                slot,
                &mut keep,
            );
            c.st.canary.current_step_analysis_run_status = s;
            paused |= newly_paused(c, &outcome);
        }
        _ => c.st.canary.current_step_analysis_run_status = None,
    }
    let background = canary.analysis.as_ref();
    let starting = background.and_then(|b| b.starting_step).unwrap_or(0);
    match background {
        Some(b) if active && c.stable_rs.is_some() && idx >= starting => {
            let slot = c.st.canary.current_background_analysis_run_status.clone();
            let (s, outcome) = c.track_run(
                &b.analysis,
                AnalysisRunKind::Background,
                None,
                "",
                slot,
                &mut keep,
            );
            c.st.canary.current_background_analysis_run_status = s;
            paused |= newly_paused(c, &outcome);
        }
        Some(_) if active => {}
        _ => c.st.canary.current_background_analysis_run_status = None,
    }
    c.terminate_others(&keep);
    paused
}
