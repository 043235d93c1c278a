//! Several controller replicas split the Rollouts by a shard label, with one Lease per shard
//! (kube-lease-manager): the replica holding shard `N`'s Lease runs the controller for the
//! Rollouts labelled [`SHARD_LABEL`]`=N` (a server-side label selector, so other shards' objects
//! are never watched or cached). If the holder dies, another replica takes the Lease over.
//!
//! In a cluster the Lease lives in the controller's own namespace and names the pod holding it:
//! [`ShardOptions::from_env`] reads [`POD_NAMESPACE_ENV`] and [`POD_NAME_ENV`], which the
//! Deployment from [`crate::manifests::deployment`] sets from the downward API.

use std::future::Future;

use futures::FutureExt;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};

use crate::controller::RolloutController;
use crate::resources::SHARD_LABEL;

/// Environment variable with the controller pod's name (downward API `metadata.name`): the
/// default Lease holder identity.
pub const POD_NAME_ENV: &str = "POD_NAME";

/// Environment variable with the controller pod's namespace (downward API
/// `metadata.namespace`): the default namespace of the shard Leases.
pub const POD_NAMESPACE_ENV: &str = "POD_NAMESPACE";

/// Lease namespace when [`POD_NAMESPACE_ENV`] is not set (the default install namespace).
pub const DEFAULT_LEASE_NAMESPACE: &str = "rollout-system";

/// Default Lease duration in seconds.
pub const DEFAULT_LEASE_SECONDS: u64 = 15;

/// One shard of a sharded deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShardOptions {
    /// Shard name (value of [`SHARD_LABEL`]).
    pub shard: String,
    /// This replica's identity (e.g. the pod name).
    pub identity: String,
    /// Namespace of the Lease objects.
    pub lease_namespace: String,
    /// Lease duration in seconds.
    pub lease_seconds: u64,
}

impl ShardOptions {
    /// Options for `shard` from the process environment: identity `$POD_NAME`, else `$HOSTNAME`
    /// (a pod's hostname is its name), else `rollout-<pid>`; Lease namespace `$POD_NAMESPACE`,
    /// else [`DEFAULT_LEASE_NAMESPACE`]; [`DEFAULT_LEASE_SECONDS`].
    pub fn from_env(shard: impl Into<String>) -> Self {
        Self::from_lookup(shard, |k| std::env::var(k).ok())
    }

    /// [`ShardOptions::from_env`] with `lookup` in place of the environment (empty values count
    /// as unset).
    pub fn from_lookup(shard: impl Into<String>, lookup: impl Fn(&str) -> Option<String>) -> Self {
        let var = |k: &str| lookup(k).filter(|v| !v.trim().is_empty());
        Self {
            shard: shard.into(),
            identity: var(POD_NAME_ENV)
                .or_else(|| var("HOSTNAME"))
                .unwrap_or_else(|| format!("rollout-{}", std::process::id())),
            lease_namespace: var(POD_NAMESPACE_ENV).unwrap_or_else(|| DEFAULT_LEASE_NAMESPACE.into()),
            lease_seconds: DEFAULT_LEASE_SECONDS,
        }
    }
}

/// A shard's Lease could not be created, held or released.
#[derive(Debug, thiserror::Error)]
#[error("lease {namespace}/{lease} for shard {shard}: {source}")]
pub struct ShardError {
    /// The shard.
    pub shard: String,
    /// Namespace of the Lease.
    pub namespace: String,
    /// Name of the Lease.
    pub lease: String,
    /// The lease manager's error.
    #[source]
    pub source: LeaseManagerError,
}

/// Name of a shard's Lease.
pub fn lease_name(shard: &str) -> String {
    format!("rollout-controller-shard-{shard}")
}

/// The controller's Rollout selector narrowed to `shard` (appended to any extra selector).
fn shard_selector(extra: Option<String>, shard: &str) -> String {
    let selector = format!("{SHARD_LABEL}={shard}");
    match extra.filter(|s| !s.is_empty()) {
        Some(s) => format!("{s},{selector}"),
        None => selector,
    }
}

/// Runs `controller` (configured by the host: metrics, providers, inputs) for `opts.shard`
/// whenever this replica holds the shard's Lease, until `shutdown` resolves; then the Lease is
/// released. Each leadership term runs a fresh copy of `controller`, sharing its metrics.
pub async fn run_shard(
    mut controller: RolloutController,
    opts: ShardOptions,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), ShardError> {
    let lease = lease_name(&opts.shard);
    let err = |source| ShardError {
        shard: opts.shard.clone(),
        namespace: opts.lease_namespace.clone(),
        lease: lease.clone(),
        source,
    };
    let config = &mut controller.config;
    config.label_selector = Some(shard_selector(config.label_selector.take(), &opts.shard));
    let manager = LeaseManagerBuilder::new(controller.client.clone(), &lease)
        .with_namespace(opts.lease_namespace.clone())
        .with_identity(opts.identity.clone())
        .with_duration(opts.lease_seconds)
        .with_grace(opts.lease_seconds.div_ceil(3).max(1))
        .with_field_manager(controller.config.name.clone())
        .build()
        .await
        .map_err(err)?;
    let (mut leader, task) = manager.watch().await;
    let shutdown = shutdown.shared();
    let release = |leader: tokio::sync::watch::Receiver<bool>, task: LeaseTask| async move {
        drop(leader);
        match task.await {
            Ok(Err(source)) => Err(err(source)),
            Ok(Ok(_)) | Err(_) => Ok(()),
        }
    };
    loop {
        // Wait for leadership (or shutdown).
        while !*leader.borrow_and_update() {
            tokio::select! {
                _ = shutdown.clone() => return release(leader, task).await,
                changed = leader.changed() => if changed.is_err() { return release(leader, task).await },
            }
        }
        let mut lost = leader.clone();
        let stop = shutdown.clone();
        let term = async move {
            tokio::select! {
                _ = stop => {},
                _ = lost.wait_for(|is_leader| !*is_leader) => {},
            }
        };
        controller.clone().run(term).await;
        if shutdown.clone().now_or_never().is_some() {
            return release(leader, task).await;
        }
    }
}

type LeaseTask = tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn options_come_from_the_downward_api_env_then_hostname_then_defaults() {
        let env = |pairs: &'static [(&'static str, &'static str)]| {
            move |k: &str| {
                pairs
                    .iter()
                    .find(|(name, _)| *name == k)
                    .map(|(_, v)| v.to_string())
            }
        };
        let o = ShardOptions::from_lookup(
            "2",
            env(&[
                ("POD_NAME", "ctl-7f9-x"),
                ("POD_NAMESPACE", "ops"),
                ("HOSTNAME", "h"),
            ]),
        );
        assert_eq!(
            o,
            ShardOptions {
                shard: "2".into(),
                identity: "ctl-7f9-x".into(),
                lease_namespace: "ops".into(),
                lease_seconds: 15,
            }
        );
        let o = ShardOptions::from_lookup("0", env(&[("POD_NAME", ""), ("HOSTNAME", "host-1")]));
        assert_eq!(
            (o.identity.as_str(), o.lease_namespace.as_str()),
            ("host-1", "rollout-system")
        );
        let o = ShardOptions::from_lookup("0", env(&[]));
        assert_eq!(o.identity, format!("rollout-{}", std::process::id()));
    }

    #[test]
    fn shard_selector_is_appended_to_the_extra_selector() {
        assert_eq!(shard_selector(None, "a"), "rollout.io/shard=a");
        assert_eq!(shard_selector(Some(String::new()), "a"), "rollout.io/shard=a");
        assert_eq!(
            shard_selector(Some("team=x".into()), "b"),
            "team=x,rollout.io/shard=b"
        );
    }
}
