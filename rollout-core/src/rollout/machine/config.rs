//! Rollback-safe config (issue #13, story 2) in the machine: which ConfigMaps and Secrets to
//! protect for which ReplicaSets, the `Degraded` condition when one is missing, and the hold
//! that keeps the canary serving while the stable ReplicaSet's config is missing.

use std::collections::BTreeSet;

use super::Ctx;
use crate::rollout::config_deps::{ConfigRef, ServeWindow, may_serve_again, protection_set};
use crate::rollout::status::{ConditionStatus, ConditionType};
use crate::rollout::why::{MissingConfig, Why};
use crate::rollout::{Action, EventType, ObservedReplicaSet};

/// While an update is in flight, the longest time before a deleted ConfigMap or Secret is noticed.
pub const CONFIG_RECHECK_SECS: i64 = 30;

impl<'a> Ctx<'a> {
    /// Whether the driver looked `object` up and found it missing.
    fn is_missing(&self, object: &ConfigRef) -> bool {
        self.obs.config.iter().any(|c| !c.exists && &c.object == object)
    }

    /// The stable ReplicaSet and its missing config, when going back to it must be held: the
    /// update is aborted (or its template is the stable one again: a rollback) while another
    /// ReplicaSet still has pods, and the stable's pods need an object the driver found missing.
    pub(crate) fn config_hold(&self) -> Option<(&'a ObservedReplicaSet, Vec<ConfigRef>)> {
        let stable = self.stable_rs?;
        let rollback = !self.prev.stable_rs.is_empty() && self.hash == self.prev.stable_rs;
        if !self.is_aborted() && !rollback {
            return None;
        }
        let others_serve = self
            .obs
            .replica_sets
            .iter()
            .any(|r| r.name != stable.name && r.replicas > 0);
        if !others_serve {
            return None;
        }
        let missing: Vec<ConfigRef> = stable
            .needs
            .iter()
            .filter(|r| self.is_missing(r))
            .cloned()
            .collect();
        (!missing.is_empty()).then_some((stable, missing))
    }

    /// The ReplicaSets that may serve again (see [`may_serve_again`]) and the baseline arms.
    fn may_serve_again(&self) -> Vec<&'a ObservedReplicaSet> {
        let history = self.ro.revision_history_limit();
        let window = self
            .ro
            .spec
            .rollback_window
            .as_ref()
            .and_then(|w| w.revisions)
            .unwrap_or(0);
        let window = ServeWindow {
            stable_hash: &self.prev.stable_rs,
            current_hash: &self.hash,
            keep: usize::try_from(history.max(window)).unwrap_or(0),
        };
        let mut out = may_serve_again(&self.obs.replica_sets, window);
        out.extend(self.baseline_arms.iter().copied());
        out
    }

    /// Protection actions (first in the decision, so an unprotect precedes the deletion of its
    /// ReplicaSet), and the `Degraded` condition with its cause and event.
    pub(super) fn reconcile_config(&mut self) {
        if self.obs.config.is_empty() {
            // Nothing observed: no protection, nothing missing, no recheck.
            self.st.remove_condition(ConditionType::Degraded);
            return;
        }
        let serving = self.may_serve_again();
        let wanted = protection_set(serving.iter().copied());
        let ours: BTreeSet<&str> = self
            .obs
            .replica_sets
            .iter()
            .chain(self.baseline_arms.iter().copied())
            .map(|r| r.name.as_str())
            .collect();
        let none = BTreeSet::new();
        let mut protection = Vec::new();
        for observed in &self.obs.config {
            let needed_by = if observed.protectable() {
                wanted.get(&observed.object).unwrap_or(&none)
            } else {
                &none
            };
            for rs in needed_by {
                if !observed.protected_by.contains(rs) {
                    protection.push(Action::ProtectConfig {
                        object: observed.object.clone(),
                        replica_set: rs.clone(),
                    });
                }
            }
            for rs in &observed.protected_by {
                if ours.contains(rs.as_str()) && !needed_by.contains(rs) {
                    protection.push(Action::UnprotectConfig {
                        object: observed.object.clone(),
                        replica_set: rs.clone(),
                    });
                }
            }
        }
        self.actions.splice(0..0, protection);
        let missing: Vec<MissingConfig> = wanted
            .into_iter()
            .filter(|(object, _)| self.is_missing(object))
            .map(|(object, needed_by)| MissingConfig {
                object,
                needed_by: needed_by.into_iter().collect(),
            })
            .collect();
        self.set_degraded(missing);
        // Nothing watches ConfigMaps and Secrets: while an update is in flight (when a deletion
        // matters for a rollback), look again within CONFIG_RECHECK_SECS.
        let in_flight = self.st.stable_rs != self.st.current_pod_hash || self.is_aborted();
        if in_flight && !self.obs.config.is_empty() {
            let t = super::plus_secs(self.now, CONFIG_RECHECK_SECS);
            self.wake_at(t);
        }
    }

    /// Sets (missing config) or removes (none missing) the `Degraded` condition.
    fn set_degraded(&mut self, missing: Vec<MissingConfig>) {
        if missing.is_empty() {
            self.st.remove_condition(ConditionType::Degraded);
            return;
        }
        let why = match self.config_hold() {
            Some((stable, _)) => Why::rollback_held(&stable.name, missing),
            None => Why::config_missing(missing),
        };
        let message = why.message();
        let now = self.now;
        let changed = self.st.condition(ConditionType::Degraded).is_none_or(|c| {
            c.status != ConditionStatus::True || c.reason != why.reason || c.message != message
        });
        if changed {
            self.st.remove_condition(ConditionType::Degraded);
            self.st.set_condition(
                ConditionType::Degraded,
                ConditionStatus::True,
                &why.reason,
                message.clone(),
                now,
            );
            self.event(EventType::Warning, &why.reason.clone(), message);
        }
        self.record_why(why, changed);
    }
}
