//! Gateway API traffic routing: the controller sets HTTPRoute backend weights per step and
//! switches the canary/stable Service selectors, on a real API server.

mod common;

use common::*;
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DynamicObject};
use rollout_kube::ops;
use serde_json::json;
use std::time::{Duration, Instant};

async fn weights(api: &Api<DynamicObject>) -> (i64, i64) {
    let r = api.get("shop-route").await.unwrap();
    let b = &r.data["spec"]["rules"][0]["backendRefs"];
    (b[0]["weight"].as_i64().unwrap(), b[1]["weight"].as_i64().unwrap())
}

async fn wait_weights(api: &Api<DynamicObject>, want: (i64, i64)) {
    let start = Instant::now();
    loop {
        let got = weights(api).await;
        if got == want {
            return;
        }
        assert!(
            start.elapsed() < Duration::from_secs(90),
            "HTTPRoute weights {got:?}, want {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn httproute_weights_follow_the_steps() {
    let Some(c) = cluster("gateway").await else { return };
    let routes = install_httproute(&c, "shop").await;

    let ctrl = start_controller(&c);
    let mut ro = rollout(
        "shop",
        2,
        json!([{"setWeight": 30}, {"pause": {}}]),
        "example.invalid/shop:v1",
    );
    route_through_httproute(&mut ro, "shop");
    create(&c, ro).await;
    let v1 = wait_for(&c, "shop", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    let stable = text(&v1, "stableRS").to_string();

    set_image(&c, "shop", "example.invalid/shop:v2").await;
    let p = wait_for(&c, "shop", 90, "paused at step 1", |r| {
        paused(r) && step_index(r) == 1
    })
    .await;
    wait_weights(&routes, (70, 30)).await;
    let canary = text(&p, "currentPodHash").to_string();
    let services: Api<Service> = Api::namespaced(c.admin.clone(), &c.ns);
    let selector = |s: Service| s.spec.unwrap().selector.unwrap()["rollouts-pod-template-hash"].clone();
    assert_eq!(selector(services.get("shop-canary").await.unwrap()), canary);
    assert_eq!(selector(services.get("shop-stable").await.unwrap()), stable);

    ops::promote(&c.admin, &c.ns, "shop", false).await.unwrap();
    wait_for(&c, "shop", 120, "promoted", healthy_at_new_revision).await;
    wait_weights(&routes, (100, 0)).await;
    let start = Instant::now();
    while selector(services.get("shop-stable").await.unwrap()) != canary {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "stable Service never switched to {canary}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    ctrl.shutdown().await;
}
