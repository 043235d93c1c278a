//! [`JudgeProvider`]: the `judge` measurement provider. It queries the series a judge metric names
//! through the other providers' range queries, calls the judge, and records the verdict in the
//! measurement (value = score or code, message = reason, metadata = code/score/details/state).

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::{
    Bucket, JUDGE_PROVIDER, JudgeArg, JudgeInput, JudgeRegistry, JudgeVerdict, Point, RatioPoint, Series,
};
use crate::analysis::provider::{
    MeasurementProvider, MeasurementRequest, Observation, ProviderError, Providers, Sample,
};
use crate::analysis::types::{JudgeQuery, MetricProvider};

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
    /// Verdict details as a JSON array.
    pub const DETAILS: &str = "judge.details";
    /// Judge state for the next evaluation, lower-case hex.
    pub const STATE: &str = "judge.state";
}

/// The `judge` provider: series come from `sources` (by provider name), verdicts from `judges`.
#[derive(Clone)]
pub struct JudgeProvider {
    judges: Arc<dyn JudgeRegistry>,
    sources: Providers,
}

impl std::fmt::Debug for JudgeProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JudgeProvider")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl JudgeProvider {
    /// A judge provider that looks judges up in `judges` and queries series with `sources`.
    pub fn new(judges: Arc<dyn JudgeRegistry>, sources: Providers) -> Self {
        JudgeProvider { judges, sources }
    }

    async fn fetch(
        &self,
        request: &MeasurementRequest,
        provider: &MetricProvider,
    ) -> Result<Vec<Sample>, ProviderError> {
        self.sources
            .for_provider(provider)?
            .query_range(request, provider)
            .await
    }

    async fn series(
        &self,
        request: &MeasurementRequest,
        name: &str,
        query: &JudgeQuery,
    ) -> Result<Series, ProviderError> {
        let invalid = |message: String| ProviderError::InvalidConfig {
            provider: JUDGE_PROVIDER.to_string(),
            message: format!("queries.{name}: {message}"),
        };
        let mut series = Series {
            name: name.to_string(),
            ..Series::default()
        };
        match (
            &query.points,
            &query.numerator,
            &query.denominator,
            &query.buckets,
        ) {
            (Some(points), None, None, None) => {
                series.points = sum_by_time(&self.fetch(request, points).await?)
                    .into_iter()
                    .map(|(time_ms, value)| Point { time_ms, value })
                    .collect();
            }
            (None, Some(num), Some(den), None) => {
                let num = sum_by_time(&self.fetch(request, num).await?);
                let den: BTreeMap<i64, f64> = sum_by_time(&self.fetch(request, den).await?)
                    .into_iter()
                    .collect();
                series.ratios = num
                    .into_iter()
                    .filter_map(|(time_ms, numerator)| {
                        den.get(&time_ms).map(|&denominator| RatioPoint {
                            time_ms,
                            numerator,
                            denominator,
                        })
                    })
                    .collect();
            }
            (None, None, None, Some(buckets)) => {
                series.buckets = latest_buckets(&self.fetch(request, buckets).await?).map_err(invalid)?;
            }
            _ => {
                return Err(invalid(
                    "set exactly one of `points`, `numerator` + `denominator`, or `buckets`".to_string(),
                ));
            }
        }
        Ok(series)
    }
}

/// Sums samples of all label sets per timestamp, in time order.
fn sum_by_time(samples: &[Sample]) -> Vec<(i64, f64)> {
    let mut by_time: BTreeMap<i64, f64> = BTreeMap::new();
    for s in samples {
        *by_time.entry(s.time_ms).or_insert(0.0) += s.value;
    }
    by_time.into_iter().collect()
}

/// The latest cumulative count per `le` bound, sorted by bound.
fn latest_buckets(samples: &[Sample]) -> Result<Vec<Bucket>, String> {
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
pub(crate) fn to_hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes of a lower-case or upper-case hex string.
pub(crate) fn from_hex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| text.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

fn verdict_observation(name: &str, sha256: &str, verdict: JudgeVerdict) -> Observation {
    let mut metadata = BTreeMap::new();
    metadata.insert(metadata_keys::NAME.to_string(), name.to_string());
    metadata.insert(metadata_keys::SHA256.to_string(), sha256.to_string());
    metadata.insert(metadata_keys::CODE.to_string(), verdict.code.clone());
    if let Some(score) = verdict.score {
        metadata.insert(metadata_keys::SCORE.to_string(), score.to_string());
    }
    if !verdict.details.is_empty() {
        let details = serde_json::to_string(&verdict.details).unwrap_or_default();
        metadata.insert(metadata_keys::DETAILS.to_string(), details);
    }
    if let Some(state) = &verdict.state {
        metadata.insert(metadata_keys::STATE.to_string(), to_hex(state));
    }
    let value = match verdict.score {
        Some(score) => score.to_string(),
        None => verdict.code.clone(),
    };
    Observation::Decided {
        phase: verdict.phase.into(),
        value,
        message: verdict.reason,
        metadata,
    }
}

#[async_trait]
impl MeasurementProvider for JudgeProvider {
    fn name(&self) -> &str {
        JUDGE_PROVIDER
    }

    async fn measure(&self, request: &MeasurementRequest) -> Result<Observation, ProviderError> {
        let spec = request
            .metric
            .provider
            .judge
            .as_deref()
            .ok_or_else(|| ProviderError::InvalidConfig {
                provider: JUDGE_PROVIDER.to_string(),
                message: format!("metric {:?} has no judge provider", request.metric.name),
            })?;
        let judge = self
            .judges
            .lookup(&spec.name, &spec.sha256)
            .await
            .map_err(|e| ProviderError::Failed(e.to_string()))?;
        let mut series = Vec::with_capacity(spec.queries.len());
        for (name, query) in &spec.queries {
            series.push(self.series(request, name, query).await?);
        }
        let state = request
            .previous
            .as_ref()
            .and_then(|m| m.metadata.get(metadata_keys::STATE))
            .and_then(|hex| from_hex(hex));
        let input = JudgeInput {
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
        };
        let verdict = judge
            .evaluate(input)
            .await
            .map_err(|e| ProviderError::Failed(e.to_string()))?;
        Ok(verdict_observation(&spec.name, &spec.sha256, verdict))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
