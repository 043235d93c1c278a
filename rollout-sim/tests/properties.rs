//! Invariants of whole simulations over generated scenarios (the exported strategies).

mod support;

use proptest::prelude::*;
use rollout_sim::log::EventKind;
use rollout_sim::testing::scenario;
use rollout_sim::{Outcome, SimInput, simulate};

fn input(s: rollout_sim::Scenario) -> SimInput {
    let seed = s.seed.unwrap_or(1);
    support::input(s, seed)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn every_simulation_ends_consistently(s in scenario()) {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let r = rt.block_on(simulate(input(s), &mut |_| {})).unwrap();
        // Time only moves forward.
        prop_assert!(r.events.windows(2).all(|w| w[0].t <= w[1].t));
        prop_assert!(r.timeline.windows(2).all(|w| w[0].t <= w[1].t));
        prop_assert!(r.duration_secs <= 2.0 * 3600.0 + 60.0);
        let last = r.timeline.last().unwrap();
        match r.outcome {
            // Promoted: the new version is stable and fully ready.
            Outcome::Promoted => {
                let v = &last.versions[&r.canary_hash];
                prop_assert!(v.ready >= 5, "{:?}", last);
            }
            // Aborted: no traffic to the canary, the stable version fully ready, and a reason.
            Outcome::Aborted => {
                prop_assert_eq!(last.weight, 0);
                prop_assert!(last.versions[&r.stable_hash].ready >= 5);
                prop_assert!(!r.reason.is_empty());
            }
            Outcome::Paused | Outcome::Degraded | Outcome::TimedOut => {}
        }
        // Exactly one Finished event, last.
        let is_finished = |k: &EventKind| matches!(k, EventKind::Finished { .. });
        let finished = r.events.iter().filter(|e| is_finished(&e.kind)).count();
        prop_assert_eq!(finished, 1);
        let ends_finished = is_finished(&r.events.last().unwrap().kind);
        prop_assert!(ends_finished);
    }
}
