//! [`wit_conversions!`](crate::wit_conversions): the conversions between these types and the
//! records that `wit-bindgen` (guest) or `wasmtime::component::bindgen!` (host) generate from
//! `rollout:judge@0.1.0`, written once for both sides.

/// Generates `From` conversions, in both directions, between every record of this crate and its
/// counterpart in a module of generated WIT bindings for `rollout:judge/types@0.1.0`.
///
/// Call it once in the crate that owns the generated bindings, with a module name in scope for
/// the generated `types` interface:
///
/// ```ignore
/// use crate::bindings::rollout::judge::types as wit;
/// judge_types::wit_conversions!(wit);
/// // then: wit::EvaluationInput::from(input), judge_types::JudgeVerdict::from(wit_verdict), ...
/// ```
///
/// The WIT records and these types have the same fields (the WIT names in snake case), so each
/// conversion moves every field; lists convert element by element.
#[macro_export]
macro_rules! wit_conversions {
    ($wit:ident) => {
        $crate::__wit_record!($wit::Point, $crate::Point { time_ms, value } lists {});
        $crate::__wit_record!($wit::RatioPoint, $crate::RatioPoint { time_ms, numerator, denominator } lists {});
        $crate::__wit_record!($wit::Bucket, $crate::Bucket { upper_bound, count } lists {});
        $crate::__wit_record!($wit::WeightPoint, $crate::WeightPoint { time_ms, canary_weight } lists {});
        $crate::__wit_record!($wit::Arg, $crate::JudgeArg { name, value } lists {});
        $crate::__wit_record!($wit::Series, $crate::Series { name } lists { points, ratios, buckets });
        $crate::__wit_record!(
            $wit::EvaluationInput,
            $crate::JudgeInput { metric, now_ms, config, state } lists { series, weights, args }
        );
        $crate::__wit_record!(
            $wit::Detail,
            $crate::Detail { name, statistic, value, effect, interval, samples, samples_needed, extra } lists {}
        );
        $crate::__wit_record!(
            $wit::Verdict,
            $crate::JudgeVerdict { phase, code, score, reason, state } lists { details }
        );
        $crate::__wit_record!($wit::JudgeInfo, $crate::JudgeInfo { name, version, config_schema } lists {});
        impl ::core::convert::From<$wit::Phase> for $crate::VerdictPhase {
            fn from(v: $wit::Phase) -> Self {
                match v {
                    $wit::Phase::Successful => Self::Successful,
                    $wit::Phase::Failed => Self::Failed,
                    $wit::Phase::Inconclusive => Self::Inconclusive,
                    $wit::Phase::Error => Self::Error,
                }
            }
        }
        impl ::core::convert::From<$crate::VerdictPhase> for $wit::Phase {
            fn from(v: $crate::VerdictPhase) -> Self {
                match v {
                    $crate::VerdictPhase::Successful => Self::Successful,
                    $crate::VerdictPhase::Failed => Self::Failed,
                    $crate::VerdictPhase::Inconclusive => Self::Inconclusive,
                    $crate::VerdictPhase::Error => Self::Error,
                }
            }
        }
    };
}

/// One record both ways (used by [`wit_conversions!`]).
#[doc(hidden)]
#[macro_export]
macro_rules! __wit_record {
    ($a:ty, $b:ty { $($f:ident),* } lists { $($l:ident),* }) => {
        $crate::__wit_record!(@one $a => $b { $($f),* } { $($l),* });
        $crate::__wit_record!(@one $b => $a { $($f),* } { $($l),* });
    };
    (@one $from:ty => $to:ty { $($f:ident),* } { $($l:ident),* }) => {
        impl ::core::convert::From<$from> for $to {
            fn from(v: $from) -> Self {
                Self {
                    $($l: v.$l.into_iter().map(::core::convert::Into::into).collect(),)*
                    $($f: ::core::convert::Into::into(v.$f),)*
                }
            }
        }
    };
}

#[cfg(test)]
mod tests {
    /// A stand-in for generated bindings: the WIT records with the WIT names.
    #[allow(missing_docs)]
    mod wit {
        #[derive(Debug, Clone, PartialEq)]
        pub struct Point {
            pub time_ms: i64,
            pub value: f64,
        }
        #[derive(Debug, Clone, PartialEq)]
        pub struct RatioPoint {
            pub time_ms: i64,
            pub numerator: f64,
            pub denominator: f64,
        }
        #[derive(Debug, Clone, PartialEq)]
        pub struct Bucket {
            pub upper_bound: f64,
            pub count: f64,
        }
        #[derive(Debug, Clone, PartialEq)]
        pub struct WeightPoint {
            pub time_ms: i64,
            pub canary_weight: u32,
        }
        #[derive(Debug, Clone, PartialEq)]
        pub struct Arg {
            pub name: String,
            pub value: String,
        }
        #[derive(Debug, Clone, PartialEq)]
        pub struct Series {
            pub name: String,
            pub points: Vec<Point>,
            pub ratios: Vec<RatioPoint>,
            pub buckets: Vec<Bucket>,
        }
        #[derive(Debug, Clone, PartialEq)]
        pub struct EvaluationInput {
            pub metric: String,
            pub now_ms: i64,
            pub series: Vec<Series>,
            pub weights: Vec<WeightPoint>,
            pub args: Vec<Arg>,
            pub config: String,
            pub state: Option<Vec<u8>>,
        }
        #[derive(Debug, Clone, Copy, PartialEq)]
        pub enum Phase {
            Successful,
            Failed,
            Inconclusive,
            Error,
        }
        #[derive(Debug, Clone, PartialEq)]
        pub struct Detail {
            pub name: String,
            pub statistic: String,
            pub value: f64,
            pub effect: Option<f64>,
            pub interval: Option<(f64, f64)>,
            pub samples: (u64, u64),
            pub samples_needed: Option<u64>,
            pub extra: Vec<(String, String)>,
        }
        #[derive(Debug, Clone, PartialEq)]
        pub struct Verdict {
            pub phase: Phase,
            pub code: String,
            pub score: Option<f64>,
            pub reason: String,
            pub details: Vec<Detail>,
            pub state: Option<Vec<u8>>,
        }
        #[derive(Debug, Clone, PartialEq)]
        pub struct JudgeInfo {
            pub name: String,
            pub version: String,
            pub config_schema: String,
        }
    }

    crate::wit_conversions!(wit);

    use crate::{
        Bucket, Detail, JudgeArg, JudgeInfo, JudgeInput, JudgeVerdict, Point, RatioPoint, Series,
        VerdictPhase, WeightPoint,
    };

    #[test]
    fn input_and_verdict_round_trip_through_the_wit_records() {
        let input = JudgeInput {
            metric: "m".into(),
            now_ms: 5,
            series: vec![Series {
                name: "canary".into(),
                points: vec![Point {
                    time_ms: 1,
                    value: 2.0,
                }],
                ratios: vec![RatioPoint {
                    time_ms: 3,
                    numerator: 4.0,
                    denominator: 5.0,
                }],
                buckets: vec![Bucket {
                    upper_bound: 6.0,
                    count: 7.0,
                }],
            }],
            weights: vec![WeightPoint {
                time_ms: 8,
                canary_weight: 9,
            }],
            args: vec![JudgeArg {
                name: "a".into(),
                value: "b".into(),
            }],
            config: "{}".into(),
            state: Some(vec![1]),
        };
        let w = wit::EvaluationInput::from(input.clone());
        assert_eq!(w.series[0].buckets[0].count, 7.0);
        assert_eq!((w.weights[0].canary_weight, w.args[0].value.as_str()), (9, "b"));
        assert_eq!(JudgeInput::from(w), input);
        for phase in [
            VerdictPhase::Successful,
            VerdictPhase::Failed,
            VerdictPhase::Inconclusive,
            VerdictPhase::Error,
        ] {
            let v = JudgeVerdict::new(phase, "c", "r")
                .with_score(0.5)
                .with_state(vec![2])
                .with_detail(
                    Detail::new("n", "s", 1.0)
                        .with_interval(0.0, 2.0)
                        .with_samples(3, 4)
                        .with_samples_needed(5)
                        .with_extra("k", "v"),
                );
            let w = wit::Verdict::from(v.clone());
            assert_eq!(w.details[0].samples_needed, Some(5));
            assert_eq!(JudgeVerdict::from(w), v);
        }
        let info = JudgeInfo::new("n", "1");
        assert_eq!(JudgeInfo::from(wit::JudgeInfo::from(info.clone())), info);
    }
}
