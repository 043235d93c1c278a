//! What one environment's rollout of the release ended as ([`OutcomeKind`]), read from the
//! Rollout's phase and its typed causes (`status.why`), with what the fleet knows about the
//! environment besides ([`EnvironmentOutcome`]).

use serde::{Deserialize, Serialize};

use crate::rollout::{Cause, RolloutPhase, Why};

/// How an environment's rollout of the release ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutcomeKind {
    /// Promoted: the environment runs the release.
    Promoted,
    /// Aborted: an AnalysisRun failed.
    AnalysisFailed,
    /// Aborted: an AnalysisRun errored (not an unreachable provider).
    AnalysisError,
    /// Aborted: the analysis' metric source was unreachable or timed out.
    ProviderUnreachable,
    /// The update made no progress within its deadline (e.g. pods never ready).
    ProgressDeadline,
    /// The spec is invalid.
    InvalidSpec,
    /// The API server refused to create or scale a ReplicaSet.
    ReplicaFailure,
    /// Paused on an inconclusive analysis (e.g. too little traffic to judge).
    Inconclusive,
    /// The judge found the stable version itself unhealthy (`environment-unhealthy`).
    EnvironmentUnhealthy,
    /// Aborted by a person or a coordinator.
    Stopped,
    /// Not finished yet.
    InProgress,
}

impl OutcomeKind {
    /// Every kind, in declaration order.
    pub const ALL: [OutcomeKind; 11] = [
        OutcomeKind::Promoted,
        OutcomeKind::AnalysisFailed,
        OutcomeKind::AnalysisError,
        OutcomeKind::ProviderUnreachable,
        OutcomeKind::ProgressDeadline,
        OutcomeKind::InvalidSpec,
        OutcomeKind::ReplicaFailure,
        OutcomeKind::Inconclusive,
        OutcomeKind::EnvironmentUnhealthy,
        OutcomeKind::Stopped,
        OutcomeKind::InProgress,
    ];

    /// The kebab-case name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            OutcomeKind::Promoted => "promoted",
            OutcomeKind::AnalysisFailed => "analysis-failed",
            OutcomeKind::AnalysisError => "analysis-error",
            OutcomeKind::ProviderUnreachable => "provider-unreachable",
            OutcomeKind::ProgressDeadline => "progress-deadline",
            OutcomeKind::InvalidSpec => "invalid-spec",
            OutcomeKind::ReplicaFailure => "replica-failure",
            OutcomeKind::Inconclusive => "inconclusive",
            OutcomeKind::EnvironmentUnhealthy => "environment-unhealthy",
            OutcomeKind::Stopped => "stopped",
            OutcomeKind::InProgress => "in-progress",
        }
    }

    /// Whether the release failed here (to be classified): neither promoted nor undecided.
    pub fn is_failure(self) -> bool {
        !matches!(
            self,
            OutcomeKind::Promoted
                | OutcomeKind::Inconclusive
                | OutcomeKind::Stopped
                | OutcomeKind::InProgress
        )
    }

    /// Whether the environment has not decided for or against the release: inconclusive,
    /// stopped by a person, or still in progress.
    pub fn is_undecided(self) -> bool {
        matches!(
            self,
            OutcomeKind::Inconclusive | OutcomeKind::Stopped | OutcomeKind::InProgress
        )
    }

    /// The outcome of a Rollout from its phase and `status.why`: an `environment-unhealthy` judge
    /// verdict first, then the first cause by severity (invalid spec, analysis failed, provider
    /// unreachable, analysis error, progress deadline, replica failure, inconclusive, a person's
    /// or coordinator's abort); without a cause, `Healthy` is promoted and any other phase is in
    /// progress.
    pub fn from_status(phase: RolloutPhase, why: &[Why]) -> Self {
        let unhealthy = why.iter().any(|w| {
            w.metric
                .as_ref()
                .and_then(|m| m.judge.as_ref())
                .is_some_and(|j| j.code == judge_types::codes::ENVIRONMENT_UNHEALTHY)
        });
        if unhealthy {
            return OutcomeKind::EnvironmentUnhealthy;
        }
        let order = [
            (Cause::InvalidSpec, OutcomeKind::InvalidSpec),
            (Cause::AnalysisFailed, OutcomeKind::AnalysisFailed),
            (Cause::ProviderUnreachable, OutcomeKind::ProviderUnreachable),
            (Cause::AnalysisError, OutcomeKind::AnalysisError),
            (Cause::ProgressDeadline, OutcomeKind::ProgressDeadline),
            (Cause::ReplicaFailure, OutcomeKind::ReplicaFailure),
            (Cause::AnalysisInconclusive, OutcomeKind::Inconclusive),
            (Cause::UserAbort, OutcomeKind::Stopped),
            (Cause::ForcedAbort, OutcomeKind::Stopped),
        ];
        if let Some((_, kind)) = order.iter().find(|(c, _)| why.iter().any(|w| w.cause == *c)) {
            return *kind;
        }
        if phase == RolloutPhase::Healthy {
            OutcomeKind::Promoted
        } else {
            OutcomeKind::InProgress
        }
    }
}

/// The environment's record with earlier releases.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentHistory {
    /// Earlier releases rolled out to this environment that the history covers.
    pub releases: u32,
    /// How many of them failed here.
    pub failures: u32,
}

/// One environment's outcome for this release, with what the fleet knows about the environment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnvironmentOutcome {
    /// Environment name (cluster/namespace, customer, ...).
    pub environment: String,
    /// How the rollout ended.
    pub kind: OutcomeKind,
    /// The typed causes (the Rollout's `status.why`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<Why>,
    /// The stable version was already unhealthy before the rollout started.
    #[serde(default)]
    pub stable_unhealthy_before: bool,
    /// A retry of the same release in this environment succeeded.
    #[serde(default)]
    pub retry_succeeded: bool,
    /// The environment's record with earlier releases.
    #[serde(default)]
    pub history: EnvironmentHistory,
}

impl EnvironmentOutcome {
    /// The outcome of a Rollout in `environment` from its phase and `status.why`, with no further
    /// knowledge of the environment.
    pub fn from_status(environment: impl Into<String>, phase: RolloutPhase, why: Vec<Why>) -> Self {
        EnvironmentOutcome {
            environment: environment.into(),
            kind: OutcomeKind::from_status(phase, &why),
            why,
            stable_unhealthy_before: false,
            retry_succeeded: false,
            history: EnvironmentHistory::default(),
        }
    }

    /// One sentence for people: the kind and the first cause's message.
    pub fn message(&self) -> String {
        match self.why.first() {
            Some(w) => {
                let text = w.message();
                let detail = w
                    .metric
                    .as_ref()
                    .map(|m| m.message.as_str())
                    .filter(|m| !m.is_empty() && !text.contains(*m));
                match detail {
                    Some(d) => format!("{}: {text} ({d})", self.kind.as_str()),
                    None => format!("{}: {text}", self.kind.as_str()),
                }
            }
            None => self.kind.as_str().to_string(),
        }
    }
}
