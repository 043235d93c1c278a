//! The simulation's per-instant work: the driver ticks and what they are logged as, analysis
//! runs, faults, traffic, outcome.

use super::*;

impl Simulation {
    /// Reconciles at the current instant until nothing changes (without logging).
    pub(super) async fn reconcile_instant(&mut self) {
        self.reconcile_instant_logged(&mut |_| {}).await;
    }

    /// Ticks the Rollout's driver at the current instant until nothing changes, logging what each
    /// tick did (its actions, then the status), and ticks the runs after each.
    pub(super) async fn reconcile_instant_logged(&mut self, sink: &mut dyn FnMut(&LogEvent)) {
        for _ in 0..MAX_PASSES_PER_INSTANT {
            // What a workload scale-down is logged from: the replicas before the tick.
            let mut workload_replicas = self
                .io
                .world()
                .cluster
                .workload
                .as_ref()
                .map_or(0, |w| w.replicas);
            if let Some(group) = &self.group {
                self.driver.set_inputs(group.inputs(&self.name));
            }
            let (actions, status_changed) = match self.driver.tick(self.now).await {
                Ok(outcome) => {
                    self.next_wake = outcome.decision.next_wake;
                    (outcome.decision.actions, outcome.status_written)
                }
                // The in-memory adapters fail only for an object that vanished (the driver records
                // a ReplicaSet's as a ReplicaFailure); the next pass re-observes.
                Err(_) => (Vec::new(), true),
            };
            let mut changed = false;
            for action in &actions {
                match action {
                    Action::Event(e) => self.log(
                        EventKind::RolloutEvent {
                            reason: e.reason.clone(),
                            message: e.message.clone(),
                        },
                        sink,
                    ),
                    Action::CreateAnalysisRun(req) => self.log(
                        EventKind::AnalysisStarted {
                            run: req.name.clone(),
                        },
                        sink,
                    ),
                    Action::CreateReplicaSet { name, replicas, .. }
                    | Action::CreateBaselineReplicaSet { name, replicas, .. }
                        if *replicas > 0 =>
                    {
                        self.log(
                            EventKind::Scale {
                                replica_set: name.clone(),
                                from: 0,
                                to: *replicas,
                            },
                            sink,
                        )
                    }
                    Action::ScaleReplicaSet { name, from, to } => self.log(
                        EventKind::Scale {
                            replica_set: name.clone(),
                            from: *from,
                            to: *to,
                        },
                        sink,
                    ),
                    Action::ScaleWorkload { kind, name, replicas } => {
                        let scale = EventKind::Scale {
                            replica_set: format!("{}/{name}", kind.to_ascii_lowercase()),
                            from: workload_replicas,
                            to: *replicas,
                        };
                        if self.io.world().cluster.workload.is_some() {
                            workload_replicas = *replicas;
                        }
                        // A migration drains the workload while the first revision deploys, before
                        // recording starts: keep those for the start of the log.
                        if self.recording {
                            self.log(scale, sink);
                        } else {
                            self.before_start.push(scale);
                        }
                    }
                    _ => {}
                }
                changed |= !matches!(action, Action::Event(_));
            }
            self.log_status(sink);
            let runs_changed = self.advance_runs(sink).await;
            if !changed && !runs_changed && !status_changed {
                break;
            }
        }
    }

    fn current_weight(&self) -> i32 {
        let w = self.io.world();
        w.rollout
            .status
            .canary
            .weights
            .as_ref()
            .map(|w| w.canary.weight)
            .or_else(|| w.cluster.router.as_ref().map(|r| r.weight))
            .unwrap_or(0)
    }

    fn log_status(&mut self, sink: &mut dyn FnMut(&LogEvent)) {
        let ro = self.io.rollout();
        let st = &ro.status;
        if self.recording
            && self.canary_hash.is_empty()
            && !st.current_pod_hash.is_empty()
            && st.current_pod_hash != self.stable_hash
        {
            self.canary_hash = st.current_pod_hash.clone();
            let hash = self.canary_hash.clone();
            self.log(EventKind::Update { hash }, sink);
        }
        let step = st.current_step_index;
        if step != self.last_step {
            self.last_step = step;
            if let Some(index) = step.filter(|_| !st.abort) {
                let idx = usize::try_from(index).unwrap_or(usize::MAX);
                let steps = ro.steps();
                let count = i32::try_from(steps.len()).unwrap_or(i32::MAX);
                let desc = steps.get(idx).map(|s| s.describe()).unwrap_or_default();
                self.log(
                    EventKind::Step {
                        index,
                        count,
                        step: desc,
                    },
                    sink,
                );
            }
        }
        let weight = self.current_weight();
        if Some(weight) != self.last_weight {
            self.last_weight = Some(weight);
            self.io.world().weights.push(WeightPoint {
                time_ms: self.now.as_millisecond(),
                canary_weight: u32::try_from(weight.clamp(0, 100)).unwrap_or(0),
            });
            if self.recording {
                self.log(EventKind::Weight { weight }, sink);
            }
        }
        if self.recording && !self.canary_hash.is_empty() {
            let counts = {
                let w = self.io.world();
                let of = |h: &str| {
                    w.cluster
                        .by_hash(h)
                        .map_or((0, 0), |r| (r.replicas, r.ready(self.now)))
                };
                let (s, sr) = of(&self.stable_hash);
                let (c, cr) = of(&self.canary_hash);
                (s, sr, c, cr)
            };
            if Some(counts) != self.last_replicas {
                self.last_replicas = Some(counts);
                let (stable, stable_ready, canary, canary_ready) = counts;
                self.log(
                    EventKind::Replicas {
                        stable,
                        stable_ready,
                        canary,
                        canary_ready,
                    },
                    sink,
                );
            }
        }
        let phase = st.phase;
        if phase != self.last_phase {
            self.last_phase = phase;
            let message = st.message.clone();
            self.log(
                EventKind::Phase {
                    phase: self.phase_name(),
                    message,
                },
                sink,
            );
        }
    }

    /// Ticks every run (again while a tick took measurements), logging its measurements and its
    /// completion. Returns whether any run changed.
    async fn advance_runs(&mut self, sink: &mut dyn FnMut(&LogEvent)) -> bool {
        let mut any = false;
        let count = self.io.world().runs.len();
        for i in 0..count {
            for _ in 0..MAX_PASSES_PER_INSTANT {
                let Some(run) = self.io.world().runs.get(i).map(|r| r.run.clone()) else {
                    break;
                };
                let completed_before = run.status.as_ref().is_some_and(|s| s.phase.is_completed());
                // The in-memory run store fails only for a run that vanished.
                let Ok(outcome) = self.run_driver.tick(&run, self.now).await else {
                    break;
                };
                if let Some(state) = self.io.world().runs.get_mut(i) {
                    state.next_wake = outcome.next_wake;
                }
                any |= outcome.status_written;
                let name = &run.metadata.name;
                for (kind, result) in &outcome.measurements {
                    if *kind == TaskKind::Terminate {
                        continue;
                    }
                    self.measurements += 1;
                    if result.measurement.phase.is_completed() {
                        self.log(
                            EventKind::Measurement {
                                run: name.clone(),
                                metric: result.metric.clone(),
                                phase: format!("{:?}", result.measurement.phase),
                                value: result.measurement.value.clone(),
                                message: crate::provider::message_with_hint(&result.measurement),
                                code: result.measurement.metadata.get(metadata_keys::CODE).cloned(),
                            },
                            sink,
                        );
                    }
                }
                if outcome.status.phase.is_completed() && !completed_before {
                    self.log(
                        EventKind::AnalysisCompleted {
                            run: name.clone(),
                            phase: format!("{:?}", outcome.status.phase),
                            message: outcome.status.message.clone(),
                        },
                        sink,
                    );
                }
                if outcome.measurements.is_empty() {
                    break;
                }
            }
        }
        any
    }

    /// Starts the faults that are due.
    pub(super) fn fire_faults(&mut self, sink: &mut dyn FnMut(&LogEvent)) {
        for i in 0..self.fired.len() {
            if self.fired.get(i).copied().unwrap_or(true) {
                continue;
            }
            let Ok((when, effect)) = self.scenario.fault(i) else {
                continue;
            };
            let due = match when {
                When::Time(d) => self.now >= plus(self.start, d),
                When::Step(s) => self
                    .io
                    .world()
                    .rollout
                    .status
                    .current_step_index
                    .is_some_and(|c| c >= s),
                When::CanaryWeight(w) => self.current_weight() >= w,
            };
            // A crash loop needs the canary's ReplicaSet; wait until the update created it.
            if !due || (effect == Effect::CanaryCrashLoop && self.canary_hash.is_empty()) {
                continue;
            }
            if let Some(f) = self.fired.get_mut(i) {
                *f = true;
            }
            let description = match effect {
                Effect::CanaryErrorRate(r) => {
                    self.canary.error_rate = r;
                    format!("canary error rate is now {:.1}%", r * 100.0)
                }
                Effect::StableErrorRate(r) => {
                    self.stable.error_rate = r;
                    format!("stable error rate is now {:.1}%", r * 100.0)
                }
                Effect::CanaryLatency(ms) => {
                    let scale = ms / self.canary.latency_p50_ms;
                    self.canary.latency_p50_ms = ms;
                    self.canary.latency_p99_ms *= scale;
                    format!("canary median latency is now {ms} ms")
                }
                Effect::MetricsUnreachable(d) => {
                    let end = plus(self.now, d);
                    if let Ok(mut s) = self.source.lock() {
                        s.outages.push((self.now, end));
                    }
                    format!(
                        "metric source unreachable for {}",
                        crate::log::human_duration(d.as_secs_f64())
                    )
                }
                Effect::CanaryCrashLoop => {
                    let hash = self.canary_hash.clone();
                    let mut w = self.io.world();
                    w.cluster.crash_looping.push(hash.clone());
                    for rs in w.cluster.replica_sets.iter_mut().filter(|r| r.hash == hash) {
                        for group in &mut rs.pods {
                            group.ready_at = None;
                        }
                    }
                    "canary pods crash-loop".to_string()
                }
                Effect::DeleteStableConfig => {
                    let name = self.scenario.config.as_ref().map(|c| c.stable_secret.clone());
                    let name = name.unwrap_or_default();
                    if let Some(store) = &mut self.io.world().cluster.config {
                        store.delete(&ConfigRef::secret(name.clone()));
                    }
                    format!("Secret {name:?} of the stable revision deleted (as a release tool does)")
                }
            };
            self.log(EventKind::Fault { description }, sink);
        }
    }

    /// A timeline point of the current state, without traffic (used at the end).
    pub(super) fn snapshot(&mut self) {
        let split = {
            let w = self.io.world();
            w.cluster.traffic_split(self.now, w.rollout.max_traffic_weight())
        };
        self.push_point(&split, &BTreeMap::new());
    }

    fn push_point(&mut self, split: &[(String, f64)], served: &BTreeMap<String, crate::model::Served>) {
        let mut versions = BTreeMap::new();
        let replica_sets = self.io.world().cluster.replica_sets.clone();
        for rs in &replica_sets {
            let s = served.get(&rs.hash).copied().unwrap_or_default();
            versions.insert(
                rs.hash.clone(),
                VersionPoint {
                    replicas: rs.replicas,
                    ready: rs.ready(self.now),
                    traffic: split.iter().find(|(h, _)| h == &rs.hash).map_or(0.0, |(_, f)| *f),
                    requests: s.requests,
                    errors: s.errors,
                },
            );
        }
        self.timeline.push(TimelinePoint {
            t: self.now.duration_since(self.start).as_secs_f64(),
            weight: self.current_weight(),
            step: self.io.world().rollout.status.current_step_index,
            versions,
        });
    }

    /// One tick of traffic into the metric source, and a timeline point.
    pub(super) fn traffic_tick(&mut self) {
        let split = {
            let w = self.io.world();
            w.cluster.traffic_split(self.now, w.rollout.max_traffic_weight())
        };
        let shares: Vec<Share> = {
            let world = self.io.world();
            self.pod_seconds.add(&world.cluster.replica_sets, self.tick);
            split
                .iter()
                .map(|(hash, fraction)| {
                    let version = if !self.canary_hash.is_empty() && hash == &self.canary_hash {
                        self.canary
                    } else {
                        self.stable
                    };
                    let rs = world.cluster.by_hash(hash);
                    let drift = self.scenario.fresh_pod_extra_error_rate;
                    Share {
                        hash: hash.clone(),
                        fraction: *fraction,
                        behaviour: crate::model::drifted(version, rs, self.start, self.now, drift),
                    }
                })
                .collect()
        };
        let served = match self.source.lock() {
            Ok(mut source) => {
                self.model
                    .tick(self.now.as_millisecond(), self.tick, &shares, &mut source.store)
            }
            Err(_) => BTreeMap::new(),
        };
        self.push_point(&split, &served);
    }

    /// `kubectl argo rollouts promote`.
    pub(super) fn promote(&mut self) {
        self.io.promote();
    }

    /// The latest run that ended Failed, Error or Inconclusive, with its message and the verdict
    /// codes of the judges that decided it, e.g. `analysis r-1 Inconclusive (judge:
    /// environment-unhealthy): Metric "error-ratio" assessed Inconclusive due to …`.
    fn failed_analysis(&self) -> Option<String> {
        self.io.world().runs.iter().rev().find_map(|r| {
            let st = r.run.status.as_ref()?;
            matches!(
                st.phase,
                AnalysisPhase::Failed | AnalysisPhase::Error | AnalysisPhase::Inconclusive
            )
            .then(|| {
                let codes: Vec<&str> = st
                    .metric_results
                    .iter()
                    .filter(|m| m.phase == st.phase)
                    .filter_map(|m| m.measurements.last()?.metadata.get(metadata_keys::CODE))
                    .map(String::as_str)
                    .collect();
                let judged = if codes.is_empty() {
                    String::new()
                } else {
                    format!(" (judge: {})", codes.join(", "))
                };
                format!(
                    "analysis {} {:?}{judged}: {}",
                    r.run.metadata.name.clone(),
                    st.phase,
                    st.message
                )
            })
        })
    }

    /// The outcome, once there is one.
    pub(super) fn outcome(&mut self) -> Result<Option<(Outcome, String)>, SimError> {
        let ro = self.io.rollout();
        // The steps the controller runs: the trigger policy's profile, if any (checked when the
        // simulation started).
        let profiled = self.scenario.policy.as_ref().and_then(|p| {
            match rollout_core::rollout::policy::effective(&ro, p) {
                std::borrow::Cow::Owned(effective) => Some(std::sync::Arc::new(effective)),
                std::borrow::Cow::Borrowed(_) => None,
            }
        });
        let ro = profiled.unwrap_or(ro);
        let st = &ro.status;
        if st.abort {
            let stable_ready = self
                .io
                .world()
                .cluster
                .by_hash(&st.stable_rs)
                .is_some_and(|r| r.replicas > 0 && r.ready(self.now) >= r.replicas);
            let no_canary_traffic = self
                .io
                .world()
                .cluster
                .router
                .as_ref()
                .is_none_or(|r| r.weight == 0);
            if stable_ready && no_canary_traffic {
                let why = self.failed_analysis().unwrap_or_else(|| st.message.clone());
                return Ok(Some((
                    Outcome::Aborted,
                    format!("rolled back to the stable version: {why}"),
                )));
            }
            // Rollback-safe config: the stable revision's config is gone, so the machine holds
            // the rollback and the canary keeps serving.
            // Reported once the hold has outlasted any abort scale-down delay.
            if let Some(held) = st.condition(ConditionType::Degraded).filter(|c| {
                c.reason == REASON_ROLLBACK_HELD
                    && self.now >= plus(c.last_transition_time, HOLD_REPORTED_AFTER)
            }) {
                let why = self.failed_analysis().unwrap_or_else(|| st.message.clone());
                return Ok(Some((
                    Outcome::Aborted,
                    format!("{}; the abort: {why}", held.message),
                )));
            }
            return Ok(None);
        }
        match st.phase {
            Some(RolloutPhase::Healthy)
                if !self.canary_hash.is_empty() && st.stable_rs == self.canary_hash =>
            {
                let runs = self
                    .io
                    .world()
                    .runs
                    .iter()
                    .filter(|r| {
                        r.run
                            .status
                            .as_ref()
                            .is_some_and(|s| s.phase == AnalysisPhase::Successful)
                    })
                    .count();
                let done = match ro.steps().len() {
                    _ if ro.blue_green().is_some() => {
                        "the active Service switched to the new version".to_string()
                    }
                    0 => "the canary had no steps".to_string(),
                    n => format!("all {n} steps completed"),
                };
                Ok(Some((
                    Outcome::Promoted,
                    format!("{done}; {runs} analysis run(s) successful"),
                )))
            }
            Some(RolloutPhase::Degraded) => Ok(Some((Outcome::Degraded, st.message.clone()))),
            Some(RolloutPhase::Paused) => {
                if st.pause_condition(PauseReason::PolicyHold).is_some() {
                    let why = self.failed_analysis().unwrap_or_else(|| st.message.clone());
                    let trigger = st
                        .why
                        .iter()
                        .find_map(|w| w.policy.as_ref())
                        .map_or_else(String::new, |p| format!(" (trigger {})", p.trigger));
                    return Ok(Some((
                        Outcome::Paused,
                        format!(
                            "{}, not rolled back: the policy{trigger} holds a failed analysis for a \
                             person: {why}; waiting for promote or abort",
                            PauseReason::PolicyHold
                        ),
                    )));
                }
                if st.pause_condition(PauseReason::InconclusiveAnalysisRun).is_some() {
                    let why = self.failed_analysis().unwrap_or_else(|| st.message.clone());
                    return Ok(Some((
                        Outcome::Paused,
                        format!(
                            "{}, not rolled back: {why}; waiting for promote or abort",
                            PauseReason::InconclusiveAnalysisRun
                        ),
                    )));
                }
                let indefinite = st
                    .current_step_index
                    .and_then(|i| usize::try_from(i).ok())
                    .and_then(|i| ro.steps().get(i))
                    .and_then(|s| s.pause.as_ref())
                    .is_some_and(|p| p.duration_seconds().is_none());
                let waiting_for_person = (st.pause_condition(PauseReason::CanaryPauseStep).is_some()
                    && indefinite)
                    || st.pause_condition(PauseReason::BlueGreenPause).is_some();
                if waiting_for_person {
                    match self.scenario.promote_paused_after()? {
                        Some(d) => {
                            if self.promote_at.is_none() {
                                self.promote_at = Some(plus(self.now, d));
                            }
                            Ok(None)
                        }
                        None => Ok(Some((
                            Outcome::Paused,
                            "paused until someone runs promote (indefinite pause step or blue-green pause); \
                             simulate that with --promote-after DURATION (scenario: promotePausedAfter)"
                                .to_string(),
                        ))),
                    }
                } else {
                    Ok(None)
                }
            }
            _ => Ok(None),
        }
    }
}
