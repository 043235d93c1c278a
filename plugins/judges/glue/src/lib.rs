//! Glue between `analysis-sdk` and `judge-stats` (both on the one set of judge types,
//! `judge_types`): every shipped judge is `judge_glue::evaluate(input, judge_stats::<judge>::judge)`.
//! The statistics live in `judge-stats` (tested natively); this crate only decodes the config and
//! state and encodes the next state.

use analysis_sdk::{Input, JudgeInfo};
use judge_stats::config::{JudgeConfig, decode_state, encode_state, parse_config};
use judge_stats::data as js;
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The judge function shape shared by every judge in `judge-stats`.
pub type JudgeFn<C, S> = fn(&js::JudgeData, &C, Option<S>) -> (js::Verdict, S);

/// The verdict a judge returned, with its score kept in [0, 1] (a score that is not a number is
/// dropped) and the encoded state, if any.
pub fn finish(v: js::Verdict, state: Option<Vec<u8>>) -> analysis_sdk::Verdict {
    analysis_sdk::Verdict {
        score: v.score.filter(|s| s.is_finite()).map(|s| s.clamp(0.0, 1.0)),
        state,
        ..v
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
        return Ok(finish(js::Verdict::invalid(e.to_string()), None));
    }
    let state: Option<S> = decode_state(input.state()).map_err(|e| e.to_string())?;
    let (verdict, next) = judge(input.raw(), &config, state);
    Ok(finish(verdict, Some(encode_state(&next))))
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
