//! The threshold judge: absolute and baseline-relative SLO checks in the style of Keptn quality
//! gates (pass and warning criteria, weights, key objectives, total-score bands), with a minimum
//! sample size, an explicit missing-data policy and a baseline-health guard.
//!
//! Criteria are strings `<op><number>` with `op` one of `<`, `<=`, `=`, `>=`, `>`. A number
//! written with an explicit sign or a `%` is relative to the baseline's aggregate: `<=+10%` means
//! "at most 10% above the baseline", `>-5` means "more than the baseline minus 5". Criteria in one
//! list are AND-ed; a list of lists is OR-ed (like Keptn's criteria sets).

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, JudgeConfig, check_closed, check_min};
use crate::data::{Detail, JudgeData, Phase, Series, Verdict, codes};
use crate::guard::MissingData;
use crate::special::{mean, percentile_r7};

/// Judge name.
pub const NAME: &str = "threshold";

/// How a series is reduced to one value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregate {
    /// Mean of the points.
    #[default]
    Mean,
    /// The latest point.
    Last,
    /// Smallest point.
    Min,
    /// Largest point.
    Max,
    /// Sum of the points.
    Sum,
    /// Median.
    P50,
    /// 90th percentile.
    P90,
    /// 95th percentile.
    P95,
    /// 99th percentile.
    P99,
    /// Σ numerators / Σ denominators of the ratio series (e.g. error rate over the window).
    Ratio,
}

/// Criteria: one AND-ed list, or an OR of AND-ed lists.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Criteria {
    /// All must hold.
    All(Vec<String>),
    /// Any of the sets must hold entirely.
    AnyOf(Vec<Vec<String>>),
}

impl Default for Criteria {
    fn default() -> Self {
        Criteria::All(Vec::new())
    }
}

impl Criteria {
    fn sets(&self) -> Vec<Vec<String>> {
        match self {
            Criteria::All(v) if v.is_empty() => Vec::new(),
            Criteria::All(v) => vec![v.clone()],
            Criteria::AnyOf(v) => v.clone(),
        }
    }
}

/// One objective (service-level indicator with its criteria).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Objective {
    /// Name shown in the details.
    pub name: String,
    /// The judged series.
    pub series: String,
    /// Aggregation of the series.
    pub aggregate: Aggregate,
    /// Pass criteria; an objective without them is informational (not scored).
    pub pass: Criteria,
    /// Warning criteria, checked when the pass criteria fail.
    pub warning: Criteria,
    /// Weight in the total score.
    pub weight: f64,
    /// A failing key objective fails the whole evaluation.
    pub key: bool,
    /// Minimum samples (points, or Σ denominators for `ratio`) before judging.
    pub min_samples: f64,
}

impl Default for Objective {
    fn default() -> Self {
        Self {
            name: String::new(),
            series: "canary".into(),
            aggregate: Aggregate::Mean,
            pass: Criteria::default(),
            warning: Criteria::default(),
            weight: 1.0,
            key: false,
            min_samples: 0.0,
        }
    }
}

/// Total-score bands in percent (compared with `>=`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TotalScore {
    /// Pass band.
    pub pass: f64,
    /// Warning band.
    pub warning: f64,
}

impl Default for TotalScore {
    fn default() -> Self {
        Self {
            pass: 90.0,
            warning: 75.0,
        }
    }
}

/// What a warning-level result becomes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OnWarning {
    /// Inconclusive (the rollout pauses for a human).
    #[default]
    Inconclusive,
    /// Successful, with code `warning`.
    Successful,
}

/// Configuration (JSON, camelCase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Config {
    /// The objectives.
    pub objectives: Vec<Objective>,
    /// Baseline series for relative criteria and the health guard.
    pub baseline: String,
    /// Apply the absolute pass criteria to the baseline; if it fails them the environment is
    /// unhealthy and the verdict is Inconclusive.
    pub baseline_guard: bool,
    /// Score bands.
    pub total_score: TotalScore,
    /// Phase of a warning.
    pub on_warning: OnWarning,
    /// What to do without data.
    pub missing_data: MissingData,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            objectives: Vec::new(),
            baseline: "stable".into(),
            baseline_guard: true,
            total_score: TotalScore::default(),
            on_warning: OnWarning::Inconclusive,
            missing_data: MissingData::Inconclusive,
        }
    }
}

impl JudgeConfig for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.objectives.is_empty() {
            return Err(ConfigError::Invalid {
                field: "objectives",
                problem: "must list at least one objective".into(),
            });
        }
        for o in &self.objectives {
            parse_sets(&o.pass)?;
            parse_sets(&o.warning)?;
            check_min("objectives[].weight", o.weight, 0.0)?;
            check_min("objectives[].minSamples", o.min_samples, 0.0)?;
        }
        let t = self.total_score;
        check_closed("totalScore.pass", t.pass, 0.0, 100.0)?;
        check_closed("totalScore.warning", t.warning, 0.0, 100.0)?;
        if t.warning > t.pass {
            return Err(ConfigError::Invalid {
                field: "totalScore.warning",
                problem: format!("must be at most pass ({}), got {}", t.pass, t.warning),
            });
        }
        Ok(())
    }
}

/// The threshold judge is stateless apart from counting evaluations.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Evaluations so far.
    pub looks: u64,
}

/// Comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `<`
    Lt,
    /// `<=`
    Le,
    /// `=`
    Eq,
    /// `>=`
    Ge,
    /// `>`
    Gt,
}

/// A parsed criterion.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Criterion {
    /// Operator.
    pub op: Op,
    /// The number as written.
    pub value: f64,
    /// Relative to the baseline (explicit sign or `%`).
    pub relative: bool,
    /// Written with `%`.
    pub percent: bool,
}

impl Criterion {
    /// Parses `<=+10%`, `<600`, `>=0.99`, `=0`.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        let t = text.trim();
        let (op, rest) = [
            ("<=", Op::Le),
            (">=", Op::Ge),
            ("<", Op::Lt),
            (">", Op::Gt),
            ("=", Op::Eq),
        ]
        .iter()
        .find_map(|(p, op)| t.strip_prefix(p).map(|r| (*op, r.trim())))
        .ok_or_else(|| bad(text, "must start with <, <=, =, >= or >"))?;
        let percent = rest.ends_with('%');
        let num = rest.trim_end_matches('%').trim();
        let relative = percent || num.starts_with('+') || num.starts_with('-');
        let value: f64 = num.parse().map_err(|_| bad(text, "has no valid number"))?;
        if !value.is_finite() {
            return Err(bad(text, "has no finite number"));
        }
        Ok(Self {
            op,
            value,
            relative,
            percent,
        })
    }

    /// The target value given the baseline aggregate (None if relative without a baseline).
    pub fn target(&self, baseline: Option<f64>) -> Option<f64> {
        if !self.relative {
            return Some(self.value);
        }
        let b = baseline.filter(|b| b.is_finite())?;
        Some(if self.percent {
            b * (100.0 + self.value) / 100.0
        } else {
            b + self.value
        })
    }

    /// Whether `x` satisfies the criterion against `target`.
    pub fn holds(&self, x: f64, target: f64) -> bool {
        match self.op {
            Op::Lt => x < target,
            Op::Le => x <= target,
            Op::Eq => x == target,
            Op::Ge => x >= target,
            Op::Gt => x > target,
        }
    }
}

fn bad(text: &str, problem: &str) -> ConfigError {
    ConfigError::Invalid {
        field: "objectives[].pass/warning",
        problem: format!("criterion {text:?} {problem}"),
    }
}

/// The value of a series under `agg` and its sample size; None without data.
pub fn aggregate(series: &Series, agg: Aggregate) -> Option<(f64, f64)> {
    if agg == Aggregate::Ratio {
        let ok: Vec<_> = series
            .ratios
            .iter()
            .filter(|r| r.numerator.is_finite() && r.denominator.is_finite())
            .collect();
        let den: f64 = ok.iter().map(|r| r.denominator).sum();
        let num: f64 = ok.iter().map(|r| r.numerator).sum();
        return (den > 0.0).then_some((num / den, den));
    }
    let mut pts: Vec<_> = series.points.iter().filter(|p| p.value.is_finite()).collect();
    if pts.is_empty() {
        return None;
    }
    pts.sort_by_key(|p| p.time_ms);
    let v: Vec<f64> = pts.iter().map(|p| p.value).collect();
    let x = match agg {
        Aggregate::Mean => mean(&v),
        Aggregate::Last => v.last().copied().unwrap_or(f64::NAN),
        Aggregate::Min => v.iter().copied().fold(f64::INFINITY, f64::min),
        Aggregate::Max => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        Aggregate::Sum => v.iter().sum(),
        Aggregate::P50 => percentile_r7(&v, 50.0),
        Aggregate::P90 => percentile_r7(&v, 90.0),
        Aggregate::P95 => percentile_r7(&v, 95.0),
        Aggregate::P99 => percentile_r7(&v, 99.0),
        Aggregate::Ratio => f64::NAN,
    };
    Some((x, v.len() as f64))
}

/// Outcome of one objective.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Pass,
    Warning,
    Fail,
    Info,
    NoData,
    TooFew,
    Unhealthy,
}

type ParsedSets = Vec<Vec<Criterion>>;

fn parse_sets(c: &Criteria) -> Result<ParsedSets, ConfigError> {
    c.sets()
        .iter()
        .map(|set| set.iter().map(|s| Criterion::parse(s)).collect())
        .collect()
}

/// Some set fully holds (None if a relative target cannot be computed).
fn any_set_holds(sets: &ParsedSets, x: f64, baseline: Option<f64>) -> Option<bool> {
    let mut any = false;
    for set in sets {
        let mut all = true;
        for c in set {
            all &= c.holds(x, c.target(baseline)?);
        }
        any |= all;
    }
    Some(any)
}

/// Judges one evaluation.
pub fn judge(input: &JudgeData, config: &Config, state: Option<State>) -> (Verdict, State) {
    let st = State {
        looks: state.unwrap_or_default().looks + 1,
    };
    if let Some(v) = crate::data::reject(input, config) {
        return (v, st);
    }
    let mut details = Vec::new();
    let mut outcomes = Vec::new();
    for (i, obj) in config.objectives.iter().enumerate() {
        let (pass, warn) = match (parse_sets(&obj.pass), parse_sets(&obj.warning)) {
            (Ok(p), Ok(w)) => (p, w),
            (Err(e), _) | (_, Err(e)) => return (Verdict::invalid(e.to_string()), st),
        };
        let name = if obj.name.is_empty() {
            format!("objective-{i}")
        } else {
            obj.name.clone()
        };
        let canary = input
            .series(&obj.series)
            .and_then(|s| aggregate(s, obj.aggregate));
        let base_series = crate::error_ratio::stable_series(input, &config.baseline);
        let baseline = base_series.and_then(|s| aggregate(s, obj.aggregate));
        // 0 until there is data (the `result` entry says `nodata`): NaN never reaches a detail.
        let mut d = Detail::new(&name, format!("{:?}", obj.aggregate).to_lowercase(), 0.0);
        d.samples = (
            canary.map_or(0, |c| c.1 as u64),
            baseline.map_or(0, |b| b.1 as u64),
        );
        if let Some((b, _)) = baseline {
            d = d.with("baseline", b);
        }
        let outcome = match canary {
            None => Outcome::NoData,
            Some((x, n)) => {
                d.value = x;
                d.effect = baseline.map(|(b, _)| x - b);
                let abs_pass: ParsedSets = pass
                    .iter()
                    .map(|s| s.iter().filter(|c| !c.relative).copied().collect())
                    .collect();
                let guard = config.baseline_guard && abs_pass.iter().any(|s| !s.is_empty());
                let base_bad =
                    guard && baseline.is_some_and(|(b, _)| any_set_holds(&abs_pass, b, None) == Some(false));
                if n < obj.min_samples {
                    d.samples_needed = Some((obj.min_samples - n).ceil() as u64);
                    Outcome::TooFew
                } else if base_bad {
                    Outcome::Unhealthy
                } else if pass.is_empty() {
                    Outcome::Info
                } else {
                    let b = baseline.map(|b| b.0);
                    match (any_set_holds(&pass, x, b), any_set_holds(&warn, x, b)) {
                        (None, _) => Outcome::NoData,
                        (Some(true), _) => Outcome::Pass,
                        (Some(false), Some(true)) if !warn.is_empty() => Outcome::Warning,
                        _ => Outcome::Fail,
                    }
                }
            }
        };
        d = d
            .with("result", format!("{outcome:?}").to_lowercase())
            .with("pass", format!("{:?}", obj.pass.sets()));
        details.push(d);
        outcomes.push((obj, name, outcome));
    }
    let verdict = |phase, code, reason: String, details: Vec<Detail>| Verdict {
        phase,
        code: String::from(code),
        score: None,
        reason,
        details,
        state: None,
    };
    let names = |o: Outcome| {
        outcomes
            .iter()
            .filter(|x| x.2 == o)
            .map(|x| x.1.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    let has = |o: Outcome| outcomes.iter().any(|x| x.2 == o);
    if has(Outcome::Unhealthy) {
        let r = format!(
            "the baseline itself violates the absolute criteria of {}; environment unhealthy, canary neither blamed nor promoted",
            names(Outcome::Unhealthy)
        );
        return (
            verdict(Phase::Inconclusive, codes::ENVIRONMENT_UNHEALTHY, r, details),
            st,
        );
    }
    if has(Outcome::NoData) {
        let v = config.missing_data.verdict(format!(
            "no data for {} (no data is never a pass)",
            names(Outcome::NoData)
        ));
        return (verdict(v.phase, codes::NO_DATA, v.reason, details), st);
    }
    if has(Outcome::TooFew) {
        let r = format!("fewer samples than the minimum for {}", names(Outcome::TooFew));
        return (
            verdict(Phase::Inconclusive, codes::INSUFFICIENT_DATA, r, details),
            st,
        );
    }
    let (mut got, mut max) = (0.0, 0.0);
    for (obj, _, o) in &outcomes {
        if *o != Outcome::Info {
            max += obj.weight;
        }
        got += match o {
            Outcome::Pass => obj.weight,
            Outcome::Warning => 0.5 * obj.weight,
            _ => 0.0,
        };
    }
    let pct = if max > 0.0 { 100.0 * got / max } else { 100.0 };
    let key_failed: Vec<&str> = outcomes
        .iter()
        .filter(|(obj, _, o)| obj.key && *o == Outcome::Fail)
        .map(|x| x.1.as_str())
        .collect();
    let mut v = if !key_failed.is_empty() {
        verdict(
            Phase::Failed,
            codes::THRESHOLD_VIOLATED,
            format!("key objective failed: {}", key_failed.join(", ")),
            details,
        )
    } else if pct >= config.total_score.pass {
        verdict(
            Phase::Successful,
            codes::PASS,
            format!("score {pct:.1}% >= {}%", config.total_score.pass),
            details,
        )
    } else if pct >= config.total_score.warning {
        let phase = match config.on_warning {
            OnWarning::Inconclusive => Phase::Inconclusive,
            OnWarning::Successful => Phase::Successful,
        };
        let r = format!(
            "score {pct:.1}% is in the warning band [{}%, {}%)",
            config.total_score.warning, config.total_score.pass
        );
        verdict(phase, codes::WARNING, r, details)
    } else {
        let r = format!(
            "score {pct:.1}% < {}%; failed: {}",
            config.total_score.warning,
            names(Outcome::Fail)
        );
        verdict(Phase::Failed, codes::THRESHOLD_VIOLATED, r, details)
    };
    v.score = Some(pct / 100.0);
    (v, st)
}
