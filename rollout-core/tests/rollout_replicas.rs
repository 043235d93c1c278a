//! Replica math tables from the reference (upstream doc-comment examples and canary_test.go).

use rollout_core::common::IntOrString;
use rollout_core::rollout::replicas::*;
use rollout_core::rollout::spec::{ProgressThresholdType, ReplicaProgressThreshold};

fn basic(r: i32, w: i32, s: i32, u: i32, canary: i32, stable: i32) -> (i32, i32) {
    BasicCanary {
        replicas: r,
        weight: w,
        max_weight: 100,
        max_surge: s,
        max_unavailable: u,
        new: Some(RsCounts::ready(canary)),
        stable: Some(RsCounts::ready(stable)),
        others_spec: 0,
    }
    .counts()
}

#[test]
fn upstream_doc_comment_examples() {
    // (R, W, S, U) -> canary/stable, from canary 0 and stable R.
    assert_eq!(basic(10, 10, 1, 1, 0, 10), (1, 9));
    assert_eq!(basic(10, 30, 3, 0, 0, 10), (3, 10));
    assert_eq!(basic(10, 30, 0, 5, 0, 10), (0, 7));
    // Upstream's doc comment says 1/9 here, but its code (nearest ratio with surge, since
    // v1.2) picks 1 of 11 (9.1%) over 1 of 10 (10%): 1 canary, stable kept at 10.
    assert_eq!(basic(10, 5, 1, 1, 0, 10), (1, 10));
    assert_eq!(basic(1, 5, 1, 0, 0, 1), (1, 1));
    assert_eq!(basic(1, 95, 1, 0, 0, 1), (1, 1));
}

#[test]
fn nearest_ratio_table() {
    let cases = [
        // (R, W, S) -> (canary, stable)
        ((10, 15, 0), (2, 8)), // the float64 1.5 tie rounds up
        ((10, 10, 1), (1, 9)),
        ((10, 0, 1), (0, 10)),
        ((10, 100, 1), (10, 0)),
        ((0, 50, 1), (0, 0)),
        ((1, 5, 0), (0, 1)), // zero allowed: R=1, no surge
        ((1, 95, 0), (1, 0)),
        ((1, 50, 1), (1, 1)), // surge gives an exact 50%
        ((2, 1, 0), (1, 1)),  // 1-99% never 0 canaries with R>1
        ((3, 50, 0), (2, 1)),
        ((4, 33, 1), (2, 3)), // 2 of 5 (40%) beats 1 of 4 (25%)
        ((5, 20, 1), (1, 4)),
        ((7, 50, 1), (4, 4)),
    ];
    for ((r, w, s), want) in cases {
        assert_eq!(
            approximate_weighted_counts(r, w, 100, s),
            want,
            "R={r} W={w} S={s}"
        );
    }
}

#[test]
fn surge_and_unavailable_resolution() {
    let i = |v: i64| IntOrString::Int(v);
    let s = |v: &str| IntOrString::String(v.into());
    let cases = [
        ((None, None, 10), (3, 2)),
        ((None, None, 4), (1, 1)),
        ((Some(s("25")), Some(s("25")), 10), (3, 2)), // legacy "25" means 25%
        ((Some(i(0)), Some(i(0)), 10), (0, 1)),       // both zero -> unavailable 1
        ((Some(i(1)), Some(i(20)), 10), (1, 10)),     // unavailable capped at replicas
        ((None, None, 0), (0, 0)),
        ((Some(s("50%")), Some(s("10%")), 5), (3, 0)),
        ((Some(s("bogus")), None, 10), (0, 1)), // unparsable -> 0,0 -> U=1
    ];
    for ((surge, unavail, r), want) in cases {
        assert_eq!(
            resolve_surge_unavailable(surge.as_ref(), unavail.as_ref(), r),
            want,
            "{surge:?} {unavail:?} {r}"
        );
    }
}

#[test]
fn basic_canary_rolls_through_weights() {
    // 10 replicas, surge 3, unavailable 2, 0 -> 50%: canary +3 within surge and the stable
    // shrinks to the availability floor (8) in the same tick.
    assert_eq!(basic(10, 50, 3, 2, 0, 10), (3, 8));
    // next tick, 3 canaries available: stable may go to 5 (3 + 5 = floor 8)
    assert_eq!(basic(10, 50, 3, 2, 3, 10), (3, 5));
    // abort (weight 0) from 5/5: stable grows within surge, canary shrinks to the floor
    assert_eq!(basic(10, 0, 3, 2, 5, 5), (3, 8));
    assert_eq!(basic(10, 0, 3, 2, 5, 8), (0, 8));
    assert_eq!(basic(10, 0, 3, 2, 0, 8), (0, 10));
    // no stable (initial deploy): all on the new RS
    let initial = BasicCanary {
        replicas: 4,
        weight: 20,
        max_weight: 100,
        max_surge: 1,
        max_unavailable: 1,
        new: Some(RsCounts::ready(0)),
        stable: None,
        others_spec: 0,
    };
    assert_eq!(initial.counts(), (4, 0));
    // older RSs still up: only surge-budget scale-ups, no shrinking
    let with_old = BasicCanary {
        others_spec: 2,
        ..BasicCanary {
            replicas: 10,
            weight: 50,
            max_weight: 100,
            max_surge: 3,
            max_unavailable: 2,
            new: Some(RsCounts::ready(0)),
            stable: Some(RsCounts::ready(10)),
            others_spec: 0,
        }
    };
    assert_eq!(with_old.counts(), (1, 10));
}

#[test]
fn unavailable_canary_is_drained_by_spec() {
    // The canary being drained counts its spec, so crash-looping pods can't wedge an abort.
    let c = BasicCanary {
        replicas: 4,
        weight: 0,
        max_weight: 100,
        max_surge: 1,
        max_unavailable: 0,
        new: Some(RsCounts {
            spec: 2,
            status_replicas: 2,
            available: 0,
        }),
        stable: Some(RsCounts::ready(3)),
        others_spec: 0,
    };
    assert_eq!(c.counts(), (1, 3)); // drained canary counted by spec: one pod may go
    let c2 = BasicCanary {
        stable: Some(RsCounts::ready(4)),
        new: Some(RsCounts {
            spec: 1,
            status_replicas: 1,
            available: 0,
        }),
        ..c
    };
    assert_eq!(c2.counts(), (0, 4));
}

#[test]
fn traffic_routed_table() {
    let tr = |w, dss, min_pods, recorded, aborted, ov| {
        TrafficRoutedCanary {
            replicas: 10,
            max_weight: 100,
            weight: w,
            override_replicas: ov,
            dynamic_stable_scale: dss,
            min_pods,
            recorded,
            aborted,
        }
        .counts()
    };
    assert_eq!(tr(15, false, None, None, false, None), (2, 10));
    assert_eq!(tr(0, false, None, None, false, None), (0, 10));
    assert_eq!(tr(5, false, Some(3), None, false, None), (3, 10));
    assert_eq!(tr(0, false, Some(3), None, false, None), (0, 10)); // zero stays zero
    assert_eq!(tr(20, false, None, None, false, Some(1)), (1, 10)); // setCanaryScale replicas
    assert_eq!(tr(30, true, None, None, false, None), (3, 7));
    // DSS: stable keeps the traffic it still has
    assert_eq!(tr(30, true, None, Some((10, 90)), false, None), (3, 9));
    // DSS abort: canary keeps the traffic it still has
    assert_eq!(tr(0, true, None, Some((30, 70)), true, None), (3, 10));
    // minPods capped at replicas
    let small = TrafficRoutedCanary {
        replicas: 2,
        max_weight: 100,
        weight: 10,
        override_replicas: None,
        dynamic_stable_scale: true,
        min_pods: Some(5),
        recorded: None,
        aborted: false,
    };
    assert_eq!(small.counts(), (2, 2));
    assert_eq!(weight_to_replicas(4, 200, 100), 8); // setCanaryScale weight may exceed 100
}

#[test]
fn progress_threshold_table() {
    let rs = |spec, avail| {
        Some(RsCounts {
            spec,
            status_replicas: spec,
            available: avail,
        })
    };
    assert!(progress_threshold_met(None, rs(4, 4), 4));
    assert!(!progress_threshold_met(None, rs(4, 3), 4));
    assert!(!progress_threshold_met(None, None, 0));
    let pct = ReplicaProgressThreshold {
        kind: ProgressThresholdType::Percent,
        value: 50,
    };
    assert!(progress_threshold_met(Some(&pct), rs(4, 2), 4));
    assert!(!progress_threshold_met(Some(&pct), rs(4, 1), 4));
    assert!(progress_threshold_met(Some(&pct), rs(0, 0), 0));
    let pods = ReplicaProgressThreshold {
        kind: ProgressThresholdType::Pods,
        value: 3,
    };
    assert!(progress_threshold_met(Some(&pods), rs(10, 3), 10));
    assert!(!progress_threshold_met(Some(&pods), rs(10, 2), 10));
    let neg = ReplicaProgressThreshold {
        kind: ProgressThresholdType::Pods,
        value: -1,
    };
    assert!(!progress_threshold_met(Some(&neg), rs(10, 9), 10));
}

#[test]
fn dss_abort_drain_weight() {
    // steps 25/75, R=4: stable has 2 available -> expected canary 2 -> weight 25 (1 pod < 2)
    assert_eq!(dss_abort_weight(&[25, 75], 4, 100, 2, 1, false, None), 25);
    // stable fully available and canary empty -> 0
    assert_eq!(dss_abort_weight(&[25, 75], 4, 100, 4, 0, false, None), 0);
    // without explicit delay the canary's own availability counts
    assert_eq!(dss_abort_weight(&[25, 75], 4, 100, 4, 4, false, None), 75);
    assert_eq!(dss_abort_weight(&[25, 75], 4, 100, 4, 4, true, None), 0);
    // minPodsPerReplicaSet: 1% of 2 is 1 pod but 2 with minPods, so it no longer fits
    assert_eq!(dss_abort_weight(&[1], 2, 100, 2, 2, false, None), 1);
    assert_eq!(dss_abort_weight(&[1], 2, 100, 2, 2, false, Some(2)), 0);
}
