//! Conversions between the core's judge records (`rollout_core::analysis::judge`) and the
//! generated WIT records, plus size estimates used for the input and output caps.

use rollout_core::analysis::judge as core;

use crate::bindings::rollout::judge::types as wit;

/// The core input as the WIT record.
pub(crate) fn to_wit(input: &core::JudgeInput) -> wit::EvaluationInput {
    wit::EvaluationInput {
        metric: input.metric.clone(),
        now_ms: input.now_ms,
        series: input
            .series
            .iter()
            .map(|s| wit::Series {
                name: s.name.clone(),
                points: s
                    .points
                    .iter()
                    .map(|p| wit::Point {
                        time_ms: p.time_ms,
                        value: p.value,
                    })
                    .collect(),
                ratios: s
                    .ratios
                    .iter()
                    .map(|r| wit::RatioPoint {
                        time_ms: r.time_ms,
                        numerator: r.numerator,
                        denominator: r.denominator,
                    })
                    .collect(),
                buckets: s
                    .buckets
                    .iter()
                    .map(|b| wit::Bucket {
                        upper_bound: b.upper_bound,
                        count: b.count,
                    })
                    .collect(),
            })
            .collect(),
        weights: input
            .weights
            .iter()
            .map(|w| wit::WeightPoint {
                time_ms: w.time_ms,
                canary_weight: w.canary_weight,
            })
            .collect(),
        args: input
            .args
            .iter()
            .map(|a| wit::Arg {
                name: a.name.clone(),
                value: a.value.clone(),
            })
            .collect(),
        config: input.config.clone(),
        state: input.state.clone(),
    }
}

/// The WIT verdict as the core record.
pub(crate) fn from_wit(v: wit::Verdict) -> core::JudgeVerdict {
    core::JudgeVerdict {
        phase: match v.phase {
            wit::Phase::Successful => core::VerdictPhase::Successful,
            wit::Phase::Failed => core::VerdictPhase::Failed,
            wit::Phase::Inconclusive => core::VerdictPhase::Inconclusive,
            wit::Phase::Error => core::VerdictPhase::Error,
        },
        code: v.code,
        score: v.score,
        reason: v.reason,
        details: v
            .details
            .into_iter()
            .map(|d| core::Detail {
                name: d.name,
                statistic: d.statistic,
                value: d.value,
                effect: d.effect,
                interval: d.interval,
                samples: d.samples,
                samples_needed: d.samples_needed,
                extra: d.extra,
            })
            .collect(),
        state: v.state,
    }
}

/// The WIT judge info as the core record.
pub(crate) fn info_from_wit(i: wit::JudgeInfo) -> core::JudgeInfo {
    core::JudgeInfo {
        name: i.name,
        version: i.version,
        config_schema: i.config_schema,
    }
}

/// Bytes of a string or byte list in the canonical ABI: the data plus pointer and length.
fn text(len: usize) -> usize {
    len.saturating_add(8)
}

/// Approximate size of the input once lowered into the guest (canonical ABI layout).
pub(crate) fn input_size(input: &core::JudgeInput) -> usize {
    let series: usize = input
        .series
        .iter()
        .map(|s| text(s.name.len()) + 24 + s.points.len() * 16 + s.ratios.len() * 24 + s.buckets.len() * 16)
        .sum();
    let args: usize = input
        .args
        .iter()
        .map(|a| text(a.name.len()) + text(a.value.len()))
        .sum();
    text(input.metric.len())
        + 8
        + series
        + input.weights.len() * 16
        + args
        + text(input.config.len())
        + input.state.as_ref().map_or(4, |s| text(s.len()))
}

/// Approximate size of a verdict as the guest returned it (canonical ABI layout).
pub(crate) fn verdict_size(v: &wit::Verdict) -> usize {
    let details: usize = v
        .details
        .iter()
        .map(|d| {
            text(d.name.len())
                + text(d.statistic.len())
                + 8
                + 16
                + 24
                + 16
                + 16
                + d.extra
                    .iter()
                    .map(|(k, x)| text(k.len()) + text(x.len()))
                    .sum::<usize>()
                + 8
        })
        .sum();
    4 + text(v.code.len())
        + 16
        + text(v.reason.len())
        + 8
        + details
        + v.state.as_ref().map_or(4, |s| text(s.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_every_field() {
        let input = core::JudgeInput {
            metric: "m".into(),
            now_ms: 5,
            series: vec![core::Series {
                name: "canary".into(),
                points: vec![core::Point {
                    time_ms: 1,
                    value: 2.0,
                }],
                ratios: vec![core::RatioPoint {
                    time_ms: 3,
                    numerator: 4.0,
                    denominator: 5.0,
                }],
                buckets: vec![core::Bucket {
                    upper_bound: 6.0,
                    count: 7.0,
                }],
            }],
            weights: vec![core::WeightPoint {
                time_ms: 8,
                canary_weight: 9,
            }],
            args: vec![core::JudgeArg {
                name: "a".into(),
                value: "b".into(),
            }],
            config: "{}".into(),
            state: Some(vec![1]),
        };
        let w = to_wit(&input);
        assert_eq!(w.series[0].ratios[0].denominator, 5.0);
        assert_eq!(w.series[0].buckets[0].count, 7.0);
        assert_eq!(w.weights[0].canary_weight, 9);
        assert_eq!((w.args[0].value.as_str(), w.state.clone()), ("b", Some(vec![1])));
        // 1+8 metric, 8 now, series (6+8)+24+16+24+16, 16 weights, 9+9 args, 2+8 config, 1+8 state
        assert_eq!(
            input_size(&input),
            9 + 8 + 14 + 24 + 16 + 24 + 16 + 16 + 18 + 10 + 9
        );
    }

    #[test]
    fn verdict_conversion_maps_phase_and_details() {
        let v = wit::Verdict {
            phase: wit::Phase::Inconclusive,
            code: "c".into(),
            score: Some(0.5),
            reason: "r".into(),
            details: vec![wit::Detail {
                name: "n".into(),
                statistic: "s".into(),
                value: 1.0,
                effect: None,
                interval: Some((0.0, 2.0)),
                samples: (3, 4),
                samples_needed: Some(5),
                extra: vec![("k".into(), "v".into())],
            }],
            state: None,
        };
        assert!(verdict_size(&v) > 0);
        let c = from_wit(v);
        assert_eq!(c.phase, core::VerdictPhase::Inconclusive);
        assert_eq!(c.details[0].samples_needed, Some(5));
        assert_eq!(c.details[0].extra, vec![("k".to_string(), "v".to_string())]);
    }
}
