//! Spec validation: every problem, with its field path, in upstream's `InvalidSpec` wording
//! (`pkg/apis/rollouts/validation`). [`FieldError`]'s `Display` matches Kubernetes'
//! `field.Error` (`spec.strategy.steps[0].setWeight: Invalid value: 120: SetWeight needs to be
//! between 0 and 100`), which is what upstream writes into the `InvalidSpec` condition.

use std::fmt;

use serde_json::Value;

use super::spec::{CanaryStrategy, Rollout, RolloutAnalysis};
use crate::common::IntOrString;

mod authoring;
mod routers;

pub use authoring::{rollout_problems, template_refs, unknown_fields};
pub use routers::{NO_ROUTER, UNSUPPORTED_PING_PONG, UNSUPPORTED_ROUTER};

/// Upstream `MissingFieldMessage`.
pub fn missing_field_message(field: &str) -> String {
    format!("Rollout has missing field '{field}'")
}
/// Upstream `InvalidSetWeightMessage` (`max` is maxTrafficWeight).
pub fn invalid_set_weight_message(max: i32) -> String {
    format!("SetWeight needs to be between 0 and {max}")
}
/// Upstream `InvalidSetCanaryScaleTrafficPolicy`.
pub const INVALID_SET_CANARY_SCALE: &str = "SetCanaryScale requires TrafficRouting to be set";
/// Upstream `InvalidSetHeaderRouteTrafficPolicy`.
pub const INVALID_SET_HEADER_ROUTE: &str =
    "SetHeaderRoute requires TrafficRouting, supports Istio and ALB and Apisix";
/// Upstream `InvalidSetMirrorRouteTrafficPolicy`.
pub const INVALID_SET_MIRROR_ROUTE: &str = "SetMirrorRoute requires TrafficRouting, supports Istio only";
/// Upstream `InvalidDurationMessage`.
pub const INVALID_DURATION: &str = "Duration needs to be greater than 0";
/// Upstream `InvalidMaxSurgeMaxUnavailable`.
pub const INVALID_MAX_SURGE_MAX_UNAVAILABLE: &str = "MaxSurge and MaxUnavailable both can not be zero";
/// Upstream `InvalidStepMessage`.
pub const INVALID_STEP: &str =
    "Step must have one of the following set: experiment, setWeight, setCanaryScale or pause";
/// Upstream `InvalidStrategyMessage`.
pub const INVALID_STRATEGY: &str = "Multiple Strategies can not be listed";
/// Upstream `DuplicatedServicesBlueGreenMessage`.
pub const DUPLICATED_SERVICES_BLUE_GREEN: &str = "This rollout uses the same service for the active and preview services, but two different services are required.";
/// Upstream `DuplicatedServicesCanaryMessage`.
pub const DUPLICATED_SERVICES_CANARY: &str = "This rollout uses the same service for the stable and canary services, but two different services are required.";
/// Upstream `ScaleDownLimitLargerThanRevisionLimit`.
pub const SCALE_DOWN_LIMIT_LARGER_THAN_REVISION_LIMIT: &str =
    "This rollout's revision history limit can not be smaller than the rollout's scale down limit";
/// Upstream `InvalidTrafficRoutingMessage`.
pub const INVALID_TRAFFIC_ROUTING: &str =
    "Canary service and Stable service must to be set to use Traffic Routing";
/// Upstream `InvalidAnalysisArgsMessage`.
pub const INVALID_ANALYSIS_ARGS: &str =
    "Analyses arguments must refer to valid object metadata supported by downwardAPI";
/// Upstream `InvalidCanaryScaleDownDelay`.
pub const INVALID_CANARY_SCALE_DOWN_DELAY: &str =
    "Canary scaleDownDelaySeconds can only be used with traffic routing";
/// Upstream `InvalidCanaryDynamicStableScale`.
pub const INVALID_CANARY_DYNAMIC_STABLE_SCALE: &str =
    "Canary dynamicStableScale can only be used with traffic routing";
/// Upstream `InvalidCanaryDynamicStableScaleWithScaleDownDelay`.
pub const INVALID_DSS_WITH_SCALE_DOWN_DELAY: &str =
    "Canary dynamicStableScale cannot be used with scaleDownDelaySeconds";
/// Upstream `InvalidCanaryMaxWeightOnlySupportInNginxAndPlugins`.
pub const INVALID_MAX_WEIGHT: &str =
    "Canary maxTrafficWeight in traffic routing only support in Nginx and Plugins";
/// Upstream `InvalideStepRouteNameNotFoundInManagedRoutes`.
pub const ROUTE_NOT_IN_MANAGED_ROUTES: &str =
    "Steps define a route that does not exist in spec.strategy.canary.trafficRouting.managedRoutes";
/// Our message for step kinds this core parses but does not execute.
pub const UNSUPPORTED_STEP: &str = "step type is parsed and validated but not executed by rollout-core yet";

/// The kind of a [`FieldError`] (Kubernetes `field.ErrorType`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FieldErrorKind {
    /// `Invalid value: <value>`; the value is rendered as Go would (`120`, `"svc"`).
    Invalid(String),
    /// `Required value`.
    Required,
    /// `Unsupported value: <value>` (our use: features not executed by this core).
    Unsupported(String),
    /// `Internal error`.
    Internal,
}

/// One validation problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct FieldError {
    /// Field path such as `spec.strategy.steps[0].setWeight`.
    pub path: String,
    /// Error kind.
    pub kind: FieldErrorKind,
    /// Detail message (upstream wording).
    pub message: String,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            FieldErrorKind::Invalid(v) => {
                write!(f, "{}: Invalid value: {}: {}", self.path, v, self.message)
            }
            FieldErrorKind::Unsupported(v) => {
                write!(f, "{}: Unsupported value: {}: {}", self.path, v, self.message)
            }
            FieldErrorKind::Required if self.message.is_empty() => {
                write!(f, "{}: Required value", self.path)
            }
            FieldErrorKind::Required => write!(f, "{}: Required value: {}", self.path, self.message),
            FieldErrorKind::Internal => write!(f, "{}: Internal error: {}", self.path, self.message),
        }
    }
}

fn invalid(path: impl Into<String>, value: impl Into<String>, msg: impl Into<String>) -> FieldError {
    FieldError {
        path: path.into(),
        kind: FieldErrorKind::Invalid(value.into()),
        message: msg.into(),
    }
}

fn required(path: impl Into<String>, msg: impl Into<String>) -> FieldError {
    FieldError {
        path: path.into(),
        kind: FieldErrorKind::Required,
        message: msg.into(),
    }
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

fn int_or_string_repr(v: &IntOrString) -> String {
    match v {
        IntOrString::Int(i) => i.to_string(),
        IntOrString::String(s) => quoted(s),
    }
}

/// Validates a Rollout, returning every problem (empty = valid). `workload_template` is the
/// template resolved from `workloadRef`, if any (validation then checks that one).
///
/// ```
/// use rollout_core::rollout::{Rollout, validate};
/// let ro: Rollout = serde_json::from_value(serde_json::json!({
///     "spec": {"selector": {"matchLabels": {"app": "a"}},
///              "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c"}]}},
///              "strategy": {"canary": {"steps": [{"setWeight": 120}]}}}})).unwrap();
/// let errs = validate(&ro, None);
/// assert_eq!(errs[0].to_string(),
///     "spec.strategy.steps[0].setWeight: Invalid value: 120: SetWeight needs to be between 0 and 100");
/// ```
pub fn validate(ro: &Rollout, workload_template: Option<&Value>) -> Vec<FieldError> {
    let mut errs = Vec::new();
    let spec = &ro.spec;
    if ro.replicas() < 0 {
        errs.push(invalid(
            "spec.replicas",
            ro.replicas().to_string(),
            "must be greater than or equal to 0",
        ));
    }
    if spec.workload_ref.is_none() {
        match &spec.selector {
            None => errs.push(required("spec.selector", missing_field_message(".spec.selector"))),
            Some(sel) if sel.match_labels.is_empty() && sel.match_expressions.is_empty() => errs.push(
                invalid("spec.selector", "{}", "empty selector is invalid for deployment"),
            ),
            Some(_) => {}
        }
    }
    let template = match (&spec.workload_ref, workload_template) {
        (Some(_), resolved) => {
            if spec.template.as_ref().is_some_and(|t| !is_empty_template(t)) {
                errs.push(FieldError {
                    path: "spec.template".into(),
                    kind: FieldErrorKind::Internal,
                    message: "template must be empty for workload reference rollout".into(),
                });
            }
            resolved
        }
        (None, _) => spec.template.as_ref(),
    };
    if spec.workload_ref.is_none() || template.is_some() {
        validate_template(ro, template, &mut errs);
    }
    if let Some(wr) = &spec.workload_ref {
        let supported = matches!(
            (wr.api_version.as_str(), wr.kind.as_str()),
            ("apps/v1", "Deployment") | ("apps/v1", "ReplicaSet") | ("v1", "PodTemplate")
        );
        if !supported {
            errs.push(invalid(
                "spec.workloadRef",
                quoted(&wr.kind),
                format!("workload of type {}/{} is not supported", wr.api_version, wr.kind),
            ));
        }
    }
    let mrs = spec.min_ready_seconds.unwrap_or(0);
    if mrs < 0 {
        errs.push(invalid(
            "spec.minReadySeconds",
            mrs.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    let rhl = ro.revision_history_limit();
    if rhl < 0 {
        errs.push(invalid(
            "spec.revisionHistoryLimit",
            rhl.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    let pds = ro.progress_deadline_seconds();
    if pds < 0 {
        errs.push(invalid(
            "spec.progressDeadlineSeconds",
            pds.to_string(),
            "must be greater than or equal to 0",
        ));
    }
    if pds <= mrs {
        errs.push(invalid(
            "spec.progressDeadlineSeconds",
            pds.to_string(),
            "must be greater than minReadySeconds",
        ));
    }
    let st = &spec.strategy;
    match (&st.canary, &st.blue_green) {
        (None, None) => errs.push(required(
            "spec.strategy.strategy",
            missing_field_message(".spec.strategy.canary or .spec.strategy.blueGreen"),
        )),
        (Some(_), Some(_)) => errs.push(invalid(
            "spec.strategy.strategy",
            quoted("blueGreen: true canary: true"),
            INVALID_STRATEGY,
        )),
        (None, Some(bg)) => {
            if bg.active_service.is_empty() {
                errs.push(required(
                    "spec.strategy.blueGreen.activeService",
                    missing_field_message(".spec.strategy.blueGreen.activeService"),
                ));
            }
            if bg.active_service == bg.preview_service {
                errs.push(invalid(
                    "spec.strategy.activeService",
                    quoted(&bg.active_service),
                    DUPLICATED_SERVICES_BLUE_GREEN,
                ));
            }
            if let Some(l) = bg.scale_down_delay_revision_limit
                && rhl < l
            {
                errs.push(invalid(
                    "spec.strategy.scaleDownDelayRevisionLimit",
                    l.to_string(),
                    SCALE_DOWN_LIMIT_LARGER_THAN_REVISION_LIMIT,
                ));
            }
            for (name, a) in [
                ("prePromotionAnalysis", &bg.pre_promotion_analysis),
                ("postPromotionAnalysis", &bg.post_promotion_analysis),
            ] {
                if let Some(a) = a {
                    validate_args(ro, a, &format!("spec.strategy.blueGreen.{name}"), &mut errs);
                }
            }
        }
        (Some(c), None) => validate_canary(ro, c, &mut errs),
    }
    errs
}

fn is_empty_template(t: &Value) -> bool {
    match t {
        Value::Null => true,
        Value::Object(m) => m.values().all(is_empty_template),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

fn validate_template(ro: &Rollout, template: Option<&Value>, errs: &mut Vec<FieldError>) {
    let containers = template
        .and_then(|t| t.pointer("/spec/containers"))
        .and_then(Value::as_array);
    if containers.is_none_or(|c| c.is_empty()) {
        errs.push(required("spec.template.spec.containers", ""));
    }
    let (Some(sel), Some(t)) = (&ro.spec.selector, template) else {
        return;
    };
    let labels = t.pointer("/metadata/labels").and_then(Value::as_object);
    let matches = sel.match_labels.iter().all(|(k, v)| {
        labels
            .and_then(|l| l.get(k))
            .and_then(Value::as_str)
            .is_some_and(|x| x == v)
    });
    if !matches {
        let rendered = labels.map(|l| {
            let mut parts: Vec<String> = l
                .iter()
                .map(|(k, v)| format!("{k}:{}", v.as_str().unwrap_or_default()))
                .collect();
            parts.sort();
            parts.join(" ")
        });
        errs.push(invalid(
            "spec.template.metadata.labels",
            format!("map[{}]", rendered.unwrap_or_default()),
            "`selector` does not match template `labels`",
        ));
    }
}

fn needs_canary_stable_services(c: &CanaryStrategy) -> bool {
    let Some(tr) = &c.traffic_routing else {
        return false;
    };
    (tr.alb.is_some() && c.ping_pong.is_none())
        || tr
            .istio
            .as_ref()
            .is_some_and(|i| i.get("destinationRule").is_none())
        || tr.smi.is_some()
        || tr.apisix.is_some()
        || tr.ambassador.is_some()
        || tr.nginx.is_some()
        || tr.app_mesh.is_some()
        || tr.traefik.is_some()
}

fn validate_canary(ro: &Rollout, c: &CanaryStrategy, errs: &mut Vec<FieldError>) {
    let base = "spec.strategy";
    let zero = |v: &Option<IntOrString>| match v {
        Some(IntOrString::Int(0)) => true,
        Some(IntOrString::String(s)) => s == "0%",
        _ => false,
    };
    if zero(&c.max_surge) && zero(&c.max_unavailable) {
        let v = c.max_surge.as_ref().map(int_or_string_repr).unwrap_or_default();
        errs.push(invalid(
            format!("{base}.maxSurge"),
            v,
            INVALID_MAX_SURGE_MAX_UNAVAILABLE,
        ));
    }
    for (name, v) in [("maxSurge", &c.max_surge), ("maxUnavailable", &c.max_unavailable)] {
        if let Some(v) = v
            && let Err(e) = v.scaled(100, true)
        {
            errs.push(invalid(format!("{base}.canary.{name}"), int_or_string_repr(v), e));
        }
    }
    if !c.canary_service.is_empty() && c.canary_service == c.stable_service {
        errs.push(invalid(
            format!("{base}.stableService"),
            quoted(&c.stable_service),
            DUPLICATED_SERVICES_CANARY,
        ));
    }
    if needs_canary_stable_services(c) {
        if c.stable_service.is_empty() {
            errs.push(invalid(
                format!("{base}.stableService"),
                quoted(""),
                INVALID_TRAFFIC_ROUTING,
            ));
        }
        if c.canary_service.is_empty() {
            errs.push(invalid(
                format!("{base}.canaryService"),
                quoted(""),
                INVALID_TRAFFIC_ROUTING,
            ));
        }
    }
    match &c.traffic_routing {
        None => {
            if let Some(d) = c.scale_down_delay_seconds {
                errs.push(invalid(
                    format!("{base}.scaleDownDelaySeconds"),
                    d.to_string(),
                    INVALID_CANARY_SCALE_DOWN_DELAY,
                ));
            }
            if c.dynamic_stable_scale {
                errs.push(invalid(
                    format!("{base}.dynamicStableScale"),
                    "true",
                    INVALID_CANARY_DYNAMIC_STABLE_SCALE,
                ));
            }
        }
        Some(tr) => {
            if c.scale_down_delay_seconds.is_some() && c.dynamic_stable_scale {
                errs.push(invalid(
                    format!("{base}.dynamicStableScale"),
                    "true",
                    INVALID_DSS_WITH_SCALE_DOWN_DELAY,
                ));
            }
            if let Some(m) = tr.max_traffic_weight
                && tr.nginx.is_none()
                && tr.plugins.as_ref().is_none_or(|p| p.is_empty())
            {
                errs.push(invalid(
                    format!("{base}.trafficRouting.maxTrafficWeight"),
                    m.to_string(),
                    INVALID_MAX_WEIGHT,
                ));
            }
        }
    }
    let max_w = ro.max_traffic_weight();
    for (i, step) in ro.steps().iter().enumerate() {
        let sp = format!("{base}.steps[{i}]");
        let kinds = [
            step.set_weight.is_some(),
            step.pause.is_some(),
            step.experiment.is_some(),
            step.analysis.is_some(),
        ];
        if kinds.iter().filter(|k| **k).count() > 1 {
            errs.push(invalid(
                &sp,
                quoted(&format!(
                    "step.Experiment: {} step.Pause: {} step.SetWeight: {} step.Analysis: {}",
                    kinds[2], kinds[1], kinds[0], kinds[3]
                )),
                INVALID_STEP,
            ));
        }
        let none = !kinds.iter().any(|k| *k)
            && step.set_canary_scale.is_none()
            && step.set_header_route.is_none()
            && step.set_mirror_route.is_none()
            && step.plugin.is_none();
        if none {
            errs.push(invalid(&sp, quoted("empty step"), INVALID_STEP));
        }
        if let Some(w) = step.set_weight
            && !(0..=max_w).contains(&w)
        {
            errs.push(invalid(
                format!("{sp}.setWeight"),
                w.to_string(),
                invalid_set_weight_message(max_w),
            ));
        }
        if let Some(p) = &step.pause
            && let Some(d) = p.duration_seconds()
            && d < 0
        {
            errs.push(invalid(
                format!("{sp}.pause.duration"),
                d.to_string(),
                INVALID_DURATION,
            ));
        }
        if step.set_canary_scale.is_some() && c.traffic_routing.is_none() {
            errs.push(required(
                format!("{base}.trafficRouting"),
                INVALID_SET_CANARY_SCALE,
            ));
        }
        let tr = c.traffic_routing.as_ref();
        if step.set_header_route.is_some()
            && tr.is_none_or(|t| {
                t.istio.is_none()
                    && t.alb.is_none()
                    && t.apisix.is_none()
                    && t.plugins.as_ref().is_none_or(|p| p.is_empty())
            })
        {
            errs.push(invalid(
                format!("{sp}.setHeaderRoute"),
                quoted("setHeaderRoute"),
                INVALID_SET_HEADER_ROUTE,
            ));
        }
        if step.set_mirror_route.is_some() && tr.is_none_or(|t| t.istio.is_none() && !routers::has_gateway(t))
        {
            errs.push(invalid(
                format!("{sp}.setMirrorRoute"),
                quoted("setMirrorRoute"),
                INVALID_SET_MIRROR_ROUTE,
            ));
        }
        if let Some(t) = tr {
            errs.extend(routers::step_route_problems(
                t,
                &sp,
                step.set_header_route.as_ref(),
                step.set_mirror_route.as_ref(),
            ));
            for (field, route) in [
                ("setHeaderRoute", &step.set_header_route),
                ("setMirrorRoute", &step.set_mirror_route),
            ] {
                let Some(route) = route else { continue };
                match &t.managed_routes {
                    None => errs.push(required(
                        format!("{base}.trafficRouting.managedRoutes"),
                        missing_field_message("spec.strategy.canary.trafficRouting.managedRoutes"),
                    )),
                    Some(routes) => {
                        let name = route.get("name").and_then(Value::as_str).unwrap_or("");
                        if !routes.iter().any(|r| r.name == name) {
                            errs.push(invalid(
                                format!("{sp}.{field}"),
                                quoted(name),
                                ROUTE_NOT_IN_MANAGED_ROUTES,
                            ));
                        }
                    }
                }
            }
        }
        if let Some(a) = &step.analysis {
            validate_args(ro, a, &format!("{sp}.analyses"), errs);
        }
    }
    if let Some(bg) = &c.analysis {
        validate_args(ro, &bg.analysis, &format!("{base}.canary.analysis"), errs);
    }
    if let Some(tr) = &c.traffic_routing {
        errs.extend(routers::problems(c, tr));
    }
}

fn validate_args(ro: &Rollout, a: &RolloutAnalysis, path: &str, errs: &mut Vec<FieldError>) {
    for arg in &a.args {
        let Some(fr) = arg.value_from.as_ref().and_then(|v| v.field_ref.as_ref()) else {
            continue;
        };
        if fr.field_path.starts_with("metadata") && !super::args::is_valid_metadata_path(ro, &fr.field_path) {
            errs.push(invalid(path, quoted(&fr.field_path), INVALID_ANALYSIS_ARGS));
        }
    }
}

/// Step kinds the machine does not execute (experiments, step plugins). The machine reports
/// these as `InvalidSpec` rather than silently skipping them.
pub fn unsupported_steps(ro: &Rollout) -> Vec<FieldError> {
    let mut out = Vec::new();
    for (i, step) in ro.steps().iter().enumerate() {
        for (field, present) in [
            ("experiment", step.experiment.is_some()),
            ("plugin", step.plugin.is_some()),
        ] {
            if present {
                out.push(FieldError {
                    path: format!("spec.strategy.steps[{i}].{field}"),
                    kind: FieldErrorKind::Unsupported(quoted(field)),
                    message: UNSUPPORTED_STEP.to_string(),
                });
            }
        }
    }
    out
}
