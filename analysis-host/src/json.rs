//! The JSON form of inputs and verdicts (WIT field names, kebab-case), used by
//! `rollout judge run` and conformance fixtures; see `plugins/REFERENCE-JUDGE.md`.

use rollout_core::analysis::judge as core;
use serde::{Deserialize, Serialize};

use crate::HostError;
use crate::host::Evaluation;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct InputJson {
    metric: String,
    #[serde(default)]
    now_ms: i64,
    #[serde(default)]
    series: Vec<SeriesJson>,
    #[serde(default)]
    weights: Vec<WeightJson>,
    #[serde(default)]
    args: Vec<ArgJson>,
    #[serde(default)]
    config: String,
    #[serde(default)]
    state: Option<Vec<u8>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct SeriesJson {
    name: String,
    #[serde(default)]
    points: Vec<PointJson>,
    #[serde(default)]
    ratios: Vec<RatioJson>,
    #[serde(default)]
    buckets: Vec<BucketJson>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct PointJson {
    time_ms: i64,
    value: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RatioJson {
    #[serde(default)]
    time_ms: i64,
    numerator: f64,
    denominator: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct BucketJson {
    upper_bound: f64,
    count: f64,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct WeightJson {
    time_ms: i64,
    canary_weight: u32,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ArgJson {
    name: String,
    value: String,
}

/// Parses the JSON form of an evaluation input.
pub fn parse_input(text: &str) -> Result<core::JudgeInput, HostError> {
    let j: InputJson = serde_json::from_str(text).map_err(|e| HostError::InputJson(e.to_string()))?;
    Ok(core::JudgeInput {
        metric: j.metric,
        now_ms: j.now_ms,
        series: j
            .series
            .into_iter()
            .map(|s| core::Series {
                name: s.name,
                points: s
                    .points
                    .into_iter()
                    .map(|p| core::Point {
                        time_ms: p.time_ms,
                        value: p.value,
                    })
                    .collect(),
                ratios: s
                    .ratios
                    .into_iter()
                    .map(|r| core::RatioPoint {
                        time_ms: r.time_ms,
                        numerator: r.numerator,
                        denominator: r.denominator,
                    })
                    .collect(),
                buckets: s
                    .buckets
                    .into_iter()
                    .map(|b| core::Bucket {
                        upper_bound: b.upper_bound,
                        count: b.count,
                    })
                    .collect(),
            })
            .collect(),
        weights: j
            .weights
            .into_iter()
            .map(|w| core::WeightPoint {
                time_ms: w.time_ms,
                canary_weight: w.canary_weight,
            })
            .collect(),
        args: j
            .args
            .into_iter()
            .map(|a| core::JudgeArg {
                name: a.name,
                value: a.value,
            })
            .collect(),
        config: j.config,
        state: j.state,
    })
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct DetailJson<'a> {
    name: &'a str,
    statistic: &'a str,
    value: f64,
    effect: Option<f64>,
    interval: Option<(f64, f64)>,
    samples: (u64, u64),
    samples_needed: Option<u64>,
    extra: &'a [(String, String)],
}

#[derive(Serialize)]
#[serde(rename_all = "kebab-case")]
struct VerdictJson<'a> {
    phase: &'static str,
    code: &'a str,
    score: Option<f64>,
    reason: &'a str,
    details: Vec<DetailJson<'a>>,
    state: Option<&'a [u8]>,
}

/// The WIT name of a phase.
pub fn phase_name(p: core::VerdictPhase) -> &'static str {
    match p {
        core::VerdictPhase::Successful => "successful",
        core::VerdictPhase::Failed => "failed",
        core::VerdictPhase::Inconclusive => "inconclusive",
        core::VerdictPhase::Error => "error",
    }
}

/// The JSON form of a verdict (field order as in the WIT).
pub fn verdict_to_json(v: &core::JudgeVerdict) -> serde_json::Value {
    let j = VerdictJson {
        phase: phase_name(v.phase),
        code: &v.code,
        score: v.score,
        reason: &v.reason,
        details: v
            .details
            .iter()
            .map(|d| DetailJson {
                name: &d.name,
                statistic: &d.statistic,
                value: d.value,
                effect: d.effect,
                interval: d.interval,
                samples: d.samples,
                samples_needed: d.samples_needed,
                extra: &d.extra,
            })
            .collect(),
        state: v.state.as_deref(),
    };
    serde_json::to_value(j).unwrap_or(serde_json::Value::Null)
}

/// `{"verdict": …}` or `{"error": "<judge's message>"}`, plus `instructions` and
/// `peak-memory-bytes`.
pub fn evaluation_to_json(e: &Evaluation) -> serde_json::Value {
    let mut map = serde_json::Map::new();
    match &e.outcome {
        Ok(v) => map.insert("verdict".into(), verdict_to_json(v)),
        Err(msg) => map.insert("error".into(), serde_json::Value::String(msg.clone())),
    };
    map.insert("instructions".into(), e.instructions.into());
    map.insert("peak-memory-bytes".into(), e.peak_memory_bytes.into());
    serde_json::Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example_with_defaults() {
        let text = r#"{"metric":"error-rate","series":[{"name":"canary","ratios":[{"time-ms":0,"numerator":1,"denominator":100}]}],"args":[{"name":"min-requests","value":"10"}]}"#;
        let input = parse_input(text).map_err(|e| e.to_string());
        let input = input.as_ref().map(|i| {
            (
                i.now_ms,
                i.series[0].ratios[0].denominator,
                i.args[0].value.as_str(),
                i.config.as_str(),
                i.state.is_none(),
            )
        });
        assert_eq!(input, Ok((0, 100.0, "10", "", true)));
    }

    #[test]
    fn rejects_unknown_fields_with_the_name() {
        let err = parse_input(r#"{"metric":"m","seris":[]}"#)
            .map(|_| ())
            .map_err(|e| e.to_string());
        assert!(err.is_err_and(|e| e.contains("unknown field `seris`")));
    }

    #[test]
    fn verdict_json_has_wit_names() {
        let v = core::JudgeVerdict {
            phase: core::VerdictPhase::Inconclusive,
            code: "insufficient-data".into(),
            score: None,
            reason: "r".into(),
            details: vec![core::Detail {
                samples: (1, 2),
                samples_needed: Some(3),
                ..core::Detail::default()
            }],
            state: None,
        };
        let j = verdict_to_json(&v).to_string();
        assert_eq!(
            j,
            r#"{"phase":"inconclusive","code":"insufficient-data","score":null,"reason":"r","details":[{"name":"","statistic":"","value":0.0,"effect":null,"interval":null,"samples":[1,2],"samples-needed":3,"extra":[]}],"state":null}"#
        );
    }
}
