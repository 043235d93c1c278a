//! `spec.restartAt` through the driver: pods are listed only while a restart is pending, each
//! `EvictPod` reaches `Workloads::evict_pod`, an evicting tick writes no status, and a driver whose
//! adapter cannot list pods leaves the restart pending instead of claiming it done.

mod support;

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rollout_core::common::Timestamp;
use rollout_core::rollout::{
    Action, ObservedPod, ObservedReplicaSet, ObservedService, Rollout, RolloutPhase,
};
use rollout_driver::{AdapterError, Applied, RolloutDriver, RolloutIo, Workloads};
use support::*;

/// `Mem`'s workloads plus a pod list: evicted pods are replaced by new ready ones.
#[derive(Clone)]
struct WithPods {
    mem: Mem,
    pods: Arc<Mutex<Vec<ObservedPod>>>,
    listed: Arc<Mutex<usize>>,
    evicted: Arc<Mutex<Vec<String>>>,
    /// Refuse every eviction, as a PodDisruptionBudget (429) does.
    refuse: bool,
}

#[async_trait]
impl Workloads for WithPods {
    async fn list_replica_sets(&self, ro: &Rollout) -> Result<Vec<ObservedReplicaSet>, AdapterError> {
        self.mem.list_replica_sets(ro).await
    }
    async fn list_services(&self, ro: &Rollout) -> Result<Vec<ObservedService>, AdapterError> {
        self.mem.list_services(ro).await
    }
    async fn list_pods(
        &self,
        _ro: &Rollout,
        _replica_sets: &[ObservedReplicaSet],
    ) -> Result<Option<Vec<ObservedPod>>, AdapterError> {
        *self.listed.lock().unwrap() += 1;
        Ok(Some(self.pods.lock().unwrap().clone()))
    }
    async fn evict_pod(
        &self,
        _ro: &Rollout,
        name: &str,
        _replica_set: &str,
    ) -> Result<Applied, AdapterError> {
        self.evicted.lock().unwrap().push(name.to_string());
        if self.refuse {
            return Ok(Applied::Unchanged);
        }
        let now = self.mem.c().now;
        for p in self.pods.lock().unwrap().iter_mut().filter(|p| p.name == name) {
            p.name = format!("{name}-new");
            p.created_at = now;
        }
        Ok(Applied::Written)
    }
    async fn apply(&self, ro: &Rollout, action: &Action) -> Result<Applied, AdapterError> {
        self.mem.apply(ro, action).await
    }
}

fn healthy(m: &Mem, driver: &mut RolloutDriver) {
    m.c().auto_ready = true;
    for _ in 0..30 {
        let now = m.c().now;
        let out = block_on(driver.tick(now)).unwrap();
        if out.phase_after == Some(RolloutPhase::Healthy) && out.decision.actions.is_empty() {
            return;
        }
        m.c().advance(1);
    }
    panic!("not Healthy: {}", m.c().rollout.status.message);
}

fn restart_now(m: &Mem) -> Timestamp {
    let mut c = m.c();
    let at = c.now;
    c.rollout.spec.restart_at = Some(at);
    c.advance(1);
    at
}

fn with_pods(m: &Mem, refuse: bool) -> WithPods {
    WithPods {
        mem: m.clone(),
        pods: Arc::default(),
        listed: Arc::default(),
        evicted: Arc::default(),
        refuse,
    }
}

fn old_pods(m: &Mem, n: usize) -> Vec<ObservedPod> {
    let rs = m.c().observed.replica_sets[0].clone();
    (0..n)
        .map(|i| ObservedPod {
            name: format!("p{i}"),
            replica_set: rs.name.clone(),
            created_at: rs.created_at,
            ready: true,
            ready_since: Some(rs.created_at),
            terminating: false,
        })
        .collect()
}

/// Upstream skips evictions a PodDisruptionBudget refuses and goes on with the pass: the status
/// is written (the spec observed, "rollout is restarting"), the restart stays pending and is
/// retried after `RESTART_CHECK_SECS`.
#[test]
fn refused_evictions_leave_the_restart_pending_and_the_status_written() {
    let m = Mem::new(canary_rollout(false));
    let w = with_pods(&m, true);
    let io = RolloutIo {
        workloads: Arc::new(w.clone()),
        ..m.io(false)
    };
    let mut driver = RolloutDriver::new(io);
    healthy(&m, &mut driver);
    *w.pods.lock().unwrap() = old_pods(&m, 2);
    restart_now(&m);
    m.c().rollout.metadata.generation = Some(2);
    let now = m.c().now;
    let out = block_on(driver.tick(now)).unwrap();
    assert_eq!(*w.evicted.lock().unwrap(), ["p0"], "asked");
    assert!(out.status_written, "nothing was evicted: the pass goes on");
    assert_eq!(
        out.decision.next_wake,
        Some(rollout_core::rollout::machine::plus_secs_pub(now, 30))
    );
    let c = m.c();
    assert_eq!(c.rollout.status.observed_generation, "2");
    assert_eq!(c.rollout.status.message, "rollout is restarting");
    assert_eq!(c.rollout.status.restarted_at, None);
}

#[test]
fn pods_are_evicted_through_the_adapter_then_the_restart_is_recorded() {
    let m = Mem::new(canary_rollout(false));
    let w = with_pods(&m, false);
    let io = RolloutIo {
        workloads: Arc::new(w.clone()),
        ..m.io(false)
    };
    let mut driver = RolloutDriver::new(io);
    healthy(&m, &mut driver);
    assert_eq!(
        *w.listed.lock().unwrap(),
        0,
        "no pod list without a pending restart"
    );
    *w.pods.lock().unwrap() = old_pods(&m, 2);
    let at = restart_now(&m);
    let now = m.c().now;
    let out = block_on(driver.tick(now)).unwrap();
    assert!(!out.status_written, "an evicting tick writes no status");
    assert_eq!(*w.evicted.lock().unwrap(), ["p0"], "25% of 2: one pod at a time");
    for _ in 0..3 {
        m.c().advance(30);
        let now = m.c().now;
        block_on(driver.tick(now)).unwrap();
    }
    assert_eq!(*w.evicted.lock().unwrap(), ["p0", "p1"]);
    let c = m.c();
    assert_eq!(c.rollout.status.restarted_at, Some(at));
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
}

#[test]
fn without_pod_listing_the_restart_stays_pending() {
    let m = Mem::new(canary_rollout(false));
    let mut driver = RolloutDriver::new(m.io(false));
    healthy(&m, &mut driver);
    restart_now(&m);
    for _ in 0..3 {
        let now = m.c().now;
        let out = block_on(driver.tick(now)).unwrap();
        assert!(
            !out.decision
                .actions
                .iter()
                .any(|a| matches!(a, Action::EvictPod { .. }))
        );
        m.c().advance(30);
    }
    let c = m.c();
    assert_eq!(c.rollout.status.restarted_at, None);
    assert_eq!(c.rollout.status.message, "rollout is restarting");
    drop(c);
    // And the default adapter refuses evictions it was never asked for.
    let ro = m.c().rollout.clone();
    let evict = Action::EvictPod {
        name: "p".into(),
        replica_set: "rs".into(),
    };
    assert_eq!(
        block_on(driver.dispatch(&ro, &evict)).unwrap_err().to_string(),
        "EvictPod: unsupported action: evicting pod p of ReplicaSet rs"
    );
}
