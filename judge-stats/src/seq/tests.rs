//! Unit tests of [`crate::seq`] (kept apart so that `seq.rs` stays short).

use super::*;

#[test]
fn fail_evidence_grows_when_canary_is_worse() {
    let mut p = RateRatioProcess::new(1.0, 1.25, 20.0);
    for _ in 0..10 {
        p.observe(0.5, 20.0, 10.0, 1000.0, 1000.0);
        p.conclude_look(0.05);
    }
    assert!(p.max_log_e_fail > (20.0f64).ln(), "{}", p.max_log_e_fail);
    let Interval { lo, hi } = p.cs.unwrap();
    assert!(lo > 1.2 && hi < 3.5 && lo < 2.0 && hi > 2.0, "{lo} {hi}");
}

#[test]
fn equal_rates_give_no_fail_evidence_and_a_cs_around_one() {
    let mut p = RateRatioProcess::new(1.0, 1.25, 20.0);
    for _ in 0..50 {
        p.observe(0.5, 50.0, 50.0, 5000.0, 5000.0);
        p.conclude_look(0.05);
    }
    assert!(p.log_e_fail() < 0.0);
    let Interval { lo, hi } = p.cs.unwrap();
    assert!(lo < 1.0 && hi > 1.0 && hi < 1.25, "{lo} {hi}");
    assert!(p.max_log_e_pass > (20.0f64).ln());
}

#[test]
fn projection_matches_observing_the_window() {
    let mut p = RateRatioProcess::new(1.0, 1.25, 20.0);
    p.observe(0.3, 12.0, 20.0, 1000.0, 2300.0);
    p.conclude_look(0.05);
    let (f, q) = p.projection(0.3, 1.0).evaluate(7.5, 16.0, 0.0, 0.0);
    let mut o = p.clone();
    o.observe(0.3, 7.5, 16.0, 600.0, 1400.0);
    assert!(
        (f.log_e - o.log_e_fail()).abs() < 1e-9,
        "{f:?} {}",
        o.log_e_fail()
    );
    assert!(
        (q.log_e - o.log_e_pass()).abs() < 1e-9,
        "{q:?} {}",
        o.log_e_pass()
    );
    assert_eq!((f.sd, q.sd), (0.0, 0.0));
    // The spread grows like the square root of the counts' variance.
    let (f1, _) = p.projection(0.3, 1.0).evaluate(7.5, 16.0, 1.0, 1.0);
    let (f4, _) = p.projection(0.3, 1.0).evaluate(7.5, 16.0, 4.0, 4.0);
    assert!(f1.sd > 0.0 && (f4.sd / f1.sd - 2.0).abs() < 1e-9, "{f1:?} {f4:?}");
}

#[test]
fn unequal_shares_are_accounted_for() {
    // Canary has 10% of the traffic and 10% of the errors: no evidence of a regression.
    let mut p = RateRatioProcess::new(1.0, 1.25, 20.0);
    for _ in 0..20 {
        p.observe(0.1, 10.0, 90.0, 1000.0, 9000.0);
        p.conclude_look(0.05);
    }
    assert!(p.max_log_e_fail < 1.0);
    assert!((p.ratio_estimate() - 1.0).abs() < 1e-12);
}
