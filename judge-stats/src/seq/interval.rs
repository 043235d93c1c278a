//! The confidence sequence `{r : M(r) < 1/α}` on the grid of ratios, reading the log-likelihood
//! only at the grid points the scan needs.
//!
//! `ℓ` is concave in `x = ln r` (a linear term minus softplus functions), so along the grid it
//! rises to its maximum and falls after it. That gives, without evaluating every point:
//! - the maximum-likelihood point, by bisection on the sign of `ℓ`'s steps;
//! - the largest mixture term `ℓ(j) − ℓ(i)` of a grid point `i`: its components `j` are every
//!   second point of a window around `i`, so the largest is the one nearest the maximum;
//! - bounds on the mixture's sum, when it is needed: read from the largest term outwards, the
//!   unread terms of each side lie below the line through the last two read (a geometric tail).
//!   The answer is taken from the bounds once they fall on one side of the threshold by more
//!   than either computation's rounding, else from the full sum in the direct order, so every
//!   point is judged exactly as evaluating all its terms would (`tests/exact_shortcuts.rs`).

use super::{GRID_LN_MAX, GRID_LN_MIN, GRID_POINTS, GRID_START, RateRatioProcess, grid_ratio};
use crate::softplus::Prepared;
use crate::special::log_sum_exp;

/// `ℓ` on the confidence-sequence grid, each point evaluated on first use.
struct LazyGrid<'a> {
    process: &'a RateRatioProcess,
    softplus: &'a Prepared,
    values: Vec<Option<f64>>,
}

impl LazyGrid<'_> {
    /// `ℓ` at grid point `i` (`i < GRID_POINTS`), as materialising every point gives it.
    fn at(&mut self, i: usize) -> f64 {
        if let Some(Some(v)) = self.values.get(i) {
            return *v;
        }
        let h = (GRID_LN_MAX - GRID_LN_MIN) / (GRID_POINTS - 1) as f64;
        let x = GRID_LN_MIN + i as f64 * h;
        let v = self.process.log_likelihood(self.softplus, GRID_START + i, x);
        if let Some(slot) = self.values.get_mut(i) {
            *slot = Some(v);
        }
        v
    }

    /// The last grid point where `ℓ` is largest: the first whose next step goes down (or the
    /// last point), found by bisection since `ℓ`'s steps decrease along the grid.
    fn peak(&mut self) -> usize {
        let (mut lo, mut hi) = (0, GRID_POINTS - 1);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            if self.at(mid + 1) < self.at(mid) {
                hi = mid;
            } else {
                lo = mid + 1;
            }
        }
        lo
    }
}

/// The mixture components of grid point `i`: every second point from `i − odd` to `i + odd`
/// (the offsets 1, 3, …, `odd` each side), some of which may lie off the grid.
#[derive(Debug, Clone, Copy)]
struct Window {
    i: usize,
    odd: usize,
}

impl Window {
    /// The first and last component on the grid (same parity as `i + 1`).
    fn on_grid(self) -> (usize, usize) {
        let parity = (self.i + 1) % 2;
        let first = self.i.checked_sub(self.odd).unwrap_or(parity);
        let last = (self.i + self.odd).min(GRID_POINTS - 1 - parity);
        (first, last)
    }

    /// Whether a component lies off the grid (its term is 0).
    fn truncated(self) -> bool {
        self.i < self.odd || self.i + self.odd > GRID_POINTS - 1
    }

    /// Number of terms.
    fn len(self) -> usize {
        self.odd + 1
    }
}

impl RateRatioProcess {
    /// The confidence sequence `{r : M(r) < 1/α}` on the grid at this look, found by scanning
    /// outwards from the maximum-likelihood grid point. `None` before any informative window.
    pub fn confidence_interval(&self, alpha: f64) -> Option<(f64, f64)> {
        if self.windows == 0 {
            return None;
        }
        let thr = (1.0 / alpha).ln();
        let softplus = self.prepared();
        let mut grid = LazyGrid {
            process: self,
            softplus: &softplus,
            values: vec![None; GRID_POINTS],
        };
        let mle = grid.peak();
        let h = (GRID_LN_MAX - GRID_LN_MIN) / (GRID_POINTS - 1) as f64;
        let span = ((self.max_ratio.ln() / h).ceil() as usize).max(1);
        let odd = span - (1 - span % 2);
        // The excluded set is taken to be the complement of an interval around the MLE (the
        // mixture e-value grows with the distance from it), so each end is found by bisection.
        let mut inside = |i: usize| grid_inside(&mut grid, Window { i, odd }, mle, thr);
        let (mut a, mut b) = (0usize, mle); // find the smallest inside index in [0, mle]
        if inside(0) {
            b = 0;
        }
        while b > a + 1 {
            let m = a + (b - a) / 2;
            if inside(m) { b = m } else { a = m }
        }
        let lo = b;
        let (mut a, mut b) = (mle, GRID_POINTS - 1); // largest inside index in [mle, end]
        if inside(GRID_POINTS - 1) {
            a = GRID_POINTS - 1;
        }
        while b > a + 1 {
            let m = a + (b - a) / 2;
            if inside(m) { a = m } else { b = m }
        }
        let hi = a;
        let lo_r = if lo == 0 { 0.0 } else { grid_ratio(lo) };
        let hi_r = if hi + 1 == GRID_POINTS {
            f64::INFINITY
        } else {
            grid_ratio(hi)
        };
        Some((lo_r, hi_r))
    }
}

/// Whether grid point `w.i` is inside the confidence sequence: the two-sided mixture log e-value
/// of its point null, `ln mean exp(ℓ(j) − ℓ(i))` over its components `j` (0 for those off the
/// grid), is below `thr`. That value lies between `top − ln n` and `top` (`top` the largest of
/// the `n` terms), so the sum is needed only when `thr` falls in that band (margins for
/// rounding). `peak` is the grid's maximum-likelihood point.
fn grid_inside(grid: &mut LazyGrid<'_>, w: Window, peak: usize, thr: f64) -> bool {
    let base = grid.at(w.i);
    let (first, last) = w.on_grid();
    // The largest term on the grid is the component nearest the peak (with a margin of one
    // component each side for rounding); components off the grid add terms of 0.
    let near = if peak <= first {
        first..=(first + 2).min(last)
    } else if peak >= last {
        last.saturating_sub(2).max(first)..=last
    } else {
        peak.saturating_sub(3).max(first)..=(peak + 3).min(last)
    };
    let mut best: Option<(usize, f64)> = None;
    for j in near.filter(|j| (j + w.i) % 2 == 1) {
        let t = grid.at(j) - base;
        if best.is_none_or(|(_, b)| t > b) {
            best = Some((j, t));
        }
    }
    let (best, best_term) = best.unwrap_or((first, grid.at(first) - base));
    let top = if w.truncated() {
        best_term.max(0.0)
    } else {
        best_term
    };
    let ln_n = (w.len() as f64).ln();
    if top < thr - 1e-9 {
        return true;
    }
    if top - ln_n > thr + 1e-9 {
        return false;
    }
    // Within the band, bound the sum by reading the components from the largest outwards (see
    // `Band`); with every component read, sum them as the direct computation does.
    let mut band = Band::new(grid, w, base, best, top);
    loop {
        if let Some((lo, hi)) = band.bounds() {
            let (lo, hi) = (lo - ln_n, hi - ln_n);
            // Margins for the rounding of either computation.
            let margin = 1e-9 * (1.0 + top.abs());
            if hi < thr - margin {
                return true;
            }
            if lo >= thr + margin {
                return false;
            }
        }
        if !band.read_next() {
            break;
        }
    }
    // The terms in the order of the direct sum: offsets 1, 3, … left then right (0 off the grid).
    let grid = band.grid;
    let mut term = |j: Option<usize>| match j.filter(|j| *j < GRID_POINTS) {
        Some(j) => grid.at(j) - base,
        None => 0.0,
    };
    let ordered: Vec<f64> = (1..=w.odd)
        .step_by(2)
        .flat_map(|off| [term(w.i.checked_sub(off)), term(Some(w.i + off))])
        .collect();
    log_sum_exp(&ordered) - ln_n < thr
}

/// Rounding allowance (log units) on the concavity bound of unread terms.
const SLACK: f64 = 1e-3;

/// The mixture sum `Σ exp(t − top)` of a grid point in the band, bounded from the components
/// read so far: from the largest outwards on each side. `ℓ` is concave, so beyond the last two
/// components read on a side every term lies below the line through them, and the unread terms
/// sum to less than a geometric series.
struct Band<'g, 'a> {
    grid: &'g mut LazyGrid<'a>,
    base: f64,
    top: f64,
    /// `Σ exp(t − top)` over the components read and those off the grid (terms of 0).
    sum: f64,
    /// The two sides: below and above the largest component.
    sides: [Side; 2],
}

/// The components read on one side of the largest.
#[derive(Debug, Clone, Copy)]
struct Side {
    /// The last component read (the largest, before any).
    at: usize,
    /// Its term and the previous one's (`None` before a second).
    last: f64,
    previous: Option<f64>,
    /// Components not read yet beyond `at`.
    unread: usize,
}

impl<'g, 'a> Band<'g, 'a> {
    fn new(grid: &'g mut LazyGrid<'a>, w: Window, base: f64, best: usize, top: f64) -> Self {
        let (first, last) = w.on_grid();
        let best_term = grid.at(best) - base;
        let off_grid = w.len() - ((last - first) / 2 + 1);
        let side = |unread: usize| Side {
            at: best,
            last: best_term,
            previous: None,
            unread,
        };
        Self {
            grid,
            base,
            top,
            sum: (best_term - top).exp() + off_grid as f64 * (-top).exp(),
            sides: [side((best - first) / 2), side((last - best) / 2)],
        }
    }

    /// A bound on the unread terms of `side` relative to `top` (`None` while unknown).
    fn tail(&self, side: &Side) -> Option<f64> {
        if side.unread == 0 {
            return Some(0.0);
        }
        let slope = side.last - side.previous?;
        if slope >= 0.0 {
            return None;
        }
        let ratio = slope.exp();
        Some((side.last - self.top + SLACK + slope).exp() / (1.0 - ratio))
    }

    /// Bounds on `top + ln Σ exp(t − top)` from the terms read so far (`None` while a side's
    /// tail is unknown).
    fn bounds(&self) -> Option<(f64, f64)> {
        let tails = self.tail(&self.sides[0])? + self.tail(&self.sides[1])?;
        Some((
            self.top + self.sum.ln(),
            self.top + (self.sum * (1.0 + 1e-12) + tails).ln(),
        ))
    }

    /// Reads the next component on the side whose tail is unknown or largest; false when every
    /// component has been read.
    fn read_next(&mut self) -> bool {
        let tails = [self.tail(&self.sides[0]), self.tail(&self.sides[1])];
        let unread = self.sides.map(|s| s.unread > 0);
        let pick = match (unread, tails) {
            ([false, false], _) => return false,
            ([true, false], _) | ([true, true], [None, _]) => 0,
            ([false, true], _) | ([true, true], [_, None]) => 1,
            (_, [a, b]) => usize::from(b > a),
        };
        let Some(side) = self.sides.get(pick).copied() else {
            return false;
        };
        let at = if pick == 0 { side.at - 2 } else { side.at + 2 };
        let t = self.grid.at(at) - self.base;
        self.sum += (t - self.top).exp();
        if let Some(s) = self.sides.get_mut(pick) {
            *s = Side {
                at,
                last: t,
                previous: Some(side.last),
                unread: side.unread - 1,
            };
        }
        true
    }
}
