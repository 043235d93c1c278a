//! Detection power of a canary step plan: the probability that a judge detects a regression (the
//! canary's error rate `regression`× stable's) by the end of each step, and its false-alarm
//! probability at 1×, by Monte-Carlo simulation with the judge itself ([`PowerJudge`]).
//!
//! Traffic is drawn per arm in pieces of constant share (at most a minute; Poisson requests at the
//! arm's traffic share, binomial errors; with `overdispersion` each arm's error rate is multiplied
//! per minute by a mean-1 gamma factor: gamma-Poisson streams as production has). The judge sees what the `judge` provider
//! hands it: per-window (the range query's step, 1m by default) request/error counts of both arms
//! since its run started, the weight timeline and its own state, at its metric's `initialDelay`,
//! `interval` and `count`; `failureLimit`, `inconclusiveLimit` and `consecutiveSuccessLimit`
//! end the run as an AnalysisRun does. Inline analysis steps start a fresh run and last until it
//! ends; a background run spans the steps from where it starts. Seeded and reproducible; the work
//! is bounded ([`MAX_RUNS`], [`MAX_PLAN_SECONDS`], [`MAX_EVALUATIONS`]).

use judge_types::{JudgeInput, JudgeVerdict};

mod engine;
mod propose;
use engine::Rollout;
pub use propose::{Flag, GRANULE_S, POWER_TOLERANCE, Proposal, TOO_SHORT, WELL_BEFORE, flags, propose};

/// Most Monte-Carlo runs per simulation.
pub const MAX_RUNS: u32 = 10_000;
/// Longest simulated plan (one run), in seconds: a day.
pub const MAX_PLAN_SECONDS: u64 = 86_400;
/// Most judge evaluations one [`power`] call may make (runs × evaluations per run × 2 arms of the
/// experiment: regression and 1×).
pub const MAX_EVALUATIONS: u64 = 2_000_000;
/// Time of the simulation's t = 0 in the judge's input (milliseconds since the epoch).
pub(crate) const EPOCH_MS: i64 = 1_700_000_000_000;

/// A judge the simulation asks: the shipped WASM judge in the CLI, a native function in tests.
pub trait PowerJudge {
    /// One evaluation; the verdict's `state` is handed back in the next input.
    fn evaluate(&self, input: &JudgeInput) -> Result<JudgeVerdict, String>;
}

/// Why a power simulation could not run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum PowerError {
    /// An input out of range (`field` names it).
    #[error("{field}: {message}")]
    Invalid {
        /// The option or spec field.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// The simulation would exceed its work bounds.
    #[error("too much work: {0}")]
    TooMuchWork(String),
    /// The judge could not run or answered Error (its config or the input is invalid).
    #[error("the judge answered an error: {0}")]
    Judge(String),
}

/// How a judge metric is measured (from its AnalysisTemplate metric), in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Cadence {
    /// Delay before the first evaluation, from the run's start.
    pub initial_delay_s: u64,
    /// Between evaluations.
    pub interval_s: u64,
    /// Evaluations before the run ends on its own (`None`: none).
    pub count: Option<u32>,
    /// Failed verdicts tolerated (`failureLimit`, `-1`: never fails).
    pub failure_limit: i32,
    /// Inconclusive verdicts tolerated.
    pub inconclusive_limit: u32,
    /// Consecutive Successful verdicts that complete the run (0: off).
    pub consecutive_success_limit: u32,
    /// The length of one window of counts (the range query's step).
    pub window_s: u64,
}

impl Cadence {
    /// The longest a run lasts: until its `count`-th evaluation (`None` without a count).
    pub fn max_seconds(&self) -> Option<u64> {
        self.count
            .map(|c| self.initial_delay_s + self.interval_s * u64::from(c.saturating_sub(1)))
    }
}

/// The judge metric: what the judge receives besides the counts.
#[derive(Debug, Clone, PartialEq)]
pub struct JudgeSetup {
    /// The metric name.
    pub metric: String,
    /// The judge's config (JSON text, as the provider hands it).
    pub config: String,
    /// The canary series name.
    pub canary: String,
    /// The stable series name.
    pub stable: String,
    /// When the judge is asked, and how its verdicts end a run.
    pub cadence: Cadence,
}

/// What one step does, as far as time and the judge are concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepKind {
    /// Takes no time (`setWeight`, `setCanaryScale`, ...).
    Instant,
    /// A timed pause, seconds.
    Pause(u64),
    /// A pause until someone promotes: simulated as taking no time.
    ManualPause,
    /// An inline analysis with the plan's judge: a fresh run; the step lasts until it ends.
    Analysis,
}

/// One step of the plan.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PowerStep {
    /// The canary's share of the traffic from this step on, in `[0, 1]`.
    pub share: f64,
    /// What the step does.
    pub kind: StepKind,
}

/// The steps and where a background run (if any) starts.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerPlan {
    /// The steps in order.
    pub steps: Vec<PowerStep>,
    /// Index of the step at which a background run starts (`None`: no background analysis).
    pub background_from: Option<usize>,
}

impl PowerPlan {
    /// The planned (longest) duration of step `i` in seconds (analysis: until its `count`).
    pub fn duration_s(&self, i: usize, cadence: &Cadence) -> u64 {
        match self.steps.get(i).map(|s| s.kind) {
            Some(StepKind::Pause(d)) => d,
            Some(StepKind::Analysis) => cadence.max_seconds().unwrap_or(MAX_PLAN_SECONDS),
            _ => 0,
        }
    }
}

/// The traffic estimate.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Traffic {
    /// Requests per second (both arms together).
    pub rps: f64,
    /// Stable's error rate, in `[0, 1)`.
    pub error_rate: f64,
    /// Coefficient of variation of each arm's per-minute error-rate factor (0: binomial only).
    pub overdispersion: f64,
}

/// The experiment.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Experiment {
    /// Canary error rate ÷ stable's (e.g. 2.0).
    pub regression: f64,
    /// Monte-Carlo runs (each at the regression and at 1×, on the same seeds).
    pub runs: u32,
    /// Seed of the first run.
    pub seed: u64,
}

/// When one simulated rollout was stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunEnd {
    /// Promoted: no detection.
    Promoted,
    /// The judge failed the analysis in step `step`, `offset_s` seconds into it.
    Detected {
        /// Step index.
        step: usize,
        /// Seconds since the step started.
        offset_s: u64,
    },
    /// An analysis ended Inconclusive in step `step`: the rollout pauses for a person.
    Held {
        /// Step index.
        step: usize,
    },
}

/// How each run ended, at the regression and at 1×.
#[derive(Debug, Clone, PartialEq)]
pub struct PowerReport {
    /// Run ends with the regression.
    pub regressed: Vec<RunEnd>,
    /// Run ends without (1×), on the same seeds.
    pub null: Vec<RunEnd>,
    /// Judge evaluations made.
    pub evaluations: u64,
}

impl PowerReport {
    /// Fraction of regressed runs detected by the end of step `i` (`offset_s`: by that many
    /// seconds into it instead).
    pub fn power(&self, i: usize, offset_s: Option<u64>) -> f64 {
        fraction_detected(&self.regressed, i, offset_s)
    }

    /// Fraction of 1× runs failed by the end of step `i`: the false-alarm probability.
    pub fn false_alarm(&self, i: usize) -> f64 {
        fraction_detected(&self.null, i, None)
    }

    /// Fraction of regressed runs held (Inconclusive) at step `i`.
    pub fn held(&self, i: usize) -> f64 {
        let n = self
            .regressed
            .iter()
            .filter(|e| matches!(e, RunEnd::Held { step } if *step == i))
            .count();
        ratio(n, self.regressed.len())
    }

    /// The first offset into step `i` (seconds) at which the power reaches `target`, if it does
    /// within the step and had not before it.
    pub fn reaches_at(&self, i: usize, target: f64) -> Option<u64> {
        if i > 0 && self.power(i - 1, None) >= target {
            return None;
        }
        let mut offsets: Vec<u64> = self
            .regressed
            .iter()
            .filter_map(|e| match e {
                RunEnd::Detected { step, offset_s } if *step == i => Some(*offset_s),
                _ => None,
            })
            .collect();
        offsets.sort_unstable();
        offsets.into_iter().find(|o| self.power(i, Some(*o)) >= target)
    }
}

fn ratio(n: usize, of: usize) -> f64 {
    if of == 0 { 0.0 } else { n as f64 / of as f64 }
}

fn fraction_detected(ends: &[RunEnd], i: usize, offset_s: Option<u64>) -> f64 {
    let n = ends
        .iter()
        .filter(|e| match e {
            RunEnd::Detected { step, offset_s: o } => {
                *step < i || (*step == i && offset_s.is_none_or(|limit| *o <= limit))
            }
            _ => false,
        })
        .count();
    ratio(n, ends.len())
}

/// Simulates `plan` `experiment.runs` times at the regression and at 1× with `judge`.
pub fn power(
    plan: &PowerPlan,
    setup: &JudgeSetup,
    traffic: Traffic,
    experiment: Experiment,
    judge: &dyn PowerJudge,
) -> Result<PowerReport, PowerError> {
    check(plan, setup, traffic, experiment)?;
    let mut report = PowerReport {
        regressed: Vec::new(),
        null: Vec::new(),
        evaluations: 0,
    };
    for run in 0..u64::from(experiment.runs) {
        let seed = experiment
            .seed
            .wrapping_add(run.wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let mut sim = Rollout::new(setup, traffic, experiment.regression, seed, judge);
        report.regressed.push(sim.run(plan)?);
        report.evaluations += sim.evaluations;
        if experiment.regression == 1.0 {
            // The same seed and the same rates: the same run.
            report
                .null
                .push(report.regressed.last().copied().unwrap_or(RunEnd::Promoted));
            continue;
        }
        let mut sim = Rollout::new(setup, traffic, 1.0, seed, judge);
        report.null.push(sim.run(plan)?);
        report.evaluations += sim.evaluations;
    }
    Ok(report)
}

fn invalid(field: &str, message: impl Into<String>) -> PowerError {
    PowerError::Invalid {
        field: field.to_string(),
        message: message.into(),
    }
}

/// Validates the inputs and bounds the work before anything runs.
fn check(plan: &PowerPlan, setup: &JudgeSetup, t: Traffic, e: Experiment) -> Result<(), PowerError> {
    let c = &setup.cadence;
    if !(t.rps.is_finite() && t.rps > 0.0 && t.rps <= 1e7) {
        return Err(invalid("rps", format!("must be in (0, 1e7], got {}", t.rps)));
    }
    if !(t.error_rate.is_finite() && (0.0..1.0).contains(&t.error_rate)) {
        return Err(invalid(
            "error-rate",
            format!("must be in [0, 1), got {}", t.error_rate),
        ));
    }
    if !(t.overdispersion.is_finite() && (0.0..=10.0).contains(&t.overdispersion)) {
        return Err(invalid(
            "overdispersion",
            format!("must be in [0, 10], got {}", t.overdispersion),
        ));
    }
    if !(e.regression.is_finite() && e.regression >= 1.0 && e.regression <= 1e3) {
        return Err(invalid(
            "regression",
            format!("must be in [1, 1000], got {}", e.regression),
        ));
    }
    if e.runs == 0 || e.runs > MAX_RUNS {
        return Err(invalid(
            "runs",
            format!("must be in [1, {MAX_RUNS}], got {}", e.runs),
        ));
    }
    if c.interval_s == 0 || c.window_s == 0 {
        return Err(invalid(
            "interval",
            "the metric's interval and window must be at least 1s",
        ));
    }
    for (i, s) in plan.steps.iter().enumerate() {
        if !(s.share.is_finite() && (0.0..=1.0).contains(&s.share)) {
            return Err(invalid(
                &format!("steps[{i}]"),
                format!("traffic share {} is outside [0, 1]", s.share),
            ));
        }
        if s.kind == StepKind::Analysis && c.count.is_none() {
            return Err(invalid(
                &format!("steps[{i}].analysis"),
                "the metric has no count: the step's length is unbounded, a plan needs one",
            ));
        }
    }
    let seconds: u64 = (0..plan.steps.len()).map(|i| plan.duration_s(i, c)).sum();
    if seconds > MAX_PLAN_SECONDS {
        return Err(PowerError::TooMuchWork(format!(
            "the plan lasts up to {seconds}s; at most {MAX_PLAN_SECONDS}s are simulated"
        )));
    }
    let runs_of_judge = u64::from(plan.background_from.is_some())
        + plan.steps.iter().filter(|s| s.kind == StepKind::Analysis).count() as u64;
    let per_run = runs_of_judge * (seconds / c.interval_s + 1);
    let total = per_run * u64::from(e.runs) * 2;
    if total > MAX_EVALUATIONS {
        return Err(PowerError::TooMuchWork(format!(
            "up to {total} judge evaluations ({} runs × 2 × {per_run}); the cap is {MAX_EVALUATIONS}: use fewer --runs",
            e.runs
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests;
