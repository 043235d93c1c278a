//! Fleet releases: plan validation, wave assignment, outcome kinds from typed causes, failure
//! classification, the sequential test and wave gating.

use proptest::prelude::*;
use rollout_core::AnalysisPhase;
use rollout_core::fleet::{
    Decision, EnvironmentHistory, EnvironmentOutcome, EnvironmentReason, FailureClass, HaltReason,
    HoldReason, OutcomeKind, ReleasePlan, ReleaseTest, TransientReason, assess, assign_waves, attribute,
    decide, sprt,
};
use rollout_core::rollout::why::{DecidingMetric, Why};
use rollout_core::rollout::{AnalysisRunKind, ObservedAnalysisRun, RolloutPhase};

fn plan(yaml: &str) -> ReleasePlan {
    serde_yaml::from_str(yaml).unwrap()
}

const PLAN: &str = "release: v2
test: {baselineFailureRate: 0.01, falseAlarmRate: 0.05, failureRateRatio: 3}
waves:
  - {name: canary, ring: canary}
  - {name: small, percent: 10, gate: {maxInconclusivePercent: 50}}
  - {name: half, percent: 50, gate: {approval: true}}
  - {name: all, percent: 100}
";

#[test]
fn a_valid_plan_has_no_problems() {
    assert_eq!(plan(PLAN).validate("plan"), vec![]);
}

#[test]
fn plan_problems_name_their_field() {
    let cases = [
        (
            "release: ''\nwaves: [{name: a, percent: 100}]",
            "plan.release: Required value: name the version being released",
        ),
        (
            "release: v\nwaves: []",
            "plan.waves: Required value: give at least one wave",
        ),
        (
            "release: v\nwaves: [{name: a}]",
            "plan.waves[0]: Invalid value: a: give exactly one of percent or ring",
        ),
        (
            "release: v\nwaves: [{name: a, percent: 5, ring: r}, {name: b, percent: 100}]",
            "plan.waves[0]: Invalid value: a: give exactly one of percent or ring",
        ),
        (
            "release: v\nwaves: [{name: a, percent: 0}, {name: b, percent: 100}]",
            "plan.waves[0].percent: Invalid value: 0: must be above 0 and at most 100",
        ),
        (
            "release: v\nwaves: [{name: a, percent: 50}, {name: b, percent: 20}, {name: c, percent: 100}]",
            "plan.waves[1].percent: Invalid value: 20: percentages are cumulative: must be above the previous wave's 50",
        ),
        (
            "release: v\nwaves: [{name: a, percent: 50}]",
            "plan.waves[0].percent: Invalid value: 50: the last percentage wave must reach 100",
        ),
        (
            "release: v\nwaves: [{name: a, percent: 5}, {name: a, percent: 100}]",
            "plan.waves[1].name: Invalid value: a: wave names must be unique",
        ),
        (
            "release: v\nwaves: [{name: a, ring: r}, {name: b, ring: r}]",
            "plan.waves[1].ring: Invalid value: r: each ring is released in one wave",
        ),
        (
            "release: v\nwaves: [{name: a, percent: 100, gate: {maxInconclusivePercent: 120}}]",
            "plan.waves[0].gate.maxInconclusivePercent: Invalid value: 120: must be between 0 and 100",
        ),
        (
            "release: v\nwaves: [{name: a, percent: 100}]\ntest: {baselineFailureRate: 0, falseAlarmRate: 0.05, failureRateRatio: 3}",
            "plan.test.baselineFailureRate: Invalid value: 0: must be between 0 and 1",
        ),
        (
            "release: v\nwaves: [{name: a, percent: 100}]\ntest: {baselineFailureRate: 0.01, falseAlarmRate: 0.9, failureRateRatio: 3}",
            "plan.test.falseAlarmRate: Invalid value: 0.9: must be above 0 and at most 0.5",
        ),
        (
            "release: v\nwaves: [{name: a, percent: 100}]\ntest: {baselineFailureRate: 0.01, falseAlarmRate: 0.05, failureRateRatio: 1}",
            "plan.test.failureRateRatio: Invalid value: 1: must be above 1",
        ),
        (
            "release: v\nwaves: [{name: a, percent: 100}]\ntest: {baselineFailureRate: 0.4, falseAlarmRate: 0.05, failureRateRatio: 3}",
            "plan.test.failureRateRatio: Invalid value: 3: baselineFailureRate × failureRateRatio must stay below 1",
        ),
        (
            "release: v\nwaves: [{name: a, percent: 100}]\nclassification: {environmentIssueAfter: 0}",
            "plan.classification.environmentIssueAfter: Invalid value: 0: must be at least 1",
        ),
    ];
    for (yaml, want) in cases {
        let errs: Vec<String> = plan(yaml)
            .validate("plan")
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(errs, vec![want.to_string()], "{yaml}");
    }
}

#[test]
fn unknown_plan_fields_are_refused() {
    let err = serde_yaml::from_str::<ReleasePlan>("release: v\nwaves: []\nwavez: 1").unwrap_err();
    assert!(err.to_string().contains("unknown field `wavez`"), "{err}");
}

#[test]
fn waves_take_their_ring_then_cumulative_shares_of_the_rest() {
    let p = plan(PLAN);
    // 2 environments in ring "canary", 1 in an unplanned ring (ordinary), 20 ordinary in all.
    let mut rings: Vec<Option<&str>> = vec![None; 19];
    rings[3] = Some("canary");
    rings[7] = Some("canary");
    rings.push(Some("other"));
    let a = assign_waves(&p, &rings);
    assert_eq!(a.waves[0], vec![3, 7]);
    let sizes: Vec<usize> = a.waves.iter().map(Vec::len).collect();
    // 18 ordinary: ceil(1.8) = 2, ceil(9) = 9 → 7 more, the remaining 9.
    assert_eq!(sizes, vec![2, 2, 7, 9]);
    assert!(a.uncovered.is_empty());
    let mut all: Vec<usize> = a.waves.concat();
    all.sort_unstable();
    assert_eq!(all, (0..20).collect::<Vec<_>>());
    // A rings-only plan leaves the other environments uncovered.
    let rings_only = plan("release: v\nwaves: [{name: c, ring: canary}]");
    assert_eq!(assign_waves(&rings_only, &rings).uncovered.len(), 18);
}

fn analysis_why(phase: AnalysisPhase, metadata: &[(&str, &str)]) -> Why {
    let run = ObservedAnalysisRun {
        name: "run-1".into(),
        kind: AnalysisRunKind::Step,
        pod_template_hash: "abc".into(),
        step_index: Some(1),
        phase,
        message: String::new(),
        terminating: false,
        created_at: None,
        decided_by: Some(DecidingMetric {
            name: "error-ratio".into(),
            phase,
            message: "m".into(),
            metadata: metadata
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }),
    };
    Why::analysis(&run, "Metric \"error-ratio\" assessed".into()).unwrap()
}

#[test]
fn outcome_kinds_come_from_the_typed_causes() {
    use rollout_core::analysis::judge::metadata_keys::CODE;
    use rollout_core::analysis::provider::error_keys::KIND;
    let cases: Vec<(RolloutPhase, Vec<Why>, OutcomeKind)> = vec![
        (RolloutPhase::Healthy, vec![], OutcomeKind::Promoted),
        (RolloutPhase::Progressing, vec![], OutcomeKind::InProgress),
        (
            RolloutPhase::Degraded,
            vec![analysis_why(AnalysisPhase::Failed, &[(CODE, "regression")])],
            OutcomeKind::AnalysisFailed,
        ),
        (
            RolloutPhase::Degraded,
            vec![analysis_why(AnalysisPhase::Error, &[(KIND, "unreachable")])],
            OutcomeKind::ProviderUnreachable,
        ),
        (
            RolloutPhase::Degraded,
            vec![analysis_why(AnalysisPhase::Error, &[(KIND, "bad-query")])],
            OutcomeKind::AnalysisError,
        ),
        (
            RolloutPhase::Paused,
            vec![analysis_why(
                AnalysisPhase::Inconclusive,
                &[(CODE, "insufficient-data")],
            )],
            OutcomeKind::Inconclusive,
        ),
        (
            RolloutPhase::Paused,
            vec![analysis_why(
                AnalysisPhase::Inconclusive,
                &[(CODE, "environment-unhealthy")],
            )],
            OutcomeKind::EnvironmentUnhealthy,
        ),
        (
            RolloutPhase::Degraded,
            vec![Why::progress_deadline(Some("rs".into()), "timed out".into())],
            OutcomeKind::ProgressDeadline,
        ),
        (
            RolloutPhase::Degraded,
            vec![Why::replica_failure("FailedCreate", "quota".into())],
            OutcomeKind::ReplicaFailure,
        ),
        (
            RolloutPhase::Degraded,
            vec![
                Why::invalid_spec("bad".into()),
                Why::replica_failure("FailedCreate", "q".into()),
            ],
            OutcomeKind::InvalidSpec,
        ),
        (
            RolloutPhase::Degraded,
            vec![Why::user_abort()],
            OutcomeKind::Stopped,
        ),
        (
            RolloutPhase::Degraded,
            vec![Why::forced_abort("fleet halted".into())],
            OutcomeKind::Stopped,
        ),
    ];
    for (phase, why, want) in cases {
        assert_eq!(OutcomeKind::from_status(phase, &why), want, "{why:?}");
    }
}

fn outcome(kind: OutcomeKind) -> EnvironmentOutcome {
    EnvironmentOutcome {
        environment: "env".into(),
        kind,
        why: vec![],
        stable_unhealthy_before: false,
        retry_succeeded: false,
        history: EnvironmentHistory::default(),
    }
}

#[test]
fn failures_are_attributed_to_the_environment_a_transient_cause_or_the_release() {
    let p = plan(PLAN);
    let with = |kind, f: fn(&mut EnvironmentOutcome)| {
        let mut o = outcome(kind);
        f(&mut o);
        o
    };
    let env = FailureClass::EnvironmentIssue;
    let transient = FailureClass::Transient;
    let cases = [
        (outcome(OutcomeKind::Promoted), None),
        (outcome(OutcomeKind::Inconclusive), None),
        (outcome(OutcomeKind::InProgress), None),
        (outcome(OutcomeKind::Stopped), None),
        (outcome(OutcomeKind::AnalysisFailed), Some(FailureClass::Suspect)),
        (
            outcome(OutcomeKind::ProgressDeadline),
            Some(FailureClass::Suspect),
        ),
        (outcome(OutcomeKind::InvalidSpec), Some(FailureClass::Suspect)),
        (outcome(OutcomeKind::AnalysisError), Some(FailureClass::Suspect)),
        (
            outcome(OutcomeKind::EnvironmentUnhealthy),
            Some(env(EnvironmentReason::UnhealthyVerdict)),
        ),
        (
            with(OutcomeKind::AnalysisFailed, |o| o.stable_unhealthy_before = true),
            Some(env(EnvironmentReason::StableUnhealthyBefore)),
        ),
        (
            with(OutcomeKind::ProgressDeadline, |o| {
                o.history = EnvironmentHistory {
                    releases: 5,
                    failures: 2,
                }
            }),
            Some(env(EnvironmentReason::FailsOtherReleases)),
        ),
        (
            with(OutcomeKind::ProgressDeadline, |o| {
                o.history = EnvironmentHistory {
                    releases: 5,
                    failures: 1,
                }
            }),
            Some(FailureClass::Suspect),
        ),
        (
            with(OutcomeKind::ReplicaFailure, |o| o.retry_succeeded = true),
            Some(transient(TransientReason::RetrySucceeded)),
        ),
        (
            outcome(OutcomeKind::ProviderUnreachable),
            Some(transient(TransientReason::ProviderUnreachable)),
        ),
        (
            with(OutcomeKind::ProviderUnreachable, |o| {
                o.stable_unhealthy_before = true
            }),
            Some(env(EnvironmentReason::StableUnhealthyBefore)),
        ),
    ];
    for (o, want) in cases {
        assert_eq!(attribute(&p.classification, &o), want, "{o:?}");
    }
}

#[test]
fn the_sequential_test_exposes_its_evidence() {
    let t = ReleaseTest::default();
    let e = sprt(&t, 0, 0);
    assert_eq!((e.n, e.failures, e.rejected), (0, 0, false));
    assert!((e.threshold - 20f64.ln()).abs() < 1e-12);
    assert_eq!(e.failures_to_halt, 3); // 3·ln 3 ≥ ln 20 > 2·ln 3
    assert!((e.alternative - 0.03).abs() < 1e-12);
    // 100 trials, 5 failed: Λ = 5 ln 3 + 95 ln(0.97/0.99) = 3.554 ≥ 2.996.
    let e = sprt(&t, 100, 5);
    assert!((e.statistic - (5.0 * 3f64.ln() + 95.0 * (0.97f64 / 0.99).ln())).abs() < 1e-9);
    assert!(e.rejected);
    assert_eq!(e.failures_to_halt, 5);
    let e = sprt(&t, 100, 4);
    assert!(!e.rejected);
    // At the baseline rate the statistic drifts down: 10 of 1,000 never halts.
    let e = sprt(&t, 1000, 10);
    assert!(!e.rejected && e.statistic < 0.0 && e.failures_to_halt > 10);
    // More failures than environments are capped.
    assert_eq!(sprt(&t, 3, 9).failures, 3);
}

proptest! {
    /// `rejected` agrees with `failures_to_halt` at every (n, f).
    #[test]
    fn failures_to_halt_is_the_rejection_boundary(n in 0u64..100_000, frac in 0.0f64..1.0, p0 in 0.001f64..0.2, k in 1.1f64..4.0, a in 0.001f64..0.5) {
        let t = ReleaseTest { baseline_failure_rate: p0, false_alarm_rate: a, failure_rate_ratio: k.min(0.99 / p0) };
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss, clippy::cast_precision_loss)]
        let f = (frac * n as f64) as u64;
        let e = sprt(&t, n, f);
        prop_assert_eq!(e.rejected, f >= e.failures_to_halt, "{:?}", e);
        if e.failures_to_halt > 0 && e.failures_to_halt <= n {
            prop_assert!(!sprt(&t, n, e.failures_to_halt - 1).rejected);
        }
    }
}

/// A small deterministic generator (SplitMix64) for the false-alarm property.
struct SplitMix(u64);
impl SplitMix {
    fn unit(&mut self) -> f64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        #[allow(clippy::cast_precision_loss)]
        let u = (z >> 11) as f64 / (1u64 << 53) as f64;
        u
    }
}

/// Independent environments failing at exactly the baseline rate, looked at after every single
/// environment (the most looks possible) up to 3,000 environments: the share of streams that ever
/// halt stays within α, with a one-sided binomial bound on the observed share (3 standard
/// errors), and well above zero (the bound is not vacuous).
#[test]
fn at_the_baseline_rate_the_test_halts_at_most_alpha_of_the_time_under_every_look() {
    let t = ReleaseTest {
        baseline_failure_rate: 0.02,
        false_alarm_rate: 0.05,
        failure_rate_ratio: 2.0,
    };
    let runs = 2_000u32;
    let mut rng = SplitMix(7);
    let mut halted = 0u32;
    for _ in 0..runs {
        let mut f = 0u64;
        for n in 1..=3_000u64 {
            if rng.unit() < t.baseline_failure_rate {
                f += 1;
            }
            if sprt(&t, n, f).rejected {
                halted += 1;
                break;
            }
        }
    }
    let rate = f64::from(halted) / f64::from(runs);
    let se = (0.05f64 * 0.95 / f64::from(runs)).sqrt();
    assert!(rate <= 0.05 + 3.0 * se, "halted {halted} of {runs}");
    assert!(halted > 0, "never halted: the test is not exercised");
}

fn plan_outcomes(kinds: &[(OutcomeKind, usize)]) -> Vec<EnvironmentOutcome> {
    kinds
        .iter()
        .flat_map(|(k, n)| std::iter::repeat_n(outcome(*k), *n))
        .collect()
}

#[test]
fn a_release_issue_halts_and_environment_issues_do_not() {
    let p = plan(PLAN);
    // 100 trials: 95 promoted, 5 failing analysis → release issue.
    let bad = plan_outcomes(&[(OutcomeKind::Promoted, 95), (OutcomeKind::AnalysisFailed, 5)]);
    let h = assess(&p, &bad);
    assert!(h.release_issue());
    assert_eq!(
        h.classes
            .iter()
            .flatten()
            .filter(|c| **c == FailureClass::ReleaseIssue)
            .count(),
        5
    );
    let d = decide(&p, 1, &h, &h.counts);
    let Decision::Halt(HaltReason::ReleaseIssue { wave, evidence }) = &d else {
        panic!("{d:?}")
    };
    assert_eq!((wave.as_str(), evidence.n, evidence.failures), ("small", 100, 5));
    assert!(d.message().starts_with("halted after wave small: release issue: 5 of 100 environments failed (5.00%) against a baseline of 1.00%; wald-sprt log-likelihood ratio 3.55 ≥ 3.00"), "{}", d.message());
    // The same failures explained by the environments: no halt, no suspects.
    let mut envs = bad.clone();
    for o in envs.iter_mut().filter(|o| o.kind == OutcomeKind::AnalysisFailed) {
        o.stable_unhealthy_before = true;
    }
    let h = assess(&p, &envs);
    assert!(!h.release_issue());
    assert_eq!(
        (h.counts.environment_issues, h.counts.counted, h.counts.trials()),
        (5, 0, 95)
    );
    assert_eq!(
        decide(&p, 0, &h, &h.counts),
        Decision::Proceed {
            next_wave: 1,
            next: "small".into()
        }
    );
    // Transient failures neither.
    let transient = plan_outcomes(&[(OutcomeKind::Promoted, 95), (OutcomeKind::ProviderUnreachable, 5)]);
    let h = assess(&p, &transient);
    assert!(!h.release_issue() && h.counts.transient == 5);
    // Fewer failures: suspects, proceed.
    let few = plan_outcomes(&[(OutcomeKind::Promoted, 97), (OutcomeKind::ProgressDeadline, 3)]);
    let h = assess(&p, &few);
    assert!(h.classes.iter().flatten().all(|c| *c == FailureClass::Suspect));
    assert_eq!(
        decide(&p, 0, &h, &h.counts),
        Decision::Proceed {
            next_wave: 1,
            next: "small".into()
        }
    );
}

#[test]
fn gates_hold_and_the_last_wave_completes() {
    let p = plan(PLAN);
    let undecided = plan_outcomes(&[(OutcomeKind::Promoted, 4), (OutcomeKind::Inconclusive, 6)]);
    let h = assess(&p, &undecided);
    assert_eq!((h.counts.undecided(), h.counts.trials()), (6, 10));
    // Wave "small" allows 50% undecided: 60% holds.
    let d = decide(&p, 1, &h, &h.counts);
    assert_eq!(
        d,
        Decision::Hold {
            hold: HoldReason::TooManyUndecided {
                wave: "small".into(),
                undecided: 6,
                environments: 10,
                max_percent: 50.0
            },
            next_wave: 2,
            next: "half".into()
        }
    );
    assert_eq!(
        d.message(),
        "hold after wave small: 6 of 10 environments undecided (60.0% > 50%); wave half waits for a person"
    );
    // Wave "half" asks for approval.
    let ok = plan_outcomes(&[(OutcomeKind::Promoted, 10)]);
    let h = assess(&p, &ok);
    assert_eq!(
        decide(&p, 2, &h, &h.counts),
        Decision::Hold {
            hold: HoldReason::Approval { wave: "half".into() },
            next_wave: 3,
            next: "all".into()
        }
    );
    assert_eq!(
        decide(&p, 2, &h, &h.counts).message(),
        "hold after wave half: wave all waits for a person's approval"
    );
    assert_eq!(decide(&p, 3, &h, &h.counts), Decision::Complete);
    // Decisions serialize with typed tags.
    let json = serde_json::to_value(decide(&p, 2, &h, &h.counts)).unwrap();
    assert_eq!(json["decision"], "hold");
    assert_eq!(json["hold"]["reason"], "approval");
}
