//! The cost of safety (our extension, `status.cost`): the pod-seconds a rollout runs above
//! `spec.replicas` (canary surge, preview ReplicaSets, delayed scale-down, abort scale-down delay)
//! and the wall time of the update.
//!
//! Accounting is piecewise-constant: `status.cost` records the extra pods counted from the
//! observed ReplicaSets' `spec.replicas` and since when, and the pod-seconds accumulated up to
//! then. The machine calls [`advance`] on every pass; it changes the status only when the extra
//! pod count changes or an update starts or ends, so a quiet controller writes nothing.
//! [`CostStatus::at`] gives the figures at any later time.
//!
//! An update starts when the desired pod-template hash differs from the stable one and the cost
//! belongs to another hash; it ends when the stable hash is the desired one (promoted) or the
//! rollout is aborted, and no extra pods are left. A retried abort reopens it. The last finished
//! update's figures are kept until the next update starts.

use serde::{Deserialize, Serialize};

use crate::common::Timestamp;

/// `status.cost`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CostStatus {
    /// Pod-template hash of the update this accounts for.
    pub pod_hash: String,
    /// Pod-seconds above `spec.replicas` accumulated up to `since`.
    pub extra_pod_seconds: f64,
    /// Pods above `spec.replicas` since `since` (from the ReplicaSets' `spec.replicas`).
    pub extra_pods: i32,
    /// When `extra_pods` was last counted as changed.
    pub since: Timestamp,
    /// When the update started.
    pub started_at: Timestamp,
    /// When the update ended (promoted or aborted with no extra pods left).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Timestamp>,
}

/// The cost figures at one instant (snake_case in JSON, as the simulation report).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct CostFigures {
    /// Pod-seconds above `spec.replicas`.
    pub extra_pod_seconds: f64,
    /// Seconds from the start of the update to its end (or to now while it runs).
    pub wall_seconds: f64,
}

impl CostFigures {
    /// The extra pod-seconds as pod-hours.
    pub fn extra_pod_hours(&self) -> f64 {
        self.extra_pod_seconds / 3600.0
    }

    /// One line for people: `extra 12.0 pod-seconds (0.003 pod-hours), wall time 1m30s`.
    pub fn text(&self) -> String {
        format!(
            "extra {:.1} pod-seconds ({:.3} pod-hours), wall time {}",
            self.extra_pod_seconds,
            self.extra_pod_hours(),
            duration_text(self.wall_seconds)
        )
    }
}

/// `90.0` → `1m30s`, `3725` → `1h2m5s`.
pub fn duration_text(secs: f64) -> String {
    let total = secs.max(0.0).round();
    // Bounded: saturating float-to-int conversion.
    let total = total as u64;
    let (h, m, s) = (total / 3600, total % 3600 / 60, total % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s}s"),
        _ => format!("{h}h{m}m{s}s"),
    }
}

impl CostStatus {
    /// Whether the update ended.
    pub fn finished(&self) -> bool {
        self.finished_at.is_some()
    }

    /// [`CostFigures::text`] at `now`, ending in ` so far` while the update runs.
    pub fn summary(&self, now: Timestamp) -> String {
        let so_far = if self.finished() { "" } else { " so far" };
        format!("{}{so_far}", self.at(now).text())
    }

    /// The figures at `now` (the extra pods still running count up to `now`).
    pub fn at(&self, now: Timestamp) -> CostFigures {
        let running = if self.finished() {
            0.0
        } else {
            f64::from(self.extra_pods) * seconds_between(self.since, now)
        };
        CostFigures {
            extra_pod_seconds: self.extra_pod_seconds + running,
            wall_seconds: seconds_between(self.started_at, self.finished_at.unwrap_or(now)),
        }
    }
}

/// [`CostStatus::at`] of an optional cost (no cost: zero).
pub fn cost_at(cost: Option<&CostStatus>, now: Timestamp) -> CostFigures {
    cost.map(|c| c.at(now)).unwrap_or_default()
}

/// `to - from` in seconds, never negative (a clock that went back adds nothing).
fn seconds_between(from: Timestamp, to: Timestamp) -> f64 {
    let ms = to.as_millisecond().saturating_sub(from.as_millisecond()).max(0);
    // Exact for any span below 2^53 ms (285 000 years).
    ms as f64 / 1000.0
}

/// What one machine pass saw, for [`advance`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sample<'a> {
    /// The desired pod-template hash (`status.currentPodHash`); empty: nothing to account.
    pub pod_hash: &'a str,
    /// The stable pod-template hash (`status.stableRS`).
    pub stable_hash: &'a str,
    /// The rollout is aborted.
    pub aborted: bool,
    /// Sum of the ReplicaSets' `spec.replicas` (baseline arms included).
    pub replicas: i64,
    /// `spec.replicas`.
    pub desired: i32,
}

impl Sample<'_> {
    /// Pods above `spec.replicas`, never negative, saturating at `i32::MAX`.
    pub fn extra_pods(&self) -> i32 {
        let extra = self.replicas.saturating_sub(i64::from(self.desired)).max(0);
        i32::try_from(extra).unwrap_or(i32::MAX)
    }

    fn in_update(&self) -> bool {
        !self.stable_hash.is_empty() && self.pod_hash != self.stable_hash
    }

    fn settled(&self) -> bool {
        (self.pod_hash == self.stable_hash || self.aborted) && self.extra_pods() == 0
    }
}

/// The cost after one pass that saw `sample` at `now`, from the persisted `prev`. Returns
/// `prev` unchanged unless the extra pod count changed or an update started, ended or resumed.
pub fn advance(prev: Option<&CostStatus>, sample: &Sample<'_>, now: Timestamp) -> Option<CostStatus> {
    change(prev, sample, now).unwrap_or_else(|| prev.cloned())
}

/// [`advance`] without copying `prev`: `None` when the result is `prev` unchanged.
pub(crate) fn change(
    prev: Option<&CostStatus>,
    sample: &Sample<'_>,
    now: Timestamp,
) -> Option<Option<CostStatus>> {
    if sample.pod_hash.is_empty() {
        return None;
    }
    let extra = sample.extra_pods();
    let Some(prev) = prev.filter(|c| c.pod_hash == sample.pod_hash) else {
        // Another update's figures (or none): a new update starts when one is in progress.
        if !sample.in_update() {
            return None;
        }
        return Some(Some(CostStatus {
            pod_hash: sample.pod_hash.to_string(),
            extra_pod_seconds: 0.0,
            extra_pods: extra,
            since: now,
            started_at: now,
            finished_at: None,
        }));
    };
    if prev.finished() {
        // A retried abort resumes the same update; otherwise the figures are final.
        if sample.in_update() && !sample.aborted {
            return Some(Some(CostStatus {
                extra_pods: extra,
                since: now,
                finished_at: None,
                ..prev.clone()
            }));
        }
        return None;
    }
    let settled = sample.settled();
    if extra == prev.extra_pods && !settled {
        return None;
    }
    let accumulated = prev.at(now).extra_pod_seconds;
    Some(Some(CostStatus {
        extra_pod_seconds: (accumulated * 1000.0).round() / 1000.0,
        extra_pods: extra,
        since: now,
        finished_at: settled.then_some(now),
        ..prev.clone()
    }))
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn t(secs: i64) -> Timestamp {
        Timestamp::from_second(1_700_000_000 + secs).unwrap()
    }

    fn sample<'a>(hash: &'a str, stable: &'a str, replicas: i64, desired: i32) -> Sample<'a> {
        Sample {
            pod_hash: hash,
            stable_hash: stable,
            aborted: false,
            replicas,
            desired,
        }
    }

    #[test]
    fn table() {
        // (label, spec.replicas, steps of (at, pod hash, stable hash, aborted, sum of RS
        // replicas), then at `at`: (extra pod-seconds, wall seconds, finished)).
        type Step = (i64, &'static str, &'static str, bool, i64);
        type Case = (&'static str, i32, &'static [Step], i64, (f64, f64, bool));
        let cases: [Case; 6] = [
            (
                "quiet: no update, no cost",
                10,
                &[(0, "a", "a", false, 10), (60, "a", "a", false, 10)],
                120,
                (0.0, 0.0, false),
            ),
            (
                "canary surge 3 pods for 60 s then promoted",
                10,
                &[
                    (0, "b", "a", false, 10),
                    (10, "b", "a", false, 13),
                    (70, "b", "b", false, 10),
                ],
                500,
                (180.0, 70.0, true),
            ),
            (
                "blue-green preview of full size, 30 s scale-down delay",
                4,
                &[
                    (0, "b", "a", false, 4),
                    (5, "b", "a", false, 8),
                    (65, "b", "b", false, 8),
                    (95, "b", "b", false, 4),
                ],
                200,
                (4.0 * 90.0, 95.0, true),
            ),
            (
                "abort: extra pods until the canary is drained",
                10,
                &[
                    (0, "b", "a", false, 10),
                    (0, "b", "a", false, 12),
                    (20, "b", "a", true, 12),
                    (50, "b", "a", true, 10),
                ],
                100,
                (100.0, 50.0, true),
            ),
            (
                "running update counts up to now",
                10,
                &[(0, "b", "a", false, 10), (10, "b", "a", false, 12)],
                40,
                (60.0, 40.0, false),
            ),
            (
                "figures kept after the update until the next",
                10,
                &[
                    (0, "b", "a", false, 10),
                    (0, "b", "a", false, 11),
                    (10, "b", "b", false, 10),
                    (20, "b", "b", false, 10),
                ],
                1000,
                (10.0, 10.0, true),
            ),
        ];
        for (label, desired, steps, at, (pod_s, wall, finished)) in cases {
            let mut cost = None;
            for &(secs, hash, stable, aborted, replicas) in steps {
                let s = Sample {
                    aborted,
                    ..sample(hash, stable, replicas, desired)
                };
                cost = advance(cost.as_ref(), &s, t(secs));
            }
            let f = cost_at(cost.as_ref(), t(at));
            assert_eq!((f.extra_pod_seconds, f.wall_seconds), (pod_s, wall), "{label}");
            assert_eq!(
                cost.as_ref().is_some_and(CostStatus::finished),
                finished,
                "{label}"
            );
        }
    }

    #[test]
    fn no_change_without_a_new_count() {
        let c = advance(None, &sample("b", "a", 12, 10), t(0));
        let again = advance(c.as_ref(), &sample("b", "a", 12, 10), t(500));
        assert_eq!(c, again, "same extra pods: no status change");
    }

    #[test]
    fn new_update_starts_new_accounting_and_retry_resumes() {
        let mut c = advance(None, &sample("b", "a", 12, 10), t(0));
        c = advance(c.as_ref(), &sample("b", "b", 10, 10), t(10));
        assert_eq!(cost_at(c.as_ref(), t(99)).extra_pod_seconds, 20.0);
        c = advance(c.as_ref(), &sample("c", "b", 10, 10), t(100));
        assert_eq!(
            c.as_ref()
                .map(|c| (c.pod_hash.as_str(), c.extra_pod_seconds, c.started_at)),
            Some(("c", 0.0, t(100)))
        );
        // Aborted and drained: finished; retried: resumes the same accounting.
        let aborted = Sample {
            aborted: true,
            ..sample("c", "b", 10, 10)
        };
        c = advance(c.as_ref(), &aborted, t(110));
        assert!(c.as_ref().is_some_and(CostStatus::finished));
        c = advance(c.as_ref(), &sample("c", "b", 11, 10), t(200));
        assert_eq!(
            c.as_ref().map(|c| (c.finished(), c.started_at, c.extra_pods)),
            Some((false, t(100), 1))
        );
        assert_eq!(cost_at(c.as_ref(), t(210)).extra_pod_seconds, 10.0);
    }

    #[test]
    fn summaries() {
        let running = advance(None, &sample("b", "a", 12, 10), t(0)).unwrap();
        assert_eq!(
            running.summary(t(90)),
            "extra 180.0 pod-seconds (0.050 pod-hours), wall time 1m30s so far"
        );
        let done = advance(Some(&running), &sample("b", "b", 10, 10), t(90)).unwrap();
        assert_eq!(
            done.summary(t(900)),
            "extra 180.0 pod-seconds (0.050 pod-hours), wall time 1m30s"
        );
    }

    #[test]
    fn duration_texts() {
        assert_eq!(duration_text(5.0), "5s");
        assert_eq!(duration_text(90.0), "1m30s");
        assert_eq!(duration_text(3725.0), "1h2m5s");
        assert_eq!(duration_text(-3.0), "0s");
    }

    proptest! {
        /// Within one update the cost never decreases and equals the integral of
        /// (replicas - desired)+ over the piecewise-constant observed history.
        #[test]
        fn integral_of_extra_pods(history in prop::collection::vec((0i64..600, 0i64..40), 1..40), desired in 0i32..20) {
            let mut cost = None;
            let (mut now, mut integral, mut last) = (0i64, 0.0f64, 0.0f64);
            let mut prev_extra = 0i64;
            for (i, &(dt, replicas)) in history.iter().enumerate() {
                if i > 0 {
                    now += dt;
                    integral += (prev_extra * dt) as f64;
                }
                cost = advance(cost.as_ref(), &sample("b", "a", replicas, desired), t(now));
                let f = cost_at(cost.as_ref(), t(now));
                prop_assert!((f.extra_pod_seconds - integral).abs() < 1e-6, "{} != {}", f.extra_pod_seconds, integral);
                prop_assert!(f.extra_pod_seconds >= last);
                prop_assert_eq!(f.wall_seconds, now as f64);
                last = f.extra_pod_seconds;
                prev_extra = (replicas - i64::from(desired)).max(0);
            }
            let later = cost_at(cost.as_ref(), t(now + 100));
            prop_assert!((later.extra_pod_seconds - (integral + (prev_extra * 100) as f64)).abs() < 1e-6);
        }
    }
}
