//! AnalysisRun history (upstream `rollout/analysis.go:reconcileAnalysisRuns` with
//! `utils/analysis/filter.go:FilterAnalysisRunsToDelete`): runs that are no longer current are
//! deleted beyond `spec.analysis.successfulRunHistoryLimit` /
//! `unsuccessfulRunHistoryLimit` (default 5 each), newest kept first, so thousands of Rollouts
//! do not pile runs up in etcd.
//!
//! Of the non-current runs, newest first by creation time (creation timestamps have one-second
//! resolution, so runs created in the same second are ordered by their ReplicaSet's revision; a
//! difference from upstream, which breaks such ties arbitrarily):
//! - a run whose ReplicaSet (by pod-template hash) no longer exists is deleted, whatever its phase;
//! - Successful runs beyond the successful limit are deleted;
//! - Failed, Error and Inconclusive runs beyond the unsuccessful limit are deleted;
//! - Pending and Running runs are kept (they are terminated first, then count once completed).
//!
//! ```
//! use rollout_core::analysis::AnalysisPhase::*;
//! use rollout_core::rollout::machine::history::runs_to_delete;
//! use rollout_core::rollout::{AnalysisRunKind, ObservedAnalysisRun};
//! let run = |name: &str, hash: &str, phase| ObservedAnalysisRun {
//!     name: name.into(), kind: AnalysisRunKind::Step, pod_template_hash: hash.into(),
//!     step_index: Some(0), phase, message: String::new(), terminating: false, created_at: None,
//!     decided_by: None,
//! };
//! let runs = [run("a-2", "a", Successful), run("a-1", "a", Successful), run("gone-1", "gone", Running)];
//! // Successful limit 1: the newest successful run stays; the run of a deleted RS goes.
//! assert_eq!(runs_to_delete(runs.iter(), &[("a", 1)], 1, 5), vec!["a-1", "gone-1"]);
//! ```

use super::Ctx;
use crate::analysis::AnalysisPhase;
use crate::rollout::{Action, ObservedAnalysisRun};

/// Upstream default of `spec.analysis.successfulRunHistoryLimit`.
pub const DEFAULT_SUCCESSFUL_RUN_HISTORY_LIMIT: i32 = 5;
/// Upstream default of `spec.analysis.unsuccessfulRunHistoryLimit`.
pub const DEFAULT_UNSUCCESSFUL_RUN_HISTORY_LIMIT: i32 = 5;

/// Upstream `FilterAnalysisRunsToDelete`: the names of `runs` (the non-current runs) to delete,
/// given the Rollout's ReplicaSets as `(pod-template hash, revision)` and the two limits. Runs are
/// taken newest first (creation time, then their ReplicaSet's revision, then name, all descending;
/// an unknown creation time counts as oldest); the result is in that order.
pub fn runs_to_delete<'a>(
    runs: impl IntoIterator<Item = &'a ObservedAnalysisRun>,
    replica_sets: &[(&str, i64)],
    successful_limit: i32,
    unsuccessful_limit: i32,
) -> Vec<&'a str> {
    let revision = |run: &ObservedAnalysisRun| {
        replica_sets
            .iter()
            .find(|(hash, _)| *hash == run.pod_template_hash)
            .map(|&(_, revision)| revision)
    };
    let mut runs: Vec<(&ObservedAnalysisRun, Option<i64>)> =
        runs.into_iter().map(|r| (r, revision(r))).collect();
    runs.sort_by(|(a, ra), (b, rb)| (b.created_at, rb, &b.name).cmp(&(a.created_at, ra, &a.name)));
    let (mut successful, mut unsuccessful) = (0i32, 0i32);
    let mut out = Vec::new();
    for (run, revision) in runs {
        if revision.is_none() {
            out.push(run.name.as_str());
            continue;
        }
        let (kept, limit) = match run.phase {
            AnalysisPhase::Successful => (&mut successful, successful_limit),
            AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive => {
                (&mut unsuccessful, unsuccessful_limit)
            }
            AnalysisPhase::Pending | AnalysisPhase::Running => continue,
        };
        if *kept < limit {
            *kept += 1;
        } else {
            out.push(run.name.as_str());
        }
    }
    out
}

impl Ctx<'_> {
    /// Deletes the runs not in `keep` (the current ones) beyond the history limits.
    pub(super) fn delete_old_runs(&mut self, keep: &[String]) {
        let limits = self.ro.spec.analysis.as_ref();
        let successful = limits
            .and_then(|a| a.successful_run_history_limit)
            .unwrap_or(DEFAULT_SUCCESSFUL_RUN_HISTORY_LIMIT);
        let unsuccessful = limits
            .and_then(|a| a.unsuccessful_run_history_limit)
            .unwrap_or(DEFAULT_UNSUCCESSFUL_RUN_HISTORY_LIMIT);
        if self.obs.analysis_runs.is_empty() {
            return;
        }
        let replica_sets: Vec<(&str, i64)> = self
            .obs
            .replica_sets
            .iter()
            .map(|rs| (rs.pod_template_hash.as_str(), rs.revision))
            .collect();
        let others = self.obs.analysis_runs.iter().filter(|r| !keep.contains(&r.name));
        let doomed: Vec<String> = runs_to_delete(others, &replica_sets, successful, unsuccessful)
            .into_iter()
            .map(str::to_string)
            .collect();
        for name in doomed {
            self.actions.push(Action::DeleteAnalysisRun { name });
        }
    }
}
