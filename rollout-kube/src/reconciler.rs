//! One Rollout reconcile against the API server: a [`RolloutDriver`] tick (load the Rollout
//! from the watch cache when it is not stale ([`SeenRollouts`]), else with a GET; observe,
//! [`rollout_core::rollout::reconcile`], carry out the actions, write the status) over the
//! adapters in [`crate::adapters`], plus the kube-only extras (the weight timeline on
//! AnalysisRuns, Kubernetes Events).
//!
//! [`Reconciler::reconcile`] is usable on its own by operators with their own loop; the
//! [`Controller`](crate::controller) wraps it with watches, concurrency and backoff.
//!
//! Status is written with a JSON merge patch on `/status` that contains only the fields the core
//! changed plus `metadata.resourceVersion` as a precondition ([`RolloutStatusStore`]). Nothing is
//! written when nothing changed. The failure policy (ReplicaFailure, InvalidSpec) is the driver's,
//! from [`rollout_core::rollout::failures`].

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::runtime::reflector::Store;
use kube::{Client, Resource, ResourceExt};
use rollout_core::common::Timestamp;
use rollout_core::rollout::{Action, Inputs, Rollout as CoreRollout};
use rollout_driver::{AdapterError, DriverError, RolloutDriver, RolloutIo};
use tracing::warn;

use crate::adapters::{KubeRouter, RolloutStatusStore, TickEvents, reason_of, status_code};
use crate::events::EventPublisher;
use crate::notify::Notifier;
use crate::owner_index::OwnerIndex;
use crate::resources::{AnalysisRun, ConvertError, Rollout};
pub use seen::SeenRollouts;

pub use rollout_driver::Outcome;

mod seen;

/// Annotation with the time after which an old ReplicaSet is scaled down.
pub const SCALE_DOWN_DEADLINE_ANNOTATION: &str = "scale-down-deadline";
/// Annotation Argo writes on ReplicaSets with the Rollout's desired replicas.
pub const DESIRED_REPLICAS_ANNOTATION: &str = "rollout.argoproj.io/desired-replicas";
/// Condition type for ReplicaSet create/scale failures.
pub const REPLICA_FAILURE: &str = "ReplicaFailure";

/// Errors of one reconcile; all of them are retried with backoff.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An API request failed.
    #[error("{what}: {source}")]
    Kube {
        /// The request, e.g. `create ReplicaSet ns/name`.
        what: String,
        /// The error.
        #[source]
        source: kube::Error,
    },
    /// The Rollout has no namespace or name.
    #[error("Rollout without namespace or name")]
    MissingMetadata,
    /// An object could not be read as the core's type.
    #[error(transparent)]
    Convert(#[from] ConvertError),
    /// Serializing an object failed.
    #[error("serialize: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The driver's tick failed (an adapter's request, a missing router, ...).
    #[error(transparent)]
    Driver(#[from] DriverError),
}

impl Error {
    /// A short kind for metrics and retry policy: `conflict` (HTTP 409: our view was stale),
    /// `router`, `analysisrun`, `api`, `metadata`, `convert`, `serialize`.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Kube {
                source: kube::Error::Api(s),
                ..
            } if s.code == 409 => "conflict",
            Error::Kube { .. } => "api",
            Error::MissingMetadata => "metadata",
            Error::Convert(_) => "convert",
            Error::Serialize(_) => "serialize",
            Error::Driver(e) => driver_error_kind(e),
        }
    }
}

fn driver_error_kind(e: &DriverError) -> &'static str {
    let (action, source) = match e {
        DriverError::NoRouter => return "router",
        DriverError::Load(source) | DriverError::Persist(source) => (None, source),
        DriverError::Observe { source, .. } => (None, source),
        DriverError::Action { action, source } => (Some(*action), source),
    };
    if status_code(source) == Some(409) {
        return "conflict";
    }
    match action {
        Some("SetTrafficWeight") => "router",
        Some("CreateAnalysisRun" | "TerminateAnalysisRun" | "DeleteAnalysisRun") => "analysisrun",
        _ => "api",
    }
}

pub(crate) fn kube_err(what: impl Into<String>) -> impl FnOnce(kube::Error) -> Error {
    let what = what.into();
    move |source| Error::Kube { what, source }
}

/// Errors of the listing helpers ([`crate::snapshot`]) as the driver's adapter errors.
impl From<Error> for AdapterError {
    fn from(e: Error) -> Self {
        match e {
            Error::Kube { what, source } => AdapterError::Request {
                what,
                reason: reason_of(&source),
                source: Box::new(source),
            },
            other => AdapterError::Other(other.to_string()),
        }
    }
}

/// When to look at the Rollout again after `outcome`, relative to `now`.
pub fn requeue_after(outcome: &Outcome, now: Timestamp) -> Option<Duration> {
    outcome.decision.next_wake.map(|t| {
        let ms = t.as_millisecond().saturating_sub(now.as_millisecond()).max(0);
        Duration::from_millis(ms as u64)
    })
}

/// Where owned objects are read from: caches filled by the controller's watches, or list calls.
#[derive(Clone, Default)]
pub struct Caches {
    /// ReplicaSets carrying `rollouts-pod-template-hash`.
    pub replica_sets: Option<Store<ReplicaSet>>,
    /// `replica_sets` by controller owner uid (`None`: every reconcile scans the whole cache).
    pub replica_set_owners: Option<OwnerIndex<ReplicaSet>>,
    /// AnalysisRuns.
    pub analysis_runs: Option<Store<AnalysisRun>>,
    /// `analysis_runs` by owner uid (`None`: every reconcile scans the whole cache).
    pub analysis_run_owners: Option<OwnerIndex<AnalysisRun>>,
    /// Rollouts (metadata and the `rollout.io/group` annotation only): a group's members.
    pub rollouts: Option<Store<Rollout>>,
    /// The Rollouts as the watch delivered them, read instead of a GET when not stale
    /// (`None`: every reconcile GETs its Rollout).
    pub seen_rollouts: Option<SeenRollouts>,
}

impl std::fmt::Debug for Caches {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Caches")
            .field("replica_sets", &self.replica_sets.is_some())
            .field("analysis_runs", &self.analysis_runs.is_some())
            .field("rollouts", &self.rollouts.is_some())
            .field("seen_rollouts", &self.seen_rollouts.is_some())
            .finish()
    }
}

/// What a reconcile needs. It is also the [`Workloads`](rollout_driver::Workloads) and
/// [`AnalysisRuns`](rollout_driver::AnalysisRuns) adapter ([`crate::adapters::workloads`]).
#[derive(Clone)]
pub struct Reconciler {
    /// The client (the host's: auth, layers, rate limits).
    pub client: Client,
    /// Field manager name for our writes.
    pub field_manager: String,
    /// Owned-object caches (optional).
    pub caches: Caches,
    /// Coordinator inputs passed to the core for every Rollout; a grouped Rollout gets its
    /// group's inputs on top ([`Reconciler::group_inputs`]).
    pub inputs: Inputs,
    /// Argo instance id: copied as a label onto the AnalysisRuns we create.
    pub instance_id: Option<String>,
    /// Where the machine's events are published once a tick succeeded (`None`: not published).
    pub events: Option<EventPublisher>,
    /// Dry run for every Rollout (the controller's `--dry-run`; one Rollout: the
    /// `rollout.io/dry-run` annotation): nothing but events and the status is written.
    pub dry_run: bool,
    /// Where a new feedback sentence is notified (`None`: nowhere; see [`crate::notify`]).
    pub notifier: Option<Notifier>,
    /// The fleet brake's holds in force ([`crate::fleet_brake`]); default: none.
    pub brake: crate::fleet_brake::BrakeWatch,
    /// The trigger policy in force ([`crate::policy`]); default: none.
    pub policy: crate::policy::PolicyWatch,
}

impl std::fmt::Debug for Reconciler {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Reconciler")
            .field("field_manager", &self.field_manager)
            .field("caches", &self.caches)
            .field("events", &self.events.is_some())
            .finish()
    }
}

impl Reconciler {
    /// A reconciler that reads owned objects with list calls and publishes no events.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            field_manager: "rollout-controller".into(),
            caches: Caches::default(),
            inputs: Inputs::default(),
            instance_id: None,
            events: None,
            dry_run: false,
            notifier: None,
            brake: Default::default(),
            policy: Default::default(),
        }
    }

    /// Reconciles one Rollout at `now` (the caller's one clock read): one
    /// [`RolloutDriver::tick`] over this crate's [adapters](crate::adapters), then the canary
    /// weight timeline of the runs in progress ([`crate::weights`]) and the tick's events.
    ///
    /// `ro` may come from a cache (only its namespace, name and uid are used): the driver reads
    /// the Rollout again first, from [`Caches::seen_rollouts`] when that copy is not older than
    /// our last write ([`SeenRollouts`]), else with a GET.
    pub async fn reconcile(&self, ro: &Rollout, now: Timestamp) -> Result<Outcome, Error> {
        let ns = ro.namespace().ok_or(Error::MissingMetadata)?;
        let name = ro.metadata.name.clone().ok_or(Error::MissingMetadata)?;
        let store = Arc::new(RolloutStatusStore::new(
            self.client.clone(),
            &ns,
            &name,
            &self.field_manager,
        ));
        let seen = self.caches.seen_rollouts.as_ref();
        if let Some((resource_version, cached)) = seen.and_then(|s| s.get(&ns, &name)) {
            store.preload(resource_version, cached);
        }
        let result = self.tick(ro, &store, now).await;
        if let Some(seen) = seen {
            if let Some(written) = store.written_resource_version() {
                seen.wrote(&ns, &name, &written);
            }
            if result.is_err() {
                // A conflict or a failure: the retry reads the Rollout from the server.
                seen.forget(&ns, &name);
            }
        }
        result
    }

    /// The tick and its extras, reading and writing the Rollout through `store`.
    async fn tick(
        &self,
        ro: &Rollout,
        store: &Arc<RolloutStatusStore>,
        now: Timestamp,
    ) -> Result<Outcome, Error> {
        let events = Arc::new(TickEvents::default());
        let cluster = Arc::new(self.clone());
        let io = RolloutIo {
            store: store.clone(),
            workloads: cluster.clone(),
            runs: cluster,
            router: Some(Arc::new(KubeRouter::new(
                self.client.clone(),
                &self.field_manager,
            ))),
            events: events.clone(),
        };
        // A grouped Rollout's inputs come from its members (`crate::group`).
        let inputs = self.group_inputs(ro).await?;
        // The spec's validation and hashes carry over between reconciles of the same generation.
        let seen = self.caches.seen_rollouts.as_ref();
        let (ns, name) = (ro.namespace().unwrap_or_default(), ro.name_any());
        let kept = seen.map(|s| s.take_kept(&ns, &name)).unwrap_or_default();
        let mut driver = RolloutDriver::new(io)
            .with_kept(kept)
            .with_inputs(inputs)
            .with_dry_run(self.dry_run)
            .with_brake(self.brake.current())
            .with_policy(self.policy.current());
        let ticked = driver.tick(now).await;
        if let Some(seen) = seen {
            seen.keep(&ns, &name, driver.into_kept());
        }
        let mut outcome = ticked?;
        // A dry run writes nothing but events and the status (no AnalysisRun weights, no
        // workload-generation annotation).
        let dry = outcome.withheld.is_some();
        outcome.writes += usize::from(
            !dry && store
                .sync_workload_generation(&outcome.decision.status)
                .await
                .map_err(DriverError::Persist)?,
        );
        if let Some(before) = store.loaded_status().filter(|_| !dry) {
            let created_run = outcome
                .decision
                .actions
                .iter()
                .any(|a| matches!(a, Action::CreateAnalysisRun(_)));
            outcome.writes += self
                .record_weights(ro, &before, &outcome.decision.status, created_run, now)
                .await?;
        }
        self.notify_feedback(store.loaded_rollout().as_deref(), &outcome, now);
        if let Some(publisher) = &self.events {
            let reference = ro.object_ref(&());
            for event in events.take() {
                if let Err(err) = publisher.publish(&reference, &event).await {
                    warn!(%err, reason = %event.reason, "publishing event failed");
                    outcome.events_failed += 1;
                }
            }
        }
        Ok(outcome)
    }
}

impl Reconciler {
    /// Queues a notification when the tick wrote a new, non-empty feedback sentence; `loaded`
    /// is the Rollout the tick read (its status is the status before the tick).
    fn notify_feedback(&self, loaded: Option<&CoreRollout>, outcome: &Outcome, now: Timestamp) {
        let (Some(notifier), Some(ro)) = (&self.notifier, loaded) else {
            return;
        };
        let after = &outcome.decision.status;
        if !outcome.status_written || after.feedback.is_empty() || after.feedback == ro.status.feedback {
            return;
        }
        let meta = &ro.metadata;
        let namespace = meta.namespace.as_deref().unwrap_or_default();
        let revision = Some(ro.revision()).filter(|r| *r > 0);
        notifier.notify(namespace, &meta.name, &meta.annotations, revision, after, now);
    }
}

/// One reconcile against kube's `tower-test` mock API server (more in `controller.rs`).
#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use serde_json::{Value, json};

    use super::*;
    use crate::ops::tests::{MERGE, sent};

    const RO: &str = "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts/bad";

    fn now() -> Timestamp {
        Timestamp::from_second(1_800_000_000).unwrap()
    }

    #[tokio::test]
    async fn an_unreadable_spec_is_recorded_as_invalidspec_once_and_nothing_else_is_touched() {
        let stored = Arc::new(Mutex::new(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "bad", "namespace": "ns", "resourceVersion": "3", "uid": "u1"},
            "spec": {"replicas": "two"},
            "status": {"phase": "Healthy", "stableRS": "abc", "currentStepIndex": "x"}
        })));
        let ro: Rollout = serde_json::from_value(stored.lock().unwrap().clone()).unwrap();
        let server = stored.clone();
        let respond = move |method: &str, path: &str, body: &Value| match (method, path) {
            ("GET", RO) => server.lock().unwrap().clone(),
            ("PATCH", p) if p == format!("{RO}/status") => {
                let mut ro = server.lock().unwrap();
                for (k, v) in body["status"].as_object().unwrap() {
                    ro["status"][k] = v.clone();
                }
                ro.clone()
            }
            other => panic!("unexpected request {other:?}"),
        };
        let r = ro.clone();
        let (out, seen) = sent(respond.clone(), |client| async move {
            Reconciler::new(client).reconcile(&r, now()).await
        })
        .await;
        let out = out.unwrap();
        assert_eq!(seen.len(), 2, "{seen:#?}");
        let patch = &seen[1];
        assert_eq!(
            (patch.method.as_str(), patch.content_type.as_deref()),
            ("PATCH", MERGE)
        );
        assert_eq!(patch.body["metadata"], json!({"resourceVersion": "3"}));
        let status = &patch.body["status"];
        assert_eq!(status["phase"], "Degraded", "{status:#}");
        assert!(
            status["message"].as_str().unwrap().starts_with("InvalidSpec: "),
            "{status:#}"
        );
        assert_eq!(status["conditions"][0]["type"], "InvalidSpec", "{status:#}");
        assert!(status.get("stableRS").is_none(), "only what changed: {status:#}");
        assert!(out.status_written);
        assert_eq!(
            out.phase_after,
            Some(rollout_core::rollout::RolloutPhase::Degraded)
        );
        assert!(out.decision.actions.is_empty());

        // The same message again: nothing to write.
        let (out, seen) = sent(respond, |client| async move {
            Reconciler::new(client).reconcile(&ro, now()).await
        })
        .await;
        assert!(!out.unwrap().status_written);
        assert_eq!(seen.len(), 1, "a read only: {seen:#?}");
    }

    fn ok(name: &str, rv: &str) -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv, "uid": "u1"},
            "spec": {"replicas": 1}, "status": {"currentStepIndex": 1}
        }))
        .unwrap()
    }

    #[tokio::test]
    async fn a_preloaded_rollout_is_read_without_a_get_and_its_version_is_the_precondition() {
        use rollout_driver::{Loaded, RolloutStore};
        let respond = move |method: &str, path: &str, _: &Value| match (method, path) {
            ("PATCH", p) if p == format!("{RO}/status") => serde_json::to_value(ok("bad", "8")).unwrap(),
            other => panic!("unexpected request {other:?}: the Rollout is preloaded"),
        };
        let (written, seen) = sent(respond, |client| async move {
            let store = RolloutStatusStore::new(client, "ns", "bad", "test");
            let cached = Arc::new(ok("bad", "7").to_core().unwrap());
            store.preload("7".into(), cached);
            let Ok(Loaded::Valid(ro)) = store.load().await else {
                panic!("the preloaded Rollout")
            };
            let mut after = ro.status.clone();
            after.current_step_index = Some(2);
            assert!(store.persist(&ro.status, &after).await.unwrap());
            store.written_resource_version()
        })
        .await;
        assert_eq!(seen.len(), 1, "no GET: {seen:#?}");
        assert_eq!(seen[0].body["metadata"], json!({"resourceVersion": "7"}));
        assert_eq!(seen[0].body["status"], json!({"currentStepIndex": 2}));
        assert_eq!(written.as_deref(), Some("8"));
    }

    #[test]
    fn conflicts_are_told_apart_from_other_failures() {
        let api = |code: u16, reason: &str| {
            kube::Error::Api(Box::new(
                serde_json::from_value(
                    json!({"status": "Failure", "code": code, "reason": reason, "message": "m"}),
                )
                .unwrap(),
            ))
        };
        let request =
            |code, reason| crate::adapters::request_err("patch Rollout ns/r status")(api(code, reason));
        let persist = Error::from(DriverError::Persist(request(409, "Conflict")));
        assert_eq!(persist.kind(), "conflict");
        let refused = Error::from(DriverError::Action {
            action: "SetTrafficWeight",
            source: request(403, "Forbidden"),
        });
        assert_eq!(refused.kind(), "router");
        assert_eq!(Error::from(DriverError::NoRouter).kind(), "router");
        let AdapterError::Request { reason, .. } = request(403, "Forbidden") else {
            panic!("a request error")
        };
        assert_eq!(reason, "Forbidden");
    }
}
