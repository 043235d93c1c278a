//! [`RolloutDriver`]: one Rollout, one tick: load → observe → [`reconcile`](rollout_core::rollout::reconcile)
//! → carry out the actions → persist the status.

use std::sync::Arc;

use rollout_core::common::Timestamp;
use rollout_core::fleet::brake::{self, Brake};
use rollout_core::rollout::config_deps;
use rollout_core::rollout::dry_run;
use rollout_core::rollout::failures::{invalid_spec, is_replica_action, replica_failure, replica_success};
use rollout_core::rollout::machine::{Prepared, reconcile_prepared, restart_pending};
use rollout_core::rollout::policy::{self, PolicyHold, PolicyState};
use rollout_core::rollout::{Action, Decision, Inputs, Observed, Rollout, RolloutPhase};

use crate::contracts::{
    AdapterError, AnalysisRuns, Applied, EventSink, Loaded, RolloutStore, TrafficRouter, Workloads,
};

/// The adapters a [`RolloutDriver`] calls.
#[derive(Clone)]
pub struct RolloutIo {
    /// Reads the Rollout, writes its status.
    pub store: Arc<dyn RolloutStore>,
    /// ReplicaSets, Services, the referenced workload.
    pub workloads: Arc<dyn Workloads>,
    /// The Rollout's AnalysisRuns.
    pub runs: Arc<dyn AnalysisRuns>,
    /// The traffic router; `None` when the driver has none. A `SetTrafficWeight` then fails with
    /// [`DriverError::NoRouter`] (the same rule for every driver: never a silent no-op).
    pub router: Option<Arc<dyn TrafficRouter>>,
    /// Where the machine's events go.
    pub events: Arc<dyn EventSink>,
}

impl std::fmt::Debug for RolloutIo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutIo")
            .field("router", &self.router.is_some())
            .finish_non_exhaustive()
    }
}

/// Why a tick failed. The status is left as it was unless the error says otherwise; call again
/// (with backoff) after re-observing.
#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// Reading the Rollout failed.
    #[error("reading the Rollout: {0}")]
    Load(#[source] AdapterError),
    /// Observing the Rollout's objects failed.
    #[error("observing {what}: {source}")]
    Observe {
        /// What was being listed.
        what: &'static str,
        /// The adapter's error.
        #[source]
        source: AdapterError,
    },
    /// An action failed. For a ReplicaSet create or scale the status records a `ReplicaFailure`
    /// condition with the server's reason (and nothing else advanced).
    #[error("{action}: {source}")]
    Action {
        /// The action's kind, e.g. `ScaleReplicaSet`.
        action: &'static str,
        /// The adapter's error.
        #[source]
        source: AdapterError,
    },
    /// The machine asked for a traffic weight and this driver has no router.
    #[error("SetTrafficWeight: the Rollout routes traffic but the driver has no traffic router for it")]
    NoRouter,
    /// Writing the status failed.
    #[error("writing the status: {0}")]
    Persist(#[source] AdapterError),
}

/// What one tick did.
#[derive(Debug, Clone, PartialEq)]
pub struct Outcome {
    /// The core's decision; `decision.status` is the status now stored.
    pub decision: Decision,
    /// Whether the status was written.
    pub status_written: bool,
    /// Writes made (actions that changed something, plus the status).
    pub writes: usize,
    /// Events the sink refused (logged; they never fail a tick).
    pub events_failed: usize,
    /// Phase before the tick (`None` when the Rollout is gone or had none).
    pub phase_before: Option<RolloutPhase>,
    /// Phase after the tick.
    pub phase_after: Option<RolloutPhase>,
    /// Dry run ([`RolloutDriver::with_dry_run`] or the `rollout.io/dry-run` annotation): the
    /// actions decided but not carried out (`decision.actions` then holds only the events emitted).
    pub withheld: Option<Vec<Action>>,
}

impl Outcome {
    fn nothing() -> Self {
        Outcome {
            decision: Decision {
                status: Default::default(),
                actions: Vec::new(),
                next_wake: None,
            },
            status_written: false,
            writes: 0,
            events_failed: 0,
            phase_before: None,
            phase_after: None,
            withheld: None,
        }
    }
}

/// The kind of `action`, for errors and logs.
pub fn action_kind(action: &Action) -> &'static str {
    match action {
        Action::CreateReplicaSet { .. } => "CreateReplicaSet",
        Action::CreateBaselineReplicaSet { .. } => "CreateBaselineReplicaSet",
        Action::ScaleReplicaSet { .. } => "ScaleReplicaSet",
        Action::SetScaleDownDeadline { .. } => "SetScaleDownDeadline",
        Action::SetReplicaSetRevision { .. } => "SetReplicaSetRevision",
        Action::DeleteReplicaSet { .. } => "DeleteReplicaSet",
        Action::SetServiceSelector { .. } => "SetServiceSelector",
        Action::SetTrafficWeight { .. } => "SetTrafficWeight",
        Action::SetHeaderRoute(_) => "SetHeaderRoute",
        Action::SetMirrorRoute(_) => "SetMirrorRoute",
        Action::RemoveManagedRoutes { .. } => "RemoveManagedRoutes",
        Action::CreateAnalysisRun(_) => "CreateAnalysisRun",
        Action::TerminateAnalysisRun { .. } => "TerminateAnalysisRun",
        Action::DeleteAnalysisRun { .. } => "DeleteAnalysisRun",
        Action::ScaleWorkload { .. } => "ScaleWorkload",
        Action::ProtectConfig { .. } => "ProtectConfig",
        Action::UnprotectConfig { .. } => "UnprotectConfig",
        Action::EvictPod { .. } => "EvictPod",
        Action::Event(_) => "Event",
    }
}

/// Drives one Rollout. Keep it across ticks: it caches the spec-derived values of the current
/// generation (validation, hashes), so a steady-state tick costs only the decision.
pub struct RolloutDriver {
    io: RolloutIo,
    inputs: Inputs,
    brake: Arc<Brake>,
    prepared: Option<Prepared>,
    dry_run: bool,
    policy: Arc<PolicyState>,
    /// The trigger whose rule shaped the Rollout `prepared` was computed for.
    prepared_trigger: Option<String>,
}

/// What a [`RolloutDriver`] keeps between ticks: the spec-derived values of the current
/// generation ([`Prepared`]: validation and hashes) with the trigger policy and trigger they
/// were computed under. A driver built anew for every tick (as rollout-kube builds one per
/// reconcile) carries them over with [`RolloutDriver::with_kept`] and
/// [`RolloutDriver::into_kept`], so a steady-state tick does not validate and hash the spec again.
#[derive(Debug, Clone, Default)]
pub struct Kept {
    prepared: Option<Prepared>,
    policy: Arc<PolicyState>,
    trigger: Option<String>,
}

impl Kept {
    /// The spec-derived values kept, if a tick computed them.
    pub fn prepared(&self) -> Option<&Prepared> {
        self.prepared.as_ref()
    }
}

impl std::fmt::Debug for RolloutDriver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RolloutDriver")
            .field("io", &self.io)
            .field("inputs", &self.inputs)
            .finish_non_exhaustive()
    }
}

impl RolloutDriver {
    /// A driver over `io` with default coordinator inputs.
    pub fn new(io: RolloutIo) -> Self {
        RolloutDriver {
            io,
            inputs: Inputs::default(),
            brake: Arc::default(),
            prepared: None,
            dry_run: false,
            policy: Arc::default(),
            prepared_trigger: None,
        }
    }

    /// Continues from what a previous driver of the same Rollout kept ([`Self::into_kept`]).
    /// Call it before [`Self::with_policy`]: a policy that differs from the kept one discards it.
    /// A kept [`Prepared`] of another object or generation is never used
    /// ([`Prepared::is_current`]).
    pub fn with_kept(mut self, kept: Kept) -> Self {
        self.prepared = kept.prepared;
        self.policy = kept.policy;
        self.prepared_trigger = kept.trigger;
        self
    }

    /// What the next driver of this Rollout can continue from ([`Self::with_kept`]).
    pub fn into_kept(self) -> Kept {
        Kept {
            prepared: self.prepared,
            policy: self.policy,
            trigger: self.prepared_trigger,
        }
    }

    /// Dry run for every Rollout this driver ticks (a Rollout annotated `rollout.io/dry-run:
    /// "true"` runs dry anyway): decide, record, withhold every action but events (see
    /// [`rollout_core::rollout::dry_run`]).
    pub fn with_dry_run(mut self, dry_run: bool) -> Self {
        self.dry_run = dry_run;
        self
    }

    /// Sets the coordinator inputs (hold, forced abort) passed to the core from the next tick on.
    pub fn with_inputs(mut self, inputs: Inputs) -> Self {
        self.inputs = inputs;
        self
    }

    /// Replaces the coordinator inputs.
    pub fn set_inputs(&mut self, inputs: Inputs) {
        self.inputs = inputs;
    }

    /// The cluster's fleet brake: a Rollout updating to a held image or revision is held at its
    /// step with a `FleetHold` condition ([`rollout_core::fleet::brake`]). Default: no holds.
    pub fn with_brake(mut self, brake: Arc<Brake>) -> Self {
        self.brake = brake;
        self
    }

    /// Replaces the fleet brake's holds (from the next tick on).
    pub fn set_brake(&mut self, brake: Arc<Brake>) {
        self.brake = brake;
    }

    /// The coordinator inputs with the fleet brake's hold for `ro`'s update target.
    fn tick_inputs(&self, ro: &Rollout, obs: &Observed, prepared: &Prepared) -> Inputs {
        let mut inputs = self.inputs.clone();
        brake::apply(&mut inputs, self.brake.hold_for(ro, obs, &prepared.pod_hash));
        inputs
    }

    /// The trigger policy ([`rollout_core::rollout::policy`]) applied before each decision: the
    /// effective Rollout (step profile, dry-run analysis) and its hold on failure. An invalid
    /// policy is not applied; the status carries an `InvalidPolicy` condition naming the field
    /// paths (and a warning event when it changes). Default: no policy.
    pub fn with_policy(mut self, policy: Arc<PolicyState>) -> Self {
        self.set_policy(policy);
        self
    }

    /// Replaces the trigger policy (from the next tick on).
    pub fn set_policy(&mut self, policy: Arc<PolicyState>) {
        if self.policy != policy {
            self.prepared = None;
        }
        self.policy = policy;
    }

    /// `ro` with the valid policy applied, and the hold the policy asks for.
    fn apply_policy(&mut self, ro: Arc<Rollout>) -> (Arc<Rollout>, Option<PolicyHold>) {
        let Some(p) = self.policy.valid() else {
            self.forget_prepared_unless(None);
            return (ro, None);
        };
        let applied = policy::apply(&ro, p);
        let hold = applied.hold_on_failure;
        let trigger = applied.trigger;
        let effective = match applied.rollout {
            std::borrow::Cow::Owned(effective) => Some(Arc::new(effective)),
            std::borrow::Cow::Borrowed(_) => None,
        };
        // The trigger annotation can change without a new generation: recompute then.
        self.forget_prepared_unless(trigger);
        (effective.unwrap_or(ro), hold)
    }

    fn forget_prepared_unless(&mut self, trigger: Option<String>) {
        if self.prepared_trigger != trigger {
            self.prepared = None;
            self.prepared_trigger = trigger;
        }
    }

    /// The adapters.
    pub fn io(&self) -> &RolloutIo {
        &self.io
    }

    /// Gathers the core's [`Observed`] snapshot for `ro`.
    pub async fn observe(&self, ro: &Rollout) -> Result<Observed, DriverError> {
        let observe = |what| move |source| DriverError::Observe { what, source };
        let mut observed = Observed {
            replica_sets: self
                .io
                .workloads
                .list_replica_sets(ro)
                .await
                .map_err(observe("ReplicaSets"))?,
            services: self
                .io
                .workloads
                .list_services(ro)
                .await
                .map_err(observe("Services"))?,
            analysis_runs: self.io.runs.list(ro).await.map_err(observe("AnalysisRuns"))?,
            workload: self
                .io
                .workloads
                .referenced_workload(ro)
                .await
                .map_err(observe("the referenced workload"))?,
            config: Vec::new(),
            pods: None,
        };
        // Rollback-safe config: look up what the ReplicaSets need.
        let needed = config_deps::needed(&observed.replica_sets);
        if !needed.is_empty() {
            observed.config = self
                .io
                .workloads
                .observe_config(ro, &needed)
                .await
                .map_err(observe("ConfigMaps and Secrets"))?;
        }
        // `spec.restartAt`: pods are listed only while a restart is pending.
        if restart_pending(ro) {
            observed.pods = self
                .io
                .workloads
                .list_pods(ro, &observed.replica_sets)
                .await
                .map_err(observe("pods"))?;
        }
        Ok(observed)
    }

    /// Routes one action to the adapter that performs it.
    pub async fn dispatch(&self, ro: &Rollout, action: &Action) -> Result<Applied, DriverError> {
        let failed = |source| DriverError::Action {
            action: action_kind(action),
            source,
        };
        match action {
            Action::SetTrafficWeight {
                canary_hash,
                stable_hash,
                weight,
            } => match &self.io.router {
                Some(router) => router
                    .set_weight(ro, canary_hash, stable_hash, *weight)
                    .await
                    .map_err(failed),
                None => Err(DriverError::NoRouter),
            },
            // Header and mirror routes (issue #15) go to the same router.
            Action::SetHeaderRoute(route) => match &self.io.router {
                Some(router) => router.set_header_route(ro, route).await.map_err(failed),
                None => Err(DriverError::NoRouter),
            },
            Action::SetMirrorRoute(route) => match &self.io.router {
                Some(router) => router.set_mirror_route(ro, route).await.map_err(failed),
                None => Err(DriverError::NoRouter),
            },
            Action::RemoveManagedRoutes { routes } => match &self.io.router {
                Some(router) => router.remove_managed_routes(ro, routes).await.map_err(failed),
                None => Err(DriverError::NoRouter),
            },
            Action::ProtectConfig { object, replica_set } => self
                .io
                .workloads
                .protect_config(ro, object, replica_set)
                .await
                .map_err(failed),
            Action::UnprotectConfig { object, replica_set } => self
                .io
                .workloads
                .unprotect_config(ro, object, replica_set)
                .await
                .map_err(failed),
            Action::EvictPod { name, replica_set } => self
                .io
                .workloads
                .evict_pod(ro, name, replica_set)
                .await
                .map_err(failed),
            Action::CreateAnalysisRun(req) => self.io.runs.create(ro, req).await.map_err(failed),
            Action::TerminateAnalysisRun { name } => self.io.runs.terminate(ro, name).await.map_err(failed),
            Action::DeleteAnalysisRun { name } => self.io.runs.delete(ro, name).await.map_err(failed),
            Action::Event(event) => self
                .io
                .events
                .emit(ro, event)
                .await
                .map(|()| Applied::Unchanged)
                .map_err(failed),
            other => self.io.workloads.apply(ro, other).await.map_err(failed),
        }
    }

    /// One tick at `now` (the caller's one clock read): load the Rollout, observe, decide, carry
    /// out the actions in order, persist the status.
    ///
    /// Failure policy, the same for every driver: a failed event is logged and counted, never
    /// fatal; a failed ReplicaSet create or scale stops the tick and records a `ReplicaFailure`
    /// condition on the unchanged status; any other failed action stops the tick without writing
    /// the status; an unreadable spec is recorded as `InvalidSpec` and nothing else is done.
    pub async fn tick(&mut self, now: Timestamp) -> Result<Outcome, DriverError> {
        let ro = match self.io.store.load().await.map_err(DriverError::Load)? {
            Loaded::Gone => return Ok(Outcome::nothing()),
            Loaded::Invalid {
                status,
                message,
                generation,
            } => {
                let mut after = invalid_spec(&status, &message, now);
                if let Some(g) = generation {
                    after.observed_generation = g.to_string();
                }
                let written = self
                    .io
                    .store
                    .persist(&status, &after)
                    .await
                    .map_err(DriverError::Persist)?;
                return Ok(Outcome {
                    phase_before: status.phase,
                    phase_after: after.phase,
                    status_written: written,
                    writes: usize::from(written),
                    decision: Decision {
                        status: after,
                        actions: Vec::new(),
                        next_wake: None,
                    },
                    events_failed: 0,
                    withheld: None,
                });
            }
            Loaded::Valid(ro) => ro,
        };
        let (ro, hold_on_failure) = self.apply_policy(ro);
        let obs = self.observe(&ro).await?;
        let prepared = match self.prepared.take() {
            Some(p) if p.is_current(&ro, &obs) => p,
            _ => Prepared::new(&ro, &obs),
        };
        let mut inputs = self.tick_inputs(&ro, &obs, &prepared);
        inputs.hold_on_failure = hold_on_failure;
        let mut decision = reconcile_prepared(&ro, &obs, now, &inputs, &prepared);
        if let Some(event) = policy::report(&mut decision.status, self.policy.problems(), now) {
            tracing::warn!(rollout = %ro.metadata.name, problems = %event.message, "trigger policy not applied");
            decision.actions.push(Action::Event(event));
        }
        if dry_run::requested(&ro, self.dry_run) {
            self.prepared = Some(prepared);
            return self.record_dry_run(&ro, decision, now).await;
        }

        let mut writes = 0;
        // `spec.restartAt`: a decision that evicts persists no status. If no eviction went
        // through (PodDisruptionBudgets refused them all, or the pods were gone), nothing changed:
        // decide again without the pods, as upstream's pass goes on after refused evictions.
        let evicts = |a: &Action| matches!(a, Action::EvictPod { .. });
        if decision.actions.iter().any(evicts) {
            for action in decision.actions.iter().filter(|a| evicts(a)) {
                if self.dispatch(&ro, action).await? == Applied::Written {
                    writes += 1;
                }
            }
            if writes == 0 {
                let without = Observed { pods: None, ..obs };
                let recheck = decision.next_wake;
                decision = reconcile_prepared(&ro, &without, now, &inputs, &prepared);
                if let Some(event) = policy::report(&mut decision.status, self.policy.problems(), now) {
                    decision.actions.push(Action::Event(event));
                }
                decision.next_wake = decision.next_wake.min(recheck).or(recheck);
            }
        }
        self.prepared = Some(prepared);
        let mut events_failed = 0;
        let mut failure = None;
        for action in decision.actions.iter().filter(|a| !evicts(a)) {
            match self.dispatch(&ro, action).await {
                Ok(Applied::Written) => writes += 1,
                Ok(Applied::Unchanged) => {}
                Err(e) if matches!(action, Action::Event(_)) => {
                    tracing::warn!(rollout = %ro.metadata.name, error = %e, "event not recorded");
                    events_failed += 1;
                }
                Err(e) => {
                    failure = Some((action, e));
                    break;
                }
            }
        }
        let before = &ro.status;
        let status = match &failure {
            None => replica_success(dry_run::ended(std::mem::take(&mut decision.status))),
            Some((action, DriverError::Action { source, .. })) if is_replica_action(action) => {
                let reason = match source {
                    AdapterError::Request { reason, .. } => reason.as_str(),
                    _ => "RequestFailed",
                };
                replica_failure(before, reason, &source.to_string(), now)
            }
            Some(_) => before.clone(),
        };
        let status_written = status != *before
            && self
                .io
                .store
                .persist(before, &status)
                .await
                .map_err(DriverError::Persist)?;
        if let Some((_, e)) = failure {
            return Err(e);
        }
        Ok(Outcome {
            phase_before: before.phase,
            phase_after: status.phase,
            decision: Decision { status, ..decision },
            status_written,
            writes: writes + usize::from(status_written),
            events_failed,
            withheld: None,
        })
    }

    /// The dry-run end of a tick: only events and the status go through, and only when the
    /// decision changed since the last tick ([`dry_run::withhold`]), so a steady dry run writes
    /// and emits nothing.
    async fn record_dry_run(
        &self,
        ro: &Rollout,
        decision: Decision,
        now: Timestamp,
    ) -> Result<Outcome, DriverError> {
        let before = &ro.status;
        let dry = dry_run::withhold(before, &decision, now);
        for action in &dry.actions {
            let what = dry_run::describe(action);
            if dry.changed {
                tracing::info!(rollout = %ro.metadata.name, action = %what, "dry run: withheld");
            } else {
                tracing::debug!(rollout = %ro.metadata.name, action = %what, "dry run: withheld (unchanged)");
            }
        }
        let mut events_failed = 0;
        for event in &dry.events {
            if let Err(e) = self.io.events.emit(ro, event).await {
                tracing::warn!(rollout = %ro.metadata.name, error = %e, "event not recorded");
                events_failed += 1;
            }
        }
        let status_written = dry.status != *before
            && self
                .io
                .store
                .persist(before, &dry.status)
                .await
                .map_err(DriverError::Persist)?;
        Ok(Outcome {
            phase_before: before.phase,
            phase_after: dry.status.phase,
            decision: Decision {
                status: dry.status,
                actions: dry.events.into_iter().map(Action::Event).collect(),
                next_wake: decision.next_wake,
            },
            status_written,
            writes: usize::from(status_written),
            events_failed,
            withheld: Some(dry.actions),
        })
    }
}
