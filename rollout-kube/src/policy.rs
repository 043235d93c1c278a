//! The trigger policy on the API server: the ConfigMap [`POLICY_CONFIGMAP`] (key [`POLICY_KEY`])
//! in the controller's install namespace ([`rollout_core::rollout::policy`] for the format and
//! what it does).
//!
//! [`PolicyWatch`] keeps the policy in force; the controller watches the one ConfigMap by name
//! ([`watch`]) and re-queues every Rollout when it changes, and each tick passes it to the driver
//! ([`rollout_driver::RolloutDriver::with_policy`]). An invalid policy is never applied nor
//! silently ignored: it is logged, counted (`rollout_policy_invalid_total`,
//! `rollout_policy_valid 0`) and every Rollout's status carries an `InvalidPolicy` condition
//! naming the field paths (with a warning event), until the ConfigMap is fixed or deleted.

use std::sync::{Arc, RwLock};

use futures::Stream;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::{Client, ResourceExt};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rollout_core::rollout::policy::{Policy, PolicyState};
use tracing::{info, warn};

/// The policy ConfigMap's name.
pub const POLICY_CONFIGMAP: &str = "rollout-policy";
/// The key of the policy document in it.
pub const POLICY_KEY: &str = "policy.yaml";
/// The controller's default install namespace, where the policy lives.
pub const DEFAULT_POLICY_NAMESPACE: &str = "rollout-system";
/// The largest policy document read (bounded work on any input).
pub const MAX_POLICY_BYTES: usize = 256 * 1024;

/// The policy of a ConfigMap: its [`POLICY_KEY`] document, checked. A missing key, an
/// oversized or unreadable document and a policy with problems are all [`PolicyState::Invalid`]
/// with the field paths.
pub fn policy_of(cm: &ConfigMap) -> PolicyState {
    let path = format!("data.{POLICY_KEY}");
    let Some(text) = cm.data.as_ref().and_then(|d| d.get(POLICY_KEY)) else {
        return PolicyState::unreadable(
            &path,
            format!("ConfigMap {POLICY_CONFIGMAP} has no key {POLICY_KEY}"),
        );
    };
    if text.len() > MAX_POLICY_BYTES {
        return PolicyState::unreadable(&path, format!("larger than {MAX_POLICY_BYTES} bytes"));
    }
    match serde_yaml::from_str::<Policy>(text) {
        Ok(policy) => PolicyState::of(policy),
        Err(e) => PolicyState::unreadable(&path, e.to_string()),
    }
}

/// The controller's view of the policy and its metrics. Clones share it.
#[derive(Clone, Default)]
pub struct PolicyWatch {
    current: Arc<RwLock<Arc<PolicyState>>>,
    valid: Gauge,
    invalid: Counter,
}

impl std::fmt::Debug for PolicyWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PolicyWatch")
            .field("current", &self.current())
            .finish()
    }
}

impl PolicyWatch {
    /// A watch with its metrics registered: `rollout_policy_valid` (0 while the policy object is
    /// invalid) and `rollout_policy_invalid_total`.
    pub fn register(registry: &mut Registry) -> Self {
        let w = PolicyWatch::default();
        w.valid.set(1);
        registry.register(
            "rollout_policy_valid",
            "1 unless the trigger policy object is invalid (then it is not applied)",
            w.valid.clone(),
        );
        registry.register(
            "rollout_policy_invalid",
            "Invalid trigger policy objects seen (not applied; Rollouts get an InvalidPolicy condition)",
            w.invalid.clone(),
        );
        w
    }

    /// The policy in force.
    pub fn current(&self) -> Arc<PolicyState> {
        match self.current.read() {
            Ok(p) => p.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Takes in the policy object as observed (`None`: it does not exist, so no policy); returns
    /// whether the policy in force changed. An invalid object is logged and counted.
    pub fn observe(&self, cm: Option<&ConfigMap>) -> bool {
        let state = cm.map_or(PolicyState::Absent, policy_of);
        if let PolicyState::Invalid(errors) = &state {
            self.valid.set(0);
            self.invalid.inc();
            let problems: Vec<String> = errors.iter().map(ToString::to_string).collect();
            let name = cm.map(|c| c.name_any()).unwrap_or_default();
            warn!(
                configmap = name,
                problems = problems.join("; "),
                "trigger policy invalid: not applied"
            );
        } else {
            self.valid.set(1);
        }
        let mut slot = match self.current.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if **slot == state {
            return false;
        }
        if matches!(state, PolicyState::Valid(_)) {
            info!("trigger policy: a new policy is in force");
        }
        *slot = Arc::new(state);
        true
    }
}

/// Watches the policy ConfigMap in `namespace` (by name, field selector) into `policy`; yields
/// `()` whenever the policy changes (the controller then re-queues every Rollout). Watch errors
/// are logged and retried with backoff; the policy in force stays meanwhile.
pub fn watch(
    client: Client,
    namespace: &str,
    policy: PolicyWatch,
) -> impl Stream<Item = ()> + Send + 'static {
    crate::config_map_watch::watch_named(client, namespace, POLICY_CONFIGMAP, "trigger policy", move |cm| {
        policy.observe(cm)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(text: Option<&str>) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(POLICY_CONFIGMAP.into());
        cm.data = text.map(|t| [(POLICY_KEY.to_string(), t.to_string())].into());
        cm
    }

    #[test]
    fn invalid_objects_are_reported_with_paths_and_not_applied() {
        let mut registry = Registry::default();
        let w = PolicyWatch::register(&mut registry);
        let valid = "default: internal\ntriggers: {internal: {}, customer: {onFailure: hold}}\n";
        assert!(w.observe(Some(&cm(Some(valid)))));
        assert!(!w.observe(Some(&cm(Some(valid)))), "unchanged");
        assert!(w.current().valid().is_some());
        // (document, the field path of the first problem)
        let cases = [
            (None, "data.policy.yaml"),
            (
                Some("triggers: {customer: {profile: fast}}"),
                "triggers.customer.profile",
            ),
            (
                Some("triggers: {customer: {onFailure: later}}"),
                "data.policy.yaml",
            ),
            (
                Some("profiles: {fast: {steps: [{pause: {duration: soon}}]}}\ntriggers: {}"),
                "profiles.fast.steps[0].pause.duration",
            ),
        ];
        for (text, path) in cases {
            w.observe(Some(&cm(text)));
            let current = w.current();
            let problems = current.problems();
            assert_eq!(
                problems.first().map(|e| e.path.as_str()),
                Some(path),
                "{text:?}: {problems:?}"
            );
            assert!(current.valid().is_none(), "an invalid policy is not applied");
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap_or_default();
        assert!(text.contains("rollout_policy_invalid_total 4"), "{text}");
        assert!(text.contains("rollout_policy_valid 0"), "{text}");
        // No object: no policy.
        assert!(w.observe(None));
        assert_eq!(*w.current(), PolicyState::Absent);
    }
}
