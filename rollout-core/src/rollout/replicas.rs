//! Replica math, as upstream's `utils/replicaset/canary.go`, exposed as pure functions.
//!
//! Notation: `R` = `spec.replicas`, `M` = `maxTrafficWeight` (100), `W` = desired weight,
//! `S`/`U` = resolved maxSurge/maxUnavailable. Go's float64 operation order is reproduced
//! exactly (10 replicas at 15% hits the 1.5 tie only because of it), and Go's int32
//! multiplications are done in `i64` (deliberate difference: upstream's int32 products wrap
//! around from ~21.5M replicas) and only the results are saturated back to `i32`.
//!
//! ```
//! use rollout_core::rollout::replicas::{approximate_weighted_counts, BasicCanary, RsCounts};
//! // "How many pods at 15% of 10, without surge?"
//! assert_eq!(approximate_weighted_counts(10, 15, 100, 0), (2, 8));
//! // 10 replicas, 10%, surge 1, unavailable 1, from canary 0 / stable 10:
//! let step = BasicCanary {
//!     replicas: 10, weight: 10, max_weight: 100, max_surge: 1, max_unavailable: 1,
//!     new: Some(RsCounts::ready(0)), stable: Some(RsCounts::ready(10)), others_spec: 0,
//! };
//! assert_eq!(step.counts(), (1, 9));
//! ```

use crate::common::IntOrString;

use super::spec::{ProgressThresholdType, ReplicaProgressThreshold};

/// The counts of one ReplicaSet the math needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RsCounts {
    /// `spec.replicas`.
    pub spec: i32,
    /// `status.replicas`.
    pub status_replicas: i32,
    /// `status.availableReplicas`.
    pub available: i32,
}

impl RsCounts {
    /// An RS with `n` pods, all available.
    pub fn ready(n: i32) -> Self {
        RsCounts {
            spec: n,
            status_replicas: n,
            available: n,
        }
    }
}

fn sat(v: i64) -> i32 {
    v.clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Resolves maxSurge/maxUnavailable as upstream (`resolveFenceposts` + `MaxSurge`/`MaxUnavailable`):
/// defaults `"25"` (25%), surge rounds up, unavailable rounds down, both 0 → unavailable 1,
/// unavailable capped at `replicas`, `replicas == 0` → unavailable 0. An unparsable value
/// resolves both to 0 (upstream ignores the error; validation reports it).
///
/// ```
/// use rollout_core::rollout::replicas::resolve_surge_unavailable;
/// assert_eq!(resolve_surge_unavailable(None, None, 10), (3, 2));
/// assert_eq!(resolve_surge_unavailable(Some(&0.into()), Some(&0.into()), 10), (0, 1));
/// ```
pub fn resolve_surge_unavailable(
    max_surge: Option<&IntOrString>,
    max_unavailable: Option<&IntOrString>,
    replicas: i32,
) -> (i32, i32) {
    let total = i64::from(replicas);
    // Default "25" (25%), without allocating the string.
    let default = |round_up: bool| {
        let p = 25 * total;
        Ok(if round_up {
            (p + 99).div_euclid(100)
        } else {
            p.div_euclid(100)
        })
    };
    let surge = max_surge.map_or_else(|| default(true), |v| v.scaled(total, true));
    let unavailable = max_unavailable.map_or_else(|| default(false), |v| v.scaled(total, false));
    let (surge, mut unavailable) = match (surge, unavailable) {
        (Ok(s), Ok(u)) => (sat(s), sat(u)),
        _ => (0, 0),
    };
    if surge == 0 && unavailable == 0 {
        unavailable = 1;
    }
    if replicas == 0 {
        unavailable = 0;
    }
    (surge, unavailable.min(replicas))
}

/// `ceil(w * r / m)` (upstream `trafficWeightToReplicas`, in float64 there), computed exactly in
/// 64-bit: the same as upstream wherever `w * r` fits a float64's 53 bits, exact beyond.
pub fn weight_to_replicas(replicas: i32, weight: i32, max_weight: i32) -> i32 {
    if max_weight == 0 {
        return 0;
    }
    let (p, m) = (i64::from(weight) * i64::from(replicas), i64::from(max_weight));
    let (p, m) = if m < 0 { (-p, -m) } else { (p, m) };
    sat(ceil_div(p, m))
}

/// `ceil(p / m)` for `m > 0`.
fn ceil_div(p: i64, m: i64) -> i64 {
    p.div_euclid(m) + i64::from(p.rem_euclid(m) != 0)
}

fn tied(total: i32, weight: i32, max_weight: i32) -> bool {
    let x = f64::from(total) * (f64::from(weight) / f64::from(max_weight));
    x.fract() == 0.5
}

fn weight_delta(weight: i32, canary: i32, total: i32, max_weight: i32) -> f64 {
    let actual = (i64::from(canary) * i64::from(max_weight)) as f64 / f64::from(total);
    (actual - f64::from(weight)).abs()
}

/// Nearest-ratio canary/stable split for a basic canary (upstream
/// `approximateWeightedCanaryStableReplicaCounts`). Returns `(canary, stable)`; the total is
/// `replicas`, or `replicas + 1` when surge allows a closer ratio. As upstream, the surge
/// options reuse the ceil/floor canary counts computed for `replicas`.
pub fn approximate_weighted_counts(
    replicas: i32,
    weight: i32,
    max_weight: i32,
    max_surge: i32,
) -> (i32, i32) {
    if replicas == 0 || max_weight == 0 {
        return (0, 0);
    }
    // 64-bit and exact: `total * weight` overflows i32 from ~21.5M replicas on (upstream's int32
    // product wraps; saturating it gave the same count for every weight). Below 2^53 this equals
    // Go's float64 ceil/floor.
    let split = |total: i32| {
        let (p, m) = (i64::from(total) * i64::from(weight), i64::from(max_weight));
        let (p, m) = if m < 0 { (-p, -m) } else { (p, m) };
        (sat(ceil_div(p, m)), sat(p.div_euclid(m)))
    };
    let zero_ok = weight == max_weight || weight == 0 || (replicas == 1 && max_surge == 0);
    // At most four candidates, kept on the stack.
    let mut options = [(0i32, 0i32); 4];
    let mut len = 0;
    let mut push = |o: (i32, i32)| {
        options[len] = o;
        len += 1;
    };
    let (hi, lo) = split(replicas);
    if hi < replicas || zero_ok {
        push((hi, replicas));
    }
    if !tied(replicas, weight, max_weight) && (lo != 0 || zero_ok) {
        push((lo, replicas));
    }
    if max_surge > 0 {
        // Upstream reuses the ceil/floor computed for `replicas` with a total of `replicas + 1`.
        let total = replicas.saturating_add(1);
        push((hi, total));
        if !tied(total, weight, max_weight) && (lo != 0 || zero_ok) {
            push((lo, total));
        }
    }
    let options = &options[..len];
    let Some(&first) = options.first() else {
        return (0, replicas);
    };
    let mut best = first;
    let mut best_delta = weight_delta(weight, best.0, best.1, max_weight);
    for &opt in options.iter().skip(1) {
        let d = weight_delta(weight, opt.0, opt.1, max_weight);
        if d < best_delta {
            best = opt;
            best_delta = d;
        }
    }
    (best.0, best.1 - best.0)
}

/// Upstream `GetReplicasForScaleDown`: the pods of `rs` that count towards availability.
pub fn replicas_for_scale_down(rs: Option<RsCounts>, ignore_availability: bool) -> i32 {
    match rs {
        None => 0,
        Some(rs) if rs.spec < rs.available => rs.spec,
        Some(rs) if ignore_availability => rs.spec,
        Some(rs) => rs.available,
    }
}

/// Inputs of one basic-canary (no traffic routing) scaling decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BasicCanary {
    /// `R`.
    pub replicas: i32,
    /// Desired weight `W`.
    pub weight: i32,
    /// `M` (100 for a basic canary).
    pub max_weight: i32,
    /// Resolved maxSurge.
    pub max_surge: i32,
    /// Resolved maxUnavailable.
    pub max_unavailable: i32,
    /// The new RS (`None` if not created yet).
    pub new: Option<RsCounts>,
    /// The stable RS (`None` on initial deploy; pass `None` too when stable *is* the new RS).
    pub stable: Option<RsCounts>,
    /// Σ spec.replicas of all other (older) RSs.
    pub others_spec: i32,
}

impl BasicCanary {
    /// Upstream `CalculateReplicaCountsForBasicCanary`: `(new, stable)` spec counts for this tick.
    ///
    /// One deliberate difference: a negative surge budget (total specs above `R + S`, e.g.
    /// right after `spec.replicas` shrank) is treated as 0 instead of shrinking the stable
    /// through the scale-up path, so the availability floor always holds.
    pub fn counts(&self) -> (i32, i32) {
        let (n, s) = self.counts_wide();
        (sat(n), sat(s))
    }

    /// [`BasicCanary::counts`] in 64-bit: sums and differences of counts near `i32::MAX` (e.g.
    /// `replicas + maxSurge - others - new - stable`) overflow `i32`.
    fn counts_wide(&self) -> (i64, i64) {
        let r = i64::from(self.replicas);
        let (dn, ds) =
            approximate_weighted_counts(self.replicas, self.weight, self.max_weight, self.max_surge);
        let (mut dn, mut ds) = (i64::from(dn), i64::from(ds));
        if self.stable.is_none() {
            dn = r;
            ds = 0;
        }
        let new = self.new.map(Wide::from);
        let stable = self.stable.map(Wide::from);
        let others_spec = i64::from(self.others_spec);
        let mut n = new.map_or(0, |x| x.spec);
        let mut s = stable.map_or(0, |x| x.spec);
        let max_allowed = r + i64::from(self.max_surge);
        let mut budget = (max_allowed - others_spec - n - s).max(0);
        if let Some(st) = stable
            && st.spec < ds
        {
            if st.spec + budget < ds {
                s = st.spec + budget;
                budget = 0;
            } else {
                s = ds;
                budget -= ds - st.spec;
            }
        }
        if let Some(nw) = new
            && nw.spec < dn
        {
            n = if nw.spec + budget < dn {
                nw.spec + budget
            } else {
                dn
            };
        }
        if others_spec > 0 {
            return (n, s);
        }
        let floor = r - i64::from(self.max_unavailable);
        let increasing = new.is_none_or(|x| dn >= x.spec);
        let pool = i64::from(replicas_for_scale_down(self.new, !increasing))
            + i64::from(replicas_for_scale_down(self.stable, increasing));
        if pool <= floor {
            return (n, s);
        }
        let k = pool - floor;
        if increasing {
            if stable.is_none() {
                return (n, s);
            }
            s = scale_down_toward(stable, ds, k, s);
            let (s2, n2) = rebalance(stable, new, s, n, max_allowed, floor);
            (n2, s2)
        } else {
            n = scale_down_toward(new, dn, k, n);
            let (n2, s2) = rebalance(new, stable, n, s, max_allowed, floor);
            (n2, s2)
        }
    }
}

/// An RS's counts widened to 64-bit for [`BasicCanary::counts`].
#[derive(Debug, Clone, Copy)]
struct Wide {
    spec: i64,
    available: i64,
}

impl From<RsCounts> for Wide {
    fn from(rs: RsCounts) -> Self {
        Wide {
            spec: i64::from(rs.spec),
            available: i64::from(rs.available),
        }
    }
}

/// Upstream `calculateScaleDownReplicaCount`.
fn scale_down_toward(rs: Option<Wide>, desired: i64, k: i64, current: i64) -> i64 {
    match rs {
        Some(rs) if rs.spec > desired => desired.max(rs.spec - k),
        _ => current,
    }
}

/// Upstream `adjustReplicaWithinLimits`: returns `(drain, keep)`.
fn rebalance(
    drain_rs: Option<Wide>,
    keep_rs: Option<Wide>,
    mut drain: i64,
    mut keep: i64,
    max_allowed: i64,
    floor: i64,
) -> (i64, i64) {
    let mut over = (keep + drain - max_allowed).max(0);
    let mut available = 0;
    if let Some(d) = drain_rs {
        available += d.available.min(drain);
    }
    if let Some(a) = keep_rs {
        keep -= over;
        available += a.available.min(keep);
        let lost = (a.available - keep).max(0);
        let needed = (floor - available).max(0);
        keep += lost.min(needed);
        over = (keep + drain - max_allowed).max(0);
        drain -= over;
    }
    (drain, keep)
}

/// `minPodsPerReplicaSet` adjustment: a non-zero count is raised to `min(min_pods, replicas)`.
pub fn apply_min_pods(count: i32, min_pods: Option<i32>, replicas: i32) -> i32 {
    match min_pods {
        Some(m) if count != 0 => count.max(m.min(replicas)),
        _ => count,
    }
}

/// Inputs of one traffic-routed canary sizing (upstream
/// `CalculateReplicaCountsForTrafficRoutedCanary`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrafficRoutedCanary {
    /// `R`.
    pub replicas: i32,
    /// `M`.
    pub max_weight: i32,
    /// Desired weight (ignored when `override_replicas` is set).
    pub weight: i32,
    /// A `setCanaryScale.replicas` override.
    pub override_replicas: Option<i32>,
    /// `dynamicStableScale`.
    pub dynamic_stable_scale: bool,
    /// `minPodsPerReplicaSet`.
    pub min_pods: Option<i32>,
    /// Recorded `(canary, stable)` traffic weights from `status.canary.weights`.
    pub recorded: Option<(i32, i32)>,
    /// Aborted.
    pub aborted: bool,
}

impl TrafficRoutedCanary {
    /// `(canary, stable)` desired counts.
    ///
    /// ```
    /// use rollout_core::rollout::replicas::TrafficRoutedCanary;
    /// let tr = TrafficRoutedCanary { replicas: 10, max_weight: 100, weight: 15,
    ///     override_replicas: None, dynamic_stable_scale: false, min_pods: None,
    ///     recorded: None, aborted: false };
    /// assert_eq!(tr.counts(), (2, 10)); // stable stays at 100% without DSS
    /// ```
    pub fn counts(&self) -> (i32, i32) {
        let (r, m) = (self.replicas, self.max_weight);
        let mut canary = self
            .override_replicas
            .unwrap_or_else(|| apply_min_pods(weight_to_replicas(r, self.weight, m), self.min_pods, r));
        if !self.dynamic_stable_scale {
            return (canary, r);
        }
        let mut stable = weight_to_replicas(r, m - self.weight, m);
        if let Some((cw, sw)) = self.recorded {
            stable = stable.max(weight_to_replicas(r, sw, m));
            if self.aborted {
                canary = canary.max(weight_to_replicas(r, cw, m));
            }
        }
        (
            apply_min_pods(canary, self.min_pods, r),
            apply_min_pods(stable, self.min_pods, r),
        )
    }
}

/// Upstream `ReplicaProgressThresholdMet`: whether enough of the new RS's desired pods are
/// available for a step to count as reached.
pub fn progress_threshold_met(
    threshold: Option<&ReplicaProgressThreshold>,
    new: Option<RsCounts>,
    desired: i32,
) -> bool {
    let Some(new) = new else { return false };
    match threshold {
        Some(t) if t.value >= 0 => match t.kind {
            ProgressThresholdType::Percent => {
                if desired == 0 {
                    return true;
                }
                f64::from(new.available) / f64::from(desired) >= f64::from(t.value) / 100.0 - 1e-10
            }
            ProgressThresholdType::Pods => new.available >= t.value,
        },
        _ => new.spec == desired && new.available == desired,
    }
}

/// Dynamic-stable-scale abort drain (upstream `GetDesiredCanaryWeight` abort branch): the
/// weight whose canary size the aborted canary may still keep while the stable scales up.
/// `set_weights` are the steps' `setWeight` values in step order.
///
/// Deliberate difference: a step's pod count is compared after the `minPodsPerReplicaSet`
/// adjustment (`min_pods`). Upstream compares the raw count, so with `minPodsPerReplicaSet`
/// a small weight keeps selecting itself and the aborted canary never drains.
pub fn dss_abort_weight(
    set_weights: &[i32],
    replicas: i32,
    max_weight: i32,
    stable_available: i32,
    new_available: i32,
    explicit_abort_delay: bool,
    min_pods: Option<i32>,
) -> i32 {
    let expected = replicas - stable_available;
    let canary = if explicit_abort_delay {
        expected
    } else {
        expected.max(new_available)
    };
    set_weights
        .iter()
        .rev()
        .copied()
        .find(|w| apply_min_pods(weight_to_replicas(replicas, *w, max_weight), min_pods, replicas) < canary)
        .unwrap_or(0)
}
