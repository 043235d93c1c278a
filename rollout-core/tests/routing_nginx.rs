//! NGINX router table tests, cases from upstream `rollout/trafficrouting/nginx/nginx_test.go`.

use rollout_core::rollout::routing::nginx::{self, CanaryOwner, NginxConfig, canary_ingress_name};
use rollout_core::rollout::routing::{Change, RoutingError, Services, Weights, apply_merge_patch};
use serde_json::{Value, json};

fn svcs() -> Services {
    Services {
        canary: "canary-service".into(),
        stable: "stable-service".into(),
    }
}

fn owner_ref() -> Value {
    json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "rollout", "uid": "ro-uid", "controller": true})
}

fn owner(max_set: bool) -> CanaryOwner<'static> {
    CanaryOwner {
        rollout: "rollout",
        namespace: "default",
        owner_reference: owner_ref(),
        max_traffic_weight_set: max_set,
    }
}

fn cfg() -> NginxConfig {
    NginxConfig {
        stable_ingress: "stable-ingress".into(),
        ..Default::default()
    }
}

/// A `networking.k8s.io/v1` Ingress like upstream's `networkingIngress`.
fn networking_ingress(name: &str, service: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "default",
                     "annotations": {"annotation-key1": "annotation-value1", "kubernetes.io/ingress.class": "nginx"},
                     "labels": {"label-key1": "label-value1"}},
        "spec": {
            "ingressClassName": "ingress-name",
            "rules": [
                {"host": "fakehost.example.com", "http": {"paths": [
                    {"path": "/foo", "pathType": "Prefix",
                     "backend": {"service": {"name": service, "port": {"name": "http", "number": 80}}}}]}},
                {"host": "other.example.com", "http": {"paths": [
                    {"path": "/", "pathType": "Prefix",
                     "backend": {"service": {"name": "unrelated", "port": {"number": 80}}}}]}}
            ],
            "tls": [{"hosts": ["fakehost.example.com"], "secretName": "tls-secret"}]
        }
    })
}

/// An `extensions/v1beta1` Ingress like upstream's `extensionsIngress`.
fn extensions_ingress(name: &str, service: &str) -> Value {
    json!({
        "apiVersion": "extensions/v1beta1",
        "kind": "Ingress",
        "metadata": {"name": name, "namespace": "default"},
        "spec": {"rules": [{"host": "fakehost.example.com", "http": {"paths": [
            {"path": "/foo", "backend": {"serviceName": service, "servicePort": 80}}]}}]}
    })
}

#[test]
fn canary_ingress_names() {
    assert_eq!(
        canary_ingress_name("rollout", "stable-ingress"),
        "rollout-stable-ingress-canary"
    );
    let long = "a".repeat(300);
    let name = canary_ingress_name("rollout", &long);
    assert_eq!(name.len(), 253);
    assert!(name.ends_with("aaa-canary"));
}

#[test]
fn creates_the_canary_ingress_from_the_stable_one() {
    let stable = networking_ingress("stable-ingress", "stable-service");
    let Change::Create(obj) =
        nginx::set_weight(&stable, None, &cfg(), &svcs(), &Weights::new(10), &owner(false)).unwrap()
    else {
        panic!("expected a create");
    };
    assert_eq!(
        obj,
        json!({
            "apiVersion": "networking.k8s.io/v1",
            "kind": "Ingress",
            "metadata": {
                "name": "rollout-stable-ingress-canary",
                "annotations": {
                    "kubernetes.io/ingress.class": "nginx",
                    "nginx.ingress.kubernetes.io/canary": "true",
                    "nginx.ingress.kubernetes.io/canary-weight": "10"
                },
                "namespace": "default",
                "ownerReferences": [owner_ref()]
            },
            "spec": {
                "ingressClassName": "ingress-name",
                // Only the rule using the stable Service, pointed at the canary.
                "rules": [{"host": "fakehost.example.com", "http": {"paths": [
                    {"path": "/foo", "pathType": "Prefix",
                     "backend": {"service": {"name": "canary-service", "port": {"name": "http", "number": 80}}}}]}}],
                "tls": [{"hosts": ["fakehost.example.com"], "secretName": "tls-secret"}]
            }
        })
    );
}

#[test]
fn legacy_ingress_backends_are_rewritten_too() {
    let stable = extensions_ingress("stable-ingress", "stable-service");
    let Change::Create(obj) =
        nginx::set_weight(&stable, None, &cfg(), &svcs(), &Weights::new(10), &owner(false)).unwrap()
    else {
        panic!("expected a create");
    };
    assert_eq!(obj["apiVersion"], "extensions/v1beta1");
    assert_eq!(
        obj["spec"]["rules"][0]["http"]["paths"][0]["backend"]["serviceName"],
        "canary-service"
    );
    assert!(
        obj["spec"].get("tls").is_none(),
        "no TLS added when the stable has none"
    );
}

fn existing_canary(annotations: Value) -> Value {
    let stable = extensions_ingress("stable-ingress", "stable-service");
    let Change::Create(mut canary) =
        nginx::set_weight(&stable, None, &cfg(), &svcs(), &Weights::new(10), &owner(false)).unwrap()
    else {
        panic!("expected a create");
    };
    canary["metadata"]["annotations"] = annotations;
    canary
}

#[test]
fn patches_only_the_weight_annotation() {
    let stable = extensions_ingress("stable-ingress", "stable-service");
    let canary = existing_canary(
        json!({"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "10"}),
    );
    for (max_set, want) in [
        (
            false,
            json!({"metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary-weight": "15"}}}),
        ),
        (
            true,
            json!({"metadata": {"annotations": {"nginx.ingress.kubernetes.io/canary-weight": "15",
                                                "nginx.ingress.kubernetes.io/canary-weight-total": "1000"}}}),
        ),
    ] {
        let weights = Weights {
            canary_weight: 15,
            max_weight: if max_set { 1000 } else { 100 },
        };
        let got =
            nginx::set_weight(&stable, Some(&canary), &cfg(), &svcs(), &weights, &owner(max_set)).unwrap();
        assert_eq!(got, Change::Patch(want));
    }
    assert_eq!(
        nginx::set_weight(
            &stable,
            Some(&canary),
            &cfg(),
            &svcs(),
            &Weights::new(10),
            &owner(false)
        )
        .unwrap(),
        Change::Unchanged
    );
}

#[test]
fn keeps_annotations_other_controllers_added_and_fixes_ours() {
    let stable = networking_ingress("stable-ingress", "stable-service");
    let Change::Create(mut canary) =
        nginx::set_weight(&stable, None, &cfg(), &svcs(), &Weights::new(0), &owner(false)).unwrap()
    else {
        panic!("expected a create");
    };
    canary["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary"] = json!("false");
    canary["metadata"]["annotations"]["annotation-prefix.some.group/some-key"] = json!("some-value");
    let Change::Patch(p) = nginx::set_weight(
        &stable,
        Some(&canary),
        &cfg(),
        &svcs(),
        &Weights::new(15),
        &owner(false),
    )
    .unwrap() else {
        panic!("expected a patch");
    };
    apply_merge_patch(&mut canary, &p);
    let ann = &canary["metadata"]["annotations"];
    assert_eq!(ann["nginx.ingress.kubernetes.io/canary"], "true");
    assert_eq!(ann["nginx.ingress.kubernetes.io/canary-weight"], "15");
    assert_eq!(ann["annotation-prefix.some.group/some-key"], "some-value");
}

#[test]
fn additional_annotations_are_prefixed_and_full_ones_kept() {
    let mut c = cfg();
    c.additional_ingress_annotations
        .insert("canary-by-header".into(), "X-Foo".into());
    c.additional_ingress_annotations
        .insert("canary-by-header-value".into(), "DoCanary".into());
    c.canary_ingress_annotations.insert(
        "annotation-prefix.some.group/some-key".into(),
        "some-value".into(),
    );
    let stable = networking_ingress("stable-ingress", "stable-service");
    let Change::Create(obj) =
        nginx::set_weight(&stable, None, &c, &svcs(), &Weights::new(15), &owner(false)).unwrap()
    else {
        panic!("expected a create");
    };
    let ann = &obj["metadata"]["annotations"];
    assert_eq!(ann["nginx.ingress.kubernetes.io/canary-by-header"], "X-Foo");
    assert_eq!(
        ann["nginx.ingress.kubernetes.io/canary-by-header-value"],
        "DoCanary"
    );
    assert_eq!(ann["annotation-prefix.some.group/some-key"], "some-value");
    assert_eq!(ann["nginx.ingress.kubernetes.io/canary-weight"], "15");
    // A custom prefix.
    c.annotation_prefix = "custom.nginx.io".into();
    let Change::Create(obj) =
        nginx::set_weight(&stable, None, &c, &svcs(), &Weights::new(15), &owner(false)).unwrap()
    else {
        panic!("expected a create");
    };
    assert_eq!(
        obj["metadata"]["annotations"]["custom.nginx.io/canary-by-header"],
        "X-Foo"
    );
    assert_eq!(obj["metadata"]["annotations"]["custom.nginx.io/canary"], "true");
}

#[test]
fn route_changes_in_the_stable_ingress_reach_the_canary() {
    let mut stable = extensions_ingress("stable-ingress", "stable-service");
    let canary = existing_canary(
        json!({"nginx.ingress.kubernetes.io/canary": "true", "nginx.ingress.kubernetes.io/canary-weight": "10"}),
    );
    stable["spec"]["rules"][0]["host"] = json!("newhost.example.com");
    let Change::Patch(p) = nginx::set_weight(
        &stable,
        Some(&canary),
        &cfg(),
        &svcs(),
        &Weights::new(10),
        &owner(false),
    )
    .unwrap() else {
        panic!("expected a patch");
    };
    assert_eq!(p["spec"]["rules"][0]["host"], "newhost.example.com");
    assert!(p.get("metadata").is_none());
}

#[test]
fn errors() {
    let wrong = extensions_ingress("stable-ingress", "other-service");
    match nginx::set_weight(&wrong, None, &cfg(), &svcs(), &Weights::new(10), &owner(false)) {
        Err(RoutingError::Object { message, .. }) => {
            assert_eq!(message, "has no rules using service stable-service backend");
        }
        other => panic!("{other:?}"),
    }
    let stable = extensions_ingress("stable-ingress", "stable-service");
    let mut foreign = existing_canary(json!({}));
    foreign["metadata"]["ownerReferences"][0]["uid"] = json!("someone-else");
    assert_eq!(
        nginx::set_weight(
            &stable,
            Some(&foreign),
            &cfg(),
            &svcs(),
            &Weights::new(10),
            &owner(false)
        ),
        Err(RoutingError::NotOwned {
            kind: "Ingress".into(),
            name: "rollout-stable-ingress-canary".into()
        })
    );
    let cfg = NginxConfig::parse(&json!({"stableIngresses": ["a", "b"]})).unwrap();
    assert_eq!(cfg.stable_ingresses(), ["a", "b"]);
}
