//! Canary steps (`spec.strategy.canary.steps[]`) and the analysis a Rollout runs (steps, background
//! and pre/post-promotion): their wire types.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::*;

/// One canary step. Exactly one field must be set (validation checks it).
///
/// Field order matches upstream's Go struct: it is the JSON order used by the step hash.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStep {
    /// Percentage of traffic (or of pods, basic canary) for the canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_weight: Option<i32>,
    /// Pause, timed or indefinite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<RolloutPause>,
    /// Experiment step: parsed and validated, not acted on by this core (see crate docs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub experiment: Option<Value>,
    /// Inline analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<RolloutAnalysis>,
    /// Override of the canary RS size (traffic routing only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_canary_scale: Option<SetCanaryScale>,
    /// Header route (traffic routing): parsed and validated, not acted on yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_header_route: Option<Value>,
    /// Mirror route (Istio): parsed and validated, not acted on yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub set_mirror_route: Option<Value>,
    /// Step plugin: parsed and validated, not acted on yet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugin: Option<Value>,
}

impl CanaryStep {
    /// A `setWeight` step.
    pub fn set_weight(w: i32) -> Self {
        CanaryStep {
            set_weight: Some(w),
            ..Default::default()
        }
    }
    /// A `pause` step; `None` pauses indefinitely.
    pub fn pause(duration: Option<IntOrString>) -> Self {
        CanaryStep {
            pause: Some(RolloutPause { duration }),
            ..Default::default()
        }
    }
    /// Upstream `CanaryStepString`, used in the `RolloutStepCompleted` event.
    pub fn describe(&self) -> String {
        if let Some(w) = self.set_weight {
            return format!("setWeight: {w}");
        }
        if let Some(p) = &self.pause {
            return match &p.duration {
                Some(IntOrString::Int(i)) => format!("pause: {i}"),
                Some(IntOrString::String(s)) => format!("pause: {s}"),
                None => "pause".to_string(),
            };
        }
        if self.experiment.is_some() {
            return "experiment".to_string();
        }
        if self.analysis.is_some() {
            return "analysis".to_string();
        }
        if let Some(s) = &self.set_canary_scale {
            // Upstream checks weight, then matchTrafficWeight, then replicas; an empty
            // setCanaryScale falls through to the remaining kinds.
            if let Some(w) = s.weight {
                return format!("setCanaryScale{{weight: {w}}}");
            }
            if s.match_traffic_weight {
                return "setCanaryScale{matchTrafficWeight: true}".to_string();
            }
            if let Some(r) = s.replicas {
                return format!("setCanaryScale{{replicas: {r}}}");
            }
        }
        let name = |v: &Value| {
            v.get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        if let Some(p) = &self.plugin {
            return format!("plugin: {}", name(p));
        }
        if let Some(h) = &self.set_header_route {
            return format!("setHeaderRoute: {}", name(h));
        }
        if let Some(m) = &self.set_mirror_route {
            return format!("setMirrorRoute: {}", name(m));
        }
        "invalid".to_string()
    }
}

/// `pause: {duration}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RolloutPause {
    /// Seconds (int) or a duration string (`"10"`, `"10s"`, `"5m"`, `"1h"`); absent = indefinite.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<IntOrString>,
}

impl RolloutPause {
    /// Upstream `DurationSeconds`: `None` for an indefinite pause, `Some(-1)` if unparsable.
    pub fn duration_seconds(&self) -> Option<i64> {
        match &self.duration {
            None => None,
            Some(IntOrString::Int(i)) => Some(*i),
            Some(IntOrString::String(s)) => Some(match crate::common::parse_duration(s) {
                Ok(d) => i64::try_from(d.as_secs()).unwrap_or(-1),
                Err(_) => -1,
            }),
        }
    }
}

/// `setCanaryScale` (field order as upstream).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetCanaryScale {
    /// Canary size as a percentage of `spec.replicas`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub weight: Option<i32>,
    /// Absolute canary size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Cancel earlier overrides.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub match_traffic_weight: bool,
}

/// Analysis reference used by a step, background analysis and blue-green pre/post promotion.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysis {
    /// Templates whose metrics are combined into one run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<AnalysisTemplateRef>,
    /// Arguments passed to the templates.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<AnalysisRunArgument>,
    /// Dry-run rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub dry_run: Vec<DryRun>,
    /// Measurement retention rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub measurement_retention: Vec<MeasurementRetention>,
    /// Labels/annotations for the run. Always serialized (`{}` when empty), as Go marshals
    /// this non-pointer struct; the step hash depends on it.
    #[serde(default)]
    pub analysis_run_metadata: AnalysisRunMetadata,
}

/// `analysisRunMetadata`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct AnalysisRunMetadata {
    /// Labels added to the run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    /// Annotations added to the run.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// `canary.analysis`: a [`RolloutAnalysis`] plus `startingStep`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutAnalysisBackground {
    /// The analysis.
    #[serde(flatten)]
    pub analysis: RolloutAnalysis,
    /// Step index at which the background run starts (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub starting_step: Option<i32>,
}

/// `args[]` entry of a Rollout analysis.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunArgument {
    /// Argument name.
    #[serde(default)]
    pub name: String,
    /// Literal value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    /// Value taken from the Rollout.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_from: Option<ArgumentValueFrom>,
}

/// `args[].valueFrom`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArgumentValueFrom {
    /// `Stable` or `Latest`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod_template_hash_value: Option<String>,
    /// A field of the Rollout object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field_ref: Option<FieldRef>,
}

/// `valueFrom.fieldRef`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldRef {
    /// Path such as `metadata.labels['rev']`.
    #[serde(default)]
    pub field_path: String,
}
