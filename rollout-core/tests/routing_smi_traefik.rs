//! SMI and Traefik router table tests, cases from upstream `rollout/trafficrouting/smi/smi_test.go`
//! and `rollout/trafficrouting/traefik/traefik_test.go`.

use rollout_core::rollout::routing::smi::{self, SmiConfig, SplitOwner};
use rollout_core::rollout::routing::traefik::{self, TraefikConfig};
use rollout_core::rollout::routing::{Change, RoutingError, Services, Weights, apply_merge_patch};
use serde_json::{Value, json};

fn svcs() -> Services {
    Services {
        canary: "canary-service".into(),
        stable: "stable-service".into(),
    }
}

fn owner(version: &'static str) -> SplitOwner<'static> {
    SplitOwner {
        rollout: "rollout",
        namespace: "default",
        owner_reference: json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "rollout", "uid": "u1", "controller": true}),
        api_version: version,
    }
}

#[test]
fn smi_creates_the_split_with_defaults_per_api_version() {
    let cfg = SmiConfig::default();
    let Change::Create(ts) =
        smi::set_weight(None, &cfg, &svcs(), &Weights::new(10), &owner("v1alpha1")).unwrap()
    else {
        panic!("expected a create");
    };
    assert_eq!(
        ts,
        json!({
            "apiVersion": "split.smi-spec.io/v1alpha1",
            "kind": "TrafficSplit",
            "metadata": {"name": "rollout", "namespace": "default", "ownerReferences": [owner("v1alpha1").owner_reference]},
            "spec": {"service": "stable-service", "backends": [
                {"service": "canary-service", "weight": "10"},
                {"service": "stable-service", "weight": "90"}]}
        })
    );
    let cfg = SmiConfig {
        root_service: "root-service".into(),
        traffic_split_name: "traffic-split-name".into(),
    };
    for v in ["v1alpha2", "v1alpha3"] {
        let Change::Create(ts) = smi::set_weight(None, &cfg, &svcs(), &Weights::new(10), &owner(v)).unwrap()
        else {
            panic!("expected a create");
        };
        assert_eq!(ts["apiVersion"], format!("split.smi-spec.io/{v}"));
        assert_eq!(ts["metadata"]["name"], "traffic-split-name");
        assert_eq!(
            ts["spec"],
            json!({"service": "root-service", "backends": [
                {"service": "canary-service", "weight": 10}, {"service": "stable-service", "weight": 90}]})
        );
    }
    assert_eq!(
        smi::set_weight(None, &cfg, &svcs(), &Weights::new(10), &owner("does-not-exist"))
            .unwrap_err()
            .to_string(),
        "invalid smi configuration: Unsupported TrafficSplit API version `does-not-exist`"
    );
}

#[test]
fn smi_patches_only_the_spec_of_a_split_it_controls() {
    let cfg = SmiConfig::default();
    let Change::Create(mut ts) =
        smi::set_weight(None, &cfg, &svcs(), &Weights::new(10), &owner("v1alpha2")).unwrap()
    else {
        panic!("expected a create");
    };
    ts["metadata"]["labels"] = json!({"team": "a"});
    let Change::Patch(p) =
        smi::set_weight(Some(&ts), &cfg, &svcs(), &Weights::new(50), &owner("v1alpha2")).unwrap()
    else {
        panic!("expected a patch");
    };
    assert_eq!(
        p,
        json!({"spec": {"backends": [{"service": "canary-service", "weight": 50}, {"service": "stable-service", "weight": 50}]}})
    );
    apply_merge_patch(&mut ts, &p);
    assert_eq!(ts["metadata"]["labels"], json!({"team": "a"}));
    assert_eq!(
        smi::set_weight(Some(&ts), &cfg, &svcs(), &Weights::new(50), &owner("v1alpha2")).unwrap(),
        Change::Unchanged
    );
    ts["metadata"]["ownerReferences"] = json!([]);
    assert_eq!(
        smi::set_weight(Some(&ts), &cfg, &svcs(), &Weights::new(60), &owner("v1alpha2")),
        Err(RoutingError::NotOwned {
            kind: "TrafficSplit".into(),
            name: "rollout".into()
        })
    );
}

fn traefik_service() -> Value {
    json!({
        "apiVersion": "traefik.io/v1alpha1",
        "kind": "TraefikService",
        "metadata": {"name": "mocks-service"},
        "spec": {"weighted": {"sticky": {"cookie": {"name": "lvl"}}, "services": [
            {"name": "stable-service", "port": 80, "weight": 100},
            {"name": "canary-service", "port": 80, "weight": 0},
            {"name": "mirror", "port": 80, "weight": 7}]}}
    })
}

#[test]
fn traefik_sets_both_weights_and_keeps_the_rest() {
    let svc = traefik_service();
    let p = traefik::set_weight(&svc, &svcs(), &Weights::new(30))
        .unwrap()
        .expect("a change");
    assert_eq!(
        p,
        json!({"spec": {"weighted": {"services": [
            {"name": "stable-service", "port": 80, "weight": 70},
            {"name": "canary-service", "port": 80, "weight": 30},
            {"name": "mirror", "port": 80, "weight": 7}]}}})
    );
    let mut out = svc.clone();
    apply_merge_patch(&mut out, &p);
    assert_eq!(
        out["spec"]["weighted"]["sticky"],
        svc["spec"]["weighted"]["sticky"]
    );
    assert_eq!(
        traefik::set_weight(&out, &svcs(), &Weights::new(30)).unwrap(),
        None
    );
}

#[test]
fn traefik_errors() {
    let mut svc = traefik_service();
    svc["spec"]["weighted"]["services"][1]["name"] = json!("other");
    let e = traefik::set_weight(&svc, &svcs(), &Weights::new(30)).unwrap_err();
    assert_eq!(
        e.to_string(),
        "TraefikService mocks-service: canary service \"canary-service\" was not found"
    );
    let e = traefik::set_weight(
        &json!({"metadata": {"name": "x"}, "spec": {}}),
        &svcs(),
        &Weights::new(30),
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "TraefikService x: spec.weighted.services was not found"
    );
    assert_eq!(
        TraefikConfig::parse(&json!({"weightedTraefikServiceName": "ts"}))
            .unwrap()
            .weighted_traefik_service_name,
        "ts"
    );
    assert!(TraefikConfig::parse(&json!({})).is_err());
}
