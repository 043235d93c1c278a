//! Adapters for the routers whose objects the core computes whole or patches by annotation:
//! NGINX (canary Ingress), SMI (TrafficSplit), ALB (Ingress annotations) and Traefik (weighted
//! TraefikService). Each reads the objects, asks [`rollout_core::rollout::routing`] for the change
//! and creates the object or applies a JSON merge patch guarded by the `resourceVersion` read.

use async_trait::async_trait;
use kube::Client;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, PostParams};
use rollout_core::rollout::Rollout;
use rollout_core::rollout::routing::{
    Change, HeaderRoute, Services, Weights, alb, alb::AlbConfig, nginx, nginx::NginxConfig, smi,
    smi::SmiConfig, traefik, traefik::TraefikConfig,
};
use rollout_driver::{AdapterError, Applied, TrafficRouter};
use serde_json::{Value, json};

use super::{get_object, patch_guarded, routing_err};

/// Which router and its configuration.
#[derive(Debug, Clone)]
enum Kind {
    Nginx(NginxConfig),
    Smi(SmiConfig),
    Alb(AlbConfig),
    Traefik(TraefikConfig),
}

/// One NGINX, SMI, ALB or Traefik router of a Rollout.
#[derive(Clone)]
pub struct ObjectRouter {
    client: Client,
    namespace: String,
    rollout: String,
    uid: String,
    kind: Kind,
    services: Services,
    max_weight: i32,
    max_set: bool,
    managed: Vec<String>,
    field_manager: String,
}

impl std::fmt::Debug for ObjectRouter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectRouter")
            .field("namespace", &self.namespace)
            .field("kind", &self.kind)
            .finish_non_exhaustive()
    }
}

fn api(
    client: &Client,
    ns: &str,
    group: &str,
    version: &str,
    kind: &str,
    plural: &str,
) -> Api<DynamicObject> {
    let gvk = GroupVersionKind::gvk(group, version, kind);
    Api::namespaced_with(
        client.clone(),
        ns,
        &ApiResource::from_gvk_with_plural(&gvk, plural),
    )
}

impl ObjectRouter {
    /// The NGINX, SMI, ALB and Traefik routers `ro` configures (`Err`: a configuration does not parse).
    pub fn for_rollout(
        client: &Client,
        ro: &Rollout,
        field_manager: &str,
    ) -> Result<Vec<Self>, AdapterError> {
        let Some(canary) = ro.canary() else {
            return Ok(Vec::new());
        };
        let Some(tr) = canary.traffic_routing.as_ref() else {
            return Ok(Vec::new());
        };
        let mut kinds = Vec::new();
        if let Some(c) = &tr.nginx {
            kinds.push(Kind::Nginx(NginxConfig::parse(c).map_err(routing_err)?));
        }
        if let Some(c) = &tr.smi {
            kinds.push(Kind::Smi(SmiConfig::parse(c).map_err(routing_err)?));
        }
        if let Some(c) = &tr.alb {
            kinds.push(Kind::Alb(AlbConfig::parse(c).map_err(routing_err)?));
        }
        if let Some(c) = &tr.traefik {
            kinds.push(Kind::Traefik(TraefikConfig::parse(c).map_err(routing_err)?));
        }
        Ok(kinds
            .into_iter()
            .map(|kind| ObjectRouter {
                client: client.clone(),
                namespace: ro.metadata.namespace.clone().unwrap_or_default(),
                rollout: ro.metadata.name.clone(),
                uid: ro.metadata.uid.clone().unwrap_or_default(),
                kind,
                services: Services {
                    canary: canary.canary_service.clone(),
                    stable: canary.stable_service.clone(),
                },
                max_weight: ro.max_traffic_weight(),
                max_set: tr.max_traffic_weight.is_some(),
                managed: rollout_core::rollout::routing::managed_route_names(ro),
                field_manager: field_manager.to_string(),
            })
            .collect())
    }

    fn owner_reference(&self) -> Value {
        json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": self.rollout,
               "uid": self.uid, "controller": true, "blockOwnerDeletion": true})
    }

    fn ingresses(&self) -> Api<DynamicObject> {
        api(
            &self.client,
            &self.namespace,
            "networking.k8s.io",
            "v1",
            "Ingress",
            "ingresses",
        )
    }

    async fn create(&self, api: &Api<DynamicObject>, obj: Value) -> Result<Applied, AdapterError> {
        let obj: DynamicObject =
            serde_json::from_value(obj).map_err(|e| AdapterError::Other(e.to_string()))?;
        let pp = PostParams {
            field_manager: Some(self.field_manager.clone()),
            ..Default::default()
        };
        match api.create(&pp, &obj).await {
            Ok(_) => Ok(Applied::Written),
            // Created by an earlier tick whose status write failed: the next tick patches it.
            Err(kube::Error::Api(s)) if s.code == 409 => Err(AdapterError::Conflict {
                kind: obj.types.map(|t| t.kind).unwrap_or_default(),
                name: obj.metadata.name.unwrap_or_default(),
                message: s.message,
            }),
            Err(e) => Err(AdapterError::Other(e.to_string())),
        }
    }

    async fn apply(
        &self,
        api: &Api<DynamicObject>,
        kind: &str,
        name: &str,
        read: Option<&Value>,
        change: Change,
    ) -> Result<Applied, AdapterError> {
        match (change, read) {
            (Change::Unchanged, _) => Ok(Applied::Unchanged),
            (Change::Create(obj), _) => self.create(api, obj).await,
            (Change::Patch(p), Some(read)) => {
                patch_guarded(api, kind, name, read, p, &self.field_manager).await?;
                Ok(Applied::Written)
            }
            (Change::Patch(_), None) => Err(AdapterError::Other(format!(
                "{kind} {name}: patch without an object"
            ))),
        }
    }

    async fn get_optional(
        api: &Api<DynamicObject>,
        kind: &str,
        name: &str,
    ) -> Result<Option<Value>, AdapterError> {
        match get_object(api, kind, name).await {
            Ok(v) => Ok(Some(v)),
            Err(AdapterError::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[async_trait]
impl TrafficRouter for ObjectRouter {
    async fn set_weight(
        &self,
        _ro: &Rollout,
        _canary_hash: &str,
        _stable_hash: &str,
        weight: i32,
    ) -> Result<Applied, AdapterError> {
        let weights = Weights {
            canary_weight: weight,
            max_weight: self.max_weight,
        };
        let mut applied = Applied::Unchanged;
        let mut note = |a: Applied| {
            if a == Applied::Written {
                applied = Applied::Written;
            }
        };
        match &self.kind {
            Kind::Nginx(cfg) => {
                let api = self.ingresses();
                let owner = nginx::CanaryOwner {
                    rollout: &self.rollout,
                    namespace: &self.namespace,
                    owner_reference: self.owner_reference(),
                    max_traffic_weight_set: self.max_set,
                };
                for stable_name in cfg.stable_ingresses() {
                    let stable = get_object(&api, "Ingress", &stable_name).await?;
                    let name = nginx::canary_ingress_name(&self.rollout, &stable_name);
                    let canary = Self::get_optional(&api, "Ingress", &name).await?;
                    let change =
                        nginx::set_weight(&stable, canary.as_ref(), cfg, &self.services, &weights, &owner)
                            .map_err(routing_err)?;
                    note(
                        self.apply(&api, "Ingress", &name, canary.as_ref(), change)
                            .await?,
                    );
                }
            }
            Kind::Smi(cfg) => {
                let version = smi::DEFAULT_API_VERSION;
                let api = api(
                    &self.client,
                    &self.namespace,
                    "split.smi-spec.io",
                    version,
                    "TrafficSplit",
                    "trafficsplits",
                );
                let name = cfg.split_name(&self.rollout);
                let existing = Self::get_optional(&api, "TrafficSplit", &name).await?;
                let owner = smi::SplitOwner {
                    rollout: &self.rollout,
                    namespace: &self.namespace,
                    owner_reference: self.owner_reference(),
                    api_version: version,
                };
                let change = smi::set_weight(existing.as_ref(), cfg, &self.services, &weights, &owner)
                    .map_err(routing_err)?;
                note(
                    self.apply(&api, "TrafficSplit", &name, existing.as_ref(), change)
                        .await?,
                );
            }
            Kind::Alb(cfg) => {
                let api = self.ingresses();
                for name in cfg.ingress_names() {
                    let ing = get_object(&api, "Ingress", &name).await?;
                    let p = alb::set_weight(&ing, &self.rollout, cfg, &self.services, &weights)
                        .map_err(routing_err)?;
                    note(
                        self.apply(&api, "Ingress", &name, Some(&ing), Change::patch_or_unchanged(p))
                            .await?,
                    );
                }
            }
            Kind::Traefik(cfg) => {
                let api = api(
                    &self.client,
                    &self.namespace,
                    "traefik.io",
                    "v1alpha1",
                    "TraefikService",
                    "traefikservices",
                );
                let name = &cfg.weighted_traefik_service_name;
                let svc = get_object(&api, "TraefikService", name).await?;
                let p = traefik::set_weight(&svc, &self.services, &weights).map_err(routing_err)?;
                note(
                    self.apply(
                        &api,
                        "TraefikService",
                        name,
                        Some(&svc),
                        Change::patch_or_unchanged(p),
                    )
                    .await?,
                );
            }
        }
        Ok(applied)
    }

    async fn set_header_route(&self, _ro: &Rollout, route: &HeaderRoute) -> Result<Applied, AdapterError> {
        let Kind::Alb(cfg) = &self.kind else {
            return Err(AdapterError::Unsupported(format!(
                "setHeaderRoute {:?} on {:?}",
                route.name, self.kind
            )));
        };
        let api = self.ingresses();
        let mut applied = Applied::Unchanged;
        for name in cfg.ingress_names() {
            let ing = get_object(&api, "Ingress", &name).await?;
            let p = alb::set_header_route(&ing, &self.rollout, cfg, &self.services, route, &self.managed)
                .map_err(routing_err)?;
            if self
                .apply(&api, "Ingress", &name, Some(&ing), Change::patch_or_unchanged(p))
                .await?
                == Applied::Written
            {
                applied = Applied::Written;
            }
        }
        Ok(applied)
    }

    async fn remove_managed_routes(&self, _ro: &Rollout, routes: &[String]) -> Result<Applied, AdapterError> {
        // Only ALB writes managed routes among these routers.
        let Kind::Alb(cfg) = &self.kind else {
            return Ok(Applied::Unchanged);
        };
        let api = self.ingresses();
        let mut applied = Applied::Unchanged;
        for name in cfg.ingress_names() {
            let ing = get_object(&api, "Ingress", &name).await?;
            let p = alb::remove_managed_routes(&ing, &self.rollout, cfg, routes).map_err(routing_err)?;
            if self
                .apply(&api, "Ingress", &name, Some(&ing), Change::patch_or_unchanged(p))
                .await?
                == Applied::Written
            {
                applied = Applied::Written;
            }
        }
        Ok(applied)
    }
}
