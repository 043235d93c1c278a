//! Header and mirror routes as decisions (upstream `rollout/trafficrouting.go`, issue #15).
//!
//! - While a `setHeaderRoute` / `setMirrorRoute` step is current (update in progress, revision
//!   above 1, not aborted, not fully promoted or being fully promoted), the machine emits
//!   [`Action::SetHeaderRoute`] / [`Action::SetMirrorRoute`]; the step completes in the tick
//!   that emitted it (a driver persists the status only after every action succeeded).
//! - [`Action::RemoveManagedRoutes`] is emitted once, in the tick where the routes must go: the
//!   update completes (the stable changes), is aborted, is fully promoted, or is replaced by a
//!   newer revision while in flight. Upstream calls its routers' `RemoveManagedRoutes` on every
//!   reconcile in those states; emitting on the transition keeps plans and logs readable, and a
//!   failed action keeps the previous status, so the next tick emits it again.

use super::Ctx;
use crate::rollout::Action;
use crate::rollout::routing::{self, HeaderRoute, MirrorRoute};
use crate::rollout::spec::{CanaryStep, CanaryStrategy};

fn header_route(step: &CanaryStep) -> Option<HeaderRoute> {
    serde_json::from_value(step.set_header_route.clone()?).ok()
}

fn mirror_route(step: &CanaryStep) -> Option<MirrorRoute> {
    serde_json::from_value(step.set_mirror_route.clone()?).ok()
}

/// Emits the current step's header or mirror route, if the update is in a state to have one.
pub(super) fn set_step_route(c: &mut Ctx, aborted: bool, fully_promoted: bool) {
    if aborted || fully_promoted || c.st.promote_full || c.revision() <= 1 || c.new_rs.is_none() {
        return;
    }
    let Some(step) = usize::try_from(c.st.current_step_index.unwrap_or(0))
        .ok()
        .and_then(|i| c.ro.steps().get(i))
    else {
        return;
    };
    if let Some(h) = header_route(step) {
        c.actions.push(Action::SetHeaderRoute(h));
    }
    if let Some(m) = mirror_route(step) {
        c.actions.push(Action::SetMirrorRoute(m));
    }
}

/// Whether a header/mirror step's route was set in this tick (the step then completes).
pub(super) fn step_route_done(c: &Ctx, step: &CanaryStep) -> bool {
    let header = header_route(step).map(|h| h.name);
    let mirror = mirror_route(step).map(|m| m.name);
    if header.is_none() && mirror.is_none() {
        return false;
    }
    let set = |want: &Option<String>, is_header: bool| {
        want.as_ref().is_none_or(|name| {
            c.actions.iter().any(|a| match a {
                Action::SetHeaderRoute(h) if is_header => &h.name == name,
                Action::SetMirrorRoute(m) if !is_header => &m.name == name,
                _ => false,
            })
        })
    };
    set(&header, true) && set(&mirror, false)
}

/// Emits [`Action::RemoveManagedRoutes`] in the tick where the managed routes must go.
pub(super) fn remove_on_transition(c: &mut Ctx, canary: &CanaryStrategy) {
    if canary.traffic_routing.is_none() {
        return;
    }
    let n = i32::try_from(c.ro.steps().len()).unwrap_or(i32::MAX);
    // `abortedAt` is written by the first full pass that sees the abort (a user's abort sets
    // only `status.abort`).
    let aborted_now = c.is_aborted() && c.prev.aborted_at.is_none();
    let completed = !c.prev.stable_rs.is_empty() && c.st.stable_rs != c.prev.stable_rs;
    let promoted_full = c.st.promote_full
        && c.prev.current_step_index != c.st.current_step_index
        && c.st.current_step_index == Some(n);
    let replaced = !c.prev.current_pod_hash.is_empty()
        && c.prev.current_pod_hash != c.hash
        && c.prev.current_pod_hash != c.prev.stable_rs;
    if !(aborted_now || completed || promoted_full || replaced) {
        return;
    }
    let routes = routing::routes_to_remove(c.ro);
    if !routes.is_empty() {
        c.actions.push(Action::RemoveManagedRoutes { routes });
    }
}
