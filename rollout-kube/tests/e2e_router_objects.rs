//! NGINX, SMI, ALB and Traefik traffic routing on a real API server (issue #15): the controller
//! writes each router's object per step (the canary Ingress, the TrafficSplit, the ALB action
//! annotation, the weighted TraefikService), and on abort sends all traffic back to stable.

mod common;

use common::*;
use k8s_openapi::api::core::v1::Service;
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use rollout_kube::ops;
use rollout_kube::testenv::apply_objects;
use serde_json::{Value, json};
use std::time::{Duration, Instant};

/// A minimal CRD for `kind` in `group/version` (structural, spec kept as is).
fn crd(group: &str, version: &str, kind: &str, plural: &str) -> Value {
    json!({
        "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{group}")},
        "spec": {
            "group": group,
            "names": {"kind": kind, "listKind": format!("{kind}List"), "plural": plural, "singular": kind.to_lowercase()},
            "scope": "Namespaced",
            "versions": [{"name": version, "served": true, "storage": true,
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]
        }
    })
}

fn api(c: &Cluster, group: &str, version: &str, kind: &str, plural: &str) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Api::namespaced_with(
        c.admin.clone(),
        &c.ns,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

fn ingresses(c: &Cluster) -> Api<DynamicObject> {
    api(c, "networking.k8s.io", "v1", "Ingress", "ingresses")
}

/// A cluster for `prefix` with the CRD `(group, version, kind, plural)` if given, the Services
/// `shop-stable` and `shop-canary`, and the route objects `objects`.
async fn setup(prefix: &str, crd_of: Option<(&str, &str, &str, &str)>, objects: &[Value]) -> Option<Cluster> {
    let c = cluster(prefix).await?;
    if let Some((group, version, kind, plural)) = crd_of {
        c.env
            .install_crds(&serde_yaml::to_string(&crd(group, version, kind, plural)).unwrap())
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
    apply_objects(&c.admin, objects, &c.ns).await.unwrap();
    Some(c)
}

/// An Ingress `name` sending `shop.example.com/` to `shop-stable:80`.
fn ingress(name: &str, annotations: Value) -> Value {
    json!({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
           "metadata": {"name": name, "annotations": annotations},
           "spec": {"rules": [{"host": "shop.example.com", "http": {"paths": [
               {"path": "/", "pathType": "Prefix",
                "backend": {"service": {"name": "shop-stable", "port": {"number": 80}}}}]}}]}})
}

/// Waits until the object `name` exists and satisfies `pred`; returns it as JSON.
async fn wait_obj(api: &Api<DynamicObject>, name: &str, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
    let start = Instant::now();
    loop {
        let obj = api
            .get_opt(name)
            .await
            .unwrap()
            .map(|o| serde_json::to_value(o).unwrap());
        if let Some(o) = &obj
            && pred(o)
        {
            return o.clone();
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "{name} never reached {what}: {obj:#?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// A canary Rollout `shop` with `steps`, routed by `traffic_routing`, driven by the controller
/// until it pauses at step `first_pause`.
async fn start(c: &Cluster, steps: Value, traffic_routing: Value, first_pause: i64) -> Running {
    let ctrl = start_controller(c);
    let mut ro = rollout("shop", 2, steps, "example.invalid/shop:v1");
    let canary = &mut ro["spec"]["strategy"]["canary"];
    canary["canaryService"] = json!("shop-canary");
    canary["stableService"] = json!("shop-stable");
    canary["trafficRouting"] = traffic_routing;
    create(c, ro).await;
    wait_for(c, "shop", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    set_image(c, "shop", "example.invalid/shop:v2").await;
    wait_for(c, "shop", 120, "paused at the first pause", |r| {
        paused(r) && step_index(r) == first_pause
    })
    .await;
    ctrl
}

/// Promotes `shop` past its pause and waits for the pause at step `index`.
async fn promote_to(c: &Cluster, index: i64) {
    ops::promote(&c.admin, &c.ns, "shop", false).await.unwrap();
    wait_for(c, "shop", 120, "paused at the second pause", |r| {
        paused(r) && step_index(r) == index
    })
    .await;
}

/// Pauses at steps 1 and 3, with 20% and then 60% to the canary.
fn steps() -> Value {
    json!([{"setWeight": 20}, {"pause": {}}, {"setWeight": 60}, {"pause": {}}])
}

async fn uid(c: &Cluster) -> String {
    rollouts(c).get("shop").await.unwrap().uid().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nginx_canary_ingress_weights_and_abort() {
    let stable = ingress(
        "shop-ing",
        json!({"kubernetes.io/ingress.class": "nginx", "other": "kept"}),
    );
    let Some(c) = setup("nginx", None, std::slice::from_ref(&stable)).await else {
        return;
    };
    let tr = json!({"nginx": {"stableIngress": "shop-ing",
                              "additionalIngressAnnotations": {"canary-by-header": "X-Canary"}}});
    let ctrl = start(&c, steps(), tr, 1).await;
    let ing = ingresses(&c);
    let weight_is = |w: &'static str| {
        move |o: &Value| o["metadata"]["annotations"]["nginx.ingress.kubernetes.io/canary-weight"] == w
    };
    let canary = wait_obj(&ing, "shop-shop-ing-canary", "canary-weight 20", weight_is("20")).await;
    assert_eq!(
        canary["metadata"]["annotations"],
        json!({"kubernetes.io/ingress.class": "nginx",
               "nginx.ingress.kubernetes.io/canary": "true",
               "nginx.ingress.kubernetes.io/canary-weight": "20",
               "nginx.ingress.kubernetes.io/canary-by-header": "X-Canary"})
    );
    assert_eq!(
        canary["spec"],
        json!({"rules": [{"host": "shop.example.com", "http": {"paths": [
            {"path": "/", "pathType": "Prefix",
             "backend": {"service": {"name": "shop-canary", "port": {"number": 80}}}}]}}]})
    );
    let owner = &canary["metadata"]["ownerReferences"][0];
    assert_eq!(
        (&owner["kind"], &owner["name"], owner["uid"].as_str().unwrap()),
        (&json!("Rollout"), &json!("shop"), uid(&c).await.as_str())
    );
    assert_eq!(owner["controller"], json!(true));

    promote_to(&c, 3).await;
    wait_obj(&ing, "shop-shop-ing-canary", "canary-weight 60", weight_is("60")).await;

    ops::abort(&c.admin, &c.ns, "shop").await.unwrap();
    wait_obj(&ing, "shop-shop-ing-canary", "canary-weight 0", weight_is("0")).await;
    wait_for(&c, "shop", 90, "aborted", |r| phase(r) == "Degraded").await;
    // The stable Ingress is never modified.
    let s = wait_obj(&ing, "shop-ing", "exists", |_| true).await;
    assert_eq!(s["metadata"]["annotations"], stable["metadata"]["annotations"]);
    assert_eq!(s["spec"], stable["spec"]);
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smi_traffic_split_weights_and_abort() {
    let crd_of = ("split.smi-spec.io", "v1alpha1", "TrafficSplit", "trafficsplits");
    let Some(c) = setup("smi", Some(crd_of), &[]).await else {
        return;
    };
    let tr = json!({"smi": {"rootService": "shop", "trafficSplitName": "shop-split"}});
    let ctrl = start(&c, steps(), tr, 1).await;
    let splits = api(&c, crd_of.0, crd_of.1, crd_of.2, crd_of.3);
    // v1alpha1 weights are quantities, written as strings; the canary backend first.
    let backends = |canary: &str, stable: &str| {
        json!({"service": "shop", "backends": [
            {"service": "shop-canary", "weight": canary}, {"service": "shop-stable", "weight": stable}]})
    };
    let want = backends("20", "80");
    let split = wait_obj(&splits, "shop-split", "20/80", |o| o["spec"] == want).await;
    let owner = &split["metadata"]["ownerReferences"][0];
    assert_eq!(owner["name"], json!("shop"));
    assert_eq!(owner["uid"].as_str().unwrap(), uid(&c).await);

    promote_to(&c, 3).await;
    let want = backends("60", "40");
    wait_obj(&splits, "shop-split", "60/40", |o| o["spec"] == want).await;

    ops::abort(&c.admin, &c.ns, "shop").await.unwrap();
    let want = backends("0", "100");
    wait_obj(&splits, "shop-split", "0/100", |o| o["spec"] == want).await;
    wait_for(&c, "shop", 90, "aborted", |r| phase(r) == "Degraded").await;
    ctrl.shutdown().await;
}

const ALB_ACTION: &str = "alb.ingress.kubernetes.io/actions.shop-stable";
const ALB_HDR_ACTION: &str = "alb.ingress.kubernetes.io/actions.hdr";
const ALB_HDR_CONDITIONS: &str = "alb.ingress.kubernetes.io/conditions.hdr";
const MANAGED: &str = "rollouts.argoproj.io/managed-alb-annotations";

/// The forward action upstream writes: canary target group first, Go's JSON byte for byte.
fn alb_forward(canary: i64) -> String {
    format!(
        r#"{{"Type":"forward","ForwardConfig":{{"TargetGroups":[{{"ServiceName":"shop-canary","ServicePort":"80","Weight":{canary}}},{{"ServiceName":"shop-stable","ServicePort":"80","Weight":{}}}]}}}}"#,
        100 - canary
    )
}

/// Services of the first rule's paths, in order.
fn path_services(o: &Value) -> Vec<String> {
    o["spec"]["rules"][0]["http"]["paths"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            p["backend"]["service"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alb_action_weights_header_route_and_abort() {
    let Some(c) = setup("alb", None, &[ingress("shop-alb", json!({"other": "kept"}))]).await else {
        return;
    };
    let tr = json!({"managedRoutes": [{"name": "hdr"}],
                    "alb": {"ingress": "shop-alb", "servicePort": 80}});
    let steps = json!([
        {"setWeight": 20},
        {"setHeaderRoute": {"name": "hdr", "match": [{"headerName": "X-Canary", "headerValue": {"exact": "yes"}}]}},
        {"pause": {}},
        {"setWeight": 60},
        {"pause": {}}]);
    let ctrl = start(&c, steps, tr, 2).await;
    let ing = ingresses(&c);
    let action_is = |canary: i64| {
        let want = alb_forward(canary);
        move |o: &Value| o["metadata"]["annotations"][ALB_ACTION] == want.as_str()
    };
    let first = action_is(20);
    let o = wait_obj(&ing, "shop-alb", "20/80 with the header route", |o| {
        first(o) && path_services(o) == ["hdr", "shop-stable"]
    })
    .await;
    let ann = &o["metadata"]["annotations"];
    assert_eq!(
        ann[ALB_HDR_ACTION],
        r#"{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"shop-canary","ServicePort":"80","Weight":100}]}}"#
    );
    assert_eq!(
        ann[ALB_HDR_CONDITIONS],
        r#"[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"X-Canary","values":["yes"]}}]"#
    );
    let managed: Value = serde_json::from_str(ann[MANAGED].as_str().unwrap()).unwrap();
    let mut keys: Vec<&str> = managed["shop"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    keys.sort();
    assert_eq!(keys, [ALB_HDR_ACTION, ALB_ACTION, ALB_HDR_CONDITIONS]);
    assert_eq!(ann["other"], "kept", "annotations we do not own are kept");
    assert_eq!(
        o["spec"]["rules"][0]["http"]["paths"][0],
        json!({"path": "/*", "pathType": "ImplementationSpecific",
               "backend": {"service": {"name": "hdr", "port": {"name": "use-annotation"}}}})
    );

    promote_to(&c, 4).await;
    let second = action_is(60);
    wait_obj(&ing, "shop-alb", "60/40 with the header route", |o| {
        second(o) && path_services(o) == ["hdr", "shop-stable"]
    })
    .await;

    ops::abort(&c.admin, &c.ns, "shop").await.unwrap();
    let back = action_is(0);
    let o = wait_obj(&ing, "shop-alb", "0/100 without the header route", |o| {
        back(o) && path_services(o) == ["shop-stable"]
    })
    .await;
    let ann = &o["metadata"]["annotations"];
    assert!(
        ann.get(ALB_HDR_ACTION).is_none() && ann.get(ALB_HDR_CONDITIONS).is_none(),
        "{ann:#}"
    );
    assert_eq!(ann[MANAGED], format!(r#"{{"shop":["{ALB_ACTION}"]}}"#));
    wait_for(&c, "shop", 90, "aborted", |r| phase(r) == "Degraded").await;
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traefik_weighted_service_weights_and_abort() {
    let crd_of = ("traefik.io", "v1alpha1", "TraefikService", "traefikservices");
    let ts = json!({"apiVersion": "traefik.io/v1alpha1", "kind": "TraefikService",
                    "metadata": {"name": "shop-ts"},
                    "spec": {"weighted": {"sticky": {"cookie": {}}, "services": [
                        {"name": "shop-stable", "port": 80, "weight": 100},
                        {"name": "shop-canary", "port": 80, "weight": 0}]}}});
    let Some(c) = setup("traefik", Some(crd_of), &[ts]).await else {
        return;
    };
    let tr = json!({"traefik": {"weightedTraefikServiceName": "shop-ts"}});
    let ctrl = start(&c, steps(), tr, 1).await;
    let services = api(&c, crd_of.0, crd_of.1, crd_of.2, crd_of.3);
    let weighted = |stable: i64, canary: i64| {
        json!({"sticky": {"cookie": {}}, "services": [
            {"name": "shop-stable", "port": 80, "weight": stable},
            {"name": "shop-canary", "port": 80, "weight": canary}]})
    };
    let want = weighted(80, 20);
    wait_obj(&services, "shop-ts", "80/20", |o| o["spec"]["weighted"] == want).await;

    promote_to(&c, 3).await;
    let want = weighted(40, 60);
    wait_obj(&services, "shop-ts", "40/60", |o| o["spec"]["weighted"] == want).await;

    ops::abort(&c.admin, &c.ns, "shop").await.unwrap();
    let want = weighted(100, 0);
    wait_obj(&services, "shop-ts", "100/0", |o| o["spec"]["weighted"] == want).await;
    wait_for(&c, "shop", 90, "aborted", |r| phase(r) == "Degraded").await;
    ctrl.shutdown().await;
}
