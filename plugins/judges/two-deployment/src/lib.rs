//! The `two-deployment` judge (`judge_stats::pair`) as a component; the statistics live in `judge-stats`.

use analysis_sdk::{Input, Judge, JudgeInfo, Verdict, export_judge};
use judge_stats::pair;

struct J;

impl Judge for J {
    fn describe() -> JudgeInfo {
        judge_glue::info::<pair::Config>(pair::NAME, env!("CARGO_PKG_VERSION"))
    }

    fn evaluate(input: Input) -> Result<Verdict, String> {
        judge_glue::evaluate(&input, pair::judge)
    }
}

export_judge!(J);
