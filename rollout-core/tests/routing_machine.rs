//! Header and mirror routes are machine decisions (issue #15): a `setHeaderRoute` /
//! `setMirrorRoute` step emits its route and completes in that tick; the managed routes are
//! removed once when the update completes, is aborted or is replaced.

mod rollout_support;

use rollout_core::rollout::routing::{HeaderRoute, HeaderRoutingMatch, MirrorRoute, RouteMatch, StringMatch};
use rollout_core::rollout::{Action, RolloutPhase};
use rollout_core::testing::FakeCluster;
use rollout_support::*;
use serde_json::json;

fn istio(steps: serde_json::Value) -> rollout_core::rollout::Rollout {
    canary(
        4,
        steps,
        json!({
            "canaryService": "demo-canary", "stableService": "demo-stable",
            "trafficRouting": {
                "managedRoutes": [{"name": "hdr"}, {"name": "mirror"}],
                "istio": {"virtualService": {"name": "vs", "routes": ["primary"]}}
            }
        }),
    )
}

const STEPS: &str = r#"[
  {"setWeight": 25},
  {"setHeaderRoute": {"name": "hdr", "match": [{"headerName": "X-Canary", "headerValue": {"exact": "yes"}}]}},
  {"setMirrorRoute": {"name": "mirror", "percentage": 30, "match": [{"method": {"exact": "GET"}}]}},
  {"pause": {}},
  {"setHeaderRoute": {"name": "hdr"}},
  {"pause": {}}
]"#;

fn steps() -> serde_json::Value {
    serde_json::from_str(STEPS).unwrap()
}

/// The route actions of the log, in order, as short strings.
fn route_log(c: &FakeCluster) -> Vec<String> {
    c.log
        .iter()
        .filter_map(|a| match a {
            Action::SetHeaderRoute(h) => Some(format!(
                "header {} {}",
                h.name,
                h.matches.as_ref().map_or(0, Vec::len)
            )),
            Action::SetMirrorRoute(m) => Some(format!("mirror {} {}", m.name, m.percent())),
            Action::RemoveManagedRoutes { routes } => Some(format!("remove {}", routes.join(","))),
            Action::SetTrafficWeight { weight, .. } => Some(format!("weight {weight}")),
            _ => None,
        })
        .collect()
}

fn paused_at(c: &FakeCluster, idx: i32) -> bool {
    c.rollout.status.controller_pause && c.rollout.status.current_step_index == Some(idx)
}

#[test]
fn routes_are_set_by_their_steps_and_removed_on_completion() {
    let mut c = deployed(istio(steps()));
    c.set_image("demo:v2");
    tick_until(&mut c, 40, |c| paused_at(c, 3));
    assert_eq!(
        route_log(&c),
        [
            "weight 0",
            "weight 0",
            "weight 25",
            "header hdr 1",
            "mirror mirror 30"
        ],
        "the header and mirror steps each emitted their route once"
    );
    let header = c.log.iter().find_map(|a| match a {
        Action::SetHeaderRoute(h) => Some(h.clone()),
        _ => None,
    });
    assert_eq!(
        header,
        Some(HeaderRoute {
            name: "hdr".into(),
            matches: Some(vec![HeaderRoutingMatch {
                header_name: "X-Canary".into(),
                header_value: StringMatch {
                    exact: Some("yes".into()),
                    ..Default::default()
                },
            }]),
        })
    );
    let mirror = c.log.iter().find_map(|a| match a {
        Action::SetMirrorRoute(m) => Some(m.clone()),
        _ => None,
    });
    assert_eq!(
        mirror,
        Some(MirrorRoute {
            name: "mirror".into(),
            matches: Some(vec![RouteMatch {
                method: Some(StringMatch {
                    exact: Some("GET".into()),
                    ..Default::default()
                }),
                ..Default::default()
            }]),
            percentage: Some(30),
        })
    );
    let completed: Vec<String> = events_with(&c, "RolloutStepCompleted");
    assert!(
        completed.iter().any(|m| m.contains("(setHeaderRoute: hdr)")),
        "{completed:?}"
    );
    c.promote();
    tick_until(&mut c, 40, |c| paused_at(c, 5));
    assert_eq!(
        route_log(&c)[5..],
        ["header hdr 0"],
        "a header step without match removes the route"
    );
    c.promote();
    c.settle(80, true);
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    let log = route_log(&c);
    let removes: Vec<&String> = log.iter().filter(|l| l.starts_with("remove")).collect();
    assert_eq!(removes, ["remove hdr,mirror"], "{log:?}");
}

#[test]
fn abort_removes_the_routes_once_and_does_not_set_them_again() {
    let mut c = deployed(istio(steps()));
    c.set_image("demo:v2");
    tick_until(&mut c, 40, |c| paused_at(c, 3));
    c.abort();
    c.settle(40, true);
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Degraded));
    let log = route_log(&c);
    assert_eq!(
        log.iter().filter(|l| l.starts_with("remove")).count(),
        1,
        "{log:?}"
    );
    let after_abort: Vec<&String> = log.iter().skip_while(|l| !l.starts_with("remove")).collect();
    assert!(
        after_abort
            .iter()
            .all(|l| !l.starts_with("header") && !l.starts_with("mirror")),
        "{log:?}"
    );
}

#[test]
fn a_newer_revision_removes_the_routes_of_the_replaced_update() {
    let mut c = deployed(istio(steps()));
    c.set_image("demo:v2");
    tick_until(&mut c, 40, |c| paused_at(c, 3));
    c.set_image("demo:v3");
    let before = c.log.len();
    for _ in 0..3 {
        c.tick();
    }
    let removes: Vec<&Action> = c.log[before..]
        .iter()
        .filter(|a| matches!(a, Action::RemoveManagedRoutes { .. }))
        .collect();
    assert_eq!(
        removes,
        [&Action::RemoveManagedRoutes {
            routes: vec!["hdr".into(), "mirror".into()]
        }]
    );
}

#[test]
fn first_deploys_emit_no_route_actions() {
    let mut c = deployed(istio(steps()));
    assert!(
        route_log(&c).iter().all(|l| l.starts_with("weight")),
        "{:?}",
        route_log(&c)
    );
    c.settle(10, true);
    assert!(
        !c.log
            .iter()
            .any(|a| matches!(a, Action::RemoveManagedRoutes { .. }))
    );
}
