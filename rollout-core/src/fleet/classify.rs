//! Failure classification, fleet health and wave gating.
//!
//! Each failed environment is attributed ([`attribute`]): an **environment issue** when the
//! judge found the stable version unhealthy, the stable version was unhealthy before the
//! rollout, or the environment failed earlier releases too; **transient** when a retry of the same
//! release succeeded or the metric source was unreachable; otherwise it counts against the
//! release in the sequential test ([`super::sprt`]). Once the test rejects, every counted failure
//! is a **release issue** and the remaining waves are halted ([`decide`]); before that they are
//! suspects. The class is a fleet-level verdict: about `baseline × trials` of the counted failures
//! are the fleet's usual noise, which no single outcome tells apart. Environment issues and
//! transient failures never halt a release.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::outcome::{EnvironmentOutcome, OutcomeKind};
use super::plan::{ClassificationPolicy, ReleasePlan};
use super::sprt::{SequentialEvidence, sprt};

/// Why a failure is the environment's own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EnvironmentReason {
    /// The judge answered `environment-unhealthy`: the stable version violates its SLO.
    UnhealthyVerdict,
    /// The stable version was unhealthy before the rollout started.
    StableUnhealthyBefore,
    /// The environment failed earlier releases too.
    FailsOtherReleases,
}

/// Why a failure is transient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum TransientReason {
    /// A retry of the same release in the environment succeeded.
    RetrySucceeded,
    /// The analysis' metric source was unreachable.
    ProviderUnreachable,
}

/// The class of one failed environment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "class", content = "reason", rename_all = "kebab-case")]
pub enum FailureClass {
    /// Counted against the release, and the release fails significantly more often than the
    /// fleet's baseline.
    ReleaseIssue,
    /// Counted against the release; the test has not (yet) shown a release issue.
    Suspect,
    /// The environment's own problem.
    EnvironmentIssue(EnvironmentReason),
    /// A transient problem.
    Transient(TransientReason),
}

impl FailureClass {
    /// The kebab-case name of the class (without its reason).
    pub fn as_str(self) -> &'static str {
        match self {
            FailureClass::ReleaseIssue => "release-issue",
            FailureClass::Suspect => "suspect",
            FailureClass::EnvironmentIssue(_) => "environment-issue",
            FailureClass::Transient(_) => "transient",
        }
    }
}

/// Attributes a failure before the fleet-wide test: `Some(EnvironmentIssue | Transient)` when the
/// environment or a transient cause explains it, `Some(Suspect)` when it counts against the
/// release, `None` when the outcome is no failure.
pub fn attribute(policy: &ClassificationPolicy, o: &EnvironmentOutcome) -> Option<FailureClass> {
    if !o.kind.is_failure() {
        return None;
    }
    let class = if o.kind == OutcomeKind::EnvironmentUnhealthy {
        FailureClass::EnvironmentIssue(EnvironmentReason::UnhealthyVerdict)
    } else if o.stable_unhealthy_before {
        FailureClass::EnvironmentIssue(EnvironmentReason::StableUnhealthyBefore)
    } else if o.retry_succeeded {
        FailureClass::Transient(TransientReason::RetrySucceeded)
    } else if o.kind == OutcomeKind::ProviderUnreachable {
        FailureClass::Transient(TransientReason::ProviderUnreachable)
    } else if o.history.failures >= policy.environment_issue_after {
        FailureClass::EnvironmentIssue(EnvironmentReason::FailsOtherReleases)
    } else {
        FailureClass::Suspect
    };
    Some(class)
}

/// Counts of a set of environment outcomes.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HealthCounts {
    /// Environments.
    pub environments: u64,
    /// Per outcome kind.
    pub by_kind: BTreeMap<OutcomeKind, u64>,
    /// Promoted.
    pub promoted: u64,
    /// Failures counted against the release (suspects or release issues).
    pub counted: u64,
    /// Failures that are the environment's own.
    pub environment_issues: u64,
    /// Transient failures.
    pub transient: u64,
    /// Paused on an inconclusive analysis (e.g. too little traffic): not failed.
    pub inconclusive: u64,
    /// Stopped by a person or still in progress: no outcome yet.
    pub pending: u64,
}

impl HealthCounts {
    /// Adds one outcome with its attribution ([`attribute`]).
    pub fn add(&mut self, kind: OutcomeKind, class: Option<FailureClass>) {
        self.environments += 1;
        *self.by_kind.entry(kind).or_default() += 1;
        match class {
            Some(FailureClass::ReleaseIssue | FailureClass::Suspect) => self.counted += 1,
            Some(FailureClass::EnvironmentIssue(_)) => self.environment_issues += 1,
            Some(FailureClass::Transient(_)) => self.transient += 1,
            None if kind == OutcomeKind::Promoted => self.promoted += 1,
            None if kind == OutcomeKind::Inconclusive => self.inconclusive += 1,
            None => self.pending += 1,
        }
    }

    /// The test's trials: environments whose outcome is neither explained by the environment or a
    /// transient cause nor pending — promoted, inconclusive (paused, not failed) or counted
    /// failures. Inconclusive environments are trials so that the baseline reads simply as "the
    /// share of environments in which a good release fails": whether an environment ends
    /// inconclusive (its traffic) does not change the chance that it fails for its own reasons.
    pub fn trials(&self) -> u64 {
        self.promoted + self.inconclusive + self.counted
    }

    /// Environments without a verdict for or against the release: inconclusive or pending.
    pub fn undecided(&self) -> u64 {
        self.inconclusive + self.pending
    }
}

/// The fleet's health for this release: every outcome so far, classified, and the test.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetHealth {
    /// Counts over every outcome.
    pub counts: HealthCounts,
    /// The release-issue test over the trials ([`HealthCounts::trials`]).
    pub evidence: SequentialEvidence,
    /// The class of each outcome, in input order (`None`: promoted or undecided).
    pub classes: Vec<Option<FailureClass>>,
}

impl FleetHealth {
    /// The release issue was shown.
    pub fn release_issue(&self) -> bool {
        self.evidence.rejected
    }
}

/// Aggregates the outcomes so far: counts, the sequential test and each failure's class.
pub fn assess(plan: &ReleasePlan, outcomes: &[EnvironmentOutcome]) -> FleetHealth {
    let mut counts = HealthCounts::default();
    let mut classes: Vec<Option<FailureClass>> = outcomes
        .iter()
        .map(|o| {
            let class = attribute(&plan.classification, o);
            counts.add(o.kind, class);
            class
        })
        .collect();
    let evidence = sprt(&plan.test, counts.trials(), counts.counted);
    if evidence.rejected {
        for c in classes.iter_mut().flatten() {
            if *c == FailureClass::Suspect {
                *c = FailureClass::ReleaseIssue;
            }
        }
    }
    FleetHealth {
        counts,
        evidence,
        classes,
    }
}

/// Why the remaining waves were halted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum HaltReason {
    /// The release fails in significantly more environments than the fleet's baseline.
    #[serde(rename_all = "camelCase")]
    ReleaseIssue {
        /// The wave after which the test rejected.
        wave: String,
        /// The test's evidence.
        evidence: SequentialEvidence,
    },
}

/// Why the plan holds for a person before the next wave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reason", rename_all = "kebab-case")]
pub enum HoldReason {
    /// More of the wave's environments are undecided than its gate allows.
    #[serde(rename_all = "camelCase")]
    TooManyUndecided {
        /// The wave.
        wave: String,
        /// Its undecided environments.
        undecided: u64,
        /// Its environments.
        environments: u64,
        /// The gate's `maxInconclusivePercent`.
        max_percent: f64,
    },
    /// The wave's gate asks for a person's approval.
    #[serde(rename_all = "camelCase")]
    Approval {
        /// The wave.
        wave: String,
    },
}

/// What the plan does after a wave.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "decision", rename_all = "kebab-case")]
pub enum Decision {
    /// Start the next wave.
    #[serde(rename_all = "camelCase")]
    Proceed {
        /// Its index in the plan.
        next_wave: usize,
        /// Its name.
        next: String,
    },
    /// Every wave is done.
    Complete,
    /// Stop: the remaining waves do not start.
    Halt(HaltReason),
    /// Wait for a person before the next wave.
    #[serde(rename_all = "camelCase")]
    Hold {
        /// Why.
        hold: HoldReason,
        /// The wave that starts once a person approves (index in the plan).
        next_wave: usize,
        /// Its name.
        next: String,
    },
}

fn pct(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        #[allow(clippy::cast_precision_loss)]
        let r = part as f64 / whole as f64;
        100.0 * r
    }
}

/// The decision after wave `wave` (index into the plan) finished: halt on a release issue (the
/// fleet-wide test, over every outcome so far); complete after the last wave; hold when the
/// wave's gate is not met (`wave_counts`: the wave's own outcomes); otherwise proceed.
pub fn decide(plan: &ReleasePlan, wave: usize, fleet: &FleetHealth, wave_counts: &HealthCounts) -> Decision {
    let name = plan.waves.get(wave).map(|w| w.name.clone()).unwrap_or_default();
    if fleet.release_issue() {
        return Decision::Halt(HaltReason::ReleaseIssue {
            wave: name,
            evidence: fleet.evidence.clone(),
        });
    }
    let next_wave = wave + 1;
    let Some(next) = plan.waves.get(next_wave).map(|w| w.name.clone()) else {
        return Decision::Complete;
    };
    let gate = plan.waves.get(wave).map(|w| &w.gate);
    if let Some(max) = gate.and_then(|g| g.max_inconclusive_percent)
        && pct(wave_counts.undecided(), wave_counts.environments) > max
    {
        return Decision::Hold {
            hold: HoldReason::TooManyUndecided {
                wave: name,
                undecided: wave_counts.undecided(),
                environments: wave_counts.environments,
                max_percent: max,
            },
            next_wave,
            next,
        };
    }
    if gate.is_some_and(|g| g.approval) {
        return Decision::Hold {
            hold: HoldReason::Approval { wave: name },
            next_wave,
            next,
        };
    }
    Decision::Proceed { next_wave, next }
}

impl Decision {
    /// The decision as one sentence, rendered from its data.
    pub fn message(&self) -> String {
        match self {
            Decision::Proceed { next, .. } => format!("proceed to wave {next}"),
            Decision::Complete => "complete: every wave released".to_string(),
            Decision::Halt(HaltReason::ReleaseIssue { wave, evidence: e }) => format!(
                "halted after wave {wave}: release issue: {} of {} environments failed ({:.2}%) \
                 against a baseline of {:.2}%; {} log-likelihood ratio {:.2} ≥ {:.2} (false-alarm rate {}%)",
                e.failures,
                e.n,
                100.0 * e.failure_rate(),
                100.0 * e.baseline,
                e.test,
                e.statistic,
                e.threshold,
                100.0 * e.false_alarm_rate
            ),
            Decision::Hold { hold, next, .. } => match hold {
                HoldReason::TooManyUndecided {
                    wave,
                    undecided,
                    environments,
                    max_percent,
                } => format!(
                    "hold after wave {wave}: {undecided} of {environments} environments undecided ({:.1}% > {max_percent}%); \
                     wave {next} waits for a person",
                    pct(*undecided, *environments)
                ),
                HoldReason::Approval { wave } => {
                    format!("hold after wave {wave}: wave {next} waits for a person's approval")
                }
            },
        }
    }

    /// Whether the remaining waves are halted.
    pub fn is_halt(&self) -> bool {
        matches!(self, Decision::Halt(_))
    }
}
