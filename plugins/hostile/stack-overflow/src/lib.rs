//! Hostile judge: `evaluate` recurses without bound. Metric `shadow-stack`: each call keeps a
//! 512-byte array in linear memory, so the stack in linear memory (64 KiB, placed first) runs out
//! first and the judge traps out of bounds instead of writing over its data. Any other metric: the
//! calls keep nothing in linear memory, so the engine's call-stack limit stops it.
use analysis_sdk::{Input, Judge, JudgeInfo, Verdict, export_judge};
use std::hint::black_box;

struct StackOverflow;

#[inline(never)]
fn recurse(depth: u64) -> u64 {
    if depth == u64::MAX {
        return 0;
    }
    recurse(depth + 1).rotate_left(7) ^ depth
}

#[inline(never)]
fn recurse_with_frame(depth: u64) -> u64 {
    let mut frame = [0u8; 512];
    frame[(depth % 512) as usize] = depth as u8;
    let frame = black_box(frame);
    if depth == u64::MAX {
        return u64::from(frame[0]);
    }
    recurse_with_frame(depth + 1) ^ u64::from(frame[(depth % 511) as usize])
}

impl Judge for StackOverflow {
    fn describe() -> JudgeInfo {
        JudgeInfo::new("hostile-stack-overflow", "0.1.0")
    }

    fn evaluate(input: Input) -> Result<Verdict, String> {
        let r = if input.metric() == "shadow-stack" {
            recurse_with_frame(black_box(0))
        } else {
            recurse(black_box(0))
        };
        Ok(Verdict::successful("unreachable", format!("{r}")))
    }
}

export_judge!(StackOverflow);
