//! Shortcuts of the count judges that must give exactly what the direct computation gives: the
//! confidence-sequence scan that reads the grid's log-likelihoods only where it needs them
//! (against materialising every grid point and summing every mixture term), the pairing of
//! windows by binary search (against a scan of every stable point), and `log_sum_exp` skipping
//! exponentials that underflow (against evaluating them all). Equality is bitwise.

use judge_stats::counts::{Exposure, pair_windows};
use judge_stats::data::RatioPoint;
use judge_stats::seq::{GRID_POINTS, KEPT_RATIOS, RateRatioProcess, grid_ratio};
use judge_stats::special::{SplitMix64, log_sum_exp};

/// The scan as computed from every grid point: the MLE by a full scan, each mixture e-value from
/// all its terms, each end of the interval by bisection.
fn confidence_interval_directly(ll: &[f64], max_ratio: f64, alpha: f64) -> (f64, f64) {
    let ll_grid = &ll[KEPT_RATIOS - GRID_POINTS..];
    let thr = (1.0 / alpha).ln();
    let h = (2.0 * 1e3f64.ln()) / (GRID_POINTS - 1) as f64;
    let span = ((max_ratio.ln() / h).ceil() as usize).max(1);
    let inside = |i: usize| {
        let base = ll_grid[i];
        let mut terms = Vec::new();
        for off in (1..=span).step_by(2) {
            terms.push(i.checked_sub(off).map_or(0.0, |j| ll_grid[j] - base));
            terms.push(ll_grid.get(i + off).map_or(0.0, |l| l - base));
        }
        log_sum_exp(&terms) - (terms.len() as f64).ln() < thr
    };
    let mle = ll_grid
        .iter()
        .enumerate()
        .max_by(|a, b| a.1.total_cmp(b.1))
        .map_or(0, |(i, _)| i);
    let (mut a, mut b) = (0usize, mle);
    if inside(0) {
        b = 0;
    }
    while b > a + 1 {
        let m = a + (b - a) / 2;
        if inside(m) { b = m } else { a = m }
    }
    let lo = b;
    let (mut a, mut b) = (mle, GRID_POINTS - 1);
    if inside(GRID_POINTS - 1) {
        a = GRID_POINTS - 1;
    }
    while b > a + 1 {
        let m = a + (b - a) / 2;
        if inside(m) { a = m } else { b = m }
    }
    let lo_r = if lo == 0 { 0.0 } else { grid_ratio(lo) };
    let hi_r = if a + 1 == GRID_POINTS {
        f64::INFINITY
    } else {
        grid_ratio(a)
    };
    (lo_r, hi_r)
}

#[test]
fn the_lazy_scan_gives_the_direct_interval_on_seeded_streams() {
    let mut kinds = [0usize; 4]; // bounded, no lower end, no upper end, neither
    let mut looks = 0;
    for seed in 0..96u64 {
        let mut rng = SplitMix64::new(7000 + seed);
        let pick = |rng: &mut SplitMix64, xs: &[f64]| xs[(rng.next_u64() % xs.len() as u64) as usize];
        let true_ratio = pick(&mut rng, &[0.3, 1.0, 1.0, 1.15, 1.6, 3.0, 10.0]);
        let base_rate = pick(&mut rng, &[0.0005, 0.002, 0.01, 0.05, 0.3]);
        let requests = pick(&mut rng, &[40.0, 400.0, 4000.0, 40_000.0, 400_000.0]);
        let max_ratio = pick(&mut rng, &[1.5, 5.0, 20.0, 100.0]);
        let alpha = pick(&mut rng, &[0.05, 0.0125, 1e-4]);
        let mut p = RateRatioProcess::new(1.0, 1.25, max_ratio);
        if seed % 2 == 0 {
            p = p.with_dispersion();
        }
        for window in 0..40u64 {
            // The canary's share steps up, and traffic varies per window.
            let share = [0.05, 0.2, 0.5, 0.8][(window / 10) as usize];
            let n = requests * (0.5 + rng.uniform());
            let (cn, sn) = ((n * share).round(), (n * (1.0 - share)).round());
            let ce = rng.binomial(cn as u64, (base_rate * true_ratio).min(1.0)) as f64;
            let se = rng.binomial(sn as u64, base_rate) as f64;
            p.observe(cn / (cn + sn), ce, se, cn, sn);
            if window % 4 != 3 || p.windows == 0 {
                continue;
            }
            let lazy = p.confidence_interval(alpha);
            let direct = confidence_interval_directly(&p.log_likelihoods(), max_ratio, alpha);
            assert_eq!(lazy, Some(direct), "seed {seed} window {window}");
            let (lo, hi) = direct;
            kinds[usize::from(lo == 0.0) + 2 * usize::from(hi.is_infinite())] += 1;
            looks += 1;
        }
    }
    // Every shape of interval occurs, so agreement is not vacuous.
    assert!(kinds.iter().all(|k| *k > 0), "{kinds:?} of {looks}");
}

/// Pairing as a scan of every stable point for each canary point.
fn pair_directly(canary: &[RatioPoint], stable: &[RatioPoint]) -> Vec<(i64, f64, f64, f64, f64)> {
    let mut used = vec![false; stable.len()];
    let mut out = Vec::new();
    let mut rest = (0.0, 0.0, 0.0, 0.0, i64::MIN);
    for c in canary {
        let hit = (0..stable.len()).find(|i| stable[*i].time_ms == c.time_ms && !used[*i]);
        if let Some(i) = hit {
            used[i] = true;
            let s = &stable[i];
            out.push((c.time_ms, c.numerator, c.denominator, s.numerator, s.denominator));
        } else {
            rest = (
                rest.0 + c.numerator,
                rest.1 + c.denominator,
                rest.2,
                rest.3,
                rest.4.max(c.time_ms),
            );
        }
    }
    for (s, u) in stable.iter().zip(&used) {
        if !u {
            rest = (
                rest.0,
                rest.1,
                rest.2 + s.numerator,
                rest.3 + s.denominator,
                rest.4.max(s.time_ms),
            );
        }
    }
    if rest.4 > i64::MIN {
        out.push((rest.4, rest.0, rest.1, rest.2, rest.3));
    }
    out
}

proptest::proptest! {
    /// Windows are paired as by the scan, with repeated, missing and unordered times.
    #[test]
    fn windows_pair_as_by_the_scan(
        canary in proptest::collection::vec((0i64..12, 0u32..50), 0..30),
        stable in proptest::collection::vec((0i64..12, 0u32..50), 0..30),
    ) {
        let points = |xs: &[(i64, u32)]| -> Vec<RatioPoint> {
            xs.iter()
                .map(|&(t, e)| RatioPoint { time_ms: t, numerator: f64::from(e), denominator: 100.0 + f64::from(e) })
                .collect()
        };
        let (canary, stable) = (points(&canary), points(&stable));
        let got: Vec<_> = pair_windows(&canary, &stable, None, Exposure::Requests, &|_| None)
            .map_err(proptest::test_runner::TestCaseError::fail)?
            .iter()
            .map(|w| (w.time_ms, w.canary_events, w.canary_n, w.stable_events, w.stable_n))
            .collect();
        proptest::prop_assert_eq!(got, pair_directly(&canary, &stable));
    }

    /// Skipping the exponentials that underflow leaves the sum's bits unchanged.
    #[test]
    fn log_sum_exp_skips_only_exact_zeros(
        xs in proptest::collection::vec(-2000.0f64..50.0, 1..60),
        scale in proptest::sample::select(vec![1.0, 10.0, 1e3]),
    ) {
        let xs: Vec<f64> = xs.iter().map(|x| x * scale).collect();
        let m = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let direct = m + xs.iter().map(|x| (x - m).exp()).sum::<f64>().ln();
        proptest::prop_assert_eq!(log_sum_exp(&xs).to_bits(), direct.to_bits());
    }
}
