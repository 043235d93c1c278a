//! `rollout migrate` and `rollout revert` on the API server: read what the pure plans of
//! [`rollout_core::rollout::migration`] need (the Deployment, the namespace's ResourceQuotas, the
//! Rollout), create the Rollout, and carry out each [`RevertStep`] with a timeout. Also the
//! `workloadRef` line of `rollout get` ([`workload_view`]).

use std::time::{Duration, Instant};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ResourceQuota, Service};
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};
use rollout_core::rollout::hash::POD_TEMPLATE_HASH_LABEL;
use rollout_core::rollout::migration::quota::QuotaUse;
use rollout_core::rollout::migration::{MANAGED_BY_ANNOTATION, REVERT_ANNOTATION, RevertStep};
use serde_json::{Value, json};

use crate::resources::Rollout;

/// Field manager of the CLI's writes.
pub const FIELD_MANAGER: &str = "rollout-cli";

/// Why a migration or revert request failed.
#[derive(Debug, thiserror::Error)]
pub enum MigrateError {
    /// An API request failed.
    #[error("{what}: {source}")]
    Kube {
        /// The request, e.g. `get Deployment ns/web`.
        what: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// The Deployment did not reach the available pods in time (nothing after the wait ran).
    #[error(
        "Deployment {namespace}/{name} has {available} of {wanted} available pods after {seconds}s; stopped before removing anything"
    )]
    Timeout {
        /// Namespace.
        namespace: String,
        /// Deployment.
        name: String,
        /// Available pods at the deadline.
        available: i32,
        /// Available pods waited for.
        wanted: i32,
        /// The timeout.
        seconds: u64,
    },
    /// An object could not be serialized or read.
    #[error("{0}")]
    Serialize(#[from] serde_json::Error),
}

fn kube_err(what: String) -> impl FnOnce(kube::Error) -> MigrateError {
    move |source| MigrateError::Kube { what, source }
}

/// The Deployment `name` in `ns`, as JSON.
pub async fn deployment(client: &Client, ns: &str, name: &str) -> Result<Value, MigrateError> {
    let d = Api::<Deployment>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .map_err(kube_err(format!("get Deployment {ns}/{name}")))?;
    Ok(serde_json::to_value(d)?)
}

/// The Rollout `name` in `ns`.
pub async fn rollout(client: &Client, ns: &str, name: &str) -> Result<Rollout, MigrateError> {
    Api::<Rollout>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .map_err(kube_err(format!("get Rollout {ns}/{name}")))
}

/// The namespace's ResourceQuotas: `status.hard` (else `spec.hard`) and `status.used`.
pub async fn quotas(client: &Client, ns: &str) -> Result<Vec<QuotaUse>, MigrateError> {
    let list = Api::<ResourceQuota>::namespaced(client.clone(), ns)
        .list(&ListParams::default())
        .await
        .map_err(kube_err(format!("list ResourceQuotas in {ns}")))?;
    Ok(list
        .items
        .into_iter()
        .map(|q| {
            let name = q.name_any();
            let status = q.status.unwrap_or_default();
            let hard = status
                .hard
                .or_else(|| q.spec.and_then(|s| s.hard))
                .unwrap_or_default();
            QuotaUse {
                name,
                hard: hard.into_iter().map(|(k, v)| (k, v.0)).collect(),
                used: status
                    .used
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(k, v)| (k, v.0))
                    .collect(),
            }
        })
        .collect())
}

/// Creates the Rollout `obj` in `ns`.
pub async fn create_rollout(client: &Client, ns: &str, obj: &Value) -> Result<(), MigrateError> {
    let ro: Rollout = serde_json::from_value(obj.clone())?;
    let name = ro.name_any();
    let params = PostParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    };
    Api::<Rollout>::namespaced(client.clone(), ns)
        .create(&params, &ro)
        .await
        .map_err(kube_err(format!("create Rollout {ns}/{name}")))?;
    Ok(())
}

/// `(spec.replicas, status.availableReplicas)` of a Deployment.
pub async fn deployment_counts(client: &Client, ns: &str, name: &str) -> Result<(i32, i32), MigrateError> {
    let d = Api::<Deployment>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .map_err(kube_err(format!("get Deployment {ns}/{name}")))?;
    let available = d.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0);
    Ok((d.spec.replicas.unwrap_or(1), available))
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.into()),
        ..Default::default()
    }
}

/// Carries out one revert step in `ns`; `WaitAvailable` polls every `poll` for at most `timeout`.
pub async fn run_step(
    client: &Client,
    ns: &str,
    step: &RevertStep,
    timeout: Duration,
    poll: Duration,
) -> Result<(), MigrateError> {
    let rollouts = Api::<Rollout>::namespaced(client.clone(), ns);
    let deployments = Api::<Deployment>::namespaced(client.clone(), ns);
    match step {
        RevertStep::KeepDeployment { rollout } => {
            let patch = json!({"spec": {"workloadRef": {"scaleDown": "never"}}});
            rollouts
                .patch(rollout, &params(), &Patch::Merge(patch))
                .await
                .map_err(kube_err(format!("patch Rollout {ns}/{rollout}")))?;
        }
        RevertStep::ScaleDeployment { deployment, to, .. } => {
            deployments
                .patch(
                    deployment,
                    &params(),
                    &Patch::Merge(json!({"spec": {"replicas": to}})),
                )
                .await
                .map_err(kube_err(format!("scale Deployment {ns}/{deployment} to {to}")))?;
        }
        RevertStep::WaitAvailable {
            deployment,
            available,
        } => {
            let start = Instant::now();
            loop {
                let (_, now) = deployment_counts(client, ns, deployment).await?;
                if now >= *available {
                    break;
                }
                if start.elapsed() >= timeout {
                    return Err(MigrateError::Timeout {
                        namespace: ns.to_string(),
                        name: deployment.clone(),
                        available: now,
                        wanted: *available,
                        seconds: timeout.as_secs(),
                    });
                }
                tokio::time::sleep(poll).await;
            }
        }
        RevertStep::UnpinService { service } => {
            let api = Api::<Service>::namespaced(client.clone(), ns);
            let patch = json!({"spec": {"selector": {POD_TEMPLATE_HASH_LABEL: null}}});
            match api.patch(service, &params(), &Patch::Merge(patch)).await {
                Ok(_) => {}
                // A Service that does not exist selects nothing to unpin.
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(kube_err(format!("patch Service {ns}/{service}"))(e)),
            }
        }
        RevertStep::Unannotate { deployment } => {
            let patch =
                json!({"metadata": {"annotations": {MANAGED_BY_ANNOTATION: null, REVERT_ANNOTATION: null}}});
            deployments
                .patch(deployment, &params(), &Patch::Merge(patch))
                .await
                .map_err(kube_err(format!("annotate Deployment {ns}/{deployment}")))?;
        }
        RevertStep::RemoveRollout { rollout } => {
            match rollouts.delete(rollout, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(kube_err(format!("delete Rollout {ns}/{rollout}"))(e)),
            }
        }
        RevertStep::PauseRollout { rollout } => {
            rollouts
                .patch(
                    rollout,
                    &params(),
                    &Patch::Merge(json!({"spec": {"paused": true}})),
                )
                .await
                .map_err(kube_err(format!("pause Rollout {ns}/{rollout}")))?;
        }
    }
    Ok(())
}

/// The `workloadRef` target as `rollout get` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkloadView {
    /// `Deployment/NAME`.
    pub name: String,
    /// `spec.replicas`.
    pub replicas: i32,
    /// `status.availableReplicas`.
    pub available: i32,
    /// `workloadRef.scaleDown`.
    pub scale_down: String,
    /// The Rollout named by its [`MANAGED_BY_ANNOTATION`], if any.
    pub managed_by: Option<String>,
    /// Its [`REVERT_ANNOTATION`], if any.
    pub revert: Option<String>,
}

/// The referenced Deployment of `ro` (`None` without a Deployment `workloadRef`, or when it is
/// gone).
pub async fn workload_view(
    client: &Client,
    ns: &str,
    ro: &Rollout,
) -> Result<Option<WorkloadView>, crate::reconciler::Error> {
    let Some(wr) = ro.spec.get("workloadRef").filter(|w| w["kind"] == "Deployment") else {
        return Ok(None);
    };
    let name = wr["name"].as_str().unwrap_or_default();
    let d = match Api::<Deployment>::namespaced(client.clone(), ns)
        .get_opt(name)
        .await
    {
        Ok(Some(d)) => d,
        Ok(None) => return Ok(None),
        Err(source) => {
            return Err(crate::reconciler::Error::Kube {
                what: format!("get Deployment {ns}/{name}"),
                source,
            });
        }
    };
    let annotation = |k: &str| d.annotations().get(k).cloned();
    Ok(Some(WorkloadView {
        name: format!("Deployment/{name}"),
        replicas: d.spec.replicas.unwrap_or(1),
        available: d.status.as_ref().and_then(|s| s.available_replicas).unwrap_or(0),
        scale_down: wr["scaleDown"].as_str().unwrap_or("never").to_string(),
        managed_by: annotation(MANAGED_BY_ANNOTATION),
        revert: annotation(REVERT_ANNOTATION),
    }))
}

/// The message of the `DryRun` condition in a stored Rollout status, if it has one.
pub fn dry_run_message(status: &Value) -> Option<String> {
    status
        .get("conditions")?
        .as_array()?
        .iter()
        .find(|c| c["type"] == "DryRun" && c["status"] == "True")
        .and_then(|c| c["message"].as_str())
        .map(str::to_string)
}
