//! `rollout validate`: every problem in Rollout / AnalysisTemplate YAML, with file, document index,
//! field path and message.

use std::path::Path;

use rollout_core::analysis::validate::{dry_run_metrics, retention_limits, validate_metrics};
use rollout_core::analysis::{AnalysisTemplate, DryRun, MeasurementRetention};
use rollout_core::rollout::validation::unsupported_steps;
use rollout_core::rollout::{Rollout, validate};

use crate::docs::{self, Doc};

/// One problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// File.
    pub file: String,
    /// Document index in the file.
    pub doc: usize,
    /// Field path (`-` when the document as a whole is wrong).
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}: document {}: {}: {}",
            self.file, self.doc, self.path, self.message
        )
    }
}

/// What validating some files found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Summary {
    /// Rollouts and templates checked.
    pub checked: usize,
    /// Documents of other kinds, skipped.
    pub skipped: usize,
    /// Problems.
    pub problems: Vec<Problem>,
}

/// Splits serde_yaml's "path: message" text into a field path and a message.
fn parse_error(err: &str) -> (String, String) {
    match err.split_once(": ") {
        Some((path, msg)) if !path.contains(' ') && !path.is_empty() => (path.to_string(), msg.to_string()),
        _ => ("-".to_string(), err.to_string()),
    }
}

fn check_doc(file: &str, d: &Doc, out: &mut Summary) {
    let mut problem = |path: String, message: String| {
        out.problems.push(Problem {
            file: file.to_string(),
            doc: d.index,
            path,
            message,
        });
    };
    match d.kind.as_str() {
        "Rollout" => match serde_yaml::from_value::<Rollout>(d.value.clone()) {
            Err(e) => {
                let (path, message) = parse_error(&e.to_string());
                problem(path, message);
            }
            Ok(ro) => {
                for e in validate(&ro, None).into_iter().chain(unsupported_steps(&ro)) {
                    let text = e.to_string();
                    let message = text
                        .strip_prefix(&format!("{}: ", e.path))
                        .unwrap_or(&text)
                        .to_string();
                    problem(e.path.clone(), message);
                }
            }
        },
        "AnalysisTemplate" | "ClusterAnalysisTemplate" => {
            match serde_yaml::from_value::<AnalysisTemplate>(d.value.clone()) {
                Err(e) => {
                    let (path, message) = parse_error(&e.to_string());
                    problem(path, message);
                }
                Ok(t) => {
                    if let Err(m) = validate_metrics(&t.spec.metrics) {
                        problem("spec.metrics".into(), m);
                    }
                    let dry: &[DryRun] = &t.spec.dry_run;
                    if let Err(m) = dry_run_metrics(dry, &t.spec.metrics) {
                        problem("spec.dryRun".into(), m);
                    }
                    let retention: &[MeasurementRetention] = &t.spec.measurement_retention;
                    if let Err(m) = retention_limits(retention, &t.spec.metrics) {
                        problem("spec.measurementRetention".into(), m);
                    }
                }
            }
        }
        _ => {
            out.skipped += 1;
            return;
        }
    }
    out.checked += 1;
}

/// Validates files. A file that cannot be read or parsed is one problem for document 0.
pub fn run(files: &[&Path]) -> Summary {
    let mut out = Summary::default();
    for path in files {
        let file = path.display().to_string();
        match docs::load(path) {
            Ok(docs) => {
                for d in &docs {
                    check_doc(&file, d, &mut out);
                }
            }
            Err(e) => out.problems.push(Problem {
                file: file.clone(),
                doc: 0,
                path: "-".into(),
                message: e.to_string(),
            }),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_paths_come_from_the_core_and_serde() {
        let text = "apiVersion: argoproj.io/v1alpha1\nkind: Rollout\nmetadata: {name: x}\nspec:\n  selector: {matchLabels: {app: a}}\n  template: {metadata: {labels: {app: a}}, spec: {containers: [{name: c}]}}\n  strategy: {canary: {steps: [{setWeight: 120}]}}\n---\nkind: AnalysisTemplate\nmetadata: {name: t}\nspec:\n  metrics:\n  - name: m\n    count: 3\n    provider: {prometheus: {query: up}}\n";
        let docs = docs::parse("f.yaml", text).unwrap();
        let mut s = Summary::default();
        for d in &docs {
            check_doc("f.yaml", d, &mut s);
        }
        assert_eq!(s.checked, 2);
        assert_eq!(
            s.problems[0].to_string(),
            "f.yaml: document 0: spec.strategy.steps[0].setWeight: Invalid value: 120: SetWeight needs to be between 0 and 100"
        );
        assert_eq!(s.problems[1].doc, 1);
        assert_eq!(s.problems[1].path, "spec.metrics");
    }

    #[test]
    fn serde_errors_are_split_into_path_and_message() {
        assert_eq!(
            parse_error("spec.replicas: invalid type: string \"x\", expected i32"),
            (
                "spec.replicas".to_string(),
                "invalid type: string \"x\", expected i32".to_string()
            )
        );
        assert_eq!(
            parse_error("missing field `spec`"),
            ("-".to_string(), "missing field `spec`".to_string())
        );
    }
}
