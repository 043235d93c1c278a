//! The fleet brake through the driver: with a hold on the update's image, the tick holds the
//! Rollout at its step with a `FleetHold` condition; the same driver with the holds replaced by
//! none (`set_brake`) resumes the update.

mod support;

use std::sync::Arc;

use rollout_core::fleet::brake::{Brake, Hold};
use rollout_core::rollout::ConditionType;
use rollout_driver::RolloutDriver;
use support::*;

fn tick_n(driver: &mut RolloutDriver, m: &Mem, n: usize) {
    for _ in 0..n {
        let now = m.c().now;
        block_on(driver.tick(now)).unwrap();
        m.c().advance(1);
    }
}

#[test]
fn the_driver_holds_an_update_to_a_held_image_until_the_brake_is_released() {
    let m = Mem::new(canary_rollout(false));
    let brake = Brake {
        holds: vec![Hold {
            image: Some("a:2".into()),
            revision: None,
            release: "2".into(),
            reason: "release issue".into(),
            since: m.c().now,
        }],
    };
    let mut driver = RolloutDriver::new(m.io(false)).with_brake(Arc::new(brake));
    tick_n(&mut driver, &m, 10);
    let stable = m.c().rollout.status.stable_rs.clone();
    assert!(
        !stable.is_empty(),
        "the first revision is deployed despite the hold"
    );
    m.c().set_image("a:2");
    tick_n(&mut driver, &m, 10);
    {
        let c = m.c();
        let st = &c.rollout.status;
        let cond = st.condition(ConditionType::FleetHold).expect("held");
        assert!(cond.message.contains("release 2"), "{}", cond.message);
        assert_eq!(st.current_step_index, Some(0));
        assert_eq!(st.stable_rs, stable);
    }
    driver.set_brake(Arc::default());
    tick_n(&mut driver, &m, 3);
    {
        let c = m.c();
        let st = &c.rollout.status;
        assert!(st.condition(ConditionType::FleetHold).is_none());
        assert_eq!(
            st.current_step_index,
            Some(1),
            "the 50% step completed; now at the pause"
        );
    }
}
