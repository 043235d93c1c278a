//! Trigger-aware policy: each trigger's effective spec, validation with field paths, the policy
//! hold on a failed analysis (a pause with its `Why`, not an abort) against today's rollback,
//! and `effective` is idempotent and never touches the pod template.

mod rollout_support;

use std::borrow::Cow;

use proptest::prelude::*;
use rollout_core::analysis::AnalysisPhase;
use rollout_core::rollout::hash::{pod_template_hash, step_hash};
use rollout_core::rollout::policy::{
    ALL_METRICS, AnalysisMode, OnFailure, Policy, PolicyHold, TRIGGER_ANNOTATION, apply, effective, report,
};
use rollout_core::rollout::why::Cause;
use rollout_core::rollout::{CanaryStep, ConditionType, PauseReason, Rollout, RolloutPhase};
use rollout_core::testing::strategies::basic_canary_rollout;
use rollout_support::*;
use serde_json::json;

const POLICY: &str = "
kind: RolloutPolicy
default: internal
profiles:
  fast:
    steps:
    - setWeight: 50
    - pause: {duration: 10s}
triggers:
  customer: {profile: fast, analysis: dryRun, onFailure: hold}
  internal: {}
  support: {onFailure: hold}
";

fn policy() -> Policy {
    let p: Policy = serde_yaml::from_str(POLICY).unwrap();
    assert_eq!(p.validate(), vec![], "the example policy is valid");
    p
}

/// A canary with a step analysis and a background analysis, annotated with `trigger`.
fn rollout(trigger: Option<&str>) -> Rollout {
    let mut ro = canary(
        4,
        json!([
            {"setWeight": 25},
            {"analysis": {"templates": [{"templateName": "error-ratio"}]}},
            {"setWeight": 75},
            {"pause": {"duration": "5m"}}
        ]),
        json!({"analysis": {"templates": [{"templateName": "latency"}], "startingStep": 1}}),
    );
    if let Some(t) = trigger {
        ro.metadata
            .annotations
            .insert(TRIGGER_ANNOTATION.into(), t.into());
    }
    ro
}

fn step_kinds(ro: &Rollout) -> Vec<String> {
    ro.steps().iter().map(CanaryStep::describe).collect()
}

fn dry_rules(ro: &Rollout) -> Vec<Vec<String>> {
    let c = ro.canary().unwrap();
    c.steps
        .iter()
        .flatten()
        .filter_map(|s| s.analysis.as_ref())
        .chain(c.analysis.as_ref().map(|b| &b.analysis))
        .map(|a| a.dry_run.iter().map(|d| d.metric_name.clone()).collect())
        .collect()
}

/// (annotation, resolved trigger, steps, dry-run rules per analysis, hold).
type Case<'a> = (
    Option<&'a str>,
    Option<&'a str>,
    Vec<&'a str>,
    Vec<Vec<String>>,
    bool,
);

#[test]
fn each_trigger_gets_its_effective_spec() {
    let p = policy();
    let own = vec!["setWeight: 25", "analysis", "setWeight: 75", "pause: 5m"];
    let table: Vec<Case> = vec![
        (
            Some("customer"),
            Some("customer"),
            vec!["setWeight: 50", "pause: 10s"],
            vec![vec![ALL_METRICS.to_string()]],
            true,
        ),
        (
            Some("internal"),
            Some("internal"),
            own.clone(),
            vec![vec![], vec![]],
            false,
        ),
        (
            Some("support"),
            Some("support"),
            own.clone(),
            vec![vec![], vec![]],
            true,
        ),
        // Unknown and invalid names fall back to the default rule; so does no annotation.
        (
            Some("partner"),
            Some("internal"),
            own.clone(),
            vec![vec![], vec![]],
            false,
        ),
        (
            Some("Customer!"),
            Some("internal"),
            own.clone(),
            vec![vec![], vec![]],
            false,
        ),
        (None, Some("internal"), own.clone(), vec![vec![], vec![]], false),
    ];
    for (annotation, trigger, steps, dry, hold) in table {
        let ro = rollout(annotation);
        let applied = apply(&ro, &p);
        assert_eq!(applied.trigger.as_deref(), trigger, "{annotation:?}");
        assert_eq!(step_kinds(&applied.rollout), steps, "{annotation:?}");
        assert_eq!(dry_rules(&applied.rollout), dry, "{annotation:?}");
        assert_eq!(applied.hold_on_failure.is_some(), hold, "{annotation:?}");
        if let Some(h) = &applied.hold_on_failure {
            assert_eq!(Some(h.trigger.as_str()), trigger);
        }
        let changed = steps != own || dry.iter().any(|d| !d.is_empty());
        assert_eq!(
            matches!(applied.rollout, Cow::Owned(_)),
            changed,
            "{annotation:?}: borrowed when nothing changes"
        );
        assert_eq!(applied.rollout.spec.template, ro.spec.template);
    }
    // Without a default, an unknown trigger gets no rule at all.
    let mut p = policy();
    p.default = None;
    let ro = rollout(Some("partner"));
    let applied = apply(&ro, &p);
    assert_eq!(applied.trigger, None);
    assert!(matches!(applied.rollout, Cow::Borrowed(_)));
    assert_eq!(applied.hold_on_failure, None);
}

#[test]
fn dry_run_keeps_the_steps_and_covers_every_analysis() {
    let mut p = policy();
    p.triggers.get_mut("internal").unwrap().analysis = AnalysisMode::DryRun;
    let ro = rollout(Some("internal"));
    let eff = effective(&ro, &p);
    assert_eq!(step_kinds(&eff), step_kinds(&ro));
    let all = vec![ALL_METRICS.to_string()];
    assert_eq!(dry_rules(&eff), vec![all.clone(), all]);
}

#[test]
fn every_problem_has_its_field_path() {
    let text = "
kind: RolloutPolicy
default: nobody
profiles:
  fast:
    steps:
    - setWeight: 50
    - setWeight: 120
    - pause: {duration: soon}
    - {}
  Slow_Profile:
    steps: [{setWeight: 10}]
triggers:
  customer: {profile: faster, onFailure: hold}
  'Bad Name': {}
";
    let p: Policy = serde_yaml::from_str(text).unwrap();
    let got: Vec<String> = p.validate().iter().map(|e| e.path.clone()).collect();
    assert_eq!(
        got,
        vec![
            "default",
            "triggers.Bad Name",
            "triggers.customer.profile",
            "profiles.Slow_Profile",
            "profiles.fast.steps[1].setWeight",
            "profiles.fast.steps[2].pause.duration",
            "profiles.fast.steps[3]",
        ]
    );
    let kind: Policy = serde_yaml::from_str("kind: Rollout\ntriggers: {}").unwrap();
    assert_eq!(kind.validate()[0].path, "kind");
    // Unknown fields are errors when reading a policy.
    let typo = serde_yaml::from_str::<Policy>("triggers: {customer: {onFailur: hold}}");
    assert!(typo.is_err());
    let mode = serde_yaml::from_str::<Policy>("triggers: {customer: {analysis: maybe}}");
    assert!(mode.is_err());
}

#[test]
fn an_invalid_policy_is_reported_on_the_status_once_and_cleared() {
    let p: Policy = serde_yaml::from_str("default: x\ntriggers: {}").unwrap();
    let errors = p.validate();
    let mut status = rollout(None).status;
    let event = report(&mut status, &errors, t0()).expect("an event the first time");
    assert_eq!(event.reason, "InvalidPolicy");
    let c = status.condition(ConditionType::InvalidPolicy).unwrap();
    assert_eq!(
        c.message,
        "policy not applied: default: Invalid value: \"x\": names no entry of triggers"
    );
    assert_eq!(c.message, event.message);
    assert!(
        report(&mut status, &errors, t0()).is_none(),
        "unchanged: no new event"
    );
    assert!(report(&mut status, &[], t0()).is_none());
    assert!(status.condition(ConditionType::InvalidPolicy).is_none());
}

/// Deploys `ro`, updates it and fails its step analysis with `hold` as the machine's input.
fn fail_step_analysis(hold: Option<PolicyHold>) -> rollout_core::testing::FakeCluster {
    let mut ro = rollout(None);
    ro.spec.strategy.canary.as_mut().unwrap().analysis = None;
    let mut c = deployed(ro);
    c.inputs.hold_on_failure = hold;
    c.set_image("demo:v2");
    tick_until(&mut c, 30, |c| !c.observed.analysis_runs.is_empty());
    c.tick();
    assert_eq!(c.rollout.status.current_step_index, Some(1));
    let msg = "Metric \"error-ratio\" assessed Failed due to failed (1) > failureLimit (0)";
    let name = c.observed.analysis_runs[0].name.clone();
    c.set_run_phase(&name, AnalysisPhase::Failed, msg);
    c.tick();
    c.tick();
    c
}

#[test]
fn hold_on_failure_pauses_with_its_why_instead_of_aborting() {
    let hold = PolicyHold {
        trigger: "customer".into(),
    };
    let mut c = fail_step_analysis(Some(hold.clone()));
    let st = &c.rollout.status;
    assert!(!st.abort, "held, not aborted");
    assert_eq!(st.phase, Some(RolloutPhase::Paused));
    assert_eq!(st.message, "PolicyHold");
    assert!(st.pause_condition(PauseReason::PolicyHold).is_some());
    assert_eq!(st.current_step_index, Some(1), "held at the analysis step");
    let why = st
        .why
        .iter()
        .find(|w| w.reason == "PolicyHold")
        .expect("a PolicyHold cause");
    assert_eq!(why.cause, Cause::AnalysisFailed, "the analysis failed");
    assert_eq!(why.condition, ConditionType::Paused);
    assert_eq!(why.policy.as_ref(), Some(&hold), "the policy holds it");
    assert!(why.detail.contains("assessed Failed"), "{}", why.detail);
    assert_eq!(why.message(), "Rollout is paused (PolicyHold)");
    // The canary is kept where it was: no scaling while held.
    let sizes = c.stable_and_canary();
    for _ in 0..5 {
        c.advance(60);
        c.tick();
    }
    assert_eq!(c.stable_and_canary(), sizes);
    assert!(
        c.rollout
            .status
            .pause_condition(PauseReason::PolicyHold)
            .is_some()
    );
    // A person promotes: the failure is accepted and the update goes on to the end.
    c.promote();
    c.settle(60, true);
    c.promote_if_paused();
    c.settle(60, true);
    let st = &c.rollout.status;
    assert_eq!(st.phase, Some(RolloutPhase::Healthy), "{st:#?}");
    assert!(!c.rollout.status.abort);
}

#[test]
fn a_held_rollout_can_still_be_aborted_by_a_person() {
    let mut c = fail_step_analysis(Some(PolicyHold {
        trigger: "customer".into(),
    }));
    c.abort();
    c.settle(60, true);
    let st = &c.rollout.status;
    assert!(st.abort);
    assert_eq!(st.phase, Some(RolloutPhase::Degraded));
    assert_eq!(c.stable_and_canary(), (4, 0));
}

#[test]
fn rollback_aborts_as_today() {
    let c = fail_step_analysis(None);
    let st = &c.rollout.status;
    assert!(st.abort);
    assert!(st.pause_condition(PauseReason::PolicyHold).is_none());
    assert!(st.message.starts_with("RolloutAborted"), "{}", st.message);
    let why = st.why.iter().find(|w| w.is_abort()).unwrap();
    assert_eq!((why.cause, why.policy.as_ref()), (Cause::AnalysisFailed, None));
}

fn arb_rule() -> impl Strategy<Value = (bool, bool, bool)> {
    (any::<bool>(), any::<bool>(), any::<bool>())
}

proptest! {
    /// Applying a policy twice gives the same effective spec, and never changes the pod template
    /// (so the pod-template hash is unchanged); the step hash follows the profile.
    #[test]
    fn effective_is_idempotent_and_keeps_the_pod_template(
        ro in basic_canary_rollout(),
        (profile, dry, hold) in arb_rule(),
        annotate in any::<bool>(),
    ) {
        let mut p = policy();
        {
            let rule = p.triggers.get_mut("customer").unwrap();
            rule.profile = profile.then(|| "fast".to_string());
            rule.analysis = if dry { AnalysisMode::DryRun } else { AnalysisMode::Enforce };
            rule.on_failure = if hold { OnFailure::Hold } else { OnFailure::Rollback };
        }
        p.default = (!annotate).then(|| "customer".to_string());
        let mut ro = ro;
        if annotate {
            ro.metadata.annotations.insert(TRIGGER_ANNOTATION.into(), "customer".into());
        }
        let once = effective(&ro, &p).into_owned();
        let twice = effective(&once, &p);
        prop_assert!(matches!(twice, Cow::Borrowed(_)), "a second application changes nothing");
        prop_assert_eq!(&*twice, &once);
        prop_assert_eq!(&once.spec.template, &ro.spec.template);
        prop_assert_eq!(&once.metadata, &ro.metadata);
        let template = ro.spec.template.clone().unwrap_or_default();
        prop_assert_eq!(
            pod_template_hash(once.spec.template.as_ref().unwrap_or(&template), None),
            pod_template_hash(&template, None)
        );
        let expected = if profile {
            Some(p.profiles["fast"].steps.clone())
        } else {
            ro.canary().and_then(|c| c.steps.clone())
        };
        prop_assert_eq!(
            step_hash(expected.as_deref()),
            step_hash(once.canary().and_then(|c| c.steps.as_deref()))
        );
    }
}
