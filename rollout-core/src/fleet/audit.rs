//! The audit of rollout updates that were not promoted: per analysis run (or per cause of a
//! Rollout's latest update without a run) an [`AuditEntry`], and over a [`Window`] the
//! [`AuditReport`]: every entry that was not promoted with its class, and per AnalysisTemplate and
//! per judge, per day or week, the [`Rates`] of false alarms and misses that operators' reviews
//! ([`Review`]) give.
//!
//! Definitions (one place, the README repeats them):
//! - a **run** is decided when it passed (its update went on: counted as promoted) or did not
//!   (failed, errored, inconclusive); runs still in progress are counted apart;
//! - **false-alarm rate** = failures marked `false-alarm` / failures marked either way (reviewed
//!   failures); unreviewed failures are shown next to it and never guessed;
//! - **miss rate** = passed runs marked `regression` / passed runs (a passed run is presumed good
//!   until someone marks it);
//! - a `false-alarm` mark on a passed run is contradictory and counted as `mismarked`.
//!
//! Pure: the caller gathers the entries (rollout-kube's `audit`) and passes the window.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::classify::{FailureClass, attribute};
use super::outcome::{EnvironmentHistory, EnvironmentOutcome, OutcomeKind};
use super::plan::ClassificationPolicy;
use crate::common::Timestamp;
use crate::rollout::{FieldError, FieldErrorKind, Why};

/// The annotation on an AnalysisRun with an operator's review: `false-alarm` or `regression`.
pub const REVIEW_ANNOTATION: &str = "rollout.io/review";
/// The annotation with the review's free-text note.
pub const REVIEW_NOTE_ANNOTATION: &str = "rollout.io/review-note";
/// The longest `--since` window accepted, in seconds (366 days).
pub const MAX_WINDOW_SECONDS: i64 = 366 * 86_400;
/// Name of the template group for entries whose template is unknown.
pub const UNKNOWN_TEMPLATE: &str = "(unknown)";

/// An operator's review of one run's outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Review {
    /// The run stopped an update that was good.
    FalseAlarm,
    /// The update was a real regression (whether the run stopped it or let it through).
    Regression,
}

impl Review {
    /// The annotation value.
    pub fn as_str(self) -> &'static str {
        match self {
            Review::FalseAlarm => "false-alarm",
            Review::Regression => "regression",
        }
    }

    /// Reads an annotation value; `None` for anything else (an unknown value counts as unreviewed).
    pub fn parse(value: &str) -> Option<Review> {
        match value.trim() {
            "false-alarm" => Some(Review::FalseAlarm),
            "regression" => Some(Review::Regression),
            _ => None,
        }
    }
}

/// One analysis run, or one cause of a Rollout's latest update that no run explains.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditEntry {
    /// Where the Rollout lives (`context/namespace/name` or `namespace/name`).
    pub environment: String,
    /// The update's pod-template hash.
    pub pod_template_hash: String,
    /// The AnalysisRun, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run: Option<String>,
    /// The AnalysisTemplates the run was built from.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub templates: Vec<String>,
    /// The judges of the run's `judge` metrics.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub judges: Vec<String>,
    /// When it was decided (completion, else start, else creation).
    pub at: Timestamp,
    /// How it ended: `promoted` for a run that passed, `in-progress` for one still running.
    pub outcome: OutcomeKind,
    /// The typed causes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub why: Vec<Why>,
    /// The operator's review, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub review: Option<Review>,
    /// The review's note.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub note: String,
}

/// How the window is cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Bucket {
    /// UTC days.
    Day,
    /// Weeks starting Monday 00:00 UTC.
    Week,
}

/// The audited time range `[start, end]` and its buckets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Window {
    /// First instant included.
    pub start: Timestamp,
    /// Last instant included (now).
    pub end: Timestamp,
    /// Bucket size.
    pub bucket: Bucket,
}

impl Window {
    /// The window of `seconds` ending at `end`.
    pub fn ending_at(end: Timestamp, seconds: i64, bucket: Bucket) -> Window {
        let start = Timestamp::from_second(end.as_second().saturating_sub(seconds)).unwrap_or(Timestamp::MIN);
        Window { start, end, bucket }
    }

    /// Whether `t` falls inside.
    pub fn contains(&self, t: Timestamp) -> bool {
        self.start <= t && t <= self.end
    }

    /// The start of the bucket holding `t`.
    pub fn bucket_start(&self, t: Timestamp) -> Timestamp {
        let day = t.as_second().div_euclid(86_400);
        let first = match self.bucket {
            Bucket::Day => day,
            // 1970-01-01 was a Thursday: Monday is 3 days earlier.
            Bucket::Week => day - (day + 3).rem_euclid(7),
        };
        Timestamp::from_second(first * 86_400).unwrap_or(Timestamp::MIN)
    }
}

/// Parses a `--since` duration (`30m`, `24h`, `7d`, `2w`) into seconds, at most
/// [`MAX_WINDOW_SECONDS`]. Errors name `path` (e.g. `--since`).
pub fn parse_since(path: &str, text: &str) -> Result<i64, FieldError> {
    let invalid = |message: &str| FieldError {
        path: path.to_string(),
        kind: FieldErrorKind::Invalid(format!("{text:?}")),
        message: message.to_string(),
    };
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (digits, unit) = t.split_at(split);
    if digits.is_empty() {
        return Err(invalid("expected a number and a unit, e.g. 7d, 24h, 30m"));
    }
    let unit_seconds = match unit {
        "m" => 60,
        "h" => 3_600,
        "d" => 86_400,
        "w" => 7 * 86_400,
        "" => return Err(invalid("missing unit: use m, h, d or w (e.g. 7d)")),
        _ => return Err(invalid("unknown unit: use m, h, d or w (e.g. 7d)")),
    };
    let n: i64 = digits
        .parse()
        .map_err(|_| invalid("number too large (at most 366d)"))?;
    let seconds = n.checked_mul(unit_seconds).unwrap_or(i64::MAX);
    if n == 0 {
        return Err(invalid("must be longer than zero"));
    }
    if seconds > MAX_WINDOW_SECONDS {
        return Err(invalid("at most 366d"));
    }
    Ok(seconds)
}

/// Counts and rates of one group of runs (see the module docs for the definitions).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rates {
    /// Decided runs: passed + failures.
    pub runs: u64,
    /// Runs that passed (their update went on).
    pub passed: u64,
    /// Runs that did not pass (failed, errored, inconclusive): not promoted.
    pub failures: u64,
    /// Failures marked `false-alarm`.
    pub false_alarms: u64,
    /// Failures marked `regression` (the analysis was right).
    pub confirmed: u64,
    /// Failures nobody marked.
    pub unreviewed: u64,
    /// Passed runs marked `regression`.
    pub misses: u64,
    /// Passed runs marked `false-alarm` (a contradiction; not counted in any rate).
    pub mismarked: u64,
    /// Runs still in progress (not in `runs`).
    pub in_progress: u64,
    /// `false_alarms / (false_alarms + confirmed)`; `None` when no failure is reviewed.
    pub false_alarm_rate: Option<f64>,
    /// `misses / passed`; `None` without passed runs.
    pub miss_rate: Option<f64>,
}

impl Rates {
    fn add(&mut self, e: &AuditEntry) {
        match e.outcome {
            OutcomeKind::InProgress => self.in_progress += 1,
            OutcomeKind::Promoted => {
                self.runs += 1;
                self.passed += 1;
                match e.review {
                    Some(Review::Regression) => self.misses += 1,
                    Some(Review::FalseAlarm) => self.mismarked += 1,
                    None => {}
                }
            }
            _ => {
                self.runs += 1;
                self.failures += 1;
                match e.review {
                    Some(Review::FalseAlarm) => self.false_alarms += 1,
                    Some(Review::Regression) => self.confirmed += 1,
                    None => self.unreviewed += 1,
                }
            }
        }
    }

    fn finish(mut self) -> Self {
        let ratio = |n: u64, d: u64| (d > 0).then(|| n as f64 / d as f64);
        self.false_alarm_rate = ratio(self.false_alarms, self.false_alarms + self.confirmed);
        self.miss_rate = ratio(self.misses, self.passed);
        self
    }
}

/// One bucket's rates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BucketRates {
    /// The bucket's first instant.
    pub start: Timestamp,
    /// Its rates.
    #[serde(flatten)]
    pub rates: Rates,
}

/// The rates of one AnalysisTemplate or judge: over the window and per bucket (buckets with
/// runs only, oldest first).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GroupRates {
    /// Template or judge name.
    pub name: String,
    /// Over the whole window.
    pub total: Rates,
    /// Per bucket.
    pub buckets: Vec<BucketRates>,
}

/// An update that was not promoted, with its class.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NotPromoted {
    /// The entry.
    #[serde(flatten)]
    pub entry: AuditEntry,
    /// Its class from the core ([`attribute`]); `suspect` counts against the release (one
    /// environment cannot run the fleet-wide test). `None` when undecided (inconclusive).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub class: Option<FailureClass>,
}

/// The audit over a window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditReport {
    /// The window.
    pub window: Window,
    /// Entries not promoted, oldest first.
    pub not_promoted: Vec<NotPromoted>,
    /// Rates over every run in the window.
    pub total: Rates,
    /// Per AnalysisTemplate, by name.
    pub templates: Vec<GroupRates>,
    /// Per judge, by name.
    pub judges: Vec<GroupRates>,
}

/// The environment's record with its other updates in `entries`: distinct other hashes, and
/// those of them with a failure.
fn history(entries: &[&AuditEntry], e: &AuditEntry) -> EnvironmentHistory {
    let mut others: BTreeMap<&str, bool> = BTreeMap::new();
    for o in entries
        .iter()
        .filter(|o| o.environment == e.environment && o.pod_template_hash != e.pod_template_hash)
    {
        *others.entry(o.pod_template_hash.as_str()).or_default() |= o.outcome.is_failure();
    }
    EnvironmentHistory {
        releases: u32::try_from(others.len()).unwrap_or(u32::MAX),
        failures: u32::try_from(others.values().filter(|f| **f).count()).unwrap_or(u32::MAX),
    }
}

fn group_rates(
    window: &Window,
    entries: &[&AuditEntry],
    keys: impl Fn(&AuditEntry) -> Vec<String>,
) -> Vec<GroupRates> {
    let mut groups: BTreeMap<String, (Rates, BTreeMap<Timestamp, Rates>)> = BTreeMap::new();
    for e in entries {
        let names: BTreeSet<String> = keys(e).into_iter().collect();
        for name in names {
            let (total, buckets) = groups.entry(name).or_default();
            total.add(e);
            buckets.entry(window.bucket_start(e.at)).or_default().add(e);
        }
    }
    groups
        .into_iter()
        .map(|(name, (total, buckets))| GroupRates {
            name,
            total: total.finish(),
            buckets: buckets
                .into_iter()
                .map(|(start, rates)| BucketRates {
                    start,
                    rates: rates.finish(),
                })
                .collect(),
        })
        .collect()
}

/// The audit of `entries` over `window`: entries outside it are ignored; runs count in every
/// template they name (or [`UNKNOWN_TEMPLATE`]) and every judge; entries without a run appear
/// in `not_promoted` and `total` but in no template or judge.
pub fn audit(entries: &[AuditEntry], window: &Window, policy: &ClassificationPolicy) -> AuditReport {
    let inside: Vec<&AuditEntry> = entries.iter().filter(|e| window.contains(e.at)).collect();
    let mut not_promoted: Vec<NotPromoted> = inside
        .iter()
        .filter(|e| !matches!(e.outcome, OutcomeKind::Promoted | OutcomeKind::InProgress))
        .map(|e| {
            let outcome = EnvironmentOutcome {
                environment: e.environment.clone(),
                kind: e.outcome,
                why: e.why.clone(),
                stable_unhealthy_before: false,
                retry_succeeded: false,
                history: history(&inside, e),
            };
            NotPromoted {
                entry: (*e).clone(),
                class: attribute(policy, &outcome),
            }
        })
        .collect();
    not_promoted.sort_by(|a, b| {
        (a.entry.at, &a.entry.environment, &a.entry.run).cmp(&(
            b.entry.at,
            &b.entry.environment,
            &b.entry.run,
        ))
    });
    let mut total = Rates::default();
    for e in &inside {
        total.add(e);
    }
    let with_run: Vec<&AuditEntry> = inside.iter().copied().filter(|e| e.run.is_some()).collect();
    AuditReport {
        window: *window,
        not_promoted,
        total: total.finish(),
        templates: group_rates(window, &with_run, |e| {
            if e.templates.is_empty() {
                vec![UNKNOWN_TEMPLATE.to_string()]
            } else {
                e.templates.clone()
            }
        }),
        judges: group_rates(window, &with_run, |e| e.judges.clone()),
    }
}

#[cfg(test)]
#[path = "audit_tests.rs"]
mod tests;
