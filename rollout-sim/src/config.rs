//! Simulated ConfigMaps and Secrets (rollback-safe config, issue #13 story 2): which objects
//! exist, which are immutable, and which ReplicaSets protect them (the owner references the
//! Kubernetes adapter writes). A pod whose ReplicaSet needs a missing object never becomes ready,
//! as a kubelet cannot mount it.

use std::collections::BTreeMap;

use rollout_core::rollout::ObservedConfig;
use rollout_core::rollout::config_deps::ConfigRef;
use rollout_driver::Applied;
use serde_json::{Value, json};

/// The name of the volume through which the simulated pods mount the release's Secret.
pub const RELEASE_VOLUME: &str = "release-config";

/// Mounts the Secret `name` into the pod template `template` as the volume [`RELEASE_VOLUME`]
/// (replacing the previous release's).
pub fn mount_release_secret(template: &mut Value, name: &str) {
    let Some(spec) = template.get_mut("spec").and_then(Value::as_object_mut) else {
        return;
    };
    let volumes = spec.entry("volumes").or_insert_with(|| Value::Array(Vec::new()));
    if let Some(list) = volumes.as_array_mut() {
        list.retain(|v| v.get("name").and_then(Value::as_str) != Some(RELEASE_VOLUME));
        list.push(json!({"name": RELEASE_VOLUME, "secret": {"secretName": name}}));
    }
}

/// One simulated ConfigMap or Secret.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SimConfig {
    /// `immutable: true`.
    pub immutable: bool,
    /// ReplicaSets that protect it (its owner references).
    pub protected_by: Vec<String>,
}

/// The simulated ConfigMaps and Secrets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConfigStore {
    /// Objects by reference.
    pub objects: BTreeMap<ConfigRef, SimConfig>,
}

impl ConfigStore {
    /// Creates an immutable object (a release tool's content-hash named Secret); an existing
    /// one is left as it is.
    pub fn create_immutable(&mut self, object: ConfigRef) {
        self.objects.entry(object).or_insert(SimConfig {
            immutable: true,
            protected_by: Vec::new(),
        });
    }

    /// Deletes an object, as a release tool does with the previous release's; returns whether it
    /// existed. Owner references do not stop an explicit delete.
    pub fn delete(&mut self, object: &ConfigRef) -> bool {
        self.objects.remove(object).is_some()
    }

    /// Whether every object in `needs` exists.
    pub fn all_present(&self, needs: &[ConfigRef]) -> bool {
        needs.iter().all(|n| self.objects.contains_key(n))
    }

    /// Each of `objects` as the driver observes it, present or missing.
    pub fn observe(&self, objects: &[ConfigRef]) -> Vec<ObservedConfig> {
        objects
            .iter()
            .map(|object| {
                let found = self.objects.get(object);
                ObservedConfig {
                    object: object.clone(),
                    exists: found.is_some(),
                    immutable: found.is_some_and(|c| c.immutable),
                    protection: None,
                    protected_by: found.map(|c| c.protected_by.clone()).unwrap_or_default(),
                }
            })
            .collect()
    }

    /// Adds `replica_set` as a protector of `object` (nothing when it is gone).
    pub fn protect(&mut self, object: &ConfigRef, replica_set: &str) -> Applied {
        match self.objects.get_mut(object) {
            Some(c) if !c.protected_by.iter().any(|r| r == replica_set) => {
                c.protected_by.push(replica_set.to_string());
                Applied::Written
            }
            _ => Applied::Unchanged,
        }
    }

    /// Removes `replica_set` as a protector of `object`.
    pub fn unprotect(&mut self, object: &ConfigRef, replica_set: &str) -> Applied {
        match self.objects.get_mut(object) {
            Some(c) if c.protected_by.iter().any(|r| r == replica_set) => {
                c.protected_by.retain(|r| r != replica_set);
                Applied::Written
            }
            _ => Applied::Unchanged,
        }
    }

    /// A ReplicaSet was deleted: garbage collection drops its owner references (the machine
    /// unprotects before it deletes, so no object loses its last owner this way).
    pub fn forget_owner(&mut self, replica_set: &str) {
        for c in self.objects.values_mut() {
            c.protected_by.retain(|r| r != replica_set);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protect_observe_delete() {
        let (a, b) = (ConfigRef::secret("cfg-a"), ConfigRef::secret("cfg-b"));
        let mut s = ConfigStore::default();
        s.create_immutable(a.clone());
        assert_eq!(s.protect(&a, "r1"), Applied::Written);
        assert_eq!(s.protect(&a, "r1"), Applied::Unchanged);
        assert_eq!(
            s.protect(&b, "r1"),
            Applied::Unchanged,
            "missing objects are not created"
        );
        let seen = s.observe(&[a.clone(), b.clone()]);
        assert!(seen[0].exists && seen[0].immutable && seen[0].protected_by == ["r1"]);
        assert!(!seen[1].exists);
        assert!(!s.all_present(&[a.clone(), b.clone()]));
        s.forget_owner("r1");
        assert!(s.observe(std::slice::from_ref(&a))[0].protected_by.is_empty());
        assert!(s.delete(&a));
        assert!(!s.all_present(&[a]));
    }
}
