//! Property tests of the run machine: completed runs never go back to Running, dry-run metrics
//! never change the run's outcome, and runs whose measurements all errored never end Successful.

mod analysis_support;

use std::collections::{BTreeMap, BTreeSet};

use analysis_support::{at, settle};
use proptest::prelude::*;
use rollout_core::analysis::machine::{assess_run, step};
use rollout_core::analysis::{
    AnalysisPhase, AnalysisRun, DryRun, MeasurementRequest, Metric, MetricProvider, Observation,
    ProviderError,
};
use rollout_core::common::{IntOrString, Timestamp};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Outcome {
    Success,
    Fail,
    Inconclusive,
    Error,
    /// In flight for 7 s, then Successful.
    Slow,
}

#[derive(Debug, Clone)]
struct MetricSpec {
    interval: Option<u32>,
    count: Option<i64>,
    failure_limit: i64,
    inconclusive_limit: i64,
    error_limit: Option<i64>,
    success_limit: Option<i64>,
    delay: Option<u32>,
    outcomes: Vec<Outcome>,
}

fn outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        3 => Just(Outcome::Success),
        2 => Just(Outcome::Fail),
        1 => Just(Outcome::Inconclusive),
        2 => Just(Outcome::Error),
        1 => Just(Outcome::Slow),
    ]
}

fn metric_spec(outcomes: BoxedStrategy<Vec<Outcome>>) -> impl Strategy<Value = MetricSpec> {
    (
        prop_oneof![Just(None), Just(Some(5u32)), Just(Some(30u32))],
        prop_oneof![Just(None), (1i64..6).prop_map(Some)],
        0i64..3,
        0i64..3,
        prop_oneof![Just(None), (0i64..4).prop_map(Some)],
        prop_oneof![3 => Just(None), 1 => (1i64..3).prop_map(Some)],
        prop_oneof![3 => Just(None), 1 => Just(Some(20u32))],
        outcomes,
    )
        .prop_map(|(interval, count, fl, il, cel, csl, delay, outcomes)| {
            // Keep specs valid: count > 1 needs an interval; count bounds the limits.
            let interval = if count.is_some_and(|c| c > 1) {
                interval.or(Some(5))
            } else {
                interval
            };
            let (fl, il, csl) = match count {
                Some(c) => {
                    let fl = fl.min(c);
                    let csl = csl.filter(|s| fl + s <= c);
                    (fl, il.min(c), csl)
                }
                None => (fl, il, csl),
            };
            MetricSpec {
                interval,
                count,
                failure_limit: fl,
                inconclusive_limit: il,
                error_limit: cel,
                success_limit: csl,
                delay,
                outcomes,
            }
        })
}

fn to_metric(name: &str, s: &MetricSpec) -> Metric {
    Metric {
        name: name.to_string(),
        interval: s.interval.map(|i| format!("{i}s")),
        initial_delay: s.delay.map(|d| format!("{d}s")),
        count: s.count.map(IntOrString::Int),
        success_condition: Some("result == 1".into()),
        failure_condition: Some("result == 2".into()),
        failure_limit: Some(IntOrString::Int(s.failure_limit)),
        inconclusive_limit: Some(IntOrString::Int(s.inconclusive_limit)),
        consecutive_error_limit: s.error_limit.map(IntOrString::Int),
        consecutive_success_limit: s.success_limit.map(IntOrString::Int),
        provider: MetricProvider::opaque("fake", serde_json::json!({})),
    }
}

fn build(metrics: &[(String, MetricSpec)], dry: &[String]) -> AnalysisRun {
    let mut run = AnalysisRun::default();
    run.metadata.name = "prop".into();
    run.spec.metrics = metrics.iter().map(|(n, s)| to_metric(n, s)).collect();
    run.spec.dry_run = dry
        .iter()
        .map(|d| DryRun {
            metric_name: format!("^{d}$"),
        })
        .collect();
    run
}

struct Trace {
    phases: Vec<(Timestamp, AnalysisPhase)>,
    last: AnalysisRun,
}

/// Drives the run with outcomes taken per metric in order (the last one repeats), stepping at
/// every wake-up and at `terminate_at`, up to 1000 s.
fn simulate(
    mut run: AnalysisRun,
    outcomes: &BTreeMap<String, Vec<Outcome>>,
    terminate_at: Option<i64>,
) -> Trace {
    let mut used: BTreeMap<String, usize> = BTreeMap::new();
    let mut provider = |req: &MeasurementRequest| -> Result<Observation, ProviderError> {
        if req.in_flight.is_some() {
            return Ok(Observation::Result {
                result: rollout_core::analysis::MetricValue::Int(1),
                value: "1".into(),
                metadata: Default::default(),
            });
        }
        let list = &outcomes[&req.metric.name];
        let i = used.entry(req.metric.name.clone()).or_insert(0);
        let o = list.get(*i).or(list.last()).copied().unwrap_or(Outcome::Success);
        *i += 1;
        let v = |n: i64| {
            Ok(Observation::Result {
                result: rollout_core::analysis::MetricValue::Int(n),
                value: n.to_string(),
                metadata: Default::default(),
            })
        };
        match o {
            Outcome::Success => v(1),
            Outcome::Fail => v(2),
            Outcome::Inconclusive => v(0),
            Outcome::Error => Err(ProviderError::Failed("boom".into())),
            Outcome::Slow => Ok(Observation::InFlight {
                resume_at: req.now.checked_add(jiff::SignedDuration::from_secs(7)).unwrap(),
                metadata: Default::default(),
            }),
        }
    };
    let mut phases = Vec::new();
    let mut now = at(0);
    let mut pending_terminate = terminate_at.map(at);
    for _ in 0..400 {
        if pending_terminate.is_some_and(|t| t <= now) {
            run.spec.terminate = true;
            pending_terminate = None;
        }
        let out = settle(&mut run, now, &mut provider);
        phases.push((now, out.status.phase));
        let next = match (out.next_wake, pending_terminate) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        match next {
            Some(t) if t <= at(1000) => now = t.max(now),
            _ => break,
        }
        if out.status.phase.is_completed() && pending_terminate.is_none() {
            // Keep stepping a few times after completion to check it sticks.
            for extra in [1, 60, 600] {
                let later = now.checked_add(jiff::SignedDuration::from_secs(extra)).unwrap();
                let again = step(&run, later, vec![]);
                phases.push((later, again.status.phase));
            }
            break;
        }
    }
    Trace { phases, last: run }
}

fn scenario() -> impl Strategy<Value = (Vec<(String, MetricSpec)>, Option<i64>)> {
    (
        prop::collection::vec(metric_spec(prop::collection::vec(outcome(), 1..8).boxed()), 1..4),
        prop_oneof![Just(None), (0i64..200).prop_map(Some)],
    )
        .prop_map(|(specs, term)| {
            let named = specs
                .into_iter()
                .enumerate()
                .map(|(i, s)| (format!("m{i}"), s))
                .collect();
            (named, term)
        })
}

fn outcome_map(metrics: &[(String, MetricSpec)]) -> BTreeMap<String, Vec<Outcome>> {
    metrics
        .iter()
        .map(|(n, s)| (n.clone(), s.outcomes.clone()))
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn completed_runs_never_return_to_running((metrics, term) in scenario()) {
        let trace = simulate(build(&metrics, &[]), &outcome_map(&metrics), term);
        let mut completed: Option<AnalysisPhase> = None;
        for (t, p) in &trace.phases {
            if let Some(c) = completed {
                prop_assert_eq!(*p, c, "phase changed at {} after completing {:?}", t, c);
            } else if p.is_completed() {
                completed = Some(*p);
            }
        }
        let status = trace.last.status.unwrap();
        if status.phase.is_completed() {
            prop_assert!(status.completed_at.is_some());
        }
        for r in &status.metric_results {
            prop_assert!(r.measurements.len() <= 10);
        }
    }

    #[test]
    fn dry_run_metrics_never_change_the_run_outcome(
        (metrics, term) in scenario(),
        shadows in prop::collection::vec(
            metric_spec(prop::collection::vec(outcome(), 1..8).boxed()), 1..3),
    ) {
        let base = simulate(build(&metrics, &[]), &outcome_map(&metrics), term);
        let mut with = metrics.clone();
        let mut dry = Vec::new();
        for (i, s) in shadows.into_iter().enumerate() {
            let name = format!("shadow{i}");
            dry.push(name.clone());
            with.push((name, s));
        }
        let shadowed = simulate(build(&with, &dry), &outcome_map(&with), term);
        let a = base.last.status.unwrap();
        let b = shadowed.last.status.unwrap();
        // Dry-run metrics still have to finish (upstream keeps the run open for them), so the run
        // may complete later; but when both complete, the outcome is the same, and the real
        // metrics saw exactly the same measurements.
        if a.phase.is_completed() && b.phase.is_completed() {
            prop_assert_eq!(a.phase, b.phase);
        }
        if b.phase.is_completed() {
            prop_assert!(a.phase.is_completed());
        }
        prop_assert_eq!(a.run_summary.map(|s| s.count), b.run_summary.map(|s| s.count));
        for r in &a.metric_results {
            let other = b.metric_results.iter().find(|o| o.name == r.name).unwrap();
            prop_assert_eq!(r, other);
        }

        // Whatever the dry-run metrics concluded, the assessment of the run is the same.
        let mut status = b.clone();
        status.phase = AnalysisPhase::Running;
        let set: BTreeSet<String> = dry.iter().cloned().collect();
        let expected = assess_run(&mut status.clone(), &shadowed.last.spec.metrics, &set, shadowed.last.spec.terminate);
        for flip in [AnalysisPhase::Successful, AnalysisPhase::Failed, AnalysisPhase::Error, AnalysisPhase::Inconclusive] {
            let mut mutated = status.clone();
            for r in mutated.metric_results.iter_mut().filter(|r| r.dry_run && r.phase.is_completed()) {
                r.phase = flip;
                r.failed = 9;
                r.inconclusive = 9;
                r.consecutive_error = 9;
            }
            let got = assess_run(&mut mutated, &shadowed.last.spec.metrics, &set, shadowed.last.spec.terminate);
            prop_assert_eq!(&got, &expected);
        }
    }

    #[test]
    fn runs_with_only_error_measurements_never_end_successful(
        (metrics, term) in scenario(),
    ) {
        let mut all_errors = metrics.clone();
        for (_, s) in &mut all_errors {
            s.outcomes = vec![Outcome::Error];
        }
        let trace = simulate(build(&all_errors, &[]), &outcome_map(&all_errors), term);
        let status = trace.last.status.unwrap();
        let measured = status.metric_results.iter().any(|r| !r.measurements.is_empty());
        if measured {
            for (t, p) in &trace.phases {
                prop_assert_ne!(*p, AnalysisPhase::Successful, "Successful at {} with only errors", t);
            }
        }
        // With errors only, the run can end only in Error (limits) or stay Running.
        prop_assert!(matches!(status.phase, AnalysisPhase::Error | AnalysisPhase::Running | AnalysisPhase::Successful));
        if status.phase == AnalysisPhase::Successful {
            prop_assert!(!measured);
        }
    }
}

fn unsuccessful_outcome() -> impl Strategy<Value = Outcome> {
    prop_oneof![
        Just(Outcome::Fail),
        Just(Outcome::Inconclusive),
        Just(Outcome::Error)
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Upstream #4479, generalised: without a single Successful measurement no metric, and so no
    /// measured run, ends Successful.
    #[test]
    fn runs_without_a_successful_measurement_never_end_successful(
        (metrics, term) in scenario(),
        outcomes in prop::collection::vec(prop::collection::vec(unsuccessful_outcome(), 1..8), 3),
    ) {
        let mut failing = metrics.clone();
        for ((_, s), o) in failing.iter_mut().zip(outcomes) {
            s.outcomes = o;
        }
        let trace = simulate(build(&failing, &[]), &outcome_map(&failing), term);
        let status = trace.last.status.unwrap();
        for r in &status.metric_results {
            prop_assert_eq!(r.successful, 0);
            if r.phase.is_completed() && !r.measurements.is_empty() {
                prop_assert_ne!(r.phase, AnalysisPhase::Successful);
            }
        }
        if status.metric_results.iter().any(|r| !r.measurements.is_empty()) {
            prop_assert_ne!(status.phase, AnalysisPhase::Successful);
        }
    }
}
