//! The Services a strategy names: pointing them at a ReplicaSet once it has an available pod.

use super::Ctx;
use crate::rollout::decision::Action;

impl Ctx<'_> {
    /// Points `service` at `hash` when the target RS has an available pod.
    pub fn ensure_service(&mut self, service: &str, hash: &str) {
        if service.is_empty() || hash.is_empty() {
            return;
        }
        let current = self
            .obs
            .services
            .iter()
            .find(|s| s.name == service)
            .and_then(|s| s.selector_hash.as_deref());
        if current == Some(hash) {
            return;
        }
        let target_available = self
            .obs
            .replica_sets
            .iter()
            .find(|r| r.pod_template_hash == hash)
            .is_some_and(|r| r.available > 0);
        if target_available {
            self.actions.push(Action::SetServiceSelector {
                service: service.to_string(),
                pod_template_hash: hash.to_string(),
            });
        }
    }
}
