//! The checks of one document (Rollout, AnalysisTemplate, ClusterAnalysisTemplate), and of the
//! templates the Rollouts name across all documents.

use rollout_core::analysis::AnalysisTemplate;
use rollout_core::analysis::validate::{FieldProblem, template_problems};
use rollout_core::rollout::validation::{rollout_problems, template_refs, unknown_fields};
use rollout_core::rollout::{Rollout, RolloutAnalysis};

use super::locate::line_of;
use super::{Problem, References, Severity, Summary};
use crate::docs::{self, Doc};

/// A template a Rollout names, and where.
#[derive(Debug, Clone)]
struct Reference {
    /// `AnalysisTemplate` or `ClusterAnalysisTemplate`.
    kind: &'static str,
    /// The template's name.
    name: String,
    /// Where the Rollout names it (the `templateName` field).
    at: Problem,
}

/// What the documents checked so far found.
#[derive(Debug, Default)]
pub(super) struct Findings {
    /// Counts and problems.
    pub summary: Summary,
    /// Templates seen: kind and name.
    templates: Vec<(String, String)>,
    /// Templates the Rollouts name.
    references: Vec<Reference>,
    /// Line look-ups left for the current document (each reads the document again).
    lookups_left: usize,
}

/// The most problems of one document whose line is looked up: each look-up reads the document
/// again, so this bounds the work on a document with very many problems.
const MAX_LINE_LOOKUPS: usize = 100;

impl Findings {
    /// The line of `path` in `doc`, while look-ups are left.
    fn line(&mut self, doc: &Doc, path: &str) -> Option<usize> {
        self.lookups_left = self.lookups_left.checked_sub(1)?;
        line_of(doc, path)
    }

    fn push(&mut self, file: &str, doc: &Doc, severity: Severity, problem: FieldProblem) {
        let line = self.line(doc, &problem.path);
        self.summary.problems.push(Problem {
            file: file.to_string(),
            doc: Some(doc.index),
            path: problem.path,
            line,
            severity,
            message: problem.message,
        });
    }

    fn unknown(&mut self, file: &str, doc: &Doc, paths: Vec<String>) {
        for path in paths {
            let field = path.rsplit(['.', '[']).next().unwrap_or_default().to_string();
            let message = format!("unknown field {field:?}");
            self.push(file, doc, Severity::Warning, FieldProblem::new(path, message));
        }
    }

    /// Reports the templates the Rollouts name that no document holds.
    pub fn resolve_references(&mut self, references: References) {
        let hint = match references {
            References::Ignore => return,
            References::Warn => None,
            References::Require(hint) => Some(hint),
        };
        let mut reported: Vec<(&str, String)> = Vec::new();
        for r in std::mem::take(&mut self.references) {
            let found = self
                .templates
                .iter()
                .any(|(kind, name)| kind == r.kind && *name == r.name);
            // A missing template is reported once, where it is first named.
            if found || (!r.name.is_empty() && reported.contains(&(r.kind, r.name.clone()))) {
                continue;
            }
            reported.push((r.kind, r.name.clone()));
            let (severity, message) = match (r.name.is_empty(), hint) {
                (true, _) => (Severity::Error, "Required value: the template's name".to_string()),
                (false, None) => (Severity::Warning, missing(&r)),
                (false, Some(hint)) => (Severity::Error, format!("{} ({hint})", missing(&r))),
            };
            self.summary.problems.push(Problem {
                severity,
                message,
                ..r.at
            });
        }
    }
}

fn missing(r: &Reference) -> String {
    format!(
        "the Rollout references {} {:?}, which is not in the given files",
        r.kind, r.name
    )
}

/// Checks one document; documents of other kinds are counted as skipped.
pub(super) fn document(file: &str, doc: &Doc, out: &mut Findings) {
    out.lookups_left = MAX_LINE_LOOKUPS;
    match doc.kind.as_str() {
        "Rollout" => rollout(file, doc, out),
        "AnalysisTemplate" | "ClusterAnalysisTemplate" => template(file, doc, out),
        rollout_core::rollout::policy::KIND => policy(file, doc, out),
        "" => {
            let problem = FieldProblem::new("kind", "missing, so the document is not checked");
            out.push(file, doc, Severity::Warning, problem);
            out.summary.skipped += 1;
            return;
        }
        _ => {
            out.summary.skipped += 1;
            return;
        }
    }
    out.summary.checked += 1;
}

/// Converts the document, or reports why it cannot be converted.
fn decode<T: serde::de::DeserializeOwned>(
    file: &str,
    doc: &Doc,
    out: &mut Findings,
) -> Option<docs::Decoded<T>> {
    match docs::decode::<T>(doc) {
        Ok(decoded) => Some(decoded),
        Err(e) => {
            out.summary.problems.push(Problem {
                file: file.to_string(),
                doc: Some(doc.index),
                path: e.path,
                line: e.line,
                severity: Severity::Error,
                message: e.message,
            });
            None
        }
    }
}

fn rollout(file: &str, doc: &Doc, out: &mut Findings) {
    let Some(decoded) = decode::<Rollout>(file, doc, out) else {
        return;
    };
    let ro = &decoded.value;
    let mut unknown = decoded.unknown.clone();
    unknown.extend(unknown_fields(ro));
    unknown.extend(background_analysis_unknown(doc));
    out.unknown(file, doc, unknown);
    for problem in rollout_problems(ro) {
        out.push(file, doc, Severity::Error, problem);
    }
    for (path, t) in template_refs(ro) {
        let line = out.line(doc, &path);
        out.references.push(Reference {
            kind: if t.cluster_scope {
                "ClusterAnalysisTemplate"
            } else {
                "AnalysisTemplate"
            },
            name: t.template_name.clone(),
            at: Problem {
                file: file.to_string(),
                doc: Some(doc.index),
                line,
                path,
                severity: Severity::Error,
                message: String::new(),
            },
        });
    }
}

/// Unknown fields under `spec.strategy.canary.analysis`: its type embeds the analysis fields
/// (serde `flatten`), which drops unknown ones without a trace, so they are looked for by reading
/// that part of the document as the analysis alone.
fn background_analysis_unknown(doc: &Doc) -> Vec<String> {
    const PATH: &str = "spec.strategy.canary.analysis";
    let value = PATH
        .split('.')
        .try_fold(&doc.value, |v, key| v.get(key))
        .filter(|v| v.is_mapping());
    let Some(value) = value else {
        return Vec::new();
    };
    let mut unknown = Vec::new();
    let read: Result<RolloutAnalysis, _> = serde_ignored::deserialize(value.clone(), |path| {
        unknown.push(docs::ignored_path(&path));
    });
    if read.is_err() {
        // A wrong value there is reported by the Rollout's own conversion.
        return Vec::new();
    }
    unknown
        .into_iter()
        .filter(|field| field != "startingStep")
        .map(|field| format!("{PATH}.{field}"))
        .collect()
}

/// A trigger policy: every problem with its field path (`profiles.fast.steps[2].pause.duration`).
fn policy(file: &str, doc: &Doc, out: &mut Findings) {
    let Some(decoded) = decode::<rollout_core::rollout::policy::Policy>(file, doc, out) else {
        return;
    };
    for e in decoded.value.validate() {
        let text = e.to_string();
        let message = text.strip_prefix(&format!("{}: ", e.path)).unwrap_or(&text);
        out.push(
            file,
            doc,
            Severity::Error,
            FieldProblem::new(e.path.clone(), message.to_string()),
        );
    }
}

fn template(file: &str, doc: &Doc, out: &mut Findings) {
    let Some(decoded) = decode::<AnalysisTemplate>(file, doc, out) else {
        return;
    };
    let t = &decoded.value;
    out.unknown(file, doc, decoded.unknown.clone());
    for problem in template_problems(&t.spec) {
        out.push(file, doc, Severity::Error, problem);
    }
    out.templates.push((doc.kind.clone(), t.metadata.name.clone()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_fields_of_the_background_analysis_are_found() {
        let text = "kind: Rollout\nspec:\n  strategy:\n    canary:\n      analysis:\n        templates: [{templateName: t}]\n        startingStep: 1\n        argz: []\n";
        let doc = docs::parse_each(text).remove(0).unwrap();
        assert_eq!(
            background_analysis_unknown(&doc),
            vec!["spec.strategy.canary.analysis.argz".to_string()]
        );
    }

    #[test]
    fn line_look_ups_are_bounded_per_document() {
        let steps = "    - setWeight: 120\n".repeat(MAX_LINE_LOOKUPS + 5);
        let text = format!(
            "kind: Rollout\nspec:\n  selector: {{matchLabels: {{app: a}}}}\n  template: {{metadata: {{labels: {{app: a}}}}, spec: {{containers: [{{name: c}}]}}}}\n  strategy:\n   canary:\n    steps:\n{steps}"
        );
        let doc = docs::parse_each(&text).remove(0).unwrap();
        let mut findings = Findings::default();
        document("f.yaml", &doc, &mut findings);
        let lines: Vec<Option<usize>> = findings.summary.problems.iter().map(|p| p.line).collect();
        assert_eq!(lines.len(), MAX_LINE_LOOKUPS + 5);
        assert_eq!(lines[0], Some(8));
        assert_eq!(lines[MAX_LINE_LOOKUPS - 1], Some(8 + MAX_LINE_LOOKUPS - 1));
        assert!(lines[MAX_LINE_LOOKUPS..].iter().all(Option::is_none));
    }
}
