use analysis_providers::prometheus::decode_response;
use serde_json::json;

use super::*;

fn vector(samples: Value) -> Vec<Series> {
    let body = json!({"status": "success", "data": {"resultType": "vector", "result": samples}});
    match decode_response(200, &body.to_string()).unwrap().result {
        QueryResult::Vector(v) => v,
        other => panic!("{other:?}"),
    }
}

fn outcome(cluster: &str, ns: &str, release: &str, outcome: &str, cause: &str, message: &str) -> Value {
    json!({"metric": {"__name__": OUTCOME_SERIES, "cluster": cluster, "instance": "10.0.0.1:8090",
                      "namespace": ns, "rollout": "web", "revision": "abc", "image": "shop:v2",
                      "release": release, "outcome": outcome, "cause": cause,
                      "environment": format!("{cluster}/{ns}"), "message": message},
           "value": [1_796_205_600.0, "1"]})
}

fn keyed(name: &str, cluster: &str, ns: &str, v: &str) -> Value {
    json!({"metric": {"__name__": name, "cluster": cluster, "instance": "10.0.0.1:8090",
                      "namespace": ns, "rollout": "web", "revision": "abc"},
           "value": [1_796_205_600.0, v]})
}

#[test]
fn canned_answers_become_outcomes_joined_per_cluster() {
    let outcomes = vector(json!([
        outcome("eu", "shop", "v2", "promoted", "", ""),
        outcome(
            "us",
            "shop",
            "v2",
            "analysis-failed",
            "AnalysisFailed",
            "Rollout aborted update to revision 2: error ratio"
        ),
        outcome("us", "cart", "v2", "teleported", "", ""),
    ]));
    let durations = vector(json!([
        keyed(DURATION_SERIES, "eu", "shop", "120"),
        keyed(DURATION_SERIES, "us", "shop", "45")
    ]));
    let extra = vector(json!([keyed(EXTRA_POD_SECONDS_SERIES, "eu", "shop", "600")]));
    let got = from_series(&outcomes, &durations, &extra, &[]);
    assert_eq!(got.outcomes.len(), 2);
    assert_eq!(got.ignored.len(), 1, "{:?}", got.ignored);
    assert!(got.ignored[0].contains("teleported"));
    let (eu, us) = (&got.outcomes[0], &got.outcomes[1]);
    assert_eq!(eu.source, "cluster=eu,instance=10.0.0.1:8090");
    assert_eq!(
        (eu.row.outcome, eu.duration_seconds, eu.extra_pod_seconds),
        (OutcomeKind::Promoted, Some(120.0), Some(600.0))
    );
    assert_eq!(
        (us.row.outcome, us.duration_seconds, us.extra_pod_seconds),
        (OutcomeKind::AnalysisFailed, Some(45.0), None)
    );
    assert_eq!(
        (us.row.cause.as_str(), us.row.environment.as_str()),
        ("AnalysisFailed", "us/shop")
    );
}

fn many(release: &str, promoted: usize, failed: &[(&str, &str)]) -> Vec<Value> {
    let mut v: Vec<Value> = (0..promoted)
        .map(|i| outcome("c", &format!("p{i}"), release, "promoted", "", ""))
        .collect();
    v.extend(
        failed
            .iter()
            .enumerate()
            .map(|(i, (o, c))| outcome("c", &format!("f{i}"), release, o, c, "why")),
    );
    v
}

#[test]
fn a_release_failing_widely_halts_and_lists_its_degraded_environments() {
    let bad: Vec<(&str, &str)> = vec![("analysis-failed", "AnalysisFailed"); 12];
    let mut samples = many("bad", 40, &bad);
    samples.extend(many(
        "good",
        60,
        &[
            ("provider-unreachable", "ProviderUnreachable"),
            ("invalid-spec", "InvalidSpec"),
            ("in-progress", ""),
        ],
    ));
    let outcomes = from_series(&vector(Value::Array(samples)), &[], &[], &[]);
    let plan: ReleasePlan =
        serde_yaml::from_str("release: any\nwaves: [{name: first, percent: 10}, {name: rest, percent: 100}]")
            .unwrap();
    let view = fleet_view(&plan, 0, &outcomes);
    let names: Vec<&str> = view.releases.iter().map(|r| r.release.as_str()).collect();
    assert_eq!(names, ["bad", "good"]);
    let (bad, good) = (&view.releases[0], &view.releases[1]);
    assert!(bad.decision.is_halt(), "{}", bad.decision_message);
    assert!(
        bad.classified
            .iter()
            .all(|c| c.class == FailureClass::ReleaseIssue)
    );
    assert_eq!(bad.degraded.len(), 12);
    assert_eq!(bad.cost, None);
    assert!(!good.decision.is_halt(), "{}", good.decision_message);
    let degraded: Vec<OutcomeKind> = good.degraded.iter().map(|d| d.outcome).collect();
    assert_eq!(
        degraded,
        [OutcomeKind::ProviderUnreachable, OutcomeKind::InvalidSpec]
    );
    let classes: Vec<&str> = good.classified.iter().map(|c| c.class.as_str()).collect();
    assert_eq!(classes, ["transient", "suspect"]);
    assert_eq!(good.health.counts.pending, 1);
    let now = Timestamp::from_second(1_796_205_600).unwrap();
    let hold = halt_hold(bad, &outcomes, now).unwrap();
    assert_eq!((hold.image.as_deref(), hold.revision), (Some("shop:v2"), None));
    assert_eq!((hold.release.as_str(), hold.since), ("bad", now));
    assert!(
        hold.reason.starts_with("halted after wave first: release issue"),
        "{}",
        hold.reason
    );
    assert_eq!(halt_hold(good, &outcomes, now), None);
}
