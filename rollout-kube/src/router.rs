//! Traffic routers behind the core's [`TrafficRouter`] trait. One real router: Gateway API
//! `HTTPRoute` backend weights, configured like Argo's Gateway API plugin:
//!
//! ```yaml
//! trafficRouting:
//!   plugins:
//!     argoproj-labs/gatewayAPI:
//!       httpRoute: my-route          # or httpRoutes: [{name: a}, {name: b}]
//!       namespace: my-namespace      # optional, defaults to the Rollout's
//! ```
//!
//! In every rule of each route, the backendRef named like the canary Service gets the canary
//! weight and the one named like the stable Service gets the rest. Other routers implement the
//! same trait and are selected in [`router_for`].

use async_trait::async_trait;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use rollout_core::adapters::{AdapterError, TrafficRouter};
use rollout_core::rollout::Rollout;
use serde_json::{Value, json};

/// The plugin key Argo uses for the Gateway API router.
pub const GATEWAY_API_PLUGIN: &str = "argoproj-labs/gatewayAPI";

/// Sets backend weights on Gateway API HTTPRoutes.
#[derive(Clone)]
pub struct HttpRouteRouter {
    client: Client,
    namespace: String,
    routes: Vec<String>,
    canary_service: String,
    stable_service: String,
    max_weight: i32,
    field_manager: String,
}

impl std::fmt::Debug for HttpRouteRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRouteRouter")
            .field("namespace", &self.namespace)
            .field("routes", &self.routes)
            .finish()
    }
}

fn api_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("gateway.networking.k8s.io", "v1", "HTTPRoute"),
        "httproutes",
    )
}

/// The router a Rollout's `trafficRouting` asks for, if this crate implements it.
pub fn router_for(client: &Client, ro: &Rollout, field_manager: &str) -> Option<HttpRouteRouter> {
    let canary = ro.canary()?;
    let cfg = canary
        .traffic_routing
        .as_ref()?
        .plugins
        .as_ref()?
        .get(GATEWAY_API_PLUGIN)?;
    let mut routes: Vec<String> = cfg
        .get("httpRoute")
        .and_then(Value::as_str)
        .map(str::to_string)
        .into_iter()
        .collect();
    if let Some(list) = cfg.get("httpRoutes").and_then(Value::as_array) {
        routes.extend(
            list.iter()
                .filter_map(|r| r.get("name").and_then(Value::as_str))
                .map(str::to_string),
        );
    }
    let namespace = cfg
        .get("namespace")
        .and_then(Value::as_str)
        .map(str::to_string)
        .or_else(|| ro.metadata.namespace.clone())?;
    Some(HttpRouteRouter {
        client: client.clone(),
        namespace,
        routes,
        canary_service: canary.canary_service.clone(),
        stable_service: canary.stable_service.clone(),
        max_weight: ro.max_traffic_weight(),
        field_manager: field_manager.to_string(),
    })
}

/// `rules` with the canary/stable backendRefs weighted; `None` if no backend matched.
pub fn weighted_rules(rules: &Value, canary: &str, stable: &str, weight: i32, max: i32) -> Option<Value> {
    let mut rules = rules.clone();
    let mut matched = false;
    for rule in rules.as_array_mut()? {
        for backend in rule
            .get_mut("backendRefs")
            .and_then(Value::as_array_mut)
            .into_iter()
            .flatten()
        {
            let name = backend
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            if name == canary {
                backend["weight"] = json!(weight);
                matched = true;
            } else if name == stable {
                backend["weight"] = json!(max - weight);
                matched = true;
            }
        }
    }
    matched.then_some(rules)
}

fn adapter_err(e: kube::Error) -> AdapterError {
    match e {
        kube::Error::Api(s) if s.code == 404 => AdapterError::NotFound {
            kind: "HTTPRoute".into(),
            name: s.message,
        },
        kube::Error::Api(s) if s.code == 409 => AdapterError::Conflict {
            kind: "HTTPRoute".into(),
            name: String::new(),
            message: s.message,
        },
        other => AdapterError::Other(other.to_string()),
    }
}

#[async_trait]
impl TrafficRouter for HttpRouteRouter {
    async fn set_weight(
        &self,
        _canary_hash: &str,
        _stable_hash: &str,
        weight: i32,
    ) -> Result<(), AdapterError> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, &api_resource());
        for route in &self.routes {
            let obj = api.get(route).await.map_err(adapter_err)?;
            let rules = obj.data.pointer("/spec/rules").cloned().unwrap_or(json!([]));
            let Some(new_rules) = weighted_rules(
                &rules,
                &self.canary_service,
                &self.stable_service,
                weight,
                self.max_weight,
            ) else {
                return Err(AdapterError::Other(format!(
                    "HTTPRoute {}/{route} has no backendRef named {:?} or {:?}",
                    self.namespace, self.canary_service, self.stable_service
                )));
            };
            if new_rules == rules {
                continue;
            }
            // The rules array is replaced as a whole, guarded by the resourceVersion we read.
            let patch = json!({"metadata": {"resourceVersion": obj.metadata.resource_version}, "spec": {"rules": new_rules}});
            let pp = PatchParams {
                field_manager: Some(self.field_manager.clone()),
                ..Default::default()
            };
            api.patch(route, &pp, &Patch::Merge(&patch))
                .await
                .map_err(adapter_err)?;
        }
        Ok(())
    }

    async fn verify_weight(&self, weight: i32) -> Result<Option<bool>, AdapterError> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, &api_resource());
        for route in &self.routes {
            let obj = api.get(route).await.map_err(adapter_err)?;
            let rules = obj.data.pointer("/spec/rules").cloned().unwrap_or(json!([]));
            let expected = weighted_rules(
                &rules,
                &self.canary_service,
                &self.stable_service,
                weight,
                self.max_weight,
            );
            if expected.as_ref() != Some(&rules) {
                return Ok(Some(false));
            }
        }
        Ok(Some(true))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weights_only_the_named_backends() {
        let rules = json!([{"backendRefs": [
            {"name": "stable", "port": 80, "weight": 100},
            {"name": "canary", "port": 80, "weight": 0},
            {"name": "other", "port": 80, "weight": 5}
        ]}]);
        let got = weighted_rules(&rules, "canary", "stable", 30, 100).unwrap();
        assert_eq!(
            got,
            json!([{"backendRefs": [
                {"name": "stable", "port": 80, "weight": 70},
                {"name": "canary", "port": 80, "weight": 30},
                {"name": "other", "port": 80, "weight": 5}
            ]}])
        );
        assert_eq!(weighted_rules(&rules, "x", "y", 30, 100), None);
    }
}
