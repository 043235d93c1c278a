//! `rollout judge run` on bad judges, configs and inputs (issue 16): the exit code is the verdict,
//! an Error answer is one `error:` line, the state is shown by size and digest, the syntax is
//! `judge run JUDGE.wasm INPUT.json`, the help describes the input and its shipped sample runs.
//!
//! The judges are the shipped components: `$ROLLOUT_REBUILT_JUDGES` when set (scripts/test
//! rebuilds every judge from source into it), else the committed `plugins/dist`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use base64::Engine as _;
use common::*;
use sha2::Digest as _;

/// The shipped sample input (`judge run --help` shows it).
const SAMPLE: &str = "examples/judges/error-ratio-input.json";

/// A shipped judge component by name (`judge-latency`, `rust-error-ratio`, ...).
fn judge(name: &str) -> PathBuf {
    let dir = std::env::var_os("ROLLOUT_REBUILT_JUDGES")
        .filter(|d| !d.is_empty())
        .map_or_else(|| Path::new(ROOT).join("plugins/dist"), PathBuf::from);
    dir.join(format!("{name}.wasm"))
}

fn sample() -> String {
    Path::new(ROOT).join(SAMPLE).display().to_string()
}

/// Writes `input` into `dir` and runs `rollout judge run JUDGE INPUT EXTRA...` there.
fn run_on(dir: &Path, judge_name: &str, input: &str, extra: &[&str]) -> Output {
    let file = dir.join("input.json");
    std::fs::write(&file, input).unwrap();
    let judge = judge(judge_name);
    let mut args = vec!["judge", "run", judge.to_str().unwrap(), file.to_str().unwrap()];
    args.extend(extra);
    rollout_in(dir, &args)
}

/// An input with these series (JSON) and this judge config (JSON, embedded as text).
fn input(series: &str, config: &str) -> String {
    serde_json::json!({
        "metric": "m",
        "now-ms": 1_700_000_600_000_i64,
        "series": serde_json::from_str::<serde_json::Value>(series).unwrap(),
        "config": config,
    })
    .to_string()
}

/// Canary and stable ratio series of one window each.
fn ratios(canary: (f64, f64), stable: (f64, f64)) -> String {
    format!(
        r#"[{{"name":"canary","ratios":[{{"time-ms":1,"numerator":{},"denominator":{}}}]}},
            {{"name":"stable","ratios":[{{"time-ms":1,"numerator":{},"denominator":{}}}]}}]"#,
        canary.0, canary.1, stable.0, stable.1
    )
}

/// The `key:` line of the human output.
fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in\n{out}"))
}

#[test]
fn the_natural_syntax_runs_and_the_usage_shows_it() {
    let o = rollout(&[
        "judge",
        "run",
        judge("judge-error-ratio").to_str().unwrap(),
        &sample(),
    ]);
    assert_exit(&o, PROMOTED);
    assert_eq!(
        line(&stdout(&o), "verdict:"),
        "successful (within-tolerance), score 1"
    );
    let help = stdout(&rollout(&["judge", "run", "--help"]));
    assert!(
        help.contains("Usage: rollout judge run [OPTIONS] <JUDGE.wasm> <INPUT.json>"),
        "{help}"
    );
    // The old flag is a usage error that shows the natural syntax.
    let o = rollout(&["judge", "run", "j.wasm", "--input", "i.json"]);
    assert_exit(&o, ERROR);
    assert!(
        stderr(&o).contains("Usage: rollout judge run <JUDGE.wasm> <INPUT.json>"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn the_help_describes_the_input_and_the_exit_codes_and_the_shipped_sample_runs_on_every_error_judge() {
    let help = stdout(&rollout(&["judge", "run", "--help"]));
    for want in [
        "INPUT.json is one evaluation's input",
        "\"ratios\": [{\"time-ms\"",
        "\"upper-bound\"",
        "\"canary-weight\"",
        &format!("A complete input ships in {SAMPLE}"),
        &format!("rollout judge run plugins/dist/judge-error-ratio.wasm {SAMPLE}"),
        "  0  Successful",
        "  2  Error: the config or input is invalid",
        "  3  Failed",
        "  4  Inconclusive",
    ] {
        assert!(help.contains(want), "{want:?} not in\n{help}");
    }
    // The sample is judged healthy by the default judge and by the reference judges.
    for name in ["judge-error-ratio", "rust-error-ratio", "c-error-ratio"] {
        let o = rollout(&["judge", "run", judge(name).to_str().unwrap(), &sample()]);
        assert_exit(&o, PROMOTED);
        assert!(line(&stdout(&o), "verdict:").starts_with("successful"), "{name}");
    }
}

#[test]
fn an_error_verdict_exits_2_with_its_reason_and_an_invalid_config_returns_no_state() {
    let dir = scratch("judge-alpha");
    let o = run_on(
        &dir,
        "judge-error-ratio",
        &input(&ratios((1.0, 100.0), (1.0, 100.0)), r#"{"alpha": 5}"#),
        &[],
    );
    assert_one_error_line(
        &o,
        "the judge answered Error (invalid-input): invalid judge configuration: `alpha` must be in (0, 1), got 5",
    );
    let out = stdout(&o);
    assert_eq!(line(&out, "verdict:"), "error (invalid-input)");
    // Needs the judges rebuilt from this source (the glue checks the config before judging).
    assert_eq!(line(&out, "state:"), "none", "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn each_verdict_has_its_exit_code_and_a_judge_error_is_one_error_line() {
    let dir = scratch("judge-phases");
    let cases = [
        ((10.0, 100.0), (1.0, 100.0), ABORTED, "failed (regression)"),
        (
            (5.0, 40.0),
            (1.0, 500.0),
            PAUSED,
            "inconclusive (insufficient-data)",
        ),
        ((1.0, 100.0), (1.0, 100.0), PROMOTED, "successful (ok)"),
    ];
    for (canary, stable, code, verdict) in cases {
        let o = run_on(&dir, "rust-error-ratio", &input(&ratios(canary, stable), ""), &[]);
        assert_exit(&o, code);
        assert_eq!(line(&stdout(&o), "verdict:"), verdict);
    }
    // The judge's own err(...): Error.
    let o = run_on(&dir, "rust-error-ratio", &input("[]", ""), &[]);
    assert_one_error_line(&o, "the judge answered an error: missing series \"canary\"");
    // Input JSON that does not parse, and an input file that is not there.
    let o = run_on(&dir, "rust-error-ratio", r#"{"metric":"m","seris":[]}"#, &[]);
    assert_one_error_line(&o, "");
    assert!(stderr(&o).contains("invalid judge input JSON: unknown field `seris`"));
    let o = rollout(&[
        "judge",
        "run",
        judge("rust-error-ratio").to_str().unwrap(),
        "/nonexistent.json",
    ]);
    assert_one_error_line(&o, "cannot read /nonexistent.json");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_state_is_a_size_and_digest_by_default_base64_under_json_and_bytes_in_state_out() {
    let dir = scratch("judge-state");
    let text = std::fs::read_to_string(sample()).unwrap();
    let o = run_on(&dir, "judge-error-ratio", &text, &[]);
    assert_exit(&o, PROMOTED);
    let out = stdout(&o);
    // A few lines, not one line per byte of the state.
    assert!(out.lines().count() < 15, "{out}");
    let state = line(&out, "state:");
    let (size, rest) = state.split_once(" bytes, sha256 ").unwrap();
    let (digest, _) = rest.split_once(' ').unwrap();
    let size: usize = size.parse().unwrap();

    let o = run_on(
        &dir,
        "judge-error-ratio",
        &text,
        &["--json", "--state-out", "state.bin"],
    );
    assert_exit(&o, PROMOTED);
    let v: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(v["verdict"]["phase"], "successful", "{v}");
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(v["verdict"]["state"].as_str().unwrap())
        .unwrap();
    let written = std::fs::read(dir.join("state.bin")).unwrap();
    assert_eq!((bytes.len(), &bytes), (size, &written));
    let hex: String = sha2::Sha256::digest(&written)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert_eq!(hex, digest);

    // --state resumes from the file: the windows were seen, so the judge counts one more look.
    let o = run_on(&dir, "judge-error-ratio", &text, &["--state", "state.bin"]);
    assert_exit(&o, PROMOTED);
    assert!(stdout(&o).contains("looks=2"), "{}", stdout(&o));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_wasi_judge_is_refused_with_what_the_user_can_do() {
    let o = rollout(&[
        "judge",
        "run",
        judge("hostile-wasi-import").to_str().unwrap(),
        &sample(),
    ]);
    assert_one_error_line(&o, "");
    let err = stderr(&o);
    assert!(
        err.contains("judge imports WASI (wasi:random/random@0.2.3)"),
        "{err}"
    );
    assert!(
        err.contains("rebuild it without WASI (plugins/README.md"),
        "{err}"
    );
    assert!(!err.contains("load it with allow_wasi"), "{err}");
}

/// Runs `judge` on `input` and checks the Error answer names the problem. These need the judges
/// rebuilt from this source (the validation lives in judge-stats and the reference judges).
fn assert_refused(dir: &Path, judge: &str, input: &str, words: &[&str]) {
    let o = run_on(dir, judge, input, &[]);
    assert_exit(&o, ERROR);
    let err = stderr(&o);
    assert_eq!(err.lines().count(), 1, "{err}");
    for w in words {
        assert!(err.contains(w), "{judge}: {w:?} not in {err}");
    }
}

#[test]
fn judges_refuse_nonsense_inputs_and_configs_instead_of_answering_confidently() {
    let dir = scratch("judge-nonsense");
    let healthy = r#"[{"upper-bound":0.1,"count":900},{"upper-bound":0.5,"count":990},{"upper-bound":1e300,"count":1000}]"#;
    let hist = |canary: &str| {
        format!(r#"[{{"name":"canary","buckets":{canary}}},{{"name":"stable","buckets":{healthy}}}]"#)
    };
    let decreasing = r#"[{"upper-bound":0.1,"count":900},{"upper-bound":0.5,"count":300},{"upper-bound":1e300,"count":1000}]"#;
    assert_refused(
        &dir,
        "judge-latency",
        &input(&hist(decreasing), r#"{"threshold":0.5}"#),
        &["series \"canary\"", "must not decrease"],
    );
    let negative = r#"[{"upper-bound":0.1,"count":-50},{"upper-bound":1e300,"count":1000}]"#;
    assert_refused(
        &dir,
        "judge-latency",
        &input(&hist(negative), r#"{"threshold":0.5}"#),
        &["count -50", "non-negative"],
    );
    assert_refused(
        &dir,
        "judge-latency",
        &input(&hist(healthy), r#"{"threshold":0.5,"maxSlowRate":-0.1}"#),
        &["`maxSlowRate`"],
    );
    let points = r#"[{"name":"canary","points":[{"time-ms":1,"value":1.0}]},{"name":"stable","points":[{"time-ms":1,"value":1.0}]}]"#;
    assert_refused(
        &dir,
        "judge-kayenta",
        &input(points, r#"{"groupWeights":{"default":1e300}}"#),
        &["`groupWeights`"],
    );
    assert_refused(
        &dir,
        "judge-kayenta",
        &input(points, r#"{"scoreThresholds":{"pass":50,"marginal":75}}"#),
        &["`scoreThresholds.marginal`"],
    );
    for reference in ["rust-error-ratio", "c-error-ratio"] {
        assert_refused(
            &dir,
            reference,
            &input(&ratios((-5.0, 100.0), (1.0, 100.0)), ""),
            &["invalid counts in series \"canary\""],
        );
        assert_refused(
            &dir,
            reference,
            &input(&ratios((1.0, 100.0), (150.0, 100.0)), ""),
            &["invalid counts in series \"stable\""],
        );
    }
    // No NaN in the reason of a quiet canary (no errors in either arm yet).
    let o = run_on(
        &dir,
        "judge-error-ratio",
        &input(&ratios((0.0, 20.0), (0.0, 80.0)), ""),
        &["--json"],
    );
    assert_exit(&o, PAUSED);
    let out = stdout(&o);
    assert!(!out.contains("NaN") && out.contains("rate ratio n/a"), "{out}");
    std::fs::remove_dir_all(&dir).unwrap();
}
