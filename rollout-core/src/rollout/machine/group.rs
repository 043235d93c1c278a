//! The `GroupHold` condition: while the coordinator holds a grouped Rollout
//! ([`Inputs::group`](crate::rollout::Inputs::group)), the condition names the member that holds
//! it and why, and `status.why` carries the same cause ([`Cause::GroupHold`](crate::rollout::Cause)).

use super::Ctx;
use crate::rollout::EventType;
use crate::rollout::status::{ConditionStatus, ConditionType};
use crate::rollout::why::Why;

impl Ctx<'_> {
    /// Writes (or removes) the `GroupHold` condition for this tick's inputs.
    pub(super) fn group_hold_condition(&mut self) {
        self.st.group.clone_from(&self.inputs.group_status);
        let cause = self
            .inputs
            .group
            .as_ref()
            .filter(|_| self.inputs.hold && !self.is_aborted());
        let Some(cause) = cause else {
            self.st.remove_condition(ConditionType::GroupHold);
            return;
        };
        let why = Why::group_hold(cause);
        let message = why.message();
        let changed = self
            .prev
            .condition(ConditionType::GroupHold)
            .is_none_or(|c| c.reason != why.reason || c.message != message);
        if changed {
            let now = self.now;
            self.st.remove_condition(ConditionType::GroupHold);
            self.st.set_condition(
                ConditionType::GroupHold,
                ConditionStatus::True,
                &why.reason,
                message.clone(),
                now,
            );
            self.event(EventType::Normal, "GroupHold", message);
        }
        self.record_why(why, changed);
    }
}
