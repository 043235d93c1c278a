//! Metric validation with upstream's messages (`utils/analysis/factory.go:ValidateMetrics`), plus
//! the dry-run / measurement-retention rule matching (`helpers.go`).
//!
//! Messages for rules upstream added after the pinned copy we could read (`failureLimit: -1`,
//! `consecutiveSuccessLimit`) and for our `judge` provider follow upstream's wording.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

use super::condition::check_template_condition;
use super::create::resolve_placeholders_lenient;
use super::judge::JUDGE_PROVIDER;
use super::types::{AnalysisTemplateSpec, Argument, DryRun, JudgeMetric, MeasurementRetention, Metric};
use crate::common::{IntOrString, parse_duration};

/// Default measurements kept per metric.
pub const DEFAULT_MEASUREMENT_HISTORY_LIMIT: usize = 10;
/// Default consecutive errors tolerated.
pub const DEFAULT_CONSECUTIVE_ERROR_LIMIT: i64 = 4;

/// Go's `IntOrString.IntValue()`: integers as they are, strings parsed as decimal (0 if not a
/// number, as Go's `strconv.Atoi` error is ignored there).
pub fn int_value(v: &IntOrString) -> i64 {
    match v {
        IntOrString::Int(i) => *i,
        IntOrString::String(s) => s.trim().parse().unwrap_or(0),
    }
}

fn limit(v: &Option<IntOrString>, default: i64) -> i64 {
    v.as_ref().map(int_value).unwrap_or(default)
}

impl Metric {
    /// `failureLimit` (default 0; -1 disables).
    pub fn failure_limit_value(&self) -> i64 {
        limit(&self.failure_limit, 0)
    }
    /// `inconclusiveLimit` (default 0).
    pub fn inconclusive_limit_value(&self) -> i64 {
        limit(&self.inconclusive_limit, 0)
    }
    /// `consecutiveErrorLimit` (default 4).
    pub fn consecutive_error_limit_value(&self) -> i64 {
        limit(&self.consecutive_error_limit, DEFAULT_CONSECUTIVE_ERROR_LIMIT)
    }
    /// `consecutiveSuccessLimit` (default 0 = off).
    pub fn consecutive_success_limit_value(&self) -> i64 {
        limit(&self.consecutive_success_limit, 0)
    }
    /// Upstream `EffectiveCount`: count, or 1 when neither count nor interval is set, or `None`
    /// (unbounded) when only an interval is set.
    pub fn effective_count(&self) -> Option<i64> {
        let count = self.count.as_ref().map(int_value).unwrap_or(0);
        if count == 0 {
            if self.interval.as_deref().unwrap_or("").is_empty() {
                Some(1)
            } else {
                None
            }
        } else {
            Some(count)
        }
    }
}

/// One problem found in an object, with the field path as the user wrote it in YAML
/// (`spec.metrics[1].successCondition`) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldProblem {
    /// Field path, e.g. `spec.metrics[1].successCondition`.
    pub path: String,
    /// What is wrong.
    pub message: String,
}

impl FieldProblem {
    /// A problem at `path`.
    pub fn new(path: impl Into<String>, message: impl Into<String>) -> Self {
        FieldProblem {
            path: path.into(),
            message: message.into(),
        }
    }
}

impl std::fmt::Display for FieldProblem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Upstream `ValidateMetrics`: the first problem, in upstream's wording (the analysis machine
/// writes it into the run's message). [`template_problems`] reports all of them.
pub fn validate_metrics(metrics: &[Metric]) -> Result<(), String> {
    if metrics.is_empty() {
        return Err("no metrics specified".to_string());
    }
    let mut names = BTreeSet::new();
    for (i, m) in metrics.iter().enumerate() {
        if !names.insert(m.name.as_str()) {
            return Err(format!("metrics[{i}]: duplicate name '{}'", m.name));
        }
        validate_metric(m).map_err(|e| format!("metrics[{i}]: {e}"))?;
    }
    Ok(())
}

/// Upstream `ValidateMetric` (one metric, without the `metrics[i]: ` prefix): the first of
/// [`metric_problems`].
pub fn validate_metric(m: &Metric) -> Result<(), String> {
    match metric_problems(m).into_iter().next() {
        Some(p) => Err(p.message),
        None => Ok(()),
    }
}

/// Every problem of one metric, in the order upstream's `ValidateMetric` checks them; each path is
/// relative to the metric (`interval`, `provider.judge.sha256`).
pub fn metric_problems(m: &Metric) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    let mut problem = |field: &str, message: String| out.push(FieldProblem::new(field, message));
    let count = m.count.as_ref().map(int_value).unwrap_or(0);
    let failure_limit = m.failure_limit_value();
    let inconclusive_limit = m.inconclusive_limit_value();
    let success_limit = m.consecutive_success_limit_value();
    if count > 0 {
        if success_limit > 0 {
            if count < failure_limit.max(0) + success_limit {
                problem(
                    "count",
                    "count must be >= failureLimit + consecutiveSuccessLimit".into(),
                );
            }
        } else if count < failure_limit {
            problem("count", "count must be >= failureLimit".into());
        }
        if count < inconclusive_limit {
            problem("count", "count must be >= inconclusiveLimit".into());
        }
    }
    let interval = m.interval.as_deref().unwrap_or("");
    if count > 1 && interval.is_empty() {
        problem("interval", "interval must be specified when count > 1".into());
    }
    if !interval.is_empty()
        && let Err(e) = parse_duration(interval)
    {
        problem("interval", format!("invalid interval string: {e}"));
    }
    if let Some(delay) = m.initial_delay.as_deref().filter(|d| !d.is_empty())
        && let Err(e) = parse_duration(delay)
    {
        problem("initialDelay", format!("invalid startDelay string: {e}"));
    }
    if failure_limit < -1 {
        problem("failureLimit", "failureLimit must be >= -1".into());
    }
    if failure_limit == -1 && success_limit == 0 {
        problem(
            "failureLimit",
            "failureLimit of -1 requires consecutiveSuccessLimit > 0 (otherwise the metric can never fail or succeed early)"
                .into(),
        );
    }
    if inconclusive_limit < 0 {
        problem("inconclusiveLimit", "inconclusiveLimit must be >= 0".into());
    }
    if m.consecutive_error_limit_value() < 0 {
        problem(
            "consecutiveErrorLimit",
            "consecutiveErrorLimit must be >= 0".into(),
        );
    }
    if success_limit < 0 {
        problem(
            "consecutiveSuccessLimit",
            "consecutiveSuccessLimit must be >= 0".into(),
        );
    }
    let providers: usize = m
        .provider
        .other
        .iter()
        .map(|(name, cfg)| match (name.as_str(), cfg.as_object()) {
            ("plugin", Some(plugins)) => plugins.len(),
            _ => 1,
        })
        .sum::<usize>()
        + usize::from(m.provider.judge.is_some());
    if providers == 0 {
        problem("provider", "no provider specified".into());
    }
    if providers > 1 {
        problem("provider", "multiple providers specified".into());
    }
    if let Some(judge) = &m.provider.judge {
        judge_problems(m, judge, &mut problem);
    }
    out
}

fn judge_problems(m: &Metric, judge: &JudgeMetric, problem: &mut impl FnMut(&str, String)) {
    if judge.name.trim().is_empty() {
        problem(
            "provider.judge.name",
            format!("{JUDGE_PROVIDER}.name must be set"),
        );
    }
    if judge.sha256.len() != 64 || !judge.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
        problem(
            "provider.judge.sha256",
            format!(
                "{JUDGE_PROVIDER}.sha256 must be 64 hex characters, got {:?}",
                judge.sha256
            ),
        );
    }
    let condition = match (&m.success_condition, &m.failure_condition) {
        (Some(_), _) => Some("successCondition"),
        (None, Some(_)) => Some("failureCondition"),
        (None, None) => None,
    };
    if let Some(field) = condition {
        problem(
            field,
            format!(
                "{JUDGE_PROVIDER} metrics are decided by the judge: remove successCondition/failureCondition"
            ),
        );
    }
    for (name, q) in &judge.queries {
        let shape = (
            q.points.is_some(),
            q.numerator.is_some(),
            q.denominator.is_some(),
            q.buckets.is_some(),
        );
        if !matches!(
            shape,
            (true, false, false, false) | (false, true, true, false) | (false, false, false, true)
        ) {
            problem(
                &format!("provider.judge.queries.{name}"),
                format!(
                    "{JUDGE_PROVIDER}.queries.{name}: set exactly one of points, numerator + denominator, or buckets"
                ),
            );
        }
    }
}

/// Every problem of a template spec, each with its YAML path (`spec.metrics[1].successCondition`):
/// everything [`validate_metrics`], [`dry_run_metrics`] and [`retention_limits`] check (all
/// problems, not only the first), plus what upstream only finds when a run measures:
/// conditions that do not compile and integer fields (`count: abc`) that are not integers.
///
/// Placeholders (`{{args.NAME}}`) are substituted with the template's argument values first;
/// those without a value are checked for syntax only.
pub fn template_problems(spec: &AnalysisTemplateSpec) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    if spec.metrics.is_empty() && spec.templates.is_empty() {
        out.push(FieldProblem::new("spec.metrics", "no metrics specified"));
    }
    let mut names = BTreeSet::new();
    for (i, m) in spec.metrics.iter().enumerate() {
        let at = |field: &str| format!("spec.metrics[{i}].{field}");
        if !names.insert(m.name.as_str()) {
            out.push(FieldProblem::new(
                at("name"),
                format!("duplicate name '{}'", m.name),
            ));
        }
        let resolved = with_known_args(m, &spec.args);
        for field in integer_field_problems(&resolved) {
            out.push(FieldProblem::new(at(field.path.as_str()), field.message));
        }
        for p in metric_problems(&resolved) {
            out.push(FieldProblem::new(at(&p.path), p.message));
        }
        for (field, condition) in [
            ("successCondition", &resolved.success_condition),
            ("failureCondition", &resolved.failure_condition),
        ] {
            let Some(condition) = condition.as_deref().filter(|c| !c.trim().is_empty()) else {
                continue;
            };
            if let Err(e) = check_template_condition(condition) {
                out.push(FieldProblem::new(at(field), e.to_string()));
            }
        }
    }
    let dry_run = spec.dry_run.iter().map(|r| r.metric_name.as_str());
    let retention = spec.measurement_retention.iter().map(|r| r.metric_name.as_str());
    for p in rule_problems("dryRun", dry_run, &spec.metrics)
        .into_iter()
        .chain(rule_problems("measurementRetention", retention, &spec.metrics))
    {
        out.push(FieldProblem::new(format!("spec.{}", p.path), p.message));
    }
    out
}

/// The metric with every `{{args.NAME}}` that has a value in `args` substituted (as a run does);
/// placeholders without a value stay.
fn with_known_args(m: &Metric, args: &[Argument]) -> Metric {
    let substituted = serde_json::to_string(m)
        .ok()
        .and_then(|json| resolve_placeholders_lenient(&json, args, true).ok())
        .and_then(|json| serde_json::from_str(&json).ok());
    substituted.unwrap_or_else(|| m.clone())
}

/// Integer fields written as strings (allowed for `{{args.NAME}}` placeholders) that are not
/// integers: upstream reads them as 0.
fn integer_field_problems(m: &Metric) -> Vec<FieldProblem> {
    [
        ("count", &m.count),
        ("failureLimit", &m.failure_limit),
        ("inconclusiveLimit", &m.inconclusive_limit),
        ("consecutiveErrorLimit", &m.consecutive_error_limit),
        ("consecutiveSuccessLimit", &m.consecutive_success_limit),
    ]
    .into_iter()
    .filter_map(|(field, value)| match value {
        Some(IntOrString::String(s)) if !s.contains("{{") && s.trim().parse::<i64>().is_err() => {
            Some(FieldProblem::new(
                field,
                format!("Invalid value: {s:?}: must be an integer (or an {{{{args.NAME}}}} placeholder)"),
            ))
        }
        _ => None,
    })
    .collect()
}

/// A rule's regex. Go's `regexp.MatchString`: an invalid pattern matches nothing (`None`).
fn rule_regex(pattern: &str) -> Option<Regex> {
    Regex::new(pattern).ok()
}

/// The metrics a rule's pattern matches.
fn matching<'m>(pattern: &str, metrics: &'m [Metric]) -> impl Iterator<Item = &'m Metric> {
    let regex = rule_regex(pattern);
    metrics
        .iter()
        .filter(move |m| regex.as_ref().is_some_and(|r| r.is_match(&m.name)))
}

/// Problems of dry-run or retention rules (`field` is `dryRun` or `measurementRetention`): each
/// rule's `metricName` must be set and match a metric. Paths are relative (`dryRun[0].metricName`)
/// and messages are upstream's.
fn rule_problems<'a>(
    field: &str,
    patterns: impl Iterator<Item = &'a str>,
    metrics: &[Metric],
) -> Vec<FieldProblem> {
    let mut out = Vec::new();
    for (i, pattern) in patterns.enumerate() {
        if pattern.is_empty() {
            out.push(FieldProblem::new(
                format!("{field}[{i}].metricName"),
                "Required value",
            ));
        } else if matching(pattern, metrics).next().is_none() {
            out.push(FieldProblem::new(
                format!("{field}[{i}]"),
                "Rule didn't match any metric name(s)",
            ));
        }
    }
    out
}

/// The first rule problem, rendered as upstream does (`dryRun[0]: Rule didn't match ...`).
fn first_rule_problem<'a>(
    field: &str,
    patterns: impl Iterator<Item = &'a str>,
    metrics: &[Metric],
) -> Result<(), String> {
    match rule_problems(field, patterns, metrics).first() {
        Some(p) => Err(p.to_string()),
        None => Ok(()),
    }
}

/// Upstream `GetDryRunMetrics`: names of dry-run metrics; every rule must match a metric.
pub fn dry_run_metrics(rules: &[DryRun], metrics: &[Metric]) -> Result<BTreeSet<String>, String> {
    first_rule_problem("dryRun", rules.iter().map(|r| r.metric_name.as_str()), metrics)?;
    Ok(rules
        .iter()
        .flat_map(|rule| matching(&rule.metric_name, metrics))
        .map(|m| m.name.clone())
        .collect())
}

/// Upstream `GetMeasurementRetentionMetrics`: per-metric retention limit (the last matching rule
/// wins); every rule must match a metric.
pub fn retention_limits(
    rules: &[MeasurementRetention],
    metrics: &[Metric],
) -> Result<BTreeMap<String, i32>, String> {
    let patterns = rules.iter().map(|r| r.metric_name.as_str());
    first_rule_problem("measurementRetention", patterns, metrics)?;
    let mut out = BTreeMap::new();
    for rule in rules {
        for m in matching(&rule.metric_name, metrics) {
            out.insert(m.name.clone(), rule.limit);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(yaml: &str) -> AnalysisTemplateSpec {
        serde_yaml::from_str(yaml).unwrap()
    }

    #[test]
    fn template_problems_are_all_reported_with_their_paths() {
        let s = spec(
            "metrics:
- {name: m, count: 3, provider: {prometheus: {query: up}}}
- {name: m, successCondition: 'result >=', failureLimit: x, provider: {web: {}, prometheus: {}}}
dryRun: [{metricName: nope}, {metricName: ''}]
",
        );
        let got: Vec<String> = template_problems(&s).iter().map(ToString::to_string).collect();
        assert_eq!(
            got,
            [
                "spec.metrics[0].interval: interval must be specified when count > 1",
                "spec.metrics[1].name: duplicate name 'm'",
                "spec.metrics[1].failureLimit: Invalid value: \"x\": must be an integer (or an {{args.NAME}} placeholder)",
                "spec.metrics[1].provider: multiple providers specified",
                "spec.metrics[1].successCondition: invalid condition \"result >=\": at 1:10: expected conditional_if, negation_op, sign_op, value, array, map, or ident",
                "spec.dryRun[0]: Rule didn't match any metric name(s)",
                "spec.dryRun[1].metricName: Required value",
            ]
        );
        // The analysis machine keeps upstream's first message.
        assert_eq!(
            validate_metrics(&s.metrics).unwrap_err(),
            "metrics[0]: interval must be specified when count > 1"
        );
    }

    #[test]
    fn argument_values_are_substituted_before_checking() {
        let s = spec(
            "args: [{name: n, value: '3'}, {name: free}]
metrics:
- {name: m, count: '{{args.n}}', successCondition: 'result < {{args.free}}', provider: {prometheus: {query: up}}}
",
        );
        assert_eq!(
            template_problems(&s),
            [FieldProblem::new(
                "spec.metrics[0].interval",
                "interval must be specified when count > 1"
            )]
        );
    }
}
