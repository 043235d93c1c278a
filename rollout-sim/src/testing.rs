//! Proptest strategies for scenarios (feature `testing`), to property-test your own Rollouts and
//! AnalysisTemplates against many environments: random traffic, version behaviours, pod start-up
//! times and faults.
//!
//! ```
//! use proptest::prelude::*;
//! use rollout_sim::testing::scenario;
//! proptest!(|(s in scenario())| { prop_assert!(s.validate().is_ok()); });
//! ```

use proptest::prelude::*;

use crate::scenario::{Fault, Pods, Scenario, Traffic, Trigger, VersionBehaviour};

/// A version's behaviour: error rate 0..=50%, median latency 5..=300 ms, p99 1..=10× the median.
pub fn version_behaviour() -> impl Strategy<Value = VersionBehaviour> {
    (0.0f64..=0.5, 5.0f64..=300.0, 1.0f64..=10.0).prop_map(|(error_rate, p50, k)| VersionBehaviour {
        error_rate,
        latency_p50_ms: p50,
        latency_p99_ms: p50 * k,
    })
}

/// When a fault starts: a time (0..=10 min), a step (0..=8) or a canary weight (0..=100).
pub fn trigger() -> impl Strategy<Value = Trigger> {
    prop_oneof![
        (0u64..=600).prop_map(|s| Trigger {
            time: Some(format!("{s}s")),
            ..Trigger::default()
        }),
        (0i32..=8).prop_map(|s| Trigger {
            step: Some(s),
            ..Trigger::default()
        }),
        (0i32..=100).prop_map(|w| Trigger {
            canary_weight: Some(w),
            ..Trigger::default()
        }),
    ]
}

/// One fault with exactly one effect.
pub fn fault() -> impl Strategy<Value = Fault> {
    let effect = prop_oneof![
        (0.0f64..=1.0).prop_map(|r| Fault {
            canary_error_rate: Some(r),
            ..Fault::default()
        }),
        (0.0f64..=1.0).prop_map(|r| Fault {
            stable_error_rate: Some(r),
            ..Fault::default()
        }),
        (1.0f64..=2000.0).prop_map(|ms| Fault {
            canary_latency_p50_ms: Some(ms),
            ..Fault::default()
        }),
        (1u64..=300).prop_map(|s| Fault {
            metrics_unreachable: Some(format!("{s}s")),
            ..Fault::default()
        }),
        Just(Fault {
            canary_crash_loop: Some(true),
            ..Fault::default()
        }),
    ];
    (trigger(), effect).prop_map(|(at, f)| Fault { at, ..f })
}

/// A whole scenario: 0..=200 requests/s, pods ready in 0..=60 s, up to three faults, at most
/// two simulated hours.
pub fn scenario() -> impl Strategy<Value = Scenario> {
    (
        0.0f64..=200.0,
        version_behaviour(),
        version_behaviour(),
        0u64..=60,
        proptest::collection::vec(fault(), 0..=3),
        any::<u64>(),
    )
        .prop_map(|(rps, stable, canary, ready, faults, seed)| Scenario {
            name: "generated".to_string(),
            description: String::new(),
            seed: Some(seed),
            traffic: Traffic {
                requests_per_second: rps,
            },
            stable,
            canary,
            pods: Pods {
                ready_after: format!("{ready}s"),
            },
            max_duration: "2h".to_string(),
            faults,
            ..Scenario::default()
        })
}
