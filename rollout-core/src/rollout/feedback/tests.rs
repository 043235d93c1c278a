//! Table tests of the feedback sentences, number formats and the status round trip.

use super::*;
use crate::analysis::AnalysisPhase;
use crate::rollout::group::{GroupCause, MemberProblem};
use crate::rollout::why::{MetricWhy, RunRef};

/// Every cause, in declaration order ([`examples`] matches them exhaustively).
const ALL: [Cause; 14] = [
    Cause::AnalysisFailed,
    Cause::AnalysisInconclusive,
    Cause::AnalysisError,
    Cause::ProviderUnreachable,
    Cause::ProgressDeadline,
    Cause::InvalidSpec,
    Cause::ReplicaFailure,
    Cause::UserAbort,
    Cause::ForcedAbort,
    Cause::GroupAbort,
    Cause::GroupHold,
    Cause::ConfigMissing,
    Cause::RollbackHeld,
    Cause::FleetHold,
];

fn evidence(name: &str, statistic: &str) -> Evidence {
    Evidence {
        name: name.into(),
        statistic: statistic.into(),
        value: None,
        effect: None,
        interval: None,
        samples: None,
        samples_needed: None,
        extra: Vec::new(),
    }
}

fn metric(judge: Option<JudgeWhy>, message: &str) -> MetricWhy {
    MetricWhy {
        name: "error-rate".into(),
        phase: AnalysisPhase::Failed,
        message: message.into(),
        provider_error: None,
        http_status: None,
        judge_error: None,
        judge,
    }
}

fn judge(code: &str, evidence: Vec<Evidence>) -> JudgeWhy {
    JudgeWhy {
        name: "error-ratio".into(),
        code: code.into(),
        score: None,
        evidence,
    }
}

fn analysis(cause: Cause, metric: Option<MetricWhy>) -> Why {
    let mut why = Why::user_abort();
    why.cause = cause;
    why.revision = Some(3);
    why.detail = "Metric \"error-rate\" assessed Failed due to failed (1) > failureLimit (0)".into();
    why.run = Some(RunRef {
        name: "web-3-bg".into(),
        kind: AnalysisRunKind::Background,
        phase: AnalysisPhase::Failed,
    });
    why.metric = metric;
    why
}

fn missing(names: &[&str]) -> Vec<MissingConfig> {
    names
        .iter()
        .map(|n| MissingConfig {
            object: ConfigRef::secret(*n),
            needed_by: vec!["web-6f7".into()],
        })
        .collect()
}

fn group(problem: MemberProblem) -> GroupCause {
    GroupCause {
        group: "shop".into(),
        member: "api".into(),
        problem,
    }
}

/// Causes and the sentences they render to. The match is exhaustive: a new cause does not
/// compile until it has a sentence here.
fn examples(cause: Cause) -> Vec<(Why, &'static str)> {
    match cause {
        Cause::AnalysisFailed => {
            let mut ratio = evidence("error-rate", "e-value");
            ratio.samples = Some((1840, 5520));
            ratio.extra = vec![
                ("canary-rate".into(), "0.0234".into()),
                ("stable-rate".into(), "0.004".into()),
            ];
            let mut latency = evidence("latency p99", "quantile-interval");
            latency.interval = Some((412.5, 530.0));
            latency.samples = Some((12_345, 40_000));
            latency.extra = vec![("stable-upper".into(), "250".into())];
            let mut delta = evidence("error-ratio", "ratio-delta");
            delta.value = Some(0.019);
            delta.samples = Some((900, 900));
            let with = |e: Evidence| analysis(cause, Some(metric(Some(judge("regression", vec![e])), "")));
            vec![
                (
                    with(ratio),
                    "rolled back: canary error ratio 2.3% vs stable 0.4% over 1,840 canary requests",
                ),
                (
                    with(latency),
                    "rolled back: canary latency p99 at least 412.5 vs stable at most 250 over 12,345 \
                     canary samples",
                ),
                (
                    with(delta),
                    "rolled back: canary error ratio 1.9 points above stable over 900 canary requests",
                ),
                (
                    analysis(cause, Some(metric(Some(judge("regression", vec![])), "x"))),
                    "rolled back: metric error-rate failed (judge error-ratio: regression)",
                ),
                (
                    analysis(cause, Some(metric(None, "result 0.2 > 0.1"))),
                    "rolled back: metric error-rate failed: result 0.2 > 0.1",
                ),
                (
                    analysis(cause, None),
                    "rolled back: analysis web-3-bg (background analysis) failed: Metric \
                     \"error-rate\" assessed Failed due to failed (1) > failureLimit (0)",
                ),
            ]
        }
        Cause::AnalysisInconclusive => {
            let mut short = evidence("error-rate", "e-value");
            short.samples_needed = Some(1200);
            let held = |m: Option<MetricWhy>| {
                let mut w = analysis(cause, m);
                w.condition = ConditionType::Paused;
                w.reason = "InconclusiveAnalysisRun".into();
                w
            };
            vec![
                (
                    held(Some(metric(Some(judge("insufficient-data", vec![short])), ""))),
                    "held: analysis inconclusive on metric error-rate (not enough data yet, 1,200 \
                     more samples per arm needed)",
                ),
                (
                    held(Some(metric(Some(judge("environment-unhealthy", vec![])), ""))),
                    "held: analysis inconclusive on metric error-rate (judge error-ratio: \
                     environment unhealthy)",
                ),
                (
                    held(None),
                    "held: analysis inconclusive, waiting for a person to promote or abort",
                ),
            ]
        }
        Cause::AnalysisError => vec![(
            analysis(cause, Some(metric(None, "query returned no data\nsecond line"))),
            "rolled back: analysis errored on metric error-rate: query returned no data",
        )],
        Cause::ProviderUnreachable => {
            let mut m = metric(None, "");
            m.provider_error = Some(ProviderErrorKind::Timeout);
            vec![
                (
                    analysis(cause, Some(m)),
                    "rolled back: the metrics source of metric error-rate timed out",
                ),
                (
                    analysis(cause, None),
                    "rolled back: the metrics source of analysis web-3-bg (background analysis) \
                     was unreachable",
                ),
            ]
        }
        Cause::ProgressDeadline => {
            let why = Why::progress_deadline(Some("web-6f7".into()), "ReplicaSet timed out".into());
            vec![
                (
                    why.clone().into_abort(),
                    "rolled back: progress deadline exceeded, ReplicaSet web-6f7 never became ready",
                ),
                (
                    why,
                    "stalled: progress deadline exceeded, ReplicaSet web-6f7 never became ready",
                ),
                (
                    Why::progress_deadline(None, String::new()),
                    "stalled: progress deadline exceeded",
                ),
            ]
        }
        Cause::InvalidSpec => vec![
            (
                Why::invalid_spec("spec.strategy.canary.steps[0].setWeight: must be 0..=100".into()),
                "stopped: invalid spec: spec.strategy.canary.steps[0].setWeight: must be 0..=100",
            ),
            (
                Why::invalid_spec("x".repeat(400)),
                // 160 characters then an ellipsis.
                Box::leak(format!("stopped: invalid spec: {}…", "x".repeat(160)).into_boxed_str()),
            ),
        ],
        Cause::ReplicaFailure => vec![(
            Why::replica_failure("Forbidden", "exceeded quota: compute".into()),
            "stalled: the API server refused a ReplicaSet change (Forbidden): exceeded quota: compute",
        )],
        Cause::UserAbort => vec![(Why::user_abort(), "rolled back: aborted by a user")],
        Cause::ForcedAbort => vec![(
            Why::forced_abort("fleet brake engaged for release r42".into()),
            "rolled back: aborted by the coordinator: fleet brake engaged for release r42",
        )],
        Cause::GroupAbort => vec![(
            Why::group_abort(&group(MemberProblem::Aborted {
                cause: Some(Cause::AnalysisFailed),
                message: "analysis failed".into(),
            })),
            "rolled back: group shop: member api aborted: analysis failed",
        )],
        Cause::GroupHold => vec![(
            Why::group_hold(&group(MemberProblem::NotObserved)),
            "held: group shop: member api has not been reconciled at its current spec",
        )],
        Cause::ConfigMissing => vec![
            (
                Why::config_missing(missing(&["api-key"])),
                "degraded: Secret/api-key needed by ReplicaSets that may serve again is missing",
            ),
            (
                Why::config_missing(missing(&["a", "b", "c", "d", "e"])),
                "degraded: Secret/a, Secret/b, Secret/c and 2 more needed by ReplicaSets that may \
                 serve again are missing",
            ),
        ],
        Cause::RollbackHeld => vec![(
            Why::rollback_held("web-5d4", missing(&["api-key"])),
            "held: the stable version's config Secret/api-key is missing, so the canary keeps \
             serving",
        )],
        Cause::FleetHold => vec![(
            Why::fleet_hold(&crate::fleet::brake::FleetHoldCause {
                release: "v2".into(),
                reason: "fails in 7 of 120 environments".into(),
                matched: crate::fleet::brake::HoldMatch::Image("reg/app:v2".into()),
                since: jiff::Timestamp::UNIX_EPOCH,
            }),
            "held: the fleet brake holds release v2 (image reg/app:v2): fails in 7 of 120 environments",
        )],
    }
}

#[test]
fn every_cause_has_a_sentence() {
    for cause in ALL {
        let table = examples(cause);
        assert!(!table.is_empty(), "{cause:?}");
        for (why, want) in table {
            assert_eq!(why.cause, cause, "example of {cause:?}");
            assert_eq!(why.feedback(), want, "{why:#?}");
            assert_eq!(of_causes(std::slice::from_ref(&why)).as_deref(), Some(want));
        }
    }
    let names: std::collections::BTreeSet<String> = ALL.iter().map(|c| format!("{c:?}")).collect();
    assert_eq!(names.len(), ALL.len(), "ALL lists each cause once");
}

#[test]
fn the_most_important_cause_wins() {
    let held = Why::rollback_held("web-5d4", missing(&["api-key"]));
    let abort = Why::user_abort();
    let degraded = Why::config_missing(missing(&["api-key"]));
    let hold = Why::group_hold(&group(MemberProblem::NotObserved));
    assert_eq!(of_causes(&[]), None);
    assert_eq!(of_causes(&[abort.clone(), held.clone()]), Some(held.feedback()));
    assert_eq!(
        of_causes(&[degraded.clone(), abort.clone()]),
        Some(abort.feedback())
    );
    assert_eq!(
        of_causes(&[degraded.clone(), hold.clone()]),
        Some(hold.feedback())
    );
    assert_eq!(
        of_causes(std::slice::from_ref(&degraded)),
        Some(degraded.feedback())
    );
}

#[test]
fn numbers_are_written_for_people() {
    let table: [(u64, &str); 6] = [
        (0, "0"),
        (999, "999"),
        (1000, "1,000"),
        (1840, "1,840"),
        (1_234_567, "1,234,567"),
        (u64::MAX, "18,446,744,073,709,551,615"),
    ];
    for (n, want) in table {
        assert_eq!(thousands(n), want);
    }
    let table: [(f64, &str); 6] = [
        (0.0234, "2.3%"),
        (0.004, "0.4%"),
        (0.0, "0.0%"),
        (0.0001, "<0.1%"),
        (1.0, "100.0%"),
        (0.12345, "12.3%"),
    ];
    for (r, want) in table {
        assert_eq!(percent(r), want, "{r}");
    }
    let table: [(f64, &str); 6] = [
        (250.0, "250"),
        (412.5, "412.5"),
        (0.12345, "0.123"),
        (12345.6789, "12,345.679"),
        (-1.5, "-1.5"),
        (-0.0001, "0"),
    ];
    for (v, want) in table {
        assert_eq!(number(v), want, "{v}");
    }
}

#[test]
fn extra_pairs_from_either_json_form() {
    let pairs = extra_pairs(&serde_json::json!([
        ["canary-rate", "0.02"],
        ["looks", 3],
        ["bad"],
        7
    ]));
    assert_eq!(
        pairs,
        vec![
            ("canary-rate".to_string(), "0.02".to_string()),
            ("looks".to_string(), "3".to_string())
        ]
    );
    let pairs = extra_pairs(&serde_json::json!({"stable-upper": 250, "input": "histogram"}));
    assert_eq!(pairs.len(), 2);
    let many: Vec<Value> = (0..100)
        .map(|i| serde_json::json!([format!("k{i}"), "v"]))
        .collect();
    assert_eq!(extra_pairs(&Value::Array(many)).len(), MAX_EXTRA);
}

#[test]
fn the_sentence_round_trips_through_the_status() {
    let mut status = crate::rollout::RolloutStatus::default();
    crate::rollout::why::set_for_condition(
        &mut status,
        ConditionType::Degraded,
        Some(Why::rollback_held("web-5d4", missing(&["api-key"]))),
    );
    let want = "held: the stable version's config Secret/api-key is missing, so the canary keeps serving";
    assert_eq!(status.feedback, want);
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["feedback"], want);
    let back: crate::rollout::RolloutStatus = serde_json::from_value(json).unwrap();
    assert_eq!(back, status);
    crate::rollout::why::set_for_condition(&mut status, ConditionType::Degraded, None);
    assert_eq!(status.feedback, "");
    assert!(serde_json::to_value(&status).unwrap().get("feedback").is_none());
}
