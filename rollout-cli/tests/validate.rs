//! `rollout validate` finds every mistake in one run, each with its YAML field path and line;
//! `plan` and `simulate` run the same checks before they use the files. Each test writes a bad
//! input and asserts the message, the path and the exit code.

mod common;

use std::path::{Path, PathBuf};

use common::*;

/// A valid canary Rollout. Line 13 is the first step; `STEPS` replaces it.
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
      steps:
      - setWeight: 50
";

/// The Rollout with its steps replaced by `steps` (starting at line 13).
fn rollout_with_steps(steps: &str) -> String {
    ROLLOUT.replace("      - setWeight: 50\n", steps)
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

/// Runs `rollout validate FILES...`.
fn validate(files: &[&Path], extra: &[&str]) -> std::process::Output {
    let mut args = vec!["validate"];
    args.extend(extra);
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    rollout(&args)
}

/// Asserts that stdout has exactly these problem lines (the file name is `{f}`), then the summary.
fn assert_lines(o: &std::process::Output, file: &Path, want: &[&str], summary: &str) {
    let out = stdout(o);
    let f = file.display().to_string();
    let want: Vec<String> = want.iter().map(|l| l.replace("{f}", &f)).collect();
    let got: Vec<&str> = out.lines().collect();
    assert_eq!(got.len(), want.len() + 1, "{out}");
    for (g, w) in got.iter().zip(&want) {
        assert_eq!(g, w, "{out}");
    }
    assert_eq!(got[want.len()], summary, "{out}");
}

#[test]
fn every_problem_of_a_template_is_reported_in_one_run() {
    let dir = scratch("val-all");
    let file = write(
        &dir,
        "template.yaml",
        "kind: AnalysisTemplate
metadata: {name: t}
spec:
  metrics:
  - name: rate
    count: 3
    provider: {prometheus: {query: up}}
  - name: rate
    successCondition: result >=
    failureCondition: result[0] > 0.1 &&
    provider: {prometheus: {query: up}}
",
    );
    let o = validate(&[&file], &[]);
    assert_exit(&o, INVALID);
    assert_lines(
        &o,
        &file,
        &[
            "{f}: document 0: spec.metrics[0].interval: interval must be specified when count > 1 (line 5)",
            "{f}: document 0: spec.metrics[1].name: duplicate name 'rate' (line 8)",
            "{f}: document 0: spec.metrics[1].successCondition: invalid condition \"result >=\": at 1:10: expected conditional_if, negation_op, sign_op, value, array, map, or ident (line 9)",
            "{f}: document 0: spec.metrics[1].failureCondition: invalid condition \"result[0] > 0.1 &&\": at 1:19: expected conditional_if, negation_op, sign_op, value, array, map, or ident (line 10)",
        ],
        "1 document(s) checked, 0 skipped (other kinds), 4 problem(s), 0 warning(s)",
    );
}

#[test]
fn conditions_are_compiled_after_the_arguments_they_can_take() {
    let dir = scratch("val-cond");
    // `max` has a value, substituted before compiling; `limit` has none: its placeholder stands
    // for a value and only the syntax around it is checked.
    let file = write(
        &dir,
        "template.yaml",
        "kind: AnalysisTemplate
metadata: {name: t}
spec:
  args: [{name: max, value: \"0.1 <\"}, {name: limit}]
  metrics:
  - name: ok
    successCondition: result < {{args.limit}} && result != '{{args.limit}}'
    provider: {prometheus: {query: up}}
  - name: bad
    successCondition: result < {{args.max}}
    count: abc
    provider: {prometheus: {query: up}}
",
    );
    let o = validate(&[&file], &[]);
    assert_exit(&o, INVALID);
    assert_lines(
        &o,
        &file,
        &[
            "{f}: document 0: spec.metrics[1].successCondition: invalid condition \"result < 0.1 <\": at 1:15: expected conditional_if, negation_op, sign_op, value, array, map, or ident (line 10)",
            "{f}: document 0: spec.metrics[1].count: Invalid value: \"abc\": must be an integer (or an {{args.NAME}} placeholder) (line 11)",
        ],
        "1 document(s) checked, 0 skipped (other kinds), 2 problem(s), 0 warning(s)",
    );
}

#[test]
fn unknown_fields_are_warnings_and_errors_with_strict() {
    let dir = scratch("val-unknown");
    let text = rollout_with_steps("      - setWeight: 50\n        setWieght: 60\n")
        .replace("  replicas: 2\n", "  replicas: 2\n  replicasz: 3\n")
        .replace(
            "    canary:\n",
            "    canary:\n      analysis: {templates: [{templateName: bg}], argz: []}\n",
        );
    let file = write(&dir, "rollout.yaml", &text);
    let template = write(
        &dir,
        "bg.yaml",
        "kind: AnalysisTemplate\nmetadata: {name: bg}\nspec:\n  metrics:\n  - name: m\n    provider: {prometheus: {query: up}}\n",
    );
    let want = [
        "warning: {f}: document 0: spec.replicasz: unknown field \"replicasz\" (line 6)",
        "warning: {f}: document 0: spec.strategy.canary.analysis.argz: unknown field \"argz\" (line 13)",
        "warning: {f}: document 0: spec.strategy.canary.steps[0].setWieght: unknown field \"setWieght\" (line 16)",
    ];
    let o = validate(&[&file, &template], &[]);
    assert_exit(&o, PROMOTED);
    assert_lines(
        &o,
        &file,
        &want,
        "2 document(s) checked, 0 skipped (other kinds), 0 problem(s), 3 warning(s)",
    );

    let o = validate(&[&file, &template], &["--strict"]);
    assert_exit(&o, INVALID);
    let strict: Vec<String> = want.iter().map(|w| w.replace("warning: ", "")).collect();
    let strict: Vec<&str> = strict.iter().map(String::as_str).collect();
    assert_lines(
        &o,
        &file,
        &strict,
        "2 document(s) checked, 0 skipped (other kinds), 3 problem(s), 0 warning(s)",
    );

    // `plan` warns on stderr and plans; with --strict it refuses.
    let o = rollout(&["plan", file.to_str().unwrap()]);
    assert_exit(&o, PROMOTED);
    let f = file.display().to_string();
    assert!(stderr(&o).contains(&want[0].replace("{f}", &f)), "{}", stderr(&o));
    assert!(stdout(&o).contains("setWeight: 50"), "{}", stdout(&o));
    let o = rollout(&["plan", "--strict", file.to_str().unwrap()]);
    assert_one_error_line(
        &o,
        &format!("{f}: document 0: spec.replicasz: unknown field \"replicasz\" (line 6); "),
    );

    // Scenario files still reject unknown fields.
    let scenario = write(&dir, "scenario.yaml", "name: s\nseedz: 3\n");
    let o = rollout(&["simulate", "--scenario", scenario.to_str().unwrap()]);
    assert_one_error_line(
        &o,
        &format!("{}: scenario YAML: unknown field `seedz`", scenario.display()),
    );
}

#[test]
fn simulate_prints_the_warnings_before_it_runs() {
    let dir = scratch("val-sim-warn");
    let text = ROLLOUT.replace("  replicas: 2\n", "  replicas: 2\n  replicasz: 3\n");
    let file = write(&dir, "rollout.yaml", &text);
    let o = rollout_in(&dir, &["simulate", file.to_str().unwrap()]);
    assert_exit(&o, PROMOTED);
    assert_eq!(
        stderr(&o),
        format!(
            "warning: {}: document 0: spec.replicasz: unknown field \"replicasz\" (line 6)\n",
            file.display()
        )
    );
    // With --strict the warning is an error and nothing is simulated.
    let o = rollout_in(&dir, &["simulate", "--strict", file.to_str().unwrap()]);
    assert_one_error_line(
        &o,
        &format!(
            "{}: document 0: spec.replicasz: unknown field \"replicasz\" (line 6)",
            file.display()
        ),
    );
}

#[test]
fn each_document_is_checked_on_its_own() {
    let dir = scratch("val-docs");
    let text = format!(
        "{}---\nkind: Rollout\nspec: [\n---\n{}---\nkind: AnalysisTemplate\nmetadata: {{name: t}}\nspec:\n  metrics:\n  - name: m\n    count: abc\n    provider: {{prometheus: {{query: up}}}}\n",
        ROLLOUT.replace("  replicas: 2\n", "  replicas: 99999999999\n"),
        ROLLOUT.replace("  replicas: 2\n", "  replicas: {two: 2}\n"),
    );
    let file = write(&dir, "multi.yaml", &text);
    let o = validate(&[&file], &[]);
    assert_exit(&o, INVALID);
    assert_lines(
        &o,
        &file,
        &[
            "{f}: document 0: spec.replicas: invalid value: integer `99999999999`, expected i32 (line 5)",
            "{f}: document 1: malformed YAML: did not find expected node content, while parsing a flow node (line 17)",
            "{f}: document 2: spec.replicas: invalid type: map, expected i32 (line 22)",
            "{f}: document 3: spec.metrics[0].count: Invalid value: \"abc\": must be an integer (or an {{args.NAME}} placeholder) (line 37)",
        ],
        "3 document(s) checked, 0 skipped (other kinds), 4 problem(s), 0 warning(s)",
    );
}

#[test]
fn an_empty_file_is_an_error() {
    let dir = scratch("val-empty");
    let file = write(&dir, "empty.yaml", "# nothing here\n");
    let o = validate(&[&file], &[]);
    assert_exit(&o, INVALID);
    assert_lines(
        &o,
        &file,
        &["{f}: no YAML documents (the file is empty)"],
        "0 document(s) checked, 0 skipped (other kinds), 1 problem(s), 0 warning(s)",
    );
}

#[test]
fn messages_name_the_field_as_written() {
    let dir = scratch("val-messages");
    let text = rollout_with_steps("      - pause: {duration: soon}\n      - setWeight: 150\n");
    let file = write(&dir, "rollout.yaml", &text);
    let o = validate(&[&file], &[]);
    assert_exit(&o, INVALID);
    assert_lines(
        &o,
        &file,
        &[
            "{f}: document 0: spec.strategy.canary.steps[0].pause.duration: invalid duration \"soon\": expected a number (line 13)",
            "{f}: document 0: spec.strategy.canary.steps[1].setWeight: Invalid value: 150: SetWeight needs to be between 0 and 100 (line 14)",
        ],
        "1 document(s) checked, 0 skipped (other kinds), 2 problem(s), 0 warning(s)",
    );
}

#[test]
fn plan_and_simulate_validate_first() {
    let dir = scratch("val-first");
    let file = write(
        &dir,
        "rollout.yaml",
        &rollout_with_steps("      - setWeight: 150\n"),
    );
    let f = file.display();
    let want = format!(
        "{f}: document 0: spec.strategy.canary.steps[0].setWeight: Invalid value: 150: SetWeight needs to be between 0 and 100 (line 13)"
    );
    let o = rollout(&["plan", file.to_str().unwrap()]);
    assert_one_error_line(&o, &want);
    assert_eq!(stdout(&o), "");
    let o = rollout(&["simulate", file.to_str().unwrap()]);
    assert_one_error_line(&o, &want);
    assert_eq!(stdout(&o), "");
}

#[test]
fn templates_missing_from_the_inputs_are_reported_up_front() {
    let dir = scratch("val-refs");
    let blue_green = ROLLOUT.replace(
        "    canary:\n      steps:\n      - setWeight: 50\n",
        "    blueGreen:\n      activeService: active\n      previewService: preview\n      prePromotionAnalysis:\n        templates: [{templateName: smoke}]\n",
    );
    let canary =
        rollout_with_steps("      - analysis: {templates: [{templateName: smoke, clusterScope: true}]}\n");
    for (name, text, path, kind, line) in [
        (
            "blue-green.yaml",
            blue_green,
            "spec.strategy.blueGreen.prePromotionAnalysis.templates[0].templateName",
            "AnalysisTemplate",
            15,
        ),
        (
            "canary.yaml",
            canary,
            "spec.strategy.canary.steps[0].analysis.templates[0].templateName",
            "ClusterAnalysisTemplate",
            13,
        ),
    ] {
        let file = write(&dir, name, &text);
        let f = file.display();
        let missing = format!(
            "{f}: document 0: {path}: the Rollout references {kind} \"smoke\", which is not in the given files"
        );
        // `validate`: the template may be in the cluster; a warning, an error with --strict.
        let o = validate(&[&file], &[]);
        assert_exit(&o, PROMOTED);
        assert_lines(
            &o,
            &file,
            &[&format!("warning: {missing} (line {line})")],
            "1 document(s) checked, 0 skipped (other kinds), 0 problem(s), 1 warning(s)",
        );
        let o = validate(&[&file], &["--strict"]);
        assert_exit(&o, INVALID);
        // `simulate` needs it: an error before anything runs.
        let o = rollout(&["simulate", file.to_str().unwrap()]);
        assert_one_error_line(
            &o,
            &format!("{missing} (pass it with --analysis FILE) (line {line})"),
        );
    }
}
