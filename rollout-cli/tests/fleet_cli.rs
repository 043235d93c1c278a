//! `rollout fleet simulate`: the bundled plans as text, JSON and HTML, and bad input refused with
//! one `error:` line naming the field.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn plan(file: &str) -> PathBuf {
    Path::new(ROOT).join("examples/fleet").join(file)
}

#[test]
fn a_good_release_goes_to_every_environment() {
    let o = rollout(&["fleet", "simulate", plan("plan.yaml").to_str().unwrap()]);
    assert_exit(&o, PROMOTED);
    let out = stdout(&o);
    assert!(
        out.starts_with(
            "fleet: good-release — release v2.4.0 to 17000 environments (seed 7; 0 with a regression)\n"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "test: wald-sprt baseline 1.00%, alternative 3.00%, false-alarm rate 5% (halt when Λ ≥ 3.00)"
        ),
        "{out}"
    );
    for wave in [
        "canary-ring",
        "one-percent",
        "five-percent",
        "quarter",
        "everyone",
    ] {
        assert!(out.lines().any(|l| l.starts_with(wave)), "{wave}: {out}");
    }
    assert_eq!(summary_line(&out, "decision:"), "complete: every wave released");
    assert_eq!(
        summary_line(&out, "exposed:"),
        "17000 of 17000 environments (0 with the regression)"
    );
    assert!(out.contains("environment-issue (fails-other-releases)"), "{out}");
    assert!(
        out.contains("transient (provider-unreachable)") || out.contains("transient (retry-succeeded)"),
        "{out}"
    );
}

#[test]
fn a_bad_release_is_halted_with_its_evidence_text_json_and_html() {
    let dir = scratch("fleet");
    let bad = plan("bad-release.yaml");
    let o = rollout_in(
        &dir,
        &[
            "fleet",
            "simulate",
            bad.to_str().unwrap(),
            "--report",
            "fleet.html",
        ],
    );
    assert_exit(&o, PROMOTED);
    let out = stdout(&o);
    let decision = summary_line(&out, "decision:");
    assert!(
        decision.starts_with("halted after wave ") && decision.contains(": release issue: "),
        "{out}"
    );
    assert!(decision.contains("wald-sprt log-likelihood ratio"), "{out}");
    assert!(out.contains("release-issue"), "{out}");
    assert!(
        summary_line(&out, "exposed:").contains(" of 17000 environments ("),
        "{out}"
    );
    assert_eq!(summary_line(&out, "report:"), "fleet.html");
    let html = std::fs::read_to_string(dir.join("fleet.html")).unwrap();
    assert!(html.starts_with("<!DOCTYPE html>") && html.contains("<svg") && html.contains("release-issue"));
    assert!(html.contains("halted after wave "));

    let o = rollout(&["fleet", "simulate", bad.to_str().unwrap(), "--output", "json"]);
    assert_exit(&o, PROMOTED);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["decision"]["decision"], "halt");
    assert_eq!(v["decision"]["reason"], "release-issue");
    let e = &v["decision"]["evidence"];
    assert_eq!(e["test"], "wald-sprt");
    assert!(e["statistic"].as_f64().unwrap() >= e["threshold"].as_f64().unwrap());
    assert!(e["failures"].as_u64().unwrap() >= e["failuresToHalt"].as_u64().unwrap());
    assert_eq!(e["baseline"], 0.01);
    assert!(v["exposed"].as_u64().unwrap() < 17_000);
    assert!(v["waves"].as_array().unwrap().len() < 5);
    // The seed changes the run.
    let o3 = rollout(&[
        "fleet",
        "simulate",
        bad.to_str().unwrap(),
        "--output",
        "json",
        "--seed",
        "3",
    ]);
    let v3: serde_json::Value = serde_json::from_str(&stdout(&o3)).unwrap();
    assert_eq!(v3["seed"], 3);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_is_one_error_line_naming_the_field() {
    let dir = scratch("fleet-bad");
    let text = std::fs::read_to_string(plan("plan.yaml")).unwrap();
    let write = |name: &str, body: &str| {
        let p = dir.join(name);
        std::fs::write(&p, body).unwrap();
        p.to_str().unwrap().to_string()
    };
    let bad_rate = write(
        "rate.yaml",
        &text.replace("falseAlarmRate: 0.05", "falseAlarmRate: 0.9"),
    );
    let o = rollout(&["fleet", "simulate", &bad_rate]);
    assert_one_error_line(
        &o,
        &format!("{bad_rate}: fleet plan: plan.test.falseAlarmRate: Invalid value: 0.9"),
    );
    let unknown = write("unknown.yaml", &text.replace("faultRate:", "faultrate:"));
    let o = rollout(&["fleet", "simulate", &unknown]);
    assert_one_error_line(
        &o,
        &format!("{unknown}: fleet plan YAML: fleet: unknown field `faultrate`"),
    );
    let o = rollout(&[
        "fleet",
        "simulate",
        plan("plan.yaml").to_str().unwrap(),
        "--report",
        "out.svg",
    ]);
    assert_one_error_line(&o, "--report out.svg: use a .html file name");
    let o = rollout(&["fleet", "simulate", "/nonexistent/plan.yaml"]);
    assert_one_error_line(&o, "cannot read /nonexistent/plan.yaml");
    std::fs::remove_dir_all(&dir).unwrap();
}
