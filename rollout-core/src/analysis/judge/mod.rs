//! The judge's data, building a judge's input from a measurement request and recording its
//! verdict as a measurement ([`measurement`]), and a native judge. The async `Judge` contract, the
//! registry and the `judge` measurement provider live in `rollout-driver`.
//!
//! The input and verdict types are the crate `judge_types`, re-exported here: the one set of
//! judge types that the WASM host, the guest SDK and judge-stats use as well (field names and
//! meanings match the WIT records of `rollout:judge@0.1.0` 1:1; their JSON form is documented in
//! `judge_types`).
//!
//! A metric opts in with the `judge` provider ([`JudgeMetric`](super::JudgeMetric)).

pub mod measurement;
mod native;

pub use judge_types::{
    Bucket, Detail, JudgeArg, JudgeInfo, JudgeInput, JudgeVerdict, Point, RatioPoint, Series, VerdictPhase,
    WeightPoint, codes,
};
pub use measurement::{
    JudgedMeasurement, judge_input, metadata_keys, record_verdict, recorded_state, verdict_observation,
};
pub use native::RatioThresholdJudge;

use super::AnalysisPhase;
use super::provider::ErrorSource;

/// The key of our provider in `metric.provider`.
pub const JUDGE_PROVIDER: &str = "judge";

impl From<VerdictPhase> for AnalysisPhase {
    fn from(p: VerdictPhase) -> Self {
        match p {
            VerdictPhase::Successful => AnalysisPhase::Successful,
            VerdictPhase::Failed => AnalysisPhase::Failed,
            VerdictPhase::Inconclusive => AnalysisPhase::Inconclusive,
            VerdictPhase::Error => AnalysisPhase::Error,
        }
    }
}

/// Why a judge could not return a verdict. The measurement becomes Error with this text, and
/// the kind ([`JudgeError::kind`]) is recorded in its metadata.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum JudgeError {
    /// No judge with that name and digest is known.
    #[error("judge {name:?} with sha256 {sha256} is not registered")]
    NotFound {
        /// Judge name from the metric.
        name: String,
        /// Digest from the metric.
        sha256: String,
    },
    /// The judge returned `err(message)`.
    #[error("judge returned an error: {0}")]
    Rejected(String),
    /// The judge used its whole instruction (fuel) budget.
    #[error("judge failed: {message}")]
    FuelExhausted {
        /// What happened.
        message: String,
        /// The host's error.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The judge tried to grow its memory (or its output) past the cap.
    #[error("judge failed: {message}")]
    MemoryLimit {
        /// What happened.
        message: String,
        /// The host's error.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The wall-clock deadline of an evaluation fired.
    #[error("judge failed: {message}")]
    Deadline {
        /// What happened.
        message: String,
        /// The host's error.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The judge trapped (a panic, `unreachable`, a stack overflow).
    #[error("judge failed: {message}")]
    Trap {
        /// What happened.
        message: String,
        /// The host's error.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The component could not be read, verified, compiled, linked or instantiated.
    #[error("judge failed: {message}")]
    InvalidComponent {
        /// What happened.
        message: String,
        /// The host's error.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The metric's judge settings do not fit the judge (e.g. the digest names another judge),
    /// or the input exceeds the host's limits.
    #[error("judge failed: {message}")]
    InvalidConfig {
        /// What is wrong.
        message: String,
        /// The host's error, if any.
        #[source]
        source: Option<ErrorSource>,
    },
    /// The host could not run the judge now (engine, capacity, a cancelled task).
    #[error("judge failed: {message}")]
    Unavailable {
        /// What happened.
        message: String,
        /// The host's error, if any.
        #[source]
        source: Option<ErrorSource>,
    },
}

/// The kind of a [`JudgeError`], as recorded in measurements and in a Rollout's
/// [`Why`](crate::rollout::why::Why).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum JudgeErrorKind {
    /// [`JudgeError::NotFound`].
    NotFound,
    /// [`JudgeError::Rejected`].
    Rejected,
    /// [`JudgeError::FuelExhausted`].
    FuelExhausted,
    /// [`JudgeError::MemoryLimit`].
    MemoryLimit,
    /// [`JudgeError::Deadline`].
    Deadline,
    /// [`JudgeError::Trap`].
    Trap,
    /// [`JudgeError::InvalidComponent`].
    InvalidComponent,
    /// [`JudgeError::InvalidConfig`].
    InvalidConfig,
    /// [`JudgeError::Unavailable`].
    Unavailable,
}

impl JudgeErrorKind {
    /// Every kind, in declaration order.
    pub const ALL: [JudgeErrorKind; 9] = [
        JudgeErrorKind::NotFound,
        JudgeErrorKind::Rejected,
        JudgeErrorKind::FuelExhausted,
        JudgeErrorKind::MemoryLimit,
        JudgeErrorKind::Deadline,
        JudgeErrorKind::Trap,
        JudgeErrorKind::InvalidComponent,
        JudgeErrorKind::InvalidConfig,
        JudgeErrorKind::Unavailable,
    ];

    /// The kebab-case name (as serialized).
    pub fn as_str(self) -> &'static str {
        match self {
            JudgeErrorKind::NotFound => "not-found",
            JudgeErrorKind::Rejected => "rejected",
            JudgeErrorKind::FuelExhausted => "fuel-exhausted",
            JudgeErrorKind::MemoryLimit => "memory-limit",
            JudgeErrorKind::Deadline => "deadline",
            JudgeErrorKind::Trap => "trap",
            JudgeErrorKind::InvalidComponent => "invalid-component",
            JudgeErrorKind::InvalidConfig => "invalid-config",
            JudgeErrorKind::Unavailable => "unavailable",
        }
    }

    /// The kind named `name` ([`JudgeErrorKind::as_str`]).
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == name)
    }
}

impl JudgeError {
    /// The same error with `error` as its source (`NotFound` and `Rejected` are unchanged).
    #[must_use]
    pub fn with_source(mut self, error: impl std::error::Error + Send + Sync + 'static) -> Self {
        match &mut self {
            JudgeError::NotFound { .. } | JudgeError::Rejected(_) => {}
            JudgeError::FuelExhausted { source, .. }
            | JudgeError::MemoryLimit { source, .. }
            | JudgeError::Deadline { source, .. }
            | JudgeError::Trap { source, .. }
            | JudgeError::InvalidComponent { source, .. }
            | JudgeError::InvalidConfig { source, .. }
            | JudgeError::Unavailable { source, .. } => *source = Some(ErrorSource::new(error)),
        }
        self
    }

    /// The kind of this error.
    pub fn kind(&self) -> JudgeErrorKind {
        match self {
            JudgeError::NotFound { .. } => JudgeErrorKind::NotFound,
            JudgeError::Rejected(_) => JudgeErrorKind::Rejected,
            JudgeError::FuelExhausted { .. } => JudgeErrorKind::FuelExhausted,
            JudgeError::MemoryLimit { .. } => JudgeErrorKind::MemoryLimit,
            JudgeError::Deadline { .. } => JudgeErrorKind::Deadline,
            JudgeError::Trap { .. } => JudgeErrorKind::Trap,
            JudgeError::InvalidComponent { .. } => JudgeErrorKind::InvalidComponent,
            JudgeError::InvalidConfig { .. } => JudgeErrorKind::InvalidConfig,
            JudgeError::Unavailable { .. } => JudgeErrorKind::Unavailable,
        }
    }
}
