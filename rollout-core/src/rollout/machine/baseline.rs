//! The baseline arm: our extension `spec.strategy.canary.baseline` (not in Argo Rollouts).
//!
//! A canary compared with the long-running stable pods is also compared on everything else that
//! differs between the two arms: pod age (cold caches, leaks), the nodes the new pods landed on,
//! per-pod load. That persistent per-arm drift is not noise a judge can average away: the longer
//! the analysis runs, the surer it is that the canary is worse. Kayenta's remedy, which Argo users
//! build by hand with an experiment step (a `specRef: stable` template and pod labels), is a
//! baseline arm: fresh pods of the stable version, started with the canary and kept at its size,
//! so that the version is the only difference left. An analysis selects the arm with
//! `valueFrom.podTemplateHashValue: Baseline` (our extension of upstream's `Stable | Latest`).
//!
//! Decisions, every tick, after the canary strategy has made its own:
//! - while the update runs (a stable and a new ReplicaSet, canary steps left, not aborted, not
//!   fully promoted), keep one baseline ReplicaSet `<rollout>-<stable hash>-baseline`: create it
//!   from the stable ReplicaSet when the canary has pods, and scale it to the canary's size, the
//!   size the canary is given in the same tick;
//! - delete it when the steps are done, on promotion, abort or full promotion; delete every
//!   baseline of another stable version at once.
//!
//! The baseline pods carry `rollouts-pod-template-hash: <stable hash>-baseline` (so metrics and
//! Services tell them from the stable pods; a template hash never contains `-`, so the suffix
//! cannot collide) and `rollouts-arm: baseline`. The machine never counts a baseline ReplicaSet as
//! one of the Rollout's versions: it is left out of status counts, revisions, the scale-down of old
//! ReplicaSets and the revision history limit.
//!
//! Only a replica-based canary (no `trafficRouting`) may use it: there, the Service in front of
//! the app spreads requests evenly over its pods, so the baseline gets the canary's share of
//! traffic. A traffic router splits only between the canary and stable Services and would send
//! the baseline nothing, so validation rejects that combination.
//!
//! Cost: as many extra pods as the canary has, for as long as the canary steps run, on top of
//! `spec.replicas` (`rollout simulate` reports it in pod-seconds).

use super::Ctx;
use crate::rollout::hash::POD_TEMPLATE_HASH_LABEL;
use crate::rollout::spec::{Rollout, RolloutAnalysis};
use crate::rollout::validation::{FieldError, FieldErrorKind};
use crate::rollout::{Action, EventType, Observed, ObservedReplicaSet};

/// Suffix of the baseline arm's `rollouts-pod-template-hash` value and ReplicaSet name.
pub const BASELINE_HASH_SUFFIX: &str = "-baseline";
/// Label on every baseline pod (value [`ARM_BASELINE`]), e.g. for `kubectl get pods -l`.
pub const ARM_LABEL: &str = "rollouts-arm";
/// Value of [`ARM_LABEL`] on baseline pods.
pub const ARM_BASELINE: &str = "baseline";
/// The `podTemplateHashValue` that selects the baseline arm (our extension).
pub const BASELINE_HASH_VALUE: &str = "Baseline";

/// The baseline arm's hash label value for a stable hash (empty without a stable version).
pub fn baseline_hash(stable_hash: &str) -> String {
    if stable_hash.is_empty() {
        String::new()
    } else {
        format!("{stable_hash}{BASELINE_HASH_SUFFIX}")
    }
}

/// The baseline arm's pod template: the stable ReplicaSet's `source` template with `labels` and
/// the arm's `pod_template_hash` set in `metadata.labels` (created when missing), as a
/// [`Action::CreateBaselineReplicaSet`] asks. Every driver builds the arm with this.
pub fn arm_template(
    source: &serde_json::Value,
    pod_template_hash: &str,
    labels: &std::collections::BTreeMap<String, String>,
) -> serde_json::Value {
    use serde_json::json;
    let mut template = if source.is_object() {
        source.clone()
    } else {
        json!({})
    };
    if !template["metadata"].is_object() {
        template["metadata"] = json!({});
    }
    if !template["metadata"]["labels"].is_object() {
        template["metadata"]["labels"] = json!({});
    }
    let l = &mut template["metadata"]["labels"];
    for (k, v) in labels {
        l[k] = json!(v);
    }
    l[POD_TEMPLATE_HASH_LABEL] = json!(pod_template_hash);
    template
}

/// Whether a ReplicaSet's hash label marks it as a baseline arm.
pub fn is_baseline_hash(hash: &str) -> bool {
    hash.ends_with(BASELINE_HASH_SUFFIX)
}

/// `obs` without its baseline ReplicaSets, or `None` when it has none (the common case: no copy).
pub(super) fn without_arms(obs: &Observed) -> Option<Observed> {
    if !obs
        .replica_sets
        .iter()
        .any(|r| is_baseline_hash(&r.pod_template_hash))
    {
        return None;
    }
    let mut stripped = obs.clone();
    stripped
        .replica_sets
        .retain(|r| !is_baseline_hash(&r.pod_template_hash));
    Some(stripped)
}

/// The baseline ReplicaSets in `obs`.
pub(super) fn arms(obs: &Observed) -> Vec<&ObservedReplicaSet> {
    obs.replica_sets
        .iter()
        .filter(|r| is_baseline_hash(&r.pod_template_hash))
        .collect()
}

/// Creates, scales and deletes the baseline arm (see the module docs).
pub(super) fn reconcile(c: &mut Ctx) {
    let wanted = wanted(c);
    let wanted_hash = wanted.map(|(stable, _)| baseline_hash(&stable.pod_template_hash));
    let arms = c.baseline_arms.clone();
    for rs in &arms {
        if wanted_hash.as_deref() != Some(rs.pod_template_hash.as_str()) {
            c.actions.push(Action::DeleteReplicaSet {
                name: rs.name.clone(),
            });
            let msg = format!("Deleted baseline ReplicaSet {} ({} pods)", rs.name, rs.replicas);
            c.event(EventType::Normal, "BaselineArmDeleted", msg);
        }
    }
    let (Some((stable, target)), Some(hash)) = (wanted, wanted_hash) else {
        return;
    };
    match arms.iter().find(|r| r.pod_template_hash == hash) {
        Some(rs) if rs.replicas != target => c.scale(rs, target),
        Some(_) => {}
        None if target > 0 => {
            let name = format!("{}-{hash}", c.ro.metadata.name);
            let mut labels =
                c.ro.canary()
                    .and_then(|s| s.baseline.as_ref())
                    .map(|b| b.labels.clone())
                    .unwrap_or_default();
            labels.insert(ARM_LABEL.into(), ARM_BASELINE.into());
            let msg = format!(
                "Created baseline ReplicaSet {name} from {} with {target} pods (the canary's size)",
                stable.name
            );
            c.actions.push(Action::CreateBaselineReplicaSet {
                name,
                source: stable.name.clone(),
                pod_template_hash: hash,
                replicas: target,
                labels,
            });
            c.event(EventType::Normal, "BaselineArmCreated", msg);
        }
        None => {}
    }
}

/// The stable ReplicaSet to copy and the size the baseline should have now, or `None` when no
/// baseline should exist.
fn wanted<'a>(c: &Ctx<'a>) -> Option<(&'a ObservedReplicaSet, i32)> {
    c.ro.canary()?.baseline.as_ref()?;
    let (stable, new) = (c.stable_rs?, c.new_rs?);
    let updating = stable.name != new.name
        && c.st.stable_rs == c.prev.stable_rs
        && c.st.stable_rs != c.hash
        && !c.is_aborted()
        && !c.st.promote_full;
    let steps = c.ro.steps().len();
    let steps_left =
        c.st.current_step_index
            .is_none_or(|i| usize::try_from(i).is_ok_and(|i| i < steps));
    if !updating || !steps_left {
        return None;
    }
    let target = c
        .actions
        .iter()
        .rev()
        .find_map(|a| match a {
            Action::ScaleReplicaSet { name, to, .. } if *name == new.name => Some(*to),
            _ => None,
        })
        .unwrap_or(new.replicas);
    Some((stable, target))
}

/// Problems with `canary.baseline` and with `podTemplateHashValue: Baseline`, with field paths.
pub fn validate(ro: &Rollout) -> Vec<FieldError> {
    let mut out = Vec::new();
    let canary = ro.canary();
    let arm = canary.and_then(|c| c.baseline.as_ref());
    if let (Some(canary), Some(arm)) = (canary, arm) {
        let path = "spec.strategy.canary.baseline";
        if canary.traffic_routing.is_some() {
            out.push(invalid(
                path,
                "{...}",
                "a baseline arm needs a replica-based canary: a traffic router splits traffic only \
                 between the canary and stable Services and would send the baseline pods nothing",
            ));
        }
        let selector = ro.spec.selector.as_ref().map(|s| &s.match_labels);
        for key in arm.labels.keys() {
            let reserved = key == POD_TEMPLATE_HASH_LABEL || key == ARM_LABEL;
            if reserved || selector.is_some_and(|m| m.contains_key(key)) {
                out.push(invalid(
                    &format!("{path}.labels[{key}]"),
                    &format!("{key:?}"),
                    "set by the controller (the pod-template hash, the arm label and the selector's \
                     labels cannot be overridden)",
                ));
            }
        }
    }
    if arm.is_none() {
        for (path, analysis) in analyses(ro) {
            for (j, arg) in analysis.args.iter().enumerate() {
                let value = arg
                    .value_from
                    .as_ref()
                    .and_then(|v| v.pod_template_hash_value.as_deref());
                if value == Some(BASELINE_HASH_VALUE) {
                    out.push(invalid(
                        &format!("{path}.args[{j}].valueFrom.podTemplateHashValue"),
                        &format!("{BASELINE_HASH_VALUE:?}"),
                        "there is no baseline arm to select: set spec.strategy.canary.baseline",
                    ));
                }
            }
        }
    }
    out
}

/// Every analysis of the Rollout with its field path.
fn analyses(ro: &Rollout) -> Vec<(String, &RolloutAnalysis)> {
    let mut out: Vec<(String, &RolloutAnalysis)> = ro
        .steps()
        .iter()
        .enumerate()
        .filter_map(|(i, s)| {
            s.analysis
                .as_ref()
                .map(|a| (format!("spec.strategy.steps[{i}].analysis"), a))
        })
        .collect();
    if let Some(b) = ro.canary().and_then(|c| c.analysis.as_ref()) {
        out.push(("spec.strategy.canary.analysis".into(), &b.analysis));
    }
    if let Some(bg) = ro.blue_green() {
        for (field, a) in [
            ("prePromotionAnalysis", &bg.pre_promotion_analysis),
            ("postPromotionAnalysis", &bg.post_promotion_analysis),
        ] {
            if let Some(a) = a {
                out.push((format!("spec.strategy.blueGreen.{field}"), a));
            }
        }
    }
    out
}

fn invalid(path: &str, value: &str, message: &str) -> FieldError {
    FieldError {
        path: path.to_string(),
        kind: FieldErrorKind::Invalid(value.to_string()),
        message: message.to_string(),
    }
}
