//! Spec-derived values (validation, hashes) that only change with the spec.

use serde_json::Value;

use crate::rollout::Observed;
use crate::rollout::hash;
use crate::rollout::spec::Rollout;
use crate::rollout::validation::{FieldError, FieldErrorKind, unsupported_steps, validate};

/// Validation result and hashes for one spec generation. Computing them dominates a decision
/// (JSON serialisation for the hashes), so a driver that reconciles often can keep one per
/// Rollout and pass it to [`super::reconcile_prepared`]; it is recomputed automatically when
/// `metadata.generation`, the collision count or the referenced workload's generation change.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    /// The object's `metadata.uid`: a Rollout deleted and created again under the same name
    /// starts its generations over.
    uid: Option<String>,
    generation: Option<i64>,
    collision_count: Option<i32>,
    workload_generation: Option<i64>,
    /// The first validation problem, rendered (upstream writes only the first into the
    /// `InvalidSpec` condition).
    pub invalid: Option<String>,
    /// Pod-template hash for the persisted collision count.
    pub pod_hash: String,
    /// Step hash (`currentStepHash`); empty for blue-green.
    pub step_hash: String,
}

static NULL: Value = Value::Null;

impl Prepared {
    /// Validates and hashes the spec of `ro` (with the workload in `obs` for `workloadRef`).
    pub fn new(ro: &Rollout, obs: &Observed) -> Self {
        let workload_template = obs.workload.as_ref().map(|w| &w.template);
        let mut errs = validate(ro, workload_template);
        if let (Some(wr), None) = (&ro.spec.workload_ref, &obs.workload) {
            errs.insert(
                0,
                FieldError {
                    path: "spec.workloadRef".into(),
                    kind: FieldErrorKind::Required,
                    message: format!("workload {} {:?} was not observed", wr.kind, wr.name),
                },
            );
        }
        errs.extend(unsupported_steps(ro));
        errs.extend(super::baseline::validate(ro));
        let template = match (&ro.spec.workload_ref, &obs.workload) {
            (Some(_), Some(w)) => &w.template,
            _ => ro.spec.template.as_ref().unwrap_or(&NULL),
        };
        let step_hash = match ro.canary() {
            Some(c) if ro.blue_green().is_none() => hash::step_hash(c.steps.as_deref()),
            _ => String::new(),
        };
        Prepared {
            uid: ro.metadata.uid.clone(),
            generation: ro.metadata.generation,
            collision_count: ro.status.collision_count,
            workload_generation: obs.workload.as_ref().map(|w| w.generation),
            invalid: errs.first().map(ToString::to_string),
            pod_hash: hash::pod_template_hash(template, ro.status.collision_count),
            step_hash,
        }
    }

    /// Whether this was computed for the same object and spec generation (and collision count
    /// and workload generation) as `ro`/`obs`. Without a `metadata.generation` it is never
    /// current.
    pub fn is_current(&self, ro: &Rollout, obs: &Observed) -> bool {
        ro.metadata.generation.is_some()
            && self.generation == ro.metadata.generation
            && self.uid == ro.metadata.uid
            && self.collision_count == ro.status.collision_count
            && self.workload_generation == obs.workload.as_ref().map(|w| w.generation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(uid: &str, generation: i64, image: &str) -> Rollout {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "demo", "uid": uid, "generation": generation},
            "spec": {
                "selector": {"matchLabels": {"app": "demo"}},
                "template": {"metadata": {"labels": {"app": "demo"}},
                             "spec": {"containers": [{"name": "app", "image": image}]}},
                "strategy": {"canary": {"steps": [{"setWeight": 50}]}}
            }
        }))
        .unwrap()
    }

    /// Kept across ticks, a `Prepared` is current for its own object and generation only: a
    /// Rollout deleted and created again under its name starts at generation 1 again.
    #[test]
    fn current_for_the_same_object_and_generation_only() {
        let obs = Observed::default();
        let first = rollout("u1", 1, "demo:v1");
        let p = Prepared::new(&first, &obs);
        assert!(p.is_current(&first, &obs));
        assert!(!p.is_current(&rollout("u1", 2, "demo:v2"), &obs));
        let recreated = rollout("u2", 1, "demo:v2");
        assert!(!p.is_current(&recreated, &obs));
        assert_ne!(p.pod_hash, Prepared::new(&recreated, &obs).pod_hash);
    }
}
