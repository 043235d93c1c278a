//! The `latency` judge (`judge_stats::latency`) as a component; the statistics live in `judge-stats`.

use analysis_sdk::{Input, Judge, JudgeInfo, Verdict, export_judge};
use judge_stats::latency;

struct J;

impl Judge for J {
    fn describe() -> JudgeInfo {
        judge_glue::info::<latency::Config>(latency::NAME, env!("CARGO_PKG_VERSION"))
    }

    fn evaluate(input: Input) -> Result<Verdict, String> {
        judge_glue::evaluate(&input, latency::judge)
    }
}

export_judge!(J);
