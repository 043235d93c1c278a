//! `rollout simulate --policy` and `rollout validate` on trigger policies: a customer trigger with
//! the fast profile finishes sooner; a hold policy ends Paused (exit 4) where rollback ends
//! Aborted (exit 3); an invalid policy is refused with its field paths.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn policy_file() -> PathBuf {
    Path::new(ROOT).join("examples/policy/policy.yaml")
}

fn analysis_file() -> PathBuf {
    scenarios().join("analysis.yaml")
}

/// The example Rollout with `rollout.io/trigger: TRIGGER` (no annotation for `None`), in `dir`.
fn rollout_with(dir: &Path, trigger: Option<&str>) -> PathBuf {
    let text = std::fs::read_to_string(Path::new(ROOT).join("examples/policy/rollout.yaml")).unwrap();
    let line = "    rollout.io/trigger: customer\n";
    assert!(text.contains(line));
    let text = match trigger {
        Some(t) => text.replace(line, &format!("    rollout.io/trigger: {t}\n")),
        None => text.replace(&format!("  annotations:\n{line}"), ""),
    };
    let path = dir.join(format!("rollout-{}.yaml", trigger.unwrap_or("none")));
    std::fs::write(&path, text).unwrap();
    path
}

/// `rollout simulate ROLLOUT --analysis ... --scenario SCENARIO --json [--policy ...]`: the
/// exit code and the JSON report.
fn simulate(ro: &Path, scenario: &str, policy: Option<&Path>) -> (i32, serde_json::Value) {
    let analysis = analysis_file();
    let mut args = vec![
        "simulate",
        ro.to_str().unwrap(),
        "--analysis",
        analysis.to_str().unwrap(),
        "--scenario",
        scenario,
        "--json",
    ];
    if let Some(p) = policy {
        args.extend(["--policy", p.to_str().unwrap()]);
    }
    let o = rollout(&args);
    let v =
        serde_json::from_str(&stdout(&o)).unwrap_or_else(|e| panic!("{e}: {}\n{}", stdout(&o), stderr(&o)));
    (o.status.code().unwrap(), v)
}

#[test]
fn a_customer_trigger_with_the_fast_profile_finishes_sooner() {
    let dir = scratch("policy-fast");
    let policy = policy_file();
    let (code, internal) = simulate(&rollout_with(&dir, Some("internal")), "healthy", Some(&policy));
    assert_eq!(
        (code, internal["outcome"].as_str()),
        (PROMOTED, Some("promoted")),
        "{internal:#}"
    );
    let (code, customer) = simulate(&rollout_with(&dir, Some("customer")), "healthy", Some(&policy));
    assert_eq!(
        (code, customer["outcome"].as_str()),
        (PROMOTED, Some("promoted")),
        "{customer:#}"
    );
    let minutes = |v: &serde_json::Value| v["duration_secs"].as_f64().unwrap() / 60.0;
    assert!(
        minutes(&customer) < minutes(&internal),
        "customer {} min, internal {} min",
        minutes(&customer),
        minutes(&internal)
    );
    // The fast profile has 4 steps and no analysis step; the internal run has the Rollout's 8.
    assert!(
        customer["reason"]
            .as_str()
            .unwrap()
            .starts_with("all 4 steps completed"),
        "{}",
        customer["reason"]
    );
    assert!(
        internal["reason"]
            .as_str()
            .unwrap()
            .starts_with("all 8 steps completed"),
        "{}",
        internal["reason"]
    );
    // Without a policy the customer-annotated Rollout runs as written.
    let (_, unpolicied) = simulate(&rollout_with(&dir, Some("customer")), "healthy", None);
    assert!(
        unpolicied["reason"]
            .as_str()
            .unwrap()
            .starts_with("all 8 steps completed"),
        "{}",
        unpolicied["reason"]
    );
}

#[test]
fn hold_policy_pauses_where_rollback_aborts() {
    let dir = scratch("policy-hold");
    let policy = policy_file();
    // `internal` rolls back (as without a policy); `oncall` holds the failed analysis.
    let (code, rolled_back) = simulate(
        &rollout_with(&dir, Some("internal")),
        "error-spike",
        Some(&policy),
    );
    assert_eq!(code, ABORTED, "{rolled_back:#}");
    assert_eq!(rolled_back["outcome"], "aborted");
    let (code, held) = simulate(&rollout_with(&dir, Some("oncall")), "error-spike", Some(&policy));
    assert_eq!(code, PAUSED, "{held:#}");
    assert_eq!(held["outcome"], "paused");
    let reason = held["reason"].as_str().unwrap();
    assert!(
        reason
            .starts_with("PolicyHold, not rolled back: the policy (trigger oncall) holds a failed analysis"),
        "{reason}"
    );
    assert!(reason.contains("Failed (judge: regression)"), "{reason}");
    assert!(reason.ends_with("waiting for promote or abort"), "{reason}");
    // No annotation: the policy's default (internal) rolls back.
    let (code, _) = simulate(&rollout_with(&dir, None), "error-spike", Some(&policy));
    assert_eq!(code, ABORTED);
}

#[test]
fn invalid_policies_are_refused_with_their_field_paths() {
    let dir = scratch("policy-invalid");
    let bad = dir.join("bad-policy.yaml");
    std::fs::write(
        &bad,
        "kind: RolloutPolicy\ndefault: internal\nprofiles:\n  fast:\n    steps:\n    - setWeight: 25\n    - setWeight: 50\n    - pause: {duration: soon}\ntriggers:\n  customer: {profile: faster}\n",
    )
    .unwrap();
    let ro = rollout_with(&dir, Some("customer"));
    let analysis = analysis_file();
    let o = rollout(&[
        "simulate",
        ro.to_str().unwrap(),
        "--analysis",
        analysis.to_str().unwrap(),
        "--policy",
        bad.to_str().unwrap(),
    ]);
    assert_exit(&o, ERROR);
    let err = stderr(&o);
    for path in [
        "default: ",
        "triggers.customer.profile: ",
        "profiles.fast.steps[2].pause.duration: ",
    ] {
        assert!(err.contains(path), "{path}: {err}");
    }
    // `rollout validate` detects the kind and reports each problem with its line.
    let o = rollout(&["validate", bad.to_str().unwrap()]);
    assert_exit(&o, INVALID);
    let out = stdout(&o);
    assert!(
        out.contains("document 0: profiles.fast.steps[2].pause.duration: Invalid value: -1: ")
            && out.contains("(line 8)"),
        "{out}"
    );
    assert!(out.contains("document 0: triggers.customer.profile: "), "{out}");
    assert!(out.contains("1 document(s) checked"), "{out}");
    // A typo is an error with its path, not silently ignored.
    std::fs::write(
        &bad,
        "kind: RolloutPolicy\ntriggers:\n  customer: {onFailur: hold}\n",
    )
    .unwrap();
    let o = rollout(&["validate", bad.to_str().unwrap()]);
    assert_exit(&o, INVALID);
    assert!(stdout(&o).contains("triggers.customer"), "{}", stdout(&o));
    // The example policy is valid.
    let o = rollout(&["validate", policy_file().to_str().unwrap()]);
    assert_exit(&o, PROMOTED);
    assert!(
        stdout(&o).contains("1 document(s) checked, 0 skipped"),
        "{}",
        stdout(&o)
    );
}
