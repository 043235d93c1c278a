//! The `error-ratio` judge (`judge_stats::error_ratio`) as a component; the statistics live in `judge-stats`.

use analysis_sdk::{Input, Judge, JudgeInfo, Verdict, export_judge};
use judge_stats::error_ratio;

struct J;

impl Judge for J {
    fn describe() -> JudgeInfo {
        judge_glue::info::<error_ratio::Config>(error_ratio::NAME, env!("CARGO_PKG_VERSION"))
    }

    fn evaluate(input: Input) -> Result<Verdict, String> {
        judge_glue::evaluate(&input, error_ratio::judge)
    }
}

export_judge!(J);
