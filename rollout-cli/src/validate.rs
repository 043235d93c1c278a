//! `rollout validate`: every problem in Rollout / AnalysisTemplate YAML, in one run, each with its
//! file, document index, field path (as written in the YAML) and line.
//!
//! Errors are what upstream would reject (or what would fail at run time: conditions that do not
//! compile, integer fields that are not integers); warnings are fields the objects do not have
//! (as `kubectl --validate=strict` reports them) and, for `validate`, analysis templates that are
//! not among the given files. `--strict` makes warnings errors. `plan` and `simulate` run the
//! same checks first ([`gate`], [`check_before_run`]).

mod check;
mod locate;

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::exit::Exit;
use crate::{CliError, docs, input};

/// How bad a problem is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    /// The input is invalid.
    Error,
    /// Probably a mistake (an unknown field); an error with `--strict`.
    Warning,
}

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File.
    pub file: String,
    /// Document index in the file (`None`: the file as a whole).
    pub doc: Option<usize>,
    /// Field path as written in the YAML (`-` when the document as a whole is wrong).
    pub path: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// Error or warning.
    pub severity: Severity,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.severity == Severity::Warning {
            f.write_str("warning: ")?;
        }
        let Some(doc) = self.doc else {
            // File-level messages name the file themselves.
            return f.write_str(&self.message);
        };
        write!(f, "{}: document {doc}: ", self.file)?;
        if self.path != "-" {
            write!(f, "{}: ", self.path)?;
        }
        f.write_str(&self.message)?;
        match self.line {
            Some(line) => write!(f, " (line {line})"),
            None => Ok(()),
        }
    }
}

/// What validating some files found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rollouts and templates checked.
    pub checked: usize,
    /// Documents of other kinds, skipped.
    pub skipped: usize,
    /// Problems, in file and document order.
    pub problems: Vec<Problem>,
}

impl Summary {
    fn count(&self, severity: Severity) -> usize {
        self.problems.iter().filter(|p| p.severity == severity).count()
    }

    /// Makes every warning an error (`--strict`).
    pub fn make_strict(&mut self) {
        for p in &mut self.problems {
            p.severity = Severity::Error;
        }
    }
}

/// How analysis templates that a Rollout names but the inputs do not hold are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum References {
    /// Not checked (`plan` reads one Rollout, templates do not matter to it).
    Ignore,
    /// A warning (`validate`: the template may be in the cluster already).
    Warn,
    /// An error (`simulate` needs every template), with a hint for the user.
    Require(&'static str),
}

/// One input: a file, or bundled text.
#[derive(Debug, Clone)]
pub struct Source {
    /// File name or label.
    pub label: String,
    /// The text, or why it could not be read (the message names the file).
    pub text: Result<String, CliError>,
}

impl Source {
    /// A file, read within the input bounds.
    pub fn file(path: &Path) -> Self {
        Source {
            label: path.display().to_string(),
            text: input::read_yaml(path),
        }
    }

    /// Bundled text.
    pub fn text(label: &str, text: &str) -> Self {
        Source {
            label: label.to_string(),
            text: Ok(text.to_string()),
        }
    }
}

/// Checks every document of every source, and the templates the Rollouts name.
pub fn check_sources(sources: &[Source], references: References) -> Summary {
    let mut findings = check::Findings::default();
    for source in sources {
        check_source(source, &mut findings);
    }
    findings.resolve_references(references);
    findings.summary
}

fn check_source(source: &Source, findings: &mut check::Findings) {
    let label = &source.label;
    let whole_file = |message: String| Problem {
        file: label.clone(),
        doc: None,
        path: "-".into(),
        line: None,
        severity: Severity::Error,
        message,
    };
    let text = match &source.text {
        Ok(text) => text,
        Err(e) => return findings.summary.problems.push(whole_file(e.to_string())),
    };
    if let Err(e) = input::check_yaml_bounds(text) {
        return findings
            .summary
            .problems
            .push(whole_file(format!("{label}: {e}")));
    }
    let documents = docs::parse_each(text);
    if documents.is_empty() {
        let message = format!("{label}: no YAML documents (the file is empty)");
        return findings.summary.problems.push(whole_file(message));
    }
    for document in documents {
        let first = findings.summary.problems.len();
        match document {
            Ok(doc) => {
                check::document(label, &doc, findings);
                // In the order of the file (problems without a line last).
                findings.summary.problems[first..].sort_by_key(|p| p.line.unwrap_or(usize::MAX));
            }
            Err(e) => findings.summary.problems.push(Problem {
                file: label.clone(),
                doc: Some(e.index),
                path: e.path,
                line: e.line,
                severity: Severity::Error,
                message: e.message,
            }),
        }
    }
}

/// Validates files as `rollout validate` does (missing templates are warnings).
pub fn run(files: &[&Path]) -> Summary {
    let sources: Vec<Source> = files.iter().map(|p| Source::file(p)).collect();
    check_sources(&sources, References::Warn)
}

/// Examples and the meaning of warnings, after `rollout validate --help`.
const HELP: &str = "Examples:
  rollout validate examples/scenarios/rollout.yaml examples/scenarios/analysis.yaml
  rollout validate --strict examples/scenarios/rollout.yaml examples/templates/error-ratio.yaml
  rollout validate examples/policy/policy.yaml          # a trigger policy (kind: RolloutPolicy)

Each problem is printed as FILE: document N: FIELD.PATH: MESSAGE (line L). Warnings (unknown
fields, analysis templates not among the files) leave the exit status 0 unless --strict.";

/// `rollout validate` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// Files to check (every document in each).
    #[arg(required = true)]
    pub files: Vec<PathBuf>,
    /// Treat warnings (unknown fields, templates not among the files) as errors.
    #[arg(long)]
    pub strict: bool,
}

/// Runs `rollout validate`: prints every problem and a summary; exit status 1 when any error.
pub fn main(args: &Args) -> Result<ExitCode, CliError> {
    let paths: Vec<&Path> = args.files.iter().map(PathBuf::as_path).collect();
    let mut s = run(&paths);
    if args.strict {
        s.make_strict();
    }
    for p in &s.problems {
        crate::outln!("{p}");
    }
    let errors = s.count(Severity::Error);
    crate::outln!(
        "{} document(s) checked, {} skipped (other kinds), {errors} problem(s), {} warning(s)",
        s.checked,
        s.skipped,
        s.count(Severity::Warning)
    );
    Ok(if errors == 0 { Exit::Success } else { Exit::Invalid }.into())
}

/// The most problems one error line lists.
const MAX_LISTED: usize = 10;

/// Checks inputs before a command uses them: any error (any warning with `strict`) is one
/// [`CliError`] listing the problems; warnings are printed on stderr.
pub fn gate(sources: &[Source], references: References, strict: bool) -> Result<(), CliError> {
    let mut s = check_sources(sources, references);
    if strict {
        s.make_strict();
    }
    let errors: Vec<String> = s
        .problems
        .iter()
        .filter(|p| p.severity == Severity::Error)
        .map(ToString::to_string)
        .collect();
    if errors.is_empty() {
        for p in &s.problems {
            eprintln!("{p}");
        }
        return Ok(());
    }
    let mut text = errors[..errors.len().min(MAX_LISTED)].join("; ");
    if errors.len() > MAX_LISTED {
        let more = errors.len() - MAX_LISTED;
        text.push_str(&format!("; and {more} more (`rollout validate` lists them all)"));
    }
    Err(CliError::new(text))
}

/// What `simulate` checks before it runs: the Rollout file (or the bundled example) and the
/// template files, with every template the Rollout names required.
pub fn check_before_run(rollout: Option<&Path>, analysis: &[PathBuf], strict: bool) -> Result<(), CliError> {
    let mut sources = Vec::new();
    match rollout {
        Some(path) => sources.push(Source::file(path)),
        None => {
            sources.push(Source::text("bundled rollout", crate::simulate::DEFAULT_ROLLOUT));
            if analysis.is_empty() {
                sources.push(Source::text(
                    "bundled analysis",
                    crate::simulate::DEFAULT_ANALYSIS,
                ));
            }
        }
    }
    sources.extend(analysis.iter().map(|p| Source::file(p)));
    gate(
        &sources,
        References::Require("pass it with --analysis FILE"),
        strict,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const ROLLOUT: &str = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: x}\nspec:\n  selector: {matchLabels: {app: a}}\n  template: {metadata: {labels: {app: a}}, spec: {containers: [{name: c}]}}\n";

    fn check(text: &str) -> Summary {
        check_sources(&[Source::text("f.yaml", text)], References::Warn)
    }

    #[test]
    fn every_problem_has_the_yaml_path_and_line() {
        let text = format!(
            "{ROLLOUT}  strategy: {{canary: {{steps: [{{setWeight: 120}}]}}}}\n---\nkind: AnalysisTemplate\nmetadata: {{name: t}}\nspec:\n  metrics:\n  - name: m\n    count: 3\n    provider: {{prometheus: {{query: up}}}}\n"
        );
        let s = check(&text);
        assert_eq!(s.checked, 2);
        let lines: Vec<String> = s.problems.iter().map(ToString::to_string).collect();
        assert_eq!(
            lines,
            vec![
                "f.yaml: document 0: spec.strategy.canary.steps[0].setWeight: Invalid value: 120: SetWeight needs to be between 0 and 100 (line 7)",
                "f.yaml: document 1: spec.metrics[0].interval: interval must be specified when count > 1 (line 13)",
            ]
        );
    }

    #[test]
    fn warnings_become_errors_with_strict() {
        let text =
            format!("{ROLLOUT}  replicasz: 3\n  strategy: {{canary: {{steps: [{{setWieght: 20}}]}}}}\n");
        let mut s = check(&text);
        let lines: Vec<String> = s.problems.iter().map(ToString::to_string).collect();
        assert!(
            lines.contains(
                &"warning: f.yaml: document 0: spec.replicasz: unknown field \"replicasz\" (line 7)"
                    .to_string()
            ),
            "{lines:?}"
        );
        assert!(
            lines.contains(&"warning: f.yaml: document 0: spec.strategy.canary.steps[0].setWieght: unknown field \"setWieght\" (line 8)".to_string()),
            "{lines:?}"
        );
        assert_eq!(s.count(Severity::Warning), 2, "{lines:?}");
        s.make_strict();
        assert_eq!(s.count(Severity::Warning), 0);
    }
}
