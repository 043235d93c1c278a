//! The canary weight timeline of each AnalysisRun, so judges with `exposure: weights` see the
//! traffic split over the run's window in production as they do in the simulator.
//!
//! Argo's status keeps only the current weight (`status.canary.weights`), and a controller may
//! restart at any time, so the timeline is persisted on the run itself: the annotation
//! [`CANARY_WEIGHTS_ANNOTATION`] holds a JSON list of `{"t": <ms since epoch>, "w": <percent>}`.
//! The Rollout reconciler appends a point whenever the weight it decided differs from the run's
//! last point (and writes the first point when it finds a run without one); the run reconciler
//! hands the timeline to every measurement ([`MeasurementRequest::weights`]).
//!
//! The list is bounded ([`MAX_WEIGHT_POINTS`]): the first point is kept (the weight at the start of
//! the window) and the oldest of the others are dropped.
//!
//! [`MeasurementRequest::weights`]: rollout_core::analysis::MeasurementRequest::weights

use std::collections::BTreeMap;

use kube::ResourceExt;
use kube::api::{Api, Patch, PatchParams};
use rollout_core::analysis::judge::WeightPoint;
use rollout_core::common::Timestamp;
use rollout_core::rollout::RolloutStatus;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::reconciler::{Error, Reconciler, kube_err};
use crate::resources::{AnalysisRun, Rollout};

/// Annotation on an AnalysisRun holding its canary weight timeline.
pub const CANARY_WEIGHTS_ANNOTATION: &str = "rollout.io/canary-weights";

/// Most points kept in [`CANARY_WEIGHTS_ANNOTATION`] (an update has a few dozen weight changes).
pub const MAX_WEIGHT_POINTS: usize = 256;

/// One point as stored in the annotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
struct StoredPoint {
    /// Milliseconds since the Unix epoch.
    t: i64,
    /// Canary weight in percent.
    w: u32,
}

/// Why an annotation could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("annotation {CANARY_WEIGHTS_ANNOTATION}: {0}")]
pub struct WeightsError(String);

/// The timeline stored in `annotations` (empty when there is none).
pub fn timeline(annotations: &BTreeMap<String, String>) -> Result<Vec<WeightPoint>, WeightsError> {
    let Some(text) = annotations.get(CANARY_WEIGHTS_ANNOTATION) else {
        return Ok(Vec::new());
    };
    let points: Vec<StoredPoint> = serde_json::from_str(text).map_err(|e| WeightsError(e.to_string()))?;
    if points.len() > MAX_WEIGHT_POINTS {
        return Err(WeightsError(format!(
            "{} points, more than {MAX_WEIGHT_POINTS}",
            points.len()
        )));
    }
    let mut out = Vec::with_capacity(points.len());
    for p in points {
        if p.w > 100 {
            return Err(WeightsError(format!("weight {} is above 100", p.w)));
        }
        if out.last().is_some_and(|last: &WeightPoint| last.time_ms > p.t) {
            return Err(WeightsError("points are not in time order".into()));
        }
        out.push(WeightPoint {
            time_ms: p.t,
            canary_weight: p.w,
        });
    }
    Ok(out)
}

/// The annotation value for `points`.
pub fn render(points: &[WeightPoint]) -> String {
    let stored: Vec<StoredPoint> = points
        .iter()
        .map(|p| StoredPoint {
            t: p.time_ms,
            w: p.canary_weight,
        })
        .collect();
    // Serialising plain integers cannot fail.
    serde_json::to_string(&stored).unwrap_or_else(|_| "[]".into())
}

/// `points` with `point` appended when the weight changed (or the timeline is empty), bounded to
/// [`MAX_WEIGHT_POINTS`]; `None` when nothing changes.
pub fn append(points: &[WeightPoint], point: WeightPoint) -> Option<Vec<WeightPoint>> {
    if points
        .last()
        .is_some_and(|last| last.canary_weight == point.canary_weight)
    {
        return None;
    }
    let mut out = points.to_vec();
    // Never go back in time: a point older than the last one is recorded at the last one's time.
    let time_ms = out.last().map_or(point.time_ms, |l| l.time_ms.max(point.time_ms));
    out.push(WeightPoint { time_ms, ..point });
    if out.len() > MAX_WEIGHT_POINTS {
        let excess = out.len() - MAX_WEIGHT_POINTS;
        out.drain(1..=excess);
    }
    Some(out)
}

/// The canary weight the status records (`status.canary.weights.canary.weight`), clamped to
/// 0-100; `None` without traffic routing (the weight is then carried by replica counts only).
pub fn canary_weight(status: &RolloutStatus) -> Option<u32> {
    let w = status.canary.weights.as_ref()?.canary.weight;
    Some(u32::try_from(w.clamp(0, 100)).unwrap_or(0))
}

/// The names of the runs a status says are in progress (step and background analysis, blue-green
/// pre- and post-promotion).
fn running_runs(status: &RolloutStatus) -> Vec<String> {
    [
        &status.canary.current_step_analysis_run_status,
        &status.canary.current_background_analysis_run_status,
        &status.blue_green.pre_promotion_analysis_run_status,
        &status.blue_green.post_promotion_analysis_run_status,
    ]
    .into_iter()
    .flatten()
    .map(|r| r.name.clone())
    .collect()
}

/// The timeline of `run`; a malformed annotation is reported and read as empty (the run then gets
/// a fresh timeline from the next point on).
pub fn run_timeline(run: &AnalysisRun) -> Vec<WeightPoint> {
    timeline(run.annotations()).unwrap_or_else(|e| {
        tracing::warn!(run = %run.name_any(), error = %e, "ignoring a malformed canary weight timeline");
        Vec::new()
    })
}

impl Reconciler {
    /// Appends the canary weight decided at `now` (`after`) to the timeline of every run in
    /// progress, when it differs from the weight before the reconcile or a run was just created
    /// (so a new run starts with the weight at its start). Returns the number of writes.
    pub(crate) async fn record_weights(
        &self,
        ro: &Rollout,
        before: &RolloutStatus,
        after: &RolloutStatus,
        created_run: bool,
        now: Timestamp,
    ) -> Result<usize, Error> {
        let Some(weight) = canary_weight(after) else {
            return Ok(0);
        };
        if canary_weight(before) == Some(weight) && !created_run {
            return Ok(0);
        }
        let names = running_runs(after);
        if names.is_empty() {
            return Ok(0);
        }
        let ns = ro.namespace().ok_or(Error::MissingMetadata)?;
        let uid = ro.uid().unwrap_or_default();
        let api: Api<AnalysisRun> = Api::namespaced(self.client.clone(), &ns);
        let point = WeightPoint {
            time_ms: now.as_millisecond(),
            canary_weight: weight,
        };
        let mut writes = 0;
        for run in self.analysis_runs(&ns, &uid, &names).await? {
            let name = run.name_any();
            if !names.contains(&name) {
                continue;
            }
            let Some(points) = append(&run_timeline(&run), point) else {
                continue;
            };
            let patch = json!({"metadata": {"annotations": {CANARY_WEIGHTS_ANNOTATION: render(&points)}}});
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await
                .map_err(kube_err(format!(
                    "annotate AnalysisRun {ns}/{name} with canary weights"
                )))?;
            writes += 1;
        }
        Ok(writes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(t: i64, w: u32) -> WeightPoint {
        WeightPoint {
            time_ms: t,
            canary_weight: w,
        }
    }

    #[test]
    fn round_trips_through_the_annotation() {
        let points = vec![p(1_000, 0), p(61_000, 20), p(121_000, 40)];
        let text = render(&points);
        assert_eq!(
            text,
            r#"[{"t":1000,"w":0},{"t":61000,"w":20},{"t":121000,"w":40}]"#
        );
        let annotations = BTreeMap::from([(CANARY_WEIGHTS_ANNOTATION.to_string(), text)]);
        assert_eq!(timeline(&annotations).unwrap(), points);
        assert_eq!(timeline(&BTreeMap::new()).unwrap(), vec![]);
    }

    #[test]
    fn refuses_malformed_timelines() {
        for (text, want) in [
            ("[nope]", "expected ident"),
            (r#"[{"t":1,"w":101}]"#, "weight 101 is above 100"),
            (r#"[{"t":5,"w":1},{"t":4,"w":2}]"#, "not in time order"),
        ] {
            let annotations = BTreeMap::from([(CANARY_WEIGHTS_ANNOTATION.to_string(), text.to_string())]);
            let err = timeline(&annotations).unwrap_err().to_string();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn appends_only_changes_and_stays_bounded() {
        assert_eq!(append(&[], p(5, 0)), Some(vec![p(5, 0)]));
        assert_eq!(append(&[p(5, 20)], p(9, 20)), None);
        assert_eq!(append(&[p(5, 20)], p(3, 40)), Some(vec![p(5, 20), p(5, 40)]));
        let mut points = vec![];
        for i in 0..(MAX_WEIGHT_POINTS as i64 + 10) {
            points = append(&points, p(i, (i % 2) as u32)).unwrap();
        }
        assert_eq!(points.len(), MAX_WEIGHT_POINTS);
        assert_eq!(points[0], p(0, 0), "the window's first point is kept");
        assert_eq!(points.last().unwrap().time_ms, MAX_WEIGHT_POINTS as i64 + 9);
    }
}
