//! rollout-driver's shared scenario table ([`rollout_driver::conformance`]) against a real API
//! server: each case in its own namespace, the Rollout driven by [`Reconciler::reconcile`] (one
//! `RolloutDriver` tick over this crate's adapters, as the controller does) with the
//! controller's ServiceAccount, promote and abort with the same patches as Argo's kubectl plugin.

mod common;

use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::*;
use kube::api::PostParams;
use rollout_core::common::Timestamp;
use rollout_core::rollout::RolloutStatus;
use rollout_driver::conformance::{Expect, Harness, cases, run_case};
use rollout_kube::resources::Rollout;
use rollout_kube::{Reconciler, ops};
use serde_json::Value;

/// Each wait of the table gets this much wall-clock time.
const BUDGET: Duration = Duration::from_secs(90);

struct KubeHarness {
    c: Cluster,
    reconciler: Reconciler,
}

impl KubeHarness {
    async fn status(&self, name: &str) -> Result<(Rollout, RolloutStatus), String> {
        let ro = rollouts(&self.c).get(name).await.map_err(|e| e.to_string())?;
        let core = ro.to_core().map_err(|e| e.to_string())?;
        Ok((ro, core.status))
    }
}

#[async_trait]
impl Harness for KubeHarness {
    async fn create(&mut self, rollout: Value) -> Result<(), String> {
        let ro: Rollout = serde_json::from_value(rollout).map_err(|e| e.to_string())?;
        rollouts(&self.c)
            .create(&PostParams::default(), &ro)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    async fn set_image(&mut self, name: &str, image: &str) -> Result<(), String> {
        set_image(&self.c, name, image).await;
        Ok(())
    }

    async fn promote(&mut self, name: &str) -> Result<(), String> {
        ops::promote(&self.c.admin, &self.c.ns, name, false)
            .await
            .map_err(|e| e.to_string())
    }

    async fn abort(&mut self, name: &str) -> Result<(), String> {
        ops::abort(&self.c.admin, &self.c.ns, name)
            .await
            .map_err(|e| e.to_string())
    }

    async fn wait_until(
        &mut self,
        name: &str,
        budget: Duration,
        expect: &Expect,
    ) -> Result<RolloutStatus, String> {
        let start = Instant::now();
        let mut last_error = None;
        loop {
            let (ro, _) = self.status(name).await?;
            // A tick may meet a conflict with the user's promote or abort; the next one retries.
            if let Err(e) = self.reconciler.reconcile(&ro, Timestamp::now()).await {
                last_error = Some(e.to_string());
            }
            let (_, status) = self.status(name).await?;
            if expect.holds(&status) {
                return Ok(status);
            }
            if start.elapsed() > budget {
                return Err(format!(
                    "{}; last reconcile error: {last_error:?}",
                    serde_json::to_string(&status).unwrap_or_default()
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_table_passes_on_a_real_api_server() {
    let table = cases();
    assert!(!table.is_empty());
    for case in &table {
        let Some(c) = cluster(&format!("table-{}", case.name)).await else {
            return;
        };
        let reconciler = Reconciler::new(c.sa.clone());
        let mut harness = KubeHarness { c, reconciler };
        run_case(&mut harness, case, BUDGET)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
}
