//! An in-memory series store and a PromQL evaluator for the subset analysis templates use, so the
//! same `prometheus` provider blocks run in simulation and in production.
//!
//! Parsing is done by `promql-parser`; evaluation supports selectors with label matchers,
//! `rate`/`irate`/`increase` (without Prometheus' extrapolation), `sum`/`avg`/`min`/`max`/`count`
//! with `by`/`without`, arithmetic between scalars and vectors (one-to-one matching on identical
//! label sets), `scalar`, `vector`, `histogram_quantile`, `sort` and `sort_desc`. Anything else is
//! an error naming what is unsupported.

use std::collections::BTreeMap;
use std::time::Duration;

use analysis_providers::prometheus::{QueryResponse, QueryResult, Series};
use promql_parser::label::Matchers;
use promql_parser::parser::{self, Expr, LabelModifier, VectorSelector};

/// Labels of a series (without `__name__`).
pub type Labels = BTreeMap<String, String>;

/// How far back an instant selector looks for the latest sample (Prometheus' default).
pub const LOOKBACK_MS: i64 = 5 * 60 * 1000;

/// One stored series: cumulative counters or gauges sampled over simulated time.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredSeries {
    /// Metric name.
    pub name: String,
    /// Labels.
    pub labels: Labels,
    /// `(milliseconds since the epoch, value)`, in time order.
    pub samples: Vec<(i64, f64)>,
}

/// Label values listed per label in a [`SeriesStore::no_match_hint`], at most.
const HINT_VALUES: usize = 4;

/// All series of a simulation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SeriesStore {
    series: Vec<StoredSeries>,
    /// Labels added to every series (a scenario's `labels`).
    extra: Labels,
}

impl SeriesStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store that adds `extra` to the labels of every series pushed (the series' own
    /// labels win on a clash).
    pub fn with_labels(extra: Labels) -> Self {
        SeriesStore {
            series: Vec::new(),
            extra,
        }
    }

    /// Appends a sample to the series `name{labels}` (created on first use). Samples must come in
    /// time order per series; older ones are ignored.
    pub fn push(&mut self, name: &str, labels: &Labels, t_ms: i64, value: f64) {
        let mut all = self.extra.clone();
        all.extend(labels.iter().map(|(k, v)| (k.clone(), v.clone())));
        let labels = &all;
        let idx = self
            .series
            .iter()
            .position(|s| s.name == name && &s.labels == labels);
        let series = match idx {
            Some(i) => &mut self.series[i],
            None => {
                self.series.push(StoredSeries {
                    name: name.to_string(),
                    labels: labels.clone(),
                    samples: Vec::new(),
                });
                let last = self.series.len() - 1;
                &mut self.series[last]
            }
        };
        if series.samples.last().is_none_or(|(t, _)| *t < t_ms) {
            series.samples.push((t_ms, value));
        }
    }

    /// Every stored series.
    pub fn series(&self) -> &[StoredSeries] {
        &self.series
    }

    /// Evaluates an instant query at `t_ms`.
    pub fn query(&self, query: &str, t_ms: i64) -> Result<QueryResponse, String> {
        let expr = parser::parse(query).map_err(|e| format!("bad_data: {e}"))?;
        let result = match self.eval(&expr, t_ms)? {
            Val::Scalar(v) => QueryResult::Scalar(v),
            Val::Vector(v) => QueryResult::Vector(
                v.into_iter()
                    .map(|(labels, value)| Series {
                        labels,
                        points: vec![(t_ms as f64 / 1000.0, value)],
                    })
                    .collect(),
            ),
        };
        Ok(QueryResponse {
            result,
            warnings: Vec::new(),
        })
    }

    /// Evaluates a range query over `[start_ms, end_ms]` every `step`.
    pub fn query_range(
        &self,
        query: &str,
        start_ms: i64,
        end_ms: i64,
        step: Duration,
    ) -> Result<QueryResponse, String> {
        let expr = parser::parse(query).map_err(|e| format!("bad_data: {e}"))?;
        let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX).max(1);
        let mut out: Vec<Series> = Vec::new();
        let mut t = start_ms;
        while t <= end_ms {
            let points: Vec<(Labels, f64)> = match self.eval(&expr, t)? {
                Val::Scalar(v) => vec![(Labels::new(), v)],
                Val::Vector(v) => v,
            };
            for (labels, value) in points {
                let point = (t as f64 / 1000.0, value);
                match out.iter_mut().find(|s| s.labels == labels) {
                    Some(s) => s.points.push(point),
                    None => out.push(Series {
                        labels,
                        points: vec![point],
                    }),
                }
            }
            t = t.saturating_add(step_ms);
        }
        Ok(QueryResponse {
            result: QueryResult::Matrix(out),
            warnings: Vec::new(),
        })
    }

    /// Why `query` selects nothing, when one of its selectors matches no stored series: that
    /// selector, the matcher no series satisfies, and the series and labels the store has. `None`
    /// when every selector matches (an empty result then has another cause) or the store is empty.
    pub fn no_match_hint(&self, query: &str) -> Option<String> {
        let expr = parser::parse(query).ok()?;
        if self.series.is_empty() {
            return None;
        }
        let mut selectors = Vec::new();
        selectors_of(&expr, &mut selectors);
        let (vs, why) = selectors
            .into_iter()
            .find(|vs| self.select(vs).next().is_none())
            .map(|vs| (vs, self.why_no_match(vs)))?;
        Some(format!(
            "no simulated series matches {vs} ({why}); the simulated Prometheus has {}; \
             a scenario's `labels` adds labels to every series",
            self.catalogue()
        ))
    }

    /// The first reason no series satisfies `vs`.
    fn why_no_match(&self, vs: &VectorSelector) -> String {
        let name = vs.name.clone().or_else(|| {
            vs.matchers
                .matchers
                .iter()
                .find(|m| m.name == "__name__")
                .map(|m| m.value.clone())
        });
        let candidates: Vec<&StoredSeries> = self
            .series
            .iter()
            .filter(|s| name.as_ref().is_none_or(|n| *n == s.name))
            .collect();
        if candidates.is_empty() {
            return format!("no series is named {}", name.unwrap_or_default());
        }
        let what = name.unwrap_or_else(|| "any series".to_string());
        for m in vs.matchers.matchers.iter().filter(|m| m.name != "__name__") {
            let values: Vec<&str> = candidates
                .iter()
                .filter_map(|s| s.labels.get(&m.name).map(String::as_str))
                .collect();
            if candidates
                .iter()
                .any(|s| m.is_match(s.labels.get(&m.name).map(String::as_str).unwrap_or("")))
            {
                continue;
            }
            if values.is_empty() {
                return format!("{what} has no label {}", m.name);
            }
            let mut distinct: Vec<&str> = values;
            distinct.sort_unstable();
            distinct.dedup();
            let more = if distinct.len() > HINT_VALUES { ", ..." } else { "" };
            distinct.truncate(HINT_VALUES);
            return format!(
                "{}{}{:?} matches no {what}: its values are {}{more}",
                m.name,
                m.op,
                m.value,
                distinct.join(", ")
            );
        }
        format!("no {what} satisfies all the matchers together")
    }

    /// `name{label, ...}` of every stored metric.
    fn catalogue(&self) -> String {
        let mut metrics: BTreeMap<&str, std::collections::BTreeSet<&str>> = BTreeMap::new();
        for s in &self.series {
            metrics
                .entry(s.name.as_str())
                .or_default()
                .extend(s.labels.keys().map(String::as_str));
        }
        let listed: Vec<String> = metrics
            .into_iter()
            .map(|(name, labels)| format!("{name}{{{}}}", labels.into_iter().collect::<Vec<_>>().join(", ")))
            .collect();
        listed.join(", ")
    }

    fn select<'a>(&'a self, vs: &'a VectorSelector) -> impl Iterator<Item = &'a StoredSeries> + 'a {
        self.series
            .iter()
            .filter(move |s| vs.name.as_ref().is_none_or(|n| n == &s.name) && matches(&vs.matchers, s))
    }

    fn eval(&self, expr: &Expr, t: i64) -> Result<Val, String> {
        match expr {
            Expr::NumberLiteral(n) => Ok(Val::Scalar(n.val)),
            Expr::Paren(p) => self.eval(&p.expr, t),
            Expr::Unary(u) => match self.eval(&u.expr, t)? {
                Val::Scalar(v) => Ok(Val::Scalar(-v)),
                Val::Vector(v) => Ok(Val::Vector(v.into_iter().map(|(l, x)| (l, -x)).collect())),
            },
            Expr::VectorSelector(vs) => Ok(Val::Vector(
                self.select(vs)
                    .filter_map(|s| {
                        s.samples
                            .iter()
                            .rev()
                            .find(|(ts, _)| *ts <= t && *ts > t - LOOKBACK_MS)
                            .map(|(_, v)| (s.labels.clone(), *v))
                    })
                    .collect(),
            )),
            Expr::Aggregate(a) => {
                let Val::Vector(input) = self.eval(&a.expr, t)? else {
                    return Err("aggregations need a vector".to_string());
                };
                aggregate(&a.op.to_string(), a.modifier.as_ref(), input)
            }
            Expr::Binary(b) => {
                let lhs = self.eval(&b.lhs, t)?;
                let rhs = self.eval(&b.rhs, t)?;
                binary(&b.op.to_string(), lhs, rhs)
            }
            Expr::Call(c) => self.call(c.func.name, &c.args.args, t),
            other => Err(format!("unsupported in simulation: {other}")),
        }
    }

    fn call(&self, name: &str, args: &[Box<Expr>], t: i64) -> Result<Val, String> {
        let arg = |i: usize| args.get(i).ok_or_else(|| format!("{name}: missing argument"));
        match name {
            "rate" | "irate" | "increase" => {
                let Expr::MatrixSelector(ms) = arg(0)?.as_ref() else {
                    return Err(format!("{name} needs a range selector"));
                };
                let range_ms = i64::try_from(ms.range.as_millis()).unwrap_or(i64::MAX);
                let mut out = Vec::new();
                for s in self.select(&ms.vs) {
                    let window: Vec<&(i64, f64)> = s
                        .samples
                        .iter()
                        .filter(|(ts, _)| *ts <= t && *ts > t - range_ms)
                        .collect();
                    if let (Some(first), Some(last)) = (window.first(), window.last())
                        && last.0 > first.0
                    {
                        let delta = last.1 - first.1;
                        let value = if name == "increase" {
                            delta
                        } else {
                            delta / ((last.0 - first.0) as f64 / 1000.0)
                        };
                        out.push((s.labels.clone(), value));
                    }
                }
                Ok(Val::Vector(out))
            }
            "scalar" => match self.eval(arg(0)?, t)? {
                Val::Vector(v) if v.len() == 1 => Ok(Val::Scalar(v[0].1)),
                Val::Vector(_) => Ok(Val::Scalar(f64::NAN)),
                Val::Scalar(s) => Ok(Val::Scalar(s)),
            },
            "vector" => match self.eval(arg(0)?, t)? {
                Val::Scalar(s) => Ok(Val::Vector(vec![(Labels::new(), s)])),
                v => Ok(v),
            },
            "sort" | "sort_desc" => {
                let Val::Vector(mut v) = self.eval(arg(0)?, t)? else {
                    return Err(format!("{name} needs a vector"));
                };
                v.sort_by(|a, b| a.1.total_cmp(&b.1));
                if name == "sort_desc" {
                    v.reverse();
                }
                Ok(Val::Vector(v))
            }
            "histogram_quantile" => {
                let Val::Scalar(q) = self.eval(arg(0)?, t)? else {
                    return Err("histogram_quantile needs a scalar quantile".to_string());
                };
                let Val::Vector(buckets) = self.eval(arg(1)?, t)? else {
                    return Err("histogram_quantile needs a vector of buckets".to_string());
                };
                Ok(Val::Vector(histogram_quantile(q, buckets)))
            }
            other => Err(format!("unsupported in simulation: function {other}")),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Val {
    Scalar(f64),
    Vector(Vec<(Labels, f64)>),
}

/// Every vector selector in `expr` (those inside range selectors too).
fn selectors_of<'a>(expr: &'a Expr, out: &mut Vec<&'a VectorSelector>) {
    match expr {
        Expr::VectorSelector(vs) => out.push(vs),
        Expr::MatrixSelector(ms) => out.push(&ms.vs),
        Expr::Aggregate(a) => {
            selectors_of(&a.expr, out);
            if let Some(p) = &a.param {
                selectors_of(p, out);
            }
        }
        Expr::Unary(u) => selectors_of(&u.expr, out),
        Expr::Binary(b) => {
            selectors_of(&b.lhs, out);
            selectors_of(&b.rhs, out);
        }
        Expr::Paren(p) => selectors_of(&p.expr, out),
        Expr::Subquery(q) => selectors_of(&q.expr, out),
        Expr::Call(c) => c.args.args.iter().for_each(|a| selectors_of(a, out)),
        Expr::NumberLiteral(_) | Expr::StringLiteral(_) | Expr::Extension(_) => {}
    }
}

fn matches(m: &Matchers, s: &StoredSeries) -> bool {
    let one = |ms: &[promql_parser::label::Matcher]| {
        ms.iter().all(|m| {
            let value = if m.name == "__name__" {
                s.name.as_str()
            } else {
                s.labels.get(&m.name).map(String::as_str).unwrap_or("")
            };
            m.is_match(value)
        })
    };
    one(&m.matchers) && (m.or_matchers.is_empty() || m.or_matchers.iter().any(|g| one(g)))
}

fn group_key(labels: &Labels, modifier: Option<&LabelModifier>) -> Labels {
    match modifier {
        None => Labels::new(),
        Some(LabelModifier::Include(keep)) => labels
            .iter()
            .filter(|(k, _)| keep.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        Some(LabelModifier::Exclude(drop)) => labels
            .iter()
            .filter(|(k, _)| !drop.labels.contains(k))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
    }
}

fn aggregate(op: &str, modifier: Option<&LabelModifier>, input: Vec<(Labels, f64)>) -> Result<Val, String> {
    let mut groups: BTreeMap<Labels, Vec<f64>> = BTreeMap::new();
    for (labels, v) in input {
        groups.entry(group_key(&labels, modifier)).or_default().push(v);
    }
    let mut out = Vec::new();
    for (labels, values) in groups {
        let n = values.len() as f64;
        let v = match op {
            "sum" => values.iter().sum(),
            "avg" => values.iter().sum::<f64>() / n,
            "min" => values.iter().copied().fold(f64::INFINITY, f64::min),
            "max" => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            "count" => n,
            other => return Err(format!("unsupported in simulation: aggregation {other}")),
        };
        out.push((labels, v));
    }
    Ok(Val::Vector(out))
}

fn arith(op: &str, a: f64, b: f64) -> Result<f64, String> {
    Ok(match op {
        "+" => a + b,
        "-" => a - b,
        "*" => a * b,
        "/" => a / b,
        other => return Err(format!("unsupported in simulation: operator {other}")),
    })
}

fn binary(op: &str, lhs: Val, rhs: Val) -> Result<Val, String> {
    match (lhs, rhs) {
        (Val::Scalar(a), Val::Scalar(b)) => Ok(Val::Scalar(arith(op, a, b)?)),
        (Val::Vector(v), Val::Scalar(b)) => Ok(Val::Vector(
            v.into_iter()
                .map(|(l, a)| Ok((l, arith(op, a, b)?)))
                .collect::<Result<_, String>>()?,
        )),
        (Val::Scalar(a), Val::Vector(v)) => Ok(Val::Vector(
            v.into_iter()
                .map(|(l, b)| Ok((l, arith(op, a, b)?)))
                .collect::<Result<_, String>>()?,
        )),
        (Val::Vector(l), Val::Vector(r)) => {
            let mut out = Vec::new();
            for (labels, a) in l {
                if let Some((_, b)) = r.iter().find(|(rl, _)| rl == &labels) {
                    out.push((labels, arith(op, a, *b)?));
                }
            }
            Ok(Val::Vector(out))
        }
    }
}

/// Prometheus' `histogram_quantile` over cumulative buckets grouped by all labels but `le`.
fn histogram_quantile(q: f64, buckets: Vec<(Labels, f64)>) -> Vec<(Labels, f64)> {
    let mut groups: BTreeMap<Labels, Vec<(f64, f64)>> = BTreeMap::new();
    for (mut labels, count) in buckets {
        let Some(le) = labels.remove("le") else { continue };
        let upper = match le.as_str() {
            "+Inf" | "Inf" | "inf" => f64::INFINITY,
            s => match s.parse::<f64>() {
                Ok(v) => v,
                Err(_) => continue,
            },
        };
        groups.entry(labels).or_default().push((upper, count));
    }
    let mut out = Vec::new();
    for (labels, mut bs) in groups {
        bs.sort_by(|a, b| a.0.total_cmp(&b.0));
        let value = quantile_of(q, &bs);
        out.push((labels, value));
    }
    out
}

fn quantile_of(q: f64, bs: &[(f64, f64)]) -> f64 {
    if !(0.0..=1.0).contains(&q) {
        return if q < 0.0 { f64::NEG_INFINITY } else { f64::INFINITY };
    }
    let Some(&(last_le, total)) = bs.last() else {
        return f64::NAN;
    };
    if bs.len() < 2 || last_le != f64::INFINITY || total <= 0.0 {
        return f64::NAN;
    }
    let rank = q * total;
    let idx = bs.iter().position(|(_, c)| *c >= rank).unwrap_or(bs.len() - 1);
    if idx == bs.len() - 1 {
        return bs[bs.len() - 2].0;
    }
    let (upper, count) = bs[idx];
    let (lower, prev) = if idx == 0 {
        (if upper > 0.0 { 0.0 } else { upper }, 0.0)
    } else {
        bs[idx - 1]
    };
    if count - prev <= 0.0 {
        return upper;
    }
    lower + (upper - lower) * ((rank - prev) / (count - prev))
}

#[cfg(test)]
mod tests;
