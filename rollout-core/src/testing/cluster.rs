//! A tiny in-memory cluster that applies [`Decision`]s, for driving whole lifecycles in tests
//! (and as a starting point for simulators).

use crate::analysis::AnalysisPhase;
use crate::common::Timestamp;
use crate::rollout::{
    Action, Decision, Event, Inputs, Observed, ObservedAnalysisRun, ObservedReplicaSet, ObservedService,
    Rollout, reconcile,
};

/// An in-memory cluster holding one Rollout and the objects it owns.
#[derive(Debug, Clone)]
pub struct FakeCluster {
    /// The Rollout (spec + persisted status).
    pub rollout: Rollout,
    /// Owned/referenced objects.
    pub observed: Observed,
    /// Current time.
    pub now: Timestamp,
    /// Events emitted so far.
    pub events: Vec<Event>,
    /// Every action applied so far.
    pub log: Vec<Action>,
    /// When true, new pods become ready on the next [`FakeCluster::advance`]; when false, only
    /// when a test calls [`FakeCluster::make_ready`].
    pub auto_ready: bool,
    /// Coordinator inputs passed on each tick.
    pub inputs: Inputs,
}

impl FakeCluster {
    /// A cluster with `rollout` and nothing else; services named in the strategy exist
    /// without a hash selector.
    pub fn new(mut rollout: Rollout, now: Timestamp) -> Self {
        if rollout.metadata.generation.is_none() {
            rollout.metadata.generation = Some(1);
        }
        let services = rollout
            .service_names()
            .map(|name| ObservedService {
                name: name.to_string(),
                selector_hash: None,
            })
            .collect();
        FakeCluster {
            rollout,
            observed: Observed {
                services,
                ..Default::default()
            },
            now,
            events: Vec::new(),
            log: Vec::new(),
            auto_ready: true,
            inputs: Inputs::default(),
        }
    }

    /// Runs the machine once and applies its decision; returns the decision.
    pub fn tick(&mut self) -> Decision {
        let d = reconcile(&self.rollout, &self.observed, self.now, &self.inputs);
        self.apply(&d);
        d
    }

    /// Applies a decision: actions, then the status.
    pub fn apply(&mut self, d: &Decision) {
        for a in &d.actions {
            self.apply_action(a);
        }
        self.rollout.status = d.status.clone();
    }

    fn rs_mut(&mut self, name: &str) -> Option<&mut ObservedReplicaSet> {
        self.observed.replica_sets.iter_mut().find(|r| r.name == name)
    }

    /// Carries out one action on the fake objects (and logs it), as a driver's adapters would.
    pub fn apply_action(&mut self, a: &Action) {
        self.log.push(a.clone());
        match a {
            Action::CreateReplicaSet {
                name,
                pod_template_hash,
                revision,
                replicas,
                template,
            } => {
                self.observed.replica_sets.push(ObservedReplicaSet {
                    name: name.clone(),
                    pod_template_hash: pod_template_hash.clone(),
                    revision: *revision,
                    created_at: self.now,
                    replicas: *replicas,
                    status_replicas: *replicas,
                    ready: 0,
                    available: 0,
                    scale_down_deadline: None,
                    template: Some(template.clone()),
                    needs: crate::rollout::config_deps::required(template),
                });
            }
            Action::CreateBaselineReplicaSet {
                name,
                source,
                pod_template_hash,
                replicas,
                ..
            } => {
                let source = self.observed.replica_sets.iter().find(|r| &r.name == source);
                let revision = source.map_or(0, |r| r.revision);
                self.observed.replica_sets.push(ObservedReplicaSet {
                    name: name.clone(),
                    pod_template_hash: pod_template_hash.clone(),
                    revision,
                    created_at: self.now,
                    replicas: *replicas,
                    status_replicas: *replicas,
                    ready: 0,
                    available: 0,
                    scale_down_deadline: None,
                    template: None,
                    needs: source.map(|r| r.needs.clone()).unwrap_or_default(),
                });
            }
            Action::ScaleReplicaSet { name, to, .. } => {
                if let Some(rs) = self.rs_mut(name) {
                    rs.replicas = *to;
                    rs.status_replicas = *to;
                    rs.ready = rs.ready.min(*to);
                    rs.available = rs.available.min(*to);
                }
            }
            Action::SetScaleDownDeadline { name, deadline } => {
                let d = *deadline;
                if let Some(rs) = self.rs_mut(name) {
                    rs.scale_down_deadline = d;
                }
            }
            Action::SetReplicaSetRevision { name, revision } => {
                let r = *revision;
                if let Some(rs) = self.rs_mut(name) {
                    rs.revision = r;
                }
            }
            Action::DeleteReplicaSet { name } => {
                self.observed.replica_sets.retain(|r| &r.name != name);
            }
            Action::SetServiceSelector {
                service,
                pod_template_hash,
            } => match self.observed.services.iter_mut().find(|s| &s.name == service) {
                Some(s) => s.selector_hash = Some(pod_template_hash.clone()),
                None => self.observed.services.push(ObservedService {
                    name: service.clone(),
                    selector_hash: Some(pod_template_hash.clone()),
                }),
            },
            // Routers are not modelled: the log records what was asked (issue #15 routes too).
            Action::SetTrafficWeight { .. }
            | Action::SetHeaderRoute(_)
            | Action::SetMirrorRoute(_)
            | Action::RemoveManagedRoutes { .. } => {}
            Action::CreateAnalysisRun(req) => {
                self.observed.analysis_runs.push(ObservedAnalysisRun {
                    name: req.name.clone(),
                    kind: req.kind,
                    pod_template_hash: req.pod_template_hash.clone(),
                    step_index: req.step_index,
                    phase: AnalysisPhase::Running,
                    message: String::new(),
                    terminating: false,
                    created_at: Some(self.now),
                    decided_by: None,
                });
            }
            Action::TerminateAnalysisRun { name } => {
                if let Some(r) = self.observed.analysis_runs.iter_mut().find(|r| &r.name == name) {
                    r.terminating = true;
                    if !r.phase.is_completed() {
                        r.phase = AnalysisPhase::Successful;
                    }
                }
            }
            Action::DeleteAnalysisRun { name } => {
                self.observed.analysis_runs.retain(|r| &r.name != name);
            }
            Action::ScaleWorkload { replicas, .. } => {
                if let Some(w) = self.observed.workload.as_mut() {
                    w.replicas = *replicas;
                }
            }
            Action::ProtectConfig { object, replica_set } => {
                if let Some(c) = self.observed.config.iter_mut().find(|c| &c.object == object)
                    && !c.protected_by.contains(replica_set)
                {
                    c.protected_by.push(replica_set.clone());
                }
            }
            Action::UnprotectConfig { object, replica_set } => {
                if let Some(c) = self.observed.config.iter_mut().find(|c| &c.object == object) {
                    c.protected_by.retain(|r| r != replica_set);
                }
            }
            // Pods are not modelled beyond the list: the evicted pod is gone (no replacement).
            Action::EvictPod { name, .. } => {
                if let Some(pods) = self.observed.pods.as_mut() {
                    pods.retain(|p| &p.name != name);
                }
            }
            Action::Event(e) => self.events.push(e.clone()),
        }
    }

    /// Makes every pod of every RS ready and available.
    pub fn make_ready(&mut self) {
        for rs in &mut self.observed.replica_sets {
            rs.status_replicas = rs.replicas;
            rs.ready = rs.replicas;
            rs.available = rs.replicas;
        }
    }

    /// Moves the clock forward by `secs` and, with `auto_ready`, makes pods ready.
    pub fn advance(&mut self, secs: i64) {
        self.now = crate::rollout::machine::plus_secs_pub(self.now, secs);
        if self.auto_ready {
            self.make_ready();
        }
    }

    /// Ticks until a decision has no actions other than events and leaves the status unchanged,
    /// jumping the clock to `next_wake` when idle and `follow_wakeups` is set. Returns the
    /// number of ticks run (at most `max_ticks`).
    pub fn settle(&mut self, max_ticks: usize, follow_wakeups: bool) -> usize {
        for i in 0..max_ticks {
            let before = self.rollout.status.clone();
            let d = self.tick();
            let observed = self.observed.clone();
            self.advance(1);
            let quiet = d.actions.iter().all(|a| matches!(a, Action::Event(_)))
                && before == self.rollout.status
                && observed == self.observed;
            if quiet {
                match d.next_wake {
                    Some(t) if follow_wakeups && t > self.now => {
                        let secs = (t.as_second() - self.now.as_second()).max(1);
                        self.advance(secs);
                    }
                    Some(t) if follow_wakeups && t <= self.now => {}
                    _ => return i + 1,
                }
            }
        }
        max_ticks
    }

    /// `kubectl argo rollouts promote`.
    pub fn promote(&mut self) {
        self.rollout.spec.paused = false;
        let bg = self.rollout.blue_green().is_some();
        let n = self.rollout.steps().len() as i32;
        let st = &mut self.rollout.status;
        if st.pause_conditions.is_empty() && !bg {
            let idx = st.current_step_index.unwrap_or(0);
            if idx < n {
                st.current_step_index = Some(idx + 1);
            }
        }
        st.pause_conditions.clear();
    }

    /// Promotes only when paused by a pause step (indefinite pauses), like an operator who
    /// resumes every manual gate.
    pub fn promote_if_paused(&mut self) {
        if self.rollout.status.controller_pause && !self.rollout.status.pause_conditions.is_empty() {
            let timed = self
                .rollout
                .steps()
                .get(usize::try_from(self.rollout.status.current_step_index.unwrap_or(0)).unwrap_or(0))
                .and_then(|s| s.pause.as_ref())
                .is_some_and(|p| p.duration.is_some());
            if !timed {
                self.promote();
            }
        }
    }

    /// `promote --full`.
    pub fn promote_full(&mut self) {
        let st = &mut self.rollout.status;
        if st.current_pod_hash != st.stable_rs {
            st.promote_full = true;
        }
        st.pause_conditions.clear();
        self.rollout.spec.paused = false;
    }

    /// `abort`.
    pub fn abort(&mut self) {
        self.rollout.status.abort = true;
    }

    /// `retry`.
    pub fn retry(&mut self) {
        self.rollout.status.abort = false;
    }

    /// Changes the pod template (a new revision): sets the first container's image.
    pub fn set_image(&mut self, image: &str) {
        if let Some(t) = self.rollout.spec.template.as_mut()
            && let Some(c) = t.pointer_mut("/spec/containers/0")
            && let Some(obj) = c.as_object_mut()
        {
            obj.insert("image".into(), serde_json::Value::String(image.into()));
        }
        self.rollout.metadata.generation = Some(self.rollout.metadata.generation.unwrap_or(1) + 1);
    }

    /// Sets the phase of every run whose name starts with `prefix`.
    pub fn set_run_phase(&mut self, prefix: &str, phase: AnalysisPhase, message: &str) {
        for r in &mut self.observed.analysis_runs {
            if r.name.starts_with(prefix) && !r.terminating {
                r.phase = phase;
                r.message = message.to_string();
            }
        }
    }

    /// The RS with this pod-template hash.
    pub fn rs(&self, hash: &str) -> Option<&ObservedReplicaSet> {
        self.observed
            .replica_sets
            .iter()
            .find(|r| r.pod_template_hash == hash)
    }

    /// `(spec.replicas)` of the stable and current RSs.
    pub fn stable_and_canary(&self) -> (i32, i32) {
        let st = &self.rollout.status;
        let stable = self.rs(&st.stable_rs).map_or(0, |r| r.replicas);
        let canary = if st.current_pod_hash == st.stable_rs {
            0
        } else {
            self.rs(&st.current_pod_hash).map_or(0, |r| r.replicas)
        };
        (stable, canary)
    }
}
