//! What a pass reports besides its actions: the cost of safety (`status.cost`) and the feedback
//! sentence (`status.feedback`, with its event).

use super::Ctx;
use crate::rollout::decision::EventType;
use crate::rollout::feedback;
use crate::rollout::status::ConditionType;

impl Ctx<'_> {
    /// `status.cost` after this pass ([`cost`](super::cost)); changes only with the extra pods.
    pub(super) fn account_cost(&mut self) {
        let replicas = self
            .obs
            .replica_sets
            .iter()
            .chain(self.baseline_arms.iter().copied())
            .map(|r| i64::from(r.replicas.max(0)))
            .sum();
        let sample = crate::rollout::cost::Sample {
            pod_hash: &self.st.current_pod_hash,
            stable_hash: &self.st.stable_rs,
            aborted: self.st.abort,
            replicas,
            desired: self.replicas(),
        };
        match crate::rollout::cost::change(self.prev.cost.as_ref(), &sample, self.now) {
            Some(cost) => self.st.cost = cost,
            // Unchanged: `st.cost` is still the persisted one unless this pass replaced it.
            None if self.st.cost != self.prev.cost => self.st.cost.clone_from(&self.prev.cost),
            None => {}
        }
    }

    /// `status.feedback` from this pass's causes, and a `RolloutFeedback` event when it changed.
    pub(super) fn feedback(&mut self) {
        self.st.feedback = feedback::of_causes(&self.st.why).unwrap_or_default();
        // An invalid spec never acts, not even an event: its condition and `status.feedback`
        // tell it.
        let changed = !self.st.feedback.is_empty() && self.st.feedback != self.prev.feedback;
        if changed && self.st.condition(ConditionType::InvalidSpec).is_none() {
            self.event(
                EventType::Warning,
                feedback::REASON_FEEDBACK,
                self.st.feedback.clone(),
            );
        }
    }
}
