//! Step descriptions in `RolloutStepCompleted` events, as upstream's `CanaryStepString` writes
//! them (`utils/rollout/rolloututil.go`).

mod rollout_support;

use rollout_core::rollout::CanaryStep;
use rollout_support::*;
use serde_json::json;

fn step(v: serde_json::Value) -> CanaryStep {
    serde_json::from_value(v).unwrap()
}

#[test]
fn each_step_kind_is_described_like_upstream() {
    let table = [
        (json!({"setWeight": 20}), "setWeight: 20"),
        (json!({"setWeight": 0}), "setWeight: 0"),
        (json!({"pause": {}}), "pause"),
        (json!({"pause": {"duration": 10}}), "pause: 10"),
        (json!({"pause": {"duration": "10s"}}), "pause: 10s"),
        (json!({"pause": {"duration": "1h"}}), "pause: 1h"),
        (json!({"experiment": {"templates": []}}), "experiment"),
        (
            json!({"analysis": {"templates": [{"templateName": "t"}]}}),
            "analysis",
        ),
        (
            json!({"setCanaryScale": {"weight": 20}}),
            "setCanaryScale{weight: 20}",
        ),
        (
            json!({"setCanaryScale": {"matchTrafficWeight": true}}),
            "setCanaryScale{matchTrafficWeight: true}",
        ),
        (
            json!({"setCanaryScale": {"replicas": 5}}),
            "setCanaryScale{replicas: 5}",
        ),
        (
            json!({"setCanaryScale": {"replicas": 0}}),
            "setCanaryScale{replicas: 0}",
        ),
        // Upstream checks weight first, then matchTrafficWeight, then replicas.
        (
            json!({"setCanaryScale": {"weight": 30, "replicas": 2}}),
            "setCanaryScale{weight: 30}",
        ),
        (
            json!({"setCanaryScale": {"matchTrafficWeight": true, "replicas": 2}}),
            "setCanaryScale{matchTrafficWeight: true}",
        ),
        (json!({"plugin": {"name": "foo", "config": {}}}), "plugin: foo"),
        (
            json!({"setHeaderRoute": {"name": "foo", "match": []}}),
            "setHeaderRoute: foo",
        ),
        (
            json!({"setMirrorRoute": {"name": "bar", "percentage": 50}}),
            "setMirrorRoute: bar",
        ),
        // A missing name prints as Go's empty string.
        (json!({"setHeaderRoute": {}}), "setHeaderRoute: "),
        // An empty setCanaryScale says nothing, so the next set field (or "invalid") is used.
        (json!({"setCanaryScale": {}}), "invalid"),
        (
            json!({"setCanaryScale": {}, "setMirrorRoute": {"name": "m"}}),
            "setMirrorRoute: m",
        ),
        // Upstream's order when several are set: plugin before header and mirror routes.
        (
            json!({"setHeaderRoute": {"name": "h"}, "plugin": {"name": "p"}}),
            "plugin: p",
        ),
        (
            json!({"setMirrorRoute": {"name": "m"}, "setHeaderRoute": {"name": "h"}}),
            "setHeaderRoute: h",
        ),
        (json!({}), "invalid"),
    ];
    for (input, want) in table {
        assert_eq!(step(input.clone()).describe(), want, "{input}");
    }
}

#[test]
fn step_completed_events_carry_the_description() {
    let ro = canary(
        10,
        json!([
            {"setCanaryScale": {"weight": 20}},
            {"setWeight": 20},
            {"setCanaryScale": {"replicas": 3}},
            {"setCanaryScale": {"matchTrafficWeight": true}},
            {"pause": {"duration": 5}}
        ]),
        json!({
            "canaryService": "demo-canary", "stableService": "demo-stable",
            "trafficRouting": {"alb": {"ingress": "demo", "servicePort": 80}}
        }),
    );
    let mut c = deployed(ro);
    c.set_image("demo:v2");
    tick_until(&mut c, 200, |c| events_with(c, "RolloutStepCompleted").len() == 5);
    assert_eq!(
        events_with(&c, "RolloutStepCompleted"),
        [
            "Rollout step 1/5 completed (setCanaryScale{weight: 20})",
            "Rollout step 2/5 completed (setWeight: 20)",
            "Rollout step 3/5 completed (setCanaryScale{replicas: 3})",
            "Rollout step 4/5 completed (setCanaryScale{matchTrafficWeight: true})",
            "Rollout step 5/5 completed (pause: 5)",
        ]
    );
}
