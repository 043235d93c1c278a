//! A traffic router this controller does not implement is reported, never silently ignored:
//! `validate` names the field and its line, `plan` and `simulate` refuse to run (issue #15).

mod common;

use common::*;

const ROLLOUT: &str = "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: demo}
spec:
  replicas: 2
  selector: {matchLabels: {app: demo}}
  template:
    metadata: {labels: {app: demo}}
    spec: {containers: [{name: app, image: demo:1}]}
  strategy:
    canary:
      canaryService: demo-canary
      stableService: demo-stable
      trafficRouting:
        ROUTER
      steps:
      - setWeight: 50
";

fn write(name: &str, router: &str) -> std::path::PathBuf {
    let dir = scratch(name);
    let path = dir.join("rollout.yaml");
    std::fs::write(&path, ROLLOUT.replace("ROUTER", router)).unwrap();
    path
}

const UNSUPPORTED: &str =
    "traffic router is not implemented by this controller: traffic would never move to the canary";

#[test]
fn unsupported_router_is_a_problem_in_validate_plan_and_simulate() {
    let file = write("routers-ambassador", "ambassador: {mappings: [demo]}");
    let f = file.display();
    let want = format!(
        "{f}: document 0: spec.strategy.canary.trafficRouting.ambassador: Unsupported value: \"ambassador\": {UNSUPPORTED} (line 15)"
    );
    let o = rollout(&["validate", file.to_str().unwrap()]);
    assert_exit(&o, INVALID);
    let out = stdout(&o);
    assert_eq!(out.lines().next(), Some(want.as_str()), "{out}");
    assert!(out.contains("1 problem(s)"), "{out}");
    for cmd in ["plan", "simulate"] {
        let o = rollout(&[cmd, file.to_str().unwrap()]);
        assert_one_error_line(&o, &want);
        assert_eq!(stdout(&o), "", "{cmd}");
    }
}

#[test]
fn unknown_router_plugin_is_reported_and_the_gateway_plugin_is_accepted() {
    let file = write("routers-plugin", "plugins: {acme/router: {route: x}}");
    let o = rollout(&["validate", file.to_str().unwrap()]);
    assert_exit(&o, INVALID);
    let out = stdout(&o);
    assert!(
        out.contains(&format!(
            "spec.strategy.canary.trafficRouting.plugins[acme/router]: Unsupported value: \"acme/router\": {UNSUPPORTED}"
        )),
        "{out}"
    );
    let ok = write(
        "routers-gateway",
        "plugins: {argoproj-labs/gatewayAPI: {httpRoute: demo}}",
    );
    let o = rollout(&["validate", ok.to_str().unwrap()]);
    assert_exit(&o, PROMOTED);
}
