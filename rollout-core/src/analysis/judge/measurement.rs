//! The pure half of the `judge` measurement provider: series assembled from range-query samples,
//! the judge's input built from a measurement request, and the verdict recorded in the
//! measurement (value = score or code, message = reason, metadata = name/digest/code/score/
//! details, and the judge's state in the measurement's own `judgeState` field, base64).
//! The async half (querying, calling the judge) is `rollout_driver::JudgeProvider`.

use std::collections::BTreeMap;

use super::{Bucket, JudgeArg, JudgeInput, JudgeVerdict, RatioPoint, Series};
use crate::analysis::provider::{MeasurementRequest, Observation, Sample};
use crate::analysis::types::{JudgeMetric, Measurement};

/// Keys the judge provider writes into `measurement.metadata`.
pub mod metadata_keys {
    /// Judge name.
    pub const NAME: &str = "judge.name";
    /// Judge sha256.
    pub const SHA256: &str = "judge.sha256";
    /// Verdict code.
    pub const CODE: &str = "judge.code";
    /// Verdict score, if any.
    pub const SCORE: &str = "judge.score";
    /// Verdict details as a JSON array (the JSON form of `judge_types`: WIT names, kebab-case).
    pub const DETAILS: &str = "judge.details";
    /// Judge state for the next evaluation, lower-case hex: written by earlier versions, still
    /// read when a measurement has no `judgeState` (see [`Measurement::judge_state`]).
    pub const STATE: &str = "judge.state";
}

/// Ratio points from numerator and denominator samples: both summed per timestamp, paired on the
/// timestamps present in both.
pub fn ratio_points(numerator: &[Sample], denominator: &[Sample]) -> Vec<RatioPoint> {
    let den: BTreeMap<i64, f64> = sum_by_time(denominator).into_iter().collect();
    sum_by_time(numerator)
        .into_iter()
        .filter_map(|(time_ms, numerator)| {
            den.get(&time_ms).map(|&denominator| RatioPoint {
                time_ms,
                numerator,
                denominator,
            })
        })
        .collect()
}

/// The judge state a measurement recorded: its `judgeState`, or for a measurement written by an
/// earlier version, the hex under [`metadata_keys::STATE`].
pub fn recorded_state(m: &Measurement) -> Option<Vec<u8>> {
    m.judge_state
        .clone()
        .or_else(|| m.metadata.get(metadata_keys::STATE).and_then(|hex| from_hex(hex)))
}

/// The judge's input for `request`: the metric's `series` (in `spec.queries` order), the weight
/// timeline, the substituted args, the config, and the state the previous measurement recorded
/// ([`recorded_state`]).
pub fn judge_input(request: &MeasurementRequest, spec: &JudgeMetric, series: Vec<Series>) -> JudgeInput {
    let state = request.previous.as_ref().and_then(recorded_state);
    JudgeInput {
        metric: request.metric.name.clone(),
        now_ms: request.now.as_millisecond(),
        series,
        weights: request.weights.clone(),
        args: request
            .args
            .iter()
            .map(|a| JudgeArg {
                name: a.name.clone(),
                value: a.value.clone().unwrap_or_default(),
            })
            .collect(),
        config: spec.config.to_string(),
        state,
    }
}

/// Sums samples of all label sets per timestamp, in time order.
pub fn sum_by_time(samples: &[Sample]) -> Vec<(i64, f64)> {
    let mut by_time: BTreeMap<i64, f64> = BTreeMap::new();
    for s in samples {
        *by_time.entry(s.time_ms).or_insert(0.0) += s.value;
    }
    by_time.into_iter().collect()
}

/// Histogram buckets from bucket samples: the latest cumulative count per `le` bound, sorted by
/// bound.
pub fn latest_buckets(samples: &[Sample]) -> Result<Vec<Bucket>, String> {
    let mut latest: BTreeMap<String, (i64, f64)> = BTreeMap::new();
    for s in samples {
        let le = s
            .labels
            .get("le")
            .ok_or_else(|| "bucket samples need an `le` label".to_string())?;
        let entry = latest.entry(le.clone()).or_insert((s.time_ms, 0.0));
        if s.time_ms >= entry.0 {
            *entry = (s.time_ms, s.value);
        }
    }
    let mut buckets = latest
        .into_iter()
        .map(|(le, (_, count))| {
            let upper_bound = match le.as_str() {
                "+Inf" | "Inf" | "inf" => f64::INFINITY,
                other => other
                    .parse::<f64>()
                    .map_err(|_| format!("bucket bound {other:?} is not a number"))?,
            };
            Ok(Bucket { upper_bound, count })
        })
        .collect::<Result<Vec<_>, String>>()?;
    buckets.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    Ok(buckets)
}

/// Lower-case hex of `bytes`.
pub fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of a lower-case or upper-case hex string.
pub fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// A judge's verdict on its way into a measurement ([`Observation::Judged`]).
#[derive(Debug, Clone, PartialEq)]
pub struct JudgedMeasurement {
    /// Judge name from the metric.
    pub name: String,
    /// Judge sha256 from the metric.
    pub sha256: String,
    /// What the judge answered.
    pub verdict: JudgeVerdict,
}

/// The observation a verdict becomes ([`Observation::Judged`]); [`record_verdict`] writes it into
/// the measurement.
pub fn verdict_observation(name: &str, sha256: &str, verdict: JudgeVerdict) -> Observation {
    Observation::Judged(Box::new(JudgedMeasurement {
        name: name.to_string(),
        sha256: sha256.to_string(),
        verdict,
    }))
}

/// Records a verdict in `m`: phase, value = score (or code), message = reason, metadata = name,
/// digest, code, score and details (JSON), and the state in [`Measurement::judge_state`].
pub fn record_verdict(m: &mut Measurement, judged: JudgedMeasurement) {
    let JudgedMeasurement {
        name,
        sha256,
        verdict,
    } = judged;
    let metadata = &mut m.metadata;
    metadata.insert(metadata_keys::NAME.to_string(), name);
    metadata.insert(metadata_keys::SHA256.to_string(), sha256);
    metadata.insert(metadata_keys::CODE.to_string(), verdict.code.clone());
    if let Some(score) = verdict.score {
        metadata.insert(metadata_keys::SCORE.to_string(), score.to_string());
    }
    if !verdict.details.is_empty() {
        let details = serde_json::to_string(&verdict.details).unwrap_or_default();
        metadata.insert(metadata_keys::DETAILS.to_string(), details);
    }
    metadata.remove(metadata_keys::STATE);
    m.value = match verdict.score {
        Some(score) => score.to_string(),
        None => verdict.code,
    };
    m.phase = verdict.phase.into();
    m.message = verdict.reason;
    m.judge_state = verdict.state;
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analysis::AnalysisPhase;
    use crate::analysis::judge::{Detail, VerdictPhase};

    #[test]
    fn verdict_is_recorded_with_state_in_its_own_field() {
        let verdict = JudgeVerdict::failed("regression", "worse")
            .with_score(0.25)
            .with_state(vec![1, 0, 0, 0])
            .with_detail(Detail::new("error-ratio", "e-value", 30.0).with_samples_needed(4));
        let Observation::Judged(judged) = verdict_observation("er", "abc", verdict) else {
            panic!("a verdict is a judged observation")
        };
        let mut m = Measurement::default();
        m.metadata.insert(metadata_keys::STATE.into(), "ff".into());
        record_verdict(&mut m, *judged);
        assert_eq!(
            (m.phase, m.value.as_str(), m.message.as_str()),
            (AnalysisPhase::Failed, "0.25", "worse")
        );
        assert_eq!(m.judge_state, Some(vec![1, 0, 0, 0]));
        assert_eq!(m.metadata.get(metadata_keys::STATE), None);
        assert_eq!(m.metadata[metadata_keys::CODE], "regression");
        let details: serde_json::Value = serde_json::from_str(&m.metadata[metadata_keys::DETAILS]).unwrap();
        assert_eq!(details[0]["samples-needed"], 4);
        let json = serde_json::to_value(&m).unwrap();
        assert_eq!(json["judgeState"], "AQAAAA==");
        assert_eq!(serde_json::from_value::<Measurement>(json).unwrap(), m);
        assert_eq!(recorded_state(&m), Some(vec![1, 0, 0, 0]));
        let unscored = JudgeVerdict::new(VerdictPhase::Inconclusive, "no-data", "");
        let Observation::Judged(judged) = verdict_observation("er", "abc", unscored) else {
            panic!("a verdict is a judged observation")
        };
        let mut m = Measurement::default();
        record_verdict(&mut m, *judged);
        assert_eq!((m.value.as_str(), m.judge_state.clone()), ("no-data", None));
    }

    #[test]
    fn state_written_by_the_previous_version_is_still_read() {
        let mut old = Measurement::default();
        old.metadata
            .insert(metadata_keys::STATE.into(), "02000000".into());
        assert_eq!(recorded_state(&old), Some(vec![2, 0, 0, 0]));
        old.judge_state = Some(vec![3]);
        assert_eq!(recorded_state(&old), Some(vec![3]));
    }

    #[test]
    fn hex_round_trip() {
        let bytes = vec![0u8, 1, 0xab, 0xff];
        assert_eq!(to_hex(&bytes), "0001abff");
        assert_eq!(from_hex("0001abff"), Some(bytes));
        assert_eq!(from_hex("abc"), None);
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn buckets_take_latest_per_bound_sorted() {
        let s = |le: &str, t: i64, v: f64| Sample {
            labels: [("le".to_string(), le.to_string())].into_iter().collect(),
            time_ms: t,
            value: v,
        };
        let got = latest_buckets(&[s("+Inf", 1, 5.0), s("0.1", 1, 2.0), s("0.1", 2, 3.0)]).unwrap();
        assert_eq!(
            got,
            vec![
                Bucket {
                    upper_bound: 0.1,
                    count: 3.0
                },
                Bucket {
                    upper_bound: f64::INFINITY,
                    count: 5.0
                }
            ]
        );
    }
}
