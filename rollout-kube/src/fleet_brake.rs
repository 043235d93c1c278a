//! The fleet brake on the API server: the `rollout-fleet-brake` ConfigMap
//! ([`BRAKE_CONFIGMAP`]) in the controller's install namespace, key `holds.yaml`
//! ([`rollout_core::fleet::brake`] for the format and what a hold does).
//!
//! - Writing it: [`add_hold`], [`remove_hold`], [`list_holds`] (read-modify-write guarded by
//!   `resourceVersion`, retried on conflict). `rollout fleet status --halt` calls [`add_hold`]
//!   when the classification halts a release; `rollout fleet brake` wraps all three.
//! - Obeying it: [`BrakeWatch`] keeps the last valid holds for the controller, which watches the
//!   one ConfigMap by name ([`watch`]) and re-queues every Rollout when the holds change. An
//!   invalid object is reported (a warning log, `rollout_fleet_brake_invalid_total`,
//!   `rollout_fleet_brake_valid 0`) and changes nothing: the last valid holds stay in force.

use std::sync::{Arc, RwLock};

use futures::Stream;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, PostParams};
use kube::{Client, ResourceExt};
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use rollout_core::fleet::brake::{
    BRAKE_CONFIGMAP, BRAKE_KEY, Brake, BrakeError as Invalid, Hold, HoldSelector,
};
use tracing::{info, warn};

/// The controller's default install namespace, where the brake lives.
pub const DEFAULT_BRAKE_NAMESPACE: &str = "rollout-system";
/// Read-modify-write attempts before giving up on conflicts.
const MAX_ATTEMPTS: usize = 8;

/// Why a brake read or write failed.
#[derive(Debug, thiserror::Error)]
pub enum BrakeError {
    /// An API request failed.
    #[error("{what}: {source}")]
    Kube {
        /// The request, e.g. `get ConfigMap rollout-system/rollout-fleet-brake`.
        what: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// The stored object is invalid (it is not overwritten; fix or delete it).
    #[error("ConfigMap {namespace}/{BRAKE_CONFIGMAP}: {source}")]
    Stored {
        /// Its namespace.
        namespace: String,
        /// Its mistakes.
        #[source]
        source: Invalid,
    },
    /// The hold to add is invalid, or there are too many holds.
    #[error(transparent)]
    Hold(#[from] Invalid),
    /// Every attempt met a concurrent write.
    #[error("ConfigMap {namespace}/{BRAKE_CONFIGMAP}: still conflicting after {MAX_ATTEMPTS} attempts")]
    Conflict {
        /// Its namespace.
        namespace: String,
    },
}

fn kube_err(what: String) -> impl FnOnce(kube::Error) -> BrakeError {
    move |source| BrakeError::Kube { what, source }
}

fn is_status(e: &BrakeError, code: u16) -> bool {
    matches!(e, BrakeError::Kube { source: kube::Error::Api(s), .. } if s.code == code)
}

/// The holds of a brake ConfigMap: its `holds.yaml` (absent: none).
pub fn holds_of(cm: &ConfigMap) -> Result<Brake, Invalid> {
    match cm.data.as_ref().and_then(|d| d.get(BRAKE_KEY)) {
        Some(text) => Brake::parse(text),
        None => Ok(Brake::default()),
    }
}

/// The holds in `namespace` (none when the ConfigMap does not exist).
pub async fn list_holds(client: &Client, namespace: &str) -> Result<Brake, BrakeError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let cm = api
        .get_opt(BRAKE_CONFIGMAP)
        .await
        .map_err(kube_err(format!("get ConfigMap {namespace}/{BRAKE_CONFIGMAP}")))?;
    match cm {
        Some(cm) => holds_of(&cm).map_err(|source| BrakeError::Stored {
            namespace: namespace.into(),
            source,
        }),
        None => Ok(Brake::default()),
    }
}

/// Adds `hold` to the brake in `namespace` (the controller's install namespace, by default
/// [`DEFAULT_BRAKE_NAMESPACE`]), creating the ConfigMap if needed; a hold on the same image and
/// revision is replaced. Returns whether the stored holds changed. Stable API: `rollout fleet
/// status --halt` calls it when a release is halted.
pub async fn add_hold(client: &Client, namespace: &str, hold: Hold) -> Result<bool, BrakeError> {
    let mut changed = false;
    edit(client, namespace, |brake| {
        changed = brake.add(hold.clone())?;
        Ok(changed)
    })
    .await?;
    Ok(changed)
}

/// Removes the holds `selector` selects (an empty selector removes nothing) from the brake in
/// `namespace`; returns them.
pub async fn remove_hold(
    client: &Client,
    namespace: &str,
    selector: &HoldSelector,
) -> Result<Vec<Hold>, BrakeError> {
    let mut removed = Vec::new();
    edit(client, namespace, |brake| {
        removed = brake.remove(selector);
        Ok(!removed.is_empty())
    })
    .await?;
    Ok(removed)
}

/// Read-modify-write of the brake: `change` edits the holds and says whether it changed them;
/// the write carries the read `resourceVersion` (a conflict re-reads and retries).
async fn edit(
    client: &Client,
    namespace: &str,
    mut change: impl FnMut(&mut Brake) -> Result<bool, Invalid>,
) -> Result<(), BrakeError> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let what = |verb: &str| format!("{verb} ConfigMap {namespace}/{BRAKE_CONFIGMAP}");
    for _ in 0..MAX_ATTEMPTS {
        let current = api
            .get_opt(BRAKE_CONFIGMAP)
            .await
            .map_err(kube_err(what("get")))?;
        let mut brake = match &current {
            Some(cm) => holds_of(cm).map_err(|source| BrakeError::Stored {
                namespace: namespace.into(),
                source,
            })?,
            None => Brake::default(),
        };
        if !change(&mut brake)? {
            return Ok(());
        }
        let result = match current {
            Some(mut cm) => {
                cm.data
                    .get_or_insert_default()
                    .insert(BRAKE_KEY.into(), brake.to_yaml());
                api.replace(BRAKE_CONFIGMAP, &PostParams::default(), &cm)
                    .await
                    .map_err(kube_err(what("replace")))
            }
            None => {
                let mut cm = ConfigMap::default();
                cm.metadata.name = Some(BRAKE_CONFIGMAP.into());
                cm.metadata.namespace = Some(namespace.into());
                cm.data = Some([(BRAKE_KEY.to_string(), brake.to_yaml())].into());
                api.create(&PostParams::default(), &cm)
                    .await
                    .map_err(kube_err(what("create")))
            }
        };
        match result {
            Ok(_) => return Ok(()),
            // 409: changed (or created) since we read it: read again.
            Err(e) if is_status(&e, 409) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(BrakeError::Conflict {
        namespace: namespace.into(),
    })
}

/// The controller's view of the brake: the last valid holds, and its metrics. Clones share it.
#[derive(Clone, Default)]
pub struct BrakeWatch {
    current: Arc<RwLock<Arc<Brake>>>,
    holds: Gauge,
    valid: Gauge,
    invalid: Counter,
}

impl std::fmt::Debug for BrakeWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrakeWatch")
            .field("holds", &self.current().holds.len())
            .finish()
    }
}

/// What an observed brake object did to the holds in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BrakeUpdate {
    /// New holds are in force.
    Changed,
    /// The same holds as before.
    Unchanged,
    /// The object is invalid: the last valid holds stay in force.
    Invalid(Invalid),
}

impl BrakeWatch {
    /// A watch with its metrics registered: `rollout_fleet_brake_holds` (holds in force),
    /// `rollout_fleet_brake_valid` (0 while the object is invalid) and
    /// `rollout_fleet_brake_invalid_total`.
    pub fn register(registry: &mut Registry) -> Self {
        let w = BrakeWatch::default();
        w.valid.set(1);
        registry.register(
            "rollout_fleet_brake_holds",
            "Fleet brake holds in force",
            w.holds.clone(),
        );
        registry.register(
            "rollout_fleet_brake_valid",
            "1 when the fleet brake object is valid, 0 while the last valid holds are kept",
            w.valid.clone(),
        );
        registry.register(
            "rollout_fleet_brake_invalid",
            "Invalid fleet brake objects seen (the last valid holds stay in force)",
            w.invalid.clone(),
        );
        w
    }

    /// The holds in force.
    pub fn current(&self) -> Arc<Brake> {
        match self.current.read() {
            Ok(b) => b.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn set(&self, brake: Brake) -> BrakeUpdate {
        self.valid.set(1);
        self.holds.set(brake.holds.len() as i64);
        let mut slot = match self.current.write() {
            Ok(s) => s,
            Err(poisoned) => poisoned.into_inner(),
        };
        if **slot == brake {
            return BrakeUpdate::Unchanged;
        }
        *slot = Arc::new(brake);
        BrakeUpdate::Changed
    }

    /// Takes in the brake object as observed (`None`: it does not exist, so no holds). An
    /// invalid object is counted, logged and changes nothing.
    pub fn observe(&self, cm: Option<&ConfigMap>) -> BrakeUpdate {
        let parsed = cm.map_or_else(|| Ok(Brake::default()), holds_of);
        match parsed {
            Ok(brake) => {
                let update = self.set(brake);
                if update == BrakeUpdate::Changed {
                    info!(holds = self.current().holds.len(), "fleet brake: holds changed");
                }
                update
            }
            Err(e) => {
                self.valid.set(0);
                self.invalid.inc();
                let name = cm.map(|c| c.name_any()).unwrap_or_default();
                warn!(configmap = name, error = %e, "fleet brake: invalid object ignored; the last valid holds stay in force");
                BrakeUpdate::Invalid(e)
            }
        }
    }
}

/// Watches the brake ConfigMap in `namespace` (by name, field selector) into `brake`; yields
/// `()` whenever the holds in force change (the controller then re-queues every Rollout).
/// Watch errors are logged and retried with backoff; the holds in force stay meanwhile.
pub fn watch(client: Client, namespace: &str, brake: BrakeWatch) -> impl Stream<Item = ()> + Send + 'static {
    crate::config_map_watch::watch_named(client, namespace, BRAKE_CONFIGMAP, "fleet brake", move |cm| {
        brake.observe(cm) == BrakeUpdate::Changed
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cm(text: Option<&str>) -> ConfigMap {
        let mut cm = ConfigMap::default();
        cm.metadata.name = Some(BRAKE_CONFIGMAP.into());
        cm.data = text.map(|t| [(BRAKE_KEY.to_string(), t.to_string())].into());
        cm
    }

    #[test]
    fn an_invalid_object_keeps_the_last_valid_holds_and_is_counted() {
        let mut registry = Registry::default();
        let w = BrakeWatch::register(&mut registry);
        let valid = "- {image: a:v2, release: v2, reason: r, since: '2026-12-02T10:00:00Z'}";
        assert_eq!(w.observe(Some(&cm(Some(valid)))), BrakeUpdate::Changed);
        assert_eq!(w.observe(Some(&cm(Some(valid)))), BrakeUpdate::Unchanged);
        let bad = w.observe(Some(&cm(Some("- {release: v2}"))));
        assert!(matches!(bad, BrakeUpdate::Invalid(_)), "{bad:?}");
        assert_eq!(w.current().holds.len(), 1, "last valid holds kept");
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap_or_default();
        assert!(text.contains("rollout_fleet_brake_invalid_total 1"), "{text}");
        assert!(text.contains("rollout_fleet_brake_valid 0"), "{text}");
        assert!(text.contains("rollout_fleet_brake_holds 1"), "{text}");
        // No key, or no object: no holds.
        assert_eq!(w.observe(Some(&cm(None))), BrakeUpdate::Changed);
        assert!(w.current().holds.is_empty());
        assert_eq!(w.observe(None), BrakeUpdate::Unchanged);
    }
}
