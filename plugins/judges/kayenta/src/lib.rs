//! The `kayenta` judge (`judge_stats::kayenta`) as a component; the statistics live in `judge-stats`.

use analysis_sdk::{Input, Judge, JudgeInfo, Verdict, export_judge};
use judge_stats::kayenta;

struct J;

impl Judge for J {
    fn describe() -> JudgeInfo {
        judge_glue::info::<kayenta::Config>(kayenta::NAME, env!("CARGO_PKG_VERSION"))
    }

    fn evaluate(input: Input) -> Result<Verdict, String> {
        judge_glue::evaluate(&input, kayenta::judge)
    }
}

export_judge!(J);
