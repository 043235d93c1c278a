//! Resolution of Rollout-side analysis arguments (`value`, `valueFrom.podTemplateHashValue`,
//! `valueFrom.fieldRef`), as upstream `BuildArgumentsForRolloutAnalysisRun`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::spec::{AnalysisRunArgument, Rollout};

/// An argument with its value resolved from the Rollout (`None` = could not be resolved; the
/// analysis module reports `args.X was not resolved` if the template needs it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedArg {
    /// Argument name.
    pub name: String,
    /// Resolved value.
    pub value: Option<String>,
}

fn bracket_key<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = path.strip_prefix(prefix)?;
    let rest = rest.strip_prefix('[')?.strip_suffix(']')?;
    let rest = rest
        .strip_prefix('\'')
        .and_then(|r| r.strip_suffix('\''))
        .or_else(|| rest.strip_prefix('"').and_then(|r| r.strip_suffix('"')))?;
    Some(rest)
}

/// Downward-API subset of `metadata.*` paths (`name`, `namespace`, `uid`, `labels`,
/// `annotations`, `labels['k']`, `annotations['k']`), resolved against the Rollout.
pub fn metadata_field(ro: &Rollout, path: &str) -> Option<String> {
    let m = &ro.metadata;
    match path {
        "metadata.name" => Some(m.name.clone()),
        "metadata.namespace" => Some(m.namespace.clone().unwrap_or_default()),
        "metadata.uid" => Some(m.uid.clone().unwrap_or_default()),
        "metadata.labels" => Some(format_map(&m.labels)),
        "metadata.annotations" => Some(format_map(&m.annotations)),
        _ => {
            if let Some(k) = bracket_key(path, "metadata.labels") {
                return Some(m.labels.get(k).cloned().unwrap_or_default());
            }
            if let Some(k) = bracket_key(path, "metadata.annotations") {
                return Some(m.annotations.get(k).cloned().unwrap_or_default());
            }
            None
        }
    }
}

fn format_map(m: &std::collections::BTreeMap<String, String>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k}={v:?}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Whether `path` is a supported downward-API metadata path.
pub fn is_valid_metadata_path(ro: &Rollout, path: &str) -> bool {
    metadata_field(ro, path).is_some()
}

/// Reads any other field path (`spec.template.metadata.labels.version`,
/// `status.alb.canaryTargetGroup.name`) from the Rollout's JSON form.
fn object_field(ro: &Rollout, path: &str) -> Option<String> {
    let v = serde_json::to_value(ro).ok()?;
    let mut cur = &v;
    for part in path.split('.') {
        cur = cur.get(part)?;
    }
    match cur {
        Value::String(s) => Some(s.clone()),
        Value::Null => None,
        other => Some(other.to_string()),
    }
}

/// Resolves the Rollout-side arguments for a run. `stable_hash` and `latest_hash` feed
/// `podTemplateHashValue: Stable|Latest`.
pub fn resolve_args(
    ro: &Rollout,
    args: &[AnalysisRunArgument],
    stable_hash: &str,
    latest_hash: &str,
) -> Vec<ResolvedArg> {
    args.iter()
        .map(|a| {
            let value = if let Some(v) = &a.value {
                Some(v.clone())
            } else if let Some(vf) = &a.value_from {
                if let Some(h) = &vf.pod_template_hash_value {
                    match h.as_str() {
                        "Stable" => Some(stable_hash.to_string()),
                        "Latest" => Some(latest_hash.to_string()),
                        _ => None,
                    }
                } else if let Some(fr) = &vf.field_ref {
                    if fr.field_path.starts_with("metadata.") {
                        metadata_field(ro, &fr.field_path)
                    } else {
                        object_field(ro, &fr.field_path)
                    }
                } else {
                    None
                }
            } else {
                None
            };
            ResolvedArg {
                name: a.name.clone(),
                value,
            }
        })
        .collect()
}
