//! Seeded fuzzing of the `rollout` binary (issue 16): mutants of the bundled examples
//! (`examples/scenarios`, `examples/templates`) and of the upstream fixtures
//! (`../shared/fixtures/argo-rollouts`, read in place) go through `validate`, `plan` and
//! `simulate`. Every case must finish within [`TIME_LIMIT`] under a [`MEMORY_LIMIT_MIB`] data
//! limit, exit without a panic or a signal, and a refusal (exit 2) must be one `error:` line
//! (after any `warning:` lines).
//!
//! Cases per run (fixed seeds, so every run tries the same inputs): [`VALIDATE_CASES`] through
//! `validate`, [`PLAN_CASES`] through `plan`, [`SIMULATE_CASES`] through `simulate` (a simulation
//! is far slower than a validation, hence fewer). A failure names the case and keeps its input
//! under the system's temporary directory to reproduce it.

mod mutate;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use mutate::{Rng, mutate_yaml};

/// The repository root.
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");
/// The seed of the whole run.
const SEED: u64 = 0x16;
/// Mutants given to `validate`.
const VALIDATE_CASES: usize = 500;
/// Mutants given to `plan`.
const PLAN_CASES: usize = 250;
/// Mutants given to `simulate`.
const SIMULATE_CASES: usize = 24;
/// The longest any case may run (the issue's target for every command).
const TIME_LIMIT: Duration = Duration::from_secs(10);
/// The data-segment limit of every case (`ulimit -d`; the issue's target), in MiB.
const MEMORY_LIMIT_MIB: u64 = 500;

/// A file to mutate: its name and text.
struct Seed {
    name: String,
    text: String,
}

fn yaml_files(dir: &Path) -> Vec<Seed> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    files
        .into_iter()
        .map(|p| Seed {
            name: p.file_name().unwrap().to_string_lossy().into_owned(),
            text: std::fs::read_to_string(&p).unwrap(),
        })
        .collect()
}

/// The upstream fixtures, or none (with a message) when `../shared` is absent outside CI.
fn fixtures() -> Vec<Seed> {
    let dir = Path::new(ROOT).join("../shared/fixtures/argo-rollouts");
    if !dir.is_dir() && std::env::var_os("CI").is_none() {
        eprintln!(
            "{} is absent: fuzzing without the upstream fixtures",
            dir.display()
        );
        return Vec::new();
    }
    yaml_files(&dir)
}

struct Corpus {
    /// Rollouts (and files holding one).
    rollouts: Vec<Seed>,
    /// AnalysisTemplates.
    templates: Vec<Seed>,
    /// Scenarios.
    scenarios: Vec<Seed>,
}

fn corpus() -> Corpus {
    let examples = yaml_files(&Path::new(ROOT).join("examples/scenarios"));
    let (mut rollouts, mut scenarios): (Vec<Seed>, Vec<Seed>) = examples
        .into_iter()
        .partition(|s| s.text.contains("kind: Rollout") || s.text.contains("kind: AnalysisTemplate"));
    let mut templates = yaml_files(&Path::new(ROOT).join("examples/templates"));
    for f in fixtures() {
        if f.text.contains("kind: Rollout") {
            rollouts.push(f);
        } else {
            templates.push(f);
        }
    }
    scenarios.retain(|s| !s.text.contains("kind:"));
    assert!(!rollouts.is_empty() && !templates.is_empty() && !scenarios.is_empty());
    Corpus {
        rollouts,
        templates,
        scenarios,
    }
}

/// How one case ended, when it broke a rule.
fn check(case: &str, args: &[String], input: &Path) -> Option<String> {
    run(args).err().map(|why| keep(case, input, why))
}

/// Runs `rollout ARGS` within the limits: its exit code and stderr, or which rule it broke.
fn run(args: &[String]) -> Result<(i32, String), String> {
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "ulimit -d {} && exec \"$0\" \"$@\"",
            MEMORY_LIMIT_MIB * 1024
        ))
        .arg(env!("CARGO_BIN_EXE_rollout"))
        .args(args)
        .current_dir(std::env::temp_dir())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    let stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || std::io::read_to_string(stderr).unwrap_or_default());
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("took more than {TIME_LIMIT:?}: {args:?}"));
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let stderr = reader.join().unwrap();
    match status.code() {
        None => Err(format!("killed by a signal ({status}): {args:?}\n{stderr}")),
        Some(101) => Err(format!("panicked: {args:?}\n{stderr}")),
        _ if stderr.contains("panicked") => Err(format!("panicked: {args:?}\n{stderr}")),
        Some(2) if !one_error_line(&stderr) => {
            Err(format!("a refusal must be one `error:` line: {args:?}\n{stderr}"))
        }
        Some(code) => Ok((code, stderr)),
    }
}

/// A refusal: exactly one `error:` line, after any `warning:` lines.
fn one_error_line(stderr: &str) -> bool {
    let lines: Vec<&str> = stderr.lines().collect();
    lines.iter().filter(|l| l.starts_with("error: ")).count() == 1
        && lines.last().is_some_and(|l| l.starts_with("error: "))
        && lines
            .iter()
            .all(|l| l.starts_with("error: ") || l.starts_with("warning: "))
}

/// Keeps a failing input for reproduction and says where.
fn keep(case: &str, input: &Path, why: String) -> String {
    let kept = std::env::temp_dir().join(format!("rollout-fuzz-{case}.yaml"));
    let _ = std::fs::copy(input, &kept);
    format!("case {case} (input kept as {}): {why}", kept.display())
}

/// Runs `count` mutants of `seeds` through `args(file)`; returns the failures.
fn fuzz(
    label: &str,
    seed: u64,
    count: usize,
    seeds: &[Seed],
    args: impl Fn(&str) -> Vec<String>,
) -> Vec<String> {
    let dir = std::env::temp_dir().join(format!("rollout-fuzz-{}-{label}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut rng = Rng::new(seed);
    let mut failures = Vec::new();
    for k in 0..count {
        let original = rng.pick(seeds);
        let mutant = mutate_yaml(&mut rng, &original.text);
        let input = dir.join(format!("{k}-{}", original.name));
        std::fs::write(&input, &mutant).unwrap();
        let case = format!("{label}-{k}-{}", original.name);
        failures.extend(check(&case, &args(input.to_str().unwrap()), &input));
        std::fs::remove_file(&input).unwrap();
    }
    std::fs::remove_dir(&dir).unwrap();
    failures
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|s| (*s).to_string()).collect()
}

fn assert_none(failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} failing case(s):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn validate_never_panics_and_stays_bounded() {
    let c = corpus();
    let all: Vec<Seed> = [&c.rollouts, &c.templates, &c.scenarios]
        .into_iter()
        .flatten()
        .map(|s| Seed {
            name: s.name.clone(),
            text: s.text.clone(),
        })
        .collect();
    assert_none(fuzz("validate", SEED, VALIDATE_CASES, &all, |f| {
        owned(&["validate", f])
    }));
}

#[test]
fn plan_never_panics_and_stays_bounded() {
    let c = corpus();
    assert_none(fuzz("plan", SEED + 1, PLAN_CASES, &c.rollouts, |f| {
        owned(&["plan", f])
    }));
}

#[test]
fn simulate_never_panics_and_stays_bounded() {
    let c = corpus();
    let analysis = Path::new(ROOT).join("examples/scenarios/analysis.yaml");
    let analysis = analysis.to_str().unwrap().to_string();
    // Mutated scenarios with the bundled Rollout, then mutated Rollouts with the bundled analysis.
    let mut failures = fuzz(
        "simulate-scenario",
        SEED + 2,
        SIMULATE_CASES / 2,
        &c.scenarios,
        |f| owned(&["simulate", "--scenario", f]),
    );
    failures.extend(fuzz(
        "simulate-rollout",
        SEED + 3,
        SIMULATE_CASES / 2,
        &c.rollouts,
        |f| owned(&["simulate", f, "--analysis", &analysis, "--promote-after", "1m"]),
    ));
    assert_none(failures);
}

#[test]
fn the_issue_inputs_finish_or_are_refused_with_one_line() {
    // The inputs issue 16 reports, each as a file, with the exit code and the start of the
    // refusal: the alias bomb, deep flow nesting, a scenario overflowing the traffic counters, an
    // unbounded simulated duration; the largest replica count is planned and simulated.
    let rollout = std::fs::read_to_string(Path::new(ROOT).join("examples/scenarios/rollout.yaml")).unwrap();
    let analysis = Path::new(ROOT).join("examples/scenarios/analysis.yaml");
    let analysis = analysis.to_str().unwrap();
    let huge = rollout.replace("replicas: 5", "replicas: 2147483647");
    let cases: [(&str, String, &[&str], i32, &str); 6] = [
        (
            "alias-bomb",
            format!(
                "x: &s \"{}\"\ny:\n{}",
                "a".repeat(100_000),
                "- *s\n".repeat(20_000)
            ),
            &["plan"],
            2,
            "YAML expands to more than 8 MiB once aliases are replaced",
        ),
        (
            "deep-flow",
            format!("metadata: {}{}\n", "{a: ".repeat(40_000), "}".repeat(40_000)),
            &["plan"],
            2,
            "YAML nested deeper than 64 levels (line 1)",
        ),
        (
            "overflow",
            "traffic: {requestsPerSecond: 1e18}\n".into(),
            &["simulate", "--scenario"],
            2,
            "scenario field traffic.requestsPerSecond: must be a number from 0 to 1000000",
        ),
        (
            "duration",
            "maxDuration: 2562047h\n".into(),
            &["simulate", "--scenario"],
            2,
            "scenario field maxDuration: 2562047h is longer than the longest simulated duration",
        ),
        ("replicas-plan", huge.clone(), &["plan"], 0, ""),
        (
            "replicas-simulate",
            huge,
            &["simulate", "--analysis", analysis],
            0,
            "",
        ),
    ];
    let dir = std::env::temp_dir().join(format!("rollout-fuzz-{}-issue", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    for (name, text, command, want_code, want_error) in cases {
        let input = dir.join(format!("{name}.yaml"));
        std::fs::write(&input, text).unwrap();
        let mut args = owned(command);
        args.push(input.to_str().unwrap().to_string());
        let (code, stderr) = run(&args).unwrap_or_else(|why| panic!("{name}: {why}"));
        assert_eq!(code, want_code, "{name}: {stderr}");
        assert!(stderr.contains(want_error), "{name}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
