//! Gateway API router table tests (weights as before, plus header and mirror rules).

use rollout_core::rollout::routing::gateway::{self, GatewayConfig, weighted_rules};
use rollout_core::rollout::routing::{
    HeaderRoute, HeaderRoutingMatch, MirrorRoute, RouteMatch, RoutingError, Services, StringMatch, Weights,
    apply_merge_patch,
};
use serde_json::{Value, json};

fn svcs() -> Services {
    Services {
        canary: "canary".into(),
        stable: "stable".into(),
    }
}

fn route() -> Value {
    json!({
        "apiVersion": "gateway.networking.k8s.io/v1",
        "kind": "HTTPRoute",
        "metadata": {"name": "r"},
        "spec": {"parentRefs": [{"name": "gw"}], "rules": [{
            "matches": [{"path": {"type": "PathPrefix", "value": "/api"}}],
            "backendRefs": [
                {"name": "stable", "port": 80, "weight": 100},
                {"name": "canary", "port": 80, "weight": 0},
                {"name": "other", "port": 80, "weight": 5}]}]}
    })
}

fn apply(obj: &Value, patch: Option<Value>) -> Value {
    let mut o = obj.clone();
    apply_merge_patch(&mut o, &patch.expect("a change"));
    o
}

#[test]
fn weights_only_the_named_backends() {
    let rules = route()["spec"]["rules"].clone();
    let got = weighted_rules(&rules, "canary", "stable", 30, 100, &[]).unwrap();
    assert_eq!(
        got[0]["backendRefs"],
        json!([{"name": "stable", "port": 80, "weight": 70}, {"name": "canary", "port": 80, "weight": 30},
               {"name": "other", "port": 80, "weight": 5}])
    );
    assert_eq!(weighted_rules(&rules, "x", "y", 30, 100, &[]), None);
    let r = route();
    let out = apply(
        &r,
        gateway::set_weight(
            &r,
            &svcs(),
            &Weights {
                canary_weight: 300,
                max_weight: 1000,
            },
            &[],
        )
        .unwrap(),
    );
    assert_eq!(out["spec"]["rules"][0]["backendRefs"][0]["weight"], 700);
    assert_eq!(out["spec"]["parentRefs"], r["spec"]["parentRefs"]);
    assert!(gateway::has_weight(
        &out,
        &svcs(),
        &Weights {
            canary_weight: 300,
            max_weight: 1000
        },
        &[]
    ));
    let none = Services {
        canary: "x".into(),
        stable: "y".into(),
    };
    assert!(matches!(
        gateway::set_weight(&r, &none, &Weights::new(1), &[]),
        Err(RoutingError::Object { .. })
    ));
}

#[test]
fn header_rule_sends_matching_requests_to_the_canary_and_ignores_weights() {
    let r = route();
    let managed = vec!["hdr".to_string()];
    let hr = HeaderRoute {
        name: "hdr".into(),
        matches: Some(vec![
            HeaderRoutingMatch {
                header_name: "X-Canary".into(),
                header_value: StringMatch {
                    exact: Some("yes".into()),
                    ..Default::default()
                },
            },
            HeaderRoutingMatch {
                header_name: "User-Agent".into(),
                header_value: StringMatch {
                    prefix: Some("Mozilla/5.0 (".into()),
                    ..Default::default()
                },
            },
        ]),
    };
    let out = apply(&r, gateway::set_header_route(&r, &svcs(), &hr, &managed).unwrap());
    assert_eq!(
        out["spec"]["rules"][1],
        json!({"name": "hdr",
               "matches": [{"path": {"type": "PathPrefix", "value": "/api"}, "headers": [
                   {"type": "Exact", "name": "X-Canary", "value": "yes"},
                   {"type": "RegularExpression", "name": "User-Agent", "value": "^Mozilla/5\\.0 \\(.*"}]}],
               "backendRefs": [{"name": "canary", "port": 80}]})
    );
    assert_eq!(
        gateway::set_header_route(&out, &svcs(), &hr, &managed).unwrap(),
        None
    );
    // Weights do not touch the header rule.
    let weighted = apply(
        &out,
        gateway::set_weight(&out, &svcs(), &Weights::new(20), &managed).unwrap(),
    );
    assert_eq!(weighted["spec"]["rules"][1], out["spec"]["rules"][1]);
    assert_eq!(weighted["spec"]["rules"][0]["backendRefs"][1]["weight"], 20);
    let removed = HeaderRoute {
        name: "hdr".into(),
        matches: Some(vec![]),
    };
    let back = apply(
        &weighted,
        gateway::set_header_route(&weighted, &svcs(), &removed, &managed).unwrap(),
    );
    assert_eq!(back["spec"]["rules"].as_array().unwrap().len(), 1);
}

#[test]
fn mirror_rule_keeps_the_split_and_mirrors_to_the_canary() {
    let r = apply(
        &route(),
        gateway::set_weight(&route(), &svcs(), &Weights::new(10), &[]).unwrap(),
    );
    let managed = vec!["mirror".to_string()];
    let mr = MirrorRoute {
        name: "mirror".into(),
        matches: Some(vec![RouteMatch {
            method: Some(StringMatch {
                exact: Some("GET".into()),
                ..Default::default()
            }),
            path: Some(StringMatch {
                prefix: Some("/api/v2".into()),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        percentage: Some(35),
    };
    let out = apply(&r, gateway::set_mirror_route(&r, &svcs(), &mr, &managed).unwrap());
    assert_eq!(
        out["spec"]["rules"][1],
        json!({"name": "mirror",
               "matches": [{"path": {"type": "PathPrefix", "value": "/api/v2"}, "method": "GET"}],
               "backendRefs": r["spec"]["rules"][0]["backendRefs"],
               "filters": [{"type": "RequestMirror",
                            "requestMirror": {"backendRef": {"name": "canary", "port": 80}, "percent": 35}}]})
    );
    // The mirror rule follows the weights.
    let w = apply(
        &out,
        gateway::set_weight(&out, &svcs(), &Weights::new(50), &managed).unwrap(),
    );
    assert_eq!(w["spec"]["rules"][1]["backendRefs"][1]["weight"], 50);
    let clean = apply(&w, gateway::remove_managed_routes(&w, &managed));
    assert_eq!(clean["spec"]["rules"].as_array().unwrap().len(), 1);
    assert_eq!(gateway::remove_managed_routes(&clean, &managed), None);
    let regex_method = MirrorRoute {
        name: "mirror".into(),
        matches: Some(vec![RouteMatch {
            method: Some(StringMatch {
                regex: Some("G.*".into()),
                ..Default::default()
            }),
            ..Default::default()
        }]),
        percentage: None,
    };
    assert!(matches!(
        gateway::set_mirror_route(&r, &svcs(), &regex_method, &managed),
        Err(RoutingError::Config { .. })
    ));
}

#[test]
fn config_route_names() {
    let c =
        GatewayConfig::parse(&json!({"httpRoute": "a", "httpRoutes": [{"name": "b"}], "namespace": "ns"}))
            .unwrap();
    assert_eq!(c.route_names(), ["a", "b"]);
    assert_eq!(c.namespace.as_deref(), Some("ns"));
}
