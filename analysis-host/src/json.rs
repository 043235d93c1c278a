//! The JSON form of inputs and verdicts, used by `rollout judge run` and conformance fixtures:
//! the one JSON spelling of `judge_types` (WIT field names, kebab-case, state in base64; see the
//! `judge_types` crate docs and `plugins/REFERENCE-JUDGE.md`).

use rollout_core::analysis::judge as core;

use crate::HostError;
use crate::host::Evaluation;

/// Parses the JSON form of an evaluation input (only `metric` is required; unknown fields are
/// errors).
pub fn parse_input(text: &str) -> Result<core::JudgeInput, HostError> {
    serde_json::from_str(text).map_err(|e| HostError::InputJson(e.to_string()))
}

/// The WIT name of a phase.
pub fn phase_name(p: core::VerdictPhase) -> &'static str {
    p.as_str()
}

/// The JSON form of a verdict (field order as in the WIT).
pub fn verdict_to_json(v: &core::JudgeVerdict) -> serde_json::Value {
    serde_json::to_value(v).unwrap_or(serde_json::Value::Null)
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
