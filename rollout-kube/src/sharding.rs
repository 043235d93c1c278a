//! Several controller replicas split the Rollouts by a shard label, with one Lease per shard
//! (kube-lease-manager): the replica holding shard `N`'s Lease runs the controller for the
//! Rollouts labelled [`SHARD_LABEL`]`=N` (a server-side label selector, so other shards' objects
//! are never watched or cached). If the holder dies, another replica takes the Lease over.

use std::future::Future;

use futures::FutureExt;
use kube::Client;
use kube_lease_manager::{LeaseManagerBuilder, LeaseManagerError};
use prometheus_client::registry::Registry;

use crate::controller::{ControllerConfig, Metrics, RolloutController};

/// The label that assigns a Rollout to a shard.
pub const SHARD_LABEL: &str = "rollout.io/shard";

/// One shard of a sharded deployment.
#[derive(Debug, Clone)]
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

/// Lease errors.
#[derive(Debug, thiserror::Error)]
#[error("lease for shard {shard}: {source}")]
pub struct ShardError {
    /// The shard.
    pub shard: String,
    /// The lease manager's error.
    #[source]
    pub source: LeaseManagerError,
}

/// Name of a shard's Lease.
pub fn lease_name(shard: &str) -> String {
    format!("rollout-controller-shard-{shard}")
}

/// Runs the controller for `opts.shard` whenever this replica holds the shard's Lease, until
/// `shutdown` resolves (then the Lease is released).
pub async fn run_shard(
    client: Client,
    mut config: ControllerConfig,
    registry: &mut Registry,
    opts: ShardOptions,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> Result<(), ShardError> {
    let err = |source| ShardError {
        shard: opts.shard.clone(),
        source,
    };
    let selector = format!("{SHARD_LABEL}={}", opts.shard);
    config.label_selector = Some(match config.label_selector.take().filter(|s| !s.is_empty()) {
        Some(s) => format!("{s},{selector}"),
        None => selector,
    });
    let metrics = Metrics::register(registry);
    let manager = LeaseManagerBuilder::new(client.clone(), lease_name(&opts.shard))
        .with_namespace(opts.lease_namespace.clone())
        .with_identity(opts.identity.clone())
        .with_duration(opts.lease_seconds)
        .with_grace(opts.lease_seconds.div_ceil(3).max(1))
        .with_field_manager(config.name.clone())
        .build()
        .await
        .map_err(err)?;
    let (mut leader, task) = manager.watch().await;
    let shutdown = shutdown.shared();
    loop {
        // Wait for leadership (or shutdown).
        while !*leader.borrow_and_update() {
            tokio::select! {
                _ = shutdown.clone() => return release(leader, task, &opts.shard).await,
                changed = leader.changed() => if changed.is_err() { return release(leader, task, &opts.shard).await },
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
        RolloutController::with_metrics(client.clone(), config.clone(), metrics.clone())
            .run(term)
            .await;
        if shutdown.clone().now_or_never().is_some() {
            return release(leader, task, &opts.shard).await;
        }
    }
}

async fn release(
    leader: tokio::sync::watch::Receiver<bool>,
    task: tokio::task::JoinHandle<Result<kube_lease_manager::LeaseManager, LeaseManagerError>>,
    shard: &str,
) -> Result<(), ShardError> {
    drop(leader);
    match task.await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(ShardError {
            shard: shard.to_string(),
            source,
        }),
        Err(_) => Ok(()),
    }
}
