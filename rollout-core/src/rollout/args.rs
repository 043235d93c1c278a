//! Resolution of Rollout-side analysis arguments (`value`, `valueFrom.podTemplateHashValue`,
//! `valueFrom.fieldRef`), as upstream `BuildArgumentsForRolloutAnalysisRun`. Field paths are read
//! by [`crate::analysis::rollout_field_ref`], the one implementation of upstream's field-path rules.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::spec::{AnalysisRunArgument, Rollout};
use crate::analysis::rollout_field_ref;

/// An argument with its value resolved from the Rollout (`None` = could not be resolved; the
/// analysis module reports `args.X was not resolved` if the template needs it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedArg {
    /// Argument name.
    pub name: String,
    /// Resolved value.
    pub value: Option<String>,
}

/// Whether `path` is a `fieldRef` path Kubernetes' downward API can read from this Rollout
/// (validation of `metadata…` paths, as upstream).
pub fn is_valid_metadata_path(ro: &Rollout, path: &str) -> bool {
    serde_json::to_value(ro).is_ok_and(|v| rollout_field_ref(&v, path).is_ok())
}

/// Resolves the Rollout-side arguments for a run. `stable_hash` and `latest_hash` feed
/// `podTemplateHashValue: Stable|Latest` (and our extension `Baseline`, the baseline arm of
/// `stable_hash`); `valueFrom` takes precedence over `value`, and an arg
/// with neither is the empty string, as upstream.
///
/// Deliberate difference: where upstream fails the whole reconcile on a `fieldRef` that cannot be
/// read (and retries forever), that one argument is left unresolved, so the run that needs it
/// reports `args.<name> was not resolved`.
pub fn resolve_args(
    ro: &Rollout,
    args: &[AnalysisRunArgument],
    stable_hash: &str,
    latest_hash: &str,
) -> Vec<ResolvedArg> {
    let mut json: Option<Value> = None;
    args.iter()
        .map(|a| {
            let from = a.value_from.as_ref();
            let value = if let Some(h) = from.and_then(|f| f.pod_template_hash_value.as_ref()) {
                Some(match h.as_str() {
                    "Stable" => stable_hash.to_string(),
                    "Latest" => latest_hash.to_string(),
                    // Our extension: the baseline arm (`canary.baseline`).
                    super::machine::BASELINE_HASH_VALUE => super::machine::baseline_hash(stable_hash),
                    _ => String::new(),
                })
            } else if let Some(fr) = from.and_then(|f| f.field_ref.as_ref()) {
                if json.is_none() {
                    json = serde_json::to_value(ro).ok();
                }
                json.as_ref()
                    .and_then(|v| rollout_field_ref(v, &fr.field_path).ok())
            } else {
                Some(a.value.clone().unwrap_or_default())
            };
            ResolvedArg {
                name: a.name.clone(),
                value,
            }
        })
        .collect()
}
