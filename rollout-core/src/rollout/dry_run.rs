//! Dry run ("rollout of the rollout"): the machine decides as usual, but every action that would
//! change a ReplicaSet, Service, route, AnalysisRun or the referenced workload is *withheld*; only
//! events and the status go through. A driver asks [`requested`] whether a Rollout runs dry
//! (annotation [`DRY_RUN_ANNOTATION`] or the controller-wide flag) and then calls [`withhold`].
//!
//! Stability: nothing changes in the cluster, so the machine re-decides the same actions on every
//! tick. [`withhold`] keeps the status the Rollout had (the machine's progress is not recorded,
//! so nothing pretends a ReplicaSet exists) and records the withheld actions in one `DryRun`
//! condition whose message carries a fingerprint of the decision. The condition, the events (one
//! `DryRun` event per withheld action, plus the machine's own events) and the driver's log lines
//! are produced only when that fingerprint changes: a steady dry run writes nothing and emits
//! nothing per tick. Timestamps (e.g. a scale-down deadline) are left out of the fingerprint.

use serde_json::Value;

use super::decision::{Action, Decision, Event, EventType};
use super::hash::Fnv1a32;
use super::spec::Rollout;
use super::status::{Condition, ConditionStatus, ConditionType, RolloutStatus};
use crate::common::Timestamp;

/// Annotation asking for a dry run of one Rollout (`"true"`; any other value: not dry).
pub const DRY_RUN_ANNOTATION: &str = "rollout.io/dry-run";
/// Reason of the per-action events and of the condition while actions are withheld.
pub const DRY_RUN_REASON: &str = "DryRun";
/// Condition reason when the decision withholds something.
pub const ACTIONS_WITHHELD: &str = "ActionsWithheld";
/// Condition reason when the decision has nothing to withhold.
pub const NOTHING_WITHHELD: &str = "NothingWithheld";
/// How many withheld actions the condition message names (the last ones).
pub const SHOWN_IN_CONDITION: usize = 5;
/// At most this many per-action events per changed decision (one more summarises the rest).
pub const MAX_EVENTS: usize = 20;

/// Whether `ro` runs dry: the controller-wide flag, or the annotation set to `"true"`.
pub fn requested(ro: &Rollout, controller_wide: bool) -> bool {
    controller_wide || annotated(&ro.metadata.annotations)
}

/// Whether these annotations (a Rollout's) ask for a dry run: [`DRY_RUN_ANNOTATION`] is `"true"`.
pub fn annotated(annotations: &std::collections::BTreeMap<String, String>) -> bool {
    annotations
        .get(DRY_RUN_ANNOTATION)
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"))
}

/// Whether a dry run withholds `action`: everything but events.
pub fn is_withheld(action: &Action) -> bool {
    !matches!(action, Action::Event(_))
}

/// One line saying what `action` does, without timestamps (stable across ticks).
pub fn describe(action: &Action) -> String {
    match action {
        Action::CreateReplicaSet {
            name,
            revision,
            replicas,
            ..
        } => format!("create ReplicaSet {name} (revision {revision}) with {replicas} replicas"),
        Action::CreateBaselineReplicaSet {
            name,
            source,
            replicas,
            ..
        } => format!("create baseline ReplicaSet {name} from {source} with {replicas} replicas"),
        Action::ScaleReplicaSet { name, from, to } => format!("scale ReplicaSet {name} from {from} to {to}"),
        Action::SetScaleDownDeadline { name, deadline } => match deadline {
            Some(_) => format!("set a scale-down deadline on ReplicaSet {name}"),
            None => format!("remove the scale-down deadline of ReplicaSet {name}"),
        },
        Action::SetServiceSelector {
            service,
            pod_template_hash,
        } => format!("point Service {service} at pods {pod_template_hash}"),
        Action::SetTrafficWeight { weight, .. } => format!("set the canary traffic weight to {weight}"),
        Action::CreateAnalysisRun(req) => format!("create AnalysisRun {}", req.name),
        Action::ScaleWorkload { kind, name, replicas } => format!("scale {kind} {name} to {replicas}"),
        Action::Event(e) => format!("event {}: {}", e.reason, e.message),
        other => generic(other),
    }
}

/// Any other action: its kind and its scalar fields, from its serialized form.
fn generic(action: &Action) -> String {
    let Ok(Value::Object(map)) = serde_json::to_value(action) else {
        return "an action".to_string();
    };
    let kind = map.get("action").and_then(Value::as_str).unwrap_or("action");
    let fields: Vec<String> = map
        .iter()
        .filter(|(k, _)| k.as_str() != "action")
        .filter_map(|(k, v)| match v {
            Value::String(s) => Some(format!("{k}={s}")),
            Value::Number(n) => Some(format!("{k}={n}")),
            Value::Bool(b) => Some(format!("{k}={b}")),
            _ => None,
        })
        .collect();
    if fields.is_empty() {
        kind.to_string()
    } else {
        format!("{kind} {}", fields.join(" "))
    }
}

/// What a dry-run tick does instead of the decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Withheld {
    /// The status to persist: the stored one with the `DryRun` condition.
    pub status: RolloutStatus,
    /// The withheld actions, in the machine's order.
    pub actions: Vec<Action>,
    /// Events to emit: empty unless the decision changed since the last tick.
    pub events: Vec<Event>,
    /// Whether the decision differs from the one the condition records (log the actions then).
    pub changed: bool,
}

/// The fingerprint of a decision's withheld actions and events (8 hex digits).
pub fn fingerprint(actions: &[Action]) -> String {
    let mut h = Fnv1a32::default();
    for a in actions {
        h.write(describe(a).as_bytes());
        h.write(b"\n");
    }
    format!("{:08x}", h.finish())
}

/// The `DryRun` condition message for these withheld actions (the last
/// [`SHOWN_IN_CONDITION`]) and fingerprint.
pub fn condition_message(withheld: &[Action], fingerprint: &str) -> String {
    if withheld.is_empty() {
        return format!("dry run: nothing to withhold [{fingerprint}]");
    }
    let skip = withheld.len().saturating_sub(SHOWN_IN_CONDITION);
    let last: Vec<String> = withheld.iter().skip(skip).map(describe).collect();
    let noun = if withheld.len() == 1 { "action" } else { "actions" };
    let prefix = if skip > 0 { "last: " } else { "" };
    format!(
        "dry run: {} {noun} withheld [{fingerprint}]: {prefix}{}",
        withheld.len(),
        last.join("; ")
    )
}

/// The dry-run answer to `decision`, given the status the Rollout had (`before`).
pub fn withhold(before: &RolloutStatus, decision: &Decision, now: Timestamp) -> Withheld {
    let (actions, machine_events): (Vec<&Action>, Vec<&Action>) =
        decision.actions.iter().partition(|a| is_withheld(a));
    let actions: Vec<Action> = actions.into_iter().cloned().collect();
    let fp = fingerprint(&decision.actions);
    let message = condition_message(&actions, &fp);
    let reason = if actions.is_empty() {
        NOTHING_WITHHELD
    } else {
        ACTIONS_WITHHELD
    };
    let mut status = before.clone();
    let current = before.condition(ConditionType::DryRun);
    let changed = !current.is_some_and(|c| c.message == message && c.reason == reason);
    let mut events = Vec::new();
    if changed {
        let transition = current
            .filter(|c| c.status == ConditionStatus::True)
            .map_or(now, |c| c.last_transition_time);
        status.remove_condition(ConditionType::DryRun);
        status.conditions.push(Condition {
            kind: ConditionType::DryRun,
            status: ConditionStatus::True,
            last_update_time: now,
            last_transition_time: transition,
            reason: reason.to_string(),
            message,
        });
        events.extend(machine_events.into_iter().filter_map(|a| match a {
            Action::Event(e) => Some(e.clone()),
            _ => None,
        }));
        events.extend(actions.iter().take(MAX_EVENTS).map(|a| Event {
            kind: EventType::Normal,
            reason: DRY_RUN_REASON.to_string(),
            message: format!("dry run: would {}", describe(a)),
        }));
        if actions.len() > MAX_EVENTS {
            events.push(Event {
                kind: EventType::Normal,
                reason: DRY_RUN_REASON.to_string(),
                message: format!(
                    "dry run: and {} more actions withheld",
                    actions.len() - MAX_EVENTS
                ),
            });
        }
    }
    Withheld {
        status,
        actions,
        events,
        changed,
    }
}

/// The status of a Rollout that no longer runs dry: without the `DryRun` condition.
pub fn ended(mut status: RolloutStatus) -> RolloutStatus {
    status.remove_condition(ConditionType::DryRun);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + s).unwrap()
    }

    fn decision(actions: Vec<Action>) -> Decision {
        Decision {
            status: RolloutStatus::default(),
            actions,
            next_wake: None,
        }
    }

    fn scale(to: i32) -> Action {
        Action::ScaleReplicaSet {
            name: "web-1".into(),
            from: 0,
            to,
        }
    }

    fn event(reason: &str) -> Action {
        Action::Event(Event {
            kind: EventType::Normal,
            reason: reason.into(),
            message: "m".into(),
        })
    }

    #[test]
    fn requested_by_flag_or_annotation() {
        let mut ro = Rollout::default();
        assert!(!requested(&ro, false));
        assert!(requested(&ro, true));
        for (value, dry) in [
            ("true", true),
            ("True", true),
            (" true ", true),
            ("false", false),
            ("", false),
        ] {
            ro.metadata
                .annotations
                .insert(DRY_RUN_ANNOTATION.into(), value.into());
            assert_eq!(requested(&ro, false), dry, "{value:?}");
        }
    }

    #[test]
    fn only_events_pass() {
        let table = [
            (scale(3), true),
            (event("X"), false),
            (Action::DeleteAnalysisRun { name: "r".into() }, true),
            (
                Action::ScaleWorkload {
                    kind: "Deployment".into(),
                    name: "d".into(),
                    replicas: 0,
                },
                true,
            ),
        ];
        for (action, withheld) in table {
            assert_eq!(is_withheld(&action), withheld, "{action:?}");
        }
    }

    #[test]
    fn descriptions_leave_out_timestamps() {
        let a = Action::SetScaleDownDeadline {
            name: "web-1".into(),
            deadline: Some(t(1)),
        };
        let b = Action::SetScaleDownDeadline {
            name: "web-1".into(),
            deadline: Some(t(99)),
        };
        assert_eq!(describe(&a), describe(&b));
        assert_eq!(fingerprint(&[a]), fingerprint(&[b]));
        assert_eq!(
            describe(&Action::DeleteAnalysisRun { name: "r-1".into() }),
            "deleteAnalysisRun name=r-1"
        );
    }

    #[test]
    fn first_tick_records_and_emits_then_steady_ticks_are_silent() {
        let d = decision(vec![scale(3), event("RolloutUpdated")]);
        let first = withhold(&RolloutStatus::default(), &d, t(0));
        assert!(first.changed);
        assert_eq!(first.actions, vec![scale(3)]);
        let reasons: Vec<&str> = first.events.iter().map(|e| e.reason.as_str()).collect();
        assert_eq!(reasons, ["RolloutUpdated", DRY_RUN_REASON]);
        assert_eq!(
            first.events[1].message,
            "dry run: would scale ReplicaSet web-1 from 0 to 3"
        );
        let c = first.status.condition(ConditionType::DryRun).unwrap();
        assert_eq!(c.reason, ACTIONS_WITHHELD);
        assert!(
            c.message.starts_with("dry run: 1 action withheld ["),
            "{}",
            c.message
        );
        // The same decision again: nothing new, status unchanged.
        let second = withhold(&first.status, &d, t(10));
        assert!(!second.changed);
        assert!(second.events.is_empty());
        assert_eq!(second.status, first.status);
        // A different decision: recorded, transition time kept.
        let third = withhold(&second.status, &decision(vec![scale(5)]), t(20));
        assert!(third.changed);
        let c3 = third.status.condition(ConditionType::DryRun).unwrap();
        assert_eq!(c3.last_transition_time, t(0));
        assert_eq!(c3.last_update_time, t(20));
        // Nothing to withhold.
        let idle = withhold(&third.status, &decision(vec![]), t(30));
        assert_eq!(
            idle.status.condition(ConditionType::DryRun).unwrap().reason,
            NOTHING_WITHHELD
        );
        assert!(idle.events.is_empty());
        assert!(ended(idle.status).condition(ConditionType::DryRun).is_none());
    }

    #[test]
    fn many_actions_are_bounded() {
        let actions: Vec<Action> = (0..50).map(scale).collect();
        let w = withhold(&RolloutStatus::default(), &decision(actions), t(0));
        assert_eq!(w.events.len(), MAX_EVENTS + 1);
        let msg = &w.status.condition(ConditionType::DryRun).unwrap().message;
        assert!(msg.starts_with("dry run: 50 actions withheld ["), "{msg}");
        assert_eq!(msg.matches("scale ReplicaSet").count(), SHOWN_IN_CONDITION);
        assert!(msg.ends_with("from 0 to 49"), "{msg}");
    }
}
