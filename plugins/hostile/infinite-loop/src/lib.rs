//! Hostile judge: `evaluate` loops forever; the host's fuel budget must stop it.
use analysis_sdk::{Input, Judge, JudgeInfo, Verdict, export_judge};
use std::hint::black_box;

struct InfiniteLoop;

impl Judge for InfiniteLoop {
    fn describe() -> JudgeInfo {
        JudgeInfo::new("hostile-infinite-loop", "0.1.0")
    }

    fn evaluate(_input: Input) -> Result<Verdict, String> {
        let mut n: u64 = 0;
        loop {
            n = black_box(n.wrapping_add(1));
        }
    }
}

export_judge!(InfiniteLoop);
