//! [`RunDriver`]: one AnalysisRun, one tick: [`step`] → take the due measurements → [`step`] with
//! their results → persist the status.

use std::sync::Arc;

use rollout_core::analysis::{
    AnalysisPhase, AnalysisRun, AnalysisRunStatus, MeasurementResult, MeasurementTask, TaskKind,
    finish_measurement, step,
};
use rollout_core::common::Timestamp;

use crate::contracts::{RunStore, Secrets};
use crate::providers::Providers;
use crate::rollout_loop::DriverError;

/// The adapters a [`RunDriver`] calls.
#[derive(Clone)]
pub struct RunIo {
    /// Writes run statuses; knows the weight timeline.
    pub store: Arc<dyn RunStore>,
    /// Measurement providers by name.
    pub providers: Arc<Providers>,
    /// Resolves `secretKeyRef` args for provider calls.
    pub secrets: Arc<dyn Secrets>,
}

impl std::fmt::Debug for RunIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunIo")
            .field("providers", &self.providers)
            .finish_non_exhaustive()
    }
}

/// Performs one task with `providers` (no secrets, no weight timeline): the provider's
/// observation (Measure/Resume) or its settled answer to `terminate`, finished at the request's
/// `now`, to hand to the next [`step`]. [`RunDriver::tick`] does this for every due task.
pub async fn perform(providers: &Providers, task: &MeasurementTask) -> MeasurementResult {
    let observed = match task.kind {
        TaskKind::Terminate => providers.terminate(&task.request).await,
        TaskKind::Measure | TaskKind::Resume => providers.observe(&task.request).await,
    };
    finish_measurement(&task.request, observed, task.request.now)
}

/// What one run tick did.
#[derive(Debug, Clone, PartialEq)]
pub struct RunOutcome {
    /// The status now stored.
    pub status: AnalysisRunStatus,
    /// When to tick again even if nothing changes.
    pub next_wake: Option<Timestamp>,
    /// Whether the status was written.
    pub status_written: bool,
    /// The measurements taken, resumed or terminated in this tick, with their task kind.
    pub measurements: Vec<(TaskKind, MeasurementResult)>,
}

impl RunOutcome {
    /// The run's phase after the tick.
    pub fn phase(&self) -> AnalysisPhase {
        self.status.phase
    }
}

/// Drives AnalysisRuns: stateless, one value serves every run.
#[derive(Debug, Clone)]
pub struct RunDriver {
    io: RunIo,
}

impl RunDriver {
    /// A driver over `io`.
    pub fn new(io: RunIo) -> Self {
        RunDriver { io }
    }

    /// The adapters.
    pub fn io(&self) -> &RunIo {
        &self.io
    }

    /// One tick of `run` at `now` (the caller's one clock read): every due measurement is taken
    /// (secrets resolved for the provider only, the weight timeline attached) and finished at
    /// `now`, the machine steps again with the results, and the status is persisted.
    pub async fn tick(&self, run: &AnalysisRun, now: Timestamp) -> Result<RunOutcome, DriverError> {
        let first = step(run, now, Vec::new());
        let mut measurements = Vec::with_capacity(first.tasks.len());
        if !first.tasks.is_empty() {
            let weights = self.io.store.weights(run);
            for task in &first.tasks {
                let mut request = task.request.clone();
                request.weights.clone_from(&weights);
                let observed = match self.io.secrets.resolve(&request).await {
                    Err(e) => Err(e),
                    Ok(resolved) => match task.kind {
                        TaskKind::Measure | TaskKind::Resume => self.io.providers.observe(&resolved).await,
                        TaskKind::Terminate => self.io.providers.terminate(&resolved).await,
                    },
                };
                measurements.push((task.kind, finish_measurement(&request, observed, now)));
            }
        }
        let last = if measurements.is_empty() {
            first
        } else {
            let mut next = run.clone();
            next.status = Some(first.status);
            let results = measurements.iter().map(|(_, r)| r.clone()).collect();
            step(&next, now, results)
        };
        let unchanged = run.status.as_ref() == Some(&last.status);
        let status_written = !unchanged
            && self
                .io
                .store
                .persist(run, &last.status)
                .await
                .map_err(DriverError::Persist)?;
        Ok(RunOutcome {
            status: last.status,
            next_wake: last.next_wake,
            status_written,
            measurements,
        })
    }
}
