//! Kayenta's per-metric preprocessing and classification (`NetflixACAJudge` `classifyMetric` and
//! `MannWhitneyClassifier`), in the order of reference §1.3–1.4.

use serde::{Deserialize, Serialize};

use super::mannwhitney::mann_whitney;
use crate::special::{SplitMix64, mean, percentile_r7};

/// Direction of a harmful change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Direction {
    /// Only increases are failures.
    Increase,
    /// Only decreases are failures.
    Decrease,
    /// Both.
    #[default]
    Either,
}

/// NaN handling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum NanStrategy {
    /// Drop NaN values (Kayenta's effective default).
    #[default]
    Remove,
    /// Replace NaN with 0.0 (and classify missing data as Pass, as Kayenta does).
    Replace,
}

/// Effect-size measure used by the gates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EffectMeasure {
    /// `mean(canary) / mean(control)`, NaN if either mean is 0.
    #[default]
    MeanRatio,
    /// Common-language effect size `P(X > Y) + ½P(X = Y)`.
    Cles,
}

/// The classification labels of Kayenta.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Label {
    /// No significant difference.
    Pass,
    /// Canary significantly higher.
    High,
    /// Canary significantly lower.
    Low,
    /// No data.
    Nodata,
    /// No data for a `mustHaveData` metric.
    NodataFailMetric,
    /// The statistics could not be computed.
    Error,
}

/// Classifier settings of one metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Settings {
    /// Fraction of |HL| that the interval must clear (`tolerance`).
    pub tolerance: f64,
    /// Confidence level of the interval.
    pub conf_level: f64,
    /// Direction.
    pub direction: Direction,
    /// NaN strategy.
    pub nan_strategy: NanStrategy,
    /// Critical metric.
    pub critical: bool,
    /// `mustHaveData`.
    pub must_have_data: bool,
    /// Effect-size measure.
    pub measure: EffectMeasure,
    /// (allowedDecrease, allowedIncrease).
    pub allowed: (f64, f64),
    /// (criticalDecrease, criticalIncrease).
    pub critical_thresholds: (f64, f64),
    /// Seed of the noise added to two constant samples.
    pub seed: u64,
}

impl Settings {
    /// Kayenta's classifier defaults for a measure at the given tolerance and confidence.
    pub fn new(tolerance: f64, conf_level: f64, measure: EffectMeasure) -> Self {
        let d = default_threshold(measure);
        Self {
            tolerance,
            conf_level,
            direction: Direction::Either,
            nan_strategy: NanStrategy::Remove,
            critical: false,
            must_have_data: false,
            measure,
            allowed: (d, d),
            critical_thresholds: (d, d),
            seed: 0,
        }
    }
}

/// The default effect-size thresholds: 1.0 for the mean ratio, 0.5 for CLES.
pub fn default_threshold(measure: EffectMeasure) -> f64 {
    match measure {
        EffectMeasure::MeanRatio => 1.0,
        EffectMeasure::Cles => 0.5,
    }
}

/// The classification of one metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Classification {
    /// Label.
    pub label: Label,
    /// Reason, if any.
    pub reason: Option<String>,
    /// The mean ratio ("deviation"), 1.0 when not computed.
    pub deviation: f64,
    /// The effect size used by the gates.
    pub effect_size: f64,
    /// Critical failure.
    pub critical: bool,
    /// Interval (lower, upper), when the test ran.
    pub interval: Option<(f64, f64)>,
    /// Hodges-Lehmann estimate, when the test ran.
    pub estimate: Option<f64>,
}

impl Classification {
    fn simple(label: Label, reason: Option<String>, critical: bool) -> Self {
        Self {
            label,
            reason,
            deviation: 1.0,
            effect_size: f64::NAN,
            critical,
            interval: None,
            estimate: None,
        }
    }
}

/// Kayenta's `IQRDetector` on R-7 percentiles: `true` marks an outlier. With
/// `reduce_sensitivity` the fences widen to at least the 1st/99th percentiles.
pub fn iqr_outliers(data: &[f64], factor: f64, reduce_sensitivity: bool) -> Vec<bool> {
    if data.is_empty() {
        return Vec::new();
    }
    let p = |q| percentile_r7(data, q);
    let (p25, p75) = (p(25.0), p(75.0));
    let iqr = p75 - p25;
    let (mut lo, mut hi) = (p25 - factor * iqr, p75 + factor * iqr);
    if reduce_sensitivity {
        lo = p(1.0).min(lo);
        hi = p(99.0).max(hi);
    }
    data.iter().map(|&x| x > hi || x < lo).collect()
}

/// NaN strategy then optional IQR outlier removal (factor, reduced sensitivity).
pub fn transform(values: &[f64], nan: NanStrategy, outlier_factor: Option<f64>) -> Vec<f64> {
    let v: Vec<f64> = match nan {
        NanStrategy::Remove => values.iter().copied().filter(|x| !x.is_nan()).collect(),
        NanStrategy::Replace => values.iter().map(|x| if x.is_nan() { 0.0 } else { *x }).collect(),
    };
    match outlier_factor {
        Some(f) => {
            let out = iqr_outliers(&v, f, true);
            v.iter().zip(out).filter(|(_, o)| !o).map(|(x, _)| *x).collect()
        }
        None => v,
    }
}

/// `mean(x)/mean(y)`, NaN if either mean is zero.
pub fn mean_ratio(experiment: &[f64], control: &[f64]) -> f64 {
    let (mx, my) = (mean(experiment), mean(control));
    if mx == 0.0 || my == 0.0 { f64::NAN } else { mx / my }
}

/// CLES `(2·R₁ − m(m+1)) / (2·m·n)` with average-tie ranks of the experiment in the pooled sample.
pub fn cles(experiment: &[f64], control: &[f64]) -> f64 {
    let (m, n) = (experiment.len() as f64, control.len() as f64);
    let mut pooled: Vec<(f64, bool)> = experiment
        .iter()
        .map(|v| (*v, true))
        .chain(control.iter().map(|v| (*v, false)))
        .collect();
    pooled.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut r1 = 0.0;
    let mut i = 0;
    while i < pooled.len() {
        let v = pooled.get(i).map_or(f64::NAN, |p| p.0);
        let mut j = i;
        while pooled.get(j).is_some_and(|p| p.0 == v) {
            j += 1;
        }
        let avg = (i + 1 + j) as f64 / 2.0;
        r1 += avg * pooled.get(i..j).map_or(0, |g| g.iter().filter(|p| p.1).count()) as f64;
        i = j.max(i + 1);
    }
    (2.0 * r1 - m * (m + 1.0)) / (2.0 * m * n)
}

fn distinct(v: &[f64]) -> usize {
    let mut s: Vec<f64> = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.dedup_by(|a, b| a == b);
    s.len()
}

/// Adds N(0, (value·1e-5)²) noise from the seeded generator (Kayenta uses an unseeded global
/// generator here; we fix the seed so verdicts are reproducible).
fn add_noise(values: &[f64], rng: &mut SplitMix64) -> Vec<f64> {
    let sd = values.first().copied().unwrap_or(0.0) * 1e-5;
    values.iter().map(|v| v + sd * rng.gaussian()).collect()
}

/// Classifies already-transformed data (`experiment` = canary, `control` = baseline).
pub fn classify(name: &str, experiment: &[f64], control: &[f64], s: &Settings) -> Classification {
    if experiment.is_empty() || control.is_empty() {
        return match s.nan_strategy {
            NanStrategy::Remove => {
                let reason = Some(format!("Missing data for {name}"));
                if s.must_have_data && !s.critical {
                    Classification::simple(Label::NodataFailMetric, reason, false)
                } else {
                    Classification::simple(Label::Nodata, reason, s.critical)
                }
            }
            NanStrategy::Replace => Classification::simple(Label::Pass, None, false),
        };
    }
    let mut sx = experiment.to_vec();
    let mut sy = control.to_vec();
    sx.sort_by(f64::total_cmp);
    sy.sort_by(f64::total_cmp);
    if sx == sy {
        return Classification::simple(
            Label::Pass,
            Some("The canary and baseline data are identical".into()),
            false,
        );
    }
    let all: Vec<f64> = experiment.iter().chain(control).copied().collect();
    if distinct(&all) == 1 {
        return Classification::simple(Label::Pass, None, false);
    }
    let (x, y) = if distinct(experiment) == 1 && distinct(control) == 1 {
        let mut rng = SplitMix64::new(s.seed);
        let x = add_noise(experiment, &mut rng);
        (x, add_noise(control, &mut rng))
    } else {
        (experiment.to_vec(), control.to_vec())
    };
    let mw = match mann_whitney(&x, &y, s.conf_level) {
        Ok(r) => r,
        Err(e) => {
            let mut c = Classification::simple(Label::Error, Some(e.to_string()), false);
            c.deviation = mean_ratio(&x, &y);
            return c;
        }
    };
    let deviation = mean_ratio(&x, &y);
    let es = match s.measure {
        EffectMeasure::MeanRatio => deviation,
        EffectMeasure::Cles => cles(&x, &y),
    };
    let bound = s.tolerance * mw.estimate.abs();
    let up = matches!(s.direction, Direction::Increase | Direction::Either);
    let down = matches!(s.direction, Direction::Decrease | Direction::Either);
    let label = if up && mw.lower > bound && (es.is_nan() || es >= s.allowed.1) {
        Label::High
    } else if down && mw.upper < -bound && (es.is_nan() || es <= s.allowed.0) {
        Label::Low
    } else {
        Label::Pass
    };
    let critical = s.critical
        && match label {
            Label::High => es.is_nan() || es >= s.critical_thresholds.1,
            Label::Low => es.is_nan() || es <= s.critical_thresholds.0,
            _ => false,
        };
    let reason = match label {
        Label::High | Label::Low => Some(format!(
            "{name} was classified as {label:?}{}",
            if critical { " (Critical)" } else { "" }
        )),
        _ => None,
    };
    Classification {
        label,
        reason,
        deviation,
        effect_size: es,
        critical,
        interval: Some((mw.lower, mw.upper)),
        estimate: Some(mw.estimate),
    }
}
