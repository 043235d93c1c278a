//! Two controller replicas, one per shard, each holding its shard's Lease: every Rollout is
//! handled by exactly the replica of its shard (checked through the status writers recorded in
//! managedFields), and the Leases (in the controller's namespace) name their holders.

mod common;

use common::*;
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::Api;
use prometheus_client::registry::Registry;
use rollout_kube::manifests::ManifestOptions;
use rollout_kube::resources::SHARD_LABEL;
use rollout_kube::sharding::{ShardOptions, lease_name, run_shard};
use rollout_kube::{ControllerConfig, RolloutController};
use serde_json::json;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_shards_split_the_rollouts_without_overlap() {
    let Some(c) = cluster("shards").await else { return };
    let mut stops = Vec::new();
    let mut tasks = Vec::new();
    for shard in ["a", "b"] {
        let config = ControllerConfig {
            namespace: Some(c.ns.clone()),
            name: format!("rollout-shard-{shard}"),
            ..Default::default()
        };
        let opts = ShardOptions {
            shard: shard.into(),
            identity: format!("replica-{shard}"),
            lease_namespace: ManifestOptions::default().namespace,
            lease_seconds: 15,
        };
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let mut registry = Registry::default();
        let controller = RolloutController::new(c.sa.clone(), config, &mut registry);
        tasks.push(tokio::spawn(run_shard(controller, opts, async move {
            let _ = rx.await;
        })));
        stops.push(tx);
    }
    for (name, shard) in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b")] {
        let mut ro = rollout(
            name,
            1,
            json!([{"setWeight": 50}, {"pause": {"duration": 1}}]),
            "example.invalid/x:v1",
        );
        ro["metadata"]["labels"] = json!({ SHARD_LABEL: shard });
        create(&c, ro).await;
    }
    for (name, shard) in [("a1", "a"), ("a2", "a"), ("b1", "b"), ("b2", "b")] {
        let ro = wait_for(&c, name, 90, "Healthy", healthy_at_new_revision).await;
        let managers: Vec<String> = ro
            .metadata
            .managed_fields
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| m.manager)
            .filter(|m| m.starts_with("rollout-shard-"))
            .collect();
        assert!(!managers.is_empty(), "{name}: no shard wrote its status");
        assert!(
            managers.iter().all(|m| *m == format!("rollout-shard-{shard}")),
            "{name} (shard {shard}) was written by {managers:?}"
        );
    }
    // The Leases are in the controller's namespace, the only one its Role grants them in.
    let leases: Api<Lease> = Api::namespaced(c.admin.clone(), &ManifestOptions::default().namespace);
    for shard in ["a", "b"] {
        let lease = leases.get(&lease_name(shard)).await.unwrap();
        assert_eq!(
            lease.spec.unwrap().holder_identity.as_deref(),
            Some(format!("replica-{shard}").as_str())
        );
    }
    for tx in stops {
        let _ = tx.send(());
    }
    for t in tasks {
        tokio::time::timeout(std::time::Duration::from_secs(30), t)
            .await
            .unwrap()
            .unwrap()
            .unwrap();
    }
}
