//! Reading a component's exports and imports, and the rules for which ones a judge may have.

use wasmtime::Engine;
use wasmtime::component::Component;

use crate::HostError;
use crate::host::{ComponentInfo, EVALUATOR_EXPORT};

/// The types interface a judge may import (any 0.1.x: semver-compatible).
const TYPES_IMPORT_PREFIX: &str = "rollout:judge/types@0.1.";

/// The export of the evaluator, at any version.
const EVALUATOR_PREFIX: &str = "rollout:judge/evaluator";

/// Lists the exports and imports of a compiled component.
pub(crate) fn component_info(
    engine: &Engine,
    component: &Component,
    sha256: String,
    size_bytes: usize,
) -> ComponentInfo {
    let ty = component.component_type();
    ComponentInfo {
        sha256,
        size_bytes,
        exports: ty.exports(engine).map(|(n, _)| n.to_string()).collect(),
        imports: ty.imports(engine).map(|(n, _)| n.to_string()).collect(),
    }
}

/// The evaluator must be exported at exactly the version this host supports.
pub(crate) fn check_exports(info: &ComponentInfo) -> Result<(), HostError> {
    if info.exports.iter().any(|e| e == EVALUATOR_EXPORT) {
        return Ok(());
    }
    if let Some(found) = info.exports.iter().find(|e| e.starts_with(EVALUATOR_PREFIX)) {
        return Err(HostError::UnsupportedInterface {
            found: found.clone(),
            supported: EVALUATOR_EXPORT,
        });
    }
    Err(HostError::MissingExport {
        expected: EVALUATOR_EXPORT,
        exports: if info.exports.is_empty() {
            "none".into()
        } else {
            info.exports.join(", ")
        },
    })
}

/// Imports may only be our types, or WASI with the opt-in. Returns whether WASI is needed.
pub(crate) fn check_imports(info: &ComponentInfo, allow_wasi: bool) -> Result<bool, HostError> {
    if let Some(other) = info
        .imports
        .iter()
        .find(|i| !i.starts_with(TYPES_IMPORT_PREFIX) && !i.starts_with("wasi:"))
    {
        return Err(HostError::ForbiddenImport(other.clone()));
    }
    let wasi = info.wasi_imports();
    if wasi.is_empty() {
        return Ok(false);
    }
    if !allow_wasi {
        return Err(HostError::WasiNotAllowed {
            imports: wasi.join(", "),
        });
    }
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(exports: &[&str], imports: &[&str]) -> ComponentInfo {
        ComponentInfo {
            sha256: String::new(),
            size_bytes: 0,
            exports: exports.iter().map(|s| s.to_string()).collect(),
            imports: imports.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn export_rules() {
        assert!(check_exports(&info(&[EVALUATOR_EXPORT], &[])).is_ok());
        let wrong = check_exports(&info(&["rollout:judge/evaluator@1.0.0"], &[]));
        assert_eq!(
            wrong.map_err(|e| e.to_string()),
            Err("judge exports rollout:judge/evaluator@1.0.0, but this host supports rollout:judge/evaluator@0.1.0".into())
        );
        let none = check_exports(&info(&[], &[]));
        assert!(matches!(none, Err(HostError::MissingExport { .. })));
    }

    #[test]
    fn import_rules() {
        let types = "rollout:judge/types@0.1.0";
        assert_eq!(check_imports(&info(&[], &[types]), false).ok(), Some(false));
        let wasi = info(&[], &[types, "wasi:random/random@0.2.3"]);
        assert!(matches!(
            check_imports(&wasi, false),
            Err(HostError::WasiNotAllowed { .. })
        ));
        assert_eq!(check_imports(&wasi, true).ok(), Some(true));
        let other = info(&[], &["acme:net/http@1.0.0"]);
        assert_eq!(
            check_imports(&other, true).map_err(|e| e.to_string()),
            Err("judge imports acme:net/http@1.0.0, which this host does not provide".into())
        );
        let newer_types = info(&[], &["rollout:judge/types@0.2.0"]);
        assert!(matches!(
            check_imports(&newer_types, false),
            Err(HostError::ForbiddenImport(_))
        ));
    }
}
