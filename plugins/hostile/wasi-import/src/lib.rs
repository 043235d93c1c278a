//! Hostile judge: imports `wasi:random/random@0.2.3`. Without the WASI opt-in the host refuses to
//! load it; with it, the host's fixed random seed makes the verdict deterministic.

wit_bindgen::generate!({ world: "judge-with-wasi", path: "wit", generate_all });

use exports::rollout::judge::evaluator::Guest;
use rollout::judge::types::{EvaluationInput, JudgeInfo, Phase, Verdict};

struct WasiImport;

impl Guest for WasiImport {
    fn describe() -> JudgeInfo {
        JudgeInfo {
            name: "hostile-wasi-import".to_string(),
            version: "0.1.0".to_string(),
            config_schema: "{}".to_string(),
        }
    }

    fn evaluate(_input: EvaluationInput) -> Result<Verdict, String> {
        let n = wasi::random::random::get_random_u64();
        Ok(Verdict {
            phase: Phase::Successful,
            code: "random".to_string(),
            score: None,
            reason: format!("random {n}"),
            details: Vec::new(),
            state: None,
        })
    }
}

export!(WasiImport);
