//! The `threshold` judge (`judge_stats::threshold`) as a component; the statistics live in `judge-stats`.

use analysis_sdk::{Input, Judge, JudgeInfo, Verdict, export_judge};
use judge_stats::threshold;

struct J;

impl Judge for J {
    fn describe() -> JudgeInfo {
        judge_glue::info::<threshold::Config>(threshold::NAME, env!("CARGO_PKG_VERSION"))
    }

    fn evaluate(input: Input) -> Result<Verdict, String> {
        judge_glue::evaluate(&input, threshold::judge)
    }
}

export_judge!(J);
