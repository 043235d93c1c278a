//! One scenario table every driver must pass (feature `conformance`): the same Rollouts, the same
//! user actions, the same expected statuses, whether the driver talks to a real API server
//! (`rollout-kube`'s e2e) or to memory (`rollout-sim`). A driver implements [`Harness`] over its
//! adapters and calls [`run_case`] for each of [`cases`].

use std::time::Duration;

use async_trait::async_trait;
use rollout_core::rollout::{RolloutPhase, RolloutStatus};
use serde_json::{Value, json};

/// What a driver's test harness does for the table.
#[async_trait]
pub trait Harness: Send {
    /// Creates the Rollout (`name` set in `metadata.name`) and starts driving it.
    async fn create(&mut self, rollout: Value) -> Result<(), String>;
    /// Sets the image of the first container (a new revision).
    async fn set_image(&mut self, name: &str, image: &str) -> Result<(), String>;
    /// `kubectl argo rollouts promote`.
    async fn promote(&mut self, name: &str) -> Result<(), String>;
    /// `kubectl argo rollouts abort`.
    async fn abort(&mut self, name: &str) -> Result<(), String>;
    /// Drives (or waits) until [`Expect::holds`] for the Rollout's status, for at most `budget`
    /// of the driver's time; returns the status then, or the last status seen as the error.
    async fn wait_until(
        &mut self,
        name: &str,
        budget: Duration,
        expect: &Expect,
    ) -> Result<RolloutStatus, String>;
}

/// One step of a case.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Set the image (a new revision).
    SetImage(&'static str),
    /// Promote.
    Promote,
    /// Abort.
    Abort,
    /// Wait for this state.
    Expect(Expect),
}

/// An expected state of the Rollout.
#[derive(Debug, Clone, PartialEq)]
pub enum Expect {
    /// Healthy with the current revision stable.
    Healthy,
    /// Paused at this step index.
    PausedAt(i32),
    /// Degraded by an abort: the stable revision unchanged, `status.abort` set.
    Aborted,
}

impl Expect {
    /// Whether `st` is in this state.
    pub fn holds(&self, st: &RolloutStatus) -> bool {
        match self {
            Expect::Healthy => {
                st.phase == Some(RolloutPhase::Healthy)
                    && !st.stable_rs.is_empty()
                    && st.stable_rs == st.current_pod_hash
            }
            Expect::PausedAt(i) => {
                st.phase == Some(RolloutPhase::Paused) && st.current_step_index == Some(*i)
            }
            Expect::Aborted => st.abort && st.phase == Some(RolloutPhase::Degraded),
        }
    }
}

/// One row of the table.
#[derive(Debug, Clone)]
pub struct Case {
    /// Case and Rollout name.
    pub name: &'static str,
    /// The Rollout (without `metadata.name`).
    pub rollout: Value,
    /// What happens, in order.
    pub steps: Vec<Step>,
}

fn canary(steps: Value) -> Value {
    json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
        "metadata": {},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "table"}},
            "template": {"metadata": {"labels": {"app": "table"}},
                         "spec": {"containers": [{"name": "app", "image": "example.invalid/app:v1"}]}},
            "strategy": {"canary": {"steps": steps}}
        }
    })
}

/// The table.
pub fn cases() -> Vec<Case> {
    use Expect::{Aborted, Healthy, PausedAt};
    use Step::{Abort, Promote, SetImage};
    vec![
        Case {
            name: "pause-then-promote",
            rollout: canary(json!([{"setWeight": 50}, {"pause": {}}])),
            steps: vec![
                Step::Expect(Healthy),
                SetImage("example.invalid/app:v2"),
                Step::Expect(PausedAt(1)),
                Promote,
                Step::Expect(Healthy),
            ],
        },
        Case {
            name: "abort-keeps-stable",
            rollout: canary(json!([{"setWeight": 50}, {"pause": {}}])),
            steps: vec![
                Step::Expect(Healthy),
                SetImage("example.invalid/app:v2"),
                Step::Expect(PausedAt(1)),
                Abort,
                Step::Expect(Aborted),
            ],
        },
        Case {
            name: "timed-pause-completes",
            rollout: canary(json!([{"setWeight": 50}, {"pause": {"duration": "5s"}}, {"setWeight": 100}])),
            steps: vec![
                Step::Expect(Healthy),
                SetImage("example.invalid/app:v2"),
                Step::Expect(Healthy),
            ],
        },
    ]
}

/// Runs one case with `harness`; `budget` bounds each wait. The error names the case and step.
pub async fn run_case(harness: &mut dyn Harness, case: &Case, budget: Duration) -> Result<(), String> {
    let mut rollout = case.rollout.clone();
    rollout["metadata"]["name"] = json!(case.name);
    let ctx = |i: usize, e: String| format!("{} step {i}: {e}", case.name);
    harness.create(rollout).await.map_err(|e| ctx(0, e))?;
    let mut stable = String::new();
    for (i, step) in case.steps.iter().enumerate() {
        match step {
            Step::SetImage(image) => harness.set_image(case.name, image).await,
            Step::Promote => harness.promote(case.name).await,
            Step::Abort => harness.abort(case.name).await,
            Step::Expect(expect) => {
                let st = harness
                    .wait_until(case.name, budget, expect)
                    .await
                    .map_err(|last| format!("expected {expect:?}; last status: {last}"));
                match st {
                    Ok(st) if *expect == Expect::Aborted && st.stable_rs != stable => Err(format!(
                        "abort changed the stable revision from {stable} to {}",
                        st.stable_rs
                    )),
                    Ok(st) => {
                        if *expect == Expect::Healthy {
                            stable = st.stable_rs;
                        }
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
        }
        .map_err(|e| ctx(i, e))?;
    }
    Ok(())
}
