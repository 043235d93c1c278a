//! A custom adapter: a [`TrafficRouter`] for a proxy the core knows nothing about.
//!
//! `SplitConfigRouter` renders the canary split as an nginx `split_clients` block (what a real
//! adapter would write to a ConfigMap and reload). It is the only adapter this example writes:
//! the [`RolloutDriver`] calls it for every `SetTrafficWeight`, and the in-memory adapters for
//! everything else (the Rollout's store, ReplicaSets, AnalysisRuns, events), so the example runs
//! without a cluster.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use jiff::Timestamp;
use rollout_core::rollout::{Rollout, RolloutPhase};
use rollout_driver::{AdapterError, Applied, RolloutDriver, TrafficRouter};
use rollout_sim::adapters::{InMemory, World};

/// Renders `split_clients` configs; keeps every version it rendered.
#[derive(Debug, Clone, Default)]
pub struct SplitConfigRouter {
    /// Rendered configs, oldest first.
    pub rendered: Arc<Mutex<Vec<String>>>,
}

impl SplitConfigRouter {
    /// The config for a split.
    pub fn render(canary_hash: &str, stable_hash: &str, weight: i32) -> String {
        let weight = weight.clamp(0, 100);
        format!(
            "split_clients \"$request_id\" $webapp_upstream {{\n    {weight}% webapp-{canary_hash};\n    * webapp-{stable_hash};\n}}\n"
        )
    }

    /// The last rendered config.
    pub fn current(&self) -> Option<String> {
        self.rendered.lock().ok().and_then(|r| r.last().cloned())
    }
}

#[async_trait]
impl TrafficRouter for SplitConfigRouter {
    async fn set_weight(
        &self,
        _ro: &Rollout,
        canary_hash: &str,
        stable_hash: &str,
        weight: i32,
    ) -> Result<Applied, AdapterError> {
        if !(0..=100).contains(&weight) {
            return Err(AdapterError::Other(format!("weight {weight} is outside 0..=100")));
        }
        let text = Self::render(canary_hash, stable_hash, weight);
        let mut rendered = self
            .rendered
            .lock()
            .map_err(|_| AdapterError::Other("router state poisoned".into()))?;
        if rendered.last() == Some(&text) {
            return Ok(Applied::Unchanged);
        }
        rendered.push(text);
        Ok(Applied::Written)
    }

    async fn verify_weight(&self, _ro: &Rollout, weight: i32) -> Result<Option<bool>, AdapterError> {
        Ok(Some(
            self.current()
                .is_some_and(|c| c.contains(&format!(" {weight}% "))),
        ))
    }
}

/// Runs an update with the custom router; returns the configs it rendered.
pub async fn run() -> Result<Vec<String>, Box<dyn std::error::Error>> {
    let rollout: Rollout = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "webapp", "generation": 1},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "webapp"}},
            "template": {"metadata": {"labels": {"app": "webapp"}},
                         "spec": {"containers": [{"name": "web", "image": "webapp:1"}]}},
            "strategy": {"canary": {
                "canaryService": "webapp-canary", "stableService": "webapp-stable",
                "trafficRouting": {"nginx": {"stableIngress": "webapp"}},
                "steps": [{"setWeight": 10}, {"pause": {"duration": "10s"}}, {"setWeight": 50},
                          {"pause": {"duration": "10s"}}]}}
        }
    }))?;
    let start: Timestamp = "2026-01-01T00:00:00Z".parse()?;
    let io = InMemory::new(World::new(rollout, Duration::from_secs(2), start), Vec::new());
    let router = SplitConfigRouter::default();
    // Our router gets the traffic actions; the in-memory adapters get the rest.
    let mut adapters = io.rollout_io();
    adapters.router = Some(Arc::new(router.clone()));
    let mut driver = RolloutDriver::new(adapters);
    let mut updated = false;
    for _ in 0..500 {
        let decision = driver.tick(io.now()).await?.decision;
        let st = &decision.status;
        if st.phase == Some(RolloutPhase::Healthy) && st.stable_rs == st.current_pod_hash {
            if updated {
                break;
            }
            updated = true;
            // The update: a new image in the stored Rollout's template.
            let mut world = io.world();
            let rollout = Arc::make_mut(&mut world.rollout);
            if let Some(c) = rollout
                .spec
                .template
                .as_mut()
                .and_then(|t| t.pointer_mut("/spec/containers/0"))
                .and_then(|c| c.as_object_mut())
            {
                c.insert("image".into(), "webapp:2".into());
            }
            rollout.metadata.generation = Some(2);
            continue;
        }
        let now = io.now();
        let pod = io.world().cluster.next_pod_ready(now);
        match [decision.next_wake.filter(|w| *w > now), pod]
            .into_iter()
            .flatten()
            .min()
        {
            Some(t) => io.set_now(t),
            None => io.advance(Duration::from_secs(1)),
        }
    }
    Ok(router.rendered.lock().map(|r| r.clone()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_router_renders_each_weight_of_the_update() {
        let configs = run().await.unwrap();
        let weights: Vec<&str> = configs
            .iter()
            .filter_map(|c| c.lines().nth(1))
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        // 10% and 50% during the update, then all traffic to the new version at promotion
        // (or the split reset to 0% once the new version is the stable one).
        assert!(
            weights.contains(&"10%") && weights.contains(&"50%"),
            "{configs:#?}"
        );
        assert!(
            matches!(weights.last(), Some(&"100%") | Some(&"0%")),
            "{configs:#?}"
        );
    }

    #[tokio::test]
    async fn out_of_range_weights_are_refused() {
        let r = SplitConfigRouter::default();
        let ro = Rollout::default();
        assert!(r.set_weight(&ro, "a", "b", 101).await.is_err());
        r.set_weight(&ro, "a", "b", 30).await.unwrap();
        assert_eq!(r.verify_weight(&ro, 30).await.unwrap(), Some(true));
        assert_eq!(
            r.current().unwrap(),
            "split_clients \"$request_id\" $webapp_upstream {\n    30% webapp-a;\n    * webapp-b;\n}\n"
        );
    }
}
