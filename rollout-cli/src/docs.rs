//! Reading Kubernetes-style YAML files: every document, with its index, kind, text and first line.
//! Each document is parsed on its own, so a malformed document is reported with its line and does
//! not hide the others; typed conversion reports the field path and line of a wrong value and
//! the paths of fields the type does not have.

use std::path::Path;

use serde::de::DeserializeOwned;
use serde_yaml::Value;

use crate::CliError;
use crate::input;

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct Doc {
    /// 0-based index of the document in the file.
    pub index: usize,
    /// `kind`, if any.
    pub kind: String,
    /// The document.
    pub value: Value,
    /// The document's text (from its `---` line, if any).
    pub text: String,
    /// 1-based line of the file where the text starts.
    pub first_line: usize,
}

/// A problem in one document: where (field path, line) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocError {
    /// 0-based index of the document in the file.
    pub index: usize,
    /// Field path (`spec.replicas`), or `-` for the document as a whole.
    pub path: String,
    /// 1-based line in the file, when known.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl DocError {
    /// `document 1: spec.replicas: invalid type: ... (line 7)` (no path for the whole document).
    pub fn describe(&self) -> String {
        let line = self.line.map_or(String::new(), |l| format!(" (line {l})"));
        let path = if self.path == "-" {
            String::new()
        } else {
            format!("{}: ", self.path)
        };
        format!("document {}: {path}{}{line}", self.index, self.message)
    }
}

/// A typed document and the fields of the YAML its type does not have.
#[derive(Debug, Clone)]
pub struct Decoded<T> {
    /// The typed value.
    pub value: T,
    /// Paths of fields the type ignored (`spec.strategy.canary.steps[0].setWieght`).
    pub unknown: Vec<String>,
}

/// Reads a file within the input bounds ([`input::read_yaml`]), or says which file could not be read.
pub fn read(path: &Path) -> Result<String, CliError> {
    input::read_yaml(path)
}

/// One document's text, before parsing.
struct Source<'t> {
    index: usize,
    first_line: usize,
    text: &'t str,
}

/// Whether `line` starts with the marker (`---` or `...`) followed by nothing or a blank.
fn is_marker(line: &str, marker: &str) -> bool {
    line.strip_prefix(marker)
        .is_some_and(|rest| rest.is_empty() || rest.starts_with([' ', '\t', '\r', '\n']))
}

/// Whether a line holds YAML content (not blank, a comment or a directive).
fn is_content(line: &str) -> bool {
    let trimmed = line.trim_start();
    !(trimmed.is_empty() || trimmed.starts_with('#') || line.starts_with('%'))
}

/// Splits YAML text at its document markers: a `---` line starts a document, a `...` line ends
/// one, and text before the first marker is a document if it holds content (as the YAML parser
/// counts them).
fn split(text: &str) -> Vec<Source<'_>> {
    let mut sources = Vec::new();
    let (mut start, mut start_line) = (0, 1);
    let (mut marked, mut content) = (false, false);
    let mut offset = 0;
    let mut close = |end: usize, start: usize, start_line: usize, is_document: bool| {
        if is_document {
            let index = sources.len();
            sources.push(Source {
                index,
                first_line: start_line,
                text: &text[start..end],
            });
        }
    };
    for (number, line) in text.split_inclusive('\n').enumerate() {
        let line_no = number + 1;
        let end = offset + line.len();
        if is_marker(line, "---") {
            close(offset, start, start_line, marked || content);
            (start, start_line, marked, content) = (offset, line_no, true, false);
        } else if is_marker(line, "...") {
            close(end, start, start_line, marked || content);
            (start, start_line, marked, content) = (end, line_no + 1, false, false);
        } else {
            content |= is_content(line);
        }
        offset = end;
    }
    close(text.len(), start, start_line, marked || content);
    sources
}

/// Rewrites the positions (`line N column M`) serde_yaml writes into a message, which count from
/// the document's first line, to count from the file's.
fn file_positions(text: &str, first_line: usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("line ") {
        let (before, after) = rest.split_at(at + "line ".len());
        out.push_str(before);
        let digits = after.len() - after.trim_start_matches(|c: char| c.is_ascii_digit()).len();
        match after[..digits].parse::<usize>() {
            Ok(n) if after[digits..].starts_with(" column ") => {
                out.push_str(&(n + first_line - 1).to_string())
            }
            _ => out.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// The message of a serde_yaml error without its path prefix and main position, and its line in
/// the file (other positions in the message are rewritten to count from the file's first line).
fn message_and_line(err: &serde_yaml::Error, path: &str, first_line: usize) -> (String, Option<usize>) {
    let mut text = file_positions(&err.to_string(), first_line);
    let line = err.location().map(|l| (first_line + l.line() - 1, l.column()));
    if let Some((line, column)) = line {
        text = text.replacen(&format!(" at line {line} column {column}"), "", 1);
    }
    if let Some(stripped) = text.strip_prefix(&format!("{path}: ")) {
        text = stripped.to_string();
    }
    (text, line.map(|(line, _)| line))
}

/// Parses every document of YAML text on its own: a malformed document is an error for that
/// document only. Empty documents are skipped (indexes are kept). The text must be within the
/// input bounds ([`input::check_yaml_bounds`]).
pub fn parse_each(text: &str) -> Vec<Result<Doc, DocError>> {
    let mut out = Vec::new();
    for source in split(text) {
        let value = match serde_yaml::from_str::<Value>(source.text) {
            Ok(v) => v,
            Err(e) => {
                let (message, line) = message_and_line(&e, "", source.first_line);
                out.push(Err(DocError {
                    index: source.index,
                    path: "-".into(),
                    line,
                    message: format!("malformed YAML: {message}"),
                }));
                continue;
            }
        };
        if value.is_null() {
            continue;
        }
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        out.push(Ok(Doc {
            index: source.index,
            kind,
            value,
            text: source.text.to_string(),
            first_line: source.first_line,
        }));
    }
    out
}

/// Checks the input bounds and splits YAML text into documents; the first malformed document is
/// the error.
pub fn parse(label: &str, text: &str) -> Result<Vec<Doc>, CliError> {
    input::check_yaml_bounds(text).map_err(|e| CliError::new(format!("{label}: {e}")))?;
    parse_each(text)
        .into_iter()
        .map(|d| d.map_err(|e| CliError::new(format!("{label}: {}", e.describe()))))
        .collect()
}

/// Reads and splits a file.
pub fn load(path: &Path) -> Result<Vec<Doc>, CliError> {
    parse(&path.display().to_string(), &read(path)?)
}

/// Renders a path from serde_ignored as YAML paths are written: `spec.steps[0].setWieght`.
pub fn ignored_path(path: &serde_ignored::Path<'_>) -> String {
    use serde_ignored::Path as P;
    match path {
        P::Root => String::new(),
        P::Seq { parent, index } => format!("{}[{index}]", ignored_path(parent)),
        P::Map { parent, key } => match ignored_path(parent) {
            p if p.is_empty() => key.clone(),
            p => format!("{p}.{key}"),
        },
        P::Some { parent } | P::NewtypeStruct { parent } | P::NewtypeVariant { parent } => {
            ignored_path(parent)
        }
    }
}

/// Converts a document into a typed value from its text, so that a wrong value is reported with
/// its field path and line; fields the type does not have are listed in [`Decoded::unknown`].
pub fn decode<T: DeserializeOwned>(doc: &Doc) -> Result<Decoded<T>, DocError> {
    let mut unknown = Vec::new();
    let yaml = serde_yaml::Deserializer::from_str(&doc.text);
    let mut note = |path: serde_ignored::Path<'_>| unknown.push(ignored_path(&path));
    let tracked = serde_ignored::Deserializer::new(yaml, &mut note);
    let result: Result<T, _> = serde_path_to_error::deserialize(tracked);
    match result {
        Ok(value) => Ok(Decoded { value, unknown }),
        Err(e) => {
            let path = match e.path().to_string() {
                p if p == "." || p.is_empty() => "-".to_string(),
                p => p,
            };
            let (message, line) = message_and_line(e.inner(), &path, doc.first_line);
            Err(DocError {
                index: doc.index,
                path,
                line,
                message,
            })
        }
    }
}

/// Converts a document into a typed object, naming the file, document, field path and line on
/// failure.
pub fn typed<T: DeserializeOwned>(label: &str, doc: &Doc) -> Result<T, CliError> {
    decode(doc)
        .map(|d| d.value)
        .map_err(|e| CliError::new(format!("{label}: {}", e.describe())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_index_and_first_line() {
        let docs = parse("f", "---\nkind: A\nmetadata: {name: a}\n---\n---\nkind: B\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(
            (docs[0].index, docs[0].kind.as_str(), docs[0].first_line),
            (0, "A", 1)
        );
        assert_eq!(
            (docs[1].index, docs[1].kind.as_str(), docs[1].first_line),
            (2, "B", 5)
        );
        let err = parse("f.yaml", "kind: [\n").unwrap_err().to_string();
        assert!(err.starts_with("f.yaml: document 0: malformed YAML: "), "{err}");
    }

    #[test]
    fn split_follows_the_yaml_markers() {
        let texts = |t: &str| -> Vec<(usize, usize, String)> {
            split(t)
                .iter()
                .map(|s| (s.index, s.first_line, s.text.to_string()))
                .collect()
        };
        // Comments and directives before the first marker are not a document.
        assert_eq!(
            texts("# c\n%YAML 1.2\n--- {a: 1}\n"),
            vec![(0, 3, "--- {a: 1}\n".to_string())]
        );
        // `...` ends a document; a bare document may follow it. `----` is content, not a marker.
        assert_eq!(
            texts("a: 1\n...\nb: |\n  ----\n"),
            vec![
                (0, 1, "a: 1\n...\n".to_string()),
                (1, 3, "b: |\n  ----\n".to_string())
            ]
        );
        assert!(texts("").is_empty());
    }

    #[test]
    fn a_malformed_document_does_not_hide_the_others() {
        let docs = parse_each("kind: A\n---\nkind: [\n---\nkind: C\n");
        assert_eq!(docs.len(), 3);
        assert_eq!(docs[0].as_ref().unwrap().kind, "A");
        let err = docs[1].as_ref().unwrap_err();
        assert_eq!((err.index, err.path.as_str(), err.line), (1, "-", Some(4)));
        assert_eq!(
            err.message,
            "malformed YAML: did not find expected node content, while parsing a flow node"
        );
        assert_eq!(docs[2].as_ref().unwrap().kind, "C");
    }

    #[derive(Debug, serde::Deserialize)]
    struct Spec {
        #[allow(dead_code)]
        replicas: i32,
        #[allow(dead_code)]
        #[serde(default)]
        steps: Vec<Step>,
    }
    #[derive(Debug, serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Step {
        #[allow(dead_code)]
        set_weight: Option<i32>,
    }
    #[derive(Debug, serde::Deserialize)]
    struct Object {
        #[allow(dead_code)]
        spec: Spec,
    }

    fn last(text: &str) -> Doc {
        parse_each(text).pop().unwrap().unwrap()
    }

    #[test]
    fn positions_in_messages_count_from_the_first_line_of_the_file() {
        assert_eq!(
            file_positions("x at line 3 column 1, while y at line 2 column 7; baseline 4", 10),
            "x at line 12 column 1, while y at line 11 column 7; baseline 4"
        );
    }

    #[test]
    fn type_errors_carry_the_path_and_the_line() {
        let doc = last("---\nkind: X\n---\nkind: Y\nspec:\n  replicas: 99999999999\n");
        let err = decode::<Object>(&doc).unwrap_err();
        assert_eq!(err.path, "spec.replicas");
        assert_eq!(err.line, Some(6));
        assert_eq!(err.message, "invalid value: integer `99999999999`, expected i32");
    }

    #[test]
    fn unknown_fields_are_listed_with_their_paths() {
        let doc = last("spec:\n  replicas: 1\n  steps:\n  - setWieght: 3\n");
        let decoded = decode::<Object>(&doc).unwrap();
        assert_eq!(decoded.unknown, vec!["spec.steps[0].setWieght".to_string()]);
    }
}
