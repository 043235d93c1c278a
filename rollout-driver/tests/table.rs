//! The driver scenario table against in-memory adapters over a `FakeCluster` (pods ready as soon
//! as they exist, one second per tick): the reference run of the table that rollout-kube's e2e
//! and rollout-sim run against their own adapters.

mod support;

use std::time::Duration;

use async_trait::async_trait;
use rollout_core::rollout::RolloutStatus;
use rollout_driver::RolloutDriver;
use rollout_driver::conformance::{Expect, Harness, cases, run_case};
use support::*;

struct MemHarness {
    mem: Option<(Mem, RolloutDriver)>,
}

impl MemHarness {
    fn get(&mut self) -> Result<&mut (Mem, RolloutDriver), String> {
        self.mem.as_mut().ok_or_else(|| "no Rollout created".to_string())
    }
}

#[async_trait]
impl Harness for MemHarness {
    async fn create(&mut self, rollout: serde_json::Value) -> Result<(), String> {
        let mut ro: rollout_core::rollout::Rollout =
            serde_json::from_value(rollout).map_err(|e| e.to_string())?;
        ro.metadata.generation = Some(1);
        let mem = Mem::new(ro);
        mem.c().auto_ready = true;
        let driver = RolloutDriver::new(mem.io(true));
        self.mem = Some((mem, driver));
        Ok(())
    }
    async fn set_image(&mut self, _name: &str, image: &str) -> Result<(), String> {
        self.get()?.0.c().set_image(image);
        Ok(())
    }
    async fn promote(&mut self, _name: &str) -> Result<(), String> {
        self.get()?.0.c().promote();
        Ok(())
    }
    async fn abort(&mut self, _name: &str) -> Result<(), String> {
        self.get()?.0.c().abort();
        Ok(())
    }
    async fn wait_until(
        &mut self,
        _name: &str,
        budget: Duration,
        expect: &Expect,
    ) -> Result<RolloutStatus, String> {
        let (mem, driver) = self.get()?;
        for _ in 0..budget.as_secs() {
            let now = mem.c().now;
            driver.tick(now).await.map_err(|e| e.to_string())?;
            let st = mem.c().rollout.status.clone();
            if expect.holds(&st) {
                return Ok(st);
            }
            mem.c().advance(1);
        }
        Err(format!("{:?}", mem.c().rollout.status))
    }
}

#[test]
fn every_case_of_the_table_passes_in_memory() {
    for case in cases() {
        let mut h = MemHarness { mem: None };
        block_on(run_case(&mut h, &case, Duration::from_secs(60))).unwrap();
    }
}
