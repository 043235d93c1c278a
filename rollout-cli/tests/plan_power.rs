//! `rollout plan --rps`: the detection-power table with the shipped WASM judge, its flags, and a
//! `--propose`d step list that reaches the stated power when it is planned again.

use std::path::Path;
use std::process::{Command, Output};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
const PAUSES: &str = "examples/plan/pauses.yaml";
const JUDGE_TEMPLATE: &str = "examples/templates/error-ratio.yaml";

fn rollout(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollout"))
        .current_dir(ROOT)
        .args(args)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The percentage after `prefix` on the line holding it.
fn percent_after(out: &str, prefix: &str) -> f64 {
    let rest = &out[out.find(prefix).unwrap_or_else(|| panic!("{prefix:?} in\n{out}")) + prefix.len()..];
    rest.split('%').next().unwrap().trim().parse().unwrap()
}

fn plan_power(file: &str, extra: &[&str]) -> Output {
    let mut args = vec![
        "plan",
        file,
        "--rps",
        "20",
        "--error-rate",
        "1%",
        "--regression",
        "2x",
        "--judge-template",
        JUDGE_TEMPLATE,
        "--runs",
        "24",
        "--seed",
        "3",
    ];
    args.extend_from_slice(extra);
    rollout(&args)
}

#[test]
fn the_table_has_its_columns_flags_the_short_pause_and_the_proposal_reaches_its_power() {
    let o = plan_power(PAUSES, &["--propose"]);
    let out = text(&o);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let header = out
        .lines()
        .find(|l| l.contains("DETECT"))
        .unwrap_or_else(|| panic!("{out}"));
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns,
        [
            "STEP",
            "ACTION",
            "DURATION",
            "EXTRA",
            "CANARY-REQ",
            "STABLE-REQ",
            "DETECT",
            "FALSE"
        ],
        "{out}"
    );
    assert!(
        out.contains("judge: error-ratio"),
        "the shipped judge ran:\n{out}"
    );
    // 30s at 5% of 20 rps: ~30 canary requests, nothing to detect with.
    let row = out
        .lines()
        .skip_while(|l| !l.contains("DETECT"))
        .find(|l| l.starts_with("1     pause: 30s"))
        .unwrap_or_else(|| panic!("{out}"));
    let cells: Vec<&str> = row.split_whitespace().collect();
    assert_eq!(&cells[3..7], ["30s", "1", "30", "570"], "{row}");
    assert!(
        out.contains("flag: step 1 (pause: 30s) is too short to detect anything"),
        "{out}"
    );
    let power = percent_after(&out, "By promotion: detected in ");
    assert!(power > 50.0, "{out}");

    // The proposal, planned again as a Rollout, reaches the power it states.
    let proposed = percent_after(&out, "proposal (re-simulated on the same seeds): detected in ");
    assert!(proposed + 1.0 >= power, "{out}");
    let steps: Vec<&str> = out
        .lines()
        .skip_while(|l| *l != "steps:")
        .skip(1)
        .filter(|l| l.starts_with("  - "))
        .collect();
    assert!(!steps.is_empty(), "{out}");
    let original = std::fs::read_to_string(Path::new(ROOT).join(PAUSES)).unwrap();
    let head = &original[..original.find("      steps:\n").unwrap() + "      steps:\n".len()];
    let yaml = steps
        .iter()
        .fold(head.to_string(), |acc, s| acc + "      " + s.trim_start() + "\n");
    let file = std::env::temp_dir().join(format!("plan-power-proposal-{}.yaml", std::process::id()));
    std::fs::write(&file, yaml).unwrap();
    let again = plan_power(file.to_str().unwrap(), &[]);
    let again_out = text(&again);
    assert!(again.status.success(), "{again_out}");
    assert_eq!(
        percent_after(&again_out, "By promotion: detected in "),
        proposed,
        "{out}\n{again_out}"
    );
    let _ = std::fs::remove_file(file);
}

#[test]
fn inline_analysis_steps_use_the_rollouts_template_and_say_when_the_judge_passes_them() {
    // The bundled analysis passes any canary below 2% errors (passBelowRate): a 2x regression of
    // 0.5% is never detected, and every analysis step is flagged.
    let o = rollout(&[
        "plan",
        "examples/scenarios/rollout.yaml",
        "--judge-template",
        "examples/scenarios/analysis.yaml",
        "--rps",
        "50",
        "--error-rate",
        "0.5%",
        "--runs",
        "10",
    ]);
    let out = text(&o);
    assert!(
        o.status.success(),
        "{out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("(the Rollout's analysis)"), "{out}");
    assert!(
        out.contains("≤10m00s"),
        "analysis steps last up to count x interval:\n{out}"
    );
    for step in [1, 3, 5, 7] {
        assert!(
            out.contains(&format!(
                "flag: step {step} (analysis) is too short to detect anything"
            )),
            "{out}"
        );
    }
}

#[test]
fn a_rollout_without_analysis_needs_a_judge_template_and_the_options_need_rps() {
    let o = rollout(&["plan", PAUSES, "--rps", "20"]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("pass --judge-template"), "{err}");
    let o = rollout(&["plan", PAUSES, "--error-rate", "1%"]);
    assert_eq!(o.status.code(), Some(2));
    let o = rollout(&[
        "plan",
        PAUSES,
        "--rps",
        "20",
        "--judge-template",
        JUDGE_TEMPLATE,
        "--regression",
        "0.5x",
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(err.contains("regression: must be in [1, 1000]"), "{err}");
}
