//! Grouped rollouts (issue #13): several Rollouts released as one unit.
//!
//! A group is declared on every member with annotations ([`GroupSpec::of`]):
//!
//! ```yaml
//! metadata:
//!   annotations:
//!     rollout.io/group: shop              # the group's name
//!     rollout.io/group-members: author,publish   # the members, or a count: "2"
//!     rollout.io/group-revision: "2024.06.1"     # optional: the release all members must be on
//! ```
//!
//! Given every member's observed state ([`MemberState::of`]), [`inputs_for`] computes one member's
//! coordinator [`Inputs`]:
//! - **group abort**: a member aborted by its own cause (analysis, progress deadline, a user)
//!   makes every other member abort ([`Inputs::force_abort`], cause [`Cause::GroupAbort`]
//!   naming the member and its cause);
//! - **hold** ([`Inputs::hold`], a `GroupHold` condition naming the member and why): a member is
//!   missing, unexpected, invalid, not yet observed by its controller, on another
//!   `group-revision`, aborted by the group (retry it too), or behind (**lockstep**: a member
//!   completes its step `N+1` only once every member completed step `N`; it is promoted only once
//!   every member completed all its steps).
//!
//! Promote, promote-full, abort and retry apply to the group by writing every member (the CLI
//! does so; retry writes the members aborted by their own cause first). A member that is done
//! (stable is its current revision) never holds the others.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::observed::Inputs;
use super::spec::Rollout;
use super::status::ConditionType;
use super::validation::{FieldError, FieldErrorKind};
use super::why::{Cause, Why};
use crate::common::ObjectMeta;

/// Annotation naming a Rollout's group.
pub const GROUP_ANNOTATION: &str = "rollout.io/group";
/// Annotation with the group's members (`a,b`) or their count (`2`).
pub const GROUP_MEMBERS_ANNOTATION: &str = "rollout.io/group-members";
/// Optional annotation: the release every member must be on.
pub const GROUP_REVISION_ANNOTATION: &str = "rollout.io/group-revision";
/// The most members a group may declare (bounds the work per decision).
pub const MAX_GROUP_MEMBERS: usize = 64;

/// A member's group declaration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupSpec {
    /// The group's name.
    pub name: String,
    /// The expected members.
    pub expected: Expected,
    /// `rollout.io/group-revision`, if set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

/// The members a group expects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Expected {
    /// These Rollouts (sorted, unique).
    Members(Vec<String>),
    /// This many Rollouts.
    Count(usize),
}

fn ann_path(key: &str) -> String {
    format!("metadata.annotations[{key}]")
}

fn invalid(key: &str, value: &str, message: &str) -> FieldError {
    FieldError {
        path: ann_path(key),
        kind: FieldErrorKind::Invalid(format!("{value:?}")),
        message: message.to_string(),
    }
}

/// Whether `s` is a DNS-1123 subdomain (Rollout and group names).
fn is_name(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && s.starts_with(|c: char| c.is_ascii_alphanumeric())
        && s.ends_with(|c: char| c.is_ascii_alphanumeric())
}

impl GroupSpec {
    /// The group declared by `meta`'s annotations: `Ok(None)` when there is none, every mistake
    /// with its field path otherwise.
    pub fn of(meta: &ObjectMeta) -> Result<Option<GroupSpec>, Vec<FieldError>> {
        let get = |k: &str| meta.annotations.get(k).map(|v| v.trim());
        let Some(name) = get(GROUP_ANNOTATION) else {
            return match get(GROUP_MEMBERS_ANNOTATION) {
                Some(_) => Err(vec![FieldError {
                    path: ann_path(GROUP_ANNOTATION),
                    kind: FieldErrorKind::Required,
                    message: format!("{GROUP_MEMBERS_ANNOTATION} is set"),
                }]),
                None => Ok(None),
            };
        };
        let mut errors = Vec::new();
        if !is_name(name) {
            errors.push(invalid(
                GROUP_ANNOTATION,
                name,
                "must be a lowercase DNS-1123 name",
            ));
        }
        let expected = match get(GROUP_MEMBERS_ANNOTATION) {
            None => {
                errors.push(FieldError {
                    path: ann_path(GROUP_MEMBERS_ANNOTATION),
                    kind: FieldErrorKind::Required,
                    message: "the members (\"a,b\") or their count (\"2\")".into(),
                });
                None
            }
            Some(v) => expected(v, &meta.name, &mut errors),
        };
        let revision = get(GROUP_REVISION_ANNOTATION).map(str::to_string);
        if revision.as_deref() == Some("") {
            errors.push(invalid(
                GROUP_REVISION_ANNOTATION,
                "",
                "must not be empty when set",
            ));
        }
        match expected {
            Some(expected) if errors.is_empty() => Ok(Some(GroupSpec {
                name: name.to_string(),
                expected,
                revision,
            })),
            _ => Err(errors),
        }
    }
}

fn expected(v: &str, me: &str, errors: &mut Vec<FieldError>) -> Option<Expected> {
    let key = GROUP_MEMBERS_ANNOTATION;
    if let Ok(n) = v.parse::<i64>() {
        if !(1..=MAX_GROUP_MEMBERS as i64).contains(&n) {
            errors.push(invalid(
                key,
                v,
                &format!("a count must be 1 to {MAX_GROUP_MEMBERS}"),
            ));
            return None;
        }
        return usize::try_from(n).ok().map(Expected::Count);
    }
    let mut names = BTreeSet::new();
    for (i, part) in v.split(',').enumerate() {
        let part = part.trim();
        if i >= MAX_GROUP_MEMBERS {
            errors.push(invalid(key, v, &format!("at most {MAX_GROUP_MEMBERS} members")));
            return None;
        }
        if !is_name(part) {
            errors.push(invalid(key, v, &format!("member {part:?} is not a Rollout name")));
            return None;
        }
        if !names.insert(part.to_string()) {
            errors.push(invalid(key, v, &format!("member {part:?} is listed twice")));
            return None;
        }
    }
    if !me.is_empty() && !names.contains(me) {
        errors.push(invalid(key, v, &format!("does not list this Rollout ({me})")));
        return None;
    }
    Some(Expected::Members(names.into_iter().collect()))
}

/// How far a member is, as the coordinator reads it from its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Progress {
    /// Updating: this many steps completed.
    Steps(i32),
    /// Stable is the current revision: nothing to roll out.
    Done,
}

/// An aborted member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Aborted {
    /// The abort's cause, when `status.why` records it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<Cause>,
    /// The abort's message.
    pub message: String,
}

impl Aborted {
    /// Whether the group aborted this member (not a cause of its own).
    pub fn by_group(&self) -> bool {
        self.cause == Some(Cause::GroupAbort)
    }
}

/// One member as the coordinator sees it: from its spec and persisted status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberState {
    /// Rollout name.
    pub name: String,
    /// Its group declaration, or the annotation errors rendered.
    pub spec: Result<Option<GroupSpec>, String>,
    /// Why its spec is unusable (unreadable, or an `InvalidSpec` condition), if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invalid: Option<String>,
    /// Its controller has observed its current spec generation.
    pub observed: bool,
    /// Number of canary steps (0 for blue-green).
    pub steps: i32,
    /// Its progress.
    pub progress: Progress,
    /// Set when it is aborted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aborted: Option<Aborted>,
    /// Its revisions.
    #[serde(default)]
    pub revisions: MemberRevisions,
}

/// A member's stable and current pod-template hashes (`status.group.members.NAME`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MemberRevisions {
    /// Its `status.stableRS`.
    #[serde(rename = "stableRS", default)]
    pub stable_rs: String,
    /// Its `status.currentPodHash`.
    #[serde(default)]
    pub current_pod_hash: String,
}

/// `status.group`: the group and its members' revisions, as the coordinator last saw them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupStatus {
    /// The group's name.
    pub name: String,
    /// Every member found, by name.
    #[serde(default)]
    pub members: BTreeMap<String, MemberRevisions>,
}

impl MemberState {
    /// The state of Rollout `ro`.
    pub fn of(ro: &Rollout) -> MemberState {
        let st = &ro.status;
        let spec = GroupSpec::of(&ro.metadata).map_err(|errs| {
            errs.iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        });
        let steps = if ro.blue_green().is_some() {
            0
        } else {
            i32::try_from(ro.steps().len()).unwrap_or(i32::MAX)
        };
        let aborted = st.abort.then(|| {
            let why = st.why.iter().find(|w| w.is_abort());
            Aborted {
                cause: why.map(|w| w.cause),
                message: why.map_or_else(|| st.message.clone(), Why::message),
            }
        });
        let done = !st.stable_rs.is_empty() && st.stable_rs == st.current_pod_hash && !st.abort;
        MemberState {
            name: ro.metadata.name.clone(),
            spec,
            invalid: st
                .condition(ConditionType::InvalidSpec)
                .map(|c| c.message.clone()),
            observed: ro
                .metadata
                .generation
                .is_none_or(|g| st.observed_generation == g.to_string()),
            steps,
            progress: if done {
                Progress::Done
            } else {
                Progress::Steps(st.current_step_index.unwrap_or(0).clamp(0, steps))
            },
            aborted,
            revisions: MemberRevisions {
                stable_rs: st.stable_rs.clone(),
                current_pod_hash: st.current_pod_hash.clone(),
            },
        }
    }

    /// A member whose Rollout cannot be read as a Rollout.
    pub fn unreadable(name: &str, message: &str) -> MemberState {
        MemberState {
            name: name.to_string(),
            spec: Ok(None),
            invalid: Some(message.to_string()),
            observed: true,
            steps: 0,
            progress: Progress::Steps(0),
            aborted: None,
            revisions: MemberRevisions::default(),
        }
    }
}

/// What is wrong with a member, from another member's point of view.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "kind")]
pub enum MemberProblem {
    /// It aborted (its cause and message): the others abort too.
    Aborted {
        /// Its abort cause, if recorded.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cause: Option<Cause>,
        /// Its abort message.
        message: String,
    },
    /// The group aborted it; it must be retried too.
    AbortedByGroup,
    /// An expected member does not exist.
    Missing,
    /// Fewer members than the declared count exist.
    TooFew {
        /// Declared count.
        expected: usize,
        /// Members found.
        found: usize,
    },
    /// A Rollout declares the group but is not one of its members.
    Unexpected,
    /// Its spec or group annotations are invalid, or it declares other members.
    Invalid {
        /// Why.
        message: String,
    },
    /// Its controller has not observed its current spec yet.
    NotObserved,
    /// It is on another `group-revision`.
    OtherRevision {
        /// Its revision.
        revision: Option<String>,
        /// This member's revision.
        expected: Option<String>,
    },
    /// Lockstep: it has not completed enough steps yet.
    Behind {
        /// Steps it completed.
        completed: i32,
        /// Steps it must complete first.
        needed: i32,
    },
}

/// The group cause of a hold or forced abort: which member and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupCause {
    /// The group.
    pub group: String,
    /// The member concerned (empty for [`MemberProblem::TooFew`]).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub member: String,
    /// What is wrong with it.
    pub problem: MemberProblem,
}

impl GroupCause {
    /// The `GroupHold` condition reason for this cause.
    pub fn reason(&self) -> &'static str {
        match self.problem {
            MemberProblem::Aborted { .. } | MemberProblem::AbortedByGroup => "GroupMemberAborted",
            MemberProblem::Missing | MemberProblem::TooFew { .. } => "GroupMemberMissing",
            MemberProblem::Unexpected | MemberProblem::Invalid { .. } => "GroupMemberInvalid",
            MemberProblem::NotObserved => "GroupMemberNotObserved",
            MemberProblem::OtherRevision { .. } => "GroupRevisionMismatch",
            MemberProblem::Behind { .. } => "GroupMemberBehind",
        }
    }

    /// The sentence rendered from this cause.
    pub fn message(&self) -> String {
        let (g, m) = (&self.group, &self.member);
        match &self.problem {
            MemberProblem::Aborted { message, .. } => format!("group {g}: member {m} aborted: {message}"),
            MemberProblem::AbortedByGroup => {
                format!("group {g}: member {m} is aborted by the group (retry it too)")
            }
            MemberProblem::Missing => format!("group {g}: member {m} does not exist"),
            MemberProblem::TooFew { expected, found } => {
                format!("group {g}: {found} of {expected} members exist")
            }
            MemberProblem::Unexpected => {
                format!("group {g}: {m} declares the group but is not one of its members")
            }
            MemberProblem::Invalid { message } => format!("group {g}: member {m} is invalid: {message}"),
            MemberProblem::NotObserved => {
                format!("group {g}: member {m} has not been reconciled at its current spec")
            }
            MemberProblem::OtherRevision { revision, expected } => format!(
                "group {g}: member {m} is on group revision {}, this member on {}",
                revision.as_deref().unwrap_or("(none)"),
                expected.as_deref().unwrap_or("(none)")
            ),
            MemberProblem::Behind { completed, needed } => format!(
                "group {g}: waiting for member {m} (completed {completed} of the {needed} steps needed)"
            ),
        }
    }
}

impl Inputs {
    /// The cause of an abort forced by these inputs: the group's when it forced it, else
    /// [`Why::forced_abort`].
    pub fn abort_why(&self, reason: String) -> Why {
        match &self.group {
            Some(g) if matches!(g.problem, MemberProblem::Aborted { .. }) => Why::group_abort(g),
            _ => Why::forced_abort(reason),
        }
    }
}

fn hold(group: &str, member: &str, problem: MemberProblem) -> Inputs {
    Inputs {
        hold: true,
        force_abort: None,
        group_status: None,
        fleet_hold: None,
        hold_on_failure: None,
        group: Some(GroupCause {
            group: group.to_string(),
            member: member.to_string(),
            problem,
        }),
    }
}

/// The coordinator inputs of member `me` given every member's state (`members` holds the
/// Rollouts that declare `me`'s group, `me` included; at most [`MAX_GROUP_MEMBERS`] + 1 are
/// looked at). A Rollout without a group gets the default inputs.
pub fn inputs_for(me: &str, members: &[MemberState]) -> Inputs {
    let members = &members[..members.len().min(MAX_GROUP_MEMBERS + 1)];
    let mut inputs = decide(me, members);
    let group = members
        .iter()
        .find(|m| m.name == me)
        .and_then(|m| m.spec.as_ref().ok().and_then(Option::as_ref));
    inputs.group_status = group.map(|g| GroupStatus {
        name: g.name.clone(),
        members: members
            .iter()
            .map(|m| (m.name.clone(), m.revisions.clone()))
            .collect(),
    });
    inputs
}

fn decide(me: &str, members: &[MemberState]) -> Inputs {
    let Some(this) = members.iter().find(|m| m.name == me) else {
        return Inputs::default();
    };
    let spec = match &this.spec {
        Ok(Some(spec)) => spec,
        Ok(None) => return Inputs::default(),
        Err(message) => {
            let group = members
                .iter()
                .find_map(|m| m.spec.as_ref().ok().and_then(Option::as_ref));
            let name = group.map_or("", |g| g.name.as_str());
            let message = message.clone();
            return hold(name, me, MemberProblem::Invalid { message });
        }
    };
    let g = spec.name.as_str();
    let mut others: Vec<&MemberState> = members.iter().filter(|m| m.name != me).collect();
    others.sort_by(|a, b| a.name.cmp(&b.name));
    // 1. Group abort: a member aborted by its own cause aborts the others.
    if this.aborted.is_none()
        && let Some((m, a)) = others
            .iter()
            .find_map(|m| m.aborted.as_ref().filter(|a| !a.by_group()).map(|a| (m, a)))
    {
        let problem = MemberProblem::Aborted {
            cause: a.cause,
            message: a.message.clone(),
        };
        let cause = GroupCause {
            group: g.to_string(),
            member: m.name.clone(),
            problem,
        };
        return Inputs {
            hold: false,
            force_abort: Some(cause.message()),
            group: Some(cause),
            group_status: None,
            fleet_hold: None,
            hold_on_failure: None,
        };
    }
    if this.aborted.is_some() {
        return Inputs::default();
    }
    // 2. Membership.
    match &spec.expected {
        Expected::Members(names) => {
            if let Some(missing) = names.iter().find(|n| !members.iter().any(|m| &m.name == *n)) {
                return hold(g, missing, MemberProblem::Missing);
            }
            if let Some(extra) = others.iter().find(|m| !names.contains(&m.name)) {
                return hold(g, &extra.name, MemberProblem::Unexpected);
            }
        }
        Expected::Count(n) => {
            if members.len() < *n {
                let (expected, found) = (*n, members.len());
                return hold(g, "", MemberProblem::TooFew { expected, found });
            }
            if members.len() > *n
                && let Some(extra) = others.last()
            {
                return hold(g, &extra.name, MemberProblem::Unexpected);
            }
        }
    }
    // 3. Each member's own state.
    for m in &others {
        let problem = match (&m.spec, &m.invalid) {
            (Err(message), _) | (_, Some(message)) => Some(MemberProblem::Invalid {
                message: message.clone(),
            }),
            (Ok(None), None) => Some(MemberProblem::Unexpected),
            (Ok(Some(other)), None) if other.expected != spec.expected || other.name != spec.name => {
                Some(MemberProblem::Invalid {
                    message: format!("it declares other members ({:?})", other.expected),
                })
            }
            (Ok(Some(other)), None) if other.revision != spec.revision => {
                Some(MemberProblem::OtherRevision {
                    revision: other.revision.clone(),
                    expected: spec.revision.clone(),
                })
            }
            _ if !m.observed => Some(MemberProblem::NotObserved),
            _ if m.aborted.is_some() => Some(MemberProblem::AbortedByGroup),
            _ => None,
        };
        if let Some(problem) = problem {
            return hold(g, &m.name, problem);
        }
    }
    // 4. Lockstep.
    let Progress::Steps(mine) = this.progress else {
        return Inputs::default();
    };
    for m in &others {
        let Progress::Steps(theirs) = m.progress else {
            continue;
        };
        let needed = if mine >= this.steps {
            m.steps
        } else {
            mine.min(m.steps)
        };
        if theirs < needed {
            let problem = MemberProblem::Behind {
                completed: theirs,
                needed,
            };
            return hold(g, &m.name, problem);
        }
    }
    Inputs::default()
}

/// Every member's inputs, in `members`' order (what `rollout get` shows: who holds whom).
pub fn group_inputs(members: &[MemberState]) -> Vec<(String, Inputs)> {
    members
        .iter()
        .take(MAX_GROUP_MEMBERS + 1)
        .map(|m| (m.name.clone(), inputs_for(&m.name, members)))
        .collect()
}

/// Whether `why` is a group cause (hold or abort).
pub fn is_group_cause(why: &Why) -> bool {
    matches!(why.cause, Cause::GroupHold | Cause::GroupAbort)
}
