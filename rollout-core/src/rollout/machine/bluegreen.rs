//! The blue-green strategy (`rollout/bluegreen.go`, `rollout/service.go`).

use super::canary::promote_stable;
use super::{Ctx, plus_secs};
use crate::analysis::AnalysisPhase;
use crate::rollout::spec::{BlueGreenStrategy, DEFAULT_SCALE_DOWN_DELAY_SECONDS};
use crate::rollout::status::PauseReason;
use crate::rollout::{Action, AnalysisRunKind, ObservedReplicaSet};

pub(super) fn run(c: &mut Ctx) {
    let Some(bg) = c.ro.blue_green() else { return };
    if let Some(reason) = c.inputs.force_abort.clone()
        && !c.prev.abort
        && c.prev.stable_rs != c.hash
    {
        c.abort(c.inputs.abort_why(reason));
    }
    if c.new_rs.is_none() || c.prev.current_pod_hash != c.hash {
        new_update(c, bg);
        return;
    }
    if c.prev.abort && c.prev.stable_rs == c.hash {
        c.remove_abort = true;
    }
    let aborted = c.is_aborted();
    let halted = c.ro.spec.paused;
    if !aborted && !halted {
        let hash = c.hash.clone();
        c.ensure_service(&bg.preview_service, &hash);
        if !bg.preview_service.is_empty() && c.new_rs.is_some_and(|r| r.available > 0) {
            c.st.blue_green.preview_selector = c.hash.to_string();
        }
    }
    c.revision_history_gc();
    let active_hash = c.prev.blue_green.active_selector.clone();
    if !halted && reconcile_replica_sets(c, bg, &active_hash) {
        sync_status(c, bg);
        return;
    }
    let Some(new) = c.new_rs else { return };
    let target = new_target(c, bg, &active_hash);
    let saturated = new.replicas == target && new.available >= target;
    let mut keep = Vec::new();
    // Pre-promotion analysis.
    let mut pre_done = true;
    if let Some(pre) = &bg.pre_promotion_analysis
        && active_hash != c.hash
        && !active_hash.is_empty()
        && !aborted
        && !c.st.promote_full
    {
        if saturated {
            let slot = c.st.blue_green.pre_promotion_analysis_run_status.clone();
            let (s, _) = c.track_run(pre, AnalysisRunKind::PrePromotion, None, "-pre", slot, &mut keep);
            c.st.blue_green.pre_promotion_analysis_run_status = s;
        }
        pre_done =
            c.st.blue_green
                .pre_promotion_analysis_run_status
                .as_ref()
                .is_some_and(|s| s.status == AnalysisPhase::Successful);
    }
    // Pause before promotion.
    let fast_track = active_hash.is_empty() || active_hash == c.hash || c.st.promote_full;
    let mut pause_done = true;
    let checkpoint = c.prev.blue_green.scale_up_preview_check_point;
    if !fast_track && !aborted && saturated && pre_done && !checkpoint {
        let auto = bg.auto_promotion_enabled.unwrap_or(true);
        let secs = bg.auto_promotion_seconds.unwrap_or(0);
        if !auto || secs > 0 {
            let cond = c.prev.pause_condition(PauseReason::BlueGreenPause).cloned();
            pause_done = match cond {
                None if c.prev.controller_pause => true,
                None => {
                    c.add_pause.push(PauseReason::BlueGreenPause);
                    false
                }
                Some(cond) if auto && secs > 0 => {
                    let end = plus_secs(cond.start_time, i64::from(secs));
                    if c.now > end {
                        c.remove_pause.push(PauseReason::BlueGreenPause);
                        true
                    } else {
                        c.wake_at(plus_secs(end, 1));
                        false
                    }
                }
                Some(_) => false,
            };
        }
    }
    if pre_done && pause_done && bg.preview_replica_count.is_some() && !fast_track {
        c.st.blue_green.scale_up_preview_check_point = true;
    }
    // Active service switch.
    let full = new.replicas == c.replicas() && new.available >= c.replicas();
    let mut active_now = active_hash.clone();
    if aborted {
        // Rollback-safe config: the active Service stays while the stable's config is missing.
        if !c.prev.stable_rs.is_empty() && c.config_hold().is_none() {
            c.ensure_service(&bg.active_service, &c.prev.stable_rs.clone());
            active_now = c.prev.stable_rs.clone();
        }
    } else if !halted && full && (fast_track || (pre_done && pause_done && !c.inputs.hold)) {
        let hash = c.hash.clone();
        c.ensure_service(&bg.active_service, &hash);
        active_now = c.hash.to_string();
    }
    c.st.blue_green.active_selector = active_now.clone();
    // Post-promotion analysis and promotion.
    if !aborted && active_now == c.hash && c.prev.stable_rs != c.hash {
        let mut post_done = true;
        if let Some(post) = &bg.post_promotion_analysis
            && !c.prev.stable_rs.is_empty()
            && !c.st.promote_full
        {
            let slot = c.st.blue_green.post_promotion_analysis_run_status.clone();
            let (s, _) = c.track_run(
                post,
                AnalysisRunKind::PostPromotion,
                None,
                "-post",
                slot,
                &mut keep,
            );
            post_done = s.as_ref().is_some_and(|s| s.status == AnalysisPhase::Successful);
            c.st.blue_green.post_promotion_analysis_run_status = s;
        }
        if post_done && active_hash == c.hash {
            let reason = if c.prev.stable_rs.is_empty() {
                "Initial deploy"
            } else {
                "Completed blue-green update"
            };
            promote_stable(c, reason);
        }
    } else if c.prev.stable_rs == c.hash {
        promote_stable(c, "Fast rollback");
    }
    c.terminate_others(&keep);
    sync_status(c, bg);
}

fn new_update(c: &mut Ctx, bg: &BlueGreenStrategy) {
    let name = match c.new_rs {
        None => {
            let replicas = match bg.preview_replica_count {
                Some(p) if !c.prev.blue_green.active_selector.is_empty() => p,
                _ => c.replicas(),
            };
            c.create_new_rs(replicas)
        }
        Some(rs) => {
            let max = c.max_revision();
            if rs.revision < max {
                c.actions.push(Action::SetReplicaSetRevision {
                    name: rs.name.clone(),
                    revision: max + 1,
                });
            }
            rs.name.clone()
        }
    };
    c.clear_pause = true;
    c.remove_abort = c.add_abort.is_none();
    c.st.promote_full = false;
    c.st.blue_green.pre_promotion_analysis_run_status = None;
    c.st.blue_green.post_promotion_analysis_run_status = None;
    c.st.blue_green.scale_up_preview_check_point = false;
    c.st.restarted_at = c.ro.spec.restart_at;
    c.st.current_pod_hash = c.hash.to_string();
    c.finish_reset(&name);
}

fn new_target(c: &Ctx, bg: &BlueGreenStrategy, active_hash: &str) -> i32 {
    let r = c.replicas();
    match bg.preview_replica_count {
        Some(p)
            if !active_hash.is_empty()
                && active_hash != c.hash
                && !c.prev.blue_green.scale_up_preview_check_point
                && !c.st.promote_full =>
        {
            p
        }
        _ => r,
    }
}

fn abort_delay(bg: &BlueGreenStrategy) -> Option<i32> {
    match bg.abort_scale_down_delay_seconds {
        Some(0) => None,
        Some(d) => Some(d),
        None => Some(DEFAULT_SCALE_DOWN_DELAY_SECONDS),
    }
}

fn reconcile_replica_sets(c: &mut Ctx, bg: &BlueGreenStrategy, active_hash: &str) -> bool {
    let r = c.replicas();
    let aborted = c.is_aborted();
    let active: Option<&ObservedReplicaSet> = c
        .obs
        .replica_sets
        .iter()
        .find(|rs| rs.pod_template_hash == active_hash);
    if let Some(a) = active
        && a.pod_template_hash != c.hash
        && a.replicas != r
    {
        c.scale(a, r);
        return true;
    }
    if let Some(new) = c.new_rs {
        if new.scale_down_deadline.is_some() && !aborted {
            c.actions.push(Action::SetScaleDownDeadline {
                name: new.name.clone(),
                deadline: None,
            });
        }
        let mut target = new_target(c, bg, active_hash);
        if aborted && new.pod_template_hash != c.prev.stable_rs {
            target = new.replicas;
            // Rollback-safe config: no scale-down deadline while the stable's config is missing.
            if let Some(delay) = abort_delay(bg).filter(|_| c.config_hold().is_none()) {
                match new.scale_down_deadline {
                    Some(d) if c.now >= d => target = 0,
                    Some(d) => c.wake_at(d),
                    None => {
                        let d = plus_secs(c.now, i64::from(delay));
                        c.actions.push(Action::SetScaleDownDeadline {
                            name: new.name.clone(),
                            deadline: Some(d),
                        });
                        c.wake_at(d);
                    }
                }
            }
        }
        if new.replicas != target {
            c.scale(new, target);
            return true;
        }
    }
    // Old RSs: anything that is neither new nor active.
    let delay = bg
        .scale_down_delay_seconds
        .unwrap_or(DEFAULT_SCALE_DOWN_DELAY_SECONDS);
    let wait_for_post = bg.post_promotion_analysis.is_some()
        && bg.scale_down_delay_seconds.is_none()
        && c.prev.stable_rs != c.hash;
    let mut old: Vec<&ObservedReplicaSet> = c
        .others
        .iter()
        .chain(c.stable_rs.filter(|s| s.pod_template_hash != c.hash))
        .filter(|rs| rs.pod_template_hash != active_hash && rs.replicas > 0)
        .collect();
    old.sort_by(|a, b| b.revision.cmp(&a.revision).then(a.name.cmp(&b.name)));
    let mut scaled = false;
    let mut annotated = 0;
    for rs in old {
        if wait_for_post && rs.pod_template_hash == c.prev.stable_rs {
            continue;
        }
        let desired = match rs.scale_down_deadline {
            Some(d) => {
                annotated += 1;
                if bg.scale_down_delay_revision_limit.is_some_and(|l| annotated > l) || c.now >= d {
                    0
                } else {
                    c.wake_at(d);
                    rs.replicas
                }
            }
            None if delay > 0 => {
                let d = plus_secs(c.now, i64::from(delay));
                c.actions.push(Action::SetScaleDownDeadline {
                    name: rs.name.clone(),
                    deadline: Some(d),
                });
                c.wake_at(d);
                rs.replicas
            }
            None => 0,
        };
        if desired != rs.replicas {
            c.scale(rs, desired);
            scaled = true;
        }
    }
    scaled
}

fn sync_status(c: &mut Ctx, bg: &BlueGreenStrategy) {
    c.base_counts();
    let active = c.st.blue_green.active_selector.clone();
    if let Some(a) = c
        .obs
        .replica_sets
        .iter()
        .find(|rs| rs.pod_template_hash == active)
    {
        c.st.available_replicas = a.available;
        c.st.hpa_replicas = a.status_replicas;
    }
    if bg.preview_service.is_empty() {
        c.st.blue_green.preview_selector.clear();
    }
    c.calculate_conditions();
}
