//! Istio managed routes: `setHeaderRoute` and `setMirrorRoute` HTTP routes on the
//! VirtualService, and their removal.

use super::*;

/// Where header and mirror routes send traffic: the DestinationRule's `spec.host` (subset-level)
/// or the canary Service, and the canary subset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CanaryTarget {
    /// Destination host.
    pub host: String,
    /// Destination subset.
    pub subset: Option<String>,
}

impl CanaryTarget {
    /// The target for a Rollout with this DestinationRule (its object, if subset-level).
    pub fn new(services: &Services, dr: Option<(&DestinationRuleRef, &Value)>) -> Self {
        match dr {
            Some((r, obj)) => CanaryTarget {
                host: obj
                    .pointer("/spec/host")
                    .and_then(Value::as_str)
                    .filter(|h| !h.is_empty())
                    .unwrap_or(&services.canary)
                    .to_string(),
                subset: Some(r.canary_subset_name.clone()).filter(|s| !s.is_empty()),
            },
            None => CanaryTarget {
                host: services.canary.clone(),
                subset: None,
            },
        }
    }
    fn destination(&self, port: Option<Value>) -> Value {
        let mut d = json!({"host": self.host});
        if let Some(p) = port {
            d["port"] = json!({"number": p});
        }
        if let Some(s) = &self.subset {
            d["subset"] = json!(s);
        }
        d
    }
}

fn http_of(vs: &Value) -> Result<Vec<Value>, RoutingError> {
    array_at(vs, "http")
        .cloned()
        .ok_or_else(|| err(vs, SPEC_HTTP_NOT_FOUND))
}

/// The HTTP route weighted by `setWeight` (upstream `getVirtualServiceSetWeightRoute`).
fn weighted_destinations(
    vs: &Value,
    vsvc: &VirtualServiceRef,
    http: &[Value],
) -> Result<Vec<Value>, RoutingError> {
    let idx = http_indexes(vs, &vsvc.routes, http)?;
    Ok(idx
        .first()
        .map(|&i| destinations(&http[i]).to_vec())
        .unwrap_or_default())
}

fn first_port(dests: &[Value]) -> Option<Value> {
    dests
        .first()
        .and_then(|d| d.pointer("/destination/port/number"))
        .filter(|n| n.as_u64().is_some_and(|n| n > 0))
        .cloned()
}

fn string_match(m: &StringMatch) -> Value {
    serde_json::to_value(m).unwrap_or_else(|_| json!({}))
}

fn http_patch(old: &[Value], new: Vec<Value>) -> Option<Value> {
    (old != new.as_slice()).then(|| json!({"spec": {"http": new}}))
}

/// The merge patch for a `setHeaderRoute` step on one VirtualService (`None`: already so).
pub fn set_header_route(
    vs: &Value,
    vsvc: &VirtualServiceRef,
    target: &CanaryTarget,
    header: &HeaderRoute,
    managed: &[String],
) -> Result<Option<Value>, RoutingError> {
    let old = http_of(vs)?;
    let mut http: Vec<Value> = old
        .iter()
        .filter(|r| route_name(r) != header.name)
        .cloned()
        .collect();
    if !header.removes() {
        let port = weighted_destinations(vs, vsvc, &old)
            .ok()
            .and_then(|d| first_port(&d));
        let matches: Vec<Value> = header
            .matches
            .iter()
            .flatten()
            .map(|m| json!({"headers": {m.header_name.clone(): string_match(&m.header_value)}}))
            .collect();
        http.push(json!({
            "name": header.name,
            "match": matches,
            "route": [{"destination": target.destination(port), "weight": 100}],
        }));
    }
    Ok(http_patch(&old, order_routes(http, managed)))
}

/// A destination as upstream's typed marshal writes it (empty fields omitted).
fn typed_destination(d: &Value) -> Value {
    let mut dest = Map::new();
    for key in ["host", "subset"] {
        if let Some(v) = d
            .pointer(&format!("/destination/{key}"))
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
        {
            dest.insert(key.into(), json!(v));
        }
    }
    if let Some(n) = d
        .pointer("/destination/port/number")
        .filter(|n| n.as_u64().is_some_and(|n| n > 0))
    {
        dest.insert("port".into(), json!({"number": n}));
    }
    let mut out = Map::new();
    out.insert("destination".into(), Value::Object(dest));
    if weight(d) != 0 {
        out.insert("weight".into(), json!(weight(d)));
    }
    Value::Object(out)
}

/// The merge patch for a `setMirrorRoute` step on one VirtualService (`None`: already so).
pub fn set_mirror_route(
    vs: &Value,
    vsvc: &VirtualServiceRef,
    target: &CanaryTarget,
    mirror: &MirrorRoute,
    managed: &[String],
) -> Result<Option<Value>, RoutingError> {
    let old = http_of(vs)?;
    let mut http: Vec<Value> = old
        .iter()
        .filter(|r| route_name(r) != mirror.name)
        .cloned()
        .collect();
    if !mirror.removes() {
        let dests = weighted_destinations(vs, vsvc, &http)?;
        if dests.is_empty() {
            return Err(err(
                vs,
                "no HTTP route to take the mirror route's destinations from",
            ));
        }
        let matches: Vec<Value> = mirror
            .matches
            .iter()
            .flatten()
            .map(|m| {
                let mut o = Map::new();
                if let Some(x) = &m.method {
                    o.insert("method".into(), string_match(x));
                }
                if let Some(x) = &m.path {
                    o.insert("uri".into(), string_match(x));
                }
                if !m.headers.is_empty() {
                    let h: Map<String, Value> = m
                        .headers
                        .iter()
                        .map(|(k, v)| (k.clone(), string_match(v)))
                        .collect();
                    o.insert("headers".into(), Value::Object(h));
                }
                Value::Object(o)
            })
            .collect();
        let mut route = json!({
            "name": mirror.name,
            "match": matches,
            "route": dests.iter().map(typed_destination).collect::<Vec<_>>(),
            "mirror": target.destination(first_port(&dests)),
        });
        if mirror.percent() != 0 {
            route["mirrorPercentage"] = json!({"value": mirror.percent()});
        }
        http.insert(0, route);
    }
    Ok(http_patch(&old, order_routes(http, managed)))
}

/// The merge patch removing the HTTP routes named in `names` (`None`: none there, or the
/// VirtualService has no HTTP routes).
pub fn remove_managed_routes(vs: &Value, names: &[String]) -> Option<Value> {
    let old = array_at(vs, "http")?;
    let http: Vec<Value> = old
        .iter()
        .filter(|r| !names.iter().any(|n| n == route_name(r)))
        .cloned()
        .collect();
    http_patch(old, http)
}
