//! SMI: the `TrafficSplit` the Rollout owns (upstream `rollout/trafficrouting/smi`).
//!
//! ```yaml
//! trafficRouting:
//!   smi:
//!     rootService: my-svc          # optional, default: the stable Service
//!     trafficSplitName: my-split   # optional, default: the Rollout's name
//! ```
//!
//! The TrafficSplit is created by the Rollout (with a controller owner reference) with two
//! backends, the canary first. An existing split is patched only in `spec`, and only if the
//! Rollout controls it. API versions `v1alpha1` (weights are quantities, written as strings),
//! `v1alpha2` and `v1alpha3` (integers); upstream's default is `v1alpha1`.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{Change, RoutingError, Services, Weights, config_err, is_controlled_by, merge_diff};

/// `trafficRouting.smi`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmiConfig {
    /// The Service clients address (default: the stable Service).
    #[serde(default)]
    pub root_service: String,
    /// The TrafficSplit name (default: the Rollout's name).
    #[serde(default)]
    pub traffic_split_name: String,
}

impl SmiConfig {
    /// Reads `trafficRouting.smi`.
    pub fn parse(cfg: &Value) -> Result<Self, RoutingError> {
        super::parse_config("smi", cfg)
    }
    /// The TrafficSplit's name for a Rollout named `rollout`.
    pub fn split_name(&self, rollout: &str) -> String {
        if self.traffic_split_name.is_empty() {
            rollout.to_string()
        } else {
            self.traffic_split_name.clone()
        }
    }
}

/// Upstream's default TrafficSplit API version.
pub const DEFAULT_API_VERSION: &str = "v1alpha1";

/// The Rollout side of a TrafficSplit: who owns it and where.
#[derive(Debug, Clone, PartialEq)]
pub struct SplitOwner<'a> {
    /// Rollout name.
    pub rollout: &'a str,
    /// Rollout namespace.
    pub namespace: &'a str,
    /// Controller owner reference to put on a new split (`apiVersion`, `kind`, `name`, `uid`,
    /// `controller: true`).
    pub owner_reference: Value,
    /// `v1alpha1`, `v1alpha2` or `v1alpha3`.
    pub api_version: &'a str,
}

/// The desired TrafficSplit `spec`.
pub fn desired_spec(
    cfg: &SmiConfig,
    services: &Services,
    weights: &Weights,
    api_version: &str,
) -> Result<Value, RoutingError> {
    let weight = |w: i32| -> Result<Value, RoutingError> {
        match api_version {
            "v1alpha1" => Ok(json!(w.to_string())),
            "v1alpha2" | "v1alpha3" => Ok(json!(w)),
            other => Err(config_err(
                "smi",
                format!("Unsupported TrafficSplit API version `{other}`"),
            )),
        }
    };
    let root = if cfg.root_service.is_empty() {
        &services.stable
    } else {
        &cfg.root_service
    };
    Ok(json!({
        "service": root,
        "backends": [
            {"service": services.canary, "weight": weight(weights.canary_weight)?},
            {"service": services.stable, "weight": weight(weights.max_weight - weights.canary_weight)?},
        ],
    }))
}

/// The change for the TrafficSplit: create it when `existing` is `None`, else patch its spec.
/// A split the Rollout does not control is an error, never overwritten.
pub fn set_weight(
    existing: Option<&Value>,
    cfg: &SmiConfig,
    services: &Services,
    weights: &Weights,
    owner: &SplitOwner<'_>,
) -> Result<Change, RoutingError> {
    let spec = desired_spec(cfg, services, weights, owner.api_version)?;
    let name = cfg.split_name(owner.rollout);
    let Some(existing) = existing else {
        return Ok(Change::Create(json!({
            "apiVersion": format!("split.smi-spec.io/{}", owner.api_version),
            "kind": "TrafficSplit",
            "metadata": {
                "name": name,
                "namespace": owner.namespace,
                "ownerReferences": [owner.owner_reference],
            },
            "spec": spec,
        })));
    };
    let uid = owner
        .owner_reference
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !is_controlled_by(existing, uid) {
        return Err(RoutingError::NotOwned {
            kind: "TrafficSplit".into(),
            name,
        });
    }
    let current = existing.get("spec").cloned().unwrap_or_else(|| json!({}));
    Ok(Change::patch_or_unchanged(
        merge_diff(&current, &spec).map(|p| json!({"spec": p})),
    ))
}
