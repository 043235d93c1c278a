//! Migrating a Deployment to a Rollout (`workloadRef`) and the way back, as plans computed before
//! anything is applied (`rollout migrate`, `rollout revert`).
//!
//! - [`hand_over`]: the replicas of the Rollout and of the Deployment at each moment of the
//!   hand-over, for each `scaleDown` mode, exactly as the machine
//!   ([`machine::workload`](super::machine)) drives it (a table test drives `reconcile` with
//!   [`FakeCluster`](crate::testing::FakeCluster) and compares), and the peak.
//! - [`quota`]: whether a namespace's ResourceQuotas (`pods`, `requests.cpu`,
//!   `requests.memory`: hard − used) would refuse the pods the peak adds.
//! - [`revert_plan`]: the steps back to the Deployment, ordered so that the ready pods never drop
//!   below the availability floor: the Deployment is scaled up and available before the Rollout
//!   (and its pods) go.

pub mod quota;

use serde::{Deserialize, Serialize};

use super::spec::ScaleDownMode;

/// Annotation on a Deployment scaled by a Rollout's `workloadRef`: the Rollout's name.
pub const MANAGED_BY_ANNOTATION: &str = "rollout.io/managed-by-rollout";
/// Annotation on such a Deployment: the command that gives it back its pods.
pub const REVERT_ANNOTATION: &str = "rollout.io/revert";

/// The annotations a driver sets on a Deployment when the Rollout `rollout` in `namespace` scales
/// it (`[(MANAGED_BY_ANNOTATION, name), (REVERT_ANNOTATION, "rollout revert NAME -n NS")]`).
pub fn deployment_annotations(rollout: &str, namespace: &str) -> [(&'static str, String); 2] {
    [
        (MANAGED_BY_ANNOTATION, rollout.to_string()),
        (
            REVERT_ANNOTATION,
            format!("rollout revert {rollout} -n {namespace}"),
        ),
    ]
}

/// Moments listed one by one for a progressive drain up to this many Rollout replicas; beyond,
/// evenly spaced ones (the peak is computed over all of them).
pub const MAX_LISTED_MOMENTS: i32 = 24;

/// When a [`Moment`] happens.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "stage")]
pub enum Stage {
    /// Before the Rollout is applied.
    Before,
    /// The Rollout's ReplicaSet is created at full size (an initial deploy skips the steps).
    RolloutCreated,
    /// `ready` of the Rollout's pods are ready (`progressively` drains the Deployment meanwhile).
    RolloutReady {
        /// Ready Rollout pods.
        ready: i32,
    },
    /// The Rollout is Healthy.
    Healthy,
    /// `onsuccess`: the Deployment is scaled to zero once the Rollout is Healthy.
    DeploymentDrained,
}

impl std::fmt::Display for Stage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Stage::Before => f.write_str("before"),
            Stage::RolloutCreated => f.write_str("Rollout ReplicaSet created"),
            Stage::RolloutReady { ready } => write!(f, "Rollout pods ready: {ready}"),
            Stage::Healthy => f.write_str("Rollout Healthy"),
            Stage::DeploymentDrained => f.write_str("Deployment drained"),
        }
    }
}

/// Desired pods at one moment of the hand-over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Moment {
    /// When.
    #[serde(flatten)]
    pub stage: Stage,
    /// The Rollout's pods (its ReplicaSet's `spec.replicas`).
    pub rollout: i32,
    /// The Deployment's `spec.replicas`.
    pub deployment: i32,
    /// Ready pods at least (Rollout pods ready plus the Deployment's, assuming the Deployment's
    /// existing pods are ready and pods it adds are not yet).
    pub ready: i32,
}

impl Moment {
    /// Pods that exist (or are being created) at this moment.
    pub fn pods(&self) -> i32 {
        self.rollout.saturating_add(self.deployment)
    }
}

/// The hand-over from a Deployment to the Rollout that references it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HandOver {
    /// `workloadRef.scaleDown`: `never`, `onsuccess` or `progressively`.
    pub scale_down: String,
    /// The moments, in order (consecutive equal states are merged).
    pub moments: Vec<Moment>,
    /// The most pods at any moment.
    pub peak_pods: i32,
    /// Pods the peak adds to those running now (what a quota must admit).
    pub extra_pods: i32,
    /// The fewest ready pods at any moment.
    pub min_ready: i32,
    /// The Deployment keeps its pods at the end (`never`).
    pub deployment_kept: bool,
}

/// The `scaleDown` spelling of a mode.
pub fn mode_name(mode: ScaleDownMode) -> &'static str {
    match mode {
        ScaleDownMode::Never => "never",
        ScaleDownMode::OnSuccess => "onsuccess",
        ScaleDownMode::Progressively => "progressively",
    }
}

/// The hand-over of a Deployment at `deployment` replicas to a Rollout of `rollout` replicas
/// under `mode`. Negative counts are read as 0. Bounded: at most [`MAX_LISTED_MOMENTS`] + 4
/// moments whatever the replicas.
pub fn hand_over(mode: ScaleDownMode, deployment: i32, rollout: i32) -> HandOver {
    let (d, r) = (deployment.max(0), rollout.max(0));
    let mut moments = vec![
        Moment {
            stage: Stage::Before,
            rollout: 0,
            deployment: d,
            ready: d,
        },
        Moment {
            stage: Stage::RolloutCreated,
            rollout: r,
            deployment: d,
            ready: d,
        },
    ];
    let mut peak = d.saturating_add(r);
    let mut min_ready = d;
    match mode {
        ScaleDownMode::Never => moments.push(Moment {
            stage: Stage::Healthy,
            rollout: r,
            deployment: d,
            ready: r.saturating_add(d),
        }),
        ScaleDownMode::OnSuccess => {
            moments.push(Moment {
                stage: Stage::Healthy,
                rollout: r,
                deployment: d,
                ready: r.saturating_add(d),
            });
            moments.push(Moment {
                stage: Stage::DeploymentDrained,
                rollout: r,
                deployment: 0,
                ready: r,
            });
        }
        ScaleDownMode::Progressively => {
            // The machine keeps the Deployment at `replicas - ready` once a Rollout pod is ready
            // (scaling it *up* when it had fewer), then at 0 once Healthy.
            let at = |k: i32| {
                let dep = r - k;
                Moment {
                    stage: Stage::RolloutReady { ready: k },
                    rollout: r,
                    deployment: dep,
                    ready: k.saturating_add(dep.min(d)),
                }
            };
            if r > 1 {
                let worst = at(1);
                peak = peak.max(worst.pods());
                // ready(k) = k + min(r - k, d): k + d while the Deployment is the smaller, r
                // after; the least over 1..r is min(r, d + 1), with no loop over r.
                min_ready = min_ready.min(r.min(d.saturating_add(1)));
            }
            for k in listed(r) {
                moments.push(at(k));
            }
            moments.push(Moment {
                stage: Stage::Healthy,
                rollout: r,
                deployment: 0,
                ready: r,
            });
        }
    }
    moments.dedup_by(|b, a| (a.rollout, a.deployment) == (b.rollout, b.deployment));
    for m in &moments {
        min_ready = min_ready.min(m.ready);
    }
    HandOver {
        scale_down: mode_name(mode).to_string(),
        peak_pods: peak,
        extra_pods: peak.saturating_sub(d),
        min_ready,
        deployment_kept: mode == ScaleDownMode::Never && d > 0,
        moments,
    }
}

/// The ready counts `1..r` listed for a progressive drain (all of them up to
/// [`MAX_LISTED_MOMENTS`], else evenly spaced ones including the first and the last).
fn listed(r: i32) -> Vec<i32> {
    if r <= 1 {
        return Vec::new();
    }
    let n = r - 1;
    if n <= MAX_LISTED_MOMENTS {
        return (1..r).collect();
    }
    let mut ks: Vec<i32> = (0..MAX_LISTED_MOMENTS)
        .map(|i| 1 + (i64::from(i) * i64::from(n - 1) / i64::from(MAX_LISTED_MOMENTS - 1)) as i32)
        .collect();
    ks.dedup();
    ks
}

/// How `rollout revert` ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RevertEnd {
    /// Delete the Rollout (its ReplicaSets and pods go with it).
    Remove,
    /// Pause the Rollout and keep it (its pods keep running).
    Pause,
}

/// What `rollout revert` starts from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevertInput {
    /// The Rollout.
    pub rollout: String,
    /// The referenced Deployment.
    pub deployment: String,
    /// The Deployment's `spec.replicas` now.
    pub deployment_replicas: i32,
    /// The Rollout's `spec.replicas`: the Deployment is scaled back to this.
    pub rollout_replicas: i32,
    /// The availability floor: ready pods never go below this.
    pub floor: i32,
    /// Services whose selector the Rollout pinned to a pod-template hash.
    pub services: Vec<String>,
    /// Remove or pause the Rollout.
    pub end: RevertEnd,
}

/// One step of the way back, carried out in order by the CLI.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "step")]
pub enum RevertStep {
    /// Set `workloadRef.scaleDown: never` so the controller stops draining the Deployment.
    KeepDeployment {
        /// The Rollout.
        rollout: String,
    },
    /// Set the Deployment's `spec.replicas`.
    ScaleDeployment {
        /// The Deployment.
        deployment: String,
        /// Replicas now.
        from: i32,
        /// Replicas after.
        to: i32,
    },
    /// Wait until the Deployment has `available` available pods (with a timeout: nothing after
    /// this step runs unless it succeeded).
    WaitAvailable {
        /// The Deployment.
        deployment: String,
        /// Available pods needed.
        available: i32,
    },
    /// Remove the `rollouts-pod-template-hash` pin from a Service's selector, so it selects the
    /// Deployment's pods too.
    UnpinService {
        /// The Service.
        service: String,
    },
    /// Remove the migration annotations from the Deployment.
    Unannotate {
        /// The Deployment.
        deployment: String,
    },
    /// Delete the Rollout.
    RemoveRollout {
        /// The Rollout.
        rollout: String,
    },
    /// Pause the Rollout (`spec.paused`).
    PauseRollout {
        /// The Rollout.
        rollout: String,
    },
}

impl std::fmt::Display for RevertStep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RevertStep::KeepDeployment { rollout } => write!(
                f,
                "set Rollout {rollout} workloadRef.scaleDown to never (the controller stops draining the Deployment)"
            ),
            RevertStep::ScaleDeployment { deployment, from, to } => {
                write!(f, "scale Deployment {deployment} from {from} to {to}")
            }
            RevertStep::WaitAvailable {
                deployment,
                available,
            } => {
                write!(
                    f,
                    "wait until Deployment {deployment} has {available} available pods"
                )
            }
            RevertStep::UnpinService { service } => {
                write!(f, "remove the pod-template-hash pin from Service {service}")
            }
            RevertStep::Unannotate { deployment } => {
                write!(f, "remove the migration annotations from Deployment {deployment}")
            }
            RevertStep::RemoveRollout { rollout } => {
                write!(
                    f,
                    "delete Rollout {rollout} (its ReplicaSets and pods go with it)"
                )
            }
            RevertStep::PauseRollout { rollout } => {
                write!(f, "pause Rollout {rollout} (its pods keep running)")
            }
        }
    }
}

/// The way back from `input`, in order. The Deployment is scaled up and waited for *before*
/// anything serving is touched, so ready pods stay at or above the floor throughout: while the
/// Deployment grows both run; Services are unpinned only once it is available (they then select
/// both); the Rollout's pods go last.
pub fn revert_plan(input: &RevertInput) -> Vec<RevertStep> {
    let target = input.rollout_replicas.max(0);
    let mut steps = vec![RevertStep::KeepDeployment {
        rollout: input.rollout.clone(),
    }];
    if input.deployment_replicas != target {
        steps.push(RevertStep::ScaleDeployment {
            deployment: input.deployment.clone(),
            from: input.deployment_replicas,
            to: target,
        });
    }
    steps.push(RevertStep::WaitAvailable {
        deployment: input.deployment.clone(),
        available: target,
    });
    steps.extend(
        input
            .services
            .iter()
            .map(|s| RevertStep::UnpinService { service: s.clone() }),
    );
    steps.push(RevertStep::Unannotate {
        deployment: input.deployment.clone(),
    });
    steps.push(match input.end {
        RevertEnd::Remove => RevertStep::RemoveRollout {
            rollout: input.rollout.clone(),
        },
        RevertEnd::Pause => RevertStep::PauseRollout {
            rollout: input.rollout.clone(),
        },
    });
    steps
}

/// The availability floor of a Rollout of `replicas` with `maxUnavailable` (default 25%,
/// rounded down): `replicas - maxUnavailable`.
pub fn availability_floor(replicas: i32, max_unavailable: Option<&crate::common::IntOrString>) -> i32 {
    let (_, unavailable) = super::replicas::resolve_surge_unavailable(None, max_unavailable, replicas);
    (replicas - unavailable).max(0)
}
