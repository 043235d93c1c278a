//! Traffic routers are never a silent no-op: what this controller cannot route is an InvalidSpec
//! with the field path, in `validate` and in the machine (issue #15).

use rollout_core::rollout::{Inputs, Observed, Rollout, machine::reconcile, validate};
use serde_json::{Value, json};

fn rollout(traffic_routing: Value, steps: Value) -> Rollout {
    serde_json::from_value(json!({
        "metadata": {"name": "demo", "namespace": "ns", "generation": 1},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "demo"}},
                 "template": {"metadata": {"labels": {"app": "demo"}}, "spec": {"containers": [{"name": "c", "image": "demo:1"}]}},
                 "strategy": {"canary": {"canaryService": "canary", "stableService": "stable",
                                         "trafficRouting": traffic_routing, "steps": steps}}}
    }))
    .unwrap()
}

fn errors(tr: Value, steps: Value) -> Vec<String> {
    validate(&rollout(tr, steps), None)
        .iter()
        .map(ToString::to_string)
        .collect()
}

const UNSUPPORTED: &str =
    "traffic router is not implemented by this controller: traffic would never move to the canary";

#[test]
fn unsupported_routers_are_invalid_with_their_path() {
    for (tr, path, value) in [
        (
            json!({"ambassador": {"mappings": ["m"]}}),
            "spec.strategy.canary.trafficRouting.ambassador",
            "ambassador",
        ),
        (
            json!({"appMesh": {"virtualService": {"name": "v"}}}),
            "spec.strategy.canary.trafficRouting.appMesh",
            "appMesh",
        ),
        (
            json!({"apisix": {"route": {"name": "r"}}}),
            "spec.strategy.canary.trafficRouting.apisix",
            "apisix",
        ),
        (
            json!({"plugins": {"acme/router": {}}}),
            "spec.strategy.canary.trafficRouting.plugins[acme/router]",
            "acme/router",
        ),
    ] {
        assert_eq!(
            errors(tr, json!([{"setWeight": 10}])),
            [format!("{path}: Unsupported value: \"{value}\": {UNSUPPORTED}")]
        );
    }
}

#[test]
fn a_traffic_routing_without_a_router_is_invalid() {
    assert_eq!(
        errors(
            json!({"managedRoutes": [{"name": "a"}]}),
            json!([{"setWeight": 10}])
        ),
        [
            "spec.strategy.canary.trafficRouting: Required value: trafficRouting must configure a traffic router (istio, nginx, alb, smi, traefik or the argoproj-labs/gatewayAPI plugin)"
        ]
    );
}

#[test]
fn ping_pong_is_invalid() {
    let mut ro = rollout(
        json!({"alb": {"ingress": "i", "servicePort": 80}}),
        json!([{"setWeight": 10}]),
    );
    let c = ro.spec.strategy.canary.as_mut().unwrap();
    c.ping_pong = Some(json!({"pingService": "ping", "pongService": "pong"}));
    let errs: Vec<String> = validate(&ro, None).iter().map(ToString::to_string).collect();
    assert_eq!(
        errs,
        [
            "spec.strategy.canary.pingPong: Unsupported value: \"pingPong\": pingPong services are not implemented by this controller"
        ]
    );
}

#[test]
fn supported_routers_validate_cleanly() {
    for tr in [
        json!({"istio": {"virtualService": {"name": "vs", "routes": ["primary"]}}}),
        json!({"istio": {"virtualServices": [{"name": "a"}, {"name": "b.other"}],
                         "destinationRule": {"name": "dr", "canarySubsetName": "c", "stableSubsetName": "s"}}}),
        json!({"nginx": {"stableIngress": "web"}}),
        json!({"nginx": {"stableIngresses": ["a", "b"], "additionalIngressAnnotations": {"canary-by-header": "X"}}}),
        json!({"alb": {"ingress": "web", "servicePort": 80}}),
        json!({"smi": {}}),
        json!({"smi": {"rootService": "root", "trafficSplitName": "split"}}),
        json!({"traefik": {"weightedTraefikServiceName": "ts"}}),
        json!({"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "r"}}}),
        json!({"istio": {"virtualService": {"name": "vs"}}, "alb": {"ingress": "web", "servicePort": 80}}),
    ] {
        assert_eq!(
            errors(tr.clone(), json!([{"setWeight": 10}])),
            Vec::<String>::new(),
            "{tr}"
        );
    }
}

#[test]
fn router_configurations_missing_what_they_need() {
    let cases = [
        (
            json!({"istio": {}}),
            vec![
                "spec.strategy.canary.trafficRouting.istio.virtualService: Required value: istio needs virtualService.name or virtualServices[].name",
            ],
        ),
        (
            json!({"nginx": {}}),
            vec![
                "spec.strategy.canary.trafficRouting.nginx.stableIngress: Required value: nginx needs stableIngress or stableIngresses",
            ],
        ),
        (
            json!({"alb": {}}),
            vec![
                "spec.strategy.canary.trafficRouting.alb.ingress: Required value: alb needs ingress or ingresses",
                "spec.strategy.canary.trafficRouting.alb.servicePort: Required value: alb needs servicePort",
            ],
        ),
        (
            json!({"traefik": {"weightedTraefikServiceName": ""}}),
            vec![
                "spec.strategy.canary.trafficRouting.traefik.weightedTraefikServiceName: Required value: traefik needs weightedTraefikServiceName",
            ],
        ),
        (
            json!({"plugins": {"argoproj-labs/gatewayAPI": {"namespace": "x"}}}),
            vec![
                "spec.strategy.canary.trafficRouting.plugins[argoproj-labs/gatewayAPI].httpRoute: Required value: the Gateway API plugin needs httpRoute or httpRoutes",
            ],
        ),
    ];
    for (tr, want) in cases {
        assert_eq!(errors(tr, json!([{"setWeight": 10}])), want);
    }
    let bad_type = errors(
        json!({"alb": {"ingress": "i", "servicePort": "eighty"}}),
        json!([]),
    );
    assert_eq!(bad_type.len(), 1);
    assert!(
        bad_type[0].starts_with(
            "spec.strategy.canary.trafficRouting.alb: Required value: invalid alb configuration"
        ),
        "{bad_type:?}"
    );
}

#[test]
fn header_and_mirror_steps_are_checked_against_the_routers() {
    let gw = json!({"managedRoutes": [{"name": "m"}], "plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "r"}}});
    // Mirror routes: Istio and the Gateway API router carry them.
    assert_eq!(
        errors(
            gw.clone(),
            json!([{"setMirrorRoute": {"name": "m", "match": [{"method": {"exact": "GET"}}]}}])
        ),
        Vec::<String>::new()
    );
    assert_eq!(
        errors(
            gw,
            json!([{"setMirrorRoute": {"name": "m", "percentage": 150, "match": [{"method": {"regex": "G.*"}}]}}])
        ),
        [
            "spec.strategy.steps[0].setMirrorRoute.percentage: Invalid value: 150: must be between 0 and 100",
            "spec.strategy.steps[0].setMirrorRoute.match[0].method: Invalid value: \"method\": the Gateway API router matches methods exactly only",
        ]
    );
    let nginx = json!({"managedRoutes": [{"name": "m"}], "nginx": {"stableIngress": "web"}});
    assert_eq!(
        errors(nginx, json!([{"setMirrorRoute": {"name": "m"}}])),
        [
            "spec.strategy.steps[0].setMirrorRoute: Invalid value: \"setMirrorRoute\": SetMirrorRoute requires TrafficRouting, supports Istio only"
        ]
    );
    let alb = json!({"managedRoutes": [{"name": "h"}], "alb": {"ingress": "web", "servicePort": 80}});
    assert_eq!(
        errors(
            alb,
            json!([{"setHeaderRoute": {"name": "h", "match": [
                {"headerName": "a", "headerValue": {"regex": "x.*"}},
                {"headerName": "b", "headerValue": {}},
                {"headerName": "c", "headerValue": {"prefix": "y"}}]}}])
        ),
        [
            "spec.strategy.steps[0].setHeaderRoute.match[0].headerValue: Invalid value: \"a\": the ALB router matches header values exactly or by prefix, not by regex",
            "spec.strategy.steps[0].setHeaderRoute.match[1].headerValue: Invalid value: \"b\": exactly one of exact, prefix or regex must be set",
        ]
    );
    let istio = json!({"managedRoutes": [{"name": "h"}], "istio": {"virtualService": {"name": "vs"}}});
    let bad = errors(
        istio,
        json!([{"setHeaderRoute": {"name": "h", "match": "not-a-list"}}]),
    );
    assert_eq!(bad.len(), 1);
    assert!(
        bad[0].starts_with(
            "spec.strategy.steps[0].setHeaderRoute: Invalid value: \"setHeaderRoute\": invalid type"
        ),
        "{bad:?}"
    );
}

#[test]
fn the_machine_reports_an_unsupported_router_and_does_nothing() {
    let ro = rollout(
        json!({"ambassador": {"mappings": ["m"]}}),
        json!([{"setWeight": 10}]),
    );
    let d = reconcile(
        &ro,
        &Observed::default(),
        "2024-01-01T00:00:00Z".parse().unwrap(),
        &Inputs::default(),
    );
    assert!(d.actions.is_empty(), "{:?}", d.actions);
    assert_eq!(
        d.status.message,
        format!(
            "InvalidSpec: spec.strategy.canary.trafficRouting.ambassador: Unsupported value: \"ambassador\": {UNSUPPORTED}"
        )
    );
}
