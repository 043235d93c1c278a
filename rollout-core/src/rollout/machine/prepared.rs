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
            generation: ro.metadata.generation,
            collision_count: ro.status.collision_count,
            workload_generation: obs.workload.as_ref().map(|w| w.generation),
            invalid: errs.first().map(ToString::to_string),
            pod_hash: hash::pod_template_hash(template, ro.status.collision_count),
            step_hash,
        }
    }

    /// Whether this was computed for the same spec generation (and collision count and
    /// workload generation) as `ro`/`obs`. Without a `metadata.generation` it is never current.
    pub fn is_current(&self, ro: &Rollout, obs: &Observed) -> bool {
        ro.metadata.generation.is_some()
            && self.generation == ro.metadata.generation
            && self.collision_count == ro.status.collision_count
            && self.workload_generation == obs.workload.as_ref().map(|w| w.generation)
    }
}
