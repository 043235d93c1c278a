//! The `rollout` binary on the bundled scenarios, the upstream fixtures and bad input.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

#[test]
fn bundled_scenarios_reach_their_outcomes_with_the_wasm_judge() {
    // (scenario, outcome, exit code, step whose run decided, why: prefix after the run name, why: suffix)
    let cases = [
        (
            "healthy",
            "promoted",
            PROMOTED,
            None,
            "all 8 steps completed; 4 analysis run(s) successful",
            "",
        ),
        (
            "error-spike",
            "aborted",
            ABORTED,
            Some(3),
            " Failed (judge: regression): Metric \"error-ratio\" assessed Failed due to failed (1) > \
             failureLimit (0): \"Error Message: error-ratio: canary is worse than stable: rate ratio ",
            "",
        ),
        (
            "low-traffic",
            "paused",
            PAUSED,
            Some(1),
            " Inconclusive (judge: insufficient-data): Metric \"error-ratio\" assessed Inconclusive due to \
             inconclusive (10) > inconclusiveLimit (9): \"Error Message: error-ratio: not enough evidence yet",
            " more requests per arm needed\"; waiting for promote or abort",
        ),
        (
            "already-failing",
            "paused",
            PAUSED,
            Some(1),
            " Inconclusive (judge: environment-unhealthy): Metric \"error-ratio\" assessed Inconclusive due to \
             inconclusive (10) > inconclusiveLimit (9): \"Error Message: error-ratio: stable itself violates the SLO",
            "the environment is unhealthy, so the canary is neither blamed nor promoted\"; waiting for promote or abort",
        ),
    ];
    for (scenario, outcome, code, step, why, ends) in cases {
        let o = rollout(&["simulate", "--scenario", scenario]);
        let out = stdout(&o);
        assert_exit(&o, code);
        assert_eq!(summary_line(&out, "outcome:"), outcome, "{scenario}\n{out}");
        let want = match (outcome, step) {
            ("aborted", Some(s)) => format!(
                "rolled back to the stable version: analysis guestbook-{}-2-{s}{why}",
                canary_hash(&out)
            ),
            ("paused", Some(s)) => format!(
                "InconclusiveAnalysisRun, not rolled back: analysis guestbook-{}-2-{s}{why}",
                canary_hash(&out)
            ),
            _ => why.to_string(),
        };
        let got = summary_line(&out, "why:");
        assert!(got.starts_with(&want), "{scenario}: {got}\nwanted {want}");
        assert!(got.ends_with(ends), "{scenario}: {got}\nwanted ...{ends}");
        // A paused rollout was neither promoted nor rolled back.
        if outcome == "paused" {
            assert!(!out.contains("event RolloutAborted"), "{out}");
            assert!(!out.contains("event RolloutCompleted"), "{out}");
            assert!(
                out.contains("rollout phase Paused: InconclusiveAnalysisRun"),
                "{out}"
            );
        }
    }
}

#[test]
fn the_shipped_template_holds_a_healthy_canary_it_cannot_yet_prove_within_25_percent() {
    // examples/templates/error-ratio.yaml has no 2% pass floor: at 1% errors and 40 requests/s,
    // 30 minutes are not enough evidence for "at most 25% above stable", so the first step pauses
    // (as examples/scenarios/README.md says) instead of promoting.
    let template = Path::new(ROOT).join("examples/templates/error-ratio.yaml");
    let o = rollout(&[
        "simulate",
        scenarios().join("rollout.yaml").to_str().unwrap(),
        "--analysis",
        template.to_str().unwrap(),
        "--scenario",
        "healthy",
    ]);
    let out = stdout(&o);
    assert_exit(&o, PAUSED);
    assert_eq!(summary_line(&out, "outcome:"), "paused", "{out}");
    let want = format!(
        "InconclusiveAnalysisRun, not rolled back: analysis guestbook-{}-2-1 Inconclusive \
         (judge: insufficient-evidence): Metric \"error-ratio\" assessed Inconclusive due to \
         inconclusive (30) > inconclusiveLimit (29): ",
        canary_hash(&out)
    );
    assert!(
        summary_line(&out, "why:").starts_with(&want),
        "{out}\nwanted {want}"
    );
    assert_eq!(summary_line(&out, "analysis:"), "30 measurement(s)");
}

#[test]
fn error_spike_log_shows_the_judges_reason_and_the_rollback() {
    let o = rollout(&["simulate", "--scenario", "error-spike"]);
    let out = stdout(&o);
    assert!(out.contains("FAULT: canary error rate is now 25.0%"), "{out}");
    // The default judge passes the step at 20%, then fails the one at 40% with its code and reason.
    assert!(
        out.contains(
            "measurement error-ratio: Successful within-tolerance (error-ratio: canary is within tolerance"
        ),
        "{out}"
    );
    assert!(
        out.contains("measurement error-ratio: Failed regression (error-ratio: canary is worse than stable: rate ratio "),
        "{out}"
    );
    assert!(out.contains("traffic: canary weight 0%"), "{out}");
    assert!(out.contains("event RolloutAborted"), "{out}");
}

#[test]
fn already_failing_log_shows_every_verdict_as_environment_unhealthy() {
    let o = rollout(&["simulate", "--scenario", "already-failing"]);
    let out = stdout(&o);
    assert!(out.contains("FAULT: stable error rate is now 15.0%"), "{out}");
    let verdicts: Vec<&str> = out.lines().filter(|l| l.contains("  measurement ")).collect();
    assert_eq!(verdicts.len(), 10, "{out}");
    for v in verdicts {
        assert!(
            v.contains("measurement error-ratio: Inconclusive environment-unhealthy (error-ratio: stable itself violates the SLO"),
            "{v}"
        );
    }
    assert_eq!(summary_line(&out, "analysis:"), "10 measurement(s)");
}

#[test]
fn json_is_deterministic_for_a_seed_and_seeds_matter() {
    let a = rollout(&["simulate", "--scenario", "healthy", "--json", "--seed", "5"]);
    let b = rollout(&["simulate", "--scenario", "healthy", "--json", "--seed", "5"]);
    let c = rollout(&["simulate", "--scenario", "healthy", "--json", "--seed", "6"]);
    assert!(a.status.success(), "{}", stderr(&a));
    assert_eq!(stdout(&a), stdout(&b));
    assert_ne!(stdout(&a), stdout(&c));
    let v: serde_json::Value = serde_json::from_str(&stdout(&a)).unwrap();
    assert_eq!(v["outcome"], "promoted");
    assert_eq!(v["seed"], 5);
    assert!(
        v["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "measurement")
    );
    assert!(!v["timeline"].as_array().unwrap().is_empty());
}

#[test]
fn files_and_reports() {
    let dir = std::env::temp_dir().join(format!("rollout-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let s = scenarios();
    let svg = dir.join("t.svg");
    let html = dir.join("t.html");
    for report in [&svg, &html] {
        let o = rollout(&[
            "simulate",
            s.join("rollout.yaml").to_str().unwrap(),
            "--analysis",
            s.join("analysis.yaml").to_str().unwrap(),
            "--scenario",
            s.join("error-spike.yaml").to_str().unwrap(),
            "--report",
            report.to_str().unwrap(),
        ]);
        assert_exit(&o, ABORTED);
        assert_eq!(summary_line(&stdout(&o), "outcome:"), "aborted");
    }
    let svg_text = std::fs::read_to_string(&svg).unwrap();
    assert!(svg_text.starts_with("<svg") && svg_text.contains("ABORTED after"));
    assert!(
        std::fs::read_to_string(&html)
            .unwrap()
            .contains("<h3>Event log</h3>")
    );
    let o = rollout(&["simulate", "--report", dir.join("t.png").to_str().unwrap()]);
    assert_one_error_line(&o, "--report ");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_input_is_one_error_line() {
    let dir = std::env::temp_dir().join(format!("rollout-cli-bad-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let s = scenarios();
    let malformed = dir.join("malformed.yaml");
    std::fs::write(&malformed, "kind: Rollout\nspec: [\n").unwrap();
    let wrong_digest = dir.join("wrong-digest.yaml");
    std::fs::write(
        &wrong_digest,
        std::fs::read_to_string(s.join("analysis.yaml")).unwrap().replace(
            "49d2097a29a2f963947ef29e7391e1a3ac632fa926c31ffd3bb6ddbfc4a8e96b",
            &"ab".repeat(32),
        ),
    )
    .unwrap();
    let no_rollout = dir.join("no-rollout.yaml");
    std::fs::write(&no_rollout, "kind: ConfigMap\nmetadata: {name: x}\n").unwrap();
    let malformed_msg = format!("{}: document 0: malformed YAML", malformed.display());
    let no_rollout_msg = format!("{}: no document of kind Rollout", no_rollout.display());
    let rollout_file = s.join("rollout.yaml");
    let missing_template_msg = format!(
        "{}: document 0: spec.strategy.canary.steps[1].analysis.templates[0].templateName: \
         the Rollout references AnalysisTemplate \"error-ratio\", which is not in the given files",
        rollout_file.display()
    );
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (
            vec!["simulate", "/nonexistent/rollout.yaml"],
            "cannot read /nonexistent/rollout.yaml",
        ),
        (vec!["simulate", malformed.to_str().unwrap()], &malformed_msg),
        (vec!["simulate", no_rollout.to_str().unwrap()], &no_rollout_msg),
        (
            vec!["simulate", "--scenario", "nope"],
            "scenario \"nope\" is neither a file nor a bundled scenario",
        ),
        (
            vec!["simulate", rollout_file.to_str().unwrap()],
            &missing_template_msg,
        ),
        (
            vec![
                "simulate",
                rollout_file.to_str().unwrap(),
                "--analysis",
                wrong_digest.to_str().unwrap(),
            ],
            "metric \"error-ratio\" of template \"error-ratio\": judge \"error-ratio\" with sha256 abababab",
        ),
        (vec!["plan", "/nonexistent.yaml"], "cannot read /nonexistent.yaml"),
        (
            vec!["judge", "inspect", "/nonexistent.wasm"],
            "/nonexistent.wasm: ",
        ),
    ];
    for (args, starts) in cases {
        let o = rollout(&args);
        assert_one_error_line(&o, starts);
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn plan_table_from_the_core() {
    let o = rollout(&[
        "plan",
        scenarios().join("rollout.yaml").to_str().unwrap(),
        "--replicas",
        "10",
    ]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    let rows: Vec<Vec<String>> = out
        .lines()
        .skip(2)
        .map(|l| l.split_whitespace().map(str::to_string).collect())
        .collect();
    // Traffic-routed: canary = ceil(weight * 10 / 100), stable stays at 10 until promotion.
    let got: Vec<(String, String, String)> = rows
        .iter()
        .map(|r| {
            (
                r[r.len() - 3].clone(),
                r[r.len() - 2].clone(),
                r[r.len() - 1].clone(),
            )
        })
        .collect();
    let want: Vec<(&str, &str, &str)> = vec![
        ("20%", "2", "10"),
        ("20%", "2", "10"),
        ("40%", "4", "10"),
        ("40%", "4", "10"),
        ("60%", "6", "10"),
        ("60%", "6", "10"),
        ("80%", "8", "10"),
        ("80%", "8", "10"),
        ("100%", "10", "0"),
    ];
    let got_ref: Vec<(&str, &str, &str)> = got
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(got_ref, want, "{out}");
}

#[test]
fn validate_accepts_the_upstream_fixtures_and_reports_problems_with_paths() {
    let fixtures = Path::new(ROOT).join("../shared/fixtures/argo-rollouts");
    let mut files: Vec<String> = std::fs::read_dir(&fixtures)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .map(|p| p.display().to_string())
        .collect();
    files.sort();
    assert!(files.len() >= 10);
    let mut args = vec!["validate"];
    args.extend(files.iter().map(String::as_str));
    let o = rollout(&args);
    assert!(o.status.success(), "{}\n{}", stdout(&o), stderr(&o));
    assert!(stdout(&o).contains(", 0 problem(s)"), "{}", stdout(&o));

    let dir = std::env::temp_dir().join(format!("rollout-cli-val-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let bad = dir.join("bad.yaml");
    std::fs::write(
        &bad,
        "kind: Service\nmetadata: {name: s}\n---\nkind: Rollout\nmetadata: {name: r}\nspec:\n  selector: {matchLabels: {app: a}}\n  template: {metadata: {labels: {app: a}}, spec: {containers: [{name: c}]}}\n  strategy: {canary: {steps: [{setWeight: 120}]}}\n---\nkind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n  - name: m\n    count: 3\n    provider: {prometheus: {query: up}}\n",
    )
    .unwrap();
    let o = rollout(&["validate", bad.to_str().unwrap()]);
    assert_exit(&o, INVALID);
    let out = stdout(&o);
    let b = bad.display();
    assert!(
        out.contains(&format!(
            "{b}: document 1: spec.strategy.canary.steps[0].setWeight: Invalid value: 120: SetWeight needs to be between 0 and 100 (line 9)"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "{b}: document 2: spec.metrics[0].interval: interval must be specified when count > 1 (line 15)"
        )),
        "{out}"
    );
    assert!(
        out.contains("2 document(s) checked, 1 skipped (other kinds), 2 problem(s)"),
        "{out}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn judge_inspect_and_run_on_the_committed_component() {
    let wasm = Path::new(ROOT).join("plugins/dist/rust-error-ratio.wasm");
    let o = rollout(&["judge", "inspect", wasm.to_str().unwrap()]);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(out.contains("judge:    error-ratio-reference 0.1.0"), "{out}");
    assert!(out.contains("sha256:   "), "{out}");

    let input = std::env::temp_dir().join(format!("rollout-judge-input-{}.json", std::process::id()));
    std::fs::write(
        &input,
        r#"{"metric":"m","series":[{"name":"canary","ratios":[{"time-ms":0,"numerator":10,"denominator":100},{"time-ms":1,"numerator":10,"denominator":100}]},{"name":"stable","ratios":[{"time-ms":0,"numerator":2,"denominator":200}]}]}"#,
    )
    .unwrap();
    let o = rollout(&[
        "judge",
        "run",
        wasm.to_str().unwrap(),
        input.to_str().unwrap(),
        "--json",
    ]);
    // `judge run` exits with the verdict: Failed is 3 (tests/judge_cli.rs has the others).
    assert_exit(&o, ABORTED);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["verdict"]["phase"], "failed", "{v}");
    assert_eq!(
        v["verdict"]["reason"], "canary errors 20/200, stable errors 2/200",
        "{v}"
    );
    std::fs::remove_file(&input).unwrap();
}

#[test]
fn a_closed_pipe_is_not_a_panic() {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    // One-second ticks make the JSON far larger than a pipe buffer.
    let scenario = std::env::temp_dir().join(format!("rollout-pipe-{}.yaml", std::process::id()));
    // (An hour of one-second ticks stays within the simulation's tick limit; it promotes in minutes.)
    std::fs::write(&scenario, "name: fine-grained\ntick: 1s\nmaxDuration: 1h\n").unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(["simulate", "--scenario", scenario.to_str().unwrap(), "--json"])
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    assert_eq!(first, "{\n");
    // The reader is dropped here, like `| head -1`; the JSON is larger than a pipe buffer.
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{:?}", out.status);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("panicked"));
    std::fs::remove_file(&scenario).unwrap();
}

#[test]
fn upstream_fixtures_simulate_with_a_simulated_promote_or_say_what_is_missing() {
    let fixtures = Path::new(ROOT).join("../shared/fixtures/argo-rollouts");
    let canary = fixtures.join("01-rollout-canary.yaml");
    let o = rollout(&["simulate", canary.to_str().unwrap()]);
    assert_exit(&o, PAUSED);
    assert_eq!(summary_line(&stdout(&o), "outcome:"), "paused");
    let o = rollout(&["simulate", canary.to_str().unwrap(), "--promote-after", "1m"]);
    assert_exit(&o, PROMOTED);
    let out = stdout(&o);
    assert_eq!(summary_line(&out, "outcome:"), "promoted", "{out}");
    assert!(out.contains("user: kubectl argo rollouts promote"), "{out}");
    let o = rollout(&["simulate", canary.to_str().unwrap(), "--promote-after", "soon"]);
    assert_one_error_line(
        &o,
        "--promote-after: scenario field promotePausedAfter: invalid duration",
    );
    // Templates with providers a simulation cannot answer are refused up front.
    let o = rollout(&[
        "simulate",
        fixtures
            .join("03-rollout-background-analysis.yaml")
            .to_str()
            .unwrap(),
        "--analysis",
        fixtures.join("04-analysis-templates.yaml").to_str().unwrap(),
    ]);
    assert_one_error_line(&o, "metric ");
}
