//! `rollout simulate --dry-run`: the driver's dry run on the simulator's in-memory cluster. The
//! Rollout meets an empty cluster (as when it first takes over, e.g. after `rollout migrate`);
//! three ticks ten seconds apart show what the controller would do, that it does none of it, and
//! that an unchanged decision writes and emits nothing.

use std::path::PathBuf;
use std::time::Duration;

use rollout_core::common::Timestamp;
use rollout_core::rollout::dry_run::describe;
use rollout_core::rollout::{Action, ConditionType, Rollout};
use rollout_driver::RolloutDriver;
use rollout_sim::adapters::{InMemory, World};
use serde::Serialize;

use crate::CliError;
use crate::docs;

/// Ticks run.
const TICKS: usize = 3;
/// Simulated seconds between ticks.
const STEP_SECONDS: i64 = 10;

/// What the dry run shows.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct DryRunReport {
    /// The Rollout's name.
    pub rollout: String,
    /// The actions withheld on the first tick.
    pub withheld: Vec<Action>,
    /// Events emitted on each tick.
    pub events_per_tick: Vec<usize>,
    /// Status writes on each tick.
    pub writes_per_tick: Vec<usize>,
    /// The `DryRun` condition's message at the end.
    pub condition: String,
    /// ReplicaSets in the simulated cluster at the end (always 0).
    pub replica_sets: usize,
}

/// Runs the dry run for the Rollout in `rollout` (or the bundled one), its `workloadRef` target
/// from that file or `workload`.
pub fn run(rollout: Option<&PathBuf>, workload: &[PathBuf]) -> Result<DryRunReport, CliError> {
    let docs = match rollout {
        Some(path) => docs::load(path)?,
        None => docs::parse("bundled rollout", crate::simulate::DEFAULT_ROLLOUT)?,
    };
    let label = rollout.map_or("bundled rollout".to_string(), |p| p.display().to_string());
    let doc = docs
        .iter()
        .find(|d| d.kind == "Rollout")
        .ok_or_else(|| CliError::new(format!("{label}: no document of kind Rollout")))?;
    let mut ro: Rollout = docs::typed(&label, doc)?;
    ro.metadata.generation.get_or_insert(1);
    let mut target = None;
    if let Some(reference) = &ro.spec.workload_ref {
        for path in rollout.into_iter().chain(workload) {
            for d in docs::load(path)? {
                let manifest = serde_json::to_value(&d.value).map_err(|e| CliError::new(e.to_string()))?;
                if target.is_none() {
                    target = rollout_sim::adapters::referenced_workload(reference, &manifest);
                }
            }
        }
    }
    let now = Timestamp::from_second(1_700_000_000).map_err(|e| CliError::new(e.to_string()))?;
    let mut world = World::new(ro.clone(), Duration::from_secs(5), now);
    world.cluster.workload = target;
    let io = InMemory::new(world, Vec::new());
    let mut driver = RolloutDriver::new(io.rollout_io()).with_dry_run(true);
    let mut report = DryRunReport {
        rollout: ro.metadata.name.clone(),
        withheld: Vec::new(),
        events_per_tick: Vec::new(),
        writes_per_tick: Vec::new(),
        condition: String::new(),
        replica_sets: 0,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the async runtime: {e}")))?;
    for i in 0..TICKS {
        let at = Timestamp::from_second(now.as_second() + STEP_SECONDS * i as i64)
            .map_err(|e| CliError::new(e.to_string()))?;
        io.set_now(at);
        let out = runtime
            .block_on(driver.tick(at))
            .map_err(|e| CliError::new(format!("dry run: {e}")))?;
        if i == 0 {
            report.withheld = out.withheld.unwrap_or_default();
        }
        report.events_per_tick.push(out.decision.actions.len());
        report.writes_per_tick.push(out.writes);
    }
    let world = io.world();
    report.condition = world
        .rollout
        .status
        .condition(ConditionType::DryRun)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    report.replica_sets = world.cluster.replica_sets.len();
    Ok(report)
}

/// The report as text.
pub fn render(r: &DryRunReport) -> String {
    let mut out = format!(
        "Dry run of Rollout {} (the controller decides; nothing is applied):\n",
        r.rollout
    );
    for a in &r.withheld {
        out.push_str(&format!("  would {}\n", describe(a)));
    }
    out.push_str(&format!("DryRun condition: {}\n", r.condition));
    for (i, (events, writes)) in r.events_per_tick.iter().zip(&r.writes_per_tick).enumerate() {
        out.push_str(&format!(
            "tick {} (+{}s): {events} events, {writes} status writes\n",
            i + 1,
            STEP_SECONDS * i as i64
        ));
    }
    out.push_str(&format!("ReplicaSets created: {}\n", r.replica_sets));
    out
}
