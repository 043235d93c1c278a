//! Glue between the WIT types of `analysis-sdk` and the plain types of `judge-stats`: every shipped
//! judge is `judge_glue::evaluate(input, judge_stats::<judge>::judge)`. The statistics live in
//! `judge-stats` (tested natively); this crate only converts.

use analysis_sdk::{Input, JudgeInfo};
use judge_stats::config::{JudgeConfig, decode_state, encode_state, parse_config};
use judge_stats::data as js;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The judge function shape shared by every judge in `judge-stats`.
pub type JudgeFn<C, S> = fn(&js::JudgeData, &C, Option<S>) -> (js::Verdict, S);

/// Converts the WIT input into `judge-stats`' input.
pub fn to_data(input: &Input) -> js::JudgeData {
    let raw = input.raw();
    js::JudgeData {
        metric: raw.metric.clone(),
        now_ms: raw.now_ms,
        series: raw
            .series
            .iter()
            .map(|s| js::Series {
                name: s.name.clone(),
                points: s
                    .points
                    .iter()
                    .map(|p| js::Point {
                        time_ms: p.time_ms,
                        value: p.value,
                    })
                    .collect(),
                ratios: s
                    .ratios
                    .iter()
                    .map(|r| js::RatioPoint {
                        time_ms: r.time_ms,
                        numerator: r.numerator,
                        denominator: r.denominator,
                    })
                    .collect(),
                buckets: s
                    .buckets
                    .iter()
                    .map(|b| js::Bucket {
                        upper_bound: b.upper_bound,
                        count: b.count,
                    })
                    .collect(),
            })
            .collect(),
        weights: raw
            .weights
            .iter()
            .map(|w| js::WeightPoint {
                time_ms: w.time_ms,
                canary_weight: w.canary_weight,
            })
            .collect(),
        args: raw
            .args
            .iter()
            .map(|a| (a.name.clone(), a.value.clone()))
            .collect(),
    }
}

/// Converts a `judge-stats` verdict and the encoded state, if any, into the WIT verdict.
pub fn to_sdk(v: js::Verdict, state: Option<Vec<u8>>) -> analysis_sdk::Verdict {
    let phase = match v.phase {
        js::Phase::Successful => analysis_sdk::Phase::Successful,
        js::Phase::Failed => analysis_sdk::Phase::Failed,
        js::Phase::Inconclusive => analysis_sdk::Phase::Inconclusive,
        js::Phase::Error => analysis_sdk::Phase::Error,
    };
    analysis_sdk::Verdict {
        phase,
        code: v.code,
        score: v.score.filter(|s| s.is_finite()).map(|s| s.clamp(0.0, 1.0)),
        reason: v.reason,
        details: v
            .details
            .into_iter()
            .map(|d| analysis_sdk::Detail {
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
        state,
    }
}

/// Parses the configuration and state, runs `judge` and converts the result. A configuration or
/// state that does not parse is an `Err`, which the host records as an Error measurement; a
/// configuration that parses but is invalid is an Error verdict (`invalid-input`) saying why,
/// with no state: nothing was judged, so there is nothing to carry on.
pub fn evaluate<C, S>(input: &Input, judge: JudgeFn<C, S>) -> Result<analysis_sdk::Verdict, String>
where
    C: DeserializeOwned + Default + JudgeConfig,
    S: Serialize + DeserializeOwned,
{
    let config: C = parse_config(input.config()).map_err(|e| e.to_string())?;
    if let Err(e) = config.validate() {
        return Ok(to_sdk(js::Verdict::invalid(e.to_string()), None));
    }
    let state: Option<S> = decode_state(input.state()).map_err(|e| e.to_string())?;
    let (verdict, next) = judge(&to_data(input), &config, state);
    Ok(to_sdk(verdict, Some(encode_state(&next))))
}

/// A JSON Schema of the configuration listing its fields with their defaults.
pub fn schema<C: Serialize + Default>(title: &str) -> String {
    let defaults = serde_json::to_value(C::default()).unwrap_or(serde_json::Value::Null);
    let properties: serde_json::Map<String, serde_json::Value> = defaults
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), serde_json::json!({ "default": v })))
                .collect()
        })
        .unwrap_or_default();
    serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": title,
        "type": "object",
        "additionalProperties": false,
        "properties": properties,
    })
    .to_string()
}

/// `JudgeInfo` with the crate version and the schema of `C`.
pub fn info<C: Serialize + Default>(name: &str, version: &str) -> JudgeInfo {
    JudgeInfo::new(name, version).with_config_schema(schema::<C>(name))
}
