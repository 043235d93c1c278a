//! Replica-math properties over the whole `i32` range (replicas up to `i32::MAX`, any
//! maxTrafficWeight, any surge): the math is done in 64-bit, so nothing saturates into the same
//! count for different weights and nothing overflows.

use proptest::prelude::*;
use rollout_core::rollout::replicas::*;

/// `floor` and `ceil` of `r * w / m`, exactly.
fn exact_bounds(r: i32, w: i32, m: i32) -> (i64, i64) {
    let p = i64::from(r) * i64::from(w);
    let m = i64::from(m);
    (p.div_euclid(m), p.div_euclid(m) + i64::from(p.rem_euclid(m) != 0))
}

fn rs_counts(max: i32) -> impl Strategy<Value = RsCounts> {
    (0..=max, 0..=max).prop_map(|(spec, available)| RsCounts {
        spec,
        status_replicas: spec,
        available: available.min(spec),
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn weighted_counts_are_the_floor_or_ceil_of_the_exact_share(
        r in 0..=i32::MAX,
        m in 1..=i32::MAX,
        w_permille in 0u32..=1000,
        surge in prop_oneof![Just(0), 1..=i32::MAX],
    ) {
        let w = (i64::from(m) * i64::from(w_permille) / 1000) as i32;
        let (canary, stable) = approximate_weighted_counts(r, w, m, surge);
        prop_assert!(canary >= 0 && stable >= 0, "({canary}, {stable})");
        if r > 0 {
            let total = i64::from(canary) + i64::from(stable);
            let surged = surge > 0 && r < i32::MAX && total == i64::from(r) + 1;
            prop_assert!(total == i64::from(r) || surged, "total {total} for {r} replicas");
            let (lo, hi) = exact_bounds(r, w, m);
            prop_assert!(
                (lo..=hi).contains(&i64::from(canary)),
                "canary {canary} outside [{lo}, {hi}] for {r} x {w}/{m}"
            );
        }
    }

    #[test]
    fn a_hundred_million_replicas_get_their_share_at_every_weight(w in 0i32..=100) {
        let (canary, _) = approximate_weighted_counts(100_000_000, w, 100, 0);
        prop_assert_eq!(i64::from(canary), 1_000_000 * i64::from(w));
    }

    #[test]
    fn weight_to_replicas_is_the_exact_ceiling(r in 0..=i32::MAX, m in 1..=i32::MAX, w_permille in 0u32..=1000) {
        let w = (i64::from(m) * i64::from(w_permille) / 1000) as i32;
        let (_, hi) = exact_bounds(r, w, m);
        prop_assert_eq!(i64::from(weight_to_replicas(r, w, m)), hi);
    }

    #[test]
    fn basic_canary_counts_stay_within_replicas_plus_surge(
        r in 0..=i32::MAX,
        w in 0i32..=100,
        surge in 0..=i32::MAX,
        unavailable in 0..=i32::MAX,
        new in prop::option::of(rs_counts(i32::MAX)),
        stable in prop::option::of(rs_counts(i32::MAX)),
        others_spec in prop_oneof![Just(0), 0..=i32::MAX],
    ) {
        let step = BasicCanary {
            replicas: r,
            weight: w,
            max_weight: 100,
            max_surge: surge,
            max_unavailable: unavailable.min(r),
            new,
            stable,
            others_spec,
        };
        let (n, s) = step.counts();
        prop_assert!(n >= 0 && s >= 0, "({n}, {s}) for {step:?}");
        // Never scaled above what it has or what R + surge allows.
        let cap = |current: Option<RsCounts>| current.map_or(0, |c| c.spec).max(r.saturating_add(surge));
        prop_assert!(n <= cap(new) && s <= cap(stable), "({n}, {s}) for {step:?}");
    }

    #[test]
    fn surge_and_unavailable_resolve_within_bounds(r in 0..=i32::MAX, pct in 0i64..=100, fixed in 0i64..=i64::from(i32::MAX)) {
        let p = rollout_core::common::IntOrString::String(format!("{pct}%"));
        let f = rollout_core::common::IntOrString::Int(fixed);
        for (surge, unavailable) in [(&p, &p), (&f, &p), (&p, &f)] {
            let (s, u) = resolve_surge_unavailable(Some(surge), Some(unavailable), r);
            prop_assert!(s >= 0 && (0..=r).contains(&u), "({s}, {u}) for {r}");
        }
    }

    #[test]
    fn traffic_routed_counts_stay_within_replicas(
        r in 0..=i32::MAX,
        w in 0i32..=100,
        dss in any::<bool>(),
        min_pods in prop::option::of(0..=i32::MAX),
        recorded in prop::option::of((0i32..=100).prop_map(|c| (c, 100 - c))),
        aborted in any::<bool>(),
    ) {
        let t = TrafficRoutedCanary {
            replicas: r, max_weight: 100, weight: w, override_replicas: None,
            dynamic_stable_scale: dss, min_pods, recorded, aborted,
        };
        let (canary, stable) = t.counts();
        prop_assert!((0..=r).contains(&canary) && (0..=r).contains(&stable), "({canary}, {stable}) for {t:?}");
    }
}
