//! Traffic routers: a configuration this controller cannot carry out is an `InvalidSpec`, never a
//! silent no-op (issue #15). Unsupported routers (Ambassador, App Mesh, Apisix, plugins other than
//! the Gateway API one, ping-pong Services), a `trafficRouting` that names no router, router
//! configurations missing what the router needs, and header/mirror steps that the configured
//! routers cannot express are reported with their field path.

use serde_json::Value;

use super::{FieldError, FieldErrorKind, invalid, quoted, required};
use crate::rollout::routing::{HeaderRoute, MirrorRoute, alb, gateway, istio, nginx, smi, traefik};
use crate::rollout::spec::{CanaryStrategy, TrafficRouting};

/// Our message for routers this controller does not implement.
pub const UNSUPPORTED_ROUTER: &str =
    "traffic router is not implemented by this controller: traffic would never move to the canary";
/// Our message for a `trafficRouting` without any router.
pub const NO_ROUTER: &str = "trafficRouting must configure a traffic router (istio, nginx, alb, smi, traefik or the argoproj-labs/gatewayAPI plugin)";
/// Our message for ping-pong Services.
pub const UNSUPPORTED_PING_PONG: &str = "pingPong services are not implemented by this controller";

const BASE: &str = "spec.strategy.canary.trafficRouting";

fn unsupported(path: String, value: &str, message: &str) -> FieldError {
    FieldError {
        path,
        kind: FieldErrorKind::Unsupported(quoted(value)),
        message: message.to_string(),
    }
}

/// Every traffic-routing problem of a canary strategy (`tr` is its `trafficRouting`).
pub(super) fn problems(c: &CanaryStrategy, tr: &TrafficRouting) -> Vec<FieldError> {
    let mut errs = Vec::new();
    for (field, present) in [
        ("ambassador", tr.ambassador.is_some()),
        ("appMesh", tr.app_mesh.is_some()),
        ("apisix", tr.apisix.is_some()),
    ] {
        if present {
            errs.push(unsupported(format!("{BASE}.{field}"), field, UNSUPPORTED_ROUTER));
        }
    }
    let mut gateway_cfg = None;
    for (name, cfg) in tr.plugins.iter().flatten() {
        if name == gateway::PLUGIN {
            gateway_cfg = Some(cfg);
        } else {
            errs.push(unsupported(
                format!("{BASE}.plugins[{name}]"),
                name,
                UNSUPPORTED_ROUTER,
            ));
        }
    }
    if c.ping_pong.is_some() {
        errs.push(unsupported(
            "spec.strategy.canary.pingPong".into(),
            "pingPong",
            UNSUPPORTED_PING_PONG,
        ));
    }
    let implemented = tr.istio.is_some()
        || tr.nginx.is_some()
        || tr.alb.is_some()
        || tr.smi.is_some()
        || tr.traefik.is_some()
        || gateway_cfg.is_some();
    let any = implemented
        || tr.ambassador.is_some()
        || tr.app_mesh.is_some()
        || tr.apisix.is_some()
        || tr.plugins.as_ref().is_some_and(|p| !p.is_empty());
    if !any {
        errs.push(required(BASE, NO_ROUTER));
    }
    config_problems(tr, gateway_cfg, &mut errs);
    errs
}

fn config_problems(tr: &TrafficRouting, gateway_cfg: Option<&Value>, errs: &mut Vec<FieldError>) {
    let mut need = |field: &str, ok: bool, what: &str| {
        if !ok {
            errs.push(required(format!("{BASE}.{field}"), what.to_string()));
        }
    };
    if let Some(v) = &tr.istio {
        match istio::IstioConfig::parse(v) {
            Ok(c) => {
                let vss = c.virtual_services();
                need(
                    "istio.virtualService",
                    !vss.is_empty() && vss.iter().all(|vs| !vs.name.is_empty()),
                    "istio needs virtualService.name or virtualServices[].name",
                );
            }
            Err(e) => need("istio", false, &e.to_string()),
        }
    }
    if let Some(v) = &tr.nginx {
        match nginx::NginxConfig::parse(v) {
            Ok(c) => need(
                "nginx.stableIngress",
                c.stable_ingresses().iter().all(|s| !s.is_empty()),
                "nginx needs stableIngress or stableIngresses",
            ),
            Err(e) => need("nginx", false, &e.to_string()),
        }
    }
    if let Some(v) = &tr.alb {
        match alb::AlbConfig::parse(v) {
            Ok(c) => {
                need(
                    "alb.ingress",
                    c.ingress_names().iter().all(|s| !s.is_empty()),
                    "alb needs ingress or ingresses",
                );
                need("alb.servicePort", c.service_port > 0, "alb needs servicePort");
            }
            Err(e) => need("alb", false, &e.to_string()),
        }
    }
    if let Some(v) = &tr.smi
        && let Err(e) = smi::SmiConfig::parse(v)
    {
        need("smi", false, &e.to_string());
    }
    if let Some(v) = &tr.traefik {
        match traefik::TraefikConfig::parse(v) {
            Ok(c) => need(
                "traefik.weightedTraefikServiceName",
                !c.weighted_traefik_service_name.is_empty(),
                "traefik needs weightedTraefikServiceName",
            ),
            Err(e) => need("traefik", false, &e.to_string()),
        }
    }
    if let Some(v) = gateway_cfg {
        let field = format!("plugins[{}]", gateway::PLUGIN);
        match gateway::GatewayConfig::parse(v) {
            Ok(c) => need(
                &format!("{field}.httpRoute"),
                !c.route_names().is_empty() && c.route_names().iter().all(|s| !s.is_empty()),
                "the Gateway API plugin needs httpRoute or httpRoutes",
            ),
            Err(e) => need(&field, false, &e.to_string()),
        }
    }
}

/// Whether the Gateway API plugin is configured.
pub(super) fn has_gateway(tr: &TrafficRouting) -> bool {
    tr.plugins
        .as_ref()
        .is_some_and(|p| p.contains_key(gateway::PLUGIN))
}

/// Problems of one `setHeaderRoute` / `setMirrorRoute` step body (`sp` is the step's path):
/// a body that does not parse, and header values the configured routers cannot match.
pub(super) fn step_route_problems(
    tr: &TrafficRouting,
    sp: &str,
    header: Option<&Value>,
    mirror: Option<&Value>,
) -> Vec<FieldError> {
    let mut errs = Vec::new();
    if let Some(h) = header {
        match serde_json::from_value::<HeaderRoute>(h.clone()) {
            Err(e) => errs.push(invalid(
                format!("{sp}.setHeaderRoute"),
                quoted("setHeaderRoute"),
                e.to_string(),
            )),
            Ok(h) => {
                for (j, m) in h.matches.iter().flatten().enumerate() {
                    let v = &m.header_value;
                    let set = [&v.exact, &v.prefix, &v.regex]
                        .iter()
                        .filter(|x| x.is_some())
                        .count();
                    let path = format!("{sp}.setHeaderRoute.match[{j}].headerValue");
                    if set != 1 {
                        errs.push(invalid(
                            path,
                            quoted(&m.header_name),
                            "exactly one of exact, prefix or regex must be set",
                        ));
                    } else if tr.alb.is_some() && v.regex.is_some() {
                        errs.push(invalid(
                            path,
                            quoted(&m.header_name),
                            "the ALB router matches header values exactly or by prefix, not by regex",
                        ));
                    }
                }
            }
        }
    }
    if let Some(m) = mirror {
        match serde_json::from_value::<MirrorRoute>(m.clone()) {
            Err(e) => errs.push(invalid(
                format!("{sp}.setMirrorRoute"),
                quoted("setMirrorRoute"),
                e.to_string(),
            )),
            Ok(m) => {
                if let Some(p) = m.percentage
                    && !(0..=100).contains(&p)
                {
                    errs.push(invalid(
                        format!("{sp}.setMirrorRoute.percentage"),
                        p.to_string(),
                        "must be between 0 and 100",
                    ));
                }
                if has_gateway(tr) {
                    for (j, rm) in m.matches.iter().flatten().enumerate() {
                        if rm.method.as_ref().is_some_and(|x| x.exact.is_none()) {
                            errs.push(invalid(
                                format!("{sp}.setMirrorRoute.match[{j}].method"),
                                quoted("method"),
                                "the Gateway API router matches methods exactly only",
                            ));
                        }
                    }
                }
            }
        }
    }
    errs
}
