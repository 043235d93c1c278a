//! Kayenta compatibility mode (`NetflixACAJudge-v1.0`): per-metric Mann-Whitney classification
//! with Kayenta's preprocessing, effect-size gates and critical/muted/mustHaveData handling, then
//! the weighted group score mapped to a phase the way Argo's Kayenta provider does
//! (`≥ pass` → Successful, `≥ marginal` → Inconclusive, else Failed).
//!
//! Deliberate, documented behaviour: where Kayenta adds unseeded noise to two constant samples we
//! use a generator seeded by `seed` (default 0) plus the metric's index, so verdicts are
//! reproducible. Use this mode for migration; it inherits Kayenta's statistical weaknesses
//! (reference §1.7), which the other judges avoid.

pub mod classifier;
pub mod mannwhitney;
pub mod scorer;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, JudgeConfig, check_closed, check_min, check_open};
use crate::data::{Detail, JudgeData, Phase, Verdict, codes};
use crate::special::mean;
use classifier::{Direction, EffectMeasure, NanStrategy, Settings, classify, default_threshold, transform};
use scorer::{ScoreClass, Scored, classify_score, score};

/// Judge name, as Kayenta reports it.
pub const NAME: &str = "NetflixACAJudge-v1.0";

/// Outlier handling of one metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Outliers {
    /// `keep` or `remove`.
    pub strategy: OutlierStrategy,
    /// IQR factor.
    pub outlier_factor: f64,
}

impl Default for Outliers {
    fn default() -> Self {
        Self {
            strategy: OutlierStrategy::Keep,
            outlier_factor: 3.0,
        }
    }
}

/// Outlier strategy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OutlierStrategy {
    /// Keep all values.
    #[default]
    Keep,
    /// Remove IQR outliers (reduced sensitivity).
    Remove,
}

/// Effect-size gates; unset thresholds take Kayenta's defaults for the measure.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct EffectSize {
    /// `meanRatio` or `cles`.
    pub measure: EffectMeasure,
    /// Minimum effect for High.
    pub allowed_increase: Option<f64>,
    /// Maximum effect for Low.
    pub allowed_decrease: Option<f64>,
    /// Minimum effect for a critical High.
    pub critical_increase: Option<f64>,
    /// Maximum effect for a critical Low.
    pub critical_decrease: Option<f64>,
}

/// One metric (Kayenta's `analysisConfigurations.canary.*` plus the series names).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct MetricConfig {
    /// Metric name (defaults to the analysis metric's name).
    pub name: String,
    /// Experiment series.
    pub canary: String,
    /// Control series (`baseline` is accepted when `stable` is absent).
    pub control: String,
    /// Groups for scoring.
    pub groups: Vec<String>,
    /// Direction.
    pub direction: Direction,
    /// NaN strategy.
    pub nan_strategy: NanStrategy,
    /// Outliers.
    pub outliers: Outliers,
    /// Critical.
    pub critical: bool,
    /// `mustHaveData`.
    pub must_have_data: bool,
    /// Muted (report-only).
    pub muted: bool,
    /// Effect-size gates.
    pub effect_size: EffectSize,
    /// Baseline-health guard (not in Kayenta): the metric's service-level bounds. When the
    /// control's median violates them, the environment is unhealthy and the verdict is
    /// Inconclusive `environment-unhealthy`, whatever the comparison says.
    pub slo: Option<Slo>,
}

/// Service-level bounds of a metric, for the baseline-health guard.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Slo {
    /// The control's median must be at most this.
    pub max: Option<f64>,
    /// The control's median must be at least this.
    pub min: Option<f64>,
}

impl Slo {
    /// Why `control` violates these bounds, if it does (its median is compared: robust to the
    /// odd spike, and a whole window of bad values is what "already failing" means).
    pub fn violation(&self, control: &[f64]) -> Option<String> {
        let mut v: Vec<f64> = control.iter().copied().filter(|x| !x.is_nan()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let upper = *v.get(n / 2)?;
        let median = if n % 2 == 1 {
            upper
        } else {
            (v.get(n / 2 - 1).copied().unwrap_or(upper) + upper) / 2.0
        };
        let m = crate::explain::number(median);
        match (self.max, self.min) {
            (Some(max), _) if median > max => {
                Some(format!("control median {m} > {}", crate::explain::number(max)))
            }
            (_, Some(min)) if median < min => {
                Some(format!("control median {m} < {}", crate::explain::number(min)))
            }
            _ => None,
        }
    }
}

impl Default for MetricConfig {
    fn default() -> Self {
        Self {
            name: String::new(),
            canary: "canary".into(),
            control: "stable".into(),
            groups: Vec::new(),
            direction: Direction::Either,
            nan_strategy: NanStrategy::Remove,
            outliers: Outliers::default(),
            critical: false,
            must_have_data: false,
            muted: false,
            effect_size: EffectSize::default(),
            slo: None,
        }
    }
}

/// Score thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Thresholds {
    /// Pass score.
    pub pass: f64,
    /// Marginal score.
    pub marginal: f64,
}

impl Default for Thresholds {
    fn default() -> Self {
        Self {
            pass: 75.0,
            marginal: 50.0,
        }
    }
}

/// Configuration (JSON, camelCase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Config {
    /// Metrics; empty means one default metric named after the analysis metric.
    pub metrics: Vec<MetricConfig>,
    /// Group weights (meant to total 100; not normalized, like Kayenta).
    pub group_weights: BTreeMap<String, f64>,
    /// Score thresholds.
    pub score_thresholds: Thresholds,
    /// Interval tolerance (Kayenta hard-codes 0.25).
    pub tolerance: f64,
    /// Confidence level (Kayenta hard-codes 0.98).
    pub conf_level: f64,
    /// Seed of the noise for constant samples.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            metrics: Vec::new(),
            group_weights: BTreeMap::new(),
            score_thresholds: Thresholds::default(),
            tolerance: 0.25,
            conf_level: 0.98,
            seed: 0,
        }
    }
}

impl JudgeConfig for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        check_open("confLevel", self.conf_level, 0.0, 1.0)?;
        check_min("tolerance", self.tolerance, 0.0)?;
        let t = self.score_thresholds;
        check_closed("scoreThresholds.pass", t.pass, 0.0, 100.0)?;
        check_closed("scoreThresholds.marginal", t.marginal, 0.0, 100.0)?;
        if t.marginal > t.pass {
            return Err(ConfigError::Invalid {
                field: "scoreThresholds.marginal",
                problem: format!("must be at most pass ({}), got {}", t.pass, t.marginal),
            });
        }
        let invalid = |field, problem| Err(ConfigError::Invalid { field, problem });
        let groups: Vec<&str> = if self.metrics.is_empty() {
            vec!["default"]
        } else {
            self.metrics.iter().flat_map(MetricConfig::groups).collect()
        };
        for (group, weight) in &self.group_weights {
            if !(0.0..=100.0).contains(weight) {
                return invalid(
                    "groupWeights",
                    format!("{group:?} must be a weight in [0, 100], got {weight}"),
                );
            }
            if !groups.contains(&group.as_str()) {
                return invalid(
                    "groupWeights",
                    format!(
                        "{group:?} is not a group of any metric (groups: {})",
                        groups.join(", ")
                    ),
                );
            }
        }
        let total: f64 = self.group_weights.values().sum();
        if total > 100.0 {
            return invalid(
                "groupWeights",
                format!("the weights total {total}; they must total at most 100"),
            );
        }
        self.metrics.iter().try_for_each(MetricConfig::validate)
    }
}

impl MetricConfig {
    /// The scoring groups of this metric (`default` when none is named).
    fn groups(&self) -> Vec<&str> {
        if self.groups.is_empty() {
            vec!["default"]
        } else {
            self.groups.iter().map(String::as_str).collect()
        }
    }

    fn validate(&self) -> Result<(), ConfigError> {
        if self.outliers.strategy == OutlierStrategy::Remove {
            check_open(
                "metrics[].outliers.outlierFactor",
                self.outliers.outlier_factor,
                0.0,
                f64::INFINITY,
            )?;
        }
        let e = &self.effect_size;
        let gates = [
            ("metrics[].effectSize.allowedIncrease", e.allowed_increase),
            ("metrics[].effectSize.allowedDecrease", e.allowed_decrease),
            ("metrics[].effectSize.criticalIncrease", e.critical_increase),
            ("metrics[].effectSize.criticalDecrease", e.critical_decrease),
        ];
        for (field, gate) in gates {
            if let Some(g) = gate {
                match e.measure {
                    EffectMeasure::MeanRatio => check_min(field, g, 0.0)?,
                    EffectMeasure::Cles => check_closed(field, g, 0.0, 1.0)?,
                }
            }
        }
        if let Some(Slo {
            max: Some(max),
            min: Some(min),
        }) = self.slo
            && min > max
        {
            return Err(ConfigError::Invalid {
                field: "metrics[].slo.min",
                problem: format!("must be at most max ({max}), got {min}"),
            });
        }
        Ok(())
    }
}

/// Stateless apart from counting evaluations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Evaluations so far.
    pub looks: u64,
}

fn stats(v: &[f64]) -> String {
    if v.is_empty() {
        return "count=0".into();
    }
    let m = mean(v);
    let sd = (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt();
    let (lo, hi) = v.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(a, b), x| {
        (a.min(*x), b.max(*x))
    });
    let [lo, hi, m, sd] = [lo, hi, m, sd].map(|x| crate::data::ExtraValue::render(&x));
    format!("min={lo} max={hi} mean={m} std={sd} count={}", v.len())
}

/// Judges one evaluation.
pub fn judge(input: &JudgeData, config: &Config, state: Option<State>) -> (Verdict, State) {
    let st = State {
        looks: state.unwrap_or_default().looks + 1,
    };
    if let Some(v) = crate::data::reject(input, config) {
        return (v, st);
    }
    let default_metric = [MetricConfig {
        name: input.metric_or("metric"),
        ..MetricConfig::default()
    }];
    let metrics: &[MetricConfig] = if config.metrics.is_empty() {
        &default_metric
    } else {
        &config.metrics
    };
    let mut scored = Vec::new();
    let mut details = Vec::new();
    let mut any_data = false;
    let mut unhealthy: Vec<String> = Vec::new();
    for (i, m) in metrics.iter().enumerate() {
        let values = |name: &str| -> Vec<f64> {
            crate::error_ratio::stable_series(input, name)
                .map(|s| s.points.iter().map(|p| p.value).collect())
                .unwrap_or_default()
        };
        let (raw_x, raw_y) = (values(&m.canary), values(&m.control));
        any_data |= raw_x.iter().chain(&raw_y).any(|v| !v.is_nan());
        let factor = (m.outliers.strategy == OutlierStrategy::Remove).then_some(m.outliers.outlier_factor);
        let x = transform(&raw_x, m.nan_strategy, factor);
        let y = transform(&raw_y, m.nan_strategy, factor);
        let measure = m.effect_size.measure;
        let d = default_threshold(measure);
        let e = &m.effect_size;
        let s = Settings {
            direction: m.direction,
            nan_strategy: m.nan_strategy,
            critical: m.critical,
            must_have_data: m.must_have_data,
            allowed: (e.allowed_decrease.unwrap_or(d), e.allowed_increase.unwrap_or(d)),
            critical_thresholds: (e.critical_decrease.unwrap_or(d), e.critical_increase.unwrap_or(d)),
            seed: config.seed.wrapping_add(i as u64),
            ..Settings::new(config.tolerance, config.conf_level, measure)
        };
        let name = if m.name.is_empty() {
            input.metric_or("metric")
        } else {
            m.name.clone()
        };
        let c = classify(&name, &x, &y, &s);
        // Without an estimate (no data, or the statistics failed) the value is 0 and the
        // classification says why; NaN never reaches a detail.
        let mut det = Detail::new(
            &name,
            "hodges-lehmann",
            c.estimate.filter(|x| !x.is_nan()).unwrap_or(0.0),
        );
        det.effect = Some(c.deviation).filter(|x| !x.is_nan());
        det.interval = c.interval.filter(|(lo, hi)| !lo.is_nan() && !hi.is_nan());
        det.samples = (x.len() as u64, y.len() as u64);
        det = det
            .with("classification", format!("{:?}", c.label))
            .with("critical", c.critical)
            .with("muted", m.muted)
            .with("effect-size", c.effect_size)
            .with("experiment", stats(&x))
            .with("control", stats(&y));
        if let Some(r) = &c.reason {
            det = det.with("reason", r);
        }
        if let Some(why) = m.slo.and_then(|slo| slo.violation(&y)).filter(|_| !m.muted) {
            det = det.with("environment-unhealthy", why.clone());
            unhealthy.push(format!("{name}: {why}"));
        }
        if y.len() < 50 {
            det = det.with(
                "warning",
                "fewer than 50 control data points can reduce confidence",
            );
        }
        details.push(det);
        let groups = if m.groups.is_empty() {
            vec!["default".to_string()]
        } else {
            m.groups.clone()
        };
        scored.push(Scored {
            label: c.label,
            critical: c.critical,
            muted: m.muted,
            groups,
            reason: c.reason,
        });
    }
    if !any_data {
        let v = Verdict {
            details,
            ..Verdict::new(
                Phase::Inconclusive,
                codes::NO_DATA,
                "no data in any metric series (no data is never a pass)",
            )
        };
        return (v, st);
    }
    if !unhealthy.is_empty() {
        let reason = format!(
            "the control itself violates the SLO ({}); the environment is unhealthy, so the canary is \
             neither blamed nor promoted",
            unhealthy.join("; ")
        );
        let v = Verdict {
            details,
            ..Verdict::new(Phase::Inconclusive, codes::ENVIRONMENT_UNHEALTHY, reason)
        };
        return (v, st);
    }
    let sc = score(&scored, &config.group_weights);
    let class = classify_score(
        sc.summary,
        config.score_thresholds.pass,
        config.score_thresholds.marginal,
    );
    let (phase, code) = match class {
        ScoreClass::Pass => (Phase::Successful, codes::KAYENTA_PASS),
        ScoreClass::Marginal => (Phase::Inconclusive, codes::KAYENTA_MARGINAL),
        ScoreClass::Fail => (Phase::Failed, codes::KAYENTA_FAIL),
    };
    let reason = sc.reason.clone().unwrap_or_else(|| {
        format!(
            "score {:.2} ({class:?}; pass {}, marginal {})",
            sc.summary, config.score_thresholds.pass, config.score_thresholds.marginal
        )
    });
    let mut v = Verdict::new(phase, code, reason);
    v.score = Some(sc.summary / 100.0);
    v.details = details;
    (v, st)
}
