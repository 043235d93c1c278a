//! Hostile judge: `evaluate` allocates 1 MiB blocks until the host's memory cap stops it.
use analysis_sdk::{Input, Judge, JudgeInfo, Verdict, export_judge};
use std::hint::black_box;

struct MemoryBomb;

impl Judge for MemoryBomb {
    fn describe() -> JudgeInfo {
        JudgeInfo::new("hostile-memory-bomb", "0.1.0")
    }

    fn evaluate(_input: Input) -> Result<Verdict, String> {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            let mut block = vec![0u8; 1 << 20];
            block[black_box(0)] = 1;
            hoard.push(black_box(block));
        }
    }
}

export_judge!(MemoryBomb);
