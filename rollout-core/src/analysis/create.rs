//! Building an AnalysisRun from templates and Rollout arguments, exactly as upstream
//! (`utils/analysis/helpers.go:NewAnalysisRunFromTemplates`, `factory.go:BuildArgumentsForRolloutAnalysisRun`,
//! `utils/template`): concatenated metrics, merged args, `{{args.x}}` substitution.

use std::collections::BTreeSet;

use serde_json::Value;

use super::types::{
    AnalysisRun, AnalysisRunSpec, AnalysisTemplate, AnalysisTemplateSpec, Argument, DryRun,
    MeasurementRetention, Metric, ObjectMeta,
};

/// Why a run could not be built or its metrics resolved. Messages are upstream's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CreateError {
    /// Two templates define a metric with the same name.
    #[error("two metrics have the same name '{0}'")]
    DuplicateMetric(String),
    /// Two templates give the same arg different values.
    #[error("Argument `{name}` specified multiple times with different values: '{first}', '{second}'")]
    ConflictingArg {
        /// Arg name.
        name: String,
        /// First value.
        first: String,
        /// Second value.
        second: String,
    },
    /// An arg ends up with neither `value` nor `valueFrom`.
    #[error("args.{0} was not resolved")]
    UnresolvedArg(String),
    /// Two dry-run rules are identical.
    #[error("two Dry-Run metric rules have the same name '{0}'")]
    DuplicateDryRun(String),
    /// Two retention rules are identical.
    #[error("two Measurement Retention metric rules have the same name '{0}'")]
    DuplicateRetention(String),
    /// A `{{...}}` placeholder has no value.
    #[error("failed to resolve {{{{{0}}}}}")]
    UnresolvedPlaceholder(String),
    /// A `fieldRef` could not be read from the Rollout.
    #[error("{0}")]
    FieldRef(String),
    /// A nested template reference could not be found.
    #[error("{kind} '{name}' not found")]
    TemplateNotFound {
        /// `AnalysisTemplate` or `ClusterAnalysisTemplate`.
        kind: &'static str,
        /// Template name.
        name: String,
    },
    /// The metric could not be (de)serialized around substitution.
    #[error("invalid metric after argument substitution: {0}")]
    Json(String),
}

/// Upstream `flattenMetrics` + `flattenArgs` + dry-run/retention concatenation over namespaced
/// templates first, then cluster templates.
pub fn flatten_templates(
    templates: &[AnalysisTemplate],
    cluster_templates: &[AnalysisTemplate],
) -> Result<AnalysisTemplateSpec, CreateError> {
    let all = || templates.iter().chain(cluster_templates.iter());
    let mut metrics: Vec<Metric> = Vec::new();
    let mut names = BTreeSet::new();
    for t in all() {
        metrics.extend(t.spec.metrics.iter().cloned());
    }
    for m in &metrics {
        if !names.insert(m.name.clone()) {
            return Err(CreateError::DuplicateMetric(m.name.clone()));
        }
    }
    let mut args: Vec<Argument> = Vec::new();
    for arg in all().flat_map(|t| t.spec.args.iter()) {
        match args.iter_mut().find(|a| a.name == arg.name) {
            Some(prev) => {
                if let (Some(p), Some(n)) = (&prev.value, &arg.value)
                    && p != n
                {
                    return Err(CreateError::ConflictingArg {
                        name: prev.name.clone(),
                        first: p.clone(),
                        second: n.clone(),
                    });
                }
                if prev.value.is_none() {
                    *prev = arg.clone();
                }
            }
            None => args.push(arg.clone()),
        }
    }
    let dry_run: Vec<DryRun> = all().flat_map(|t| t.spec.dry_run.iter().cloned()).collect();
    check_unique(
        dry_run.iter().map(|d| &d.metric_name),
        CreateError::DuplicateDryRun,
    )?;
    let measurement_retention: Vec<MeasurementRetention> = all()
        .flat_map(|t| t.spec.measurement_retention.iter().cloned())
        .collect();
    check_unique(
        measurement_retention.iter().map(|d| &d.metric_name),
        CreateError::DuplicateRetention,
    )?;
    Ok(AnalysisTemplateSpec {
        metrics,
        args,
        dry_run,
        measurement_retention,
        templates: vec![],
    })
}

fn check_unique<'a>(
    names: impl Iterator<Item = &'a String>,
    err: fn(String) -> CreateError,
) -> Result<(), CreateError> {
    let mut seen = BTreeSet::new();
    for n in names {
        if !seen.insert(n) {
            return Err(err(n.clone()));
        }
    }
    Ok(())
}

/// Upstream `MergeArgs`: incoming (Rollout) args override only args the templates declare;
/// undeclared incoming args are ignored; every arg must end with a `value` or `valueFrom`.
pub fn merge_args(incoming: &[Argument], template_args: &[Argument]) -> Result<Vec<Argument>, CreateError> {
    let mut merged = template_args.to_vec();
    for arg in incoming {
        if let Some(target) = merged.iter_mut().find(|a| a.name == arg.name) {
            if arg.value.is_some() {
                target.value = arg.value.clone();
            } else if arg.value_from.is_some() {
                target.value_from = arg.value_from.clone();
            }
        }
    }
    if let Some(a) = merged
        .iter()
        .find(|a| a.value.is_none() && a.value_from.is_none())
    {
        return Err(CreateError::UnresolvedArg(a.name.clone()));
    }
    Ok(merged)
}

/// Upstream `NewAnalysisRunFromTemplates`: a run (without status) from templates, the Rollout's
/// resolved args and the step's extra dry-run / retention rules.
pub fn new_run_from_templates(
    templates: &[AnalysisTemplate],
    cluster_templates: &[AnalysisTemplate],
    args: &[Argument],
    dry_run: &[DryRun],
    measurement_retention: &[MeasurementRetention],
    name: &str,
    namespace: Option<&str>,
) -> Result<AnalysisRun, CreateError> {
    let spec = flatten_templates(templates, cluster_templates)?;
    let args = merge_args(args, &spec.args)?;
    let dry_run: Vec<DryRun> = dry_run.iter().chain(spec.dry_run.iter()).cloned().collect();
    check_unique(
        dry_run.iter().map(|d| &d.metric_name),
        CreateError::DuplicateDryRun,
    )?;
    let measurement_retention: Vec<MeasurementRetention> = measurement_retention
        .iter()
        .chain(spec.measurement_retention.iter())
        .cloned()
        .collect();
    check_unique(
        measurement_retention.iter().map(|d| &d.metric_name),
        CreateError::DuplicateRetention,
    )?;
    Ok(AnalysisRun {
        api_version: Some("argoproj.io/v1alpha1".into()),
        kind: Some("AnalysisRun".into()),
        metadata: ObjectMeta {
            name: name.to_string(),
            namespace: namespace.map(str::to_string),
            ..ObjectMeta::default()
        },
        spec: AnalysisRunSpec {
            metrics: spec.metrics,
            args,
            dry_run,
            measurement_retention,
            ..AnalysisRunSpec::default()
        },
        status: None,
    })
}

/// Expands nested `spec.templates` references (template composition), depth first, each
/// template once. `lookup(name, cluster_scope)` returns the referenced template.
pub fn expand_template_refs(
    roots: &[(String, bool)],
    lookup: &dyn Fn(&str, bool) -> Option<AnalysisTemplate>,
) -> Result<(Vec<AnalysisTemplate>, Vec<AnalysisTemplate>), CreateError> {
    let mut seen = BTreeSet::new();
    let (mut ns, mut cluster) = (Vec::new(), Vec::new());
    let mut stack: Vec<(String, bool)> = roots.iter().rev().cloned().collect();
    while let Some((name, cluster_scope)) = stack.pop() {
        if !seen.insert((name.clone(), cluster_scope)) {
            continue;
        }
        let t = lookup(&name, cluster_scope).ok_or_else(|| CreateError::TemplateNotFound {
            kind: if cluster_scope {
                "ClusterAnalysisTemplate"
            } else {
                "AnalysisTemplate"
            },
            name: name.clone(),
        })?;
        for r in t.spec.templates.iter().rev() {
            stack.push((r.template_name.clone(), r.cluster_scope));
        }
        if cluster_scope {
            cluster.push(t);
        } else {
            ns.push(t);
        }
    }
    Ok((ns, cluster))
}

/// What Rollout-side `valueFrom` args are resolved against.
#[derive(Debug, Clone, Copy)]
pub struct RolloutArgSource<'a> {
    /// Pod-template hash of the stable ReplicaSet (`podTemplateHashValue: Stable`).
    pub stable_hash: Option<&'a str>,
    /// Pod-template hash of the new ReplicaSet (`podTemplateHashValue: Latest`).
    pub latest_hash: Option<&'a str>,
    /// The Rollout object as JSON (for `fieldRef`).
    pub rollout: &'a Value,
}

/// Upstream `BuildArgumentsForRolloutAnalysisRun`: every Rollout arg becomes a plain `value`.
/// `podTemplateHashValue` reads the stable/latest hash; `fieldRef` paths starting with
/// `metadata` use the downward-API subset (`metadata.labels['x']`, `metadata.annotations['x']`,
/// `metadata.name`, `metadata.namespace`, `metadata.uid`); other paths walk the Rollout JSON.
pub fn build_rollout_args(
    args: &[Argument],
    source: RolloutArgSource<'_>,
) -> Result<Vec<Argument>, CreateError> {
    let mut out = Vec::with_capacity(args.len());
    let mut deferred: Option<CreateError> = None;
    for arg in args {
        let mut value = arg.value.clone().unwrap_or_default();
        if let Some(from) = &arg.value_from {
            if let Some(which) = &from.pod_template_hash_value {
                value = match which.as_str() {
                    "Latest" => source.latest_hash.unwrap_or_default().to_string(),
                    "Stable" => source.stable_hash.unwrap_or_default().to_string(),
                    _ => String::new(),
                };
            } else if let Some(field) = &from.field_ref {
                if field.field_path.starts_with("metadata") {
                    value = metadata_field(source.rollout, &field.field_path)?;
                } else {
                    // Upstream returns an empty value and reports the error only at the end.
                    match rollout_field(source.rollout, &field.field_path) {
                        Ok(v) => value = v,
                        Err(e) => {
                            value = String::new();
                            deferred = Some(e);
                        }
                    }
                }
            }
        }
        out.push(Argument {
            name: arg.name.clone(),
            value: Some(value),
            value_from: None,
        });
    }
    match deferred {
        Some(e) => Err(e),
        None => Ok(out),
    }
}

/// The value a Rollout-side `valueFrom.fieldRef` reads from the Rollout (given as JSON): Kubernetes'
/// downward-API subset for `metadata…` paths, otherwise upstream's `extractValueFromRollout` walk.
/// The errors are upstream's messages.
pub fn rollout_field_ref(rollout: &Value, path: &str) -> Result<String, CreateError> {
    if path.starts_with("metadata") {
        metadata_field(rollout, path)
    } else {
        rollout_field(rollout, path)
    }
}

/// Kubernetes `fieldpath.ExtractFieldPathAsString` for the metadata subset.
fn metadata_field(rollout: &Value, path: &str) -> Result<String, CreateError> {
    let meta = rollout.get("metadata");
    let get_str = |key: &str| {
        meta.and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let subscript = |prefix: &str| -> Option<String> {
        let rest = path.strip_prefix(prefix)?.strip_prefix("['")?;
        rest.strip_suffix("']").map(str::to_string)
    };
    if let Some(key) = subscript("metadata.labels") {
        return Ok(meta
            .and_then(|m| m.get("labels"))
            .and_then(|l| l.get(&key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string());
    }
    if let Some(key) = subscript("metadata.annotations") {
        return Ok(meta
            .and_then(|m| m.get("annotations"))
            .and_then(|l| l.get(&key))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string());
    }
    match path {
        "metadata.name" => Ok(get_str("name")),
        "metadata.namespace" => Ok(get_str("namespace")),
        "metadata.uid" => Ok(get_str("uid")),
        "metadata.labels" | "metadata.annotations" => {
            let key = path.trim_start_matches("metadata.");
            let mut pairs: Vec<String> = meta
                .and_then(|m| m.get(key))
                .and_then(Value::as_object)
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| format!("{k}={:?}", v.as_str().unwrap_or_default()))
                        .collect()
                })
                .unwrap_or_default();
            pairs.sort();
            Ok(pairs.join("\n"))
        }
        _ => Err(CreateError::FieldRef(format!("unsupported fieldPath: {path}"))),
    }
}

/// Upstream `extractValueFromRollout`: split on `.`, `[`, `]`; walk maps and arrays; the end must
/// be a primitive.
fn rollout_field(rollout: &Value, path: &str) -> Result<String, CreateError> {
    let mut cur = rollout;
    let invalid = || CreateError::FieldRef(format!("invalid path {path} in rollout"));
    for section in path.split(['.', '[', ']']).filter(|s| !s.is_empty()) {
        cur = match cur {
            Value::Array(items) => {
                let i: usize = section
                    .parse()
                    .map_err(|_| CreateError::FieldRef(format!("invalid index '{section}'")))?;
                items
                    .get(i)
                    .ok_or_else(|| CreateError::FieldRef(format!("index {i} out of range")))?
            }
            Value::Object(map) => map.get(section).unwrap_or(&Value::Null),
            _ => return Err(invalid()),
        };
    }
    match cur {
        Value::Null => Err(invalid()),
        Value::Array(_) | Value::Object(_) => Err(CreateError::FieldRef(format!(
            "path {path} in rollout must terminate in a primitive value"
        ))),
        Value::String(s) => Ok(s.clone()),
        other => Ok(other.to_string()),
    }
}

/// Upstream `ResolveQuotedArgs` applied to a metric: every `{{ tag }}` in the metric's JSON
/// (whitespace trimmed) is replaced by the JSON-escaped value of `args.<name>`; args without a
/// `value` are not available. Any unresolved placeholder is an error naming it.
pub fn resolve_metric_args(metric: &Metric, args: &[Argument]) -> Result<Metric, CreateError> {
    let json = serde_json::to_string(metric).map_err(|e| CreateError::Json(e.to_string()))?;
    let resolved = resolve_placeholders(&json, args, true)?;
    serde_json::from_str(&resolved).map_err(|e| CreateError::Json(e.to_string()))
}

/// Replaces `{{...}}` tags in `template`. With `quoted`, values are JSON-string-escaped (for
/// substitution inside JSON strings).
pub fn resolve_placeholders(template: &str, args: &[Argument], quoted: bool) -> Result<String, CreateError> {
    substitute(template, args, quoted, false)
}

/// Like [`resolve_placeholders`], but leaves unresolved tags as they are (used to hand providers
/// a metric whose secret args the driver still has to fill in).
pub fn resolve_placeholders_lenient(
    template: &str,
    args: &[Argument],
    quoted: bool,
) -> Result<String, CreateError> {
    substitute(template, args, quoted, true)
}

fn substitute(
    template: &str,
    args: &[Argument],
    quoted: bool,
    keep_unresolved: bool,
) -> Result<String, CreateError> {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    let mut unresolved: Option<String> = None;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            rest = "";
            break;
        };
        let tag = &after[..end];
        let trimmed = tag.trim();
        let value = trimmed.strip_prefix("args.").and_then(|name| {
            args.iter()
                .rev()
                .find(|a| a.name == name)
                .and_then(|a| a.value.clone())
        });
        match value {
            Some(v) if quoted => {
                let q = serde_json::to_string(&v).map_err(|e| CreateError::Json(e.to_string()))?;
                out.push_str(q.get(1..q.len().saturating_sub(1)).unwrap_or_default());
            }
            Some(v) => out.push_str(&v),
            None if keep_unresolved => {
                out.push_str("{{");
                out.push_str(tag);
                out.push_str("}}");
            }
            None => {
                if unresolved.is_none() {
                    unresolved = Some(tag.to_string());
                }
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    match unresolved {
        Some(tag) => Err(CreateError::UnresolvedPlaceholder(tag)),
        None => Ok(out),
    }
}
