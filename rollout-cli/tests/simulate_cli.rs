//! `rollout simulate` as CI and a person see it: exit codes per outcome, help, arguments checked
//! before simulating, the simulated Prometheus' hints, log wording and the HTML report.

mod common;

use std::path::Path;

use common::*;

/// The bundled Rollout (`guestbook`) with the template `error-ratio` from `template`.
fn simulate_with_template(dir: &Path, template: &str, extra: &[&str]) -> std::process::Output {
    let file = dir.join("template.yaml");
    std::fs::write(&file, template).unwrap();
    let rollout_file = scenarios().join("rollout.yaml");
    let mut args = vec![
        "simulate",
        rollout_file.to_str().unwrap(),
        "--analysis",
        file.to_str().unwrap(),
    ];
    args.extend(extra);
    rollout_in(dir, &args)
}

/// A Prometheus metric on the canary's error ratio, selecting on `job="checkout"`.
const CHECKOUT_TEMPLATE: &str = r#"apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {name: error-ratio}
spec:
  args: [{name: canary-hash}, {name: stable-hash}]
  metrics:
    - name: checkout-errors
      interval: 1m
      count: 1
      successCondition: result[0] < 0.05
      provider:
        prometheus:
          address: http://prometheus:9090
          query: sum(rate(http_requests_total{job="checkout",code="500",rollouts_pod_template_hash="{{args.canary-hash}}"}[1m])) / sum(rate(http_requests_total{job="checkout",rollouts_pod_template_hash="{{args.canary-hash}}"}[1m]))
"#;

#[test]
fn each_outcome_has_its_own_exit_code() {
    // promoted 0, aborted 3 and paused 4 come from the bundled scenarios (tests/cli.rs); here the
    // scenario's time limit and a progress deadline.
    let dir = scratch("outcomes");
    let short = dir.join("short.yaml");
    std::fs::write(&short, "name: short\nmaxDuration: 2m\n").unwrap();
    let o = rollout_in(&dir, &["simulate", "--scenario", short.to_str().unwrap()]);
    assert_exit(&o, TIMED_OUT);
    let out = stdout(&o);
    assert_eq!(summary_line(&out, "outcome:"), "timed-out", "{out}");
    assert_eq!(summary_line(&out, "why:"), "still Progressing after maxDuration");

    let rollout_file = dir.join("deadline.yaml");
    std::fs::write(
        &rollout_file,
        std::fs::read_to_string(
            Path::new(ROOT).join("../shared/fixtures/argo-rollouts/01-rollout-canary.yaml"),
        )
        .unwrap()
        .replace(
            "spec:\n  replicas:",
            "spec:\n  progressDeadlineSeconds: 60\n  replicas:",
        ),
    )
    .unwrap();
    let crash = dir.join("crash.yaml");
    std::fs::write(
        &crash,
        "name: crash\nfaults: [{at: {time: 0s}, canaryCrashLoop: true}]\n",
    )
    .unwrap();
    let o = rollout_in(
        &dir,
        &[
            "simulate",
            rollout_file.to_str().unwrap(),
            "--scenario",
            crash.to_str().unwrap(),
        ],
    );
    assert_exit(&o, DEGRADED);
    let out = stdout(&o);
    assert_eq!(summary_line(&out, "outcome:"), "degraded", "{out}");
    assert!(
        summary_line(&out, "why:").contains("has timed out progressing"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn help_shows_examples_and_the_exit_codes() {
    let o = rollout(&["--help"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(
        out.contains("Examples:\n  rollout simulate --scenario error-spike"),
        "{out}"
    );
    assert!(
        out.contains("Exit codes:\n  0  success; simulate: promoted\n  1  validate: problems found\n  2  usage or input error"),
        "{out}"
    );
    assert!(
        out.contains(
            "\n  4  simulate: paused for a person (inconclusive analysis, or an indefinite pause without \
             --promote-after); judge run: Inconclusive\n"
        ),
        "{out}"
    );
    let o = rollout(&["simulate", "--help"]);
    assert_exit(&o, 0);
    let out = stdout(&o);
    assert!(out.contains("Examples:\n  rollout simulate "), "{out}");
    assert!(
        out.contains(
            "The exit status is the outcome, to gate CI on: 0 promoted, 3 aborted, 4 paused, 5 degraded, \
             6 timed-out; 2 for bad input (rollout --help lists all codes)."
        ),
        "{out}"
    );
    for cluster_command in ["get", "promote", "abort", "retry", "pause", "controller"] {
        let o = rollout(&[cluster_command, "--help"]);
        assert_exit(&o, 0);
        let out = stdout(&o);
        assert!(
            out.contains(&format!("Examples:\n  rollout {cluster_command} ")),
            "{cluster_command}: {out}"
        );
    }
}

#[test]
fn report_file_names_are_checked_before_simulating() {
    let dir = scratch("report-args");
    for (report, error) in [
        (
            "t.png",
            "--report t.png: use a .svg or .html file name".to_string(),
        ),
        (
            "missing/t.svg",
            "--report missing/t.svg: directory missing does not exist".to_string(),
        ),
    ] {
        let o = rollout_in(&dir, &["simulate", "--scenario", "healthy", "--report", report]);
        assert_one_error_line(&o, &error);
        // Nothing was simulated: not even the first line.
        assert_eq!(stdout(&o), "", "{report}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_query_on_labels_the_simulation_lacks_says_what_it_has_and_scenario_labels_fix_it() {
    let dir = scratch("labels");
    let o = simulate_with_template(&dir, CHECKOUT_TEMPLATE, &[]);
    let out = stdout(&o);
    let hint = "no simulated series matches http_requests_total{code=\"500\",job=\"checkout\",\
                rollouts_pod_template_hash=\"";
    let offer = "(http_requests_total has no label job); the simulated Prometheus has \
                 http_request_duration_seconds_bucket{le, rollouts_pod_template_hash}, \
                 http_request_duration_seconds_count{rollouts_pod_template_hash}, \
                 http_requests_total{code, rollouts_pod_template_hash}; a scenario's `labels` adds labels to every series";
    let measurement = out
        .lines()
        .find(|l| l.contains("measurement checkout-errors: "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        measurement.contains(hint) && measurement.contains(offer),
        "{measurement}"
    );
    assert_exit(&o, ABORTED);

    let scenario = dir.join("checkout.yaml");
    std::fs::write(&scenario, "name: checkout\nlabels: {job: checkout}\n").unwrap();
    let o = simulate_with_template(
        &dir,
        CHECKOUT_TEMPLATE,
        &["--scenario", scenario.to_str().unwrap()],
    );
    let out = stdout(&o);
    assert!(
        out.contains("measurement checkout-errors: Successful value=[0.0"),
        "{out}"
    );
    assert!(!out.contains("no simulated series"), "{out}");
    assert_exit(&o, PROMOTED);

    std::fs::write(&scenario, "name: checkout\nlabels: {code: \"200\"}\n").unwrap();
    let o = simulate_with_template(
        &dir,
        CHECKOUT_TEMPLATE,
        &["--scenario", scenario.to_str().unwrap()],
    );
    assert_one_error_line(
        &o,
        &format!(
            "{}: scenario field labels.code: set by the traffic model on every series",
            scenario.display()
        ),
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_log_numbers_steps_like_the_controller_and_names_the_right_revision() {
    let o = rollout(&["simulate", "--scenario", "healthy"]);
    assert_exit(&o, PROMOTED);
    let out = stdout(&o);
    // One numbering, from 1, in our lines and the controller's events.
    assert!(out.contains("] step 1/8: setWeight: 20\n"), "{out}");
    assert!(
        out.contains("event RolloutStepCompleted: Rollout step 1/8 completed (setWeight: 20)"),
        "{out}"
    );
    assert!(out.contains("] all 8 steps completed\n"), "{out}");
    assert!(!out.contains("] step 0"), "{out}");
    // The update creates revision 2 (the Rollout was at revision 1).
    assert!(
        out.contains(&format!(
            "Rollout not completed, started update to revision 2 ({})",
            canary_hash(&out)
        )),
        "{out}"
    );
}

#[test]
fn the_bundled_scenario_description_is_only_shown_for_the_bundled_rollout_and_analysis() {
    let fixtures = Path::new(ROOT).join("../shared/fixtures/argo-rollouts");
    let healthy = "Both versions serve 1% errors at 40 requests/s; at each weight the judge";
    let o = rollout(&["simulate"]);
    let out = stdout(&o);
    assert!(out.contains(healthy), "{out}");
    assert!(
        out.contains("\n  environment: 40 requests/s; stable 1.0% errors, canary 1.0% errors; no faults\n"),
        "{out}"
    );
    // A Rollout without analysis: no judge, so only the environment is described.
    let bluegreen = fixtures.join("02-rollout-bluegreen.yaml");
    let o = rollout(&["simulate", bluegreen.to_str().unwrap()]);
    let out = stdout(&o);
    assert!(!out.contains("judge"), "{out}");
    assert!(out.contains("\n  environment: 40 requests/s;"), "{out}");
    // Blue-green pauses before promotion; the hint names the flag that simulates a person.
    assert_exit(&o, PAUSED);
    assert!(
        summary_line(&out, "why:")
            .ends_with("simulate that with --promote-after DURATION (scenario: promotePausedAfter)"),
        "{out}"
    );
    let o = rollout(&["simulate", bluegreen.to_str().unwrap(), "--promote-after", "30s"]);
    assert_exit(&o, PROMOTED);
    assert_eq!(
        summary_line(&stdout(&o), "why:"),
        "the active Service switched to the new version; 0 analysis run(s) successful"
    );
}

#[test]
fn the_html_report_labels_steps_verdicts_and_the_promotion_with_a_legend() {
    let dir = scratch("html");
    let o = rollout_in(&dir, &["simulate", "--scenario", "healthy", "--report", "t.html"]);
    assert_exit(&o, PROMOTED);
    let html = std::fs::read_to_string(dir.join("t.html")).unwrap();
    assert!(
        html.contains("<title>step 1/8: setWeight: 20</title>"),
        "step boundary"
    );
    assert!(html.contains("<title>all 8 steps completed</title>"));
    assert!(html.contains(">Traffic to the new version</text>"));
    // The new version's share ends at 100% (y = 90): promoted, not rolled back to 0.
    let traffic = html
        .split("<path d=\"")
        .nth(1)
        .and_then(|p| p.split('"').next())
        .unwrap();
    assert!(traffic.ends_with(" V90.0"), "{traffic}");
    // The promotion is labelled, in green; the verdicts carry their letter.
    assert!(html.contains(r##"fill="#2b8a3e">promoted</text></g>"##));
    assert!(html.contains(r##"fill="#fff">✓</text></g>"##));
    for label in [
        "new version (canary)",
        "stable version",
        "step boundary",
        "successful",
        "failed",
    ] {
        assert!(html.contains(&format!(">{label}</text>")), "legend: {label}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_deleted_config_scenario_holds_the_rollback_and_exits_aborted() {
    let o = rollout(&["simulate", "--scenario", "deleted-config"]);
    let out = stdout(&o);
    assert_exit(&o, ABORTED);
    assert_eq!(summary_line(&out, "outcome:"), "aborted", "{out}");
    let why = summary_line(&out, "why:");
    assert!(
        why.starts_with("Rollback to ReplicaSet guestbook-") && why.contains("Secret \"app-config-5d8f2a\""),
        "{why}"
    );
    assert!(out.contains("event RollbackHeldForConfig: "), "{out}");
}
