//! Reading Kubernetes-style YAML files: every document, with its index, kind and name.

use std::path::Path;

use serde::Deserialize;
use serde_yaml::Value;

use crate::CliError;

/// One YAML document of a file.
#[derive(Debug, Clone)]
pub struct Doc {
    /// 0-based index of the document in the file.
    pub index: usize,
    /// `kind`, if any.
    pub kind: String,
    /// `metadata.name`, if any.
    pub name: String,
    /// The document.
    pub value: Value,
}

/// Reads a file, or says which file could not be read.
pub fn read(path: &Path) -> Result<String, CliError> {
    std::fs::read_to_string(path).map_err(|e| CliError::new(format!("cannot read {}: {e}", path.display())))
}

/// Splits YAML text into documents (empty documents are skipped, indexes are kept).
pub fn parse(label: &str, text: &str) -> Result<Vec<Doc>, CliError> {
    let mut docs = Vec::new();
    for (index, de) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let value = Value::deserialize(de)
            .map_err(|e| CliError::new(format!("{label}: document {index}: malformed YAML: {e}")))?;
        if value.is_null() {
            continue;
        }
        let kind = value
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let name = value
            .get("metadata")
            .and_then(|m| m.get("name"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        docs.push(Doc {
            index,
            kind,
            name,
            value,
        });
    }
    Ok(docs)
}

/// Reads and splits a file.
pub fn load(path: &Path) -> Result<Vec<Doc>, CliError> {
    parse(&path.display().to_string(), &read(path)?)
}

/// Converts a document into a typed object, naming the file and document on failure.
pub fn typed<T: serde::de::DeserializeOwned>(label: &str, doc: &Doc) -> Result<T, CliError> {
    serde_yaml::from_value(doc.value.clone()).map_err(|e| {
        CliError::new(format!(
            "{label}: document {} ({} {:?}): {e}",
            doc.index, doc.kind, doc.name
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_keep_their_index() {
        let docs = parse("f", "---\nkind: A\nmetadata: {name: a}\n---\n---\nkind: B\n").unwrap();
        assert_eq!(docs.len(), 2);
        assert_eq!(
            (docs[0].index, docs[0].kind.as_str(), docs[0].name.as_str()),
            (0, "A", "a")
        );
        assert_eq!((docs[1].index, docs[1].kind.as_str()), (2, "B"));
        let err = parse("f.yaml", "kind: [\n").unwrap_err().to_string();
        assert!(err.starts_with("f.yaml: document 0: malformed YAML: "), "{err}");
    }
}
