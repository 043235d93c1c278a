//! Fleet releases without a cluster: a seeded fleet of simulated environments (17,000 by default)
//! released in the plan's waves with the core's classification and gating
//! (`rollout_core::fleet`), to a [`FleetReport`]: the waves, per-wave counts, the classes, the
//! decision with its evidence, and how many environments got the release before a halt.
//!
//! - [`spec`]: the YAML input ([`FleetSpec`]) with field-path validation.
//! - [`model`]: one environment's traits and rollout (traffic-dependent detection, bursty errors).
//! - [`report`]: the HTML report.
//!
//! Holds (a gate asking for a person) are recorded and then approved, as a person would, so the
//! simulation shows the whole plan; a halt ends it.

pub mod model;
pub mod report;
pub mod spec;

use std::collections::BTreeMap;

use rollout_core::fleet::{
    Decision, EnvironmentOutcome, FailureClass, FleetHealth, HealthCounts, OutcomeKind, SequentialEvidence,
    assess, assign_waves, decide,
};
use serde::Serialize;

pub use spec::{FleetError, FleetSpec};

/// The seed when neither the spec nor the caller gives one.
pub const DEFAULT_SEED: u64 = 1;
/// Failed environments listed in the report (the first ones of each class).
pub const EXAMPLES_PER_CLASS: usize = 5;

/// One wave of a fleet simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct WaveReport {
    /// Wave name.
    pub name: String,
    /// Its environments.
    pub environments: u64,
    /// Environments with the release after this wave.
    pub cumulative: u64,
    /// The wave's outcomes.
    pub counts: HealthCounts,
    /// Failures counted against the release, by the class they have after this wave.
    pub release_issues: u64,
    /// The release-issue test over every outcome so far.
    pub evidence: SequentialEvidence,
    /// What the plan did next.
    pub decision: Decision,
}

/// A failed environment, for people.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FailureExample {
    /// Environment.
    pub environment: String,
    /// Its wave.
    pub wave: String,
    /// How it ended.
    pub kind: OutcomeKind,
    /// Its class.
    pub class: FailureClass,
    /// The cause, rendered from its typed `Why`.
    pub message: String,
}

/// The result of a fleet simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetReport {
    /// The spec's name.
    pub name: String,
    /// The version released.
    pub release: String,
    /// The seed used.
    pub seed: u64,
    /// Environments in the fleet.
    pub environments: u64,
    /// Environments in which the release regresses (0 for a good release).
    pub affected: u64,
    /// Environments no wave covers.
    pub uncovered: u64,
    /// The waves that ran, in order.
    pub waves: Vec<WaveReport>,
    /// The final decision.
    pub decision: Decision,
    /// Environments that got the release (every environment of every wave that ran).
    pub exposed: u64,
    /// Affected environments among them.
    pub exposed_affected: u64,
    /// Health over every outcome (counts and the test; per-outcome classes omitted).
    pub counts: HealthCounts,
    /// The release-issue test at the end.
    pub evidence: SequentialEvidence,
    /// Failures per class name.
    pub classes: BTreeMap<String, u64>,
    /// A few failed environments of each class with their cause.
    pub examples: Vec<FailureExample>,
}

impl FleetReport {
    /// Whether the release was halted.
    pub fn halted(&self) -> bool {
        self.decision.is_halt()
    }
}

/// Runs the plan over a simulated fleet. `seed` overrides the spec's.
pub fn simulate_fleet(spec: &FleetSpec, seed: Option<u64>) -> Result<FleetReport, FleetError> {
    spec.validate()?;
    let seed = seed.or(spec.seed).unwrap_or(DEFAULT_SEED);
    let plan = &spec.plan;
    let envs = model::environments(spec, seed);
    let rings: Vec<Option<&str>> = envs.iter().map(|e| e.ring.as_deref()).collect();
    let assignment = assign_waves(plan, &rings);
    let mut outcomes: Vec<EnvironmentOutcome> = Vec::with_capacity(envs.len());
    let mut wave_of: Vec<usize> = Vec::with_capacity(envs.len());
    let mut affected_of: Vec<bool> = Vec::with_capacity(envs.len());
    let mut waves = Vec::new();
    let mut decision = Decision::Complete;
    let mut health: Option<FleetHealth> = None;
    for (w, members) in assignment.waves.iter().enumerate() {
        let start = outcomes.len();
        for &i in members {
            if let Some(env) = envs.get(i) {
                outcomes.push(model::roll_out(spec, seed, i as u64, env));
                wave_of.push(w);
                affected_of.push(env.affected);
            }
        }
        let fleet = assess(plan, &outcomes);
        let mut counts = HealthCounts::default();
        let mut release_issues = 0;
        for (o, class) in outcomes.iter().zip(&fleet.classes).skip(start) {
            counts.add(o.kind, *class);
            release_issues += u64::from(*class == Some(FailureClass::ReleaseIssue));
        }
        decision = decide(plan, w, &fleet, &counts);
        waves.push(WaveReport {
            name: plan.waves.get(w).map(|x| x.name.clone()).unwrap_or_default(),
            environments: counts.environments,
            cumulative: outcomes.len() as u64,
            counts,
            release_issues,
            evidence: fleet.evidence.clone(),
            decision: decision.clone(),
        });
        health = Some(fleet);
        if decision.is_halt() {
            break;
        }
    }
    let health = health.unwrap_or_else(|| assess(plan, &outcomes));
    let mut classes: BTreeMap<String, u64> = BTreeMap::new();
    let mut examples = Vec::new();
    for (i, (o, class)) in outcomes.iter().zip(&health.classes).enumerate() {
        let Some(class) = class else { continue };
        let n = classes.entry(class.as_str().to_string()).or_default();
        *n += 1;
        if *n <= EXAMPLES_PER_CLASS as u64 {
            examples.push(FailureExample {
                environment: o.environment.clone(),
                wave: wave_of
                    .get(i)
                    .and_then(|w| plan.waves.get(*w))
                    .map(|w| w.name.clone())
                    .unwrap_or_default(),
                kind: o.kind,
                class: *class,
                message: o.message(),
            });
        }
    }
    Ok(FleetReport {
        name: spec.name.clone(),
        release: plan.release.clone(),
        seed,
        environments: envs.len() as u64,
        affected: envs.iter().filter(|e| e.affected).count() as u64,
        uncovered: assignment.uncovered.len() as u64,
        waves,
        decision,
        exposed: outcomes.len() as u64,
        exposed_affected: affected_of.iter().filter(|a| **a).count() as u64,
        counts: health.counts,
        evidence: health.evidence,
        classes,
        examples,
    })
}

/// The report as text: one line per wave, then the decision and the exposure.
pub fn render_text(r: &FleetReport) -> String {
    let mut out = String::new();
    let e = &r.evidence;
    out.push_str(&format!(
        "fleet: {} — release {} to {} environments (seed {}; {} with a regression)\n",
        if r.name.is_empty() { "simulation" } else { &r.name },
        r.release,
        r.environments,
        r.seed,
        r.affected
    ));
    out.push_str(&format!(
        "test: {} baseline {:.2}%, alternative {:.2}%, false-alarm rate {}% (halt when Λ ≥ {:.2})\n",
        e.test,
        100.0 * e.baseline,
        100.0 * e.alternative,
        100.0 * e.false_alarm_rate,
        e.threshold
    ));
    out.push_str(&format!(
        "{:<16} {:>6} {:>6} {:>8} {:>7} {:>8} {:>8} {:>9} {:>9} {:>11} {:>6}  next\n",
        "wave",
        "envs",
        "total",
        "promoted",
        "counted",
        "env-iss",
        "transnt",
        "undecided",
        "Λ",
        "f/n",
        "halt@"
    ));
    for w in &r.waves {
        let c = &w.counts;
        let halt_at = if w.evidence.failures_to_halt > w.evidence.n {
            "-".to_string()
        } else {
            w.evidence.failures_to_halt.to_string()
        };
        out.push_str(&format!(
            "{:<16} {:>6} {:>6} {:>8} {:>7} {:>8} {:>8} {:>9} {:>9.2} {:>11} {:>6}  {}\n",
            w.name,
            w.environments,
            w.cumulative,
            c.promoted,
            c.counted,
            c.environment_issues,
            c.transient,
            c.undecided(),
            w.evidence.statistic,
            format!("{}/{}", w.evidence.failures, w.evidence.n),
            halt_at,
            wave_decision(&w.decision)
        ));
    }
    let classes: Vec<String> = r
        .classes
        .iter()
        .map(|(k, v)| {
            if k == "release-issue" || k == "suspect" {
                // Some counted failures are the fleet's usual noise.
                format!(
                    "{k} {v} (about {:.0} expected at the baseline rate)",
                    e.baseline * e.n as f64
                )
            } else {
                format!("{k} {v}")
            }
        })
        .collect();
    out.push_str(&format!(
        "classes: {}\n",
        if classes.is_empty() {
            "no failures".to_string()
        } else {
            classes.join(", ")
        }
    ));
    for x in &r.examples {
        out.push_str(&format!(
            "  {} ({}) {}: {}\n",
            x.environment,
            x.wave,
            class_label(x.class),
            x.message
        ));
    }
    out.push_str(&format!("decision: {}\n", r.decision.message()));
    out.push_str(&format!(
        "exposed: {} of {} environments ({} with the regression){}\n",
        r.exposed,
        r.environments,
        r.exposed_affected,
        if r.uncovered > 0 {
            format!("; {} in no wave", r.uncovered)
        } else {
            String::new()
        }
    ));
    out
}

/// A wave's decision as one sentence; holds say that the simulation approved them.
pub fn wave_decision(d: &Decision) -> String {
    match d {
        Decision::Hold { .. } => format!("{} (approved in the simulation)", d.message()),
        _ => d.message(),
    }
}

/// A class with its reason, `environment-issue (fails-other-releases)`.
pub fn class_label(c: FailureClass) -> String {
    let reason = serde_json::to_value(c)
        .ok()
        .and_then(|v| v.get("reason").and_then(|r| r.as_str().map(str::to_string)));
    match reason {
        Some(r) => format!("{} ({r})", c.as_str()),
        None => c.as_str().to_string(),
    }
}
