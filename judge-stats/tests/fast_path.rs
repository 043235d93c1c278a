//! The rate-ratio e-process keeps sufficient statistics of its log-likelihoods
//! (`judge_stats::softplus`) instead of folding every window into every ratio with a logarithm.
//! These tests recompute the log-likelihoods the old, direct way on seeded streams (varying
//! shares, regressions and not, binomial and with the dispersion estimate) and check that the
//! decisions are identical at every look and the numbers agree: log-likelihoods within 1e-10
//! of their magnitude, log e-values within 1e-8.

use judge_stats::seq::RateRatioProcess;
use judge_stats::special::{SplitMix64, log_sum_exp};

/// The old computation: `ℓ(r) += w·(ce·ln θ + se·ln(1 − θ))`, `θ = r·s/(r·s + 1 − s)`, at every
/// kept ratio.
fn fold_directly(ll: &mut [f64], ratios: &[f64], weight: f64, share: f64, ce: f64, se: f64) {
    for (l, r) in ll.iter_mut().zip(ratios) {
        let theta = r * share / (r * share + 1.0 - share);
        *l += weight * (ce * theta.ln() + se * (1.0 - theta).ln());
    }
}

/// The old log mixture: `ln mean_k exp(ℓ_k − ℓ_0)`.
fn log_mixture(ll: &[f64]) -> f64 {
    let terms: Vec<f64> = ll[1..].iter().map(|l| l - ll[0]).collect();
    log_sum_exp(&terms) - (terms.len() as f64).ln()
}

#[test]
fn sufficient_statistics_match_the_direct_fold_on_seeded_streams() {
    let alpha: f64 = 0.05;
    let thr = (1.0 / alpha).ln();
    let mut decisions = [0usize; 2];
    for seed in 0..24u64 {
        let mut rng = SplitMix64::new(1000 + seed);
        let true_ratio = [1.0f64, 1.15, 1.6, 3.0][seed as usize % 4];
        let base_rate = [0.002f64, 0.01, 0.05][seed as usize % 3];
        let dispersion = seed % 2 == 0;
        let mut p = RateRatioProcess::new(1.0, 1.25, 20.0);
        if dispersion {
            p = p.with_dispersion();
        }
        let ratios = p.ratios();
        let mut ll = vec![0.0; ratios.len()];
        let (mut max_fail, mut max_pass) = (0.0f64, 0.0f64);
        // The canary's weight steps up during the run (5% → 50%), and traffic varies per window.
        for window in 0..120u64 {
            let weight_share = [0.05, 0.1, 0.25, 0.5][(window / 30) as usize];
            let requests = 2000.0 * (0.5 + rng.uniform());
            let cn = (requests * weight_share).round();
            let sn = requests - cn;
            let ce = rng.binomial(cn as u64, (base_rate * true_ratio).min(1.0)) as f64;
            let se = rng.binomial(sn as u64, base_rate) as f64;
            let share = cn / (cn + sn);
            let before = p.windows;
            p.observe(share, ce, se, cn, sn);
            if p.windows > before {
                fold_directly(&mut ll, &ratios, 1.0 / p.last_factor(), share, ce, se);
            }
            if window % 10 == 9 {
                p.conclude_look(alpha);
                let fast = p.log_likelihoods();
                let scale = ll.iter().fold(1.0f64, |m, l| m.max(l.abs()));
                for (i, (f, d)) in fast.iter().zip(&ll).enumerate() {
                    assert!(
                        (f - d).abs() <= 1e-10 * scale,
                        "seed {seed} window {window} ratio {i}: {f} vs {d}"
                    );
                }
                let (fail, pass) = (log_mixture(&ll[..51]), log_mixture(&ll[51..102]));
                assert!(
                    (p.log_e_fail() - fail).abs() < 1e-8,
                    "seed {seed}: {} vs {fail}",
                    p.log_e_fail()
                );
                assert!(
                    (p.log_e_pass() - pass).abs() < 1e-8,
                    "seed {seed}: {} vs {pass}",
                    p.log_e_pass()
                );
                max_fail = max_fail.max(fail);
                max_pass = max_pass.max(pass);
                assert_eq!(
                    (p.max_log_e_fail >= thr, p.max_log_e_pass >= thr),
                    (max_fail >= thr, max_pass >= thr),
                    "seed {seed} window {window}: decisions differ"
                );
            }
        }
        decisions[0] += usize::from(max_fail >= thr);
        decisions[1] += usize::from(max_pass >= thr);
    }
    // The streams exercise both decisions, so agreement is not vacuous.
    assert!(decisions[0] >= 6 && decisions[1] >= 3, "{decisions:?}");
}

#[test]
fn a_state_round_trip_keeps_the_log_likelihoods() {
    let mut p = RateRatioProcess::new(1.0, 1.25, 20.0).with_dispersion();
    for i in 0..30 {
        let share = 0.2 + 0.01 * f64::from(i % 7);
        p.observe(
            share,
            3.0 + f64::from(i % 5),
            20.0,
            1000.0 * share,
            1000.0 * (1.0 - share),
        );
    }
    p.conclude_look(0.05);
    let json = serde_json::to_string(&p).unwrap();
    let back: RateRatioProcess = serde_json::from_str(&json).unwrap();
    assert_eq!(back, p);
    assert_eq!(back.log_likelihoods(), p.log_likelihoods());
    assert_eq!(back.log_e_fail(), p.log_e_fail());
    // The state is small: the sufficient statistics, not one number per kept ratio.
    assert!(json.len() < 2500, "{} bytes: {json}", json.len());
}
