//! Trigger-aware policy (issue #14 part 3): who triggered a Rollout decides how it rolls out.
//!
//! A Rollout names its trigger in the annotation [`TRIGGER_ANNOTATION`] (`customer`, `internal`,
//! any name). A [`Policy`] maps each trigger to a [`TriggerRule`]:
//! - a step profile: the Rollout's `spec.strategy.canary.steps` replaced by a named profile's
//!   steps, or the Rollout's own steps kept;
//! - an [`AnalysisMode`]: `enforce`, or `dryRun`: every metric of every analysis the Rollout runs
//!   is an Argo dry-run metric (`dryRun: [{metricName: ".*"}]`), so no metric aborts;
//! - an [`OnFailure`] choice: `rollback` (abort, as without a policy) or `hold`: a failed analysis
//!   pauses the Rollout at its step for a person (who aborts or promotes).
//!
//! A Rollout without the annotation, or with one that is not a valid name or names no rule, gets
//! the policy's `default` rule (if any); without a rule nothing changes.
//!
//! Pure: [`Policy::validate`] reports every problem with its field path
//! (`profiles.fast.steps[2].pause.duration`), [`apply`] gives the effective Rollout (profile and
//! dry run applied; the pod template is never touched, and applying twice changes nothing more)
//! and the [`PolicyHold`] the machine reads from [`Inputs::hold_on_failure`](super::Inputs).
//! [`report`] records an invalid policy on a Rollout's status (condition `InvalidPolicy`, with
//! the field paths); an invalid policy is never applied.

use std::borrow::Cow;
use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::decision::{Event, EventType};
use super::spec::{CanaryStep, DryRun, Rollout, RolloutAnalysis};
use super::status::{ConditionStatus, ConditionType, RolloutStatus};
use super::validation::{FieldError, FieldErrorKind, validate as validate_rollout};
use crate::common::Timestamp;

/// The annotation naming who triggered the Rollout's update.
pub const TRIGGER_ANNOTATION: &str = "rollout.io/trigger";
/// The `kind` of a policy document.
pub const KIND: &str = "RolloutPolicy";
/// The reason of the `InvalidPolicy` condition and event.
pub const REASON_INVALID_POLICY: &str = "InvalidPolicy";
/// The pause reason (and `Why` reason) of a Rollout the policy holds after a failed analysis.
pub const REASON_POLICY_HOLD: &str = "PolicyHold";
/// The dry-run rule that matches every metric.
pub const ALL_METRICS: &str = ".*";
/// The most triggers and profiles one policy may define (bounded work on any input).
pub const MAX_ENTRIES: usize = 64;
/// The most steps one profile may have.
pub const MAX_PROFILE_STEPS: usize = 100;
/// The longest trigger or profile name.
pub const MAX_NAME_LEN: usize = 63;
/// Field paths listed in the `InvalidPolicy` condition; the rest are counted.
const MAX_LISTED: usize = 5;

/// A trigger-aware policy (`kind: RolloutPolicy`).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Policy {
    /// Optional `apiVersion` (documents only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// Optional `kind`: [`KIND`] when set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Optional metadata (ignored).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<serde_json::Value>,
    /// The trigger whose rule applies when a Rollout names none, an invalid one or an unknown one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<String>,
    /// Named step profiles.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub profiles: BTreeMap<String, Profile>,
    /// The rule of each trigger.
    #[serde(default)]
    pub triggers: BTreeMap<String, TriggerRule>,
}

/// A named list of Argo canary steps.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Profile {
    /// Replaces `spec.strategy.canary.steps`.
    pub steps: Vec<CanaryStep>,
}

/// What a policy does for one trigger.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TriggerRule {
    /// The profile whose steps replace the Rollout's; `None` keeps the Rollout's steps.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// Whether analysis decides (`enforce`) or only reports (`dryRun`).
    #[serde(default)]
    pub analysis: AnalysisMode,
    /// What a failed analysis does.
    #[serde(default)]
    pub on_failure: OnFailure,
}

/// How the Rollout's analysis counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum AnalysisMode {
    /// Analysis decides, as written.
    #[default]
    Enforce,
    /// Every metric runs as an Argo dry-run metric: measured and reported, never failing the run.
    DryRun,
}

/// What a failed (or errored) analysis does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum OnFailure {
    /// Abort the update (roll back), as without a policy.
    #[default]
    Rollback,
    /// Pause at the current step ([`REASON_POLICY_HOLD`]) until a person aborts or promotes.
    Hold,
}

/// The hold a policy asks for, passed to the machine in
/// [`Inputs::hold_on_failure`](super::Inputs::hold_on_failure) and named in the hold's `Why`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PolicyHold {
    /// The trigger whose rule holds the Rollout.
    pub trigger: String,
}

/// The rule a policy gives one Rollout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resolved<'a> {
    /// The trigger whose rule applies.
    pub trigger: &'a str,
    /// Its rule.
    pub rule: &'a TriggerRule,
    /// The rule is the policy's `default` (the annotation was absent, invalid or unknown).
    pub by_default: bool,
}

/// A Rollout with its policy applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Applied<'a> {
    /// The effective Rollout (borrowed when the policy changes nothing).
    pub rollout: Cow<'a, Rollout>,
    /// The hold to pass to the machine (rule `onFailure: hold`).
    pub hold_on_failure: Option<PolicyHold>,
    /// The trigger whose rule applied, if any.
    pub trigger: Option<String>,
}

/// Whether `name` is a valid trigger or profile name: 1 to 63 lowercase letters, digits and `-`,
/// starting and ending with a letter or digit (a DNS label).
pub fn valid_name(name: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name.chars().all(|c| alnum(c) || c == '-')
        && name.starts_with(alnum)
        && name.ends_with(alnum)
}

/// The trigger a Rollout names ([`TRIGGER_ANNOTATION`]), as written.
pub fn trigger_of(ro: &Rollout) -> Option<&str> {
    ro.metadata
        .annotations
        .get(TRIGGER_ANNOTATION)
        .map(String::as_str)
}

fn field(path: String, kind: FieldErrorKind, message: impl Into<String>) -> FieldError {
    FieldError {
        path,
        kind,
        message: message.into(),
    }
}

fn quoted(s: &str) -> String {
    format!("{s:?}")
}

impl Policy {
    /// Every problem, each with its field path: names, the `default` and every `profile` must
    /// name a rule or profile, profile steps must be valid canary steps (`profiles.fast.steps[2].
    /// pause.duration`), sizes are bounded.
    pub fn validate(&self) -> Vec<FieldError> {
        let mut errs = Vec::new();
        if let Some(kind) = self.kind.as_deref().filter(|k| *k != KIND) {
            errs.push(field(
                "kind".into(),
                FieldErrorKind::Invalid(quoted(kind)),
                format!("must be {KIND}"),
            ));
        }
        for (what, len) in [
            ("triggers", self.triggers.len()),
            ("profiles", self.profiles.len()),
        ] {
            if len > MAX_ENTRIES {
                errs.push(field(
                    what.into(),
                    FieldErrorKind::Invalid(len.to_string()),
                    format!("at most {MAX_ENTRIES} entries"),
                ));
                return errs;
            }
        }
        match self.default.as_deref() {
            Some(d) if !self.triggers.contains_key(d) => errs.push(field(
                "default".into(),
                FieldErrorKind::Invalid(quoted(d)),
                "names no entry of triggers",
            )),
            _ => {}
        }
        for (name, rule) in &self.triggers {
            let base = format!("triggers.{name}");
            if !valid_name(name) {
                errs.push(name_error(&base, name));
            }
            if let Some(p) = rule.profile.as_deref()
                && !self.profiles.contains_key(p)
            {
                errs.push(field(
                    format!("{base}.profile"),
                    FieldErrorKind::Invalid(quoted(p)),
                    "names no entry of profiles",
                ));
            }
        }
        for (name, profile) in &self.profiles {
            let base = format!("profiles.{name}");
            if !valid_name(name) {
                errs.push(name_error(&base, name));
            }
            errs.extend(profile_problems(&base, &profile.steps));
        }
        errs
    }

    /// The rule for `ro`: its annotated trigger's when that is a valid name with a rule, else the
    /// `default` rule, else none.
    pub fn resolve(&self, ro: &Rollout) -> Option<Resolved<'_>> {
        let named = trigger_of(ro)
            .filter(|t| valid_name(t))
            .and_then(|t| self.triggers.get_key_value(t));
        match named {
            Some((trigger, rule)) => Some(Resolved {
                trigger,
                rule,
                by_default: false,
            }),
            None => {
                let (trigger, rule) = self.triggers.get_key_value(self.default.as_deref()?)?;
                Some(Resolved {
                    trigger,
                    rule,
                    by_default: true,
                })
            }
        }
    }
}

fn name_error(base: &str, name: &str) -> FieldError {
    field(
        base.to_string(),
        FieldErrorKind::Invalid(quoted(name)),
        format!(
            "a name is 1 to {MAX_NAME_LEN} lowercase letters, digits and '-', starting and ending \
             with a letter or digit"
        ),
    )
}

/// Problems of a profile's steps, checked as a canary's steps are (`spec.strategy.steps[i]`
/// problems, re-rooted at `base.steps[i]`). Problems that depend on the Rollout (traffic
/// routing for `setCanaryScale`) are left to the effective Rollout's own validation.
fn profile_problems(base: &str, steps: &[CanaryStep]) -> Vec<FieldError> {
    if steps.len() > MAX_PROFILE_STEPS {
        return vec![field(
            format!("{base}.steps"),
            FieldErrorKind::Invalid(steps.len().to_string()),
            format!("at most {MAX_PROFILE_STEPS} steps"),
        )];
    }
    let mut probe = Rollout::default();
    probe.spec.selector = Some(super::spec::LabelSelector {
        match_labels: BTreeMap::from([("app".to_string(), "policy".to_string())]),
        ..Default::default()
    });
    probe.spec.template = Some(serde_json::json!({
        "metadata": {"labels": {"app": "policy"}},
        "spec": {"containers": [{"name": "c", "image": "policy"}]}
    }));
    let canary = probe.spec.strategy.canary.get_or_insert_with(Default::default);
    canary.steps = Some(steps.to_vec());
    validate_rollout(&probe, None)
        .into_iter()
        .filter_map(|mut e| {
            let rest = e.path.strip_prefix("spec.strategy.steps")?;
            e.path = format!("{base}.steps{rest}");
            Some(e)
        })
        .collect()
}

/// Adds the all-metrics dry-run rule to `a` unless it is there already.
fn dry_run_all(a: &mut RolloutAnalysis) {
    if !a.dry_run.iter().any(|d| d.metric_name == ALL_METRICS) {
        a.dry_run.push(DryRun {
            metric_name: ALL_METRICS.to_string(),
        });
    }
}

fn needs_dry_run(a: &RolloutAnalysis) -> bool {
    !a.dry_run.iter().any(|d| d.metric_name == ALL_METRICS)
}

/// The Rollout as `rule` makes it: the profile's steps (canary only) and, for `dryRun`, the
/// all-metrics dry-run rule on every step, background and pre/post-promotion analysis. Borrowed
/// when nothing changes, so applying it to its own result gives the same Rollout.
fn effective_for<'a>(ro: &'a Rollout, policy: &Policy, rule: &TriggerRule) -> Cow<'a, Rollout> {
    let profile = rule
        .profile
        .as_deref()
        .and_then(|p| policy.profiles.get(p))
        .filter(|_| ro.blue_green().is_none());
    let steps_differ = profile.is_some_and(|p| {
        ro.canary()
            .is_some_and(|c| c.steps.as_deref() != Some(p.steps.as_slice()))
    });
    let dry = rule.analysis == AnalysisMode::DryRun && analyses(ro).into_iter().any(needs_dry_run);
    if !steps_differ && !dry {
        return Cow::Borrowed(ro);
    }
    let mut out = ro.clone();
    if steps_differ && let (Some(p), Some(c)) = (profile, out.spec.strategy.canary.as_mut()) {
        c.steps = Some(p.steps.clone());
    }
    if rule.analysis == AnalysisMode::DryRun {
        for a in analyses_mut(&mut out) {
            dry_run_all(a);
        }
    }
    Cow::Owned(out)
}

fn analyses(ro: &Rollout) -> Vec<&RolloutAnalysis> {
    let mut out = Vec::new();
    if let Some(c) = ro.spec.strategy.canary.as_ref() {
        out.extend(c.steps.iter().flatten().filter_map(|s| s.analysis.as_ref()));
        out.extend(c.analysis.as_ref().map(|b| &b.analysis));
    }
    if let Some(b) = ro.spec.strategy.blue_green.as_ref() {
        out.extend(b.pre_promotion_analysis.as_ref());
        out.extend(b.post_promotion_analysis.as_ref());
    }
    out
}

fn analyses_mut(ro: &mut Rollout) -> Vec<&mut RolloutAnalysis> {
    let mut out = Vec::new();
    if let Some(c) = ro.spec.strategy.canary.as_mut() {
        out.extend(c.steps.iter_mut().flatten().filter_map(|s| s.analysis.as_mut()));
        out.extend(c.analysis.as_mut().map(|b| &mut b.analysis));
    }
    if let Some(b) = ro.spec.strategy.blue_green.as_mut() {
        out.extend(b.pre_promotion_analysis.as_mut());
        out.extend(b.post_promotion_analysis.as_mut());
    }
    out
}

/// The effective Rollout under `policy` (see [`apply`]).
pub fn effective<'a>(ro: &'a Rollout, policy: &Policy) -> Cow<'a, Rollout> {
    match policy.resolve(ro) {
        Some(r) => effective_for(ro, policy, r.rule),
        None => Cow::Borrowed(ro),
    }
}

/// `policy` applied to `ro`: the effective Rollout and the hold to pass to the machine. A policy
/// is applied only when [`Policy::validate`] found nothing (the caller checks, see [`report`]).
pub fn apply<'a>(ro: &'a Rollout, policy: &Policy) -> Applied<'a> {
    match policy.resolve(ro) {
        Some(r) => Applied {
            rollout: effective_for(ro, policy, r.rule),
            hold_on_failure: (r.rule.on_failure == OnFailure::Hold).then(|| PolicyHold {
                trigger: r.trigger.to_string(),
            }),
            trigger: Some(r.trigger.to_string()),
        },
        None => Applied {
            rollout: Cow::Borrowed(ro),
            hold_on_failure: None,
            trigger: None,
        },
    }
}

/// The message of the `InvalidPolicy` condition: the first problems with their field paths.
pub fn invalid_message(errors: &[FieldError]) -> String {
    let mut parts: Vec<String> = errors.iter().take(MAX_LISTED).map(ToString::to_string).collect();
    if errors.len() > MAX_LISTED {
        parts.push(format!("and {} more", errors.len() - MAX_LISTED));
    }
    format!("policy not applied: {}", parts.join("; "))
}

/// Records the policy's validity on `status`: with `errors`, the `InvalidPolicy` condition
/// (status `True`, the problems with their field paths) and, when it is new or changed, a warning
/// event to emit; without, the condition is removed.
pub fn report(status: &mut RolloutStatus, errors: &[FieldError], now: Timestamp) -> Option<Event> {
    if errors.is_empty() {
        status.remove_condition(ConditionType::InvalidPolicy);
        return None;
    }
    let message = invalid_message(errors);
    let changed = status
        .condition(ConditionType::InvalidPolicy)
        .is_none_or(|c| c.message != message);
    if !changed {
        return None;
    }
    status.remove_condition(ConditionType::InvalidPolicy);
    status.set_condition(
        ConditionType::InvalidPolicy,
        ConditionStatus::True,
        REASON_INVALID_POLICY,
        message.clone(),
        now,
    );
    Some(Event {
        kind: EventType::Warning,
        reason: REASON_INVALID_POLICY.to_string(),
        message,
    })
}

/// The policy a driver applies: none, a valid one, or an invalid one (reported, not applied).
#[derive(Debug, Clone, PartialEq, Default)]
pub enum PolicyState {
    /// No policy: Rollouts run as written.
    #[default]
    Absent,
    /// A policy without problems.
    Valid(Policy),
    /// A policy that could not be read or has problems; each with its field path.
    Invalid(Vec<FieldError>),
}

impl PolicyState {
    /// `policy` validated: valid, or invalid with every problem.
    pub fn of(policy: Policy) -> Self {
        let errors = policy.validate();
        if errors.is_empty() {
            PolicyState::Valid(policy)
        } else {
            PolicyState::Invalid(errors)
        }
    }

    /// A policy document that could not be read: `path` is where (`-` or empty for the whole
    /// document), `message` why.
    pub fn unreadable(path: &str, message: impl Into<String>) -> Self {
        let path = if path.is_empty() { "-" } else { path };
        PolicyState::Invalid(vec![field(
            path.to_string(),
            FieldErrorKind::Invalid("unreadable".to_string()),
            message,
        )])
    }

    /// The problems of an invalid policy (empty otherwise).
    pub fn problems(&self) -> &[FieldError] {
        match self {
            PolicyState::Invalid(errors) => errors,
            _ => &[],
        }
    }

    /// The valid policy, if any.
    pub fn valid(&self) -> Option<&Policy> {
        match self {
            PolicyState::Valid(p) => Some(p),
            _ => None,
        }
    }
}
