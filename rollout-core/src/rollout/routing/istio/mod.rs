//! Istio: VirtualService weights, DestinationRule subsets and managed routes (upstream
//! `rollout/trafficrouting/istio`).
//!
//! ```yaml
//! trafficRouting:
//!   managedRoutes: [{name: header-route}, {name: mirror-route}]
//!   istio:
//!     virtualService:                 # or virtualServices: [...]
//!       name: my-vsvc                 # "name.namespace" for another namespace
//!       routes: [primary]             # HTTP routes; may be omitted with a single route
//!       tlsRoutes: [{port: 443, sniHosts: [a.example.com]}]
//!       tcpRoutes: [{port: 8080}]
//!     destinationRule:                # subset-level routing (optional)
//!       name: my-destrule
//!       canarySubsetName: canary
//!       stableSubsetName: stable
//! ```
//!
//! - Host-level: in each selected route, the destination whose host (up to the first `.`) is
//!   the canary Service gets the canary weight, the stable Service's the rest; subset-level:
//!   the same by subset name. Other destinations are dropped (upstream: leftover experiment
//!   destinations), except the `additionalSubsetNames`, whose weights are kept and taken from
//!   the stable's share. HTTP mirror routes named in `managedRoutes` get the weights too.
//! - DestinationRule: the canary and stable subsets get the `rollouts-pod-template-hash` label
//!   and the rule the `argo-rollouts.argoproj.io/managed-by-rollouts` annotation; other
//!   subsets are kept (upstream drops them).
//! - `setHeaderRoute` / `setMirrorRoute`: the named HTTP route is replaced (header routes are
//!   appended, mirror routes prepended) or removed when the step has no match; HTTP routes are
//!   then ordered with the managed routes first, in `managedRoutes` order.

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{HeaderRoute, MirrorRoute, RoutingError, Services, StringMatch, Weights, merge_diff, object_err};
use crate::rollout::hash::POD_TEMPLATE_HASH_LABEL;

mod managed;

pub use managed::{CanaryTarget, remove_managed_routes, set_header_route, set_mirror_route};

/// Annotation the DestinationRule gets, naming the Rollout.
pub const MANAGED_BY_ROLLOUTS: &str = "argo-rollouts.argoproj.io/managed-by-rollouts";
const VS: &str = "VirtualService";
/// Upstream's error when a VirtualService has no `spec.http`.
pub const SPEC_HTTP_NOT_FOUND: &str = "spec.http not found";

/// `trafficRouting.istio`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IstioConfig {
    /// One VirtualService.
    #[serde(default)]
    pub virtual_service: Option<VirtualServiceRef>,
    /// Several VirtualServices.
    #[serde(default)]
    pub virtual_services: Vec<VirtualServiceRef>,
    /// Subset-level routing.
    #[serde(default)]
    pub destination_rule: Option<DestinationRuleRef>,
}

/// `istio.virtualService(s)`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VirtualServiceRef {
    /// `name` or `name.namespace`.
    pub name: String,
    /// HTTP route names to weight.
    #[serde(default)]
    pub routes: Vec<String>,
    /// TLS routes to weight.
    #[serde(default)]
    pub tls_routes: Vec<TlsRoute>,
    /// TCP routes to weight.
    #[serde(default)]
    pub tcp_routes: Vec<TcpRoute>,
}

/// `tlsRoutes[]`: the TLS route matching exactly this port and these SNI hosts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TlsRoute {
    /// Port (0: no port match).
    #[serde(default)]
    pub port: i64,
    /// SNI hosts.
    #[serde(default)]
    pub sni_hosts: Vec<String>,
}

/// `tcpRoutes[]`: the TCP route matching exactly this port.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
pub struct TcpRoute {
    /// Port (0: no port match).
    #[serde(default)]
    pub port: i64,
}

/// `istio.destinationRule`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DestinationRuleRef {
    /// DestinationRule name (in the Rollout's namespace).
    pub name: String,
    /// Subset for canary pods.
    pub canary_subset_name: String,
    /// Subset for stable pods.
    pub stable_subset_name: String,
    /// Subsets whose weights are left as they are.
    #[serde(default)]
    pub additional_subset_names: Vec<String>,
}

impl IstioConfig {
    /// Reads `trafficRouting.istio`.
    pub fn parse(cfg: &Value) -> Result<Self, RoutingError> {
        super::parse_config("istio", cfg)
    }
    /// Every VirtualService (`virtualServices` if set, else `virtualService`).
    pub fn virtual_services(&self) -> Vec<VirtualServiceRef> {
        if self.virtual_services.is_empty() {
            self.virtual_service.iter().cloned().collect()
        } else {
            self.virtual_services.clone()
        }
    }
}

impl VirtualServiceRef {
    /// `(namespace, name)`: `name.namespace` (a trailing `.cluster.local` ignored) names another
    /// namespace; `None` means the Rollout's.
    pub fn namespace_name(&self) -> (Option<String>, String) {
        let s = self.name.strip_suffix(".cluster.local").unwrap_or(&self.name);
        match s.rsplit_once('.') {
            Some((name, ns)) => (Some(ns.to_string()), name.to_string()),
            None => (None, s.to_string()),
        }
    }
}

/// Upstream `getHost`: a destination host up to its first `.`.
fn short_host(dest: &Value) -> &str {
    let host = dest
        .pointer("/destination/host")
        .and_then(Value::as_str)
        .unwrap_or_default();
    match host.find('.') {
        Some(0) => "",
        Some(i) => &host[..i],
        None => host,
    }
}

fn subset(dest: &Value) -> &str {
    dest.pointer("/destination/subset")
        .and_then(Value::as_str)
        .unwrap_or_default()
}

fn weight(dest: &Value) -> i64 {
    dest.get("weight").and_then(Value::as_i64).unwrap_or(0)
}

fn route_name(r: &Value) -> &str {
    r.get("name").and_then(Value::as_str).unwrap_or_default()
}

fn destinations(route: &Value) -> &[Value] {
    route
        .get("route")
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

fn err(vs: &Value, message: impl Into<String>) -> RoutingError {
    object_err(VS, vs, message)
}

/// Upstream `getHttpRouteIndexesToPatch`.
fn http_indexes(vs: &Value, names: &[String], http: &[Value]) -> Result<Vec<usize>, RoutingError> {
    if names.is_empty() {
        if http.len() == 1 {
            return Ok(vec![0]);
        }
        return Ok(http
            .iter()
            .position(|r| route_name(r).is_empty())
            .into_iter()
            .collect());
    }
    names
        .iter()
        .map(|n| {
            http.iter().position(|r| route_name(r) == n).ok_or_else(|| {
                err(
                    vs,
                    format!("HTTP Route '{n}' is not found in the defined Virtual Service."),
                )
            })
        })
        .collect()
}

/// Ports and SNI hosts of a TLS/TCP route's match blocks.
fn l4_match(route: &Value) -> (Vec<i64>, Vec<String>) {
    let mut ports: Vec<i64> = Vec::new();
    let mut sni: Vec<String> = Vec::new();
    for m in route.get("match").and_then(Value::as_array).into_iter().flatten() {
        let p = m.get("port").and_then(Value::as_i64).unwrap_or(0);
        if !ports.contains(&p) {
            ports.push(p);
        }
        for h in m.get("sniHosts").and_then(Value::as_array).into_iter().flatten() {
            if let Some(h) = h.as_str()
                && !sni.iter().any(|x| x == h)
            {
                sni.push(h.to_string());
            }
        }
    }
    (ports, sni)
}

/// Upstream `getTlsRouteIndexesToPatch` / `getTcpRouteIndexesToPatch`: a route matches when it
/// has exactly one port (or none, which counts as 0) equal to the wanted one and, for TLS,
/// exactly the wanted SNI hosts.
fn l4_indexes(
    vs: &Value,
    kind: &str,
    wanted: &[(i64, Option<&[String]>)],
    routes: &[Value],
) -> Result<Vec<usize>, RoutingError> {
    if wanted.is_empty() {
        return Ok(vec![0]);
    }
    let mut out = Vec::new();
    for (port, sni) in wanted {
        let found: Vec<usize> = routes
            .iter()
            .enumerate()
            .filter(|(_, r)| {
                let (ports, hosts) = l4_match(r);
                if ports.len() > 1 || ports.first().copied().unwrap_or(0) != *port {
                    return false;
                }
                sni.is_none_or(|want| {
                    let mut a = want.to_vec();
                    let mut b = hosts.clone();
                    a.sort();
                    b.sort();
                    a == b
                })
            })
            .map(|(i, _)| i)
            .collect();
        if found.is_empty() {
            return Err(err(
                vs,
                format!("No matching {kind} routes found in the defined Virtual Service."),
            ));
        }
        out.extend(found);
    }
    Ok(out)
}

/// Upstream `validateVirtualServiceRouteDestinations`.
fn validate_destinations(
    vs: &Value,
    route: &Value,
    services: &Services,
    dr: Option<&DestinationRuleRef>,
) -> Result<(), RoutingError> {
    let dests = destinations(route);
    match dr {
        Some(dr) => {
            if !dests
                .iter()
                .any(|d| !dr.canary_subset_name.is_empty() && subset(d) == dr.canary_subset_name)
            {
                return Err(err(
                    vs,
                    format!(
                        "Canary DestinationRule subset '{}' not found in route",
                        dr.canary_subset_name
                    ),
                ));
            }
            if !dests
                .iter()
                .any(|d| !dr.stable_subset_name.is_empty() && subset(d) == dr.stable_subset_name)
            {
                return Err(err(
                    vs,
                    format!(
                        "Stable DestinationRule subset '{}' not found in route",
                        dr.stable_subset_name
                    ),
                ));
            }
        }
        None => {
            if !dests
                .iter()
                .any(|d| !services.canary.is_empty() && short_host(d) == services.canary)
            {
                return Err(err(
                    vs,
                    format!("Canary Service '{}' not found in route", services.canary),
                ));
            }
            if !dests
                .iter()
                .any(|d| !services.stable.is_empty() && short_host(d) == services.stable)
            {
                return Err(err(
                    vs,
                    format!("Stable Service '{}' not found in route", services.stable),
                ));
            }
        }
    }
    Ok(())
}

/// Upstream `processRoutes` applied: the route's destinations with new weights.
fn weigh(route: &mut Value, services: &Services, weights: &Weights, dr: Option<&DestinationRuleRef>) -> bool {
    let (canary_subset, stable_subset, extra) = match dr {
        Some(d) => (
            d.canary_subset_name.as_str(),
            d.stable_subset_name.as_str(),
            d.additional_subset_names.as_slice(),
        ),
        None => ("", "", &[][..]),
    };
    let is_extra = |s: &str| !s.is_empty() && extra.iter().any(|x| x == s);
    let desired = i64::from(weights.canary_weight);
    let mut stable = i64::from(weights.max_weight) - desired;
    stable -= destinations(route)
        .iter()
        .filter(|d| is_extra(subset(d)))
        .map(weight)
        .sum::<i64>();
    let stable = stable.max(0);
    let Some(list) = route.get_mut("route").and_then(Value::as_array_mut) else {
        return false;
    };
    let mut changed = false;
    let mut keep = Vec::with_capacity(list.len());
    for d in list.drain(..) {
        let host = short_host(&d).to_string();
        let sub = subset(&d).to_string();
        if host.is_empty() {
            keep.push(d);
            continue;
        }
        let target = if host == services.canary || (!sub.is_empty() && sub == canary_subset) {
            Some(desired)
        } else if host == services.stable || (!sub.is_empty() && sub == stable_subset) {
            Some(stable)
        } else if is_extra(&sub) {
            Some(weight(&d))
        } else {
            None
        };
        match target {
            Some(w) if w == weight(&d) => keep.push(d),
            Some(w) => {
                let mut d = d;
                d["weight"] = json!(w);
                changed = true;
                keep.push(d);
            }
            // Neither canary, stable nor an additional subset: upstream deletes it, but only
            // when that is a change (a 0-weight leftover is deleted too).
            None => changed = true,
        }
    }
    *list = keep;
    changed
}

/// HTTP routes ordered with the managed ones first, in `managed` order (upstream `orderRoutes`).
fn order_routes(http: Vec<Value>, managed: &[String]) -> Vec<Value> {
    if managed.is_empty() {
        return http;
    }
    let (mut mine, rest): (Vec<Value>, Vec<Value>) = http
        .into_iter()
        .partition(|r| managed.iter().any(|m| m == route_name(r)));
    mine.sort_by_key(|r| managed.iter().position(|m| m == route_name(r)));
    mine.extend(rest);
    mine
}

fn array_at<'a>(vs: &'a Value, key: &str) -> Option<&'a Vec<Value>> {
    vs.get("spec").and_then(|s| s.get(key)).and_then(Value::as_array)
}

/// The merge patch that sets the weights on one VirtualService (`None`: already set).
pub fn set_weight(
    vs: &Value,
    vsvc: &VirtualServiceRef,
    dr: Option<&DestinationRuleRef>,
    services: &Services,
    weights: &Weights,
    managed: &[String],
) -> Result<Option<Value>, RoutingError> {
    let mut spec = Map::new();
    if let Some(http) = array_at(vs, "http") {
        let idx = http_indexes(vs, &vsvc.routes, http)?;
        for &i in &idx {
            validate_destinations(vs, &http[i], services, dr)?;
        }
        let unmanaged = http
            .iter()
            .filter(|r| !managed.iter().any(|m| m == route_name(r)))
            .count();
        if vsvc.routes.is_empty() && unmanaged > 1 {
            return Err(err(
                vs,
                "spec.http[] should be set in VirtualService and it must have exactly one route when omitting spec.strategy.canary.trafficRouting.istio.virtualService.routes",
            ));
        }
        let mut names = vsvc.routes.clone();
        for r in http {
            if r.get("mirror").is_some() && managed.iter().any(|m| m == route_name(r)) {
                names.push(route_name(r).to_string());
            }
        }
        let mut new = http.clone();
        let mut changed = false;
        for i in http_indexes(vs, &names, http)? {
            changed |= weigh(&mut new[i], services, weights, dr);
        }
        if changed {
            spec.insert("http".into(), Value::Array(order_routes(new, managed)));
        }
    }
    for (key, kind) in [("tls", "TLS"), ("tcp", "TCP")] {
        let Some(routes) = array_at(vs, key) else { continue };
        let wanted: Vec<(i64, Option<&[String]>)> = if key == "tls" {
            vsvc.tls_routes
                .iter()
                .map(|t| (t.port, Some(t.sni_hosts.as_slice())))
                .collect()
        } else {
            vsvc.tcp_routes.iter().map(|t| (t.port, None)).collect()
        };
        let idx = l4_indexes(vs, kind, &wanted, routes)?;
        for &i in &idx {
            let r = routes
                .get(i)
                .ok_or_else(|| err(vs, format!("spec.{key}[{i}] not found")))?;
            validate_destinations(vs, r, services, dr)?;
        }
        if wanted.is_empty() && routes.len() > 1 {
            return Err(err(
                vs,
                format!(
                    "spec.{key}[] should be set in VirtualService and it must have exactly one route when omitting spec.strategy.canary.trafficRouting.istio.virtualService.{key}Routes"
                ),
            ));
        }
        let mut new = routes.clone();
        let mut changed = false;
        for i in idx {
            changed |= weigh(&mut new[i], services, weights, dr);
        }
        if changed {
            spec.insert(key.into(), Value::Array(new));
        }
    }
    Ok((!spec.is_empty()).then(|| json!({"spec": spec})))
}

/// The merge patch pointing the DestinationRule's canary and stable subsets at the hashes (an
/// empty hash removes the label) and marking the rule as managed by `rollout`.
pub fn update_hash(
    dr_obj: &Value,
    dr: &DestinationRuleRef,
    rollout: &str,
    canary_hash: &str,
    stable_hash: &str,
) -> Option<Value> {
    let old_ann = dr_obj
        .pointer("/metadata/annotations")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut ann = old_ann.clone();
    ann[MANAGED_BY_ROLLOUTS] = json!(rollout);
    let old_subsets = dr_obj
        .pointer("/spec/subsets")
        .cloned()
        .unwrap_or_else(|| json!([]));
    let mut subsets = old_subsets.clone();
    for s in subsets.as_array_mut().into_iter().flatten() {
        let name = s.get("name").and_then(Value::as_str).unwrap_or_default();
        let hash = if name == dr.canary_subset_name {
            canary_hash
        } else if name == dr.stable_subset_name {
            stable_hash
        } else {
            continue;
        };
        if hash.is_empty() {
            if let Some(l) = s.get_mut("labels").and_then(Value::as_object_mut) {
                l.remove(POD_TEMPLATE_HASH_LABEL);
            }
        } else {
            if !s.get("labels").is_some_and(Value::is_object) {
                s["labels"] = json!({});
            }
            s["labels"][POD_TEMPLATE_HASH_LABEL] = json!(hash);
        }
    }
    let mut patch = Map::new();
    if let Some(a) = merge_diff(&old_ann, &ann) {
        patch.insert("metadata".into(), json!({"annotations": a}));
    }
    if subsets != old_subsets {
        patch.insert("spec".into(), json!({"subsets": subsets}));
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}
