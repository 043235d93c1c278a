//! Istio traffic routing on a real API server (issue #15): the controller sets the VirtualService
//! weights and the DestinationRule subset hashes per step, adds the `setHeaderRoute` route, and on
//! abort sends all traffic back to stable and removes the managed route.

mod common;

use common::*;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use rollout_kube::ops;
use rollout_kube::testenv::apply_objects;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A minimal CRD for `kind` in `networking.istio.io/v1alpha3` (structural, spec kept as is).
fn crd(kind: &str, plural: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.networking.istio.io")},
        "spec": {
            "group": "networking.istio.io",
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": kind.to_lowercase()},
            "scope": "Namespaced",
            "versions": [{"name": "v1alpha3", "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]
        }
    })
}

fn api(c: &Cluster, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk("networking.istio.io", "v1alpha3", kind);
    Api::namespaced_with(
        c.admin.clone(),
        &c.ns,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

/// `(stable, canary)` weights of the `primary` route and the HTTP route names, in order.
async fn state(vs: &Api<DynamicObject>) -> ((i64, i64), Vec<String>) {
    let obj = vs.get("shop-vs").await.unwrap();
    let http = obj.data["spec"]["http"].as_array().cloned().unwrap_or_default();
    let names: Vec<String> = http
        .iter()
        .map(|r| r["name"].as_str().unwrap_or_default().to_string())
        .collect();
    let primary = http
        .iter()
        .find(|r| r["name"] == "primary")
        .expect("primary route");
    let w = |i: usize| primary["route"][i]["weight"].as_i64().unwrap_or(0);
    ((w(0), w(1)), names)
}

async fn wait_state(vs: &Api<DynamicObject>, weights: (i64, i64), names: &[&str]) -> Value {
    let start = Instant::now();
    loop {
        let (w, n) = state(vs).await;
        if w == weights && n == names {
            return vs.get("shop-vs").await.unwrap().data;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "VirtualService weights {w:?} routes {n:?}, want {weights:?} {names:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn istio_weights_header_route_and_abort() {
    let Some(c) = cluster("istio").await else { return };
    for (kind, plural) in [
        ("VirtualService", "virtualservices"),
        ("DestinationRule", "destinationrules"),
    ] {
        c.env
            .install_crds(&serde_yaml::to_string(&crd(kind, plural)).unwrap())
            .await
            .unwrap();
    }
    for svc in ["shop-stable", "shop-canary"] {
        let s: Service = serde_json::from_value(json!({
            "metadata": {"name": svc}, "spec": {"selector": {"app": "shop"}, "ports": [{"port": 80}]}
        }))
        .unwrap();
        Api::<Service>::namespaced(c.admin.clone(), &c.ns)
            .create(&PostParams::default(), &s)
            .await
            .unwrap();
    }
    let objects = [
        json!({"apiVersion": "networking.istio.io/v1alpha3", "kind": "VirtualService",
               "metadata": {"name": "shop-vs"},
               "spec": {"hosts": ["shop"], "http": [{"name": "primary", "retries": {"attempts": 3}, "route": [
                   {"destination": {"host": "shop-stable", "port": {"number": 80}}, "weight": 100},
                   {"destination": {"host": "shop-canary", "port": {"number": 80}}, "weight": 0}]}]}}),
        json!({"apiVersion": "networking.istio.io/v1alpha3", "kind": "DestinationRule",
               "metadata": {"name": "shop-dr"},
               "spec": {"host": "shop", "subsets": [{"name": "stable"}, {"name": "canary"}, {"name": "other", "labels": {"x": "y"}}]}}),
    ];
    apply_objects(&c.admin, &objects, &c.ns).await.unwrap();
    let vs = api(&c, "VirtualService", "virtualservices");
    let dr = api(&c, "DestinationRule", "destinationrules");

    let ctrl = start_controller(&c);
    let mut ro = rollout(
        "shop",
        2,
        json!([{"setWeight": 20},
               {"setHeaderRoute": {"name": "hdr", "match": [{"headerName": "X-Canary", "headerValue": {"exact": "yes"}}]}},
               {"pause": {}}]),
        "example.invalid/shop:v1",
    );
    let canary = &mut ro["spec"]["strategy"]["canary"];
    canary["canaryService"] = json!("shop-canary");
    canary["stableService"] = json!("shop-stable");
    canary["trafficRouting"] = json!({
        "managedRoutes": [{"name": "hdr"}],
        "istio": {"virtualService": {"name": "shop-vs", "routes": ["primary"]}}
    });
    create(&c, ro).await;
    let v1 = wait_for(&c, "shop", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    let stable = text(&v1, "stableRS").to_string();

    set_image(&c, "shop", "example.invalid/shop:v2").await;
    let p = wait_for(&c, "shop", 120, "paused at step 2", |r| {
        paused(r) && step_index(r) == 2
    })
    .await;
    let hash = text(&p, "currentPodHash").to_string();
    let data = wait_state(&vs, (80, 20), &["hdr", "primary"]).await;
    assert_eq!(
        data["spec"]["http"][0],
        json!({"name": "hdr", "match": [{"headers": {"X-Canary": {"exact": "yes"}}}],
               "route": [{"destination": {"host": "shop-canary", "port": {"number": 80}}, "weight": 100}]})
    );
    assert_eq!(
        data["spec"]["http"][1]["retries"],
        json!({"attempts": 3}),
        "fields we do not own are kept"
    );
    assert_eq!(data["spec"]["hosts"], json!(["shop"]));
    // Host-level routing: the DestinationRule is not configured, so it is left alone.
    let d = dr.get("shop-dr").await.unwrap().data;
    assert_eq!(d["spec"]["subsets"][0], json!({"name": "stable"}));
    assert_ne!(hash, stable);

    ops::abort(&c.admin, &c.ns, "shop").await.unwrap();
    wait_state(&vs, (100, 0), &["primary"]).await;
    wait_for(&c, "shop", 90, "aborted", |r| phase(r) == "Degraded").await;
    ctrl.shutdown().await;
}
