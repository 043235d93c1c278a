//! Hostile judge: counts its evaluations in a global and leaves a 1 MiB allocation behind. With a
//! fresh instance per evaluation the count is always 1; anything else means state leaked.

use std::sync::atomic::{AtomicU64, Ordering};

use analysis_sdk::{Input, Judge, JudgeInfo, Verdict, export_judge};

static CALLS: AtomicU64 = AtomicU64::new(0);
static LEFTOVER: std::sync::Mutex<Vec<Vec<u8>>> = std::sync::Mutex::new(Vec::new());

struct GlobalState;

impl Judge for GlobalState {
    fn describe() -> JudgeInfo {
        JudgeInfo::new("hostile-global-state", "0.1.0")
    }

    fn evaluate(_input: Input) -> Result<Verdict, String> {
        let calls = CALLS.fetch_add(1, Ordering::Relaxed) + 1;
        let held = match LEFTOVER.lock() {
            Ok(mut held) => {
                held.push(vec![7u8; 1 << 20]);
                held.len()
            }
            Err(_) => 0,
        };
        Ok(Verdict::successful("ok", format!("calls {calls} blocks {held}")))
    }
}

export_judge!(GlobalState);
