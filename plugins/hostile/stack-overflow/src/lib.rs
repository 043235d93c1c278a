//! Hostile judge: `evaluate` recurses without bound; the wasm stack limit must stop it.
use analysis_sdk::{Input, Judge, JudgeInfo, Verdict, export_judge};
use std::hint::black_box;

struct StackOverflow;

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if black_box(depth) == u64::MAX {
        return 0;
    }
    let below = recurse(black_box(depth + 1));
    black_box(below ^ depth)
}

impl Judge for StackOverflow {
    fn describe() -> JudgeInfo {
        JudgeInfo::new("hostile-stack-overflow", "0.1.0")
    }

    fn evaluate(_input: Input) -> Result<Verdict, String> {
        let r = recurse(black_box(0));
        Ok(Verdict::successful("unreachable", format!("{r}")))
    }
}

export_judge!(StackOverflow);
