//! Without a cluster: `rollout simulate --dry-run` shows the withheld actions and a steady dry run
//! (no writes, no events after the first tick); `rollout migrate -f` writes the Rollout and the
//! hand-over plan from a Deployment file; `--help` lists the new commands and exit code 7.

use std::process::Command;

use serde_json::Value;

fn rollout() -> Command {
    Command::new(env!("CARGO_BIN_EXE_rollout"))
}

const DEPLOYMENT: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  replicas: 4
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: app
        image: example.invalid/web:v1
";

fn temp_file(name: &str, text: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("rollout-dry-run-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

#[test]
fn simulate_dry_run_shows_the_withheld_actions_once() {
    let out = rollout()
        .args(["simulate", "--dry-run", "--json"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let withheld = report["withheld"].as_array().unwrap();
    assert!(
        withheld.iter().any(|a| a["action"] == "createReplicaSet"),
        "{report:#}"
    );
    assert_eq!(report["replicaSets"], 0, "nothing created");
    let events: Vec<i64> = report["eventsPerTick"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    let writes: Vec<i64> = report["writesPerTick"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_i64().unwrap())
        .collect();
    assert!(
        events[0] >= withheld.len() as i64,
        "one event per withheld action (and the machine's own)"
    );
    assert_eq!(
        (&events[1..], writes.as_slice()),
        (&[0, 0][..], &[1, 0, 0][..]),
        "steady: {report:#}"
    );
    assert!(
        report["condition"].as_str().unwrap().starts_with("dry run: "),
        "{report:#}"
    );

    let text = rollout().args(["simulate", "--dry-run"]).output().unwrap();
    let text = String::from_utf8(text.stdout).unwrap();
    assert!(text.contains("  would create ReplicaSet "), "{text}");
    assert!(
        text.contains("tick 2 (+10s): 0 events, 0 status writes"),
        "{text}"
    );
}

#[test]
fn simulate_dry_run_of_a_workload_ref_rollout_reads_the_deployment() {
    let ro = "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: web}
spec:
  replicas: 4
  workloadRef: {apiVersion: apps/v1, kind: Deployment, name: web, scaleDown: progressively}
  strategy:
    canary:
      steps: [{setWeight: 50}, {pause: {}}]
";
    let rollout_file = temp_file("ro.yaml", ro);
    let deployment = temp_file("dep.yaml", DEPLOYMENT);
    let out = rollout()
        .args(["simulate", "--dry-run"])
        .arg(&rollout_file)
        .arg("--workload")
        .arg(&deployment)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("with 4 replicas"), "{text}");
}

#[test]
fn migrate_from_a_file_writes_the_rollout_and_the_plan() {
    let path = temp_file("deployment.yaml", DEPLOYMENT);
    // Default: the Rollout as YAML on stdout, the plan on stderr.
    let out = rollout().args(["migrate", "-f"]).arg(&path).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let ro: Value = serde_yaml::from_slice(&out.stdout).unwrap();
    assert_eq!(ro["kind"], "Rollout");
    assert_eq!(ro["metadata"]["namespace"], "shop");
    assert_eq!(ro["spec"]["workloadRef"]["scaleDown"], "progressively");
    let plan = String::from_utf8(out.stderr).unwrap();
    assert!(
        plan.contains("Peak: 8 pods (4 more than now); fewest ready: 4."),
        "{plan}"
    );
    assert!(plan.contains("Quota: not checked"), "{plan}");

    let out = rollout()
        .args([
            "migrate",
            "--dry-run",
            "-o",
            "json",
            "--scale-down",
            "onsuccess",
            "--replicas",
            "2",
            "-f",
        ])
        .arg(&path)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let plan: Value = serde_json::from_slice(&out.stdout).unwrap();
    let moments: Vec<(i64, i64)> = plan["handOver"]["moments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["rollout"].as_i64().unwrap(), m["deployment"].as_i64().unwrap()))
        .collect();
    assert_eq!(moments, [(0, 4), (2, 4), (2, 0)]);
    assert_eq!(plan["quota"], Value::Null);
    assert_eq!(plan["revert"], "rollout revert web -n shop");

    let bad = temp_file("bad.yaml", "kind: Deployment\nmetadata: {name: x}\nspec: {}\n");
    let out = rollout().args(["migrate", "-f"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim(),
        "error: Deployment x: spec.selector: required"
    );
}

#[test]
fn help_lists_migrate_revert_and_exit_code_7() {
    let out = rollout().arg("--help").output().unwrap();
    let help = String::from_utf8(out.stdout).unwrap();
    for want in [
        "  migrate ",
        "  revert ",
        "  7  migrate: a ResourceQuota would refuse",
    ] {
        assert!(help.contains(want), "{want:?} not in\n{help}");
    }
}
