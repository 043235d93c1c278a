//! Istio adapter: reads the VirtualServices and DestinationRule the Rollout names, asks
//! [`rollout_core::rollout::routing::istio`] for the change and applies it as a JSON merge patch
//! guarded by the `resourceVersion` it read (`networking.istio.io/v1alpha3`, as upstream).

use async_trait::async_trait;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use rollout_core::rollout::Rollout;
use rollout_core::rollout::routing::istio::{
    self, CanaryTarget, DestinationRuleRef, IstioConfig, VirtualServiceRef,
};
use rollout_core::rollout::routing::{HeaderRoute, MirrorRoute, RoutingError, Services, Weights};
use rollout_driver::{AdapterError, Applied, TrafficRouter};
use serde_json::Value;

use super::{get_object, patch_guarded, routing_err};

fn resource(kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("networking.istio.io", "v1alpha3", kind),
        plural,
    )
}

/// Sets VirtualService weights, DestinationRule subsets and managed routes.
#[derive(Clone)]
pub struct IstioRouter {
    client: Client,
    namespace: String,
    rollout: String,
    cfg: IstioConfig,
    services: Services,
    max_weight: i32,
    managed: Vec<String>,
    field_manager: String,
}

impl std::fmt::Debug for IstioRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IstioRouter")
            .field("namespace", &self.namespace)
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

impl IstioRouter {
    /// The router for `ro` if it configures Istio (`Err` when the configuration does not parse).
    pub fn for_rollout(
        client: &Client,
        ro: &Rollout,
        field_manager: &str,
    ) -> Option<Result<Self, AdapterError>> {
        let canary = ro.canary()?;
        let cfg = canary.traffic_routing.as_ref()?.istio.as_ref()?;
        Some(
            IstioConfig::parse(cfg)
                .map_err(routing_err)
                .map(|cfg| IstioRouter {
                    client: client.clone(),
                    namespace: ro.metadata.namespace.clone().unwrap_or_default(),
                    rollout: ro.metadata.name.clone(),
                    cfg,
                    services: Services {
                        canary: canary.canary_service.clone(),
                        stable: canary.stable_service.clone(),
                    },
                    max_weight: ro.max_traffic_weight(),
                    managed: rollout_core::rollout::routing::managed_route_names(ro),
                    field_manager: field_manager.to_string(),
                }),
        )
    }

    fn api(&self, ns: Option<&str>, kind: &str, plural: &str) -> Api<DynamicObject> {
        Api::namespaced_with(
            self.client.clone(),
            ns.unwrap_or(&self.namespace),
            &resource(kind, plural),
        )
    }

    fn vs_api(&self, vs: &VirtualServiceRef) -> (Api<DynamicObject>, String) {
        let (ns, name) = vs.namespace_name();
        (self.api(ns.as_deref(), "VirtualService", "virtualservices"), name)
    }

    async fn destination_rule(&self) -> Result<Option<(DestinationRuleRef, Value)>, AdapterError> {
        let Some(dr) = &self.cfg.destination_rule else {
            return Ok(None);
        };
        let api = self.api(None, "DestinationRule", "destinationrules");
        let obj = get_object(&api, "DestinationRule", &dr.name).await?;
        Ok(Some((dr.clone(), obj)))
    }

    /// Applies `change(vs object, vs ref)` to every VirtualService.
    async fn each_vs(
        &self,
        skip_missing: bool,
        change: impl Fn(&Value, &VirtualServiceRef) -> Result<Option<Value>, RoutingError>,
    ) -> Result<Applied, AdapterError> {
        let mut applied = Applied::Unchanged;
        for vs in self.cfg.virtual_services() {
            let (api, name) = self.vs_api(&vs);
            let obj = match get_object(&api, "VirtualService", &name).await {
                Err(AdapterError::NotFound { .. }) if skip_missing => continue,
                other => other?,
            };
            if let Some(patch) = change(&obj, &vs).map_err(routing_err)? {
                patch_guarded(&api, "VirtualService", &name, &obj, patch, &self.field_manager).await?;
                applied = Applied::Written;
            }
        }
        Ok(applied)
    }

    async fn target(&self) -> Result<CanaryTarget, AdapterError> {
        let dr = self.destination_rule().await?;
        Ok(CanaryTarget::new(
            &self.services,
            dr.as_ref().map(|(r, o)| (r, o)),
        ))
    }
}

#[async_trait]
impl TrafficRouter for IstioRouter {
    async fn set_weight(
        &self,
        _ro: &Rollout,
        canary_hash: &str,
        stable_hash: &str,
        weight: i32,
    ) -> Result<Applied, AdapterError> {
        let mut applied = Applied::Unchanged;
        let dr = self.destination_rule().await?;
        if let Some((r, obj)) = &dr
            && let Some(patch) = istio::update_hash(obj, r, &self.rollout, canary_hash, stable_hash)
        {
            let api = self.api(None, "DestinationRule", "destinationrules");
            patch_guarded(&api, "DestinationRule", &r.name, obj, patch, &self.field_manager).await?;
            applied = Applied::Written;
        }
        let weights = Weights {
            canary_weight: weight,
            max_weight: self.max_weight,
        };
        let dr_ref = dr.as_ref().map(|(r, _)| r);
        let vs = self
            .each_vs(false, |obj, vs| {
                istio::set_weight(obj, vs, dr_ref, &self.services, &weights, &self.managed)
            })
            .await?;
        Ok(if vs == Applied::Written { vs } else { applied })
    }

    async fn set_header_route(&self, _ro: &Rollout, route: &HeaderRoute) -> Result<Applied, AdapterError> {
        let target = self.target().await?;
        self.each_vs(false, |obj, vs| {
            istio::set_header_route(obj, vs, &target, route, &self.managed)
        })
        .await
    }

    async fn set_mirror_route(&self, _ro: &Rollout, route: &MirrorRoute) -> Result<Applied, AdapterError> {
        let target = self.target().await?;
        self.each_vs(false, |obj, vs| {
            istio::set_mirror_route(obj, vs, &target, route, &self.managed)
        })
        .await
    }

    async fn remove_managed_routes(&self, _ro: &Rollout, routes: &[String]) -> Result<Applied, AdapterError> {
        self.each_vs(true, |obj, _| Ok(istio::remove_managed_routes(obj, routes)))
            .await
    }
}
