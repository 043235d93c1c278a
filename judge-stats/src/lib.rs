//! # judge-stats
//!
//! The statistics behind the judges we ship (issue #6). Pure Rust with no IO, so the same code is
//! unit-tested and benchmarked natively and compiled into the WebAssembly judge components. Each
//! judge is a pure function `judge(&JudgeData, &Config, Option<State>) -> (Verdict, State)` over
//! the one set of judge types (`judge_types`, mirroring the WIT contract); the component wrappers
//! only decode the config and state.
//!
//! Map of the crate:
//! - [`data`]: the input and verdict types (`judge_types`, re-exported), the reason codes and the
//!   first check every judge runs.
//! - [`config`]: JSON config/state parsing and validation errors.
//! - [`special`]: normal quantile, beta functions, Clopper-Pearson, percentiles, seeded RNG.
//! - [`guard`]: missing-data policy, Bonferroni, look-adjusted SLO checks (baseline health).
//! - [`seq`]: the anytime-valid rate-ratio e-process and its confidence sequence.
//! - [`softplus`]: sufficient statistics of the e-process's log-likelihoods (no logarithm per window).
//! - [`dispersion`]: the on-line overdispersion estimate that discounts the e-process's windows.
//! - [`bayes`]: beta-binomial P(canary worse) and expected loss (explanations only).
//! - [`counts`]: the count judgement shared by the error-ratio, latency and pair judges.
//! - [`explain`]: how numbers are written in the human-readable reasons (one shared style).
//! - Judges: [`error_ratio`] (the default), [`threshold`], [`kayenta`], [`latency`], [`pair`].
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::indexing_slicing
    )
)]

pub mod bayes;
pub mod config;
pub mod counts;
pub mod data;
pub mod dispersion;
pub mod error_ratio;
pub mod explain;
pub mod guard;
pub mod kayenta;
pub mod latency;
pub mod pair;
pub mod seq;
pub mod softplus;
pub mod special;
pub mod threshold;

pub use data::{Detail, JudgeData, Phase, Verdict};
