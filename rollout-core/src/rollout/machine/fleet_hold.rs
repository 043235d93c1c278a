//! The `FleetHold` condition: while the fleet brake holds the Rollout
//! ([`Inputs::fleet_hold`](crate::rollout::Inputs::fleet_hold)), the condition names the held
//! release, the hold's reason and the matched image or revision, and `status.why` carries the
//! same cause ([`Cause::FleetHold`](crate::rollout::Cause::FleetHold)). Removing the hold removes
//! the condition.

use super::Ctx;
use crate::rollout::EventType;
use crate::rollout::status::{ConditionStatus, ConditionType};
use crate::rollout::why::Why;

impl Ctx<'_> {
    /// Writes (or removes) the `FleetHold` condition for this tick's inputs.
    pub(super) fn fleet_hold_condition(&mut self) {
        let cause = self
            .inputs
            .fleet_hold
            .as_ref()
            .filter(|_| self.inputs.hold && !self.is_aborted());
        let Some(cause) = cause else {
            self.st.remove_condition(ConditionType::FleetHold);
            return;
        };
        let why = Why::fleet_hold(cause);
        let message = why.message();
        let changed = self
            .prev
            .condition(ConditionType::FleetHold)
            .is_none_or(|c| c.reason != why.reason || c.message != message);
        if changed {
            let now = self.now;
            self.st.remove_condition(ConditionType::FleetHold);
            self.st.set_condition(
                ConditionType::FleetHold,
                ConditionStatus::True,
                &why.reason,
                message.clone(),
                now,
            );
            self.event(EventType::Normal, "FleetHold", message);
        }
        self.record_why(why, changed);
    }
}
