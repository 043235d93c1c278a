//! # analysis-host
//!
//! The wasmtime host that loads WebAssembly judges (`rollout:judge@0.1.0` components), verifies
//! their digests and imports, runs each evaluation in a fresh sandbox with fuel, memory and time
//! limits, and implements the core's judge traits (issue #5).
//!
//! Modules:
//! - [`config`]: [`HostConfig`], the limits (fuel, memory, deadline, input/output caps, cache).
//! - [`host`]: [`JudgeHost`] and [`LoadedJudge`]: load, verify, compile once, evaluate.
//! - [`registry`]: [`WasmJudges`], the core's `JudgeRegistry`; `LoadedJudge` is a core `Judge`.
//! - [`cli`]: `inspect` and `run`, the library side of `rollout judge inspect|run`.
//! - [`json`]: the JSON form of inputs and verdicts.
//! - [`cache`]: digests and the precompiled-artefact cache.
//! - [`error`]: the error type, [`HostError`].
//!
//! Features: `cranelift` (default) compiles components; without it the host only runs
//! artefacts already in its cache. `wasi` links a capability-less, deterministic WASI for judges
//! loaded with [`LoadOptions::allow_wasi`].

mod bindings;
pub mod cache;
pub mod cli;
pub mod config;
mod convert;
pub mod error;
pub mod host;
mod inspect;
pub mod json;
pub mod registry;
mod store;
#[cfg(feature = "wasi")]
mod wasi;

pub use config::HostConfig;
pub use error::HostError;
pub use host::{
    CodeSource, ComponentInfo, EVALUATOR_EXPORT, Evaluation, JudgeHost, LoadOptions, LoadedJudge,
};
pub use registry::WasmJudges;
