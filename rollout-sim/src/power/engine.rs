//! One simulated rollout: the traffic drawn piece by piece, the analysis runs (inline and
//! background) evaluated by the judge when due and ended as an AnalysisRun ends them.

use judge_types::{JudgeInput, RatioPoint, Series, VerdictPhase, WeightPoint};
use rand::SeedableRng;
use rand_distr::{Binomial, Distribution, Gamma, Poisson};
use rand_pcg::Pcg64;

use super::{
    Cadence, EPOCH_MS, JudgeSetup, MAX_PLAN_SECONDS, PowerError, PowerJudge, PowerPlan, RunEnd, StepKind,
    Traffic,
};

/// One analysis run's progress.
struct Run {
    start_s: u64,
    next_s: u64,
    evaluations: u32,
    failed: u32,
    inconclusive: u32,
    successes_in_row: u32,
    state: Option<Vec<u8>>,
}

/// How a run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    Failed,
    Passed,
    Inconclusive,
}

impl Run {
    fn new(start_s: u64, c: &Cadence) -> Self {
        Run {
            start_s,
            next_s: start_s + c.initial_delay_s,
            evaluations: 0,
            failed: 0,
            inconclusive: 0,
            successes_in_row: 0,
            state: None,
        }
    }

    /// Counts a verdict as an AnalysisRun does; `Some` when the run is over.
    fn count(&mut self, phase: VerdictPhase, c: &Cadence) -> Option<Ended> {
        self.evaluations += 1;
        self.next_s += c.interval_s;
        match phase {
            VerdictPhase::Failed => {
                self.failed += 1;
                self.successes_in_row = 0;
                if c.failure_limit >= 0 && i64::from(self.failed) > i64::from(c.failure_limit) {
                    return Some(Ended::Failed);
                }
            }
            VerdictPhase::Inconclusive => {
                self.inconclusive += 1;
                self.successes_in_row = 0;
                if self.inconclusive > c.inconclusive_limit {
                    return Some(Ended::Inconclusive);
                }
            }
            VerdictPhase::Successful | VerdictPhase::Error => {
                self.successes_in_row += 1;
                if c.consecutive_success_limit > 0 && self.successes_in_row >= c.consecutive_success_limit {
                    return Some(Ended::Passed);
                }
            }
        }
        match c.count {
            Some(n) if self.evaluations >= n => Some(if self.inconclusive > 0 && self.failed == 0 {
                Ended::Inconclusive
            } else {
                Ended::Passed
            }),
            _ => None,
        }
    }
}

/// Cumulative (requests, errors) of both arms at the times drawn so far (t = 0 first): every
/// window boundary of every run, every minute (the overdispersion factor changes), every step.
struct Counts {
    times: Vec<u64>,
    /// Per time: canary requests, canary errors, stable requests, stable errors.
    totals: Vec<[u64; 4]>,
}

impl Counts {
    fn at(&self, t: u64) -> [u64; 4] {
        let i = self.times.partition_point(|x| *x < t);
        match (self.times.get(i), self.totals.get(i)) {
            (Some(x), Some(v)) if *x == t => *v,
            _ => [0; 4],
        }
    }

    /// (errors, requests) of the canary and of stable over `[from, to)`.
    fn window(&self, from: u64, to: u64) -> [(f64, f64); 2] {
        let (a, b) = (self.at(from), self.at(to));
        let d = |k: usize| b[k].saturating_sub(a[k]) as f64;
        [(d(1), d(0)), (d(3), d(2))]
    }

    fn last(&self) -> (u64, [u64; 4]) {
        (
            self.times.last().copied().unwrap_or(0),
            self.totals.last().copied().unwrap_or([0; 4]),
        )
    }
}

/// One simulated rollout.
pub(super) struct Rollout<'a> {
    setup: &'a JudgeSetup,
    traffic: Traffic,
    canary_rate: f64,
    rng: Pcg64,
    judge: &'a dyn PowerJudge,
    share: f64,
    weights: Vec<WeightPoint>,
    counts: Counts,
    /// Start times of the runs so far: their window boundaries are drawn.
    starts: Vec<u64>,
    factors: (f64, f64),
    pub(super) evaluations: u64,
}

/// Why `advance` stopped.
enum Stop {
    /// Reached the time asked for.
    Reached,
    /// A run failed at this time.
    Detected(u64),
    /// The background run ended Inconclusive at this time.
    Held,
    /// The inline run ended (passed or inconclusive) at this time.
    Inline(Ended, u64),
}

impl<'a> Rollout<'a> {
    pub(super) fn new(
        setup: &'a JudgeSetup,
        traffic: Traffic,
        factor: f64,
        seed: u64,
        judge: &'a dyn PowerJudge,
    ) -> Self {
        Rollout {
            setup,
            traffic,
            canary_rate: (traffic.error_rate * factor).min(1.0),
            rng: Pcg64::seed_from_u64(seed),
            judge,
            share: 0.0,
            weights: Vec::new(),
            counts: Counts {
                times: vec![0],
                totals: vec![[0; 4]],
            },
            starts: Vec::new(),
            factors: (1.0, 1.0),
            evaluations: 0,
        }
    }

    pub(super) fn run(&mut self, plan: &PowerPlan) -> Result<RunEnd, PowerError> {
        let c = self.setup.cadence.clone();
        let mut now = 0u64;
        let mut background: Option<Run> = None;
        for (i, step) in plan.steps.iter().enumerate() {
            if step.share != self.share || self.weights.is_empty() {
                self.share = step.share;
                self.weights.push(WeightPoint {
                    time_ms: EPOCH_MS + now as i64 * 1000,
                    canary_weight: (step.share * 100.0).round() as u32,
                });
            }
            if plan.background_from == Some(i) {
                background = Some(Run::new(now, &c));
                self.starts.push(now);
            }
            let (until, mut inline) = match step.kind {
                StepKind::Instant | StepKind::ManualPause => continue,
                StepKind::Pause(d) => (now + d, None),
                StepKind::Analysis => (now + MAX_PLAN_SECONDS, Some(Run::new(now, &c))),
            };
            if inline.is_some() {
                self.starts.push(now);
            }
            match self.advance(now, until, &mut background, inline.as_mut())? {
                Stop::Reached => now = until,
                Stop::Detected(t) => {
                    return Ok(RunEnd::Detected {
                        step: i,
                        offset_s: t - now,
                    });
                }
                Stop::Held | Stop::Inline(Ended::Inconclusive, _) => return Ok(RunEnd::Held { step: i }),
                Stop::Inline(_, t) => now = t,
            }
        }
        Ok(RunEnd::Promoted)
    }

    /// Runs the clock from `now` to `until`, evaluating the runs when they are due.
    fn advance(
        &mut self,
        now: u64,
        until: u64,
        background: &mut Option<Run>,
        mut inline: Option<&mut Run>,
    ) -> Result<Stop, PowerError> {
        let mut t = now;
        loop {
            let due_bg = background.as_ref().map(|r| r.next_s);
            let due_in = inline.as_ref().map(|r| r.next_s);
            let next = due_bg.into_iter().chain(due_in).min().unwrap_or(until).min(until);
            self.traffic_until(next.max(t));
            t = next.max(t);
            if due_bg == Some(t)
                && let Some(run) = background.as_mut()
            {
                match self.evaluate(run, t)? {
                    Some(Ended::Failed) => return Ok(Stop::Detected(t)),
                    Some(Ended::Inconclusive) => return Ok(Stop::Held),
                    Some(Ended::Passed) => *background = None,
                    None => {}
                }
            }
            if due_in == Some(t)
                && let Some(run) = inline.as_deref_mut()
            {
                match self.evaluate(run, t)? {
                    Some(Ended::Failed) => return Ok(Stop::Detected(t)),
                    Some(end) => return Ok(Stop::Inline(end, t)),
                    None => {}
                }
            }
            if t >= until {
                return Ok(Stop::Reached);
            }
        }
    }

    /// Draws the traffic up to `t`, piecewise: each piece (to the next minute, window boundary or
    /// `t`) at a constant share and error rate, Poisson requests and binomial errors per arm.
    fn traffic_until(&mut self, t: u64) {
        let od = self.traffic.overdispersion;
        let gamma = (od > 0.0)
            .then(|| Gamma::new(1.0 / (od * od), od * od).ok())
            .flatten();
        let w = self.setup.cadence.window_s;
        loop {
            let (last, totals) = self.counts.last();
            if last >= t {
                return;
            }
            if last.is_multiple_of(60)
                && let Some(g) = &gamma
            {
                self.factors = (g.sample(&mut self.rng), g.sample(&mut self.rng));
            }
            let boundary = |s: &u64| if last < *s { *s } else { s + (last - s) / w * w + w };
            let next = self
                .starts
                .iter()
                .map(boundary)
                .chain([(last / 60 + 1) * 60, t])
                .min()
                .unwrap_or(t);
            let secs = (next - last) as f64;
            let rps = self.traffic.rps;
            let arms = [
                (rps * self.share * secs, self.canary_rate * self.factors.0),
                (
                    rps * (1.0 - self.share) * secs,
                    self.traffic.error_rate * self.factors.1,
                ),
            ];
            let mut v = totals;
            for (k, (lambda, p)) in arms.into_iter().enumerate() {
                let n = poisson(&mut self.rng, lambda);
                v[2 * k] += n;
                v[2 * k + 1] += binomial(&mut self.rng, n, p.min(1.0));
            }
            self.counts.times.push(next);
            self.counts.totals.push(v);
        }
    }

    /// Asks the judge at `t` with the windows since the run started; counts its verdict.
    fn evaluate(&mut self, run: &mut Run, t: u64) -> Result<Option<Ended>, PowerError> {
        let w = self.setup.cadence.window_s;
        let mut canary = Vec::new();
        let mut stable = Vec::new();
        let mut end = run.start_s + w;
        while end <= t {
            let time_ms = EPOCH_MS + end as i64 * 1000;
            let from = end - w;
            let arms = self.counts.window(from, end);
            for ((numerator, denominator), out) in arms.into_iter().zip([&mut canary, &mut stable]) {
                out.push(RatioPoint {
                    time_ms,
                    numerator,
                    denominator,
                });
            }
            end += w;
        }
        let series = |name: &str, ratios| Series {
            name: name.to_string(),
            ratios,
            ..Series::default()
        };
        let input = JudgeInput {
            metric: self.setup.metric.clone(),
            now_ms: EPOCH_MS + t as i64 * 1000,
            series: vec![
                series(&self.setup.canary, canary),
                series(&self.setup.stable, stable),
            ],
            weights: self.weights.clone(),
            args: Vec::new(),
            config: self.setup.config.clone(),
            state: run.state.take(),
        };
        self.evaluations += 1;
        let verdict = self.judge.evaluate(&input).map_err(PowerError::Judge)?;
        if verdict.phase == VerdictPhase::Error {
            return Err(PowerError::Judge(format!(
                "{} ({})",
                verdict.reason, verdict.code
            )));
        }
        run.state = verdict.state;
        Ok(run.count(verdict.phase, &self.setup.cadence))
    }
}

fn poisson(rng: &mut Pcg64, lambda: f64) -> u64 {
    if !(lambda.is_finite() && lambda > 0.0) {
        return 0;
    }
    match Poisson::new(lambda) {
        Ok(d) => {
            let x: f64 = d.sample(rng);
            x.max(0.0) as u64
        }
        Err(_) => lambda.round() as u64,
    }
}

fn binomial(rng: &mut Pcg64, n: u64, p: f64) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    Binomial::new(n, p).map(|d| d.sample(rng)).unwrap_or(0)
}
