//! `status.cost` driven by the machine: a canary surge, a full-size blue-green preview with a
//! scale-down delay after promotion, and an abort; each checked against the integral of
//! (sum of ReplicaSet replicas - spec.replicas)+ over what the machine observed.

mod rollout_support;

use rollout_core::rollout::cost::cost_at;
use rollout_core::rollout::{PauseReason, RolloutPhase};
use rollout_core::testing::FakeCluster;
use rollout_support::*;
use serde_json::json;

/// What the machine observed over a run.
#[derive(Default)]
struct Tally {
    /// Integral of the extra pods the machine observed, in pod-seconds.
    integral: f64,
    /// Ticks that changed `status.cost`.
    writes: usize,
    /// Ticks whose observed extra pod count differed from the previous tick's.
    changes: usize,
    last: Option<i64>,
}

/// Runs the cluster `ticks` times, `secs` apart (pods ready), tallying what the machine observed.
fn run(c: &mut FakeCluster, ticks: usize, secs: i64, t: &mut Tally) {
    for _ in 0..ticks {
        let before = c.rollout.status.cost.clone();
        let extra = (c
            .observed
            .replica_sets
            .iter()
            .map(|r| i64::from(r.replicas))
            .sum::<i64>()
            - i64::from(c.rollout.replicas()))
        .max(0);
        c.tick();
        t.writes += usize::from(c.rollout.status.cost != before);
        t.changes += usize::from(t.last.is_some_and(|l| l != extra));
        t.last = Some(extra);
        // Whole-update accounting starts at the tick that saw the new template.
        if c.rollout.status.cost.is_some() {
            t.integral += (extra * secs) as f64;
        }
        c.advance(secs);
    }
}

fn figures(c: &FakeCluster) -> (f64, f64) {
    let f = cost_at(c.rollout.status.cost.as_ref(), c.now);
    (f.extra_pod_seconds, f.wall_seconds)
}

#[test]
fn canary_set_weight_20_on_10_replicas_with_max_surge_25() {
    let mut c = deployed(canary(
        10,
        json!([{"setWeight": 20}, {"pause": {"duration": "60s"}}]),
        json!({"maxSurge": "25%", "maxUnavailable": 0}),
    ));
    assert_eq!(c.rollout.status.cost, None, "the first deploy is not an update");
    c.set_image("demo:v2");
    let started = c.now;
    let mut t = Tally::default();
    let mut peak = 0;
    for _ in 0..200 {
        run(&mut c, 1, 1, &mut t);
        peak = peak.max(c.rollout.status.cost.as_ref().map_or(0, |k| k.extra_pods));
        if c.rollout.status.cost.as_ref().is_some_and(|k| k.finished()) {
            break;
        }
    }
    let cost = c.rollout.status.cost.clone().unwrap();
    assert!(cost.finished(), "{cost:?}");
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    // 20% of 10 is 2 canary pods; maxSurge 25% of 10 allows at most 3 pods above spec.
    assert!((1..=3).contains(&peak), "peak extra pods {peak}");
    let (pod_s, wall) = figures(&c);
    assert!(
        pod_s > 0.0 && (pod_s - t.integral).abs() < 1e-6,
        "{pod_s} vs {}",
        t.integral
    );
    let finished = cost.finished_at.unwrap();
    assert!((wall - (finished.as_second() - started.as_second()) as f64).abs() < 1e-6);
    assert!(wall >= 60.0, "the 60 s pause is part of the wall time: {wall}");
    // The status changes only when the extra pod count changes (or the update starts/ends).
    assert!(
        t.writes <= t.changes + 2,
        "{} cost changes, {} extra-pod changes",
        t.writes,
        t.changes
    );
    // Kept after the update, and a quiet controller changes nothing.
    let kept = c.rollout.status.cost.clone();
    c.advance(3600);
    c.tick();
    assert_eq!(c.rollout.status.cost, kept);
    assert_eq!(figures(&c), (pod_s, wall));
}

#[test]
fn blue_green_preview_of_full_size_and_scale_down_delay_after_promotion() {
    let ro = from_json(json!({
        "metadata": {"name": "bg", "generation": 1},
        "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "bg"}},
                 "template": {"metadata": {"labels": {"app": "bg"}}, "spec": {"containers": [{"name": "c", "image": "bg:v1"}]}},
                 "strategy": {"blueGreen": {"activeService": "active", "previewService": "preview",
                                            "autoPromotionEnabled": false, "scaleDownDelaySeconds": 30}}}
    }));
    let mut c = deployed(ro);
    c.set_image("bg:v2");
    let mut t = Tally::default();
    for _ in 0..20 {
        run(&mut c, 1, 1, &mut t);
        if c.rollout
            .status
            .pause_condition(PauseReason::BlueGreenPause)
            .is_some()
        {
            break;
        }
    }
    assert_eq!(
        c.rollout.status.cost.as_ref().map(|k| k.extra_pods),
        Some(4),
        "full-size preview"
    );
    // Waits 300 s for promotion with 4 extra pods.
    run(&mut c, 1, 300, &mut t);
    c.promote();
    for _ in 0..100 {
        run(&mut c, 1, 1, &mut t);
        if c.rollout.status.cost.as_ref().is_some_and(|k| k.finished()) {
            break;
        }
    }
    let cost = c.rollout.status.cost.clone().unwrap();
    assert!(cost.finished(), "{cost:?}");
    let (pod_s, wall) = figures(&c);
    assert!((pod_s - t.integral).abs() < 1e-6, "{pod_s} vs {}", t.integral);
    // 4 pods for the 300 s wait and the 30 s scale-down delay, plus a few 1 s ticks.
    assert!((4.0 * 330.0..=4.0 * 360.0).contains(&pod_s), "{pod_s}");
    assert!((330.0..=370.0).contains(&wall), "{wall}");
}

#[test]
fn abort_counts_until_the_canary_is_drained() {
    let mut c = deployed(canary(
        10,
        json!([{"setWeight": 20}, {"pause": {}}]),
        json!({"maxSurge": "25%", "maxUnavailable": 0, "abortScaleDownDelaySeconds": 30}),
    ));
    c.set_image("demo:v2");
    let mut t = Tally::default();
    run(&mut c, 20, 1, &mut t);
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Paused));
    let before = figures(&c).0;
    c.abort();
    for _ in 0..100 {
        run(&mut c, 1, 1, &mut t);
        if c.rollout.status.cost.as_ref().is_some_and(|k| k.finished()) {
            break;
        }
    }
    let cost = c.rollout.status.cost.clone().unwrap();
    assert!(cost.finished(), "drained after the abort: {cost:?}");
    let (pod_s, _) = figures(&c);
    assert!(
        pod_s >= before && (pod_s - t.integral).abs() < 1e-6,
        "{pod_s} vs {}",
        t.integral
    );
}
