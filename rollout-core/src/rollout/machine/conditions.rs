//! Conditions with upstream's exact reasons and messages (`utils/conditions`,
//! `rollout/sync.go:calculateRolloutConditions`); the phase is in [`crate::rollout::phase`].

use super::Ctx;
use crate::rollout::EventType;
use crate::rollout::status::{ConditionStatus, ConditionType};
use crate::rollout::why::Why;

pub(crate) const REASON_PAUSED: &str = "RolloutPaused";
pub(crate) const MSG_PAUSED: &str = "Rollout is paused";
pub(crate) const REASON_RESUMED: &str = "RolloutResumed";
pub(crate) const MSG_RESUMED: &str = "Rollout is resumed";
pub(crate) const REASON_ABORTED: &str = "RolloutAborted";
pub(crate) const REASON_RETRY: &str = "RolloutRetry";
pub(crate) const MSG_RETRY: &str = "Retrying Rollout after abort";
pub(crate) const REASON_TIMED_OUT: &str = "ProgressDeadlineExceeded";
pub(crate) const REASON_RS_UPDATED: &str = "ReplicaSetUpdated";
pub(crate) const REASON_NEW_RS_AVAILABLE: &str = "NewReplicaSetAvailable";
pub(crate) const REASON_RS_NOT_AVAILABLE: &str = "ReplicaSetNotAvailable";
pub(crate) const REASON_NEW_RS_CREATED: &str = "NewReplicaSetCreated";
pub(crate) const REASON_FOUND_NEW_RS: &str = "FoundNewReplicaSet";
const REASON_AVAILABLE: &str = "AvailableReason";
const MSG_AVAILABLE: &str = "Rollout has minimum availability";
const MSG_NOT_AVAILABLE: &str = "Rollout does not have minimum availability";
const REASON_HEALTHY: &str = "RolloutHealthy";
const MSG_HEALTHY: &str = "Rollout is healthy";
const MSG_NOT_HEALTHY: &str = "Rollout is not healthy";
const REASON_COMPLETED: &str = "RolloutCompleted";
const REASON_NOT_COMPLETED: &str = "RolloutNotCompleted";

impl Ctx<'_> {
    /// Upstream `RolloutHealthy`.
    fn rollout_healthy(&self) -> bool {
        let r = self.replicas();
        let st = &self.st;
        let completed = if let Some(bg) = self.ro.blue_green() {
            let active = st.blue_green.active_selector == st.current_pod_hash;
            let preview =
                bg.preview_service.is_empty() || st.blue_green.preview_selector == st.current_pod_hash;
            active && preview
        } else {
            let n = self.ro.steps().len() as i32;
            let all_steps = n == 0 || st.current_step_index.is_none_or(|i| i == n);
            let stable_current = !st.stable_rs.is_empty() && st.stable_rs == st.current_pod_hash;
            all_steps && stable_current && st.replicas == r
        };
        let generation_observed = self
            .ro
            .metadata
            .generation
            .is_none_or(|g| super::displays_as(&self.prev.observed_generation, g));
        st.updated_replicas == r && st.available_replicas == r && generation_observed && completed
    }

    /// Upstream `RolloutProgressing`.
    fn rollout_progressing(&self) -> bool {
        let (old, new) = (self.prev, &self.st);
        let specific = if self.ro.blue_green().is_some() {
            old.blue_green.active_selector != new.blue_green.active_selector
                || old.blue_green.preview_selector != new.blue_green.preview_selector
        } else {
            let step_change =
                matches!((old.current_step_index, new.current_step_index), (Some(a), Some(b)) if a != b);
            new.stable_rs != old.stable_rs || step_change || new.current_step_hash != old.current_step_hash
        };
        new.updated_replicas != old.updated_replicas
            || (new.replicas - new.updated_replicas) < (old.replicas - old.updated_replicas)
            || new.ready_replicas > old.ready_replicas
            || new.available_replicas > old.available_replicas
            || specific
    }

    fn is_indefinite_step(&self) -> bool {
        let steps = self.ro.steps();
        let idx = self.prev.current_step_index.unwrap_or(0);
        usize::try_from(idx)
            .ok()
            .and_then(|i| steps.get(i))
            .is_some_and(|s| s.experiment.is_some() || s.analysis.is_some() || s.pause.is_some())
    }

    /// Upstream `calculateRolloutConditions`, plus the progress-deadline requeue.
    pub(crate) fn calculate_conditions(&mut self) {
        let now = self.now;
        let paused = !self.prev.pause_conditions.is_empty() || self.ro.spec.paused;
        let aborted = self.is_aborted();
        let new_name: Option<&str> = self.new_rs.map(|r| r.name.as_str());
        let mut became_unhealthy = false;
        let healthy = self.rollout_healthy();
        if !paused && healthy {
            self.st.set_condition_with(
                ConditionType::Healthy,
                ConditionStatus::True,
                REASON_HEALTHY,
                || MSG_HEALTHY.into(),
                now,
            );
        } else if self.prev.condition(ConditionType::Healthy).is_some() {
            became_unhealthy = self.st.set_condition_with(
                ConditionType::Healthy,
                ConditionStatus::False,
                REASON_HEALTHY,
                || MSG_NOT_HEALTHY.into(),
                now,
            );
        }
        if aborted {
            let why = self.current_abort_why();
            let msg = why.message();
            let changed = self.st.set_condition(
                ConditionType::Progressing,
                ConditionStatus::False,
                REASON_ABORTED,
                msg.clone(),
                now,
            );
            if changed {
                self.event(EventType::Warning, REASON_ABORTED, msg);
            }
            self.record_why(why, changed);
        } else if healthy {
            let name = new_name.unwrap_or_default();
            self.st.set_condition_with(
                ConditionType::Progressing,
                ConditionStatus::True,
                REASON_NEW_RS_AVAILABLE,
                || format!("ReplicaSet {name:?} has successfully progressed."),
                now,
            );
        } else if self.rollout_progressing() || became_unhealthy {
            let mut msg = match new_name {
                Some(n) => format!("ReplicaSet {n:?} is progressing."),
                None => format!("Rollout {:?} is progressing.", self.ro.metadata.name),
            };
            let reason = if self.st.stable_rs == self.st.current_pod_hash && became_unhealthy {
                msg = MSG_NOT_AVAILABLE.into();
                REASON_RS_NOT_AVAILABLE
            } else {
                REASON_RS_UPDATED
            };
            let transition = self
                .st
                .condition(ConditionType::Progressing)
                .filter(|c| c.status == ConditionStatus::True)
                .map(|c| c.last_transition_time);
            self.st.remove_condition(ConditionType::Progressing);
            self.st.set_condition(
                ConditionType::Progressing,
                ConditionStatus::True,
                reason,
                msg,
                now,
            );
            if let (Some(t), Some(c)) = (
                transition,
                self.st
                    .conditions
                    .iter_mut()
                    .find(|c| c.kind == ConditionType::Progressing),
            ) {
                c.last_transition_time = t;
            }
        } else if !self.is_indefinite_step() && !paused {
            self.check_timeout(new_name);
        }
        let r = self.replicas();
        let available = if self.ro.blue_green().is_some() {
            let active = &self.st.blue_green.active_selector;
            self.obs
                .replica_sets
                .iter()
                .find(|rs| &rs.pod_template_hash == active)
                .is_some_and(|rs| rs.replicas == r && rs.available == r)
        } else {
            super::saturating_sum(self.obs.replica_sets.iter().map(|rs| rs.available)) >= r
        };
        let (s, m) = if available {
            (ConditionStatus::True, MSG_AVAILABLE)
        } else {
            (ConditionStatus::False, MSG_NOT_AVAILABLE)
        };
        self.st
            .set_condition_with(ConditionType::Available, s, REASON_AVAILABLE, || m.into(), now);
        let completed = !self.st.stable_rs.is_empty() && self.st.stable_rs == self.st.current_pod_hash;
        if completed {
            self.st.set_condition_with(
                ConditionType::Completed,
                ConditionStatus::True,
                REASON_COMPLETED,
                || REASON_COMPLETED.into(),
                now,
            );
        } else if self.st.set_condition_with(
            ConditionType::Completed,
            ConditionStatus::False,
            REASON_COMPLETED,
            || REASON_COMPLETED.into(),
            now,
        ) {
            // The update's revision: its ReplicaSet's, or the next one while it is not created yet.
            let msg = format!(
                "Rollout not completed, started update to revision {} ({})",
                self.new_rs
                    .map_or_else(|| self.max_revision() + 1, |r| r.revision),
                self.st.current_pod_hash
            );
            self.event(EventType::Normal, REASON_NOT_COMPLETED, msg);
        }
    }

    fn check_timeout(&mut self, new_name: Option<&str>) {
        let now = self.now;
        let Some(cond) = self.st.condition(ConditionType::Progressing) else {
            return;
        };
        if cond.reason == REASON_ABORTED || cond.reason == REASON_PAUSED {
            return;
        }
        let (cond_timed_out, cond_updated) = (cond.reason == REASON_TIMED_OUT, cond.last_update_time);
        let has_deadline_rs = self.others.iter().any(|r| r.scale_down_deadline.is_some());
        if has_deadline_rs {
            return;
        }
        let deadline = super::plus_secs(cond_updated, i64::from(self.ro.progress_deadline_seconds()));
        let timed_out = cond_timed_out || deadline < now;
        if !timed_out {
            self.wake_at(super::plus_secs(deadline, 1));
            return;
        }
        let text = match new_name {
            Some(n) => format!("ReplicaSet {n:?} has timed out progressing."),
            None => format!("Rollout {:?} has timed out progressing.", self.ro.metadata.name),
        };
        let why = Why::progress_deadline(new_name.map(str::to_string), text);
        let msg = why.message();
        let changed = self.st.set_condition(
            ConditionType::Progressing,
            ConditionStatus::False,
            REASON_TIMED_OUT,
            msg.clone(),
            now,
        );
        self.record_why(why.clone(), changed);
        let in_flight = self.st.stable_rs != self.st.current_pod_hash;
        if self.ro.spec.progress_deadline_abort && in_flight && !self.is_aborted() {
            self.abort(why);
            self.event(EventType::Warning, REASON_ABORTED, msg);
        }
    }
}
