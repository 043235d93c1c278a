//! Header and mirror routes (`setHeaderRoute` / `setMirrorRoute` steps): the simulator's router
//! holds them while the update runs and drops them when it completes.

mod support;

use rollout_core::rollout::Rollout;
use rollout_core::rollout::routing::{HeaderRoute, MirrorRoute};
use rollout_driver::{Applied, TrafficRouter};
use rollout_sim::adapters::{InMemory, World};
use rollout_sim::{Outcome, Scenario, Simulation};
use serde_json::json;

/// The bundled Rollout on Istio with a header route and a mirror route among its steps.
fn rollout_with_routes() -> Rollout {
    let mut v: serde_json::Value = serde_yaml::from_str(&support::read("rollout.yaml")).unwrap();
    let canary = &mut v["spec"]["strategy"]["canary"];
    canary["trafficRouting"] = json!({
        "istio": {"virtualService": {"name": "guestbook", "routes": ["primary"]}},
        "managedRoutes": [{"name": "beta-users"}, {"name": "shadow"}]
    });
    canary["steps"] = json!([
        {"setWeight": 20},
        {"setHeaderRoute": {"name": "beta-users",
                            "match": [{"headerName": "x-beta", "headerValue": {"exact": "1"}}]}},
        {"setMirrorRoute": {"name": "shadow", "match": [{"path": {"prefix": "/"}}], "percentage": 50}},
        {"pause": {"duration": "30s"}},
        {"setWeight": 60},
        {"pause": {"duration": "30s"}}
    ]);
    serde_json::from_value(v).unwrap()
}

#[tokio::test]
async fn the_router_sets_and_removes_managed_routes() {
    let ro = rollout_with_routes();
    let world = World::new(
        ro.clone(),
        std::time::Duration::from_secs(1),
        "2024-01-01T00:00:00Z".parse().unwrap(),
    );
    let io = InMemory::new(world, Vec::new());
    let header: HeaderRoute = serde_json::from_value(
        json!({"name": "beta-users", "match": [{"headerName": "x-beta", "headerValue": {"exact": "1"}}]}),
    )
    .unwrap();
    let mirror: MirrorRoute =
        serde_json::from_value(json!({"name": "shadow", "match": [{"method": {"exact": "GET"}}]})).unwrap();
    assert_eq!(io.set_header_route(&ro, &header).await.unwrap(), Applied::Written);
    assert_eq!(
        io.set_header_route(&ro, &header).await.unwrap(),
        Applied::Unchanged
    );
    assert_eq!(io.set_mirror_route(&ro, &mirror).await.unwrap(), Applied::Written);
    let held: Vec<String> = io.world().cluster.managed_routes.iter().cloned().collect();
    assert_eq!(held, ["beta-users", "shadow"]);
    // A route step without a match removes that route.
    let off: HeaderRoute = serde_json::from_value(json!({"name": "beta-users"})).unwrap();
    assert_eq!(io.set_header_route(&ro, &off).await.unwrap(), Applied::Written);
    let routes = vec!["beta-users".to_string(), "shadow".to_string()];
    assert_eq!(
        io.remove_managed_routes(&ro, &routes).await.unwrap(),
        Applied::Written
    );
    assert!(io.world().cluster.managed_routes.is_empty());
    assert_eq!(
        io.remove_managed_routes(&ro, &routes).await.unwrap(),
        Applied::Unchanged
    );
}

#[tokio::test]
async fn a_rollout_with_route_steps_is_promoted_and_leaves_no_managed_route() {
    let mut input = support::input(Scenario::from_yaml(&support::read("healthy.yaml")).unwrap(), 1);
    input.rollout = rollout_with_routes();
    let sim = Simulation::new(input).await.unwrap();
    let io = sim.adapters().clone();
    let mut steps = Vec::new();
    let mut held_at_pause = Vec::new();
    let report = sim
        .run(&mut |e| {
            if let rollout_sim::log::EventKind::Step { step, .. } = &e.kind {
                steps.push(step.clone());
                if held_at_pause.is_empty() && step.starts_with("pause") {
                    held_at_pause = io.world().cluster.managed_routes.iter().cloned().collect();
                }
            }
        })
        .await
        .unwrap();
    assert_eq!(report.outcome, Outcome::Promoted, "{}", report.reason);
    // Every step ran, the route steps included (then the "all steps done" index).
    assert_eq!(
        steps[..6],
        [
            "setWeight: 20",
            "setHeaderRoute: beta-users",
            "setMirrorRoute: shadow",
            "pause: 30s",
            "setWeight: 60",
            "pause: 30s"
        ]
    );
    assert_eq!(held_at_pause, ["beta-users", "shadow"]);
    assert!(io.world().cluster.managed_routes.is_empty());
}
