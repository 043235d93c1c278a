//! Istio router table tests, cases from upstream `rollout/trafficrouting/istio/istio_test.go`.

use rollout_core::rollout::routing::istio::{
    self, CanaryTarget, DestinationRuleRef, IstioConfig, TlsRoute, VirtualServiceRef,
};
use rollout_core::rollout::routing::{
    HeaderRoute, HeaderRoutingMatch, MirrorRoute, RouteMatch, RoutingError, Services, StringMatch, Weights,
    apply_merge_patch,
};
use serde_json::{Value, json};

fn yaml(s: &str) -> Value {
    serde_yaml::from_str(s).expect("fixture")
}

fn svcs() -> Services {
    Services {
        canary: "canary".into(),
        stable: "stable".into(),
    }
}

fn vsvc(routes: &[&str]) -> VirtualServiceRef {
    VirtualServiceRef {
        name: "vsvc".into(),
        routes: routes.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

fn patched(obj: &Value, patch: Option<Value>) -> Value {
    let mut o = obj.clone();
    apply_merge_patch(&mut o, &patch.expect("a change"));
    o
}

/// `(host or subset, weight)` of a route's destinations.
fn dests(vs: &Value, key: &str, i: usize) -> Vec<(String, i64)> {
    vs["spec"][key][i]["route"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            let id = d["destination"]["subset"]
                .as_str()
                .or(d["destination"]["host"].as_str())
                .unwrap()
                .to_string();
            (id, d["weight"].as_i64().unwrap_or(0))
        })
        .collect()
}

fn names(vs: &Value) -> Vec<String> {
    vs["spec"]["http"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect()
}

fn sd(v: &[(&str, i64)]) -> Vec<(String, i64)> {
    v.iter().map(|(a, b)| (a.to_string(), *b)).collect()
}

const REGULAR: &str = r"
metadata: {name: vsvc, namespace: default}
spec:
  gateways: [istio-rollout-gateway]
  hosts: [istio-rollout.dev.argoproj.io]
  http:
  - name: primary
    route:
    - {destination: {host: stable}, weight: 100}
    - {destination: {host: canary}, weight: 0}
  - name: secondary
    route:
    - {destination: {host: stable}, weight: 100}
    - {destination: {host: canary}, weight: 0}
";

const L4: &str = r"
metadata: {name: vsvc}
spec:
  KEY:
  - match: [{port: 3000}]
    route:
    - {destination: {host: stable}, weight: 100}
    - {destination: {host: canary}, weight: 0}
  - match: [{port: 3001}]
    route:
    - {destination: {host: stable}, weight: 100}
    - {destination: {host: canary}, weight: 0}
";

const TLS_SNI: &str = r"
metadata: {name: vsvc}
spec:
  tls:
  - match:
    - sniHosts: [foo.bar.com, bar.foo.com]
    - sniHosts: [localhost]
    route:
    - {destination: {host: stable}, weight: 100}
    - {destination: {host: canary}, weight: 0}
  - match:
    - {port: 3001, sniHosts: [localhost]}
    route:
    - {destination: {host: stable}, weight: 100}
    - {destination: {host: canary}, weight: 0}
";

#[test]
fn http_named_route_gets_the_weights_and_nothing_else_changes() {
    let vs = yaml(REGULAR);
    let patch = istio::set_weight(&vs, &vsvc(&["primary"]), None, &svcs(), &Weights::new(10), &[]).unwrap();
    let p = patch.clone().unwrap();
    assert_eq!(
        p["spec"].as_object().unwrap().keys().collect::<Vec<_>>(),
        ["http"]
    );
    let out = patched(&vs, patch);
    assert_eq!(dests(&out, "http", 0), sd(&[("stable", 90), ("canary", 10)]));
    assert_eq!(dests(&out, "http", 1), sd(&[("stable", 100), ("canary", 0)]));
    assert_eq!(out["spec"]["gateways"], vs["spec"]["gateways"]);
    // Applying it again is a no-op.
    assert_eq!(
        istio::set_weight(&out, &vsvc(&["primary"]), None, &svcs(), &Weights::new(10), &[]).unwrap(),
        None
    );
}

#[test]
fn fqdn_hosts_match_by_their_first_label() {
    let vs = yaml(
        r"
metadata: {name: vsvc}
spec:
  http:
  - route:
    - {destination: {host: stable.default.svc.cluster.local}, weight: 100}
    - {destination: {host: canary.default.svc.cluster.local}, weight: 0}
",
    );
    let out = patched(
        &vs,
        istio::set_weight(&vs, &vsvc(&[]), None, &svcs(), &Weights::new(25), &[]).unwrap(),
    );
    assert_eq!(
        dests(&out, "http", 0),
        sd(&[
            ("stable.default.svc.cluster.local", 75),
            ("canary.default.svc.cluster.local", 25)
        ])
    );
}

#[test]
fn subset_level_keeps_additional_subsets_and_takes_their_share_from_stable() {
    let vs = yaml(
        r"
metadata: {name: vsvc}
spec:
  http:
  - route:
    - {destination: {host: rollout-service, subset: stable}, weight: 100}
    - {destination: {host: rollout-service, subset: canary}, weight: 0}
    - {destination: {host: additional-service, subset: stable-subset}, weight: 20}
",
    );
    let dr = DestinationRuleRef {
        name: "istio-destrule".into(),
        canary_subset_name: "canary".into(),
        stable_subset_name: "stable".into(),
        additional_subset_names: vec!["stable-subset".into()],
    };
    let no_svcs = Services {
        canary: String::new(),
        stable: String::new(),
    };
    let out = patched(
        &vs,
        istio::set_weight(&vs, &vsvc(&[]), Some(&dr), &no_svcs, &Weights::new(10), &[]).unwrap(),
    );
    assert_eq!(
        dests(&out, "http", 0),
        sd(&[("stable", 70), ("canary", 10), ("stable-subset", 20)])
    );
}

#[test]
fn leftover_destinations_are_removed() {
    let vs = yaml(
        r"
metadata: {name: vsvc}
spec:
  http:
  - name: primary
    route:
    - {destination: {host: stable}, weight: 50}
    - {destination: {host: canary}, weight: 10}
    - {destination: {host: exp-baseline}, weight: 20}
    - {destination: {host: exp-canary}, weight: 20}
",
    );
    let out = patched(
        &vs,
        istio::set_weight(&vs, &vsvc(&["primary"]), None, &svcs(), &Weights::new(10), &[]).unwrap(),
    );
    assert_eq!(dests(&out, "http", 0), sd(&[("stable", 90), ("canary", 10)]));
}

#[test]
fn tls_and_tcp_routes_by_port() {
    for key in ["tls", "tcp"] {
        let vs = yaml(&L4.replace("KEY", key));
        let mut r = vsvc(&[]);
        if key == "tls" {
            r.tls_routes = vec![TlsRoute {
                port: 3000,
                sni_hosts: vec![],
            }];
        } else {
            r.tcp_routes = vec![istio::TcpRoute { port: 3000 }];
        }
        let out = patched(
            &vs,
            istio::set_weight(&vs, &r, None, &svcs(), &Weights::new(30), &[]).unwrap(),
        );
        assert_eq!(
            dests(&out, key, 0),
            sd(&[("stable", 70), ("canary", 30)]),
            "{key}"
        );
        assert_eq!(
            dests(&out, key, 1),
            sd(&[("stable", 100), ("canary", 0)]),
            "{key}"
        );
        // A port no route matches.
        let mut bad = r.clone();
        bad.tls_routes.iter_mut().for_each(|t| t.port = 9999);
        bad.tcp_routes.iter_mut().for_each(|t| t.port = 9999);
        let e = istio::set_weight(&vs, &bad, None, &svcs(), &Weights::new(30), &[]).unwrap_err();
        assert!(
            e.to_string()
                .contains(&format!("No matching {} routes found", key.to_uppercase())),
            "{e}"
        );
        // Two routes and none selected is ambiguous.
        let e = istio::set_weight(&vs, &vsvc(&[]), None, &svcs(), &Weights::new(30), &[]).unwrap_err();
        assert!(
            e.to_string().contains(&format!("spec.{key}[] should be set")),
            "{e}"
        );
    }
}

#[test]
fn tls_routes_by_sni_hosts_and_port() {
    let vs = yaml(TLS_SNI);
    let mut r = vsvc(&[]);
    r.tls_routes = vec![TlsRoute {
        port: 0,
        sni_hosts: vec!["foo.bar.com".into(), "bar.foo.com".into(), "localhost".into()],
    }];
    let out = patched(
        &vs,
        istio::set_weight(&vs, &r, None, &svcs(), &Weights::new(30), &[]).unwrap(),
    );
    assert_eq!(dests(&out, "tls", 0), sd(&[("stable", 70), ("canary", 30)]));
    assert_eq!(dests(&out, "tls", 1), sd(&[("stable", 100), ("canary", 0)]));
    r.tls_routes = vec![TlsRoute {
        port: 3001,
        sni_hosts: vec!["localhost".into()],
    }];
    let out = patched(
        &vs,
        istio::set_weight(&vs, &r, None, &svcs(), &Weights::new(30), &[]).unwrap(),
    );
    assert_eq!(dests(&out, "tls", 0), sd(&[("stable", 100), ("canary", 0)]));
    assert_eq!(dests(&out, "tls", 1), sd(&[("stable", 70), ("canary", 30)]));
}

#[test]
fn route_errors_use_upstream_wording() {
    let vs = yaml(REGULAR);
    let cases: Vec<(VirtualServiceRef, Services, &str)> = vec![
        (
            vsvc(&["route-not-found"]),
            svcs(),
            "HTTP Route 'route-not-found' is not found in the defined Virtual Service.",
        ),
        (
            vsvc(&[]),
            svcs(),
            "spec.http[] should be set in VirtualService and it must have exactly one route when omitting spec.strategy.canary.trafficRouting.istio.virtualService.routes",
        ),
        (
            vsvc(&["primary"]),
            Services {
                canary: "other".into(),
                stable: "stable".into(),
            },
            "Canary Service 'other' not found in route",
        ),
        (
            vsvc(&["primary"]),
            Services {
                canary: "canary".into(),
                stable: "other".into(),
            },
            "Stable Service 'other' not found in route",
        ),
    ];
    for (r, s, want) in cases {
        match istio::set_weight(&vs, &r, None, &s, &Weights::new(0), &[]) {
            Err(RoutingError::Object { kind, name, message }) => {
                assert_eq!(
                    (kind.as_str(), name.as_str(), message.as_str()),
                    ("VirtualService", "vsvc", want)
                );
            }
            other => panic!("{want}: got {other:?}"),
        }
    }
}

fn header(name: &str, value: StringMatch) -> HeaderRoute {
    HeaderRoute {
        name: name.into(),
        matches: Some(vec![HeaderRoutingMatch {
            header_name: "agent".into(),
            header_value: value,
        }]),
    }
}

fn exact(s: &str) -> StringMatch {
    StringMatch {
        exact: Some(s.into()),
        ..Default::default()
    }
}

#[test]
fn header_route_host_level_is_first_and_removed_by_an_empty_match() {
    let vs = yaml(REGULAR);
    let managed = vec!["test-header-route".to_string()];
    let target = CanaryTarget::new(&svcs(), None);
    let hr = header("test-header-route", exact("firefox"));
    let out = patched(
        &vs,
        istio::set_header_route(&vs, &vsvc(&["primary"]), &target, &hr, &managed).unwrap(),
    );
    assert_eq!(names(&out), ["test-header-route", "primary", "secondary"]);
    assert_eq!(
        out["spec"]["http"][0],
        json!({"name": "test-header-route",
               "match": [{"headers": {"agent": {"exact": "firefox"}}}],
               "route": [{"destination": {"host": "canary"}, "weight": 100}]})
    );
    assert_eq!(
        istio::set_header_route(&out, &vsvc(&["primary"]), &target, &hr, &managed).unwrap(),
        None
    );
    let remove = HeaderRoute {
        name: "test-header-route".into(),
        matches: None,
    };
    let back = patched(
        &out,
        istio::set_header_route(&out, &vsvc(&["primary"]), &target, &remove, &managed).unwrap(),
    );
    assert_eq!(back, vs);
}

#[test]
fn header_route_subset_level_targets_the_destination_rule_host_and_port() {
    let vs = yaml(
        r"
metadata: {name: vsvc}
spec:
  http:
  - route:
    - {destination: {host: rollout-service, subset: stable-subset, port: {number: 8443}}, weight: 100}
    - {destination: {host: rollout-service, subset: canary-subset, port: {number: 8443}}, weight: 0}
",
    );
    let dr = DestinationRuleRef {
        name: "istio-destrule".into(),
        canary_subset_name: "canary-subset".into(),
        stable_subset_name: "stable-subset".into(),
        additional_subset_names: vec![],
    };
    let dr_obj = yaml(
        "metadata: {name: istio-destrule}\nspec: {host: rollout-service, subsets: [{name: stable-subset}, {name: canary-subset}]}",
    );
    let target = CanaryTarget::new(&svcs(), Some((&dr, &dr_obj)));
    let regex = StringMatch {
        regex: Some("firefox".into()),
        ..Default::default()
    };
    let hr = header("test-header-route", regex);
    let out = patched(
        &vs,
        istio::set_header_route(&vs, &vsvc(&[]), &target, &hr, &["test-header-route".into()]).unwrap(),
    );
    assert_eq!(
        out["spec"]["http"][0]["route"],
        json!([{"destination": {"host": "rollout-service", "port": {"number": 8443}, "subset": "canary-subset"}, "weight": 100}])
    );
    assert_eq!(
        out["spec"]["http"][0]["match"],
        json!([{"headers": {"agent": {"regex": "firefox"}}}])
    );
}

fn mirror(name: &str, method: &str, pct: Option<i32>) -> MirrorRoute {
    MirrorRoute {
        name: name.into(),
        matches: Some(vec![RouteMatch {
            method: Some(exact(method)),
            ..Default::default()
        }]),
        percentage: pct,
    }
}

#[test]
fn mirror_routes_copy_the_weighted_destinations_and_follow_set_weight() {
    let vs = yaml(REGULAR);
    let managed: Vec<String> = ["test-mirror-2", "test-mirror-3", "test-mirror-1"]
        .map(String::from)
        .to_vec();
    let target = CanaryTarget::new(&svcs(), None);
    let r = vsvc(&["primary", "secondary"]);
    let mut out = vs.clone();
    for m in [
        mirror("test-mirror-1", "GET", None),
        mirror("test-mirror-2", "POST", Some(90)),
        mirror("test-mirror-3", "GET", Some(90)),
    ] {
        out = patched(
            &out,
            istio::set_mirror_route(&out, &r, &target, &m, &managed).unwrap(),
        );
    }
    assert_eq!(
        out["spec"]["http"][2],
        json!({"name": "test-mirror-1", "match": [{"method": {"exact": "GET"}}],
               "route": [{"destination": {"host": "stable"}, "weight": 100}, {"destination": {"host": "canary"}}],
               "mirror": {"host": "canary"}, "mirrorPercentage": {"value": 100}})
    );
    out = patched(
        &out,
        istio::set_weight(&out, &r, None, &svcs(), &Weights::new(40), &managed).unwrap(),
    );
    assert_eq!(
        names(&out),
        [
            "test-mirror-2",
            "test-mirror-3",
            "test-mirror-1",
            "primary",
            "secondary"
        ]
    );
    assert_eq!(dests(&out, "http", 0), sd(&[("stable", 60), ("canary", 40)]));
    assert_eq!(out["spec"]["http"][0]["mirrorPercentage"], json!({"value": 90}));
    assert_eq!(dests(&out, "http", 3), sd(&[("stable", 60), ("canary", 40)]));
    let remove = MirrorRoute {
        name: "test-mirror-3".into(),
        matches: None,
        percentage: None,
    };
    out = patched(
        &out,
        istio::set_mirror_route(&out, &r, &target, &remove, &managed).unwrap(),
    );
    assert_eq!(
        names(&out),
        ["test-mirror-2", "test-mirror-1", "primary", "secondary"]
    );
    out = patched(&out, istio::remove_managed_routes(&out, &managed));
    assert_eq!(names(&out), ["primary", "secondary"]);
    assert_eq!(istio::remove_managed_routes(&out, &managed), None);
}

#[test]
fn header_route_keeps_other_fields_of_the_routes() {
    let vs = yaml(
        r"
metadata: {name: vsvc}
spec:
  http:
  - name: primary
    retries: {attempts: 3, perTryTimeout: 10s}
    route:
    - {destination: {host: stable, port: {number: 8443}}, weight: 100}
    - {destination: {host: canary, port: {number: 8443}}, weight: 0}
  - name: secondary
    corsPolicy: {allowOrigins: [{exact: 'https://example.com'}]}
    route:
    - {destination: {host: stable, port: {number: 8443}}, weight: 100}
",
    );
    let managed = vec!["h".to_string()];
    let target = CanaryTarget::new(&svcs(), None);
    let out = patched(
        &vs,
        istio::set_header_route(
            &vs,
            &vsvc(&["primary"]),
            &target,
            &header("h", exact("firefox")),
            &managed,
        )
        .unwrap(),
    );
    assert_eq!(
        out["spec"]["http"][0]["route"][0]["destination"]["port"],
        json!({"number": 8443})
    );
    assert_eq!(
        out["spec"]["http"][1]["retries"],
        vs["spec"]["http"][0]["retries"]
    );
    assert_eq!(
        out["spec"]["http"][2]["corsPolicy"],
        vs["spec"]["http"][1]["corsPolicy"]
    );
    assert_eq!(patched(&out, istio::remove_managed_routes(&out, &managed)), vs);
}

#[test]
fn destination_rule_subsets_get_the_hashes_and_keep_their_other_fields() {
    let dr_obj = yaml(
        r"
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata: {name: istio-destrule, namespace: default}
spec:
  host: ratings.prod.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: LEAST_CONN}}
  subsets:
  - name: stable
    labels: {version: v3}
  - name: canary
    trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
  - name: other
",
    );
    let dr = DestinationRuleRef {
        name: "istio-destrule".into(),
        canary_subset_name: "canary".into(),
        stable_subset_name: "stable".into(),
        additional_subset_names: vec![],
    };
    let out = patched(
        &dr_obj,
        istio::update_hash(&dr_obj, &dr, "rollout", "abc123", "def456"),
    );
    assert_eq!(
        out,
        yaml(
            r"
apiVersion: networking.istio.io/v1alpha3
kind: DestinationRule
metadata:
  name: istio-destrule
  namespace: default
  annotations: {argo-rollouts.argoproj.io/managed-by-rollouts: rollout}
spec:
  host: ratings.prod.svc.cluster.local
  trafficPolicy: {loadBalancer: {simple: LEAST_CONN}}
  subsets:
  - name: stable
    labels: {version: v3, rollouts-pod-template-hash: def456}
  - name: canary
    trafficPolicy: {loadBalancer: {simple: ROUND_ROBIN}}
    labels: {rollouts-pod-template-hash: abc123}
  - name: other
"
        )
    );
    assert_eq!(istio::update_hash(&out, &dr, "rollout", "abc123", "def456"), None);
    // An empty hash removes the label.
    let cleared = patched(&out, istio::update_hash(&out, &dr, "rollout", "", "def456"));
    assert_eq!(cleared["spec"]["subsets"][1]["labels"], json!({}));
}

#[test]
fn config_parsing_and_virtual_service_namespaces() {
    let cfg = IstioConfig::parse(&json!({
        "virtualServices": [{"name": "a.other-ns", "routes": ["primary"]}, {"name": "b"}],
        "destinationRule": {"name": "dr", "canarySubsetName": "c", "stableSubsetName": "s"}
    }))
    .unwrap();
    let vss = cfg.virtual_services();
    assert_eq!(vss[0].namespace_name(), (Some("other-ns".into()), "a".into()));
    assert_eq!(vss[1].namespace_name(), (None, "b".into()));
    assert_eq!(
        VirtualServiceRef {
            name: "my.vs.ns.cluster.local".into(),
            ..Default::default()
        }
        .namespace_name(),
        (Some("ns".into()), "my.vs".into())
    );
    assert!(IstioConfig::parse(&json!({"virtualService": {"routes": []}})).is_err());
}
