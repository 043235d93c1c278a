//! NGINX Ingress: the canary Ingress (upstream `rollout/trafficrouting/nginx`).
//!
//! ```yaml
//! trafficRouting:
//!   nginx:
//!     stableIngress: my-ingress         # or stableIngresses: [a, b]
//!     annotationPrefix: nginx.ingress.kubernetes.io   # optional
//!     additionalIngressAnnotations:     # optional, prefixed: canary-by-header: X-Canary
//!       canary-by-header: X-Canary
//!     canaryIngressAnnotations: {}      # optional, full keys
//! ```
//!
//! For each stable Ingress the Rollout owns a canary Ingress `<rollout>-<stable>-canary` with
//! the stable Ingress's rules that reference the stable Service (pointed at the canary Service),
//! its TLS, `ingressClassName` and `kubernetes.io/ingress.class`, and the annotations
//! `<prefix>/canary: "true"`, `<prefix>/canary-weight: "<w>"` (and `canary-weight-total` when
//! `maxTrafficWeight` is set). The stable Ingress is never modified. Both `networking.k8s.io/v1`
//! (`backend.service.name`) and `extensions/v1beta1` (`backend.serviceName`) shapes are read.

use std::collections::BTreeMap;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Change, RoutingError, Services, Weights, is_controlled_by, merge_diff, name_of};

/// Default annotation prefix.
pub const DEFAULT_ANNOTATION_PREFIX: &str = "nginx.ingress.kubernetes.io";
/// Suffix of canary Ingress names.
pub const CANARY_SUFFIX: &str = "-canary";
const INGRESS_CLASS: &str = "kubernetes.io/ingress.class";

/// `trafficRouting.nginx`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NginxConfig {
    /// The stable Ingress.
    #[serde(default)]
    pub stable_ingress: String,
    /// Several stable Ingresses.
    #[serde(default)]
    pub stable_ingresses: Vec<String>,
    /// Annotation prefix (default `nginx.ingress.kubernetes.io`).
    #[serde(default)]
    pub annotation_prefix: String,
    /// Extra canary annotations, prefixed unless they already start with the prefix.
    #[serde(default)]
    pub additional_ingress_annotations: BTreeMap<String, String>,
    /// Extra canary annotations with full keys (win over the prefixed ones).
    #[serde(default)]
    pub canary_ingress_annotations: BTreeMap<String, String>,
}

impl NginxConfig {
    /// Reads `trafficRouting.nginx`.
    pub fn parse(cfg: &Value) -> Result<Self, RoutingError> {
        super::parse_config("nginx", cfg)
    }
    /// The stable Ingresses (`stableIngresses` if set, else `stableIngress`).
    pub fn stable_ingresses(&self) -> Vec<String> {
        if self.stable_ingresses.is_empty() {
            vec![self.stable_ingress.clone()]
        } else {
            self.stable_ingresses.clone()
        }
    }
    fn prefix(&self) -> &str {
        if self.annotation_prefix.is_empty() {
            DEFAULT_ANNOTATION_PREFIX
        } else {
            &self.annotation_prefix
        }
    }
}

/// `<rollout>-<stable ingress>` cut to fit 253 characters with `-canary` appended.
pub fn canary_ingress_name(rollout: &str, stable_ingress: &str) -> String {
    let mut prefix = format!("{rollout}-{stable_ingress}");
    let max = 253 - CANARY_SUFFIX.len();
    if prefix.len() > max {
        let mut cut = max;
        while !prefix.is_char_boundary(cut) {
            cut -= 1;
        }
        prefix.truncate(cut);
    }
    format!("{prefix}{CANARY_SUFFIX}")
}

fn backend_service_mut(path: &mut Value) -> Option<&mut Value> {
    let backend = path.get_mut("backend")?;
    if backend.get("service").is_some() {
        backend.get_mut("service").and_then(|s| s.get_mut("name"))
    } else {
        backend.get_mut("serviceName")
    }
}

/// The desired canary Ingress for `stable` (metadata without owner references and `spec`).
pub fn desired_canary_ingress(
    stable: &Value,
    name: &str,
    cfg: &NginxConfig,
    services: &Services,
    weights: &Weights,
    max_traffic_weight_set: bool,
) -> Result<Value, RoutingError> {
    let mut rules = Vec::new();
    for rule in stable
        .pointer("/spec/rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let mut rule = rule.clone();
        let mut uses_stable = false;
        for path in rule
            .pointer_mut("/http/paths")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            if let Some(svc) = backend_service_mut(path)
                && svc.as_str() == Some(services.stable.as_str())
            {
                *svc = json!(services.canary);
                uses_stable = true;
            }
        }
        if uses_stable {
            rules.push(rule);
        }
    }
    if rules.is_empty() {
        return Err(RoutingError::Object {
            kind: "Ingress".into(),
            name: name_of(stable).to_string(),
            message: format!("has no rules using service {} backend", services.stable),
        });
    }
    let mut spec = Map::new();
    if let Some(class) = stable.pointer("/spec/ingressClassName") {
        spec.insert("ingressClassName".into(), class.clone());
    }
    spec.insert("rules".into(), Value::Array(rules));
    if let Some(tls) = stable.pointer("/spec/tls") {
        spec.insert("tls".into(), tls.clone());
    }
    let prefix = cfg.prefix();
    let mut annotations = BTreeMap::new();
    if let Some(class) = stable
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(INGRESS_CLASS))
        .and_then(Value::as_str)
    {
        annotations.insert(INGRESS_CLASS.to_string(), class.to_string());
    }
    for (k, v) in &cfg.additional_ingress_annotations {
        let key = if k.starts_with(prefix) {
            k.clone()
        } else {
            format!("{prefix}/{k}")
        };
        annotations.insert(key, v.clone());
    }
    for (k, v) in &cfg.canary_ingress_annotations {
        annotations.insert(k.clone(), v.clone());
    }
    annotations.insert(format!("{prefix}/canary"), "true".into());
    annotations.insert(
        format!("{prefix}/canary-weight"),
        weights.canary_weight.to_string(),
    );
    if max_traffic_weight_set {
        annotations.insert(
            format!("{prefix}/canary-weight-total"),
            weights.max_weight.to_string(),
        );
    }
    Ok(json!({
        "apiVersion": stable.get("apiVersion").cloned().unwrap_or_else(|| json!("networking.k8s.io/v1")),
        "kind": "Ingress",
        "metadata": {"name": name, "annotations": annotations},
        "spec": Value::Object(spec),
    }))
}

/// Inputs about the Rollout for [`set_weight`].
#[derive(Debug, Clone, PartialEq)]
pub struct CanaryOwner<'a> {
    /// Rollout name.
    pub rollout: &'a str,
    /// Rollout namespace.
    pub namespace: &'a str,
    /// Controller owner reference for a new canary Ingress.
    pub owner_reference: Value,
    /// Whether `trafficRouting.maxTrafficWeight` is set (adds `canary-weight-total`).
    pub max_traffic_weight_set: bool,
}

/// The change to the canary Ingress of one stable Ingress: create it, or patch its annotations
/// (keys other controllers added are kept) and spec. A canary Ingress that the Rollout does not
/// control is an error.
pub fn set_weight(
    stable: &Value,
    canary: Option<&Value>,
    cfg: &NginxConfig,
    services: &Services,
    weights: &Weights,
    owner: &CanaryOwner<'_>,
) -> Result<Change, RoutingError> {
    let name = canary_ingress_name(owner.rollout, name_of(stable));
    let mut desired = desired_canary_ingress(
        stable,
        &name,
        cfg,
        services,
        weights,
        owner.max_traffic_weight_set,
    )?;
    let Some(current) = canary else {
        desired["metadata"]["namespace"] = json!(owner.namespace);
        desired["metadata"]["ownerReferences"] = json!([owner.owner_reference]);
        return Ok(Change::Create(desired));
    };
    let uid = owner
        .owner_reference
        .get("uid")
        .and_then(Value::as_str)
        .unwrap_or_default();
    if !is_controlled_by(current, uid) {
        return Err(RoutingError::NotOwned {
            kind: "Ingress".into(),
            name,
        });
    }
    // Annotations: ours win, the others stay (a merge patch names only what changes).
    let cur_ann = current
        .pointer("/metadata/annotations")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut want_ann = cur_ann.clone();
    if let (Some(w), Some(d)) = (
        want_ann.as_object_mut(),
        desired
            .pointer("/metadata/annotations")
            .and_then(Value::as_object),
    ) {
        for (k, v) in d {
            w.insert(k.clone(), v.clone());
        }
    }
    let cur_spec = current.get("spec").cloned().unwrap_or_else(|| json!({}));
    let mut patch = Map::new();
    if let Some(a) = merge_diff(&cur_ann, &want_ann) {
        patch.insert("metadata".into(), json!({"annotations": a}));
    }
    if let Some(s) = merge_diff(&cur_spec, &desired["spec"]) {
        patch.insert("spec".into(), s);
    }
    Ok(Change::patch_or_unchanged(
        (!patch.is_empty()).then_some(Value::Object(patch)),
    ))
}
