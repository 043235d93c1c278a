//! Judges: the async contract the WASM host (and native judges) implement, a registry keyed by
//! name + sha256, and the `judge` measurement provider that queries a judge metric's series
//! through the other providers, calls the judge and records its verdict.
//!
//! The data (input, verdict) and the pure steps (assembling series, building the input, turning
//! the verdict into a measurement) are in [`rollout_core::analysis::judge`].

use std::collections::BTreeMap;
use std::sync::Arc;

use async_trait::async_trait;
use rollout_core::analysis::judge::measurement::{latest_buckets, ratio_points, sum_by_time};
use rollout_core::analysis::judge::{
    JUDGE_PROVIDER, JudgeError, JudgeInfo, JudgeInput, JudgeVerdict, Point, RatioThresholdJudge, Series,
    judge_input, verdict_observation,
};
use rollout_core::analysis::{
    JudgeQuery, MeasurementRequest, MetricProvider, Observation, ProviderError, Sample,
};

use crate::providers::{MeasurementProvider, Providers};

/// A judge: a pure function from metric data to a verdict.
#[async_trait]
pub trait Judge: Send + Sync {
    /// Name, version and config schema.
    fn describe(&self) -> JudgeInfo;
    /// Judge one evaluation.
    async fn evaluate(&self, input: JudgeInput) -> Result<JudgeVerdict, JudgeError>;
}

/// Finds judges by name and sha256 (the WASM host loads and caches components behind this).
#[async_trait]
pub trait JudgeRegistry: Send + Sync {
    /// The judge with this name and digest, or [`JudgeError::NotFound`].
    async fn lookup(&self, name: &str, sha256: &str) -> Result<Arc<dyn Judge>, JudgeError>;
}

#[async_trait]
impl Judge for RatioThresholdJudge {
    fn describe(&self) -> JudgeInfo {
        RatioThresholdJudge::describe(self)
    }

    async fn evaluate(&self, input: JudgeInput) -> Result<JudgeVerdict, JudgeError> {
        RatioThresholdJudge::evaluate(self, input)
    }
}

/// An in-memory registry of ready judges (native judges, tests, pre-loaded components).
#[derive(Clone, Default)]
pub struct StaticJudges {
    by_key: BTreeMap<(String, String), Arc<dyn Judge>>,
}

impl std::fmt::Debug for StaticJudges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticJudges")
            .field("keys", &self.by_key.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl StaticJudges {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    /// Register `judge` under `name` (usually `describe().name`) and `sha256` (lower-case hex).
    pub fn insert(&mut self, name: &str, sha256: &str, judge: Arc<dyn Judge>) -> &mut Self {
        self.by_key
            .insert((name.to_string(), sha256.to_ascii_lowercase()), judge);
        self
    }
}

#[async_trait]
impl JudgeRegistry for StaticJudges {
    async fn lookup(&self, name: &str, sha256: &str) -> Result<Arc<dyn Judge>, JudgeError> {
        self.by_key
            .get(&(name.to_string(), sha256.to_ascii_lowercase()))
            .cloned()
            .ok_or_else(|| JudgeError::NotFound {
                name: name.to_string(),
                sha256: sha256.to_string(),
            })
    }
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
                let num = self.fetch(request, num).await?;
                let den = self.fetch(request, den).await?;
                series.ratios = ratio_points(&num, &den);
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
            .map_err(ProviderError::Judge)?;
        let mut series = Vec::with_capacity(spec.queries.len());
        for (name, query) in &spec.queries {
            series.push(self.series(request, name, query).await?);
        }
        let verdict = judge
            .evaluate(judge_input(request, spec, series))
            .await
            .map_err(ProviderError::Judge)?;
        Ok(verdict_observation(&spec.name, &spec.sha256, verdict))
    }
}
