//! `argoproj.io/v1alpha1` Rollout spec types, read from upstream YAML/JSON unchanged.
//!
//! Field names follow upstream (`camelCase`). Unknown fields on the main objects are kept in
//! `extra` maps (so they survive a round trip); unknown fields inside steps are ignored, which
//! matches how upstream marshals steps for the step hash. The pod template is opaque JSON: the
//! core only needs its hash and equality, not its meaning.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::status::RolloutStatus;
/// The template reference and the dry-run and retention rules are the same wire types in a Rollout's
/// analysis as in an AnalysisTemplate, so they are shared with [`crate::analysis`].
pub use crate::analysis::{AnalysisTemplateRef, DryRun, MeasurementRetention};
pub use crate::common::ObjectMeta;
use crate::common::{IntOrString, Timestamp};

mod steps;
pub use steps::*;

/// A Rollout object: metadata, spec and last persisted status.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// `argoproj.io/v1alpha1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `Rollout`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Object metadata (name, namespace, labels, annotations, generation).
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The desired state.
    #[serde(default)]
    pub spec: RolloutSpec,
    /// The last persisted status (empty for a new object).
    #[serde(default)]
    pub status: RolloutStatus,
}

/// `spec` of a Rollout.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutSpec {
    /// Desired pods; absent means 1 (upstream writes 1 into the spec).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replicas: Option<i32>,
    /// Label selector for the pods.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selector: Option<LabelSelector>,
    /// Pod template, opaque JSON.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub template: Option<Value>,
    /// Reference to a Deployment/ReplicaSet/PodTemplate that supplies the template.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workload_ref: Option<WorkloadRef>,
    /// Seconds a pod must be ready to count as available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ready_seconds: Option<i32>,
    /// Old ReplicaSets kept for rollback (default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision_history_limit: Option<i32>,
    /// Manual pause (`kubectl argo rollouts pause`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub paused: bool,
    /// Seconds without progress before `ProgressDeadlineExceeded` (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress_deadline_seconds: Option<i32>,
    /// Abort the update when the progress deadline is exceeded.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub progress_deadline_abort: bool,
    /// Restart pods created before this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_at: Option<Timestamp>,
    /// Fast-track rollbacks to one of the last N revisions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollback_window: Option<RollbackWindowSpec>,
    /// The update strategy (exactly one of canary/blueGreen).
    #[serde(default)]
    pub strategy: RolloutStrategy,
    /// AnalysisRun history limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<AnalysisRunStrategy>,
    /// Fields the core does not interpret.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Kubernetes label selector; `matchExpressions` stay opaque.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LabelSelector {
    /// Equality requirements.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub match_labels: BTreeMap<String, String>,
    /// Set-based requirements (opaque).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub match_expressions: Vec<Value>,
}

/// `spec.workloadRef`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WorkloadRef {
    /// `apps/v1` or `v1`.
    #[serde(default)]
    pub api_version: String,
    /// `Deployment`, `ReplicaSet` or `PodTemplate`.
    #[serde(default)]
    pub kind: String,
    /// Name of the referenced object.
    #[serde(default)]
    pub name: String,
    /// `never` (default), `onsuccess` or `progressively`; any other value behaves like `never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down: Option<String>,
}

/// How a referenced Deployment is drained (`workloadRef.scaleDown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScaleDownMode {
    /// Never touch the Deployment.
    Never,
    /// Scale it to 0 once the Rollout is Healthy.
    OnSuccess,
    /// Shrink it as Rollout pods become ready.
    Progressively,
}

impl WorkloadRef {
    /// The scale-down mode; unknown strings behave like `never`, as upstream.
    pub fn scale_down_mode(&self) -> ScaleDownMode {
        match self.scale_down.as_deref() {
            Some("onsuccess") => ScaleDownMode::OnSuccess,
            Some("progressively") => ScaleDownMode::Progressively,
            _ => ScaleDownMode::Never,
        }
    }
}

/// `spec.rollbackWindow`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RollbackWindowSpec {
    /// Number of revisions inside the window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revisions: Option<i32>,
}

/// `spec.analysis`: AnalysisRun history limits.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AnalysisRunStrategy {
    /// Successful runs kept (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_run_history_limit: Option<i32>,
    /// Unsuccessful runs kept (default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unsuccessful_run_history_limit: Option<i32>,
}

/// `spec.strategy`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RolloutStrategy {
    /// Canary strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<CanaryStrategy>,
    /// Blue-green strategy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blue_green: Option<BlueGreenStrategy>,
}

/// `spec.strategy.canary`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CanaryStrategy {
    /// Service selecting canary pods.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub canary_service: String,
    /// Service selecting stable pods.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub stable_service: String,
    /// Steps; `None` and empty both mean a rolling update (they hash differently, as upstream).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<CanaryStep>>,
    /// Traffic routing; absent means a basic (replica-ratio) canary.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_routing: Option<TrafficRouting>,
    /// Extra pods allowed above `replicas` (default `"25"`, i.e. 25%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_surge: Option<IntOrString>,
    /// Pods allowed to be unavailable (default `"25"`, i.e. 25%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Background analysis.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<RolloutAnalysisBackground>,
    /// Pod anti-affinity injection (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<Value>,
    /// Ephemeral canary metadata (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_metadata: Option<Value>,
    /// Ephemeral stable metadata (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_metadata: Option<Value>,
    /// Delay before old RSs are scaled down (traffic routing only; default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    /// Maximum old RSs kept up while their delay runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_revision_limit: Option<i32>,
    /// Delay before an aborted canary is scaled down (0 = never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_scale_down_delay_seconds: Option<i32>,
    /// Scale the stable down as the canary takes traffic.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub dynamic_stable_scale: bool,
    /// Ping-pong services (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ping_pong: Option<Value>,
    /// Minimum pods in any non-empty RS (traffic routing only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_pods_per_replica_set: Option<i32>,
    /// How many of a step's canary pods must be available.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replica_progress_threshold: Option<ReplicaProgressThreshold>,
    /// Our extension, not in Argo Rollouts: run a baseline arm during the update (see
    /// [`BaselineArm`]). Upstream ignores the field.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub baseline: Option<BaselineArm>,
    /// Fields the core does not interpret.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `canary.baseline` (our extension): while the update runs, a ReplicaSet of the stable pod
/// template, as large as the canary and as young, that analyses compare the canary with
/// (`valueFrom.podTemplateHashValue: Baseline`) instead of the long-running stable pods. See
/// `rollout::machine::baseline`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BaselineArm {
    /// Extra labels for the baseline pods (e.g. `role: baseline` for dashboards).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

/// `canary.replicaProgressThreshold`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ReplicaProgressThreshold {
    /// `Percent` or `Pods`.
    #[serde(rename = "type")]
    pub kind: ProgressThresholdType,
    /// Threshold value; negative means "use the default".
    pub value: i32,
}

/// Unit of [`ReplicaProgressThreshold::value`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ProgressThresholdType {
    /// Percentage of the desired canary pods.
    Percent,
    /// Absolute pod count.
    Pods,
}

/// `canary.trafficRouting`. Router configurations stay opaque.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrafficRouting {
    /// Weight that means "all traffic" (default 100; nginx and plugins only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_traffic_weight: Option<i32>,
    /// Routes a step may set (`setHeaderRoute`, `setMirrorRoute`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub managed_routes: Option<Vec<ManagedRoute>>,
    /// Istio.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub istio: Option<Value>,
    /// NGINX.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nginx: Option<Value>,
    /// AWS ALB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alb: Option<Value>,
    /// SMI.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub smi: Option<Value>,
    /// Ambassador.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ambassador: Option<Value>,
    /// App Mesh.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub app_mesh: Option<Value>,
    /// Traefik.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traefik: Option<Value>,
    /// Apisix.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub apisix: Option<Value>,
    /// Traffic-router plugins (`"<ns>/<name>": config`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plugins: Option<Map<String, Value>>,
    /// Fields the core does not interpret.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// `trafficRouting.managedRoutes[]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ManagedRoute {
    /// Route name.
    #[serde(default)]
    pub name: String,
}

/// `spec.strategy.blueGreen`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlueGreenStrategy {
    /// Service that receives production traffic (required).
    #[serde(default)]
    pub active_service: String,
    /// Service pointed at the new version before promotion.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub preview_service: String,
    /// Size of the new RS before promotion.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_replica_count: Option<i32>,
    /// Promote automatically (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion_enabled: Option<bool>,
    /// Promote automatically after this many seconds of pause.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auto_promotion_seconds: Option<i32>,
    /// Used by restarts only (default 25%).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_unavailable: Option<IntOrString>,
    /// Delay before the old active RS is scaled down (default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_seconds: Option<i32>,
    /// Maximum old RSs kept up while their delay runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_down_delay_revision_limit: Option<i32>,
    /// Delay before the preview RS is scaled down after an abort (default 30; 0 = never).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abort_scale_down_delay_seconds: Option<i32>,
    /// Analysis before the active switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre_promotion_analysis: Option<RolloutAnalysis>,
    /// Analysis after the active switch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post_promotion_analysis: Option<RolloutAnalysis>,
    /// Anti-affinity injection (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub anti_affinity: Option<Value>,
    /// Ephemeral metadata (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preview_metadata: Option<Value>,
    /// Ephemeral metadata (opaque).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active_metadata: Option<Value>,
    /// Fields the core does not interpret.
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// Default `revisionHistoryLimit`.
pub const DEFAULT_REVISION_HISTORY_LIMIT: i32 = 10;
/// Default `progressDeadlineSeconds`.
pub const DEFAULT_PROGRESS_DEADLINE_SECONDS: i32 = 600;
/// Default scale-down delay (canary with traffic routing, blue-green) and abort delay.
pub const DEFAULT_SCALE_DOWN_DELAY_SECONDS: i32 = 30;
/// Default `maxTrafficWeight`.
pub const DEFAULT_MAX_TRAFFIC_WEIGHT: i32 = 100;

impl Rollout {
    /// `spec.replicas`, defaulting to 1.
    pub fn replicas(&self) -> i32 {
        self.spec.replicas.unwrap_or(1)
    }
    /// The canary strategy, if that is the strategy.
    pub fn canary(&self) -> Option<&CanaryStrategy> {
        self.spec.strategy.canary.as_ref()
    }
    /// The blue-green strategy, if that is the strategy.
    pub fn blue_green(&self) -> Option<&BlueGreenStrategy> {
        self.spec.strategy.blue_green.as_ref()
    }
    /// The Services the strategy names (canary/stable or active/preview), without empty names.
    pub fn service_names(&self) -> impl Iterator<Item = &str> {
        let canary = self
            .canary()
            .map(|c| [c.canary_service.as_str(), c.stable_service.as_str()]);
        let blue_green = self
            .blue_green()
            .map(|b| [b.active_service.as_str(), b.preview_service.as_str()]);
        canary
            .into_iter()
            .chain(blue_green)
            .flatten()
            .filter(|name| !name.is_empty())
    }
    /// Canary steps (empty for blue-green or a rolling update).
    pub fn steps(&self) -> &[CanaryStep] {
        self.canary().and_then(|c| c.steps.as_deref()).unwrap_or(&[])
    }
    /// Whether this is a canary with traffic routing.
    pub fn has_traffic_routing(&self) -> bool {
        self.canary().is_some_and(|c| c.traffic_routing.is_some())
    }
    /// `maxTrafficWeight` (100 unless set on traffic routing).
    pub fn max_traffic_weight(&self) -> i32 {
        self.canary()
            .and_then(|c| c.traffic_routing.as_ref())
            .and_then(|t| t.max_traffic_weight)
            .unwrap_or(DEFAULT_MAX_TRAFFIC_WEIGHT)
    }
    /// `revisionHistoryLimit` with its default.
    pub fn revision_history_limit(&self) -> i32 {
        self.spec
            .revision_history_limit
            .unwrap_or(DEFAULT_REVISION_HISTORY_LIMIT)
    }
    /// `progressDeadlineSeconds` with its default.
    pub fn progress_deadline_seconds(&self) -> i32 {
        self.spec
            .progress_deadline_seconds
            .unwrap_or(DEFAULT_PROGRESS_DEADLINE_SECONDS)
    }
    /// The rollout's revision from the `rollout.argoproj.io/revision` annotation (0 if absent).
    pub fn revision(&self) -> i64 {
        self.metadata
            .annotations
            .get(super::REVISION_ANNOTATION)
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    }
}
