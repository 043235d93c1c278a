//! The rollout machine: one pure entry point, [`reconcile`].
//!
//! Level-triggered and idempotent: the same inputs give the same [`Decision`]; applying the
//! actions and calling again makes progress; at most one step advance per call; within one
//! call at most one of stable/new/old ReplicaSets is scaled (Go's early-return ordering).

mod analysis;
mod baseline;
mod bluegreen;
mod canary;
mod causes;
mod conditions;
mod config;
mod fleet_hold;
mod group;
pub mod history;
mod pause;
mod prepared;
mod report;
mod restart;
mod reuse;
mod routes;
mod services;
mod workload;

use std::borrow::Cow;

pub(crate) use reuse::displays_as;
use reuse::{Others, set_displayed};

use serde_json::Value;

use super::decision::{Action, Decision, Event, EventType};
use super::hash::{self, POD_TEMPLATE_HASH_LABEL};
use super::observed::{Inputs, Observed, ObservedReplicaSet};
use super::spec::Rollout;
use super::status::{ConditionStatus, ConditionType, PauseReason, RolloutStatus};
use super::why::{self, Why};
use crate::common::Timestamp;

pub use super::phase::calculate_phase;
pub use baseline::{
    ARM_BASELINE, ARM_LABEL, BASELINE_HASH_SUFFIX, BASELINE_HASH_VALUE, arm_template, baseline_hash,
    is_baseline_hash, validate as validate_baseline,
};
pub use config::CONFIG_RECHECK_SECS;
pub use prepared::Prepared;
pub use restart::{RESTART_CHECK_SECS, RestartPlan, max_unavailable, restart_pending, restart_plan};

static NULL: Value = Value::Null;

/// The sum of replica counts, saturating at `i32::MAX` (several ReplicaSets of a Rollout with
/// `replicas: 2147483647` exceed it).
pub(crate) fn saturating_sum(counts: impl Iterator<Item = i32>) -> i32 {
    counts.fold(0i32, i32::saturating_add)
}

/// Requeue delay after an invalid spec, as upstream.
const INVALID_SPEC_REQUEUE_SECS: i64 = 20;

/// Reconciles one Rollout: the pure core of the controller.
///
/// Give it the Rollout (spec + last persisted status), what the driver observed, `now` and the
/// coordinator [`Inputs`]; apply [`Decision::actions`] in order, persist
/// [`Decision::status`], and call again (at the latest at [`Decision::next_wake`]).
///
/// ```
/// use rollout_core::rollout::{Rollout, machine::reconcile, Observed, Inputs, Action};
/// let ro: Rollout = serde_json::from_value(serde_json::json!({
///   "metadata": {"name": "demo", "generation": 1},
///   "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "demo"}},
///     "template": {"metadata": {"labels": {"app": "demo"}},
///                  "spec": {"containers": [{"name": "c", "image": "demo:1"}]}},
///     "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}}
/// })).unwrap();
/// let now = "2024-01-01T00:00:00Z".parse().unwrap();
/// let d = reconcile(&ro, &Observed::default(), now, &Inputs::default());
/// // First tick ever: create the first ReplicaSet at full size.
/// assert!(matches!(&d.actions[0], Action::CreateReplicaSet { replicas: 3, revision: 1, .. }));
/// ```
pub fn reconcile(ro: &Rollout, obs: &Observed, now: Timestamp, inputs: &Inputs) -> Decision {
    reconcile_prepared(ro, obs, now, inputs, &Prepared::new(ro, obs))
}

/// [`reconcile`] with spec-derived values computed earlier ([`Prepared`]); if `prepared` is not
/// current for `ro` (another generation), it is recomputed, so the result is always the same
/// as [`reconcile`]'s.
pub fn reconcile_prepared(
    ro: &Rollout,
    obs: &Observed,
    now: Timestamp,
    inputs: &Inputs,
    prepared: &Prepared,
) -> Decision {
    let mut out = Decision {
        status: RolloutStatus::default(),
        actions: Vec::new(),
        next_wake: None,
    };
    reconcile_into(ro, obs, now, inputs, prepared, &mut out);
    out
}

/// [`reconcile_prepared`] writing into `out`, whose previous contents are replaced: a caller that
/// hands back an earlier decision (e.g. the status it replaced when persisting, swapped in)
/// has its strings and vectors reused, so a pass that changes nothing allocates nothing.
/// `out` ends equal to what [`reconcile_prepared`] returns.
pub fn reconcile_into(
    ro: &Rollout,
    obs: &Observed,
    now: Timestamp,
    inputs: &Inputs,
    prepared: &Prepared,
    out: &mut Decision,
) {
    let fresh;
    let prepared = if prepared.is_current(ro, obs) {
        prepared
    } else {
        fresh = Prepared::new(ro, obs);
        &fresh
    };
    // Baseline arms (our extension) are not the Rollout's versions: the strategies never see them.
    let without_arms = baseline::without_arms(obs);
    let mut ctx = Ctx::new(ro, without_arms.as_ref().unwrap_or(obs), now, inputs, out);
    ctx.baseline_arms = baseline::arms(obs);
    ctx.run(prepared);
    ctx.finish(out);
}

/// Shared per-tick state.
pub(crate) struct Ctx<'a> {
    pub ro: &'a Rollout,
    pub obs: &'a Observed,
    pub now: Timestamp,
    pub inputs: &'a Inputs,
    pub prev: &'a RolloutStatus,
    pub st: RolloutStatus,
    pub actions: Vec<Action>,
    pub next_wake: Option<Timestamp>,
    pub template: &'a Value,
    pub step_hash: String,
    /// The step hash differs from the persisted `currentStepHash`.
    pub step_changed: bool,
    /// The pod-template hash (the prepared one unless a collision moved it).
    pub hash: Cow<'a, str>,
    pub new_rs: Option<&'a ObservedReplicaSet>,
    pub stable_rs: Option<&'a ObservedReplicaSet>,
    pub others: Others<'a>,
    /// Baseline-arm ReplicaSets (left out of `obs`; see [`baseline`]).
    pub baseline_arms: Vec<&'a ObservedReplicaSet>,
    pub add_pause: Vec<PauseReason>,
    pub remove_pause: Vec<PauseReason>,
    pub clear_pause: bool,
    pub add_abort: Option<String>,
    /// The cause of the abort requested this tick (with `add_abort`).
    pub abort_why: Option<Why>,
    /// Causes found this tick, merged into `status.why` by `finish`.
    pub found_whys: Vec<why::Found>,
    pub remove_abort: bool,
    /// Set when the pass persisted status only (invalid spec, paused-condition patch).
    pub status_only: bool,
    /// The restarter evicted pods: the pass persists no status ([`restart`]).
    pub evicted: bool,
    /// The canary's last desired counts and what they were computed from (the replica math
    /// runs twice a pass with the same inputs: scaling, then the step's completion).
    pub desired: std::cell::Cell<Option<(canary::DesiredInputs, (i32, i32))>>,
}

impl<'a> Ctx<'a> {
    /// A pass over `ro`, its output status and actions built in `out`'s buffers.
    fn new(
        ro: &'a Rollout,
        obs: &'a Observed,
        now: Timestamp,
        inputs: &'a Inputs,
        out: &mut Decision,
    ) -> Self {
        let mut st = std::mem::take(&mut out.status);
        reuse::copy_status(&ro.status, &mut st);
        let mut actions = std::mem::take(&mut out.actions);
        actions.clear();
        Ctx {
            ro,
            obs,
            now,
            inputs,
            prev: &ro.status,
            st,
            actions,
            next_wake: None,
            template: &NULL,
            step_hash: String::new(),
            step_changed: false,
            hash: Cow::Borrowed(""),
            new_rs: None,
            stable_rs: None,
            others: Others::default(),
            baseline_arms: Vec::new(),
            add_pause: Vec::new(),
            remove_pause: Vec::new(),
            clear_pause: false,
            add_abort: None,
            abort_why: None,
            found_whys: Vec::new(),
            remove_abort: false,
            status_only: false,
            evicted: false,
            desired: std::cell::Cell::new(None),
        }
    }

    fn run(&mut self, prepared: &'a Prepared) {
        // 1. validation (cached per spec generation).
        if let Some(message) = &prepared.invalid {
            self.invalid_spec(message.clone());
            return;
        }
        self.st.remove_condition(ConditionType::InvalidSpec);
        self.template = match (&self.ro.spec.workload_ref, &self.obs.workload) {
            (Some(_), Some(w)) => &w.template,
            _ => self.ro.spec.template.as_ref().unwrap_or(&NULL),
        };
        // 2. pod-template hash, adoption, collisions; classify ReplicaSets.
        self.classify(&prepared.pod_hash);
        self.step_changed =
            self.ro.blue_green().is_none() && self.prev.current_step_hash != prepared.step_hash;
        if self.step_changed || self.new_rs.is_none() || self.prev.current_pod_hash != self.hash {
            // Only needed when a new update starts (status reset).
            self.step_hash.clone_from(&prepared.step_hash);
        }
        // 3. paused-condition bookkeeping (its own status-only pass, as upstream).
        // A forced abort (a group member aborted) is never deferred by the status-only pass.
        let forced = self.inputs.force_abort.is_some() && !self.prev.abort;
        if self.check_paused_conditions() && !forced {
            self.status_only = true;
            return;
        }
        if restart::reconcile(self) {
            return;
        }
        if self.ro.blue_green().is_some() {
            bluegreen::run(self);
        } else {
            canary::run(self);
            baseline::reconcile(self);
        }
    }

    fn invalid_spec(&mut self, message: String) {
        let now = self.now;
        let prev_same = self
            .prev
            .condition(ConditionType::InvalidSpec)
            .is_some_and(|c| c.message == message);
        let why = Why::invalid_spec(message);
        if !prev_same {
            self.st.remove_condition(ConditionType::InvalidSpec);
            self.st.set_condition(
                ConditionType::InvalidSpec,
                ConditionStatus::True,
                why::REASON_INVALID_SPEC,
                why.message(),
                now,
            );
        }
        self.record_why(why, !prev_same);
        self.status_only = true;
        self.wake_at(plus_secs(now, INVALID_SPEC_REQUEUE_SECS));
    }

    fn classify(&mut self, prepared_hash: &'a str) {
        let rss = &self.obs.replica_sets;
        let mut collision = self.prev.collision_count;
        let mut h = Cow::Borrowed(prepared_hash);
        let mut new_rs = None;
        for _ in 0..16 {
            match rss.iter().find(|r| r.pod_template_hash == h) {
                Some(rs)
                    if rs
                        .template
                        .as_ref()
                        .is_some_and(|t| !hash::templates_equal(t, self.template)) =>
                {
                    collision = Some(collision.unwrap_or(0) + 1);
                    h = Cow::Owned(hash::pod_template_hash(self.template, collision));
                }
                found => {
                    new_rs = found;
                    break;
                }
            }
        }
        if new_rs.is_none() {
            // Adopt an RS created by another controller whose template is equal.
            new_rs = rss.iter().find(|r| {
                r.template
                    .as_ref()
                    .is_some_and(|t| hash::templates_equal(t, self.template))
            });
            if let Some(rs) = new_rs {
                h = Cow::Borrowed(rs.pod_template_hash.as_str());
            }
        }
        self.st.collision_count = collision;
        self.hash = h;
        self.new_rs = new_rs;
        let stable = &self.prev.stable_rs;
        self.stable_rs = if stable.is_empty() {
            None
        } else {
            rss.iter().find(|r| &r.pod_template_hash == stable)
        };
        let (nh, sh) = (
            self.new_rs.map(|r| r.name.as_str()),
            self.stable_rs.map(|r| r.name.as_str()),
        );
        self.others = Others {
            all: rss,
            new: nh,
            stable: sh,
        };
    }

    fn finish(mut self, out: &mut Decision) {
        if self.evicted {
            // Pods were evicted: no status patch, so the next pass sees honest availability.
            reuse::copy_status(self.prev, &mut self.st);
            *out = Decision {
                status: self.st,
                actions: self.actions,
                next_wake: self.next_wake,
            };
            return;
        }
        if !self.status_only {
            self.calculate_pause_status();
        }
        set_displayed(&mut self.st.observed_generation, self.ro.metadata.generation);
        let workload_generation = match (&self.ro.spec.workload_ref, &self.obs.workload) {
            (Some(_), Some(w)) => Some(w.generation),
            _ => None,
        };
        set_displayed(&mut self.st.workload_observed_generation, workload_generation);
        if !self.status_only {
            self.group_hold_condition();
            self.fleet_hold_condition();
            self.reconcile_config();
        }
        self.st.why = why::merge(&self.prev.why, std::mem::take(&mut self.found_whys), &self.st);
        self.account_cost();
        self.feedback();
        let (phase, message) = super::phase::phase_of(self.ro, &self.st);
        self.st.phase = Some(phase);
        if self.st.message != message {
            self.st.message = message.into_owned();
        }
        if self.prev.pause_conditions.is_empty() != self.st.pause_conditions.is_empty() {
            if let Some(first) = self.st.pause_conditions.first() {
                let msg = format!("{} ({})", conditions::MSG_PAUSED, first.reason);
                self.event(EventType::Normal, conditions::REASON_PAUSED, msg);
            } else if self.st.aborted_at.is_none() {
                self.event(
                    EventType::Normal,
                    conditions::REASON_RESUMED,
                    conditions::MSG_RESUMED.into(),
                );
            }
        }
        *out = Decision {
            status: self.st,
            actions: self.actions,
            next_wake: self.next_wake,
        };
    }

    pub fn is_aborted(&self) -> bool {
        if self.add_abort.is_some() {
            return true;
        }
        !self.remove_abort && self.prev.abort
    }

    pub fn replicas(&self) -> i32 {
        self.ro.replicas()
    }

    pub fn event(&mut self, kind: EventType, reason: &str, message: String) {
        self.actions.push(Action::Event(Event {
            kind,
            reason: reason.to_string(),
            message,
        }));
    }

    pub fn wake_at(&mut self, t: Timestamp) {
        self.next_wake = Some(self.next_wake.map_or(t, |w| w.min(t)));
    }

    /// The revision of the current update (new RS revision, else the Rollout annotation).
    pub fn revision(&self) -> i64 {
        self.new_rs.map_or_else(|| self.ro.revision(), |r| r.revision)
    }

    pub fn max_revision(&self) -> i64 {
        self.obs
            .replica_sets
            .iter()
            .map(|r| r.revision)
            .max()
            .unwrap_or(0)
    }

    pub fn scale(&mut self, rs: &ObservedReplicaSet, to: i32) {
        let op = if rs.replicas < to { "up" } else { "down" };
        self.actions.push(Action::ScaleReplicaSet {
            name: rs.name.clone(),
            from: rs.replicas,
            to,
        });
        let msg = format!(
            "Scaled {op} ReplicaSet {} (revision {}) from {} to {}",
            rs.name, rs.revision, rs.replicas, to
        );
        self.event(EventType::Normal, "ScalingReplicaSet", msg);
    }

    /// Creates the new RS (revision max+1) with `replicas`; returns its name.
    pub fn create_new_rs(&mut self, replicas: i32) -> String {
        let name = format!("{}-{}", self.ro.metadata.name, self.hash);
        let revision = self.max_revision() + 1;
        let mut template = self.template.clone();
        if let Some(obj) = template.as_object_mut() {
            let meta = obj
                .entry("metadata")
                .or_insert_with(|| Value::Object(Default::default()));
            if let Some(meta) = meta.as_object_mut() {
                let labels = meta
                    .entry("labels")
                    .or_insert_with(|| Value::Object(Default::default()));
                if let Some(labels) = labels.as_object_mut() {
                    labels.insert(
                        POD_TEMPLATE_HASH_LABEL.into(),
                        Value::String(self.hash.to_string()),
                    );
                }
            }
        }
        self.actions.push(Action::CreateReplicaSet {
            name: name.clone(),
            pod_template_hash: self.hash.to_string(),
            revision,
            replicas,
            template,
        });
        let msg = format!("Created ReplicaSet {name} (revision {revision})");
        self.event(EventType::Normal, "NewReplicaSetCreated", msg);
        name
    }

    /// Ends the status reset after a pod-template or steps change (both strategies): the
    /// `Progressing` condition says whether the new ReplicaSet `name` was created or found, the
    /// counts are recomputed and the machine asks to be called again at once.
    pub fn finish_reset(&mut self, name: &str) {
        if self.prev.current_pod_hash != self.hash {
            let (reason, msg) = if self.new_rs.is_none() {
                (
                    conditions::REASON_NEW_RS_CREATED,
                    format!("Created new replica set {name:?}"),
                )
            } else {
                (
                    conditions::REASON_FOUND_NEW_RS,
                    format!("Found new replica set {name:?}"),
                )
            };
            self.st.remove_condition(ConditionType::Progressing);
            let now = self.now;
            self.st.set_condition(
                ConditionType::Progressing,
                ConditionStatus::True,
                reason,
                msg,
                now,
            );
        }
        self.base_counts();
        let now = self.now;
        self.wake_at(now);
    }

    /// Status counts common to both strategies (upstream `calculateBaseStatus`).
    pub fn base_counts(&mut self) {
        let rss = &self.obs.replica_sets;
        if self.st.current_pod_hash != self.hash {
            self.st.current_pod_hash.clear();
            self.st.current_pod_hash.push_str(&self.hash);
        }
        self.st.replicas = saturating_sum(rss.iter().map(|r| r.status_replicas));
        self.st.updated_replicas = self.new_rs.map_or(0, |r| r.status_replicas);
        self.st.ready_replicas = saturating_sum(rss.iter().map(|r| r.ready));
        self.st.available_replicas = saturating_sum(rss.iter().map(|r| r.available));
        self.st.hpa_replicas = self.st.replicas;
        self.st.promote_full = self.st.current_pod_hash != self.st.stable_rs && self.prev.promote_full;
        let selector = self.ro.spec.selector.as_ref().or(self
            .obs
            .workload
            .as_ref()
            .and_then(|w| w.selector.as_ref()));
        if let Some(sel) = selector
            && !selector_string_matches(&self.st.selector, sel)
        {
            self.st.selector = sel
                .match_labels
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",");
        } else if selector.is_none() {
            self.st.selector.clear();
        }
    }

    /// Upstream `reconcileRevisionHistoryLimit` over the given old RSs.
    pub fn revision_history_gc(&mut self) {
        let limit = usize::try_from(self.ro.revision_history_limit().max(0)).unwrap_or(0);
        if self.others.len() <= limit {
            return;
        }
        let mut old: Vec<&ObservedReplicaSet> = self.others.iter().collect();
        old.sort_by(|a, b| a.created_at.cmp(&b.created_at).then(a.name.cmp(&b.name)));
        let diff = old.len() - limit;
        for rs in old.into_iter().take(diff) {
            if rs.replicas == 0 && rs.status_replicas == 0 {
                self.actions.push(Action::DeleteReplicaSet {
                    name: rs.name.clone(),
                });
            }
        }
    }
}

/// Whether `s` is `k1=v1,k2=v2` for the selector's matchLabels (no allocation).
fn selector_string_matches(s: &str, sel: &super::spec::LabelSelector) -> bool {
    let mut rest = s;
    for (i, (k, v)) in sel.match_labels.iter().enumerate() {
        if i > 0 {
            let Some(r) = rest.strip_prefix(',') else {
                return false;
            };
            rest = r;
        }
        let Some(r) = rest.strip_prefix(k.as_str()).and_then(|r| r.strip_prefix('=')) else {
            return false;
        };
        let Some(r) = r.strip_prefix(v.as_str()) else {
            return false;
        };
        rest = r;
    }
    rest.is_empty()
}

/// Timestamp plus seconds.
pub(crate) fn plus_secs(t: Timestamp, secs: i64) -> Timestamp {
    t.saturating_add(jiff::SignedDuration::from_secs(secs))
        .unwrap_or(t)
}

/// `t + secs`, saturating (public for the `testing` helpers).
pub fn plus_secs_pub(t: Timestamp, secs: i64) -> Timestamp {
    plus_secs(t, secs)
}
