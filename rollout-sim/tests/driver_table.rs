//! rollout-driver's shared scenario table ([`rollout_driver::conformance`]) against the
//! simulator's in-memory adapters: the Rollout driven by a `RolloutDriver` over
//! [`InMemory`](rollout_sim::adapters::InMemory), pods ready one second after they are created,
//! one simulated second per tick. rollout-kube runs the same table against a real API server
//! (`rollout-kube/tests/e2e_driver_table.rs`).

use std::time::Duration;

use async_trait::async_trait;
use rollout_core::rollout::{Rollout, RolloutStatus};
use rollout_driver::RolloutDriver;
use rollout_driver::conformance::{Expect, Harness, cases, run_case};
use rollout_sim::adapters::{InMemory, World};

/// The simulated time each wait of the table may take.
const BUDGET: Duration = Duration::from_secs(120);

#[derive(Default)]
struct SimHarness {
    sim: Option<(InMemory, RolloutDriver)>,
}

impl SimHarness {
    fn io(&mut self) -> Result<&mut (InMemory, RolloutDriver), String> {
        self.sim.as_mut().ok_or_else(|| "no Rollout created".to_string())
    }
}

#[async_trait]
impl Harness for SimHarness {
    async fn create(&mut self, rollout: serde_json::Value) -> Result<(), String> {
        let mut ro: Rollout = serde_json::from_value(rollout).map_err(|e| e.to_string())?;
        ro.metadata.generation = Some(1);
        let start = "2026-01-01T00:00:00Z".parse().map_err(|e| format!("{e}"))?;
        let io = InMemory::new(World::new(ro, Duration::from_secs(1), start), Vec::new());
        let driver = RolloutDriver::new(io.rollout_io());
        self.sim = Some((io, driver));
        Ok(())
    }

    async fn set_image(&mut self, _name: &str, image: &str) -> Result<(), String> {
        self.io()?.0.set_image(image);
        Ok(())
    }

    async fn promote(&mut self, _name: &str) -> Result<(), String> {
        self.io()?.0.promote();
        Ok(())
    }

    async fn abort(&mut self, _name: &str) -> Result<(), String> {
        self.io()?.0.abort();
        Ok(())
    }

    async fn wait_until(
        &mut self,
        _name: &str,
        budget: Duration,
        expect: &Expect,
    ) -> Result<RolloutStatus, String> {
        let (io, driver) = self.io()?;
        for _ in 0..budget.as_secs() {
            driver.tick(io.now()).await.map_err(|e| e.to_string())?;
            let st = io.rollout().status.clone();
            if expect.holds(&st) {
                return Ok(st);
            }
            io.advance(Duration::from_secs(1));
        }
        Err(format!("{:?}", io.rollout().status))
    }
}

#[tokio::test]
async fn every_case_of_the_table_passes_in_the_simulator() {
    for case in cases() {
        let mut h = SimHarness::default();
        run_case(&mut h, &case, BUDGET).await.unwrap();
    }
}
