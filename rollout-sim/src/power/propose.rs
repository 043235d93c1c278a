//! What the power table flags, and a cheaper step list with the same final detection power,
//! verified by simulating it again.

use super::{
    Experiment, JudgeSetup, PowerError, PowerJudge, PowerPlan, PowerReport, PowerStep, StepKind, Traffic,
    power,
};

/// Below this detection power (cumulative, at its end) a step is too short to detect anything.
pub const TOO_SHORT: f64 = 0.10;
/// A pause is longer than needed when the target power is reached within this fraction of it.
pub const WELL_BEFORE: f64 = 0.5;
/// A proposal may lose at most this much final detection power (same seeds, so the comparison
/// is run by run).
pub const POWER_TOLERANCE: f64 = 0.01;
/// Pauses in a proposal are whole multiples of this many seconds.
pub const GRANULE_S: u64 = 10;

/// A step the power table flags.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Flag {
    /// The step ends with less than [`TOO_SHORT`] detection power.
    TooShort {
        /// Step index.
        step: usize,
        /// Detection power by its end.
        power: f64,
    },
    /// The target power is reached `needed_s` into the pause, well before its `duration_s`.
    LongerThanNeeded {
        /// Step index.
        step: usize,
        /// Seconds of the pause needed to reach the target (0: reached before it started).
        needed_s: u64,
        /// The pause's duration.
        duration_s: u64,
    },
}

/// The steps `report` flags for `plan` at `target` power.
pub fn flags(plan: &PowerPlan, setup: &JudgeSetup, report: &PowerReport, target: f64) -> Vec<Flag> {
    let mut out = Vec::new();
    for (i, s) in plan.steps.iter().enumerate() {
        let duration_s = plan.duration_s(i, &setup.cadence);
        if duration_s == 0 {
            continue;
        }
        let p = report.power(i, None);
        if p < TOO_SHORT {
            out.push(Flag::TooShort { step: i, power: p });
        }
        if let StepKind::Pause(d) = s.kind {
            let needed = if i > 0 && report.power(i - 1, None) >= target {
                Some(0)
            } else {
                report.reaches_at(i, target).map(round_up)
            };
            if let Some(needed_s) = needed.filter(|n| (*n as f64) <= WELL_BEFORE * d as f64) {
                out.push(Flag::LongerThanNeeded {
                    step: i,
                    needed_s,
                    duration_s: d,
                });
            }
        }
    }
    out
}

fn round_up(s: u64) -> u64 {
    s.div_ceil(GRANULE_S) * GRANULE_S
}

/// A cheaper step list and its re-simulated power.
#[derive(Debug, Clone, PartialEq)]
pub struct Proposal {
    /// For each original step: its replacement, `None` when dropped.
    pub steps: Vec<Option<PowerStep>>,
    /// The proposed plan (dropped steps removed).
    pub plan: PowerPlan,
    /// Its simulation (same seeds).
    pub report: PowerReport,
    /// Final detection power of the original plan.
    pub original_power: f64,
    /// Final detection power of the proposal, re-simulated.
    pub power: f64,
    /// Seconds of pauses saved.
    pub saved_s: u64,
    /// Candidates simulated to find it.
    pub tried: u32,
}

/// Candidate scales of the pauses not flagged, cheapest first; each costs one simulation.
const SCALES: [(u64, u64); 3] = [(1, 4), (1, 2), (1, 1)];

/// Looks for a cheaper step list reaching the final detection power of `report` (within
/// [`POWER_TOLERANCE`]): the pause in which that power is reached cut to where it is, the pauses
/// after it dropped, the pauses before it scaled by 1/4, then 1/2, then kept. At most
/// [`SCALES`]`.len()` simulations; `None` when no candidate is both cheaper and as powerful (or
/// the plan detects less than [`TOO_SHORT`]: there is nothing to keep).
pub fn propose(
    plan: &PowerPlan,
    setup: &JudgeSetup,
    traffic: Traffic,
    experiment: Experiment,
    judge: &dyn PowerJudge,
    report: &PowerReport,
) -> Result<Option<Proposal>, PowerError> {
    let last = plan.steps.len().saturating_sub(1);
    let original_power = report.power(last, None);
    if original_power < TOO_SHORT {
        return Ok(None);
    }
    // Pauses cut to where the final power (less half the tolerance) is reached, or dropped after.
    let goal = original_power - POWER_TOLERANCE / 2.0;
    let needed = |i: usize| {
        if i > 0 && report.power(i - 1, None) >= goal {
            Some(0)
        } else {
            report.reaches_at(i, goal).map(round_up)
        }
    };
    let mut tried = 0;
    for (num, den) in SCALES {
        let steps: Vec<Option<PowerStep>> = plan
            .steps
            .iter()
            .enumerate()
            .map(|(i, s)| match (s.kind, needed(i)) {
                (StepKind::Pause(_), Some(0)) => None,
                (StepKind::Pause(_), Some(n)) => Some(PowerStep {
                    kind: StepKind::Pause(n),
                    ..*s
                }),
                (StepKind::Pause(d), None) => Some(PowerStep {
                    kind: StepKind::Pause(round_up(d * num / den).min(d).max(GRANULE_S.min(d))),
                    ..*s
                }),
                _ => Some(*s),
            })
            .collect();
        let saved_s: u64 = plan
            .steps
            .iter()
            .zip(&steps)
            .map(|(old, new)| pause_s(Some(old)).saturating_sub(pause_s(new.as_ref())))
            .sum();
        if saved_s == 0 {
            continue;
        }
        let candidate = PowerPlan {
            steps: steps.iter().flatten().copied().collect(),
            background_from: plan
                .background_from
                .map(|b| steps.iter().take(b).flatten().count()),
        };
        tried += 1;
        let r = power(&candidate, setup, traffic, experiment, judge)?;
        let p = r.power(candidate.steps.len().saturating_sub(1), None);
        if p + POWER_TOLERANCE >= original_power {
            return Ok(Some(Proposal {
                steps,
                plan: candidate,
                report: r,
                original_power,
                power: p,
                saved_s,
                tried,
            }));
        }
    }
    Ok(None)
}

fn pause_s(s: Option<&PowerStep>) -> u64 {
    match s.map(|s| s.kind) {
        Some(StepKind::Pause(d)) => d,
        _ => 0,
    }
}
