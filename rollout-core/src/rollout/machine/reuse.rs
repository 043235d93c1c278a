//! What keeps a pass from allocating: copying a status into an existing one, reusing its strings
//! and vectors (`clone_from` field by field; the result always equals `src.clone()`), the view of
//! the other ReplicaSets and comparing a number with its text. The machine's output starts as a
//! copy of the persisted status; a caller that hands its previous decision back
//! ([`reconcile_into`](super::reconcile_into)) pays no allocation for that copy.

use crate::rollout::ObservedReplicaSet;
use crate::rollout::cost::CostStatus;
use crate::rollout::status::{
    BlueGreenStatus, CanaryStatus, Condition, RolloutAnalysisRunStatus, RolloutStatus, TrafficWeights,
    WeightDestination,
};

/// `*dst = src.clone()`, reusing `dst`'s allocations.
pub(crate) fn copy_status(src: &RolloutStatus, dst: &mut RolloutStatus) {
    // Destructured without `..`: a new field fails to compile until it is copied here.
    let RolloutStatus {
        abort,
        pause_conditions,
        controller_pause,
        aborted_at,
        current_pod_hash,
        current_step_hash,
        replicas,
        updated_replicas,
        ready_replicas,
        available_replicas,
        current_step_index,
        collision_count,
        observed_generation,
        hpa_replicas,
        selector,
        stable_rs,
        restarted_at,
        promote_full,
        phase,
        message,
        workload_observed_generation,
        canary,
        blue_green,
        conditions,
        why,
        feedback,
        group,
        cost,
        extra,
    } = src;
    dst.abort = *abort;
    copy_changed(pause_conditions, &mut dst.pause_conditions);
    dst.controller_pause = *controller_pause;
    dst.aborted_at = *aborted_at;
    dst.current_pod_hash.clone_from(current_pod_hash);
    dst.current_step_hash.clone_from(current_step_hash);
    dst.replicas = *replicas;
    dst.updated_replicas = *updated_replicas;
    dst.ready_replicas = *ready_replicas;
    dst.available_replicas = *available_replicas;
    dst.current_step_index = *current_step_index;
    dst.collision_count = *collision_count;
    dst.observed_generation.clone_from(observed_generation);
    dst.hpa_replicas = *hpa_replicas;
    dst.selector.clone_from(selector);
    dst.stable_rs.clone_from(stable_rs);
    dst.restarted_at = *restarted_at;
    dst.promote_full = *promote_full;
    dst.phase = *phase;
    dst.message.clone_from(message);
    dst.workload_observed_generation
        .clone_from(workload_observed_generation);
    copy_canary(canary, &mut dst.canary);
    copy_blue_green(blue_green, &mut dst.blue_green);
    copy_vec(conditions, &mut dst.conditions, copy_condition);
    copy_changed(why, &mut dst.why);
    dst.feedback.clone_from(feedback);
    copy_changed(group, &mut dst.group);
    copy_option(cost, &mut dst.cost, copy_cost);
    copy_changed(extra, &mut dst.extra);
}

/// Copies `src` into `dst` unless they are equal already (as when the recycled decision holds
/// the persisted status): for maps, vectors and options, comparing equal values is cheaper than
/// `clone_from` (an empty map's costs ~100 instructions). Strings are copied: a `memcmp` before
/// the copy ran fewer instructions but took longer on this machine (BENCHMARKS.md).
fn copy_changed<T: PartialEq + Clone>(src: &T, dst: &mut T) {
    if dst != src {
        dst.clone_from(src);
    }
}

fn copy_option<T: Clone>(src: &Option<T>, dst: &mut Option<T>, copy: fn(&T, &mut T)) {
    match (src, dst.as_mut()) {
        (Some(s), Some(d)) => copy(s, d),
        _ => dst.clone_from(src),
    }
}

fn copy_vec<T: Clone>(src: &[T], dst: &mut Vec<T>, copy: fn(&T, &mut T)) {
    dst.truncate(src.len());
    let (head, tail) = src.split_at(dst.len());
    for (s, d) in head.iter().zip(dst.iter_mut()) {
        copy(s, d);
    }
    dst.extend_from_slice(tail);
}

fn copy_condition(src: &Condition, dst: &mut Condition) {
    let Condition {
        kind,
        status,
        last_update_time,
        last_transition_time,
        reason,
        message,
    } = src;
    dst.kind = *kind;
    dst.status = *status;
    dst.last_update_time = *last_update_time;
    dst.last_transition_time = *last_transition_time;
    dst.reason.clone_from(reason);
    dst.message.clone_from(message);
}

fn copy_run(src: &RolloutAnalysisRunStatus, dst: &mut RolloutAnalysisRunStatus) {
    let RolloutAnalysisRunStatus {
        name,
        status,
        message,
    } = src;
    dst.name.clone_from(name);
    dst.status = *status;
    dst.message.clone_from(message);
}

fn copy_canary(src: &CanaryStatus, dst: &mut CanaryStatus) {
    let CanaryStatus {
        current_step_analysis_run_status,
        current_background_analysis_run_status,
        current_experiment,
        weights,
        extra,
    } = src;
    copy_option(
        current_step_analysis_run_status,
        &mut dst.current_step_analysis_run_status,
        copy_run,
    );
    copy_option(
        current_background_analysis_run_status,
        &mut dst.current_background_analysis_run_status,
        copy_run,
    );
    copy_changed(current_experiment, &mut dst.current_experiment);
    copy_option(weights, &mut dst.weights, copy_weights);
    copy_changed(extra, &mut dst.extra);
}

fn copy_destination(src: &WeightDestination, dst: &mut WeightDestination) {
    let WeightDestination {
        weight,
        service_name,
        pod_template_hash,
    } = src;
    dst.weight = *weight;
    dst.service_name.clone_from(service_name);
    dst.pod_template_hash.clone_from(pod_template_hash);
}

fn copy_weights(src: &TrafficWeights, dst: &mut TrafficWeights) {
    let TrafficWeights {
        canary,
        stable,
        additional,
        verified,
    } = src;
    copy_destination(canary, &mut dst.canary);
    copy_destination(stable, &mut dst.stable);
    copy_vec(additional, &mut dst.additional, copy_destination);
    dst.verified = *verified;
}

fn copy_blue_green(src: &BlueGreenStatus, dst: &mut BlueGreenStatus) {
    let BlueGreenStatus {
        preview_selector,
        active_selector,
        scale_up_preview_check_point,
        pre_promotion_analysis_run_status,
        post_promotion_analysis_run_status,
    } = src;
    dst.preview_selector.clone_from(preview_selector);
    dst.active_selector.clone_from(active_selector);
    dst.scale_up_preview_check_point = *scale_up_preview_check_point;
    copy_option(
        pre_promotion_analysis_run_status,
        &mut dst.pre_promotion_analysis_run_status,
        copy_run,
    );
    copy_option(
        post_promotion_analysis_run_status,
        &mut dst.post_promotion_analysis_run_status,
        copy_run,
    );
}

fn copy_cost(src: &CostStatus, dst: &mut CostStatus) {
    let CostStatus {
        pod_hash,
        extra_pod_seconds,
        extra_pods,
        since,
        started_at,
        finished_at,
    } = src;
    dst.pod_hash.clone_from(pod_hash);
    dst.extra_pod_seconds = *extra_pod_seconds;
    dst.extra_pods = *extra_pods;
    dst.since = *since;
    dst.started_at = *started_at;
    dst.finished_at = *finished_at;
}

/// The ReplicaSets other than the new and the stable one, in observed order (a view over the
/// observed list: no allocation per pass).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Others<'a> {
    pub(super) all: &'a [ObservedReplicaSet],
    pub(super) new: Option<&'a str>,
    pub(super) stable: Option<&'a str>,
}

impl<'a> Others<'a> {
    pub fn iter(&self) -> impl Iterator<Item = &'a ObservedReplicaSet> + use<'a> {
        let (new, stable) = (self.new, self.stable);
        self.all
            .iter()
            .filter(move |r| Some(r.name.as_str()) != new && Some(r.name.as_str()) != stable)
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }
}

/// Whether `s` is `v` displayed (`v.to_string() == s`), without allocating or formatting.
pub(crate) fn displays_as(s: &str, v: i64) -> bool {
    let (negative, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d.as_bytes()),
        None => (false, s.as_bytes()),
    };
    if negative != (v < 0) || digits.is_empty() || digits.len() > 19 {
        return false;
    }
    // Canonical text only: no sign but a leading `-`, no leading zero (but "0"), no "-0".
    if digits[0] == b'0' && (digits.len() > 1 || negative) {
        return false;
    }
    let mut magnitude: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return false;
        }
        magnitude = magnitude * 10 + u64::from(d - b'0');
    }
    magnitude == v.unsigned_abs()
}

/// Sets `s` to `v` displayed (empty for `None`), allocating only when it changes.
pub(crate) fn set_displayed(s: &mut String, v: Option<i64>) {
    match v {
        Some(v) if !displays_as(s, v) => *s = v.to_string(),
        Some(_) => {}
        None => s.clear(),
    }
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use proptest::prelude::*;

    use super::*;

    /// A status with every field set, from the machine's own test strategies.
    fn statuses() -> impl Strategy<Value = RolloutStatus> {
        crate::testing::strategies::basic_canary_rollout().prop_map(|ro| {
            let mut c = crate::testing::FakeCluster::new(ro, crate::testing::strategies::epoch());
            c.settle(20, true);
            c.rollout.status
        })
    }

    #[test]
    fn displays_as_compares_the_exact_text() {
        for (s, v, want) in [
            ("3", 3i64, true),
            ("-12", -12, true),
            ("03", 3, false),
            ("+3", 3, false),
            ("30", 3, false),
            ("", 0, false),
            ("3 ", 3, false),
            ("-0", 0, false),
            ("0", 0, true),
            ("-", 0, false),
            ("9223372036854775807", i64::MAX, true),
            ("-9223372036854775808", i64::MIN, true),
            ("99999999999999999999", i64::MAX, false),
            ("3", -3, false),
        ] {
            assert_eq!(displays_as(s, v), want, "{s:?} vs {v}");
        }
    }

    proptest! {
        /// `displays_as` is `to_string() ==` for any number and any text near its display.
        #[test]
        fn displays_as_is_to_string_eq(v in any::<i64>(), w in any::<i64>(), s in "-?[0-9]{0,20}") {
            prop_assert!(displays_as(&v.to_string(), v));
            prop_assert_eq!(displays_as(&w.to_string(), v), w == v);
            prop_assert_eq!(displays_as(&s, v), s == v.to_string());
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]
        /// Copying into any other status gives exactly `clone()`.
        #[test]
        fn copy_equals_clone(a in statuses(), b in statuses()) {
            let mut dst = b.clone();
            copy_status(&a, &mut dst);
            prop_assert_eq!(&dst, &a);
            let mut dst = RolloutStatus::default();
            copy_status(&a, &mut dst);
            prop_assert_eq!(&dst, &a);
            let mut dst = a.clone();
            copy_status(&RolloutStatus::default(), &mut dst);
            prop_assert_eq!(dst, RolloutStatus::default());
        }
    }
}
