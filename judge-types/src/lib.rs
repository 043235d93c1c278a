//! # judge-types
//!
//! The one set of judge data types of rollout analysis (issue #12): the input of one evaluation
//! ([`JudgeInput`] and its [`Series`], [`Point`], [`RatioPoint`], [`Bucket`], [`WeightPoint`],
//! [`JudgeArg`]), the verdict ([`JudgeVerdict`], [`VerdictPhase`], [`Detail`]), the reason
//! [`codes`] of the shipped judges and [`JudgeInfo`]. The core (`rollout_core::analysis::judge`),
//! the WASM host, the Rust guest SDK and judge-stats all use these types; serde is the only
//! dependency, and the crate compiles for `wasm32` inside judges.
//!
//! The types mirror the WIT records of `rollout:judge@0.1.0` (`analysis-sdk/wit/judge.wit`) field
//! for field (`time-ms` → `time_ms`, `option<T>` → `Option<T>`, `tuple<a, b>` → `(a, b)`,
//! `list<u8>` → `Vec<u8>`). Each side of the WASM boundary converts once, with the conversions
//! that [`wit_conversions!`] generates for its own WIT bindings.
//!
//! ## The JSON form
//!
//! One spelling, used by `rollout judge run JUDGE.wasm INPUT.json`, the conformance fixtures and the
//! `judge.details` measurement metadata:
//! - field names are the WIT names (kebab-case: `now-ms`, `time-ms`, `upper-bound`,
//!   `canary-weight`, `samples-needed`, `config-schema`); phases are `successful`, `failed`,
//!   `inconclusive`, `error`; tuples are arrays (`"samples": [canary, stable]`,
//!   `"extra": [["key", "value"]]`);
//! - every field of a verdict and a detail is written, absent options as `null`;
//! - a judge state is standard base64 (`"state": "AQAAAA=="`), or `null`; an array of byte values
//!   is read as well;
//! - a point's `value`, a bucket's `upper-bound` and a detail's `value` that are not finite are
//!   written `"nan"`, `"inf"`, `"-inf"` (JSON has no such numbers); reading also takes `"+Inf"`,
//!   `"Infinity"`, `"-Infinity"` and `null` (NaN);
//! - an input must name its `metric`; every other field defaults (lists empty, `now-ms` and a
//!   ratio point's `time-ms` 0, `config` empty, `state` null), and unknown fields are errors.
//!
//! ```
//! let input: judge_types::JudgeInput = serde_json::from_str(
//!     r#"{"metric": "error-rate", "series": [{"name": "canary",
//!         "ratios": [{"time-ms": 0, "numerator": 1, "denominator": 100}]}]}"#,
//! )?;
//! assert_eq!(input.series("canary").map(|s| s.ratio_totals().denominator), Some(100.0));
//! # Ok::<(), serde_json::Error>(())
//! ```
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

mod input;
pub mod serde_forms;
mod validate;
mod verdict;
mod wit;

pub use input::{Bucket, JudgeArg, JudgeInput, Point, RatioPoint, RatioTotals, Series, WeightPoint};
pub use verdict::{Detail, ExtraValue, JudgeInfo, JudgeVerdict, NOT_A_NUMBER, VerdictPhase, codes};
