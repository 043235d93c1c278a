//! [`HostError`]: every way loading or running a judge can fail, each with a clear message, and
//! its mapping to the core's typed [`JudgeError`].

use rollout_core::analysis::judge::{JudgeError, JudgeErrorKind};

/// Why a judge could not be loaded or could not produce a verdict.
///
/// The analysis turns any of these into an Error measurement carrying the message; the host
/// itself is never harmed.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    /// The engine could not be created with this configuration.
    #[error("cannot create the wasm engine: {0}")]
    Engine(String),
    /// Reading a judge file failed.
    #[error("cannot read judge file {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// The component's sha256 is not the pinned one.
    #[error("judge digest mismatch: expected sha256 {expected}, got {actual}")]
    DigestMismatch {
        /// The pinned digest.
        expected: String,
        /// The digest of the bytes we got.
        actual: String,
    },
    /// The bytes are not a WebAssembly component (wrong magic, a core module, a precompiled artefact).
    #[error("not a WebAssembly component: {0}")]
    NotAComponent(String),
    /// Compilation (validation) of the component failed: truncated or malformed bytes.
    #[error("invalid judge component: {0}")]
    Malformed(String),
    /// This host was built without Cranelift and the component is not in the precompiled cache.
    #[error(
        "judge {digest} is not precompiled and this host cannot compile (built without the `cranelift` feature)"
    )]
    CompilerUnavailable {
        /// sha256 of the component.
        digest: String,
    },
    /// The component exports the evaluator at a version this host does not support.
    #[error("judge exports {found}, but this host supports {supported}")]
    UnsupportedInterface {
        /// The export name found.
        found: String,
        /// The export name this host supports.
        supported: &'static str,
    },
    /// The component does not export the evaluator at all.
    #[error("judge does not export {expected} (its exports: {exports})")]
    MissingExport {
        /// The expected export name.
        expected: &'static str,
        /// What the component exports, comma-separated.
        exports: String,
    },
    /// The component imports WASI, but it was not registered with the WASI opt-in.
    #[error(
        "judge imports WASI ({imports}), but a judge must be pure (import nothing but rollout:judge/types): \
         rebuild it without WASI (plugins/README.md shows how for Rust, C, Python and JavaScript); a program \
         embedding analysis-host with its `wasi` feature can instead grant a capability-less WASI with \
         LoadOptions::allow_wasi"
    )]
    WasiNotAllowed {
        /// The WASI imports, comma-separated.
        imports: String,
    },
    /// The component imports WASI and the opt-in was given, but the host was built without WASI.
    #[error("judge imports WASI ({imports}) but this host was built without the `wasi` feature")]
    WasiUnavailable {
        /// The WASI imports, comma-separated.
        imports: String,
    },
    /// The component imports something that is neither our types nor WASI.
    #[error("judge imports {0}, which this host does not provide")]
    ForbiddenImport(String),
    /// Linking or instantiating failed (e.g. an import of the wrong type).
    #[error("cannot instantiate judge: {0}")]
    Instantiate(String),
    /// The input is larger than the configured cap.
    #[error("evaluation input is {size} bytes, over the limit of {limit} bytes")]
    InputTooLarge {
        /// Estimated size of the input.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The verdict is larger than the configured cap.
    #[error("judge output is {size} bytes, over the limit of {limit} bytes")]
    OutputTooLarge {
        /// Estimated size of the verdict.
        size: usize,
        /// The cap.
        limit: usize,
    },
    /// The judge used its whole instruction (fuel) budget.
    #[error("judge ran out of its budget of {budget} instructions")]
    FuelExhausted {
        /// The budget.
        budget: u64,
    },
    /// The judge tried to grow its memory past the cap.
    #[error("judge exceeded its memory limit of {limit} bytes (tried to grow to {requested} bytes)")]
    MemoryLimit {
        /// The cap.
        limit: usize,
        /// The size it asked for.
        requested: usize,
    },
    /// The judge exhausted the wasm call stack.
    #[error("judge overflowed its call stack")]
    StackOverflow,
    /// The wall-clock backstop fired.
    #[error("judge exceeded the wall-clock deadline of {millis} ms")]
    Deadline {
        /// The deadline.
        millis: u64,
    },
    /// Any other trap (a panic is an `unreachable` trap).
    #[error("judge trapped: {0}")]
    Trap(String),
    /// Too many evaluations at once for the instance pool.
    #[error("cannot evaluate judge: {0}")]
    Capacity(String),
    /// The evaluation task was cancelled or panicked.
    #[error("judge evaluation task failed: {0}")]
    Task(String),
    /// A JSON input could not be parsed.
    #[error("invalid judge input JSON: {0}")]
    InputJson(String),
}

impl HostError {
    /// The kind of judge failure this is, as the core records it.
    pub fn judge_error_kind(&self) -> JudgeErrorKind {
        match self {
            HostError::FuelExhausted { .. } => JudgeErrorKind::FuelExhausted,
            HostError::MemoryLimit { .. } | HostError::OutputTooLarge { .. } => JudgeErrorKind::MemoryLimit,
            HostError::Deadline { .. } => JudgeErrorKind::Deadline,
            HostError::Trap(_) | HostError::StackOverflow => JudgeErrorKind::Trap,
            HostError::Io { .. }
            | HostError::DigestMismatch { .. }
            | HostError::NotAComponent(_)
            | HostError::Malformed(_)
            | HostError::CompilerUnavailable { .. }
            | HostError::UnsupportedInterface { .. }
            | HostError::MissingExport { .. }
            | HostError::WasiNotAllowed { .. }
            | HostError::WasiUnavailable { .. }
            | HostError::ForbiddenImport(_)
            | HostError::Instantiate(_) => JudgeErrorKind::InvalidComponent,
            HostError::InputTooLarge { .. } | HostError::InputJson(_) => JudgeErrorKind::InvalidConfig,
            HostError::Engine(_) | HostError::Capacity(_) | HostError::Task(_) => JudgeErrorKind::Unavailable,
        }
    }

    /// This error as a [`JudgeError`] of its kind with `message` (the measurement text follows
    /// `judge failed: `) and itself as the source.
    pub fn into_judge_error(self, message: String) -> JudgeError {
        let source = None;
        let error = match self.judge_error_kind() {
            JudgeErrorKind::FuelExhausted => JudgeError::FuelExhausted { message, source },
            JudgeErrorKind::MemoryLimit => JudgeError::MemoryLimit { message, source },
            JudgeErrorKind::Deadline => JudgeError::Deadline { message, source },
            JudgeErrorKind::Trap => JudgeError::Trap { message, source },
            JudgeErrorKind::InvalidComponent => JudgeError::InvalidComponent { message, source },
            JudgeErrorKind::InvalidConfig => JudgeError::InvalidConfig { message, source },
            // `judge_error_kind` returns neither `NotFound` nor `Rejected` for a host error.
            JudgeErrorKind::Unavailable | JudgeErrorKind::NotFound | JudgeErrorKind::Rejected => {
                JudgeError::Unavailable { message, source }
            }
        };
        error.with_source(self)
    }
}

/// A host failure while evaluating: `judge failed: <the host error>`, of the host error's kind.
impl From<HostError> for JudgeError {
    fn from(e: HostError) -> Self {
        let message = e.to_string();
        e.into_judge_error(message)
    }
}
