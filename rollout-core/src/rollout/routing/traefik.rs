//! Traefik: the weighted `TraefikService` (`traefik.io/v1alpha1`, upstream
//! `rollout/trafficrouting/traefik`).
//!
//! ```yaml
//! trafficRouting:
//!   traefik:
//!     weightedTraefikServiceName: my-traefik-service
//! ```
//!
//! In `spec.weighted.services`, the entry named like the canary Service gets the canary weight
//! and the one named like the stable Service the rest; both must exist. Other entries and fields
//! are left alone. Header and mirror routes are not supported by this router (validation says so).

use serde::Deserialize;
use serde_json::{Value, json};

use super::{RoutingError, Services, Weights, object_err};

const KIND: &str = "TraefikService";

/// `trafficRouting.traefik`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TraefikConfig {
    /// The TraefikService whose `spec.weighted.services` carry the split.
    pub weighted_traefik_service_name: String,
}

impl TraefikConfig {
    /// Reads `trafficRouting.traefik`.
    pub fn parse(cfg: &Value) -> Result<Self, RoutingError> {
        super::parse_config("traefik", cfg)
    }
}

/// The merge patch that sets the weights (`None`: already set).
pub fn set_weight(
    svc: &Value,
    services: &Services,
    weights: &Weights,
) -> Result<Option<Value>, RoutingError> {
    let old = svc
        .pointer("/spec/weighted/services")
        .and_then(Value::as_array)
        .ok_or_else(|| object_err(KIND, svc, "spec.weighted.services was not found"))?;
    let mut list = old.clone();
    for (name, weight, role) in [
        (&services.canary, weights.canary_weight, "canary"),
        (&services.stable, weights.stable_weight(), "stable"),
    ] {
        let entry = list
            .iter_mut()
            .find(|s| s.get("name").and_then(Value::as_str) == Some(name.as_str()))
            .ok_or_else(|| object_err(KIND, svc, format!("{role} service {name:?} was not found")))?;
        entry["weight"] = json!(weight);
    }
    Ok((&list != old).then(|| json!({"spec": {"weighted": {"services": list}}})))
}
