//! Traffic routers behind rollout-driver's [`TrafficRouter`] contract. One real router: Gateway API
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
use rollout_core::rollout::Rollout;
use rollout_core::rollout::routing::gateway::{self, weighted_rules};
use rollout_core::rollout::routing::{HeaderRoute, MirrorRoute, RoutingError, Services};
use rollout_driver::{AdapterError, Applied, TrafficRouter};
use serde_json::{Value, json};

mod istio;
mod objects;

pub use istio::IstioRouter;
pub use objects::ObjectRouter;

/// The plugin key Argo uses for the Gateway API router.
pub const GATEWAY_API_PLUGIN: &str = rollout_core::rollout::routing::gateway::PLUGIN;

/// Sets backend weights on Gateway API HTTPRoutes.
#[derive(Clone)]
pub struct HttpRouteRouter {
    client: Client,
    namespace: String,
    routes: Vec<String>,
    canary_service: String,
    stable_service: String,
    max_weight: i32,
    managed_routes: Vec<String>,
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
        managed_routes: rollout_core::rollout::routing::managed_route_names(ro),
        field_manager: field_manager.to_string(),
    })
}

impl HttpRouteRouter {
    fn services(&self) -> Services {
        Services {
            canary: self.canary_service.clone(),
            stable: self.stable_service.clone(),
        }
    }

    /// Applies `change(route object)` to every HTTPRoute.
    async fn each_route(
        &self,
        change: impl Fn(&Value) -> Result<Option<Value>, RoutingError>,
    ) -> Result<Applied, AdapterError> {
        let api: Api<DynamicObject> =
            Api::namespaced_with(self.client.clone(), &self.namespace, &api_resource());
        let mut applied = Applied::Unchanged;
        for route in &self.routes {
            let obj = get_object(&api, "HTTPRoute", route).await?;
            if let Some(patch) = change(&obj).map_err(routing_err)? {
                patch_guarded(&api, "HTTPRoute", route, &obj, patch, &self.field_manager).await?;
                applied = Applied::Written;
            }
        }
        Ok(applied)
    }
}

/// Every router a Rollout's `trafficRouting` configures that this crate implements, applied in
/// turn (upstream runs each configured reconciler).
pub struct Routers {
    routers: Vec<Box<dyn TrafficRouter>>,
}

impl std::fmt::Debug for Routers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Routers")
            .field("count", &self.routers.len())
            .finish()
    }
}

/// The routers for `ro`: `None` when it configures none this crate implements.
pub fn routers_for(
    client: &Client,
    ro: &Rollout,
    field_manager: &str,
) -> Option<Result<Routers, AdapterError>> {
    let mut routers: Vec<Box<dyn TrafficRouter>> = Vec::new();
    if let Some(r) = router_for(client, ro, field_manager) {
        routers.push(Box::new(r));
    }
    match IstioRouter::for_rollout(client, ro, field_manager) {
        Some(Ok(r)) => routers.push(Box::new(r)),
        Some(Err(e)) => return Some(Err(e)),
        None => {}
    }
    match ObjectRouter::for_rollout(client, ro, field_manager) {
        Ok(list) => routers.extend(list.into_iter().map(|r| Box::new(r) as Box<dyn TrafficRouter>)),
        Err(e) => return Some(Err(e)),
    }
    (!routers.is_empty()).then_some(Ok(Routers { routers }))
}

fn merge(a: Applied, b: Applied) -> Applied {
    if a == Applied::Written || b == Applied::Written {
        Applied::Written
    } else {
        Applied::Unchanged
    }
}

#[async_trait]
impl TrafficRouter for Routers {
    async fn set_weight(
        &self,
        ro: &Rollout,
        canary_hash: &str,
        stable_hash: &str,
        weight: i32,
    ) -> Result<Applied, AdapterError> {
        let mut applied = Applied::Unchanged;
        for r in &self.routers {
            applied = merge(applied, r.set_weight(ro, canary_hash, stable_hash, weight).await?);
        }
        Ok(applied)
    }

    async fn verify_weight(&self, ro: &Rollout, weight: i32) -> Result<Option<bool>, AdapterError> {
        let mut all = None;
        for r in &self.routers {
            match r.verify_weight(ro, weight).await? {
                Some(false) => return Ok(Some(false)),
                Some(true) => all = Some(true),
                None => {}
            }
        }
        Ok(all)
    }

    async fn set_header_route(&self, ro: &Rollout, route: &HeaderRoute) -> Result<Applied, AdapterError> {
        let mut applied = Applied::Unchanged;
        for r in &self.routers {
            applied = merge(applied, r.set_header_route(ro, route).await?);
        }
        Ok(applied)
    }

    async fn set_mirror_route(&self, ro: &Rollout, route: &MirrorRoute) -> Result<Applied, AdapterError> {
        let mut applied = Applied::Unchanged;
        for r in &self.routers {
            applied = merge(applied, r.set_mirror_route(ro, route).await?);
        }
        Ok(applied)
    }

    async fn remove_managed_routes(&self, ro: &Rollout, routes: &[String]) -> Result<Applied, AdapterError> {
        let mut applied = Applied::Unchanged;
        for r in &self.routers {
            applied = merge(applied, r.remove_managed_routes(ro, routes).await?);
        }
        Ok(applied)
    }
}

/// `GET` one object as JSON.
async fn get_object(api: &Api<DynamicObject>, kind: &str, name: &str) -> Result<Value, AdapterError> {
    let obj = api.get(name).await.map_err(|e| match e {
        kube::Error::Api(s) if s.code == 404 => AdapterError::NotFound {
            kind: kind.to_string(),
            name: name.to_string(),
        },
        other => adapter_err(other),
    })?;
    serde_json::to_value(&obj).map_err(|e| AdapterError::Other(format!("{kind} {name}: {e}")))
}

/// Applies a JSON merge patch guarded by the `resourceVersion` of `read` (a concurrent change
/// makes it a conflict: the tick is retried on fresh objects).
async fn patch_guarded(
    api: &Api<DynamicObject>,
    kind: &str,
    name: &str,
    read: &Value,
    mut patch: Value,
    field_manager: &str,
) -> Result<(), AdapterError> {
    patch["metadata"]["resourceVersion"] = read
        .pointer("/metadata/resourceVersion")
        .cloned()
        .unwrap_or(Value::Null);
    let pp = PatchParams {
        field_manager: Some(field_manager.to_string()),
        ..Default::default()
    };
    api.patch(name, &pp, &Patch::Merge(&patch))
        .await
        .map_err(|e| match e {
            kube::Error::Api(s) if s.code == 409 => AdapterError::Conflict {
                kind: kind.to_string(),
                name: name.to_string(),
                message: s.message,
            },
            other => adapter_err(other),
        })?;
    Ok(())
}

fn routing_err(e: RoutingError) -> AdapterError {
    AdapterError::Other(e.to_string())
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
        _ro: &Rollout,
        _canary_hash: &str,
        _stable_hash: &str,
        weight: i32,
    ) -> Result<Applied, AdapterError> {
        let mut applied = Applied::Unchanged;
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
                &self.managed_routes,
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
            applied = Applied::Written;
        }
        Ok(applied)
    }

    async fn set_header_route(&self, _ro: &Rollout, route: &HeaderRoute) -> Result<Applied, AdapterError> {
        let services = self.services();
        self.each_route(|obj| gateway::set_header_route(obj, &services, route, &self.managed_routes))
            .await
    }

    async fn set_mirror_route(&self, _ro: &Rollout, route: &MirrorRoute) -> Result<Applied, AdapterError> {
        let services = self.services();
        self.each_route(|obj| gateway::set_mirror_route(obj, &services, route, &self.managed_routes))
            .await
    }

    async fn remove_managed_routes(&self, _ro: &Rollout, routes: &[String]) -> Result<Applied, AdapterError> {
        self.each_route(|obj| Ok(gateway::remove_managed_routes(obj, routes)))
            .await
    }

    async fn verify_weight(&self, _ro: &Rollout, weight: i32) -> Result<Option<bool>, AdapterError> {
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
                &self.managed_routes,
            );
            if expected.as_ref() != Some(&rules) {
                return Ok(Some(false));
            }
        }
        Ok(Some(true))
    }
}
