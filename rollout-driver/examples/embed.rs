//! Embedding the loop in an operator: implement the adapter contracts over your cluster (here an
//! in-memory fake), build a `RolloutDriver` once, and call `tick(now)` whenever the Rollout or its
//! objects change or the decision's `next_wake` comes.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rollout_core::rollout::{
    Action, AnalysisRunRequest, Event, ObservedAnalysisRun, ObservedReplicaSet, ObservedService, Rollout,
    RolloutPhase, RolloutStatus,
};
use rollout_core::testing::FakeCluster;
use rollout_driver::{
    AdapterError, AnalysisRuns, Applied, EventSink, Loaded, RolloutDriver, RolloutIo, RolloutStore,
    TrafficRouter, Workloads,
};

/// Every adapter over one shared fake cluster. A real operator talks to its API server here.
#[derive(Clone)]
struct Cluster(Arc<Mutex<FakeCluster>>);

impl Cluster {
    fn lock(&self) -> std::sync::MutexGuard<'_, FakeCluster> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[async_trait]
impl RolloutStore for Cluster {
    async fn load(&self) -> Result<Loaded, AdapterError> {
        Ok(Loaded::Valid(Arc::new(self.lock().rollout.clone())))
    }
    async fn persist(&self, _before: &RolloutStatus, after: &RolloutStatus) -> Result<bool, AdapterError> {
        self.lock().rollout.status = after.clone();
        Ok(true)
    }
}

#[async_trait]
impl Workloads for Cluster {
    async fn list_replica_sets(&self, _ro: &Rollout) -> Result<Vec<ObservedReplicaSet>, AdapterError> {
        Ok(self.lock().observed.replica_sets.clone())
    }
    async fn list_services(&self, _ro: &Rollout) -> Result<Vec<ObservedService>, AdapterError> {
        Ok(self.lock().observed.services.clone())
    }
    async fn apply(&self, _ro: &Rollout, action: &Action) -> Result<Applied, AdapterError> {
        self.lock().apply_action(action);
        Ok(Applied::Written)
    }
}

#[async_trait]
impl TrafficRouter for Cluster {
    async fn set_weight(
        &self,
        _ro: &Rollout,
        _c: &str,
        _s: &str,
        weight: i32,
    ) -> Result<Applied, AdapterError> {
        println!("route: canary weight {weight}");
        Ok(Applied::Written)
    }
}

#[async_trait]
impl AnalysisRuns for Cluster {
    async fn list(&self, _ro: &Rollout) -> Result<Vec<ObservedAnalysisRun>, AdapterError> {
        Ok(self.lock().observed.analysis_runs.clone())
    }
    async fn create(&self, _ro: &Rollout, request: &AnalysisRunRequest) -> Result<Applied, AdapterError> {
        self.lock()
            .apply_action(&Action::CreateAnalysisRun(request.clone()));
        Ok(Applied::Written)
    }
    async fn terminate(&self, _ro: &Rollout, name: &str) -> Result<Applied, AdapterError> {
        self.lock()
            .apply_action(&Action::TerminateAnalysisRun { name: name.into() });
        Ok(Applied::Written)
    }
    async fn delete(&self, _ro: &Rollout, name: &str) -> Result<Applied, AdapterError> {
        self.lock()
            .apply_action(&Action::DeleteAnalysisRun { name: name.into() });
        Ok(Applied::Written)
    }
}

#[async_trait]
impl EventSink for Cluster {
    async fn emit(&self, _ro: &Rollout, event: &Event) -> Result<(), AdapterError> {
        println!("event: {} {}", event.reason, event.message);
        Ok(())
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rollout: Rollout = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "shop", "namespace": "default", "generation": 1},
        "spec": {
            "replicas": 4,
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {"metadata": {"labels": {"app": "shop"}},
                         "spec": {"containers": [{"name": "shop", "image": "shop:v1"}]}},
            "strategy": {"canary": {
                "canaryService": "shop-canary", "stableService": "shop-stable",
                "trafficRouting": {"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "shop"}}},
                "steps": [{"setWeight": 25}, {"pause": {"duration": "1m"}}, {"setWeight": 50}]
            }}
        }
    }))?;
    let cluster = Cluster(Arc::new(Mutex::new(FakeCluster::new(
        rollout,
        "2026-01-01T00:00:00Z".parse()?,
    ))));
    let mut driver = RolloutDriver::new(RolloutIo {
        store: Arc::new(cluster.clone()),
        workloads: Arc::new(cluster.clone()),
        runs: Arc::new(cluster.clone()),
        router: Some(Arc::new(cluster.clone())),
        events: Arc::new(cluster.clone()),
    });

    // The first revision becomes Healthy, then an update rolls through the steps.
    for round in 0..2 {
        if round == 1 {
            cluster.lock().set_image("shop:v2");
        }
        let mut settled = false;
        for _ in 0..100 {
            let now = cluster.lock().now; // the one clock read of this tick
            let outcome = driver.tick(now).await?;
            let healthy =
                outcome.phase_after == Some(RolloutPhase::Healthy) && outcome.decision.actions.is_empty();
            if healthy {
                settled = true;
                break;
            }
            // Pods become ready; time moves to the next wake-up (or one second on).
            let mut c = cluster.lock();
            c.make_ready();
            let next = outcome.decision.next_wake.filter(|t| *t > now);
            match next {
                Some(t) => c.advance((t.as_second() - now.as_second()).max(1)),
                None => c.advance(1),
            }
        }
        assert!(settled, "round {round} did not settle");
    }
    let c = cluster.lock();
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(c.rollout.status.stable_rs, c.rollout.status.current_pod_hash);
    println!("rolled out {}", c.rollout.status.current_pod_hash);
    Ok(())
}
