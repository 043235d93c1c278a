//! The core's judge input as the Rust guest SDK's `Input`, so the reference judge's logic can run
//! natively beside its component (tests and benches). Both sides use the same record
//! (`judge_types::JudgeInput`), so this only wraps it.

/// `i` as the SDK input a component would receive.
pub fn sdk_input(i: &rollout_core::analysis::judge::JudgeInput) -> analysis_sdk::Input {
    analysis_sdk::Input::new(i.clone())
}
