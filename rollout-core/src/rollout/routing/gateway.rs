//! Gateway API `HTTPRoute` (configured like Argo's `argoproj-labs/gatewayAPI` plugin):
//!
//! ```yaml
//! trafficRouting:
//!   managedRoutes: [{name: canary-header}, {name: mirror}]
//!   plugins:
//!     argoproj-labs/gatewayAPI:
//!       httpRoute: my-route          # or httpRoutes: [{name: a}, {name: b}]
//!       namespace: my-namespace      # optional, defaults to the Rollout's
//! ```
//!
//! - Weights: in every rule, the backendRef named like the canary Service gets the canary weight
//!   and the one named like the stable Service the rest; other backendRefs are left alone.
//! - `setHeaderRoute`: a rule named like the managed route, with the first weighted rule's
//!   matches plus the header conditions, sending everything to the canary backendRef.
//! - `setMirrorRoute`: a rule named like the managed route with the step's matches, the
//!   weighted rule's backendRefs (so the split is unchanged) and a `RequestMirror` filter to the
//!   canary (with `percent` when below 100).
//! - Removing: rules named like a managed route are deleted; nothing else is touched.

use serde::Deserialize;
use serde_json::{Value, json};

use super::{HeaderRoute, MirrorRoute, RoutingError, Services, StringMatch, Weights, config_err, object_err};

/// The plugin key Argo uses for the Gateway API router.
pub const PLUGIN: &str = "argoproj-labs/gatewayAPI";

const KIND: &str = "HTTPRoute";

/// The plugin configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GatewayConfig {
    /// One HTTPRoute.
    #[serde(default)]
    pub http_route: Option<String>,
    /// Several HTTPRoutes.
    #[serde(default)]
    pub http_routes: Vec<NamedRoute>,
    /// Their namespace (default: the Rollout's).
    #[serde(default)]
    pub namespace: Option<String>,
}

/// `httpRoutes[]` entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct NamedRoute {
    /// HTTPRoute name.
    pub name: String,
}

impl GatewayConfig {
    /// Reads the plugin configuration.
    pub fn parse(cfg: &Value) -> Result<Self, RoutingError> {
        super::parse_config("gatewayAPI", cfg)
    }
    /// Every HTTPRoute name, `httpRoute` first.
    pub fn route_names(&self) -> Vec<String> {
        self.http_route
            .iter()
            .cloned()
            .chain(self.http_routes.iter().map(|r| r.name.clone()))
            .collect()
    }
}

fn rule_name(rule: &Value) -> Option<&str> {
    rule.get("name").and_then(Value::as_str)
}

fn has_mirror_filter(rule: &Value) -> bool {
    rule.get("filters").and_then(Value::as_array).is_some_and(|f| {
        f.iter()
            .any(|x| x.get("type").and_then(Value::as_str) == Some("RequestMirror"))
    })
}

/// A header rule we manage: named like a managed route and not a mirror rule. Its canary
/// backend keeps all the traffic it matches, so weights do not apply to it.
fn is_header_rule(rule: &Value, managed: &[String]) -> bool {
    rule_name(rule).is_some_and(|n| managed.iter().any(|m| m == n)) && !has_mirror_filter(rule)
}

/// `rules` with the canary/stable backendRefs weighted (`weight` and `max - weight`); `None` if
/// no backendRef has either name. Rules named in `skip` (header rules) are left alone.
pub fn weighted_rules(
    rules: &Value,
    canary: &str,
    stable: &str,
    weight: i32,
    max: i32,
    skip: &[String],
) -> Option<Value> {
    let mut rules = rules.clone();
    let mut matched = false;
    for rule in rules.as_array_mut()? {
        if is_header_rule(rule, skip) {
            continue;
        }
        for backend in rule
            .get_mut("backendRefs")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let name = backend.get("name").and_then(Value::as_str).unwrap_or_default();
            if name == canary {
                backend["weight"] = json!(weight);
                matched = true;
            } else if name == stable {
                backend["weight"] = json!((max - weight).max(0));
                matched = true;
            }
        }
    }
    matched.then_some(rules)
}

fn rules_of(route: &Value) -> Value {
    route.pointer("/spec/rules").cloned().unwrap_or_else(|| json!([]))
}

fn rules_patch(old: &Value, new: Value) -> Option<Value> {
    (old != &new).then(|| json!({"spec": {"rules": new}}))
}

/// The merge patch that sets the weights on one HTTPRoute (`None`: already set). `managed` are
/// the Rollout's managed route names (their header rules keep routing to the canary only).
pub fn set_weight(
    route: &Value,
    services: &Services,
    weights: &Weights,
    managed: &[String],
) -> Result<Option<Value>, RoutingError> {
    let rules = rules_of(route);
    let new = weighted_rules(
        &rules,
        &services.canary,
        &services.stable,
        weights.canary_weight,
        weights.max_weight,
        managed,
    )
    .ok_or_else(|| {
        object_err(
            KIND,
            route,
            format!(
                "no backendRef named {:?} or {:?}",
                services.canary, services.stable
            ),
        )
    })?;
    Ok(rules_patch(&rules, new))
}

/// Whether one HTTPRoute carries the weights (`verify_weight`).
pub fn has_weight(route: &Value, services: &Services, weights: &Weights, managed: &[String]) -> bool {
    matches!(set_weight(route, services, weights, managed), Ok(None))
}

/// The first rule that sends traffic to the canary backendRef (not a managed rule).
fn weighted_rule<'a>(rules: &'a [Value], canary: &str, managed: &[String]) -> Option<&'a Value> {
    rules.iter().find(|r| {
        !rule_name(r).is_some_and(|n| managed.iter().any(|m| m == n)) && canary_backend(r, canary).is_some()
    })
}

fn header_match(name: &str, m: &StringMatch) -> Value {
    let (kind, value) = string_match(m);
    json!({"type": kind, "name": name, "value": value})
}

/// Gateway API has `Exact` and `RegularExpression` header/path values; a prefix becomes an
/// anchored expression.
fn string_match(m: &StringMatch) -> (&'static str, String) {
    if let Some(e) = &m.exact {
        ("Exact", e.clone())
    } else if let Some(r) = &m.regex {
        ("RegularExpression", r.clone())
    } else if let Some(p) = &m.prefix {
        ("RegularExpression", format!("^{}.*", regex::escape(p)))
    } else {
        ("Exact", String::new())
    }
}

/// Puts `rule` in place of the rule with its name, or appends it.
fn upsert_rule(rules: &mut Vec<Value>, name: &str, rule: Value) {
    match rules.iter().position(|r| rule_name(r) == Some(name)) {
        Some(i) => rules[i] = rule,
        None => rules.push(rule),
    }
}

/// The backendRef of `rule` that names the canary Service.
fn canary_backend<'a>(rule: &'a Value, canary: &str) -> Option<&'a Value> {
    rule.get("backendRefs")
        .and_then(Value::as_array)?
        .iter()
        .find(|x| x.get("name").and_then(Value::as_str) == Some(canary))
}

/// The merge patch that puts the managed rule `name` in place (built by `build` from the weighted
/// rule the canary is routed by) or, when `removes`, takes it out (`None`: already so).
fn upsert_managed_rule(
    route: &Value,
    services: &Services,
    managed: &[String],
    name: &str,
    removes: bool,
    build: impl FnOnce(&Value) -> Result<Value, RoutingError>,
) -> Result<Option<Value>, RoutingError> {
    let old = rules_of(route);
    let mut rules: Vec<Value> = old.as_array().cloned().unwrap_or_default();
    if removes {
        rules.retain(|r| rule_name(r) != Some(name));
    } else {
        let base = weighted_rule(&rules, &services.canary, managed).ok_or_else(|| {
            object_err(
                KIND,
                route,
                format!("no rule with a backendRef named {:?}", services.canary),
            )
        })?;
        let rule = build(base)?;
        upsert_rule(&mut rules, name, rule);
    }
    Ok(rules_patch(&old, Value::Array(rules)))
}

/// The merge patch for a `setHeaderRoute` step on one HTTPRoute (`None`: already so).
pub fn set_header_route(
    route: &Value,
    services: &Services,
    header: &HeaderRoute,
    managed: &[String],
) -> Result<Option<Value>, RoutingError> {
    upsert_managed_rule(route, services, managed, &header.name, header.removes(), |base| {
        let mut backend = canary_backend(base, &services.canary)
            .cloned()
            .unwrap_or_else(|| json!({"name": services.canary}));
        if let Some(o) = backend.as_object_mut() {
            o.remove("weight");
        }
        let headers: Vec<Value> = header
            .matches
            .iter()
            .flatten()
            .map(|m| header_match(&m.header_name, &m.header_value))
            .collect();
        let base_matches = base
            .get("matches")
            .and_then(Value::as_array)
            .filter(|m| !m.is_empty())
            .cloned()
            .unwrap_or_else(|| vec![json!({})]);
        let matches: Vec<Value> = base_matches
            .into_iter()
            .map(|mut m| {
                let mut all: Vec<Value> = m
                    .get("headers")
                    .and_then(Value::as_array)
                    .cloned()
                    .unwrap_or_default();
                all.extend(headers.iter().cloned());
                m["headers"] = Value::Array(all);
                m
            })
            .collect();
        Ok(json!({"name": header.name, "matches": matches, "backendRefs": [backend]}))
    })
}

/// The merge patch for a `setMirrorRoute` step on one HTTPRoute (`None`: already so).
pub fn set_mirror_route(
    route: &Value,
    services: &Services,
    mirror: &MirrorRoute,
    managed: &[String],
) -> Result<Option<Value>, RoutingError> {
    upsert_managed_rule(route, services, managed, &mirror.name, mirror.removes(), |base| {
        let backends = base.get("backendRefs").cloned().unwrap_or_else(|| json!([]));
        let port = canary_backend(base, &services.canary).and_then(|x| x.get("port").cloned());
        let mut matches = Vec::new();
        for m in mirror.matches.iter().flatten() {
            let mut out = serde_json::Map::new();
            if let Some(p) = &m.path {
                let (kind, value) = if let Some(prefix) = &p.prefix {
                    ("PathPrefix", prefix.clone())
                } else {
                    string_match(p)
                };
                out.insert("path".into(), json!({"type": kind, "value": value}));
            }
            if let Some(method) = &m.method {
                let Some(exact) = &method.exact else {
                    return Err(config_err(
                        "gatewayAPI",
                        format!(
                            "setMirrorRoute {:?}: Gateway API matches methods exactly only",
                            mirror.name
                        ),
                    ));
                };
                out.insert("method".into(), json!(exact));
            }
            if !m.headers.is_empty() {
                let h: Vec<Value> = m.headers.iter().map(|(k, v)| header_match(k, v)).collect();
                out.insert("headers".into(), Value::Array(h));
            }
            matches.push(Value::Object(out));
        }
        let mut target = json!({"name": services.canary});
        if let Some(p) = port {
            target["port"] = p;
        }
        let mut request_mirror = json!({"backendRef": target});
        if mirror.percent() < 100 {
            request_mirror["percent"] = json!(mirror.percent());
        }
        Ok(json!({
            "name": mirror.name,
            "matches": matches,
            "backendRefs": backends,
            "filters": [{"type": "RequestMirror", "requestMirror": request_mirror}],
        }))
    })
}

/// The merge patch removing the rules named in `names` (`None`: none present).
pub fn remove_managed_routes(route: &Value, names: &[String]) -> Option<Value> {
    let old = rules_of(route);
    let mut rules: Vec<Value> = old.as_array().cloned().unwrap_or_default();
    rules.retain(|r| !rule_name(r).is_some_and(|n| names.iter().any(|m| m == n)));
    rules_patch(&old, Value::Array(rules))
}
