//! ALB router table tests, cases from upstream `rollout/trafficrouting/alb/alb_test.go`.

use rollout_core::rollout::routing::alb::{self, AlbConfig, MANAGED_ANNOTATIONS, Stickiness};
use rollout_core::rollout::routing::{
    HeaderRoute, HeaderRoutingMatch, RoutingError, Services, StringMatch, Weights, apply_merge_patch,
};
use serde_json::{Value, json};

fn svcs() -> Services {
    Services {
        canary: "canary-svc".into(),
        stable: "stable-svc".into(),
    }
}

fn cfg() -> AlbConfig {
    AlbConfig {
        ingress: "ingress".into(),
        service_port: 443,
        ..Default::default()
    }
}

/// Upstream's `actionTemplate` as Go marshals it.
fn action(canary: i32) -> String {
    format!(
        r#"{{"Type":"forward","ForwardConfig":{{"TargetGroups":[{{"ServiceName":"canary-svc","ServicePort":"443","Weight":{canary}}},{{"ServiceName":"stable-svc","ServicePort":"443","Weight":{}}}]}}}}"#,
        100 - canary
    )
}

/// Upstream's `ingress()` fixture: one rule whose path uses `action_service`'s action.
fn ingress(action_service: &str, weight: Option<i32>) -> Value {
    let mut ann = json!({});
    if let Some(w) = weight {
        let key = format!("alb.ingress.kubernetes.io/actions.{action_service}");
        ann[key.as_str()] = json!(action(w));
        ann[MANAGED_ANNOTATIONS] = json!(format!(r#"{{"rollout":["{key}"]}}"#));
    }
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": "ingress", "namespace": "default", "annotations": ann},
        "spec": {"rules": [{"http": {"paths": [
            {"backend": {"service": {"name": action_service, "port": {"name": "use-annotation"}}}}]}}]}
    })
}

fn apply(obj: &Value, patch: Option<Value>) -> Value {
    let mut o = obj.clone();
    apply_merge_patch(&mut o, &patch.expect("a change"));
    o
}

#[test]
fn initial_weight_writes_the_action_and_the_managed_record() {
    let ing = ingress("stable-svc", None);
    let patch = alb::set_weight(&ing, "rollout", &cfg(), &svcs(), &Weights::new(10)).unwrap();
    assert_eq!(
        patch,
        Some(json!({"metadata": {"annotations": {
            "alb.ingress.kubernetes.io/actions.stable-svc": action(10),
            MANAGED_ANNOTATIONS: r#"{"rollout":["alb.ingress.kubernetes.io/actions.stable-svc"]}"#
        }}}))
    );
}

#[test]
fn updates_only_the_action_and_no_change_is_none() {
    let ing = ingress("stable-svc", Some(5));
    assert_eq!(
        alb::set_weight(&ing, "rollout", &cfg(), &svcs(), &Weights::new(10)).unwrap(),
        Some(
            json!({"metadata": {"annotations": {"alb.ingress.kubernetes.io/actions.stable-svc": action(10)}}})
        )
    );
    assert_eq!(
        alb::set_weight(&ing, "rollout", &cfg(), &svcs(), &Weights::new(5)).unwrap(),
        None
    );
}

#[test]
fn root_service_names_the_action_and_stickiness_is_written() {
    let mut c = cfg();
    c.root_service = "root-svc".into();
    c.stickiness_config = Some(Stickiness {
        enabled: true,
        duration_seconds: 300,
    });
    let ing = ingress("root-svc", None);
    let out = apply(
        &ing,
        alb::set_weight(&ing, "rollout", &c, &svcs(), &Weights::new(0)).unwrap(),
    );
    assert_eq!(
        out["metadata"]["annotations"]["alb.ingress.kubernetes.io/actions.root-svc"],
        r#"{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary-svc","ServicePort":"443","Weight":0},{"ServiceName":"stable-svc","ServicePort":"443","Weight":100}],"TargetGroupStickinessConfig":{"Enabled":true,"DurationSeconds":300}}}"#
    );
    for bad in [0, 604_801] {
        c.stickiness_config = Some(Stickiness {
            enabled: true,
            duration_seconds: bad,
        });
        assert!(matches!(
            alb::set_weight(&ing, "rollout", &c, &svcs(), &Weights::new(0)),
            Err(RoutingError::Config { .. })
        ));
    }
}

#[test]
fn service_missing_from_rules_is_an_error() {
    let ing = ingress("other", None);
    let e = alb::set_weight(&ing, "rollout", &cfg(), &svcs(), &Weights::new(10)).unwrap_err();
    assert!(
        e.to_string()
            .contains("ingress does not have service `stable-svc` in rules"),
        "{e}"
    );
}

#[test]
fn header_route_adds_action_condition_and_first_path_then_is_removed() {
    let ing = ingress("action1", Some(10));
    let managed = vec!["header-route".to_string()];
    let hr = HeaderRoute {
        name: "header-route".into(),
        matches: Some(vec![
            HeaderRoutingMatch {
                header_name: "origin".into(),
                header_value: StringMatch {
                    exact: Some("https://www.fake-origin1.com".into()),
                    ..Default::default()
                },
            },
            HeaderRoutingMatch {
                header_name: "origin".into(),
                header_value: StringMatch {
                    exact: Some("https://www.fake-origin2.com".into()),
                    ..Default::default()
                },
            },
            HeaderRoutingMatch {
                header_name: "Agent".into(),
                header_value: StringMatch {
                    prefix: Some("Chrome".into()),
                    ..Default::default()
                },
            },
        ]),
    };
    let out = apply(
        &ing,
        alb::set_header_route(&ing, "rollout", &cfg(), &svcs(), &hr, &managed).unwrap(),
    );
    let ann = &out["metadata"]["annotations"];
    assert_eq!(
        ann["alb.ingress.kubernetes.io/actions.header-route"],
        r#"{"Type":"forward","ForwardConfig":{"TargetGroups":[{"ServiceName":"canary-svc","ServicePort":"443","Weight":100}]}}"#
    );
    assert_eq!(
        ann["alb.ingress.kubernetes.io/conditions.header-route"],
        r#"[{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"origin","values":["https://www.fake-origin1.com","https://www.fake-origin2.com"]}},{"field":"http-header","httpHeaderConfig":{"httpHeaderName":"Agent","values":["Chrome*"]}}]"#
    );
    assert_eq!(
        ann[MANAGED_ANNOTATIONS],
        r#"{"rollout":["alb.ingress.kubernetes.io/actions.action1","alb.ingress.kubernetes.io/actions.header-route","alb.ingress.kubernetes.io/conditions.header-route"]}"#
    );
    assert_eq!(
        out["spec"]["rules"][0]["http"]["paths"],
        json!([
            {"path": "/*", "pathType": "ImplementationSpecific",
             "backend": {"service": {"name": "header-route", "port": {"name": "use-annotation"}}}},
            {"backend": {"service": {"name": "action1", "port": {"name": "use-annotation"}}}}
        ])
    );
    assert_eq!(
        alb::set_header_route(&out, "rollout", &cfg(), &svcs(), &hr, &managed).unwrap(),
        None
    );
    // Removing: by a step without match, and by RemoveManagedRoutes.
    let removed = HeaderRoute {
        name: "header-route".into(),
        matches: None,
    };
    let back = apply(
        &out,
        alb::set_header_route(&out, "rollout", &cfg(), &svcs(), &removed, &managed).unwrap(),
    );
    let cleaned = apply(
        &out,
        alb::remove_managed_routes(&out, "rollout", &cfg(), &managed).unwrap(),
    );
    assert_eq!(back, cleaned);
    assert_eq!(back["spec"], ing["spec"]);
    assert_eq!(
        back["metadata"]["annotations"][MANAGED_ANNOTATIONS],
        r#"{"rollout":["alb.ingress.kubernetes.io/actions.action1"]}"#
    );
    assert!(
        back["metadata"]["annotations"]
            .get("alb.ingress.kubernetes.io/actions.header-route")
            .is_none()
    );
    assert_eq!(
        alb::remove_managed_routes(&back, "rollout", &cfg(), &managed).unwrap(),
        None
    );
    assert_eq!(
        alb::remove_managed_routes(&out, "rollout", &cfg(), &[]).unwrap(),
        None
    );
}

#[test]
fn regex_header_values_are_rejected() {
    let ing = ingress("action1", Some(10));
    let hr = HeaderRoute {
        name: "h".into(),
        matches: Some(vec![HeaderRoutingMatch {
            header_name: "Agent".into(),
            header_value: StringMatch {
                regex: Some("Chr.*".into()),
                ..Default::default()
            },
        }]),
    };
    assert!(matches!(
        alb::set_header_route(&ing, "rollout", &cfg(), &svcs(), &hr, &[]),
        Err(RoutingError::Config { .. })
    ));
}

#[test]
fn config_lists_ingresses() {
    let c = AlbConfig::parse(&json!({"ingresses": ["a", "b"], "servicePort": 80})).unwrap();
    assert_eq!(c.ingress_names(), ["a", "b"]);
    assert_eq!(c.action_key("svc"), "alb.ingress.kubernetes.io/actions.svc");
    assert_eq!(c.condition_key("r"), "alb.ingress.kubernetes.io/conditions.r");
}
