//! Hostile judge: `evaluate` returns a 4 MiB reason and 20,000 details, far above the output cap.
use analysis_sdk::{Detail, Input, Judge, JudgeInfo, Verdict, export_judge};

struct HugeOutput;

impl Judge for HugeOutput {
    fn describe() -> JudgeInfo {
        JudgeInfo::new("hostile-huge-output", "0.1.0")
    }

    fn evaluate(_input: Input) -> Result<Verdict, String> {
        let mut verdict = Verdict::successful("ok", "x".repeat(4 << 20));
        verdict.details = (0..20_000)
            .map(|i| Detail::new(format!("detail-{i}"), "padding", f64::from(i)))
            .collect();
        Ok(verdict)
    }
}

export_judge!(HugeOutput);
