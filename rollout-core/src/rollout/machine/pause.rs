//! Pause bookkeeping of one pass: the Paused/Progressing conditions and the pause conditions.

use super::Ctx;
use super::conditions;
use crate::rollout::status::{ConditionStatus, ConditionType, PauseCondition};

impl Ctx<'_> {
    /// Upstream `checkPausedConditions`; returns true when it patched conditions (stop).
    pub(super) fn check_paused_conditions(&mut self) -> bool {
        let prog = self.prev.condition(ConditionType::Progressing);
        let prog_paused = prog.is_some_and(|c| c.reason == conditions::REASON_PAUSED);
        let abort_cond = prog.is_some_and(|c| c.reason == conditions::REASON_ABORTED);
        let paused = !self.prev.pause_conditions.is_empty() || self.ro.spec.paused;
        let now = self.now;
        let mut changed = false;
        if paused != prog_paused && !abort_cond {
            let (reason, msg) = if paused {
                (conditions::REASON_PAUSED, conditions::MSG_PAUSED)
            } else {
                (conditions::REASON_RESUMED, conditions::MSG_RESUMED)
            };
            changed |= self.st.set_condition(
                ConditionType::Progressing,
                ConditionStatus::Unknown,
                reason,
                msg.into(),
                now,
            );
        }
        if !self.prev.abort && abort_cond && self.inputs.force_abort.is_none() {
            changed |= self.st.set_condition(
                ConditionType::Progressing,
                ConditionStatus::Unknown,
                conditions::REASON_RETRY,
                conditions::MSG_RETRY.into(),
                now,
            );
        }
        let paused_true = self
            .prev
            .condition(ConditionType::Paused)
            .is_some_and(|c| c.status == ConditionStatus::True);
        if paused != paused_true && !abort_cond {
            let s = if paused {
                ConditionStatus::True
            } else {
                ConditionStatus::False
            };
            changed |= self.st.set_condition(
                ConditionType::Paused,
                s,
                conditions::REASON_PAUSED,
                conditions::MSG_PAUSED.into(),
                now,
            );
        }
        changed
    }

    /// Upstream `CalculatePauseStatus` (+ `abortedAt`).
    pub(super) fn calculate_pause_status(&mut self) {
        let aborted = self.is_aborted();
        self.st.abort = aborted;
        self.st.aborted_at = if aborted {
            self.prev.aborted_at.or(Some(self.now))
        } else {
            None
        };
        let mut controller_pause = self.prev.controller_pause;
        let unchanged = !aborted
            && !self.clear_pause
            && self.remove_pause.is_empty()
            && self
                .add_pause
                .iter()
                .all(|r| self.prev.pause_conditions.iter().any(|c| c.reason == *r));
        if unchanged && self.st.pause_conditions == self.prev.pause_conditions {
            // Nothing added or removed: keep the copy of the persisted conditions.
            if self.st.pause_conditions.is_empty() {
                controller_pause = false;
            }
            self.st.controller_pause = controller_pause;
            return;
        }
        let mut conds: Vec<PauseCondition> = Vec::new();
        if !aborted && !self.clear_pause {
            for c in &self.prev.pause_conditions {
                if !self.remove_pause.contains(&c.reason) {
                    conds.push(c.clone());
                }
            }
            for r in &self.add_pause {
                let exists = self.prev.pause_conditions.iter().any(|c| c.reason == *r)
                    || conds.iter().any(|c| c.reason == *r);
                if !exists {
                    conds.push(PauseCondition {
                        reason: *r,
                        start_time: self.now,
                    });
                    controller_pause = true;
                }
            }
        }
        if conds.is_empty() {
            controller_pause = false;
        }
        self.st.pause_conditions = conds;
        self.st.controller_pause = controller_pause;
    }
}
