//! The baseline arm (our extension `canary.baseline`) on the drifting stream of
//! `examples/scenarios/baseline-drift.yaml`: the new version is exactly as good as the old one,
//! but every pod started during the update fails 1.5 points more often (1% → 2.5%), a persistent
//! per-arm drift such as a worse node. The same Rollout (`baseline-rollout.yaml`) and the same
//! `error-ratio` template judge the canary against the stable pods (`podTemplateHashValue:
//! Stable`, no baseline arm) and against a baseline arm (`Baseline`), over [`SEEDS`] seeds each.
//! Every abort is a false alarm: the versions do not differ.
//!
//! Measured (run with `--nocapture` to print them; `README.md`, "Baseline arm"): against stable,
//! 100 of 100 updates aborted; against the baseline arm, 0 of 100 aborted and 100 promoted, the arm
//! costing 631 pod-seconds per update (22% of the rollout's).

mod support;

use rollout_core::rollout::Rollout;
use rollout_core::rollout::machine::{BASELINE_HASH_VALUE, baseline_hash};
use rollout_sim::{Outcome, Scenario, SimInput, SimReport, simulate};
use support::read;

/// Seeds per arm.
const SEEDS: u64 = 100;
/// The template's `alpha`.
const ALPHA: f64 = 0.05;

/// Which arm the analysis compares the canary with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Control {
    /// The long-running stable pods (no baseline arm).
    Stable,
    /// A baseline arm started with the canary.
    Baseline,
}

/// The bundled baseline Rollout; for [`Control::Stable`] without `canary.baseline` and with
/// `podTemplateHashValue: Stable` where it says `Baseline`.
fn rollout(control: Control) -> Rollout {
    let mut ro: Rollout = serde_yaml::from_str(&read("baseline-rollout.yaml")).unwrap();
    if control == Control::Stable {
        let canary = ro.spec.strategy.canary.as_mut().unwrap();
        canary.baseline = None;
        let analyses = canary
            .steps
            .iter_mut()
            .flatten()
            .filter_map(|s| s.analysis.as_mut());
        for arg in analyses.flat_map(|a| a.args.iter_mut()) {
            if let Some(v) = arg.value_from.as_mut()
                && v.pod_template_hash_value.as_deref() == Some(BASELINE_HASH_VALUE)
            {
                v.pod_template_hash_value = Some("Stable".into());
            }
        }
    }
    ro
}

async fn run(control: Control, seed: u64) -> SimReport {
    let scenario = Scenario::from_yaml(&read("baseline-drift.yaml")).unwrap();
    let input = SimInput {
        rollout: rollout(control),
        ..support::input(scenario, seed)
    };
    simulate(input, &mut |_| {}).await.unwrap()
}

/// Outcomes of one arm over the seeds, and its pod-seconds.
#[derive(Debug, Default)]
struct Tally {
    aborted: u64,
    promoted: u64,
    pod_seconds: f64,
    baseline_pod_seconds: f64,
}

#[tokio::test(flavor = "current_thread")]
async fn against_a_baseline_arm_false_alarms_stay_within_alpha_and_against_stable_they_do_not() {
    let mut tallies = [Tally::default(), Tally::default()];
    for (control, tally) in [Control::Stable, Control::Baseline].into_iter().zip(&mut tallies) {
        for seed in 1..=SEEDS {
            let r = run(control, seed).await;
            match r.outcome {
                Outcome::Aborted => tally.aborted += 1,
                Outcome::Promoted => tally.promoted += 1,
                _ => {}
            }
            tally.pod_seconds += r.pod_seconds.total;
            tally.baseline_pod_seconds += r.pod_seconds.baseline;
        }
    }
    let [stable, baseline] = &tallies;
    let n = SEEDS as f64;
    eprintln!("canary vs stable:   {stable:?}");
    eprintln!("canary vs baseline: {baseline:?}");
    // The drift is the arm's, not the version's: against the stable pods the judge rightly finds
    // the canary's pods worse, and the update is aborted nearly every time.
    assert!(stable.aborted as f64 / n >= 0.8, "{stable:?}");
    assert_eq!(stable.baseline_pod_seconds, 0.0);
    // Against a baseline arm of the same age and size the false alarms stay within α (plus three
    // binomial standard errors at SEEDS runs), and most updates are promoted.
    let tolerance = 3.0 * (ALPHA * (1.0 - ALPHA) / n).sqrt();
    assert!(baseline.aborted as f64 / n <= ALPHA + tolerance, "{baseline:?}");
    assert!(baseline.promoted as f64 / n >= 0.8, "{baseline:?}");
    // The cost of safety: the baseline's pods, on top of the rollout's.
    assert!(baseline.baseline_pod_seconds > 0.0, "{baseline:?}");
    eprintln!(
        "baseline arm: {:.0} pod-seconds per update, {:.1}% of the rollout's",
        baseline.baseline_pod_seconds / n,
        100.0 * baseline.baseline_pod_seconds / baseline.pod_seconds
    );
}

#[tokio::test(flavor = "current_thread")]
async fn the_baseline_arm_is_the_canarys_size_while_analyses_run_and_is_gone_after_promotion() {
    let r = run(Control::Baseline, 1).await;
    assert_eq!(r.outcome, Outcome::Promoted, "{}", r.reason);
    let arm = baseline_hash(&r.stable_hash);
    let analysis_steps = [1, 3];
    let mut ticks_with_arm = 0;
    for p in &r.timeline {
        let canary = p.versions.get(&r.canary_hash).map_or(0, |v| v.replicas);
        match p.versions.get(&arm) {
            Some(b) => {
                ticks_with_arm += 1;
                assert_eq!(b.replicas, canary, "at {}s", p.t);
                // Same size, same share of the Service's requests.
                assert_eq!(b.traffic, p.versions[&r.canary_hash].traffic, "at {}s", p.t);
            }
            None => assert!(
                !p.step.is_some_and(|s| analysis_steps.contains(&s)),
                "no baseline during the analysis at {}s",
                p.t
            ),
        }
    }
    assert!(ticks_with_arm > 0);
    let last = r.timeline.last().unwrap();
    assert!(!last.versions.contains_key(&arm), "deleted after promotion");
    assert!(r.pod_seconds.baseline > 0.0 && r.pod_seconds.baseline < r.pod_seconds.total);
}
