//! The adapter traits: `observe` gathers a snapshot, `apply` routes actions to the right adapter,
//! and a whole lifecycle runs through them.

use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

use async_trait::async_trait;
use rollout_core::adapters::*;
use rollout_core::rollout::{
    Action, AnalysisRunRequest, Event, ObservedAnalysisRun, ObservedReplicaSet, RolloutPhase,
};
use rollout_core::testing::FakeCluster;

/// Polls a future that never waits (our adapters are in-memory).
fn block_on<F: std::future::Future>(f: F) -> F::Output {
    let mut f = std::pin::pin!(f);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = f.as_mut().poll(&mut cx) {
            return v;
        }
    }
}

/// All four adapters over one FakeCluster.
struct Mem(Mutex<FakeCluster>, Mutex<Vec<String>>);

#[async_trait]
impl Workloads for Mem {
    async fn list_replica_sets(&self) -> Result<Vec<ObservedReplicaSet>, AdapterError> {
        Ok(self.0.lock().unwrap().observed.replica_sets.clone())
    }
    async fn apply_workload_action(&self, a: &Action) -> Result<(), AdapterError> {
        self.1.lock().unwrap().push("workload".into());
        let d = rollout_core::rollout::Decision {
            status: self.0.lock().unwrap().rollout.status.clone(),
            actions: vec![a.clone()],
            next_wakeup: None,
        };
        self.0.lock().unwrap().apply(&d);
        Ok(())
    }
}

#[async_trait]
impl TrafficRouter for Mem {
    async fn set_weight(&self, _c: &str, _s: &str, w: i32) -> Result<(), AdapterError> {
        self.1.lock().unwrap().push(format!("weight {w}"));
        Ok(())
    }
}

#[async_trait]
impl AnalysisRunner for Mem {
    async fn create(&self, r: &AnalysisRunRequest) -> Result<(), AdapterError> {
        self.1.lock().unwrap().push(format!("create {}", r.name));
        Ok(())
    }
    async fn terminate(&self, name: &str) -> Result<(), AdapterError> {
        Err(AdapterError::NotFound {
            kind: "AnalysisRun".into(),
            name: name.into(),
        })
    }
    async fn delete(&self, name: &str) -> Result<(), AdapterError> {
        self.1.lock().unwrap().push(format!("delete {name}"));
        Ok(())
    }
    async fn list(&self) -> Result<Vec<ObservedAnalysisRun>, AdapterError> {
        Ok(Vec::new())
    }
}

#[async_trait]
impl EventSink for Mem {
    async fn emit(&self, e: &Event) -> Result<(), AdapterError> {
        self.1.lock().unwrap().push(format!("event {}", e.reason));
        Ok(())
    }
}

#[test]
fn apply_routes_each_action_kind() {
    let m = Mem(
        Mutex::new(FakeCluster::new(
            Default::default(),
            "2024-01-01T00:00:00Z".parse().unwrap(),
        )),
        Mutex::new(vec![]),
    );
    let w = Action::SetTrafficWeight {
        canary_hash: "a".into(),
        stable_hash: "b".into(),
        weight: 20,
    };
    block_on(apply(&w, &m, Some(&m), &m, &m)).unwrap();
    assert_eq!(
        block_on(apply(&w, &m, None, &m, &m)),
        Err(AdapterError::Unsupported(
            "SetTrafficWeight without a traffic router".into()
        ))
    );
    let t = Action::TerminateAnalysisRun { name: "r".into() };
    assert_eq!(
        block_on(apply(&t, &m, None, &m, &m)).unwrap_err().to_string(),
        "AnalysisRun \"r\" not found"
    );
    let e = Action::Event(Event {
        kind: rollout_core::rollout::EventType::Normal,
        reason: "X".into(),
        message: String::new(),
    });
    block_on(apply(&e, &m, None, &m, &m)).unwrap();
    let d = Action::DeleteAnalysisRun { name: "old".into() };
    block_on(apply(&d, &m, None, &m, &m)).unwrap();
    let s = Action::DeleteReplicaSet { name: "x".into() };
    block_on(apply(&s, &m, None, &m, &m)).unwrap();
    assert_eq!(
        *m.1.lock().unwrap(),
        vec!["weight 20", "event X", "delete old", "workload"]
    );
}

#[test]
fn lifecycle_through_adapters() {
    let ro: rollout_core::rollout::Rollout = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "a", "generation": 1},
        "spec": {"replicas": 2, "selector": {"matchLabels": {"app": "a"}},
                 "template": {"metadata": {"labels": {"app": "a"}}, "spec": {"containers": [{"name": "c"}]}},
                 "strategy": {"canary": {"steps": [{"setWeight": 50}]}}}
    }))
    .unwrap();
    let m = Mem(
        Mutex::new(FakeCluster::new(ro, "2024-01-01T00:00:00Z".parse().unwrap())),
        Mutex::new(vec![]),
    );
    for _ in 0..10 {
        let (ro, now) = {
            let c = m.0.lock().unwrap();
            (c.rollout.clone(), c.now)
        };
        let observed = block_on(observe(&m, &m)).unwrap();
        let d = rollout_core::rollout::reconcile(&ro, &observed, now, &Default::default());
        for a in &d.actions {
            block_on(apply(a, &m, Some(&m), &m, &m)).unwrap();
        }
        let mut c = m.0.lock().unwrap();
        c.rollout.status = d.status;
        c.advance(1);
    }
    assert_eq!(
        m.0.lock().unwrap().rollout.status.phase,
        Some(RolloutPhase::Healthy)
    );
}
