//! Traffic routers as pure functions (issue #15): from the route objects a driver read (as JSON)
//! and the desired state (weights, header and mirror routes, the Rollout's Services and router
//! configuration) to the exact change to write, as a JSON merge patch (RFC 7386) or a new
//! object. Nothing here does I/O; a driver reads the objects, calls these functions and applies
//! the result guarded by the `resourceVersion` it read.
//!
//! One module per router, with upstream Argo Rollouts' object shapes and annotation names:
//! - [`istio`]: VirtualService weights (host-level and subset-level, HTTP/TLS/TCP routes),
//!   DestinationRule subset hashes, `setHeaderRoute` and `setMirrorRoute` managed routes.
//! - [`nginx`]: the canary Ingress built from the stable Ingress.
//! - [`smi`]: the TrafficSplit.
//! - [`alb`]: the Ingress `actions.<service>` / `conditions.<route>` annotations.
//! - [`traefik`]: the weighted TraefikService.
//! - [`gateway`]: Gateway API HTTPRoute weights, header and mirror rules (Argo's
//!   `argoproj-labs/gatewayAPI` plugin configuration).
//!
//! Every function leaves the fields it does not own alone: a patch names only what changes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

pub mod alb;
pub mod gateway;
pub mod istio;
pub mod nginx;
pub mod smi;
pub mod traefik;

/// What the router must do to one object.
#[derive(Debug, Clone, PartialEq)]
pub enum Change {
    /// The object is already as desired.
    Unchanged,
    /// Create this object (it does not exist yet).
    Create(Value),
    /// Apply this JSON merge patch to the object that was read.
    Patch(Value),
}

impl Change {
    /// `Patch(p)` when `p` is `Some`, else `Unchanged`.
    pub fn patch_or_unchanged(patch: Option<Value>) -> Self {
        patch.map_or(Change::Unchanged, Change::Patch)
    }
}

/// A router could not compute the change: the route object does not have what the Rollout
/// configuration refers to, or a configuration value is out of range.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// The route object lacks something the configuration names (a route, a backend, a rule).
    #[error("{kind} {name}: {message}")]
    Object {
        /// Object kind (`VirtualService`, `Ingress`, ...).
        kind: String,
        /// Object name.
        name: String,
        /// What is missing or wrong.
        message: String,
    },
    /// The router configuration is invalid.
    #[error("invalid {router} configuration: {message}")]
    Config {
        /// Router name (`istio`, `nginx`, ...).
        router: String,
        /// What is wrong.
        message: String,
    },
    /// An object exists with the name we need but another owner controls it.
    #[error("{kind} {name} is controlled by another object")]
    NotOwned {
        /// Object kind.
        kind: String,
        /// Object name.
        name: String,
    },
}

pub(crate) fn object_err(kind: &str, obj: &Value, message: impl Into<String>) -> RoutingError {
    RoutingError::Object {
        kind: kind.to_string(),
        name: name_of(obj).to_string(),
        message: message.into(),
    }
}

pub(crate) fn config_err(router: &str, message: impl Into<String>) -> RoutingError {
    RoutingError::Config {
        router: router.to_string(),
        message: message.into(),
    }
}

/// `metadata.name` of an object ("" if absent).
pub fn name_of(obj: &Value) -> &str {
    obj.pointer("/metadata/name")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// The weights a router must set: the canary gets `canary_weight`, the stable the rest of
/// `max_weight`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Weights {
    /// The canary's share.
    pub canary_weight: i32,
    /// `maxTrafficWeight` (100 unless set).
    pub max_weight: i32,
}

impl Weights {
    /// Canary weight out of 100.
    pub fn new(canary_weight: i32) -> Self {
        Weights {
            canary_weight,
            max_weight: 100,
        }
    }
    /// The stable's share (`max_weight - canary_weight`, never negative).
    pub fn stable_weight(&self) -> i32 {
        (self.max_weight - self.canary_weight).max(0)
    }
}

/// The Rollout's two Services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Services {
    /// `canary.canaryService`.
    pub canary: String,
    /// `canary.stableService`.
    pub stable: String,
}

/// Upstream `StringMatch`: exactly one of `exact`, `prefix`, `regex`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StringMatch {
    /// Exact value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exact: Option<String>,
    /// Prefix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub prefix: Option<String>,
    /// RE2 regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regex: Option<String>,
}

/// One header condition of a `setHeaderRoute` step.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HeaderRoutingMatch {
    /// Header name.
    pub header_name: String,
    /// How its value matches.
    #[serde(default)]
    pub header_value: StringMatch,
}

/// A `setHeaderRoute` step: route requests matching every header condition to the canary. No
/// match (absent or empty) removes the route.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct HeaderRoute {
    /// Managed route name (one of `trafficRouting.managedRoutes`).
    pub name: String,
    /// Header conditions.
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<HeaderRoutingMatch>>,
}

impl HeaderRoute {
    /// Whether the step removes the route (no conditions).
    pub fn removes(&self) -> bool {
        self.matches.as_ref().is_none_or(Vec::is_empty)
    }
}

/// One request condition of a `setMirrorRoute` step (all present parts must match).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RouteMatch {
    /// HTTP method.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub method: Option<StringMatch>,
    /// URI path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<StringMatch>,
    /// Headers.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, StringMatch>,
}

/// A `setMirrorRoute` step: copy matching requests to the canary (responses are discarded). No
/// match removes the route.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct MirrorRoute {
    /// Managed route name.
    pub name: String,
    /// Request conditions (any of them).
    #[serde(default, rename = "match", skip_serializing_if = "Option::is_none")]
    pub matches: Option<Vec<RouteMatch>>,
    /// Share of matching requests mirrored (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub percentage: Option<i32>,
}

impl MirrorRoute {
    /// Whether the step removes the route (no conditions).
    pub fn removes(&self) -> bool {
        self.matches.as_ref().is_none_or(Vec::is_empty)
    }
    /// The mirrored percentage (default 100).
    pub fn percent(&self) -> i32 {
        self.percentage.unwrap_or(100)
    }
}

/// The JSON merge patch (RFC 7386) that turns `from` into `to`; `None` when they are equal.
/// Objects are diffed key by key (removed keys become `null`); anything else is replaced.
pub fn merge_diff(from: &Value, to: &Value) -> Option<Value> {
    if from == to {
        return None;
    }
    match (from, to) {
        (Value::Object(a), Value::Object(b)) => {
            let mut patch = Map::new();
            for (k, old) in a {
                match b.get(k) {
                    None => {
                        patch.insert(k.clone(), Value::Null);
                    }
                    Some(new) => {
                        if let Some(p) = merge_diff(old, new) {
                            patch.insert(k.clone(), p);
                        }
                    }
                }
            }
            for (k, new) in b {
                if !a.contains_key(k) {
                    patch.insert(k.clone(), strip_nulls(new));
                }
            }
            (!patch.is_empty()).then_some(Value::Object(patch))
        }
        _ => Some(to.clone()),
    }
}

fn strip_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, x)| !x.is_null())
                .map(|(k, x)| (k.clone(), strip_nulls(x)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Applies a JSON merge patch (RFC 7386) to `target`, as the API server does.
pub fn apply_merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                apply_merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Whether `obj` has a controller owner reference with this `uid` (upstream
/// `metav1.IsControlledBy`); objects created by another controller must not be overwritten.
pub fn is_controlled_by(obj: &Value, uid: &str) -> bool {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|o| {
            o.get("controller").and_then(Value::as_bool) == Some(true)
                && o.get("uid").and_then(Value::as_str) == Some(uid)
        })
}

/// Where the managed routes of a Rollout come from: `trafficRouting.managedRoutes` names, in order.
pub fn managed_route_names(ro: &super::Rollout) -> Vec<String> {
    ro.canary()
        .and_then(|c| c.traffic_routing.as_ref())
        .and_then(|t| t.managed_routes.as_ref())
        .map(|r| r.iter().map(|m| m.name.clone()).collect())
        .unwrap_or_default()
}

/// The routes a `RemoveManagedRoutes` must delete: the managed route names, then the names used
/// by the `setHeaderRoute`/`setMirrorRoute` steps (upstream removes both), without repeats.
pub fn routes_to_remove(ro: &super::Rollout) -> Vec<String> {
    let mut names = managed_route_names(ro);
    for step in ro.steps() {
        for r in [&step.set_header_route, &step.set_mirror_route]
            .into_iter()
            .flatten()
        {
            if let Some(n) = r.get("name").and_then(Value::as_str)
                && !names.iter().any(|x| x == n)
            {
                names.push(n.to_string());
            }
        }
    }
    names
}

/// Reads a typed router configuration, naming the router in the error.
pub(crate) fn parse_config<T: serde::de::DeserializeOwned>(
    router: &str,
    cfg: &Value,
) -> Result<T, RoutingError> {
    serde_json::from_value(cfg.clone()).map_err(|e| config_err(router, e.to_string()))
}
