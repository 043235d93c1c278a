//! Every `rollout` command the docs and the `--help` examples show runs against the built binary,
//! as doctests do for code, so the docs and the help stay in step with the CLI.
//!
//! Where the commands come from:
//! - [`DOCS`]: in fenced code blocks, lines starting with `rollout ` or `cargo run -p rollout-cli -- `
//!   (with `\` continuations joined and `# comments` dropped); in the text, inline code spans starting
//!   with either (also across a line break);
//! - the `Examples:` lines of `rollout --help` and of every subcommand's `--help`.
//!
//! How they run:
//! - The documented working directory is the repository root (the docs' paths are relative to it;
//!   analysis-sdk/docs runs in the directory holding the judge, `my-judge.wasm`). Each command runs in a
//!   scratch directory with every top-level entry of the repository linked into it, so paths resolve
//!   as from the root while files the commands write (`--report timeline.svg`) stay out of the tree.
//! - Placeholders ([`PLACEHOLDERS`]) stand for files the reader has: `my-judge.wasm` and `<file>` are a
//!   shipped judge, `input.json` an input for it, `ROLLOUT.yaml` a canary with an indefinite pause,
//!   `TEMPLATES.yaml` and `SCENARIO.yaml` the bundled example's.
//! - A span in the text that only names a command (`rollout plan`, `rollout judge inspect|run`) is
//!   checked with `--help`: the command exists.
//! - Commands that need a cluster ([`CLUSTER_COMMANDS`]; `controller` except `controller manifests`;
//!   `fleet` except `fleet simulate`, which read clusters or Prometheus) run
//!   with `--help` appended: every argument before it must parse.
//! - The part of a command before a pipe (`| kubectl apply -f -`, `| jq`) runs.
//!
//! Each must exit with a documented code other than 2 (usage or input error) and without an `error:`
//! line; `simulate` with the exit code of the outcome it prints (`simulate --dry-run` has none: 0).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// The documents whose commands are run.
const DOCS: [&str; 5] = [
    "README.md",
    "CONTRIBUTING.md",
    "examples/scenarios/README.md",
    "analysis-sdk/docs/README.md",
    "plugins/README.md",
];

/// Subcommands that act on a cluster.
const CLUSTER_COMMANDS: [&str; 7] = ["get", "promote", "abort", "retry", "pause", "migrate", "revert"];

/// Placeholder → the file put in the scratch directory.
const PLACEHOLDERS: [(&str, Placeholder); 5] = [
    ("my-judge.wasm", Placeholder::Copy(JUDGE)),
    ("input.json", Placeholder::Text(JUDGE_INPUT)),
    ("ROLLOUT.yaml", Placeholder::Text(PAUSED_ROLLOUT)),
    (
        "TEMPLATES.yaml",
        Placeholder::Copy("examples/scenarios/analysis.yaml"),
    ),
    (
        "SCENARIO.yaml",
        Placeholder::Copy("examples/scenarios/healthy.yaml"),
    ),
];

/// What a placeholder file holds.
enum Placeholder {
    /// A copy of this repository file.
    Copy(&'static str),
    /// This text.
    Text(&'static str),
}

/// Placeholders that stand for another one.
const SAME_AS: [(&str, &str); 1] = [("<file>", "my-judge.wasm")];

/// The judge the judge placeholders stand for.
const JUDGE: &str = "plugins/dist/rust-error-ratio.wasm";

/// An input for [`JUDGE`] (the WIT field names) that it passes: `judge run` exits with the verdict.
const JUDGE_INPUT: &str = r#"{"metric":"m","series":[{"name":"canary","ratios":[{"time-ms":0,"numerator":1,"denominator":100}]},{"name":"stable","ratios":[{"time-ms":0,"numerator":2,"denominator":200}]}]}"#;

/// A canary that waits for a person after its first weight.
const PAUSED_ROLLOUT: &str = "apiVersion: argoproj.io/v1alpha1
kind: Rollout
metadata: {name: paused}
spec:
  replicas: 2
  selector: {matchLabels: {app: paused}}
  template:
    metadata: {labels: {app: paused}}
    spec: {containers: [{name: app, image: 'example/app:1'}]}
  strategy:
    canary:
      steps: [{setWeight: 50}, {pause: {}}]
";

/// Documented exit codes of `simulate` by printed outcome (README.md, "Exit codes").
const OUTCOME_CODES: [(&str, i32); 5] = [
    ("promoted", 0),
    ("aborted", 3),
    ("paused", 4),
    ("degraded", 5),
    ("timed-out", 6),
];

/// One command and where it was found.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct DocCommand {
    /// Arguments after `rollout`.
    args: Vec<String>,
    /// A span in the text, which may only name a command.
    mention: bool,
    /// File (or `--help` of a command) and line.
    origin: String,
}

/// The arguments of a `rollout ...` or `cargo run -p rollout-cli -- ...` command (the program's
/// name alone is not a command).
fn rollout_args(command: &str) -> Option<&str> {
    let command = command.trim();
    command
        .strip_prefix("rollout ")
        .or_else(|| command.strip_prefix("cargo run -p rollout-cli -- "))
}

/// The command before a pipe and a `# comment`, split into words, placeholders replaced.
fn words(command: &str) -> Vec<String> {
    let command = command.split(" # ").next().unwrap_or_default();
    let command = command.split(" | ").next().unwrap_or_default();
    assert!(
        !command.contains(['\'', '$', '`', '\\']),
        "only double quotes are supported here, no substitution: {command}"
    );
    // Words split on whitespace outside double quotes; a quoted word keeps its spaces.
    let mut out = Vec::new();
    for (k, part) in command.split('"').enumerate() {
        if k % 2 == 1 {
            out.push(part.to_string());
        } else {
            out.extend(part.split_whitespace().map(|w| {
                SAME_AS
                    .iter()
                    .find(|(p, _)| *p == w)
                    .map_or(w, |(_, file)| file)
                    .to_string()
            }));
        }
    }
    assert!(
        command.matches('"').count().is_multiple_of(2),
        "unbalanced quotes: {command}"
    );
    out
}

/// Commands in a Markdown document: code block lines and inline code spans.
fn commands_in(doc: &str, text: &str) -> Vec<DocCommand> {
    let mut out = Vec::new();
    let mut in_block = false;
    let mut pending = String::new();
    // The text paragraph being read (a span may go on over a line break) and its first line.
    let mut paragraph = (String::new(), 0);
    let mentions = |paragraph: &mut (String, usize), out: &mut Vec<DocCommand>| {
        for (k, span) in paragraph.0.split('`').enumerate() {
            if k % 2 == 1
                && let Some(args) = rollout_args(span)
            {
                out.push(DocCommand {
                    args: words(args),
                    mention: true,
                    origin: format!("{doc}:{}", paragraph.1),
                });
            }
        }
        paragraph.0.clear();
    };
    for (i, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            mentions(&mut paragraph, &mut out);
            in_block = !in_block;
            continue;
        }
        if in_block {
            pending.push_str(line.trim_end().trim_end_matches('\\'));
            if line.trim_end().ends_with('\\') {
                continue;
            }
            if let Some(args) = rollout_args(&pending) {
                out.push(DocCommand {
                    args: words(args),
                    mention: false,
                    origin: format!("{doc}:{}", i + 1),
                });
            }
            pending.clear();
        } else if line.trim().is_empty() {
            mentions(&mut paragraph, &mut out);
        } else {
            if paragraph.0.is_empty() {
                paragraph.1 = i + 1;
            }
            paragraph.0.push_str(line.trim());
            paragraph.0.push(' ');
        }
    }
    mentions(&mut paragraph, &mut out);
    out
}

/// The `Examples:` lines of a help text.
fn help_examples(help: &str, origin: &str) -> Vec<DocCommand> {
    help.lines()
        .skip_while(|l| l.trim() != "Examples:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| rollout_args(l.split(" # ").next().unwrap_or_default()))
        .map(|args| DocCommand {
            args: words(args),
            mention: false,
            origin: origin.to_string(),
        })
        .collect()
}

/// Subcommand names listed under `Commands:` in a help text, without `help`.
fn subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim() != "Commands:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_string)
        .collect()
}

/// A scratch directory laid out like the repository, with the placeholder files.
fn scratch() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollout-docs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for entry in std::fs::read_dir(ROOT).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name();
        if name != "target" && name != ".git" {
            std::os::unix::fs::symlink(entry.path(), dir.join(&name)).unwrap();
        }
    }
    for (name, content) in PLACEHOLDERS {
        match content {
            Placeholder::Text(text) => std::fs::write(dir.join(name), text).unwrap(),
            Placeholder::Copy(file) => {
                std::fs::copy(Path::new(ROOT).join(file), dir.join(name)).unwrap();
            }
        }
    }
    dir
}

fn run(dir: &Path, args: &[String]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).to_string()
}

/// How a command is checked: as written, or with `--help` (a mention of a command's name, or a
/// cluster needed).
fn as_run(command: &DocCommand) -> Vec<Vec<String>> {
    let args = &command.args;
    let names_only = command.mention
        && !args.is_empty()
        && args
            .iter()
            .all(|a| a.chars().all(|c| c.is_ascii_lowercase() || c == '|'));
    if names_only {
        // `judge inspect|run`: each alternative.
        let last = args.len() - 1;
        return args[last]
            .split('|')
            .map(|alt| {
                let mut v = args[..last].to_vec();
                v.extend([alt.to_string(), "--help".to_string()]);
                v
            })
            .collect();
    }
    let first = args.first().map(String::as_str).unwrap_or_default();
    let needs_cluster = CLUSTER_COMMANDS.contains(&first)
        || (first == "controller" && args.get(1).is_none_or(|a| a != "manifests"))
        || (first == "fleet" && args.get(1).is_some_and(|a| a != "simulate"));
    let mut v = args.to_vec();
    if needs_cluster {
        v.push("--help".to_string());
    }
    vec![v]
}

/// What is wrong with running `command` as documented, if anything.
fn check(dir: &Path, command: &DocCommand) -> Vec<String> {
    let mut problems = Vec::new();
    for args in as_run(command) {
        let o = run(dir, &args);
        let (out, err) = (text(&o.stdout), text(&o.stderr));
        let code = o.status.code();
        let what = format!(
            "{}: rollout {} exited {code:?}\n{out}\n{err}",
            command.origin,
            args.join(" ")
        );
        let help = args.iter().any(|a| a == "--help");
        let ok = if err.contains("error:") || err.contains("panicked") {
            false
        } else if args.first().is_some_and(|a| a == "simulate")
            && !help
            && !args.iter().any(|a| a == "--dry-run")
        {
            let outcome = if args.iter().any(|a| a == "--json") {
                serde_json::from_str::<serde_json::Value>(&out)
                    .ok()
                    .and_then(|v| v["outcome"].as_str().map(str::to_string))
                    .unwrap_or_default()
            } else {
                out.lines()
                    .find_map(|l| {
                        l.strip_prefix("outcome:")
                            .or_else(|| l.strip_prefix("group outcome:"))
                    })
                    .map(|o| o.trim().to_string())
                    .unwrap_or_default()
            };
            let want = OUTCOME_CODES.iter().find(|(o, _)| *o == outcome).map(|(_, c)| *c);
            let report_written = args
                .iter()
                .position(|a| a == "--report")
                .is_none_or(|i| args.get(i + 1).is_some_and(|f| dir.join(f).is_file()));
            want.is_some() && code == want && report_written
        } else {
            code == Some(0) && !out.trim().is_empty()
        };
        if !ok {
            problems.push(what);
        }
    }
    problems
}

#[test]
fn every_command_in_the_docs_and_the_help_examples_runs() {
    let dir = scratch();
    let mut commands = BTreeSet::new();
    for doc in DOCS {
        let text = std::fs::read_to_string(Path::new(ROOT).join(doc)).unwrap();
        commands.extend(commands_in(doc, &text));
    }
    let from_docs = commands.len();
    // The help of every command, down the tree; each has examples.
    let mut problems = Vec::new();
    let mut pending: Vec<Vec<String>> = vec![Vec::new()];
    while let Some(path) = pending.pop() {
        let mut args = path.clone();
        args.push("--help".to_string());
        let help = text(&run(&dir, &args).stdout);
        let origin = format!("rollout {} --help", path.join(" "));
        let examples = help_examples(&help, &origin);
        if examples.is_empty() {
            problems.push(format!("{origin} has no Examples:\n{help}"));
        }
        commands.extend(examples);
        for sub in subcommands(&help) {
            let mut p = path.clone();
            p.push(sub);
            pending.push(p);
        }
    }
    // Each distinct command once, wherever it is shown.
    let mut seen = BTreeSet::new();
    let mut ran = 0;
    for c in &commands {
        if seen.insert(c.args.clone()) {
            problems.extend(check(&dir, c));
            ran += 1;
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
    assert!(
        from_docs >= 8 && ran >= 20,
        "{from_docs} from the docs, {ran} run"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_readme_exit_codes_are_the_ones_in_the_help() {
    let o = Command::new(env!("CARGO_BIN_EXE_rollout"))
        .arg("--help")
        .output()
        .unwrap();
    let help = text(&o.stdout);
    let from_help: Vec<(String, String)> = help
        .lines()
        .skip_while(|l| l.trim() != "Exit codes:")
        .skip(1)
        .take_while(|l| !l.trim().is_empty())
        .filter_map(|l| {
            let (code, meaning) = l.trim().split_once("  ")?;
            Some((code.to_string(), meaning.trim().to_string()))
        })
        .collect();
    let readme = std::fs::read_to_string(Path::new(ROOT).join("README.md")).unwrap();
    let from_readme: Vec<(String, String)> = readme
        .lines()
        .skip_while(|l| l.trim() != "## Exit codes")
        .skip_while(|l| !l.starts_with("|---"))
        .skip(1)
        .take_while(|l| l.starts_with('|'))
        .filter_map(|l| {
            let cells: Vec<&str> = l.trim_matches('|').split('|').map(str::trim).collect();
            Some((cells.first()?.to_string(), cells.get(1)?.to_string()))
        })
        .collect();
    assert_eq!(from_help.len(), 8, "{help}");
    assert_eq!(from_readme, from_help);
    // And the codes `simulate` is checked against above are those documented.
    for (outcome, code) in OUTCOME_CODES {
        let row = from_help.iter().find(|(c, _)| *c == code.to_string()).unwrap();
        let documented = row.1.starts_with("simulate: ") || (code == 0 && row.1.contains("promoted"));
        assert!(documented, "{outcome}: {row:?}");
    }
}

#[test]
fn commands_are_found_in_blocks_spans_and_help_examples() {
    let md = "Run `rollout plan` or `cargo run -p rollout-cli -- --help`, or `rollout simulate\n\
              x.yaml`.\n\n```sh\n\
              cargo run -p rollout-cli -- simulate a.yaml \\\n    --json   # comment\nscripts/test\n```\n";
    let got: Vec<(Vec<String>, bool)> = commands_in("x.md", md)
        .into_iter()
        .map(|c| (c.args, c.mention))
        .collect();
    let words = |w: &[&str]| w.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    assert_eq!(
        got,
        vec![
            (words(&["plan"]), true),
            (words(&["--help"]), true),
            (words(&["simulate", "x.yaml"]), true),
            (words(&["simulate", "a.yaml", "--json"]), false),
        ]
    );
    let help = "Usage: x\n\nExamples:\n  rollout controller manifests | kubectl apply -f -   # all\n  rollout get g\n\nMore";
    let got: Vec<Vec<String>> = help_examples(help, "h").into_iter().map(|c| c.args).collect();
    assert_eq!(got, vec![vec!["controller", "manifests"], vec!["get", "g"]]);
    let command = |w: &[&str], mention: bool| DocCommand {
        args: words(w),
        mention,
        origin: String::new(),
    };
    assert_eq!(
        as_run(&command(&["judge", "inspect|run"], true)),
        vec![
            words(&["judge", "inspect", "--help"]),
            words(&["judge", "run", "--help"])
        ]
    );
    assert_eq!(
        as_run(&command(&["plan"], true)),
        vec![words(&["plan", "--help"])]
    );
    assert_eq!(
        as_run(&command(&["get", "g"], false)),
        vec![words(&["get", "g", "--help"])]
    );
    assert_eq!(
        as_run(&command(&["controller", "manifests"], false)),
        vec![words(&["controller", "manifests"])]
    );
    assert_eq!(
        as_run(&command(&["controller", "--shard", "1"], false)),
        vec![words(&["controller", "--shard", "1", "--help"])]
    );
}
