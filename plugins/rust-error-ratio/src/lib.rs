//! The reference judge `error-ratio-reference` (see `plugins/REFERENCE-JUDGE.md`), in Rust.

mod logic;

use analysis_sdk::{Input, Judge, JudgeInfo, Verdict, export_judge};

/// Canary-vs-stable error ratio with a minimum-traffic rule.
struct ErrorRatioReference;

impl Judge for ErrorRatioReference {
    fn describe() -> JudgeInfo {
        logic::describe()
    }

    fn evaluate(input: Input) -> Result<Verdict, String> {
        logic::evaluate(&input)
    }
}

export_judge!(ErrorRatioReference);
