//! In-memory adapters over a `FakeCluster`, with failure injection, for the driver's tests.
#![allow(dead_code)]

use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use rollout_core::rollout::{
    Action, AnalysisRunRequest, Event, ObservedAnalysisRun, ObservedReplicaSet, ObservedService, Rollout,
    RolloutStatus,
};
use rollout_core::testing::FakeCluster;
use rollout_driver::{
    AdapterError, AnalysisRuns, Applied, EventSink, Loaded, RolloutIo, RolloutStore, TrafficRouter, Workloads,
};

/// Polls a future that never waits (the adapters are in-memory).
pub fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    loop {
        if let std::task::Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// What the fake refuses.
#[derive(Default)]
pub struct Faults {
    /// Refuse ReplicaSet creates and scales with this server reason.
    pub replica_reason: Option<String>,
    /// Refuse events.
    pub events: bool,
    /// Refuse AnalysisRun terminations (not found).
    pub terminate: bool,
    /// Report the spec as unreadable with this message.
    pub invalid: Option<String>,
    /// The Rollout is gone.
    pub gone: bool,
}

/// Every adapter over one FakeCluster; `calls` records what reached which adapter.
#[derive(Clone)]
pub struct Mem {
    pub cluster: Arc<Mutex<FakeCluster>>,
    pub calls: Arc<Mutex<Vec<String>>>,
    pub faults: Arc<Mutex<Faults>>,
}

#[derive(Debug, thiserror::Error)]
#[error("refused by the fake")]
pub struct Refused;

impl Mem {
    pub fn new(ro: Rollout) -> Self {
        Mem {
            cluster: Arc::new(Mutex::new(FakeCluster::new(
                ro,
                "2024-01-01T00:00:00Z".parse().unwrap(),
            ))),
            calls: Arc::default(),
            faults: Arc::default(),
        }
    }
    pub fn c(&self) -> MutexGuard<'_, FakeCluster> {
        self.cluster.lock().unwrap()
    }
    pub fn calls(&self) -> Vec<String> {
        self.calls.lock().unwrap().clone()
    }
    fn record(&self, s: String) {
        self.calls.lock().unwrap().push(s);
    }
    /// Adapters with (or without) the router.
    pub fn io(&self, router: bool) -> RolloutIo {
        RolloutIo {
            store: Arc::new(self.clone()),
            workloads: Arc::new(self.clone()),
            runs: Arc::new(self.clone()),
            router: router.then(|| Arc::new(self.clone()) as Arc<dyn TrafficRouter>),
            events: Arc::new(self.clone()),
        }
    }
}

#[async_trait]
impl RolloutStore for Mem {
    async fn load(&self) -> Result<Loaded, AdapterError> {
        let f = self.faults.lock().unwrap();
        if f.gone {
            return Ok(Loaded::Gone);
        }
        let ro = self.c().rollout.clone();
        Ok(match &f.invalid {
            Some(message) => Loaded::Invalid {
                status: Box::new(ro.status),
                message: message.clone(),
                generation: ro.metadata.generation,
            },
            None => Loaded::Valid(Arc::new(ro)),
        })
    }
    async fn persist(&self, before: &RolloutStatus, after: &RolloutStatus) -> Result<bool, AdapterError> {
        assert_eq!(
            &self.c().rollout.status,
            before,
            "persist gets the status load returned"
        );
        self.record("persist".into());
        self.c().rollout.status = after.clone();
        Ok(true)
    }
}

#[async_trait]
impl Workloads for Mem {
    async fn list_replica_sets(&self, _ro: &Rollout) -> Result<Vec<ObservedReplicaSet>, AdapterError> {
        Ok(self.c().observed.replica_sets.clone())
    }
    async fn list_services(&self, _ro: &Rollout) -> Result<Vec<ObservedService>, AdapterError> {
        Ok(self.c().observed.services.clone())
    }
    async fn apply(&self, _ro: &Rollout, a: &Action) -> Result<Applied, AdapterError> {
        if let Some(reason) = &self.faults.lock().unwrap().replica_reason
            && matches!(
                a,
                Action::CreateReplicaSet { .. } | Action::ScaleReplicaSet { .. }
            )
        {
            return Err(AdapterError::Request {
                what: "create ReplicaSet".into(),
                reason: reason.clone(),
                source: Box::new(Refused),
            });
        }
        self.record("workload".into());
        self.c().apply_action(a);
        Ok(Applied::Written)
    }
}

#[async_trait]
impl TrafficRouter for Mem {
    async fn set_weight(&self, _ro: &Rollout, _c: &str, _s: &str, w: i32) -> Result<Applied, AdapterError> {
        self.record(format!("weight {w}"));
        Ok(Applied::Written)
    }
}

#[async_trait]
impl AnalysisRuns for Mem {
    async fn list(&self, _ro: &Rollout) -> Result<Vec<ObservedAnalysisRun>, AdapterError> {
        Ok(self.c().observed.analysis_runs.clone())
    }
    async fn create(&self, _ro: &Rollout, r: &AnalysisRunRequest) -> Result<Applied, AdapterError> {
        self.record(format!("create {}", r.name));
        self.c().apply_action(&Action::CreateAnalysisRun(r.clone()));
        Ok(Applied::Written)
    }
    async fn terminate(&self, _ro: &Rollout, name: &str) -> Result<Applied, AdapterError> {
        if self.faults.lock().unwrap().terminate {
            return Err(AdapterError::NotFound {
                kind: "AnalysisRun".into(),
                name: name.into(),
            });
        }
        self.record(format!("terminate {name}"));
        Ok(Applied::Written)
    }
    async fn delete(&self, _ro: &Rollout, name: &str) -> Result<Applied, AdapterError> {
        self.record(format!("delete {name}"));
        Ok(Applied::Written)
    }
}

#[async_trait]
impl EventSink for Mem {
    async fn emit(&self, _ro: &Rollout, e: &Event) -> Result<(), AdapterError> {
        if self.faults.lock().unwrap().events {
            return Err(AdapterError::Other("event sink down".into()));
        }
        self.record(format!("event {}", e.reason));
        Ok(())
    }
}

/// A canary Rollout with traffic routing and one 50% step.
pub fn canary_rollout(routed: bool) -> Rollout {
    let mut canary = serde_json::json!({"steps": [{"setWeight": 50}, {"pause": {}}],
                                         "canaryService": "c", "stableService": "s"});
    if routed {
        canary["trafficRouting"] =
            serde_json::json!({"plugins": {"argoproj-labs/gatewayAPI": {"httpRoute": "r"}}});
    }
    serde_json::from_value(serde_json::json!({
        "metadata": {"name": "a", "namespace": "ns", "generation": 1},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}},
                 "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c", "image": "a:1"}]}},
                 "strategy": {"canary": canary}}
    }))
    .unwrap()
}
pub mod analysis;
