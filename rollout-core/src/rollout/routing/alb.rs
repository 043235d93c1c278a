//! AWS ALB: the Ingress action annotations the AWS Load Balancer Controller reads (upstream
//! `rollout/trafficrouting/alb`). No AWS call is made: weight verification against target
//! groups is not done here.
//!
//! ```yaml
//! trafficRouting:
//!   alb:
//!     ingress: my-ingress        # or ingresses: [a, b]
//!     servicePort: 80
//!     rootService: my-root-svc   # optional, default: the stable Service
//!     annotationPrefix: alb.ingress.kubernetes.io   # optional
//! ```
//!
//! - Weights: `<prefix>/actions.<rootService>` holds a `forward` action with the canary target
//!   group first and the stable one second (Go's JSON, byte for byte).
//! - `setHeaderRoute`: `<prefix>/actions.<route>` forwards everything to the canary,
//!   `<prefix>/conditions.<route>` holds the `http-header` conditions, and every rule gets a
//!   first path `/*` to the `<route>` action (`port.name: use-annotation`); paths are ordered
//!   by `managedRoutes`.
//! - Every key written is recorded in `rollouts.argoproj.io/managed-alb-annotations`
//!   (`{"<rollout>": [keys]}`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{HeaderRoute, RoutingError, Services, Weights, config_err, merge_diff, object_err};

/// Default annotation prefix.
pub const DEFAULT_ANNOTATION_PREFIX: &str = "alb.ingress.kubernetes.io";
/// Annotation listing the keys each Rollout manages.
pub const MANAGED_ANNOTATIONS: &str = "rollouts.argoproj.io/managed-alb-annotations";

const KIND: &str = "Ingress";

/// `trafficRouting.alb`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AlbConfig {
    /// The Ingress.
    #[serde(default)]
    pub ingress: String,
    /// Several Ingresses.
    #[serde(default)]
    pub ingresses: Vec<String>,
    /// Port of the Services in the target groups.
    #[serde(default)]
    pub service_port: i32,
    /// Service the Ingress rules name (default: the stable Service).
    #[serde(default)]
    pub root_service: String,
    /// Annotation prefix (default `alb.ingress.kubernetes.io`).
    #[serde(default)]
    pub annotation_prefix: String,
    /// Target group stickiness.
    #[serde(default)]
    pub stickiness_config: Option<Stickiness>,
}

/// `alb.stickinessConfig`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Stickiness {
    /// Enabled.
    #[serde(default)]
    pub enabled: bool,
    /// Seconds, 1..=604800.
    #[serde(default)]
    pub duration_seconds: i64,
}

impl AlbConfig {
    /// Reads `trafficRouting.alb`.
    pub fn parse(cfg: &Value) -> Result<Self, RoutingError> {
        super::parse_config("alb", cfg)
    }
    /// The Ingresses (`ingresses` if set, else `ingress`).
    pub fn ingress_names(&self) -> Vec<String> {
        if self.ingresses.is_empty() {
            vec![self.ingress.clone()]
        } else {
            self.ingresses.clone()
        }
    }
    fn prefix(&self) -> &str {
        if self.annotation_prefix.is_empty() {
            DEFAULT_ANNOTATION_PREFIX
        } else {
            &self.annotation_prefix
        }
    }
    /// The Service the weighted action is named after.
    pub fn action_service<'a>(&'a self, services: &'a Services) -> &'a str {
        if self.root_service.is_empty() {
            &services.stable
        } else {
            &self.root_service
        }
    }
    /// `<prefix>/actions.<name>`.
    pub fn action_key(&self, name: &str) -> String {
        format!("{}/actions.{name}", self.prefix())
    }
    /// `<prefix>/conditions.<name>`.
    pub fn condition_key(&self, name: &str) -> String {
        format!("{}/conditions.{name}", self.prefix())
    }
}

#[derive(Serialize)]
struct Action {
    #[serde(rename = "Type")]
    kind: &'static str,
    #[serde(rename = "ForwardConfig")]
    forward: Forward,
}

#[derive(Serialize)]
struct Forward {
    #[serde(rename = "TargetGroups")]
    target_groups: Vec<TargetGroup>,
    #[serde(
        rename = "TargetGroupStickinessConfig",
        skip_serializing_if = "Option::is_none"
    )]
    stickiness: Option<StickinessOut>,
}

#[derive(Serialize)]
struct TargetGroup {
    #[serde(rename = "ServiceName")]
    service: String,
    #[serde(rename = "ServicePort")]
    port: String,
    #[serde(rename = "Weight")]
    weight: i64,
}

#[derive(Serialize)]
struct StickinessOut {
    #[serde(rename = "Enabled")]
    enabled: bool,
    #[serde(rename = "DurationSeconds")]
    duration: i64,
}

#[derive(Serialize)]
struct Condition {
    field: &'static str,
    #[serde(rename = "httpHeaderConfig")]
    header: HeaderConfig,
}

#[derive(Serialize)]
struct HeaderConfig {
    #[serde(rename = "httpHeaderName")]
    name: String,
    values: Vec<String>,
}

fn to_json<T: Serialize>(v: &T) -> Result<String, RoutingError> {
    serde_json::to_string(v).map_err(|e| config_err("alb", e.to_string()))
}

fn forward(cfg: &AlbConfig, groups: Vec<(String, i64)>) -> Result<String, RoutingError> {
    let stickiness = match &cfg.stickiness_config {
        Some(s) if s.enabled => {
            if !(1..=604_800).contains(&s.duration_seconds) {
                return Err(config_err(
                    "alb",
                    "TargetGroupStickinessConfig's duration must be between 1 and 604800 seconds (7 days)!",
                ));
            }
            Some(StickinessOut {
                enabled: true,
                duration: s.duration_seconds,
            })
        }
        _ => None,
    };
    to_json(&Action {
        kind: "forward",
        forward: Forward {
            target_groups: groups
                .into_iter()
                .map(|(service, weight)| TargetGroup {
                    service,
                    port: cfg.service_port.to_string(),
                    weight,
                })
                .collect(),
            stickiness,
        },
    })
}

/// The weighted `forward` action value (canary first, then stable with `100 - weight`).
pub fn forward_action(
    cfg: &AlbConfig,
    services: &Services,
    weights: &Weights,
) -> Result<String, RoutingError> {
    let w = i64::from(weights.canary_weight);
    forward(
        cfg,
        vec![(services.canary.clone(), w), (services.stable.clone(), 100 - w)],
    )
}

fn paths_of(rule: &Value) -> impl Iterator<Item = &Value> {
    rule.pointer("/http/paths")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
}

fn path_service(path: &Value) -> Option<&str> {
    path.pointer("/backend/service/name")
        .or_else(|| path.pointer("/backend/serviceName"))
        .and_then(Value::as_str)
}

/// Upstream `HasRuleWithService`.
pub fn has_rule_with_service(ingress: &Value, service: &str) -> bool {
    ingress
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|r| paths_of(r).any(|p| path_service(p) == Some(service)))
}

fn annotations(ingress: &Value) -> Value {
    ingress
        .pointer("/metadata/annotations")
        .cloned()
        .unwrap_or_else(|| json!({}))
}

/// Adds or removes `keys` in the managed-annotations record for `rollout`.
fn record_managed(ann: &mut Value, rollout: &str, add: bool, keys: &[String]) -> Result<(), RoutingError> {
    let raw = ann
        .get(MANAGED_ANNOTATIONS)
        .and_then(Value::as_str)
        .unwrap_or_default();
    let mut managed: BTreeMap<String, Vec<String>> = if raw.is_empty() {
        BTreeMap::new()
    } else {
        serde_json::from_str(raw).map_err(|e| config_err("alb", format!("{MANAGED_ANNOTATIONS}: {e}")))?
    };
    let list = managed.entry(rollout.to_string()).or_default();
    for k in keys {
        if add {
            if !list.contains(k) {
                list.push(k.clone());
            }
        } else {
            list.retain(|x| x != k);
        }
    }
    ann[MANAGED_ANNOTATIONS] = json!(to_json(&managed)?);
    Ok(())
}

fn annotations_patch(old: &Value, new: &Value) -> Option<Value> {
    merge_diff(old, new)
}

/// The merge patch that writes the weighted action on one Ingress (`None`: already written).
pub fn set_weight(
    ingress: &Value,
    rollout: &str,
    cfg: &AlbConfig,
    services: &Services,
    weights: &Weights,
) -> Result<Option<Value>, RoutingError> {
    let action_service = cfg.action_service(services);
    if !has_rule_with_service(ingress, action_service) {
        return Err(object_err(
            KIND,
            ingress,
            format!("ingress does not have service `{action_service}` in rules"),
        ));
    }
    let old = annotations(ingress);
    let mut new = old.clone();
    let key = cfg.action_key(action_service);
    new[key.as_str()] = json!(forward_action(cfg, services, weights)?);
    record_managed(&mut new, rollout, true, &[key])?;
    Ok(annotations_patch(&old, &new).map(|a| json!({"metadata": {"annotations": a}})))
}

fn header_path(route: &str, legacy: bool) -> Value {
    if legacy {
        json!({"path": "/*", "pathType": "ImplementationSpecific",
               "backend": {"serviceName": route, "servicePort": "use-annotation"}})
    } else {
        json!({"path": "/*", "pathType": "ImplementationSpecific",
               "backend": {"service": {"name": route, "port": {"name": "use-annotation"}}}})
    }
}

/// Stable sort of every rule's paths by the position of their Service in `managed` (others last).
fn sort_paths(rules: &mut [Value], managed: &[String]) {
    let rank = |p: &Value| {
        path_service(p)
            .and_then(|s| managed.iter().position(|m| m == s))
            .unwrap_or(managed.len())
    };
    for rule in rules {
        if let Some(paths) = rule.pointer_mut("/http/paths").and_then(Value::as_array_mut) {
            paths.sort_by_key(|p| rank(p));
        }
    }
}

fn remove_paths(rules: &mut [Value], route: &str) {
    for rule in rules {
        if let Some(paths) = rule.pointer_mut("/http/paths").and_then(Value::as_array_mut)
            && let Some(i) = paths.iter().position(|p| path_service(p) == Some(route))
        {
            paths.remove(i);
        }
    }
}

fn rules(ingress: &Value) -> Vec<Value> {
    ingress
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn ingress_patch(ingress: &Value, ann: &Value, new_rules: Vec<Value>) -> Option<Value> {
    let mut patch = serde_json::Map::new();
    if let Some(a) = annotations_patch(&annotations(ingress), ann) {
        patch.insert("metadata".into(), json!({"annotations": a}));
    }
    if new_rules != rules(ingress) {
        patch.insert("spec".into(), json!({"rules": new_rules}));
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}

/// The merge patch for a `setHeaderRoute` step on one Ingress (`None`: already so).
pub fn set_header_route(
    ingress: &Value,
    rollout: &str,
    cfg: &AlbConfig,
    services: &Services,
    header: &HeaderRoute,
    managed: &[String],
) -> Result<Option<Value>, RoutingError> {
    let action_key = cfg.action_key(&header.name);
    let condition_key = cfg.condition_key(&header.name);
    let keys = [action_key.clone(), condition_key.clone()];
    let mut ann = annotations(ingress);
    let add = !header.removes();
    if add {
        ann[action_key.as_str()] = json!(forward(cfg, vec![(services.canary.clone(), 100)])?);
        let mut conds: Vec<Condition> = Vec::new();
        for m in header.matches.iter().flatten() {
            // ALB header values match exactly or with `*` wildcards; upstream writes only the
            // exact value (a prefix became ""), we turn a prefix into a wildcard.
            let value = match (&m.header_value.exact, &m.header_value.prefix) {
                (Some(e), _) => e.clone(),
                (None, Some(p)) => format!("{p}*"),
                (None, None) => {
                    return Err(config_err(
                        "alb",
                        format!(
                            "setHeaderRoute {:?}: ALB matches header values exactly or by prefix only",
                            header.name
                        ),
                    ));
                }
            };
            match conds.iter_mut().find(|c| c.header.name == m.header_name) {
                Some(c) => c.header.values.push(value),
                None => conds.push(Condition {
                    field: "http-header",
                    header: HeaderConfig {
                        name: m.header_name.clone(),
                        values: vec![value],
                    },
                }),
            }
        }
        ann[condition_key.as_str()] = json!(to_json(&conds)?);
    } else if let Some(o) = ann.as_object_mut() {
        o.remove(&action_key);
        o.remove(&condition_key);
    }
    record_managed(&mut ann, rollout, add, &keys)?;
    let mut new_rules = rules(ingress);
    let has_rule = has_rule_with_service(ingress, &header.name);
    if has_rule && !add {
        remove_paths(&mut new_rules, &header.name);
    }
    if !has_rule && add {
        let legacy = ingress.get("apiVersion").and_then(Value::as_str) == Some("extensions/v1beta1");
        for rule in &mut new_rules {
            if let Some(paths) = rule.pointer_mut("/http/paths").and_then(Value::as_array_mut) {
                paths.insert(0, header_path(&header.name, legacy));
            }
        }
    }
    sort_paths(&mut new_rules, managed);
    Ok(ingress_patch(ingress, &ann, new_rules))
}

/// The merge patch removing every managed route's annotations and paths (`None`: none there).
pub fn remove_managed_routes(
    ingress: &Value,
    rollout: &str,
    cfg: &AlbConfig,
    managed: &[String],
) -> Result<Option<Value>, RoutingError> {
    if managed.is_empty() {
        return Ok(None);
    }
    let mut ann = annotations(ingress);
    let mut keys = Vec::new();
    for route in managed {
        let (a, c) = (cfg.action_key(route), cfg.condition_key(route));
        if let Some(o) = ann.as_object_mut() {
            o.remove(&a);
            o.remove(&c);
        }
        keys.push(a);
        keys.push(c);
    }
    record_managed(&mut ann, rollout, false, &keys)?;
    let mut new_rules = rules(ingress);
    for route in managed {
        remove_paths(&mut new_rules, route);
    }
    Ok(ingress_patch(ingress, &ann, new_rules))
}
