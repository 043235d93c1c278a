//! The deterministic simulation: runs the Rollout and its AnalysisRuns through
//! [`rollout_driver`]'s loops ([`RolloutDriver`], [`RunDriver`]) with the in-memory adapters over
//! the simulated cluster, the traffic model and the providers (simulated Prometheus, judges) on a
//! simulated clock, and records what happened.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rollout_core::analysis::judge::{WeightPoint, metadata_keys};
use rollout_core::analysis::{AnalysisPhase, AnalysisTemplate, TaskKind};
use rollout_core::rollout::policy::PolicyState;
use rollout_core::rollout::why::REASON_ROLLBACK_HELD;
use rollout_core::rollout::{
    Action, ConditionType, ConfigRef, ObservedWorkload, PauseReason, Rollout, RolloutPhase,
};
use rollout_driver::{JudgeProvider, JudgeRegistry, Providers, RolloutDriver, RunDriver};

use crate::adapters::{InMemory, World};
use crate::log::{EventKind, LogEvent, Outcome, SimReport, TimelinePoint, VersionPoint};
use crate::model::{PodSeconds, Share, TrafficModel};
use crate::provider::{MetricSource, sim_prometheus};
use crate::scenario::{Effect, Scenario, ScenarioError, VersionBehaviour, When};

/// Where simulated time starts (2023-11-14T22:13:20Z); the update is applied once the first
/// revision is healthy.
pub const EPOCH_SECONDS: i64 = 1_700_000_000;

/// Reconciles (and run ticks) at one instant before the simulation moves the clock on regardless.
const MAX_PASSES_PER_INSTANT: usize = 25;

/// The most instants (points in simulated time where something happens: a traffic tick, a pod
/// becoming ready, a measurement, a wake-up) one simulation processes; a simulation that needs
/// more (e.g. an analysis interval of milliseconds) ends as timed out. Ticks alone are at most
/// [`crate::scenario::MAX_TICKS`].
pub const MAX_INSTANTS: usize = 30_000;

/// The most measurements one simulation takes (each may run a judge); a simulation that needs
/// more (e.g. a one-second interval for hours) ends as timed out.
pub const MAX_MEASUREMENTS: usize = 1_000;

/// Why a simulation could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SimError {
    /// The scenario is invalid.
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    /// The Rollout has no pod template to update.
    #[error("the Rollout has no spec.template with containers to update")]
    NoTemplate,
    /// The first revision never became healthy.
    #[error("the initial revision did not become healthy: {0}")]
    InitialDeploy(String),
    /// The Rollout's `workloadRef` names an object that was not given.
    #[error(
        "spec.workloadRef: {kind} {name:?} is not in the input (put it in the Rollout's file or pass --workload FILE)"
    )]
    NoWorkload {
        /// Its kind.
        kind: String,
        /// Its name.
        name: String,
    },
}

/// Everything a simulation needs.
#[derive(Clone)]
pub struct SimInput {
    /// The Rollout (its template is the stable version; the simulation applies an update).
    pub rollout: Rollout,
    /// AnalysisTemplates and ClusterAnalysisTemplates the Rollout references.
    pub templates: Vec<AnalysisTemplate>,
    /// The environment and faults.
    pub scenario: Scenario,
    /// Seed of the traffic model.
    pub seed: u64,
    /// Judges for `judge` metrics (e.g. WASM components from `plugins/dist`).
    pub judges: Arc<dyn JudgeRegistry>,
    /// The object a `workloadRef` Rollout points at (see
    /// [`referenced_workload`](crate::adapters::referenced_workload)); its template is the one
    /// updated, and its scale-down (`workloadRef.scaleDown`) is logged as a `Scale` event.
    pub workload: Option<ObservedWorkload>,
}

/// A running simulation. Use [`simulate`] unless you want to step it yourself.
pub struct Simulation {
    name: String,
    scenario: Scenario,
    seed: u64,
    io: InMemory,
    /// The Rollout's loop, kept across ticks (it caches the spec-derived values).
    driver: RolloutDriver,
    /// The AnalysisRuns' loop.
    run_driver: RunDriver,
    source: Arc<Mutex<MetricSource>>,
    model: TrafficModel,
    now: Timestamp,
    start: Timestamp,
    tick: Duration,
    next_traffic: Timestamp,
    stable: VersionBehaviour,
    canary: VersionBehaviour,
    stable_hash: String,
    canary_hash: String,
    fired: Vec<bool>,
    events: Vec<LogEvent>,
    timeline: Vec<TimelinePoint>,
    last_phase: Option<RolloutPhase>,
    last_step: Option<i32>,
    last_weight: Option<i32>,
    promote_at: Option<Timestamp>,
    next_wake: Option<Timestamp>,
    last_replicas: Option<(i32, i32, i32, i32)>,
    recording: bool,
    /// Workload scale-downs during the initial deploy, logged when recording starts.
    before_start: Vec<EventKind>,
    /// Measurements taken so far (at most [`MAX_MEASUREMENTS`]).
    measurements: usize,
    pod_seconds: PodSeconds,
    /// The group this Rollout is a member of (a group simulation): its inputs before each tick.
    pub(crate) group: Option<crate::group::GroupView>,
}

/// Gives the first container of a pod template the next image (`repo:tag` → `repo:tag-next`).
fn next_image(template: &mut serde_json::Value) -> Result<(), SimError> {
    let container = template
        .pointer_mut("/spec/containers/0")
        .and_then(|c| c.as_object_mut())
        .ok_or(SimError::NoTemplate)?;
    let image = container
        .get("image")
        .and_then(|v| v.as_str())
        .ok_or(SimError::NoTemplate)?;
    let next = match image.rsplit_once(':') {
        Some((repo, tag)) if !tag.contains('/') => format!("{repo}:{tag}-next"),
        _ => format!("{image}:next"),
    };
    container.insert("image".into(), serde_json::Value::String(next));
    Ok(())
}

fn plus(t: Timestamp, d: Duration) -> Timestamp {
    SignedDuration::try_from(d)
        .ok()
        .and_then(|d| t.checked_add(d).ok())
        .unwrap_or(t)
}

/// How long a rollback held for missing config lasts before the simulation reports it.
const HOLD_REPORTED_AFTER: Duration = Duration::from_secs(120);

impl Simulation {
    /// Sets up the cluster with the Rollout's current template deployed and healthy.
    pub async fn new(input: SimInput) -> Result<Self, SimError> {
        input.scenario.validate()?;
        let tick = input.scenario.tick()?;
        let now =
            Timestamp::from_second(EPOCH_SECONDS).map_err(|e| SimError::InitialDeploy(e.to_string()))?;
        let mut metrics = MetricSource::with_labels(input.scenario.labels.clone());
        metrics.now = now;
        let source = Arc::new(Mutex::new(metrics));
        let mut sources = Providers::new();
        sources.register(Arc::new(sim_prometheus(source.clone())));
        let mut providers = sources.clone();
        providers.register(Arc::new(JudgeProvider::new(input.judges.clone(), sources)));
        let mut rollout = input.rollout;
        if rollout.metadata.generation.is_none() {
            rollout.metadata.generation = Some(1);
        }
        let name = rollout.metadata.name.clone();
        let ready_after = input.scenario.ready_after()?;
        let workload = match &rollout.spec.workload_ref {
            Some(reference) => Some(input.workload.ok_or_else(|| SimError::NoWorkload {
                kind: reference.kind.clone(),
                name: reference.name.clone(),
            })?),
            None => None,
        };
        let mut workload = workload;
        if let Some(swap) = &input.scenario.config {
            let template = match &mut workload {
                Some(w) => Some(&mut w.template),
                None => rollout.spec.template.as_mut(),
            };
            crate::config::mount_release_secret(template.ok_or(SimError::NoTemplate)?, &swap.stable_secret);
        }
        let mut world = World::new(rollout, ready_after, now);
        if workload.is_some() {
            world.cluster.workload = workload;
        }
        if let Some(swap) = &input.scenario.config {
            let mut store = crate::config::ConfigStore::default();
            store.create_immutable(ConfigRef::secret(swap.stable_secret.clone()));
            world.cluster.config = Some(store);
        }
        let io = InMemory::new(world, input.templates);
        let policy = input
            .scenario
            .policy
            .clone()
            .map_or(PolicyState::Absent, PolicyState::of);
        let mut sim = Simulation {
            driver: RolloutDriver::new(io.rollout_io()).with_policy(Arc::new(policy)),
            run_driver: RunDriver::new(io.run_io(providers)),
            io,
            name,
            stable: input.scenario.stable,
            canary: input.scenario.canary,
            fired: vec![false; input.scenario.faults.len()],
            scenario: input.scenario,
            seed: input.seed,
            source,
            model: TrafficModel::new(input.seed, 0.0),
            now,
            start: now,
            tick,
            next_traffic: now,
            stable_hash: String::new(),
            canary_hash: String::new(),
            events: Vec::new(),
            timeline: Vec::new(),
            last_phase: None,
            last_step: None,
            last_weight: None,
            promote_at: None,
            next_wake: None,
            last_replicas: None,
            recording: false,
            before_start: Vec::new(),
            measurements: 0,
            pod_seconds: PodSeconds::default(),
            group: None,
        };
        // Initial deploy: no traffic, no recording, until Healthy.
        for _ in 0..200 {
            sim.reconcile_instant().await;
            let ro = sim.io.rollout();
            if ro.status.phase == Some(RolloutPhase::Healthy) && !ro.status.stable_rs.is_empty() {
                sim.stable_hash = ro.status.stable_rs.clone();
                return Ok(sim);
            }
            let next = sim
                .io
                .world()
                .cluster
                .next_pod_ready(sim.now)
                .unwrap_or(plus(sim.now, Duration::from_secs(1)));
            sim.set_now(next);
        }
        Err(SimError::InitialDeploy(sim.io.rollout().status.message.clone()))
    }

    fn log(&mut self, kind: EventKind, sink: &mut dyn FnMut(&LogEvent)) {
        if !self.recording {
            return;
        }
        let t = self.now.duration_since(self.start).as_secs_f64();
        let e = LogEvent { t, kind };
        sink(&e);
        self.events.push(e);
    }

    /// Applies the update (a new image for the first container) and runs to an outcome,
    /// calling `sink` for every event as it happens.
    pub async fn run(mut self, sink: &mut dyn FnMut(&LogEvent)) -> Result<SimReport, SimError> {
        self.begin(sink)?;
        let mut instants = 0;
        let (outcome, reason) = loop {
            instants += 1;
            if let Some(done) = self.step(instants, sink).await? {
                break done;
            }
            let next = self.next_instant();
            self.set_now(next);
        };
        Ok(self.finish(outcome, reason, sink))
    }

    /// Applies the update and starts recording (the start of [`Simulation::run`]).
    pub(crate) fn begin(&mut self, sink: &mut dyn FnMut(&LogEvent)) -> Result<(), SimError> {
        self.apply_update()?;
        self.start = self.now;
        self.recording = true;
        self.next_traffic = self.now;
        self.model = TrafficModel::new(self.seed, self.scenario.traffic.requests_per_second);
        for kind in std::mem::take(&mut self.before_start) {
            self.log(kind, sink);
        }
        Ok(())
    }

    /// The work of one instant (the `instants`-th): faults, traffic, a scheduled promote, the
    /// reconciles; the outcome once there is one (or the limits are reached).
    pub(crate) async fn step(
        &mut self,
        instants: usize,
        sink: &mut dyn FnMut(&LogEvent),
    ) -> Result<Option<(Outcome, String)>, SimError> {
        let max = plus(self.start, self.scenario.max_duration()?);
        self.fire_faults(sink);
        if self.now >= self.next_traffic {
            self.traffic_tick();
            self.next_traffic = plus(self.next_traffic, self.tick);
        }
        if self.promote_at.is_some_and(|t| t <= self.now) {
            self.promote_at = None;
            self.promote();
            self.log(EventKind::Promote, sink);
        }
        self.reconcile_instant_logged(sink).await;
        self.fire_faults(sink);
        if let Some(done) = self.outcome()? {
            return Ok(Some(done));
        }
        if self.now >= max {
            return Ok(Some((
                Outcome::TimedOut,
                format!("still {} after maxDuration", self.phase_name()),
            )));
        }
        if instants >= MAX_INSTANTS || self.measurements >= MAX_MEASUREMENTS {
            return Ok(Some((
                Outcome::TimedOut,
                format!(
                    "still {} after {instants} simulated instants and {} measurements; a simulation \
                     stops at {MAX_INSTANTS} instants or {MAX_MEASUREMENTS} measurements",
                    self.phase_name(),
                    self.measurements
                ),
            )));
        }
        Ok(None)
    }

    /// Ends the simulation with `outcome` and its `reason`: the report.
    pub(crate) fn finish(
        mut self,
        outcome: Outcome,
        reason: String,
        sink: &mut dyn FnMut(&LogEvent),
    ) -> SimReport {
        self.snapshot();
        self.log(
            EventKind::Finished {
                outcome,
                reason: reason.clone(),
            },
            sink,
        );
        SimReport {
            rollout: self.name,
            scenario: self.scenario.name.clone(),
            seed: self.seed,
            outcome,
            reason,
            duration_secs: self.now.duration_since(self.start).as_secs_f64(),
            stable_hash: self.stable_hash,
            canary_hash: self.canary_hash,
            events: self.events,
            timeline: self.timeline,
            pod_seconds: self.pod_seconds,
            cost: rollout_core::rollout::cost::cost_at(
                self.io.world().rollout.status.cost.as_ref(),
                self.now,
            ),
        }
    }

    /// The update: a new image for the first container of the Rollout's template, or of the
    /// referenced workload's template for a `workloadRef` Rollout (a new workload generation).
    fn apply_update(&mut self) -> Result<(), SimError> {
        let mut world = self.io.world();
        // A release with config creates the new Secret and mounts it.
        let swap = self.scenario.config.as_ref().map(|c| c.canary_secret.clone());
        if let (Some(name), Some(store)) = (&swap, &mut world.cluster.config) {
            store.create_immutable(ConfigRef::secret(name.clone()));
        }
        let mount = |t: &mut serde_json::Value| {
            if let Some(name) = &swap {
                crate::config::mount_release_secret(t, name);
            }
        };
        if world.rollout.spec.workload_ref.is_some() {
            let workload = world.cluster.workload.as_mut().ok_or(SimError::NoTemplate)?;
            next_image(&mut workload.template)?;
            mount(&mut workload.template);
            workload.generation = workload.generation.saturating_add(1);
            return Ok(());
        }
        let rollout = Arc::make_mut(&mut world.rollout);
        let template = rollout.spec.template.as_mut().ok_or(SimError::NoTemplate)?;
        next_image(template)?;
        mount(template);
        rollout.metadata.generation = Some(rollout.metadata.generation.unwrap_or(1).saturating_add(1));
        Ok(())
    }

    /// Moves the simulated clock (the simulation's, the adapters' and the metric source's).
    pub(crate) fn set_now(&mut self, now: Timestamp) {
        self.now = now;
        self.io.set_now(now);
        if let Ok(mut source) = self.source.lock() {
            source.now = now;
        }
    }

    /// The in-memory adapters this simulation drives.
    pub fn adapters(&self) -> &InMemory {
        &self.io
    }

    fn phase_name(&self) -> String {
        self.io
            .world()
            .rollout
            .status
            .phase
            .map(|p| format!("{p:?}"))
            .unwrap_or_else(|| "Progressing".to_string())
    }

    /// The next instant anything can happen.
    pub(crate) fn next_instant(&self) -> Timestamp {
        let mut candidates = vec![self.next_traffic];
        {
            let w = self.io.world();
            candidates.extend(w.cluster.next_pod_ready(self.now));
            candidates.extend(w.runs.iter().filter_map(|r| r.next_wake));
        }
        candidates.extend(self.promote_at);
        if let Some(w) = self.next_wake {
            candidates.push(w);
        }
        for (i, fired) in self.fired.iter().enumerate() {
            if !fired && let Ok((When::Time(d), _)) = self.scenario.fault(i) {
                candidates.push(plus(self.start, d));
            }
        }
        let after_now: Vec<Timestamp> = candidates.into_iter().filter(|t| *t > self.now).collect();
        after_now.into_iter().min().unwrap_or(plus(self.now, self.tick))
    }
}

mod steps;
