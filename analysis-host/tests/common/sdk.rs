//! The core's judge input as the Rust guest SDK's `Input`, so the reference judge's logic can run
//! natively beside its component (tests and benches).

/// `i` as the SDK input a component would receive (ratio series, args and config; the reference
/// judge reads nothing else).
pub fn sdk_input(i: &rollout_core::analysis::judge::JudgeInput) -> analysis_sdk::Input {
    use analysis_sdk as s;
    analysis_sdk::Input::new(s::EvaluationInput {
        metric: i.metric.clone(),
        now_ms: i.now_ms,
        series: i
            .series
            .iter()
            .map(|x| s::Series {
                name: x.name.clone(),
                points: vec![],
                ratios: x
                    .ratios
                    .iter()
                    .map(|r| s::RatioPoint {
                        time_ms: r.time_ms,
                        numerator: r.numerator,
                        denominator: r.denominator,
                    })
                    .collect(),
                buckets: vec![],
            })
            .collect(),
        weights: vec![],
        args: i
            .args
            .iter()
            .map(|a| s::Arg {
                name: a.name.clone(),
                value: a.value.clone(),
            })
            .collect(),
        config: i.config.clone(),
        state: None,
    })
}
