//! Metric validation with upstream's messages (`utils/analysis/factory.go:ValidateMetrics`), plus
//! the dry-run / measurement-retention rule matching (`helpers.go`).
//!
//! Messages for rules upstream added after the pinned copy we could read (`failureLimit: -1`,
//! `consecutiveSuccessLimit`) and for our `judge` provider follow upstream's wording.

use std::collections::{BTreeMap, BTreeSet};

use regex::Regex;

use super::judge::JUDGE_PROVIDER;
use super::types::{DryRun, MeasurementRetention, Metric};
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

/// Upstream `ValidateMetrics`.
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

/// Upstream `ValidateMetric` (one metric, without the `metrics[i]: ` prefix).
pub fn validate_metric(m: &Metric) -> Result<(), String> {
    let count = m.count.as_ref().map(int_value).unwrap_or(0);
    let failure_limit = m.failure_limit_value();
    let inconclusive_limit = m.inconclusive_limit_value();
    let success_limit = m.consecutive_success_limit_value();
    if count > 0 {
        if success_limit > 0 {
            if count < failure_limit.max(0) + success_limit {
                return Err("count must be >= failureLimit + consecutiveSuccessLimit".to_string());
            }
        } else if count < failure_limit {
            return Err("count must be >= failureLimit".to_string());
        }
        if count < inconclusive_limit {
            return Err("count must be >= inconclusiveLimit".to_string());
        }
    }
    let interval = m.interval.as_deref().unwrap_or("");
    if count > 1 && interval.is_empty() {
        return Err("interval must be specified when count > 1".to_string());
    }
    if !interval.is_empty() {
        parse_duration(interval).map_err(|e| format!("invalid interval string: {e}"))?;
    }
    if let Some(delay) = m.initial_delay.as_deref().filter(|d| !d.is_empty()) {
        parse_duration(delay).map_err(|e| format!("invalid startDelay string: {e}"))?;
    }
    if failure_limit < -1 {
        return Err("failureLimit must be >= -1".to_string());
    }
    if failure_limit == -1 && success_limit == 0 {
        return Err(
            "failureLimit of -1 requires consecutiveSuccessLimit > 0 (otherwise the metric can never fail or succeed early)"
                .to_string(),
        );
    }
    if inconclusive_limit < 0 {
        return Err("inconclusiveLimit must be >= 0".to_string());
    }
    if m.consecutive_error_limit_value() < 0 {
        return Err("consecutiveErrorLimit must be >= 0".to_string());
    }
    if success_limit < 0 {
        return Err("consecutiveSuccessLimit must be >= 0".to_string());
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
        return Err("no provider specified".to_string());
    }
    if providers > 1 {
        return Err("multiple providers specified".to_string());
    }
    if let Some(judge) = &m.provider.judge {
        if judge.name.trim().is_empty() {
            return Err(format!("{JUDGE_PROVIDER}.name must be set"));
        }
        if judge.sha256.len() != 64 || !judge.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(format!(
                "{JUDGE_PROVIDER}.sha256 must be 64 hex characters, got {:?}",
                judge.sha256
            ));
        }
        if m.success_condition.is_some() || m.failure_condition.is_some() {
            return Err(format!(
                "{JUDGE_PROVIDER} metrics are decided by the judge: remove successCondition/failureCondition"
            ));
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
                return Err(format!(
                    "{JUDGE_PROVIDER}.queries.{name}: set exactly one of points, numerator + denominator, or buckets"
                ));
            }
        }
    }
    Ok(())
}

fn matches(pattern: &str, name: &str) -> bool {
    // Go's regexp.MatchString: an invalid pattern matches nothing.
    Regex::new(pattern).map(|r| r.is_match(name)).unwrap_or(false)
}

/// Upstream `GetDryRunMetrics`: names of dry-run metrics; every rule must match a metric.
pub fn dry_run_metrics(rules: &[DryRun], metrics: &[Metric]) -> Result<BTreeSet<String>, String> {
    let mut out = BTreeSet::new();
    for (i, rule) in rules.iter().enumerate() {
        if rule.metric_name.is_empty() {
            return Err(format!("dryRun[{i}].metricName: Required value"));
        }
        let mut matched = 0;
        for m in metrics.iter().filter(|m| matches(&rule.metric_name, &m.name)) {
            out.insert(m.name.clone());
            matched += 1;
        }
        if matched < 1 {
            return Err(format!("dryRun[{i}]: Rule didn't match any metric name(s)"));
        }
    }
    Ok(out)
}

/// Upstream `GetMeasurementRetentionMetrics`: per-metric retention limit (the last matching rule
/// wins); every rule must match a metric.
pub fn retention_limits(
    rules: &[MeasurementRetention],
    metrics: &[Metric],
) -> Result<BTreeMap<String, i32>, String> {
    let mut out = BTreeMap::new();
    for (i, rule) in rules.iter().enumerate() {
        if rule.metric_name.is_empty() {
            return Err(format!("measurementRetention[{i}].metricName: Required value"));
        }
        let mut matched = 0;
        for m in metrics.iter().filter(|m| matches(&rule.metric_name, &m.name)) {
            out.insert(m.name.clone(), rule.limit);
            matched += 1;
        }
        if matched < 1 {
            return Err(format!(
                "measurementRetention[{i}]: Rule didn't match any metric name(s)"
            ));
        }
    }
    Ok(out)
}
