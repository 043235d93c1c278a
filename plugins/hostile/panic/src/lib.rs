//! Hostile judge: `evaluate` panics, which traps (`unreachable`) under panic=abort.
use analysis_sdk::{Input, Judge, JudgeInfo, Verdict, export_judge};
use std::hint::black_box;

struct Panic;

impl Judge for Panic {
    fn describe() -> JudgeInfo {
        JudgeInfo::new("hostile-panic", "0.1.0")
    }

    fn evaluate(input: Input) -> Result<Verdict, String> {
        if black_box(input.metric().len()) < usize::MAX {
            panic!("hostile judge panics on purpose");
        }
        Ok(Verdict::successful("unreachable", ""))
    }
}

export_judge!(Panic);
