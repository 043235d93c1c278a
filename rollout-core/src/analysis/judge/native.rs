//! A native (in-process) judge: compares the canary's error ratio with the stable one.
//! Used by tests and as a reference for judge authors; `rollout-driver` registers it as a judge.

use serde::Deserialize;

use super::{Detail, JudgeError, JudgeInfo, JudgeInput, JudgeVerdict, VerdictPhase};

/// Compares `sum(numerator)/sum(denominator)` of two ratio series.
///
/// Config (JSON, all optional): `{"canary": "canary", "stable": "stable", "maxIncrease": 0.01,
/// "minSamples": 100}`. Fewer than `minSamples` requests in either arm → Inconclusive
/// (`insufficient-data`); canary ratio − stable ratio > `maxIncrease` → Failed (`regression`);
/// otherwise Successful (`no-regression`). The state counts evaluations (little-endian u32).
#[derive(Debug, Clone, Copy, Default)]
pub struct RatioThresholdJudge;

impl RatioThresholdJudge {
    /// The name this judge registers under.
    pub const NAME: &'static str = "ratio-threshold";
    /// The digest native judges register under (there is no component to hash).
    pub const SHA256: &'static str = "0000000000000000000000000000000000000000000000000000000000000001";
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
struct Config {
    canary: String,
    stable: String,
    max_increase: f64,
    min_samples: f64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            canary: "canary".into(),
            stable: "stable".into(),
            max_increase: 0.01,
            min_samples: 100.0,
        }
    }
}

fn totals(input: &JudgeInput, name: &str) -> Result<(f64, f64), JudgeError> {
    let series = input
        .series(name)
        .ok_or_else(|| JudgeError::Rejected(format!("series {name:?} is missing")))?;
    Ok(series
        .ratios
        .iter()
        .fold((0.0, 0.0), |(n, d), r| (n + r.numerator, d + r.denominator)))
}

impl RatioThresholdJudge {
    /// Name, version and config schema.
    pub fn describe(&self) -> JudgeInfo {
        JudgeInfo {
            name: Self::NAME.to_string(),
            version: "0.1.0".to_string(),
            config_schema: r#"{"type":"object","properties":{"canary":{"type":"string"},"stable":{"type":"string"},"maxIncrease":{"type":"number"},"minSamples":{"type":"number"}},"additionalProperties":false}"#.to_string(),
        }
    }

    /// Judges one evaluation (synchronously: the judge does no IO).
    pub fn evaluate(&self, input: JudgeInput) -> Result<JudgeVerdict, JudgeError> {
        let config: Config = match input.config.trim() {
            "" | "null" => Config::default(),
            text => serde_json::from_str(text)
                .map_err(|e| JudgeError::Rejected(format!("invalid config: {e}")))?,
        };
        let evaluations = input
            .state
            .as_deref()
            .and_then(|s| <[u8; 4]>::try_from(s).ok())
            .map(u32::from_le_bytes)
            .unwrap_or(0)
            .saturating_add(1);
        let (cn, cd) = totals(&input, &config.canary)?;
        let (sn, sd) = totals(&input, &config.stable)?;
        let ratio = |n: f64, d: f64| if d > 0.0 { n / d } else { 0.0 };
        let (cr, sr) = (ratio(cn, cd), ratio(sn, sd));
        let diff = cr - sr;
        let detail = Detail {
            name: "error-ratio".into(),
            statistic: "ratio-difference".into(),
            value: diff,
            effect: Some(diff),
            interval: None,
            samples: (cd.max(0.0) as u64, sd.max(0.0) as u64),
            samples_needed: Some((config.min_samples - cd.min(sd)).max(0.0).ceil() as u64),
            extra: vec![("evaluations".into(), evaluations.to_string())],
        };
        let (phase, code, score, reason) = if cd < config.min_samples || sd < config.min_samples {
            (
                VerdictPhase::Inconclusive,
                "insufficient-data",
                None,
                format!(
                    "need {} requests per arm, have canary {cd} and stable {sd}",
                    config.min_samples
                ),
            )
        } else if diff > config.max_increase {
            (
                VerdictPhase::Failed,
                "regression",
                Some(0.0),
                format!(
                    "canary error ratio {cr:.4} exceeds stable {sr:.4} by more than {}",
                    config.max_increase
                ),
            )
        } else {
            (
                VerdictPhase::Successful,
                "no-regression",
                Some(1.0),
                format!("canary error ratio {cr:.4} vs stable {sr:.4}"),
            )
        };
        Ok(JudgeVerdict {
            phase,
            code: code.to_string(),
            score,
            reason,
            details: vec![detail],
            state: Some(evaluations.to_le_bytes().to_vec()),
        })
    }
}
