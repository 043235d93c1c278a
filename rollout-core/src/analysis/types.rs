//! Serde types for `AnalysisTemplate`, `ClusterAnalysisTemplate` and `AnalysisRun`
//! (`argoproj.io/v1alpha1`), reading upstream YAML unchanged.
//!
//! Provider configurations other than our own [`JudgeMetric`] are kept as opaque JSON keyed by
//! the provider name (`prometheus`, `web`, `job`, `datadog`, `plugin`, ...), so that every upstream
//! provider round-trips and providers stay pluggable.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::AnalysisPhase;
pub use crate::common::ObjectMeta;
use crate::common::{IntOrString, Timestamp};

/// An `AnalysisTemplate` (namespaced) or `ClusterAnalysisTemplate` (cluster-scoped); both have the
/// same shape and differ only in `kind`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplate {
    /// `argoproj.io/v1alpha1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `AnalysisTemplate` or `ClusterAnalysisTemplate`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The template spec.
    pub spec: AnalysisTemplateSpec,
}

/// A `ClusterAnalysisTemplate` has the same shape as an [`AnalysisTemplate`].
pub type ClusterAnalysisTemplate = AnalysisTemplate;

/// `AnalysisTemplateSpec`: metrics, args, dry-run and retention rules, nested template references.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateSpec {
    /// The metrics to measure.
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Declared arguments, with optional defaults.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    /// Metrics (by unanchored regex on the name) whose results do not affect the run phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// Per-metric measurement retention overrides (default keeps 10).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// Other templates composed into this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<AnalysisTemplateRef>,
}

/// A reference to a template, as used in Rollout analysis steps and in nested `templates`.
///
/// This and the other rule types shared with the Rollout spec ([`DryRun`],
/// [`MeasurementRetention`]) read leniently: a missing field is empty, and validation (or the
/// template lookup) reports it with its field path, so one bad entry does not make the whole
/// object unreadable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisTemplateRef {
    /// The template's name.
    #[serde(default)]
    pub template_name: String,
    /// `true` for a `ClusterAnalysisTemplate`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cluster_scope: bool,
}

/// One metric of a template or run.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Metric {
    /// Unique name within the run.
    pub name: String,
    /// Go duration between measurements; absent with no count means a single measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Delay before the first measurement, from the run's `startedAt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub initial_delay: Option<String>,
    /// Number of measurements (IntOrString so that `"{{args.count}}"` works).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub count: Option<IntOrString>,
    /// Expression over `result` that makes a measurement Successful.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_condition: Option<String>,
    /// Expression over `result` that makes a measurement Failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_condition: Option<String>,
    /// Failed measurements tolerated (default 0, `-1` disables).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_limit: Option<IntOrString>,
    /// Inconclusive measurements tolerated (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inconclusive_limit: Option<IntOrString>,
    /// Consecutive Error measurements tolerated (default 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_error_limit: Option<IntOrString>,
    /// Consecutive Successful measurements that end the metric Successful (default 0 = off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consecutive_success_limit: Option<IntOrString>,
    /// Where the measurement comes from.
    pub provider: MetricProvider,
}

/// A metric's provider: exactly one key. Our own `judge` provider is typed ([`JudgeMetric`]);
/// all other providers (`prometheus`, `web`, `job`, `datadog`, `plugin`, ...) are kept as opaque
/// JSON under their key and handled by a [`MeasurementProvider`](super::MeasurementProvider)
/// registered under the same name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MetricProvider {
    /// A judge (see [`JudgeMetric`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<Box<JudgeMetric>>,
    /// Every other provider, by name.
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

impl MetricProvider {
    /// The provider names present (`judge` first, then the others in name order). A valid metric
    /// has exactly one.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        if self.judge.is_some() {
            names.push(super::judge::JUDGE_PROVIDER);
        }
        names.extend(self.other.keys().map(String::as_str));
        names
    }

    /// The provider name when there is exactly one provider.
    pub fn name(&self) -> Option<&str> {
        match self.names().as_slice() {
            [one] => Some(one),
            _ => None,
        }
    }

    /// The opaque configuration of a non-judge provider, e.g. `config("prometheus")`.
    pub fn config(&self, name: &str) -> Option<&Value> {
        self.other.get(name)
    }

    /// A provider with a single opaque entry, e.g. `MetricProvider::opaque("web", json!({"url": ..}))`.
    pub fn opaque(name: &str, config: Value) -> Self {
        let mut other = BTreeMap::new();
        other.insert(name.to_string(), config);
        MetricProvider { judge: None, other }
    }
}

/// The `judge` provider: a metric whose phase is decided by a judge (a WASM component or a native
/// implementation) from named series, instead of by `successCondition`/`failureCondition`.
///
/// ```yaml
/// provider:
///   judge:
///     name: error-ratio            # the judge's name
///     sha256: 3b0c...e1            # sha256 of its component, hex
///     queries:                     # one entry per series the judge receives
///       canary:
///         numerator:   { prometheus: { address: "http://prom:9090", query: "sum(rate(errors{hash='{{args.canary-hash}}'}[1m]))" } }
///         denominator: { prometheus: { address: "http://prom:9090", query: "sum(rate(requests{hash='{{args.canary-hash}}'}[1m]))" } }
///       stable:
///         numerator:   { prometheus: { ... } }
///         denominator: { prometheus: { ... } }
///       canary-latency:
///         buckets:     { prometheus: { query: "sum by (le) (rate(latency_bucket{...}[1m]))" } }
///     config:                      # opaque to the controller, handed to the judge as JSON
///       alpha: 0.05
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JudgeMetric {
    /// The judge's name (as in its `describe()`).
    pub name: String,
    /// Hex sha256 of the judge's component; pins exactly which code judges the canary.
    pub sha256: String,
    /// Series name → how to query it.
    #[serde(default)]
    pub queries: BTreeMap<String, JudgeQuery>,
    /// Configuration for the judge, opaque to the controller (handed over as a JSON string).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub config: Value,
}

/// How to obtain one series for a judge. Set `points`, or `numerator` + `denominator`, or `buckets`;
/// each is an ordinary metric provider (e.g. `prometheus`) queried over the run's window.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JudgeQuery {
    /// Plain values over time (e.g. a latency quantile per interval).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub points: Option<MetricProvider>,
    /// Numerator of a ratio (e.g. errors per window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numerator: Option<MetricProvider>,
    /// Denominator of a ratio (e.g. requests per window).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub denominator: Option<MetricProvider>,
    /// Cumulative histogram buckets; the samples carry an `le` label.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buckets: Option<MetricProvider>,
}

/// A declared or supplied argument.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Argument {
    /// Argument name, used as `{{args.<name>}}`.
    pub name: String,
    /// A literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Where to read the value from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ValueFrom>,
}

/// `valueFrom` of an argument (template side: `secretKeyRef`; Rollout side: `podTemplateHashValue`,
/// `fieldRef`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValueFrom {
    /// A key of a Secret, resolved by the driver at measurement time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_key_ref: Option<SecretKeyRef>,
    /// `Stable` or `Latest`: the pod-template hash of that ReplicaSet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template_hash_value: Option<String>,
    /// A field of the Rollout (`metadata.labels['x']`, `status.alb....`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldRef>,
}

/// A reference to a Secret key.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SecretKeyRef {
    /// Secret name.
    pub name: String,
    /// Key in the secret.
    pub key: String,
}

/// A field path into the Rollout object.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    /// e.g. `metadata.labels['rev']`.
    pub field_path: String,
}

/// A dry-run rule: an unanchored regex on metric names.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRun {
    /// Unanchored regex (`.*` matches all); required (empty is rejected by validation).
    #[serde(default)]
    pub metric_name: String,
}

/// A measurement retention rule.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MeasurementRetention {
    /// Unanchored regex on metric names; required (empty is rejected by validation).
    #[serde(default)]
    pub metric_name: String,
    /// Measurements to keep (> 0 overrides the default of 10).
    #[serde(default)]
    pub limit: i32,
}

/// An `AnalysisRun`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRun {
    /// `argoproj.io/v1alpha1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `AnalysisRun`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The run spec.
    pub spec: AnalysisRunSpec,
    /// The run status (absent until first reconciled).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AnalysisRunStatus>,
}

/// `AnalysisRunSpec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunSpec {
    /// The metrics (args already substituted when built by `build_run`).
    #[serde(default)]
    pub metrics: Vec<Metric>,
    /// Resolved arguments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<Argument>,
    /// Stop the run: in-flight measurements are terminated and the run completes.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub terminate: bool,
    /// Dry-run rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// Measurement retention rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// TTL of completed runs (kept as is; deletion is the driver's business).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ttl_strategy: Option<Value>,
}

/// `AnalysisRunStatus`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunStatus {
    /// Phase of the run.
    #[serde(default)]
    pub phase: AnalysisPhase,
    /// Why the run is in this phase.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// One result per metric that has started.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub metric_results: Vec<MetricResult>,
    /// Set at the first assessment.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// Set when the run completes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Timestamp>,
    /// Summary over non-dry-run metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_summary: Option<RunSummary>,
    /// Summary over dry-run metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dry_run_summary: Option<RunSummary>,
}

/// Counts of completed metrics by phase.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    /// Metrics counted.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub count: i32,
    /// Successful metrics.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub successful: i32,
    /// Failed metrics.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed: i32,
    /// Inconclusive metrics.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inconclusive: i32,
    /// Error metrics.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub error: i32,
}

/// The result of one metric.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MetricResult {
    /// Metric name.
    pub name: String,
    /// Metric phase.
    #[serde(default)]
    pub phase: AnalysisPhase,
    /// Retained measurements, oldest first.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurements: Vec<Measurement>,
    /// Message of the last measurement when the phase last changed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// Measurements that completed without Error.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub count: i32,
    /// Successful measurements.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub successful: i32,
    /// Failed measurements.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub failed: i32,
    /// Inconclusive measurements.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub inconclusive: i32,
    /// Error measurements.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub error: i32,
    /// Error measurements in a row.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consecutive_error: i32,
    /// Successful measurements in a row.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub consecutive_success: i32,
    /// Whether this metric is dry-run.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dry_run: bool,
    /// Provider-specific metadata.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
}

/// One measurement.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    /// Phase (Running while in flight).
    #[serde(default)]
    pub phase: AnalysisPhase,
    /// Why (error text, judge reason, "Metric Terminated").
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub message: String,
    /// When it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Timestamp>,
    /// When it finished (absent while in flight).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
    /// The measured value as text.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub value: String,
    /// Provider metadata (job name, judge details, ...).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub metadata: BTreeMap<String, String>,
    /// When to resume an in-flight measurement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resume_at: Option<Timestamp>,
    /// Our extension: the opaque state a judge returned with this measurement's verdict, handed
    /// back to it in the next evaluation of the run. Serialized as `judgeState`, standard base64.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "judge_types::serde_forms::state_bytes"
    )]
    pub judge_state: Option<Vec<u8>>,
}

fn is_zero(v: &i32) -> bool {
    *v == 0
}
