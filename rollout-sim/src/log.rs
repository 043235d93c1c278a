//! The simulation's record: an event log (what happened and why) and a timeline (weights,
//! replicas, error ratios per tick), both serialisable to JSON.

use std::collections::BTreeMap;

use serde::Serialize;

/// How a simulation ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// The new version became stable.
    Promoted,
    /// The update was aborted and traffic went back to the stable version.
    Aborted,
    /// The rollout paused and waits for a person (inconclusive analysis or an indefinite pause).
    Paused,
    /// Degraded without an abort (e.g. progress deadline exceeded, invalid spec).
    Degraded,
    /// The scenario's `maxDuration` passed first.
    TimedOut,
}

impl Outcome {
    /// Every outcome.
    pub const ALL: [Outcome; 5] = [
        Outcome::Promoted,
        Outcome::Aborted,
        Outcome::Paused,
        Outcome::Degraded,
        Outcome::TimedOut,
    ];

    /// Lower-case name, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Promoted => "promoted",
            Outcome::Aborted => "aborted",
            Outcome::Paused => "paused",
            Outcome::Degraded => "degraded",
            Outcome::TimedOut => "timed-out",
        }
    }
}

/// What happened.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "kebab-case")]
pub enum EventKind {
    /// The new revision was applied (time 0).
    Update {
        /// New pod-template hash.
        hash: String,
    },
    /// The rollout moved to a step.
    Step {
        /// Step index from 0 (`status.currentStepIndex`); `count` once every step is done. The log
        /// line numbers steps from 1, as the controller's events do (`Rollout step 1/8 completed`).
        index: i32,
        /// Number of steps.
        count: i32,
        /// Step, e.g. `setWeight: 40`.
        step: String,
    },
    /// The traffic router's canary weight changed.
    Weight {
        /// Canary weight.
        weight: i32,
    },
    /// A ReplicaSet was created or scaled.
    Scale {
        /// ReplicaSet name.
        replica_set: String,
        /// From.
        from: i32,
        /// To.
        to: i32,
    },
    /// Replica counts of the stable and canary ReplicaSets changed.
    Replicas {
        /// Stable `spec.replicas`.
        stable: i32,
        /// Stable ready pods.
        stable_ready: i32,
        /// Canary `spec.replicas`.
        canary: i32,
        /// Canary ready pods.
        canary_ready: i32,
    },
    /// An AnalysisRun was created.
    AnalysisStarted {
        /// Run name.
        run: String,
    },
    /// A measurement finished.
    Measurement {
        /// Run name.
        run: String,
        /// Metric name.
        metric: String,
        /// Measurement phase.
        phase: String,
        /// Measurement value.
        value: String,
        /// Measurement message (judges' reasons, provider errors).
        message: String,
        /// The judge's verdict code (`regression`, `environment-unhealthy`, …) for judge metrics.
        #[serde(skip_serializing_if = "Option::is_none")]
        code: Option<String>,
    },
    /// An AnalysisRun completed.
    AnalysisCompleted {
        /// Run name.
        run: String,
        /// Phase.
        phase: String,
        /// Message.
        message: String,
    },
    /// A Kubernetes event the machine emitted.
    RolloutEvent {
        /// Reason.
        reason: String,
        /// Message.
        message: String,
    },
    /// The rollout's phase changed.
    Phase {
        /// Phase.
        phase: String,
        /// Message.
        message: String,
    },
    /// A fault from the scenario started.
    Fault {
        /// Description.
        description: String,
    },
    /// The simulated person ran `promote`.
    Promote,
    /// The simulation ended.
    Finished {
        /// Outcome.
        outcome: Outcome,
        /// Why.
        reason: String,
    },
}

/// One entry of the event log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LogEvent {
    /// Simulated seconds since the update was applied.
    pub t: f64,
    /// What happened.
    #[serde(flatten)]
    pub kind: EventKind,
}

/// One version's state at a timeline point.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VersionPoint {
    /// `spec.replicas`.
    pub replicas: i32,
    /// Ready pods.
    pub ready: i32,
    /// Share of traffic this tick (0..=1).
    pub traffic: f64,
    /// Requests served this tick.
    pub requests: u64,
    /// Errors this tick.
    pub errors: u64,
}

/// The state after one traffic tick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelinePoint {
    /// Simulated seconds since the update.
    pub t: f64,
    /// The router's canary weight (0 without a router).
    pub weight: i32,
    /// The rollout's current step index.
    pub step: Option<i32>,
    /// Per ReplicaSet hash.
    pub versions: BTreeMap<String, VersionPoint>,
}

/// The complete record of a simulation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReport {
    /// Rollout name.
    pub rollout: String,
    /// Scenario name.
    pub scenario: String,
    /// Seed used.
    pub seed: u64,
    /// Outcome.
    pub outcome: Outcome,
    /// Why it ended that way.
    pub reason: String,
    /// Simulated seconds from the update to the end.
    pub duration_secs: f64,
    /// Hash of the stable version before the update.
    pub stable_hash: String,
    /// Hash of the new version.
    pub canary_hash: String,
    /// The event log.
    pub events: Vec<LogEvent>,
    /// The timeline.
    pub timeline: Vec<TimelinePoint>,
    /// Pod-seconds from the update to the end, in total and for the baseline arm.
    pub pod_seconds: crate::model::PodSeconds,
    /// The cost of safety from the Rollout's `status.cost` at the end (as the controller
    /// reports it): pod-seconds above `spec.replicas` and wall time of the update.
    pub cost: rollout_core::rollout::cost::CostFigures,
}

/// Renders seconds as `1h2m3s` / `45s`.
pub fn human_duration(secs: f64) -> String {
    let s = secs.max(0.0).round() as u64;
    let (h, m, s) = (s / 3600, (s % 3600) / 60, s % 60);
    match (h, m) {
        (0, 0) => format!("{s}s"),
        (0, _) => format!("{m}m{s:02}s"),
        _ => format!("{h}h{m:02}m{s:02}s"),
    }
}

impl LogEvent {
    /// One human line, e.g. `[    1m30s] step 3/8: setWeight: 40` (steps numbered from 1).
    pub fn line(&self) -> String {
        let body = match &self.kind {
            EventKind::Update { hash } => format!("update applied: new pod-template hash {hash}"),
            EventKind::Step { index, count, step } if index < count => {
                format!("step {}/{count}: {step}", index + 1)
            }
            EventKind::Step { count, .. } => format!("all {count} steps completed"),
            EventKind::Weight { weight } => format!("traffic: canary weight {weight}%"),
            EventKind::Scale {
                replica_set,
                from,
                to,
            } => format!("scale {replica_set}: {from} -> {to}"),
            EventKind::Replicas {
                stable,
                stable_ready,
                canary,
                canary_ready,
            } => format!(
                "replicas: stable {stable_ready}/{stable} ready, canary {canary_ready}/{canary} ready"
            ),
            EventKind::AnalysisStarted { run } => format!("analysis {run} started"),
            EventKind::Measurement {
                run: _,
                metric,
                phase,
                value,
                message,
                code,
            } => {
                let mut s = format!("  measurement {metric}: {phase}");
                // A judge's code says more than its score; the JSON has both.
                match code {
                    Some(code) => s.push_str(&format!(" {code}")),
                    None if !value.is_empty() => s.push_str(&format!(" value={value}")),
                    None => {}
                }
                if !message.is_empty() {
                    s.push_str(&format!(" ({message})"));
                }
                s
            }
            EventKind::AnalysisCompleted { run, phase, message } => {
                if message.is_empty() {
                    format!("analysis {run}: {phase}")
                } else {
                    format!("analysis {run}: {phase}: {message}")
                }
            }
            EventKind::RolloutEvent { reason, message } => format!("event {reason}: {message}"),
            EventKind::Phase { phase, message } => {
                if message.is_empty() {
                    format!("rollout phase {phase}")
                } else {
                    format!("rollout phase {phase}: {message}")
                }
            }
            EventKind::Fault { description } => format!("FAULT: {description}"),
            EventKind::Promote => "user: kubectl argo rollouts promote".to_string(),
            EventKind::Finished { outcome, reason } => format!("finished: {} ({reason})", outcome.as_str()),
        };
        format!("[{:>9}] {body}", human_duration(self.t))
    }

    /// [`LogEvent::line`] of a group member's event (`rollout simulate` with several Rollouts):
    /// the member's name, padded to `width`, after the time, e.g.
    /// `[    1m30s] author  | step 3/8: setWeight: 40`.
    pub fn member_line(&self, member: &str, width: usize) -> String {
        let line = self.line();
        match line.split_once("] ") {
            Some((time, body)) => format!("{time}] {member:<width$} | {body}"),
            None => line,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_lines() {
        assert_eq!(human_duration(45.0), "45s");
        assert_eq!(human_duration(90.0), "1m30s");
        assert_eq!(human_duration(3723.0), "1h02m03s");
        let step = |index: i32, step: &str| LogEvent {
            t: 90.0,
            kind: EventKind::Step {
                index,
                count: 8,
                step: step.into(),
            },
        };
        // Numbered from 1 like the controller's `Rollout step 3/8 completed`; the JSON keeps the index.
        let e = step(2, "setWeight: 40");
        assert_eq!(e.line(), "[    1m30s] step 3/8: setWeight: 40");
        let json = serde_json::to_value(&e).unwrap();
        assert_eq!(json["kind"], "step");
        assert_eq!(json["index"], 2);
        assert_eq!(json["count"], 8);
        assert_eq!(step(8, "").line(), "[    1m30s] all 8 steps completed");
        let measurement = |value: &str, code: Option<&str>| LogEvent {
            t: 60.0,
            kind: EventKind::Measurement {
                run: "r".into(),
                metric: "error-ratio".into(),
                phase: "Inconclusive".into(),
                value: value.into(),
                message: "stable itself violates the SLO".into(),
                code: code.map(str::to_string),
            },
        };
        let judged = measurement("1", Some("environment-unhealthy"));
        assert_eq!(
            judged.line(),
            "[    1m00s]   measurement error-ratio: Inconclusive environment-unhealthy (stable itself violates the SLO)"
        );
        let json = serde_json::to_value(&judged).unwrap();
        assert_eq!(json["code"], "environment-unhealthy");
        assert_eq!(json["value"], "1");
        let plain = measurement("[0.12]", None);
        assert_eq!(
            plain.line(),
            "[    1m00s]   measurement error-ratio: Inconclusive value=[0.12] (stable itself violates the SLO)"
        );
        assert!(serde_json::to_value(&plain).unwrap().get("code").is_none());
    }
}
