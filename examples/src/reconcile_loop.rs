//! Another operator's reconcile loop with rollout inside it.
//!
//! A "WebApp" operator owns a Rollout and keeps it in its own store (here [`WebAppStore`], in
//! memory; a real operator keeps it in its custom resource). Each time its own reconcile runs, it
//! calls [`RolloutDriver::tick`] once: the driver loads the Rollout from the store, observes the
//! cluster through the adapters, asks the core what to do, carries out the actions and persists
//! the status; the operator requeues at the decision's `next_wake`. The cluster adapters are
//! the in-memory ones from `rollout-sim` and the clock is simulated, so the whole update runs in
//! milliseconds.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use rollout_core::rollout::{Rollout, RolloutPhase, RolloutStatus};
use rollout_driver::{AdapterError, DriverError, Loaded, RolloutDriver, RolloutStore};
use rollout_sim::adapters::{InMemory, World};

/// The operator's own store of the Rollout: the driver reads it and writes its status here.
#[derive(Debug, Default)]
pub struct WebAppStore {
    rollout: Mutex<Arc<Rollout>>,
}

impl WebAppStore {
    /// A store holding `rollout`.
    pub fn new(rollout: Rollout) -> Self {
        WebAppStore {
            rollout: Mutex::new(Arc::new(rollout)),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Arc<Rollout>> {
        self.rollout.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The Rollout as stored.
    pub fn get(&self) -> Arc<Rollout> {
        self.lock().clone()
    }

    /// Changes the stored Rollout (its spec, when the WebApp's spec changes).
    pub fn update(&self, change: impl FnOnce(&mut Rollout)) {
        change(Arc::make_mut(&mut self.lock()));
    }
}

#[async_trait]
impl RolloutStore for WebAppStore {
    async fn load(&self) -> Result<Loaded, AdapterError> {
        Ok(Loaded::Valid(self.get()))
    }

    async fn persist(&self, _before: &RolloutStatus, after: &RolloutStatus) -> Result<bool, AdapterError> {
        let mut stored = self.lock();
        if stored.status == *after {
            return Ok(false);
        }
        Arc::make_mut(&mut stored).status = after.clone();
        Ok(true)
    }
}

/// The WebApp operator: the Rollout it manages, the cluster, and the driver that runs the one.
pub struct WebAppOperator {
    /// The managed Rollout (spec + persisted status).
    pub store: Arc<WebAppStore>,
    /// The cluster, through the in-memory adapters.
    pub io: InMemory,
    /// The Rollout's loop: kept across reconciles (it caches what it derived from the spec).
    driver: RolloutDriver,
}

/// One line of what the operator saw.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Progress {
    /// Simulated seconds since start.
    pub t: i64,
    /// Rollout phase.
    pub phase: String,
    /// Current step index.
    pub step: Option<i32>,
    /// Canary weight.
    pub weight: i32,
}

impl WebAppOperator {
    /// An operator for a WebApp serving `image` with `replicas` pods (ready 5 s after creation).
    pub fn new(image: &str, replicas: i32, now: Timestamp) -> Result<Self, serde_json::Error> {
        let rollout: Rollout = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "webapp", "namespace": "shop", "generation": 1},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": {"app": "webapp"}},
                "template": {"metadata": {"labels": {"app": "webapp"}},
                             "spec": {"containers": [{"name": "web", "image": image}]}},
                "strategy": {"canary": {
                    "canaryService": "webapp-canary", "stableService": "webapp-stable",
                    "trafficRouting": {"nginx": {"stableIngress": "webapp"}},
                    "steps": [{"setWeight": 25}, {"pause": {"duration": "30s"}},
                              {"setWeight": 75}, {"pause": {"duration": "30s"}}]}}
            }
        }))?;
        let store = Arc::new(WebAppStore::new(rollout.clone()));
        let io = InMemory::new(World::new(rollout, Duration::from_secs(5), now), Vec::new());
        // The in-memory adapters for the cluster, the operator's store for the Rollout.
        let mut adapters = io.rollout_io();
        adapters.store = store.clone();
        let driver = RolloutDriver::new(adapters);
        Ok(WebAppOperator { store, io, driver })
    }

    /// The WebApp's spec changed: roll out a new image.
    pub fn set_image(&mut self, image: &str) {
        self.store.update(|rollout| {
            if let Some(c) = rollout
                .spec
                .template
                .as_mut()
                .and_then(|t| t.pointer_mut("/spec/containers/0"))
                .and_then(|c| c.as_object_mut())
            {
                c.insert("image".into(), image.into());
            }
            rollout.metadata.generation = Some(rollout.metadata.generation.unwrap_or(1) + 1);
        });
    }

    /// One reconcile: one driver tick at the operator's clock (load, observe, decide, act,
    /// persist). Returns when to be called again.
    pub async fn reconcile(&mut self) -> Result<Option<Timestamp>, DriverError> {
        let outcome = self.driver.tick(self.io.now()).await?;
        Ok(outcome.decision.next_wake)
    }

    /// Reconciles until the Rollout is Healthy on its current template, moving the simulated
    /// clock to each requested wake-up (or the next pod becoming ready). Returns what it saw.
    pub async fn run_until_healthy(
        &mut self,
        start: Timestamp,
    ) -> Result<Vec<Progress>, Box<dyn std::error::Error>> {
        let mut seen: Vec<Progress> = Vec::new();
        for _ in 0..500 {
            let wake = self.reconcile().await?;
            let rollout = self.store.get();
            let st = &rollout.status;
            let p = Progress {
                t: self.io.now().as_second() - start.as_second(),
                phase: st.phase.map(|p| format!("{p:?}")).unwrap_or_default(),
                step: st.current_step_index,
                weight: st.canary.weights.as_ref().map_or(0, |w| w.canary.weight),
            };
            if seen
                .last()
                .is_none_or(|l| (&l.phase, l.step, l.weight) != (&p.phase, p.step, p.weight))
            {
                seen.push(p);
            }
            if st.phase == Some(RolloutPhase::Healthy) && st.stable_rs == st.current_pod_hash {
                return Ok(seen);
            }
            let now = self.io.now();
            let pod = self.io.world().cluster.next_pod_ready(now);
            let next = [wake.filter(|w| *w > now), pod].into_iter().flatten().min();
            match next {
                Some(t) => self.io.set_now(t),
                None => self.io.advance(Duration::from_secs(1)),
            }
        }
        Err("the rollout did not become healthy in 500 reconciles".into())
    }
}

/// The example: deploy v1, update to v2, print what the operator saw. Returns the progress of the
/// update and the final stable hash.
pub async fn run() -> Result<(Vec<Progress>, String), Box<dyn std::error::Error>> {
    let start: Timestamp = "2026-01-01T00:00:00Z".parse()?;
    let mut op = WebAppOperator::new("registry.example/webapp:1.0", 4, start)?;
    op.run_until_healthy(start).await?;
    let v1 = op.store.get().status.stable_rs.clone();
    op.set_image("registry.example/webapp:2.0");
    let update_start = op.io.now();
    let progress = op.run_until_healthy(update_start).await?;
    let v2 = op.store.get().status.stable_rs.clone();
    if v1 == v2 {
        return Err("the stable hash did not change".into());
    }
    Ok((progress, v2))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_update_walks_the_steps_and_promotes() {
        let (progress, stable) = run().await.unwrap();
        let weights: Vec<i32> = progress.iter().map(|p| p.weight).collect();
        assert!(weights.contains(&25) && weights.contains(&75), "{progress:?}");
        let last = progress.last().unwrap();
        assert_eq!(last.phase, "Healthy");
        assert!(!stable.is_empty());
        // Two 30 s pauses and pod start-ups: the update takes 60 s to a few minutes of simulated time.
        assert!((60..300).contains(&last.t), "{progress:?}");
    }
}
