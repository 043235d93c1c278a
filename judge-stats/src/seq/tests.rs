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

/// The projection as computed before: the per-event logs from each ratio, every mixture term's
/// exponential evaluated.
fn projected_directly(
    p: &RateRatioProcess,
    share: f64,
    w: f64,
    counts: (f64, f64, f64, f64),
) -> [Projected; 2] {
    let (ce, se, vc, vs) = counts;
    let logs = |r: f64| {
        let l = (r * share + 1.0 - share).ln();
        (r.ln() + share.ln() - l, (1.0 - share).ln() - l)
    };
    let ll = p.log_likelihoods();
    let (rf, rp, mr) = (p.fail_ratio, p.pass_ratio, p.max_ratio);
    let fail: Vec<_> = std::iter::once(rf)
        .chain((0..MIXTURE_POINTS).map(|k| rf * mixture_rho(k, mr)))
        .map(logs)
        .collect();
    let pass: Vec<_> = std::iter::once(rp)
        .chain((0..MIXTURE_POINTS).map(|k| rp / mixture_rho(k, mr)))
        .map(logs)
        .collect();
    let one = |ll: &[f64], logs: &[(f64, f64)]| {
        let moved = |l: f64, (a, b): (f64, f64)| l + w * (ce * a + se * b);
        let base = moved(ll[0], logs[0]);
        let terms: Vec<f64> = ll[1..]
            .iter()
            .zip(&logs[1..])
            .map(|(l, g)| moved(*l, *g) - base)
            .collect();
        let top = terms.iter().fold(f64::NEG_INFINITY, |m, t| m.max(*t));
        let (mut z, mut gc, mut gs) = (0.0, 0.0, 0.0);
        for (t, (a, b)) in terms.iter().zip(&logs[1..]) {
            let e = (t - top).exp();
            z += e;
            gc += e * (a - logs[0].0);
            gs += e * (b - logs[0].1);
        }
        let (gc, gs) = (w * gc / z, w * gs / z);
        Projected {
            log_e: top + z.ln() - (terms.len() as f64).ln(),
            sd: (vc * gc * gc + vs * gs * gs).sqrt(),
        }
    };
    [
        one(&ll[..PASS_START], &fail),
        one(&ll[PASS_START..GRID_START], &pass),
    ]
}

#[test]
fn projections_skip_only_exponentials_that_underflow() {
    let mut p = RateRatioProcess::new(1.0, 1.25, 20.0).with_dispersion();
    for i in 0..12 {
        let share = 0.3 + 0.02 * f64::from(i % 4);
        p.observe(
            share,
            9.0 + f64::from(i % 3),
            20.0,
            1000.0 * share,
            1000.0 * (1.0 - share),
        );
    }
    // From a tenth of an event to 10⁸ (where most terms lie thousands below the largest).
    for scale in [0.1, 10.0, 1e3, 1e5, 1e8] {
        for (share, w) in [(0.3, 1.0), (0.05, 0.4), (0.7, 0.9)] {
            let counts = (scale * 1.3, scale * 2.0, scale, scale * 1.5);
            let (f, q) = p
                .projection(share, w)
                .evaluate(counts.0, counts.1, counts.2, counts.3);
            let [df, dq] = projected_directly(&p, share, w, counts);
            assert_eq!(
                (f.log_e.to_bits(), f.sd.to_bits()),
                (df.log_e.to_bits(), df.sd.to_bits()),
                "{scale} {share}"
            );
            assert_eq!(
                (q.log_e.to_bits(), q.sd.to_bits()),
                (dq.log_e.to_bits(), dq.sd.to_bits()),
                "{scale} {share}"
            );
        }
    }
}
