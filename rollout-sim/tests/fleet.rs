//! Fleet simulation: the bundled plans, field-path validation, determinism, traffic-dependent
//! detection, and the two properties of issue #14: a good release halts no more often than the
//! configured false-alarm rate over seeded runs, and a bad release failing in 5% of environments
//! is halted with the environments exposed before the halt reported.

use rollout_core::fleet::{Decision, FailureClass, HoldReason, OutcomeKind};
use rollout_sim::fleet::model::{environments, roll_out};
use rollout_sim::fleet::{FleetError, FleetSpec, simulate_fleet};
use statrs::distribution::{Binomial, DiscreteCDF};

fn bundled(file: &str) -> FleetSpec {
    let path = format!("{}/../examples/fleet/{file}", env!("CARGO_MANIFEST_DIR"));
    FleetSpec::from_yaml(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// A fleet of `n` environments, many with little traffic, whose only release-like failures are
/// independent faults at `fault_rate`, with many waves (many looks).
fn property_spec(n: u32, fault_rate: f64, failing_percent: f64) -> FleetSpec {
    FleetSpec::from_yaml(&format!(
        "plan:
  release: v
  test: {{baselineFailureRate: 0.01, falseAlarmRate: 0.05, failureRateRatio: 3}}
  waves:
    - {{name: ring, ring: canary}}
    - {{name: w1, percent: 1}}
    - {{name: w2, percent: 2}}
    - {{name: w5, percent: 5}}
    - {{name: w10, percent: 10}}
    - {{name: w20, percent: 20}}
    - {{name: w40, percent: 40}}
    - {{name: w70, percent: 70}}
    - {{name: all, percent: 100}}
fleet:
  environments: {n}
  rings: {{canary: 20}}
  traffic: {{medianRequestsPerMinute: 40, spread: 1.5}}
  burstiness: 0.3
  faultRate: {fault_rate}
  flakyRate: 0.01
  unhealthyRate: 0.01
  transientRate: 0.01
release: {{failingPercent: {failing_percent}, errorRateMultiplier: 10}}
analysis: {{alpha: 0.001}}
"
    ))
    .unwrap()
}

#[test]
fn the_bundled_good_release_reaches_every_environment() {
    let r = simulate_fleet(&bundled("plan.yaml"), None).unwrap();
    assert!(!r.halted(), "{}", r.decision.message());
    assert_eq!(
        (r.environments, r.exposed, r.uncovered, r.affected),
        (17_000, 17_000, 0, 0)
    );
    assert_eq!(r.waves.len(), 5);
    assert_eq!(r.waves.iter().map(|w| w.environments).sum::<u64>(), 17_000);
    assert_eq!(r.waves[0].environments, 100); // the canary ring
    // Every kind of non-release failure shows up and is classified as such.
    assert!(
        r.classes["environment-issue"] > 0 && r.classes["transient"] > 0,
        "{:?}",
        r.classes
    );
    assert!(!r.classes.contains_key("release-issue"));
    // Low traffic: a good share of environments ends inconclusive, and the gate holds none back.
    assert!(r.counts.inconclusive > 1_000, "{:?}", r.counts);
}

#[test]
fn the_bundled_bad_release_is_halted_in_an_early_wave() {
    let r = simulate_fleet(&bundled("bad-release.yaml"), None).unwrap();
    assert!(r.halted(), "{}", r.decision.message());
    assert!(r.exposed < 17_000 / 4, "exposed {}", r.exposed);
    assert!(r.exposed_affected > 0 && r.exposed_affected < r.affected);
    assert!(r.classes["release-issue"] > 0);
    assert!(
        r.decision.message().starts_with("halted after wave "),
        "{}",
        r.decision.message()
    );
    let last = r.waves.last().unwrap();
    assert!(last.evidence.rejected && last.evidence.statistic >= last.evidence.threshold);
    assert!(r.examples.iter().any(|x| x.class == FailureClass::ReleaseIssue
        && x.kind == OutcomeKind::AnalysisFailed
        && x.message.contains("canary error ratio")));
}

#[test]
fn runs_are_deterministic_and_an_environment_does_not_depend_on_the_plan() {
    let spec = property_spec(2_000, 0.01, 5.0);
    assert_eq!(
        simulate_fleet(&spec, Some(3)).unwrap(),
        simulate_fleet(&spec, Some(3)).unwrap()
    );
    assert_ne!(
        simulate_fleet(&spec, Some(3)).unwrap(),
        simulate_fleet(&spec, Some(4)).unwrap()
    );
    let envs = environments(&spec, 3);
    let mut other = spec.clone();
    other.plan.waves.retain(|w| w.percent != Some(5.0));
    assert_eq!(environments(&other, 3), envs);
    assert_eq!(
        roll_out(&other, 3, 42, &envs[42]),
        roll_out(&spec, 3, 42, &envs[42])
    );
}

#[test]
fn detection_depends_on_traffic() {
    // Every environment is affected; the busiest fifth fail far more often than the quietest,
    // which mostly end inconclusive.
    let spec = property_spec(4_000, 0.0, 100.0);
    let envs = environments(&spec, 5);
    let mut by_traffic: Vec<(f64, OutcomeKind)> = envs
        .iter()
        .enumerate()
        .map(|(i, e)| (e.requests_per_minute, roll_out(&spec, 5, i as u64, e).kind))
        .collect();
    by_traffic.sort_by(|a, b| a.0.total_cmp(&b.0));
    let share = |slice: &[(f64, OutcomeKind)], k: OutcomeKind| {
        slice.iter().filter(|(_, o)| *o == k).count() as f64 / slice.len() as f64
    };
    let (quiet, busy) = (&by_traffic[..800], &by_traffic[3_200..]);
    let failed = |s| share(s, OutcomeKind::AnalysisFailed);
    let inconclusive = |s| share(s, OutcomeKind::Inconclusive);
    eprintln!(
        "failed: busiest fifth {:.2}, quietest {:.2}; inconclusive: quietest {:.2}",
        failed(busy),
        failed(quiet),
        inconclusive(quiet)
    );
    assert!(failed(busy) > 0.6 && failed(busy) > 5.0 * failed(quiet));
    assert!(inconclusive(quiet) > 0.6 && inconclusive(quiet) > failed(quiet));
}

#[test]
fn spec_problems_name_their_field() {
    let base = std::fs::read_to_string(format!(
        "{}/../examples/fleet/plan.yaml",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let cases = [
        (
            "environments: 17000",
            "environments: 300000",
            "fleet.environments: Invalid value: 300000: must be between 1 and 200000",
        ),
        (
            "rings: {canary: 100}",
            "rings: {canary: 20000}",
            "fleet.rings: Invalid value: 20000: more environments in rings than the fleet's 17000",
        ),
        (
            "rings: {canary: 100}",
            "rings: {blue: 100}",
            "plan.waves[0].ring: Invalid value: canary: no such ring in fleet.rings",
        ),
        (
            "faultRate: 0.005",
            "faultRate: 1.5",
            "fleet.faultRate: Invalid value: 1.5: must be at least 0 and at most 1",
        ),
        (
            "spread: 1.5",
            "spread: -1",
            "fleet.traffic.spread: Invalid value: -1: must be at least 0 and at most 5",
        ),
        (
            "failingPercent: 0",
            "failingPercent: 120",
            "release.failingPercent: Invalid value: 120: must be at least 0 and at most 100",
        ),
        (
            "windows: 3",
            "windows: 0",
            "analysis.windows: Invalid value: 0: must be between 1 and 100",
        ),
        (
            "canaryWeight: 20",
            "canaryWeight: 0",
            "analysis.canaryWeight: Invalid value: 0: must be above 0 and at most 99",
        ),
        (
            "percent: 25}",
            "percent: 2}",
            "plan.waves[3].percent: Invalid value: 2: percentages are cumulative: must be above the previous wave's 5",
        ),
    ];
    for (from, to, want) in cases {
        assert!(base.contains(from), "{from}");
        let err = FleetSpec::from_yaml(&base.replacen(from, to, 1)).unwrap_err();
        let FleetError::Invalid(problems) = &err else {
            panic!("{err}")
        };
        let got: Vec<String> = problems.iter().map(ToString::to_string).collect();
        assert_eq!(got, vec![want.to_string()], "{to}");
    }
    let err = FleetSpec::from_yaml(&base.replacen("burstiness", "burstyness", 1)).unwrap_err();
    assert!(
        matches!(&err, FleetError::Yaml(m) if m.contains("unknown field `burstyness`")),
        "{err}"
    );
}

/// 200 seeded runs of a good release over 2,000 environments whose release-like failures are
/// independent faults and judge false alarms (0.9% + at most the judge's α of 0.1%: at most the
/// baseline of 1%), looked at after each
/// of 9 waves: the number of halts must be consistent with a halt rate of at most α = 5% — the
/// run fails when P(Binomial(200, 0.05) ≥ halts) < 0.001 (a one-sided binomial bound on the
/// observed rate).
#[test]
fn a_good_release_halts_no_more_often_than_the_false_alarm_rate() {
    let spec = property_spec(2_000, 0.009, 0.0);
    let runs = 200u64;
    let halts = (0..runs)
        .filter(|seed| simulate_fleet(&spec, Some(1_000 + seed)).unwrap().halted())
        .count() as u64;
    let binom = Binomial::new(0.05, runs).unwrap();
    let p_at_least = if halts == 0 { 1.0 } else { binom.sf(halts - 1) };
    eprintln!("good release: {halts} halts in {runs} runs (P(≥{halts} | α = 5%) = {p_at_least:.4})");
    assert!(
        p_at_least >= 0.001,
        "{halts} halts in {runs} runs: P = {p_at_least}"
    );
}

/// A bad release failing in 5% of environments (10× the error rate there) is halted in every one of
/// 50 seeded runs, before half of the fleet has it in most runs, and the exposure is reported.
#[test]
fn a_bad_release_failing_in_five_percent_of_environments_is_halted() {
    let spec = property_spec(2_000, 0.009, 5.0);
    let mut exposed = Vec::new();
    for seed in 0..50 {
        let r = simulate_fleet(&spec, Some(2_000 + seed)).unwrap();
        assert!(r.halted(), "seed {seed}: {}", r.decision.message());
        assert!(r.exposed < r.environments, "seed {seed}");
        assert_eq!(r.exposed, r.waves.last().unwrap().cumulative);
        exposed.push(r.exposed);
    }
    exposed.sort_unstable();
    eprintln!(
        "bad release: exposed before the halt: median {}, max {} of 2000",
        exposed[25], exposed[49]
    );
    assert!(exposed[25] <= 1_000, "{exposed:?}");
}

#[test]
fn a_gate_holds_for_a_person_and_the_simulation_approves() {
    let path = format!("{}/../examples/fleet/plan.yaml", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(path).unwrap();
    let strict = text.replacen("maxInconclusivePercent: 80", "maxInconclusivePercent: 10", 1);
    let r = simulate_fleet(&FleetSpec::from_yaml(&strict).unwrap(), None).unwrap();
    let held = &r.waves[2];
    assert_eq!(held.name, "five-percent");
    let Decision::Hold {
        hold:
            HoldReason::TooManyUndecided {
                undecided,
                environments,
                ..
            },
        next,
        ..
    } = &held.decision
    else {
        panic!("{:?}", held.decision)
    };
    assert_eq!((*environments, next.as_str()), (held.environments, "quarter"));
    assert!(*undecided * 10 > *environments);
    assert!(
        rollout_sim::fleet::render_text(&r)
            .contains("wave quarter waits for a person (approved in the simulation)")
    );
    assert_eq!((r.exposed, r.decision.clone()), (17_000, Decision::Complete));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]
    /// Whatever the fleet and the release: waves partition the exposed environments, every outcome
    /// is counted once, the test runs over the trials, and only a halt leaves environments out.
    #[test]
    fn reports_add_up(
        n in 1u32..400,
        ring in 0u32..40,
        fault in 0.0f64..0.3,
        transient in 0.0f64..0.3,
        failing in 0.0f64..100.0,
        seed in 0u64..1_000,
    ) {
        let mut spec = property_spec(400, fault, failing);
        spec.fleet.environments = n;
        spec.fleet.rings.insert("canary".into(), ring.min(n));
        spec.fleet.transient_rate = transient;
        let r = simulate_fleet(&spec, Some(seed)).unwrap();
        let c = &r.counts;
        proptest::prop_assert_eq!(r.waves.iter().map(|w| w.environments).sum::<u64>(), r.exposed);
        proptest::prop_assert_eq!(r.waves.last().map_or(0, |w| w.cumulative), r.exposed);
        proptest::prop_assert_eq!(
            c.promoted + c.counted + c.environment_issues + c.transient + c.inconclusive + c.pending,
            c.environments
        );
        proptest::prop_assert_eq!(c.environments, r.exposed);
        proptest::prop_assert_eq!((r.evidence.n, r.evidence.failures), (c.trials(), c.counted));
        proptest::prop_assert_eq!(r.classes.values().sum::<u64>(), c.counted + c.environment_issues + c.transient);
        if r.halted() {
            proptest::prop_assert!(r.evidence.rejected);
        } else {
            proptest::prop_assert_eq!(r.exposed, u64::from(n));
            proptest::prop_assert!(!r.classes.contains_key("release-issue"));
        }
    }
}
