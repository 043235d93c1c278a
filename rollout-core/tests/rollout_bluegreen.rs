//! Blue-green lifecycles: preview/active services, manual and timed promotion, previewReplicaCount,
//! pre/post-promotion analysis, scale-down delay, abort.

mod rollout_support;

use rollout_core::analysis::AnalysisPhase;
use rollout_core::rollout::{Action, PauseReason, RolloutPhase};
use rollout_core::testing::FakeCluster;
use rollout_support::*;
use serde_json::json;

fn selector(c: &FakeCluster, svc: &str) -> Option<String> {
    c.observed
        .services
        .iter()
        .find(|s| s.name == svc)
        .and_then(|s| s.selector_hash.clone())
}

fn bg(replicas: i32, strategy: serde_json::Value) -> rollout_core::rollout::Rollout {
    let mut s = json!({"activeService": "active", "previewService": "preview"});
    if let (Some(b), Some(e)) = (s.as_object_mut(), strategy.as_object()) {
        for (k, v) in e {
            b.insert(k.clone(), v.clone());
        }
    }
    from_json(json!({
        "metadata": {"name": "bg", "generation": 1},
        "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "bg"}},
                 "template": {"metadata": {"labels": {"app": "bg"}}, "spec": {"containers": [{"name": "c", "image": "bg:v1"}]}},
                 "strategy": {"blueGreen": s}}
    }))
}

#[test]
fn fixture_02_manual_promotion() {
    let mut c = deployed(fixture("02-rollout-bluegreen.yaml"));
    let v1 = c.rollout.status.stable_rs.clone();
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(
        selector(&c, "rollout-bluegreen-active").as_deref(),
        Some(v1.as_str())
    );
    assert_eq!(c.rollout.status.blue_green.active_selector, v1);
    c.set_image("argoproj/rollouts-demo:green");
    tick_until(&mut c, 20, |c| {
        c.rollout
            .status
            .pause_condition(PauseReason::BlueGreenPause)
            .is_some()
    });
    c.tick();
    let v2 = c.rollout.status.current_pod_hash.clone();
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Paused));
    assert_eq!(c.rollout.status.message, "BlueGreenPause");
    assert_eq!(
        selector(&c, "rollout-bluegreen-preview").as_deref(),
        Some(v2.as_str())
    );
    assert_eq!(
        selector(&c, "rollout-bluegreen-active").as_deref(),
        Some(v1.as_str())
    );
    assert_eq!((c.rs(&v1).unwrap().replicas, c.rs(&v2).unwrap().replicas), (2, 2));
    c.advance(3600);
    c.tick();
    assert_eq!(
        selector(&c, "rollout-bluegreen-active").as_deref(),
        Some(v1.as_str()),
        "waits for promote"
    );
    c.promote();
    tick_until(&mut c, 10, |c| c.rollout.status.stable_rs != v1);
    assert_eq!(
        selector(&c, "rollout-bluegreen-active").as_deref(),
        Some(v2.as_str())
    );
    assert_eq!(
        last_event(&c, "RolloutCompleted").unwrap().message,
        format!("Rollout completed update to revision 2 ({v2}): Completed blue-green update")
    );
    // old active kept for scaleDownDelaySeconds (30s)
    c.tick();
    assert_eq!(c.rs(&v1).unwrap().replicas, 2);
    assert!(c.rs(&v1).unwrap().scale_down_deadline.is_some());
    c.settle(60, true);
    assert_eq!(c.rs(&v1).unwrap().replicas, 0);
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
}

#[test]
fn auto_promotion_seconds() {
    let mut c = deployed(bg(2, json!({"autoPromotionSeconds": 30})));
    let v1 = c.rollout.status.stable_rs.clone();
    c.set_image("bg:v2");
    tick_until(&mut c, 20, |c| {
        c.rollout
            .status
            .pause_condition(PauseReason::BlueGreenPause)
            .is_some()
    });
    let start = c.rollout.status.pause_conditions[0].start_time;
    c.now = start + jiff::SignedDuration::from_secs(30);
    c.tick();
    c.tick();
    assert_eq!(
        selector(&c, "active").as_deref(),
        Some(v1.as_str()),
        "not before 30s"
    );
    c.now = start + jiff::SignedDuration::from_secs(31);
    tick_until(&mut c, 10, |c| c.rollout.status.stable_rs != v1);
}

#[test]
fn preview_replica_count_then_full_scale() {
    let mut c = deployed(bg(
        4,
        json!({"previewReplicaCount": 1, "autoPromotionEnabled": false}),
    ));
    c.set_image("bg:v2");
    tick_until(&mut c, 20, |c| {
        c.rollout
            .status
            .pause_condition(PauseReason::BlueGreenPause)
            .is_some()
    });
    let v2 = c.rollout.status.current_pod_hash.clone();
    assert_eq!(c.rs(&v2).unwrap().replicas, 1);
    c.promote();
    tick_until(&mut c, 20, |c| c.rollout.status.stable_rs == v2);
    assert_eq!(c.rs(&v2).unwrap().replicas, 4);
}

#[test]
fn pre_and_post_promotion_analysis() {
    let a = json!({"templates": [{"templateName": "smoke"}]});
    let mut c = deployed(bg(
        2,
        json!({"prePromotionAnalysis": a, "postPromotionAnalysis": a}),
    ));
    assert!(
        c.observed.analysis_runs.is_empty(),
        "no analysis on initial deploy"
    );
    let v1 = c.rollout.status.stable_rs.clone();
    c.set_image("bg:v2");
    tick_until(&mut c, 20, |c| !c.observed.analysis_runs.is_empty());
    let v2 = c.rollout.status.current_pod_hash.clone();
    assert_eq!(c.observed.analysis_runs[0].name, format!("bg-{v2}-2-pre"));
    c.settle(10, false);
    assert_eq!(
        selector(&c, "active").as_deref(),
        Some(v1.as_str()),
        "pre-promotion gates the switch"
    );
    c.set_run_phase(&format!("bg-{v2}-2-pre"), AnalysisPhase::Successful, "");
    tick_until(&mut c, 20, |c| c.observed.analysis_runs.len() == 2);
    assert_eq!(selector(&c, "active").as_deref(), Some(v2.as_str()));
    assert_eq!(c.observed.analysis_runs[1].name, format!("bg-{v2}-2-post"));
    c.settle(10, false);
    assert_eq!(c.rollout.status.message, "waiting for analysis to complete");
    assert_eq!(
        c.rs(&v1).unwrap().replicas,
        2,
        "old active kept until post-analysis succeeds"
    );
    c.set_run_phase(&format!("bg-{v2}-2-post"), AnalysisPhase::Successful, "");
    c.settle(80, true);
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    assert_eq!(c.rs(&v1).unwrap().replicas, 0);
}

#[test]
fn pre_promotion_failure_aborts_and_scales_preview_down() {
    let a = json!({"templates": [{"templateName": "smoke"}]});
    let mut c = deployed(bg(2, json!({"prePromotionAnalysis": a})));
    let v1 = c.rollout.status.stable_rs.clone();
    c.set_image("bg:v2");
    tick_until(&mut c, 20, |c| !c.observed.analysis_runs.is_empty());
    let v2 = c.rollout.status.current_pod_hash.clone();
    c.set_run_phase("bg-", AnalysisPhase::Failed, "smoke failed");
    c.tick();
    c.tick();
    assert_eq!(
        c.rollout.status.message,
        "RolloutAborted: Rollout aborted update to revision 2: smoke failed"
    );
    assert_eq!(selector(&c, "active").as_deref(), Some(v1.as_str()));
    assert_eq!(
        c.rs(&v2).unwrap().replicas,
        2,
        "preview kept for abortScaleDownDelaySeconds"
    );
    c.settle(60, true);
    assert_eq!(c.rs(&v2).unwrap().replicas, 0);
    assert!(c.log.iter().any(|a| matches!(
        a,
        Action::SetScaleDownDeadline {
            deadline: Some(_),
            ..
        }
    )));
}

#[test]
fn abort_scale_down_delay_zero_keeps_preview() {
    let mut c = deployed(bg(
        2,
        json!({"autoPromotionEnabled": false, "abortScaleDownDelaySeconds": 0}),
    ));
    c.set_image("bg:v2");
    tick_until(&mut c, 20, |c| {
        c.rollout
            .status
            .pause_condition(PauseReason::BlueGreenPause)
            .is_some()
    });
    let v2 = c.rollout.status.current_pod_hash.clone();
    c.abort();
    c.settle(60, true);
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Degraded));
    assert_eq!(
        c.rs(&v2).unwrap().replicas,
        2,
        "0 means never scale down the preview"
    );
}
