//! `workloadRef` + `scaleDown`: draining the referenced Deployment during a migration.
//!
//! Deliberate difference from upstream: upstream drains only while the Rollout is at revision
//! 1 (issue #4935). We drain on **any** revision until the referenced Deployment is at 0, so a
//! failed first revision followed by a second one still completes the migration. The
//! Deployment is never drained below the capacity the Rollout can serve (`progressively`
//! keeps `replicas - readyReplicas`), so reverting never leaves the service without pods.

use super::Ctx;
use crate::rollout::Action;
use crate::rollout::spec::ScaleDownMode;
use crate::rollout::status::RolloutPhase;

fn scale_workload(c: &mut Ctx, replicas: i32) {
    let (Some(wr), Some(w)) = (&c.ro.spec.workload_ref, &c.obs.workload) else {
        return;
    };
    if w.replicas == replicas || wr.kind != "Deployment" {
        return;
    }
    c.actions.push(Action::ScaleWorkload {
        kind: wr.kind.clone(),
        name: wr.name.clone(),
        replicas,
    });
}

fn mode(c: &Ctx) -> ScaleDownMode {
    c.ro.spec
        .workload_ref
        .as_ref()
        .map_or(ScaleDownMode::Never, |w| w.scale_down_mode())
}

/// `onsuccess`: once the previous status was Healthy, scale the Deployment to 0.
pub(super) fn on_promote_stable(c: &mut Ctx) {
    if mode(c) == ScaleDownMode::OnSuccess && c.prev.phase == Some(RolloutPhase::Healthy) {
        scale_workload(c, 0);
    }
}

/// `progressively`: after reconciling the new RS. `scaling_new_to` is the new RS target when
/// it was scaled this tick.
pub(super) fn progressive_drain(c: &mut Ctx, scaling_new_to: Option<i32>) {
    if mode(c) != ScaleDownMode::Progressively {
        return;
    }
    if c.prev.phase == Some(RolloutPhase::Healthy) {
        scale_workload(c, 0);
        return;
    }
    let scaling_down = match (c.new_rs, scaling_new_to) {
        (Some(n), Some(t)) => n.replicas > t,
        _ => false,
    };
    if c.prev.ready_replicas > 0 || scaling_down {
        let target = (c.replicas() - c.prev.ready_replicas).max(0);
        scale_workload(c, target);
    }
}
