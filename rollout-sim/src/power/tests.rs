//! The power simulation against the error-ratio statistics run natively (the same code the shipped
//! WASM judge compiles).

use judge_stats::error_ratio;
use judge_types::{JudgeInput, JudgeVerdict};

use super::*;

/// `judge_stats::error_ratio::judge` with its config and state in JSON, as the component does.
struct NativeErrorRatio;

impl PowerJudge for NativeErrorRatio {
    fn evaluate(&self, input: &JudgeInput) -> Result<JudgeVerdict, String> {
        let config: error_ratio::Config = serde_json::from_str(&input.config).map_err(|e| e.to_string())?;
        let state = match &input.state {
            Some(b) => Some(serde_json::from_slice(b).map_err(|e| e.to_string())?),
            None => None,
        };
        let (mut v, next) = error_ratio::judge(input, &config, state);
        v.state = Some(serde_json::to_vec(&next).map_err(|e| e.to_string())?);
        Ok(v)
    }
}

fn setup() -> JudgeSetup {
    JudgeSetup {
        metric: "error-ratio".into(),
        config: r#"{"alpha": 0.05, "tolerance": 0.25, "minRequests": 500}"#.into(),
        canary: "canary".into(),
        stable: "stable".into(),
        cadence: Cadence {
            initial_delay_s: 60,
            interval_s: 60,
            count: None,
            failure_limit: 0,
            inconclusive_limit: 1_000,
            consecutive_success_limit: 0,
            window_s: 60,
        },
    }
}

/// setWeight 20, pause `first`, setWeight 50, pause 5m; a background run from the start.
fn plan(first: u64) -> PowerPlan {
    let step = |share, kind| PowerStep { share, kind };
    PowerPlan {
        steps: vec![
            step(0.2, StepKind::Instant),
            step(0.2, StepKind::Pause(first)),
            step(0.5, StepKind::Instant),
            step(0.5, StepKind::Pause(300)),
        ],
        background_from: Some(0),
    }
}

fn traffic(rps: f64) -> Traffic {
    Traffic {
        rps,
        error_rate: 0.01,
        overdispersion: 0.0,
    }
}

fn run(p: &PowerPlan, t: Traffic, regression: f64, runs: u32, seed: u64) -> PowerReport {
    let e = Experiment {
        regression,
        runs,
        seed,
    };
    power(p, &setup(), t, e, &NativeErrorRatio).unwrap()
}

#[test]
fn power_rises_with_rps_and_with_the_regression() {
    // Table over seeds: at each seed, more traffic or a larger regression never detects less
    // (beyond Monte-Carlo noise), and the extremes differ clearly.
    let last = 3;
    for seed in [1, 42] {
        let by_rps: Vec<f64> = [2.0, 10.0, 50.0]
            .map(|rps| run(&plan(300), traffic(rps), 2.0, 40, seed).power(last, None))
            .to_vec();
        assert!(
            by_rps.windows(2).all(|w| w[0] <= w[1] + 0.05),
            "seed {seed}: {by_rps:?}"
        );
        assert!(by_rps[2] >= by_rps[0] + 0.3, "seed {seed}: {by_rps:?}");
        let by_regression: Vec<f64> = [1.2, 2.0, 4.0]
            .map(|r| run(&plan(300), traffic(10.0), r, 40, seed).power(last, None))
            .to_vec();
        assert!(
            by_regression.windows(2).all(|w| w[0] <= w[1] + 0.05),
            "seed {seed}: {by_regression:?}"
        );
        assert!(
            by_regression[2] >= by_regression[0] + 0.3,
            "seed {seed}: {by_regression:?}"
        );
    }
}

#[test]
fn power_grows_step_by_step_and_is_reproducible() {
    let a = run(&plan(300), traffic(10.0), 2.0, 50, 3);
    let b = run(&plan(300), traffic(10.0), 2.0, 50, 3);
    assert_eq!(a, b);
    let by_step: Vec<f64> = (0..4).map(|i| a.power(i, None)).collect();
    assert!(by_step.windows(2).all(|w| w[0] <= w[1]), "{by_step:?}");
    assert_eq!(by_step[0], 0.0, "an instant step detects nothing");
    assert!(a.evaluations > 0);
}

#[test]
fn at_one_x_false_alarms_stay_within_alpha_plus_monte_carlo_slack() {
    // alpha 0.05 over 200 runs: 3 standard errors of slack (0.046).
    for (rps, od) in [(10.0, 0.0), (50.0, 0.5)] {
        let t = Traffic {
            overdispersion: od,
            ..traffic(rps)
        };
        let r = run(&plan(300), t, 1.0, 200, 11);
        assert_eq!(r.regressed, r.null, "regression 1x is the null");
        let fa = r.false_alarm(3);
        assert!(
            fa <= 0.05 + 0.046,
            "rps {rps}, overdispersion {od}: false alarms {fa}"
        );
    }
}

#[test]
fn a_short_first_pause_is_flagged_and_a_long_one_is_longer_than_needed() {
    let p = plan(20);
    let r = run(&p, traffic(5.0), 2.0, 80, 5);
    let f = flags(&p, &setup(), &r, 0.9);
    assert!(
        f.iter().any(|f| matches!(f, Flag::TooShort { step: 1, .. })),
        "{f:?}"
    );
    let p = plan(3_600);
    let r = run(&p, traffic(50.0), 3.0, 80, 5);
    let f = flags(&p, &setup(), &r, 0.9);
    assert!(
        f.iter().any(|f| matches!(f, Flag::LongerThanNeeded { step: 1, needed_s, duration_s: 3_600 } if *needed_s < 1_800)),
        "{f:?}"
    );
}

#[test]
fn a_proposal_is_cheaper_and_its_resimulation_reaches_the_power() {
    let p = plan(3_600);
    let t = traffic(50.0);
    let e = Experiment {
        regression: 3.0,
        runs: 80,
        seed: 9,
    };
    let r = power(&p, &setup(), t, e, &NativeErrorRatio).unwrap();
    let proposal = propose(&p, &setup(), t, e, &NativeErrorRatio, &r)
        .unwrap()
        .unwrap();
    assert!(proposal.saved_s > 0);
    assert!(
        proposal.power + POWER_TOLERANCE >= proposal.original_power,
        "{proposal:?}"
    );
    // The reported power is the re-simulation's.
    let again = power(&proposal.plan, &setup(), t, e, &NativeErrorRatio).unwrap();
    assert_eq!(again.power(proposal.plan.steps.len() - 1, None), proposal.power);
}

#[test]
fn inline_analysis_steps_start_fresh_runs_and_end_on_their_count() {
    let mut s = setup();
    s.cadence.count = Some(5);
    s.cadence.inconclusive_limit = 4;
    s.cadence.consecutive_success_limit = 1;
    let step = |share, kind| PowerStep { share, kind };
    let p = PowerPlan {
        steps: vec![step(0.2, StepKind::Instant), step(0.2, StepKind::Analysis)],
        background_from: None,
    };
    assert_eq!(p.duration_s(1, &s.cadence), 300);
    let e = Experiment {
        regression: 5.0,
        runs: 40,
        seed: 1,
    };
    let r = power(&p, &s, traffic(50.0), e, &NativeErrorRatio).unwrap();
    assert!(r.power(1, None) > 0.5, "{r:?}");
    assert!(r.regressed.iter().all(|e| match e {
        RunEnd::Detected { step: 1, offset_s } => *offset_s <= 300,
        RunEnd::Detected { .. } => false,
        _ => true,
    }));
}

#[test]
fn bad_inputs_are_typed_errors_naming_the_field() {
    let e = Experiment {
        regression: 2.0,
        runs: 10,
        seed: 1,
    };
    let cases: [(Traffic, Experiment, &str); 4] = [
        (traffic(0.0), e, "rps"),
        (
            Traffic {
                error_rate: 1.5,
                ..traffic(1.0)
            },
            e,
            "error-rate",
        ),
        (traffic(1.0), Experiment { regression: 0.5, ..e }, "regression"),
        (traffic(1.0), Experiment { runs: 0, ..e }, "runs"),
    ];
    for (t, e, field) in cases {
        match power(&plan(60), &setup(), t, e, &NativeErrorRatio) {
            Err(PowerError::Invalid { field: f, .. }) => assert_eq!(f, field),
            other => panic!("{field}: {other:?}"),
        }
    }
    let huge = Experiment { runs: MAX_RUNS, ..e };
    let long = plan(80_000);
    assert!(matches!(
        power(&long, &setup(), traffic(1.0), huge, &NativeErrorRatio),
        Err(PowerError::TooMuchWork(_))
    ));
}
