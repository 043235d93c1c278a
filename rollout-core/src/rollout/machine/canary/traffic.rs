//! Services and traffic weight of a canary (upstream `reconcileTrafficRouting`): which Service
//! selects which ReplicaSet, and the weight while progressing, after promotion and on abort.

use std::borrow::Cow;

use super::*;

pub(super) fn reconcile_services_and_traffic(c: &mut Ctx, canary: &CanaryStrategy) {
    let aborted = c.is_aborted();
    let m = c.ro.max_traffic_weight();
    let fully_promoted = !c.prev.stable_rs.is_empty() && c.prev.stable_rs == c.hash;
    // Rollback-safe config: while the stable's config is missing, an abort keeps the canary's
    // weight and Service.
    let config_hold = aborted && c.config_hold().is_some();
    let mut w = 0;
    if canary.traffic_routing.is_some() {
        w = if fully_promoted {
            0
        } else if config_hold {
            c.prev.canary.weights.as_ref().map_or(0, |x| x.canary.weight)
        } else if aborted {
            abort_weight(c, canary)
        } else if c.new_rs.is_none_or(|r| r.available == 0) {
            0
        } else if c.st.promote_full {
            if canary.dynamic_stable_scale {
                let r = c.replicas().max(1);
                mul_div(m, c.new_rs.map_or(0, |n| n.available), r)
            } else {
                c.prev.canary.weights.as_ref().map_or(0, |x| x.canary.weight)
            }
        } else {
            stepped_weight(c, canary)
        };
    }
    let prev_status = c.prev;
    let stable_hash: &str = &prev_status.stable_rs;
    let canary_target = if aborted
        && !config_hold
        && (canary.traffic_routing.is_none() || !canary.dynamic_stable_scale || w == 0)
    {
        Cow::Borrowed(stable_hash)
    } else {
        c.hash.clone()
    };
    c.ensure_service(&canary.stable_service, stable_hash);
    c.ensure_service(&canary.canary_service, &canary_target);
    if canary.traffic_routing.is_none() || stable_hash.is_empty() {
        return;
    }
    let canary_hash = if fully_promoted {
        Cow::Borrowed(stable_hash)
    } else {
        c.hash.clone()
    };
    // Compared in place: the weights are built (allocated) only when they change.
    let prev = prev_status.canary.weights.as_ref();
    let same_destination = |d: &WeightDestination, weight: i32, service: &str, hash: &str| {
        d.weight == weight && d.service_name == service && d.pod_template_hash == hash
    };
    let changed = !prev.is_some_and(|p| {
        same_destination(&p.canary, w, &canary.canary_service, &canary_hash)
            && same_destination(&p.stable, m - w, &canary.stable_service, stable_hash)
            && p.additional.is_empty()
            && p.verified.is_none()
    });
    let prev_w = prev.map_or(0, |p| p.canary.weight);
    // Do not shift traffic back to a stable that cannot take it yet.
    let r = c.replicas();
    let needed = if m == 0 { 0 } else { mul_div(m - w, r, m) };
    let stable_avail = c.stable_rs.map_or(0, |s| s.available);
    if changed && w < prev_w && stable_avail < needed && !canary.dynamic_stable_scale {
        return;
    }
    // Header and mirror routes go before the weight, as upstream.
    crate::rollout::machine::routes::set_step_route(c, aborted, fully_promoted);
    if changed {
        let weights = TrafficWeights {
            canary: WeightDestination {
                weight: w,
                service_name: canary.canary_service.clone(),
                pod_template_hash: canary_hash.to_string(),
            },
            stable: WeightDestination {
                weight: m - w,
                service_name: canary.stable_service.clone(),
                pod_template_hash: stable_hash.to_string(),
            },
            additional: Vec::new(),
            verified: None,
        };
        c.actions.push(Action::SetTrafficWeight {
            canary_hash: canary_hash.into_owned(),
            stable_hash: stable_hash.to_string(),
            weight: w,
        });
        if prev_w != w {
            c.event(
                EventType::Normal,
                "TrafficWeightUpdated",
                format!("Traffic weight updated from {prev_w} to {w}"),
            );
        }
        c.st.canary.weights = Some(weights);
    }
}

/// The weight while progressing through the steps (upstream `reconcileTrafficRouting`, `index != nil`
/// branch): until the canary is at its desired counts the weight stays at the last `setWeight`
/// *before* the current index, also once every step is done (index == number of steps); only a
/// ready canary gets the current step's weight, or the maximum after the last step. No steps: 0.
fn stepped_weight(c: &Ctx, canary: &CanaryStrategy) -> i32 {
    let steps = c.ro.steps();
    if steps.is_empty() {
        return 0;
    }
    let idx = c.st.current_step_index.unwrap_or(0);
    if !at_desired(c, canary) {
        let before = usize::try_from(idx).unwrap_or(0).min(steps.len());
        return steps[..before]
            .iter()
            .rev()
            .find_map(|s| s.set_weight)
            .unwrap_or(0);
    }
    if usize::try_from(idx).ok() == Some(steps.len()) {
        c.ro.max_traffic_weight()
    } else {
        current_set_weight(c, false)
    }
}

/// `abortOrRollbackWeight` (dynamic stable scale drains gradually; otherwise 0).
fn abort_weight(c: &Ctx, canary: &CanaryStrategy) -> i32 {
    let r = c.replicas();
    let (Some(_), Some(stable)) = (c.new_rs, c.stable_rs) else {
        return 0;
    };
    if !canary.dynamic_stable_scale || r == 0 {
        return 0;
    }
    let m = c.ro.max_traffic_weight();
    let (_, d) = canary_replicas_or_weight(c, canary);
    let e = (m - mul_div(m, stable.available, r)).max(0);
    let Some(cur) = c.prev.canary.weights.as_ref().map(|w| w.canary.weight) else {
        return e.max(d);
    };
    if d <= 0 {
        e.min(cur)
    } else if mul_div(m, stable.available, r) < m - d {
        cur
    } else {
        d.min(cur)
    }
}
