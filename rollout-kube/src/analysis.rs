//! AnalysisRuns on the cluster: one [`RunDriver`] tick per run reconcile, with measurements taken
//! by the host's [`Providers`] (Prometheus, web, judges, and the cluster-backed [`JobProvider`]).
//! The adapters: [`RunStatusStore`] (merge patch of the run's status; the canary weight timeline
//! from the run's annotation) and [`SecretArgs`] (`secretKeyRef` args read from Secrets at
//! measurement time).
//!
//! Secret values are only substituted into the request handed to the provider; the run's status,
//! events and logs only ever see the placeholder.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, PropagationPolicy};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use rollout_core::analysis::create::resolve_placeholders_lenient;
use rollout_core::analysis::judge::WeightPoint;
use rollout_core::analysis::{
    self as core, AnalysisPhase, AnalysisRunStatus, Argument, MeasurementRequest, Metric, Observation,
    ProviderError,
};
use rollout_core::common::Timestamp;
use rollout_driver::{AdapterError, MeasurementProvider, Providers, RunDriver, RunIo, RunStore, Secrets};
use serde_json::json;

use crate::adapters::{request_err, serialize_err};
use crate::merge_patch::merge_diff;
use crate::reconciler::Error;
use crate::resources::{AnalysisRun, Rollout};

pub use rollout_driver::RunOutcome;

/// Drives AnalysisRuns.
#[derive(Clone)]
pub struct AnalysisRunner {
    /// The host's client.
    pub client: Client,
    /// Providers by name.
    pub providers: Arc<Providers>,
}

impl std::fmt::Debug for AnalysisRunner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalysisRunner")
            .field("providers", &self.providers)
            .finish()
    }
}

impl AnalysisRunner {
    /// A runner with `providers`; the `job` provider is added (it needs this client).
    pub fn new(client: Client, mut providers: Providers) -> Self {
        if providers.get(JobProvider::NAME).is_none() {
            providers.register(Arc::new(JobProvider {
                client: client.clone(),
            }));
        }
        Self {
            client,
            providers: Arc::new(providers),
        }
    }

    /// The run driver over this runner's adapters.
    pub fn driver(&self) -> RunDriver {
        RunDriver::new(RunIo {
            store: Arc::new(RunStatusStore {
                client: self.client.clone(),
            }),
            providers: self.providers.clone(),
            secrets: Arc::new(SecretArgs {
                client: self.client.clone(),
            }),
        })
    }

    /// Reconciles one run at `now` (the caller's one clock read): one [`RunDriver::tick`].
    pub async fn reconcile(&self, run: &AnalysisRun, now: Timestamp) -> Result<RunOutcome, Error> {
        let core = run.to_core()?;
        Ok(self.driver().tick(&core, now).await?)
    }
}

/// Whether the Rollout that owns `run` runs dry by annotation
/// ([`DRY_RUN_ANNOTATION`](rollout_core::rollout::dry_run::DRY_RUN_ANNOTATION)), as the controller's
/// Rollout cache has it: such a run is left as it is (no measurement, no status write), like every
/// other write of a dry run. A run without a cached owner is not held.
pub fn owner_runs_dry(run: &AnalysisRun, rollouts: &Store<Rollout>) -> bool {
    let ns = run.metadata.namespace.clone().unwrap_or_default();
    run.metadata
        .owner_references
        .iter()
        .flatten()
        .filter(|o| o.kind == "Rollout")
        .filter_map(|o| rollouts.get(&ObjectRef::new(&o.name).within(&ns)))
        .any(|ro| rollout_core::rollout::dry_run::annotated(ro.annotations()))
}

/// AnalysisRun statuses on the API server: a JSON merge patch on `/status` of only the fields that
/// changed, with the run's `resourceVersion` as a precondition; the weight timeline is the run's
/// [`CANARY_WEIGHTS_ANNOTATION`](crate::weights::CANARY_WEIGHTS_ANNOTATION).
#[derive(Clone)]
pub struct RunStatusStore {
    /// Client used to patch run statuses.
    pub client: Client,
}

impl std::fmt::Debug for RunStatusStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RunStatusStore")
    }
}

#[async_trait]
impl RunStore for RunStatusStore {
    async fn persist(
        &self,
        run: &core::AnalysisRun,
        after: &AnalysisRunStatus,
    ) -> Result<bool, AdapterError> {
        let before = serde_json::to_value(run.status.clone().unwrap_or_default()).map_err(serialize_err)?;
        let after = serde_json::to_value(after).map_err(serialize_err)?;
        let diff = merge_diff(&before, &after);
        if diff.is_null() {
            return Ok(false);
        }
        let ns = run.metadata.namespace.as_deref().unwrap_or("default");
        let name = &run.metadata.name;
        let resource_version = run.metadata.extra.get("resourceVersion");
        let patch = json!({"metadata": {"resourceVersion": resource_version}, "status": diff});
        Api::<AnalysisRun>::namespaced(self.client.clone(), ns)
            .patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(request_err(format!("patch AnalysisRun {ns}/{name} status")))?;
        Ok(true)
    }

    fn weights(&self, run: &core::AnalysisRun) -> Vec<WeightPoint> {
        crate::weights::timeline(&run.metadata.annotations).unwrap_or_else(|e| {
            tracing::warn!(run = %run.metadata.name, error = %e, "ignoring a malformed canary weight timeline");
            Vec::new()
        })
    }
}

/// Resolves `secretKeyRef` args from Secrets in the run's namespace, for the provider call only.
#[derive(Clone)]
pub struct SecretArgs {
    /// Client used to read Secrets.
    pub client: Client,
}

impl std::fmt::Debug for SecretArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretArgs")
    }
}

impl SecretArgs {
    async fn secret_args(&self, ns: &str, args: &[Argument]) -> Result<Vec<Argument>, ProviderError> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), ns);
        let mut out = Vec::with_capacity(args.len());
        for a in args {
            let mut a = a.clone();
            if let Some(r) = a.value_from.as_ref().and_then(|v| v.secret_key_ref.as_ref()) {
                let secret = api.get(&r.name).await.map_err(|e| {
                    ProviderError::Failed(format!("reading Secret {ns}/{} for arg {}: {e}", r.name, a.name))
                })?;
                let value = secret
                    .data
                    .as_ref()
                    .and_then(|d| d.get(&r.key))
                    .map(|b| String::from_utf8_lossy(&b.0).into_owned())
                    .ok_or_else(|| {
                        ProviderError::Failed(format!("Secret {ns}/{} has no key {:?}", r.name, r.key))
                    })?;
                a.value = Some(value);
                a.value_from = None;
            }
            out.push(a);
        }
        Ok(out)
    }
}

#[async_trait]
impl Secrets for SecretArgs {
    async fn resolve(&self, req: &MeasurementRequest) -> Result<MeasurementRequest, ProviderError> {
        let has_secrets = req
            .args
            .iter()
            .any(|a| a.value_from.as_ref().is_some_and(|v| v.secret_key_ref.is_some()));
        if !has_secrets {
            return Ok(req.clone());
        }
        let ns = req.namespace.clone().unwrap_or_default();
        let args = self.secret_args(&ns, &req.args).await?;
        let text = serde_json::to_string(&req.metric).map_err(|e| ProviderError::Failed(e.to_string()))?;
        let resolved = resolve_placeholders_lenient(&text, &args, true)
            .map_err(|e| ProviderError::Failed(e.to_string()))?;
        let metric: Metric =
            serde_json::from_str(&resolved).map_err(|e| ProviderError::Failed(e.to_string()))?;
        Ok(MeasurementRequest {
            metric,
            args,
            ..req.clone()
        })
    }
}

/// Longest label value Kubernetes accepts. The Job controller copies a Job's name into its pods'
/// `job-name` label, so Job names must fit too.
pub const MAX_LABEL_VALUE: usize = 63;

/// `name` lower-cased, shortened to [`MAX_LABEL_VALUE`] characters when longer by keeping a prefix
/// and appending 10 hex digits of its sha256, so distinct long names stay distinct. (Upstream
/// uses the long name as is, and such a Job's pods are then rejected.)
pub fn label_safe(name: &str) -> String {
    use sha2::{Digest, Sha256};
    let name = name.to_lowercase();
    if name.len() <= MAX_LABEL_VALUE {
        return name;
    }
    let digest = Sha256::digest(name.as_bytes());
    let suffix: String = digest.iter().take(5).map(|b| format!("{b:02x}")).collect();
    let keep = MAX_LABEL_VALUE - suffix.len() - 1;
    let mut prefix: String = name.chars().take(keep).collect();
    while prefix.len() > keep {
        prefix.pop();
    }
    let prefix = prefix.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    format!("{prefix}-{suffix}")
}

/// The upstream `job` provider: a Kubernetes Job from the metric's template, owned by the run;
/// Successful when the Job completes, Failed when it fails; deleted when the run terminates.
#[derive(Clone)]
pub struct JobProvider {
    /// Client used to create, read and delete Jobs.
    pub client: Client,
}

impl std::fmt::Debug for JobProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JobProvider")
    }
}

/// Metadata key holding the Job's name in a measurement.
pub const JOB_NAME_KEY: &str = "job-name";
/// How often an in-flight Job is checked.
pub const JOB_POLL: Duration = Duration::from_secs(2);

impl JobProvider {
    /// The provider key.
    pub const NAME: &'static str = "job";

    fn api(&self, req: &MeasurementRequest) -> Api<Job> {
        Api::namespaced(self.client.clone(), req.namespace.as_deref().unwrap_or("default"))
    }

    fn in_flight(req: &MeasurementRequest, job: String) -> Observation {
        let resume_at = Timestamp::from_millisecond(req.now.as_millisecond() + JOB_POLL.as_millis() as i64)
            .unwrap_or(req.now);
        Observation::InFlight {
            resume_at,
            metadata: BTreeMap::from([(JOB_NAME_KEY.to_string(), job)]),
        }
    }

    fn failed(e: kube::Error) -> ProviderError {
        ProviderError::Failed(e.to_string())
    }
}

#[async_trait]
impl MeasurementProvider for JobProvider {
    fn name(&self) -> &str {
        Self::NAME
    }

    async fn measure(&self, req: &MeasurementRequest) -> Result<Observation, ProviderError> {
        let spec = req
            .metric
            .provider
            .other
            .get(Self::NAME)
            .cloned()
            .ok_or_else(|| ProviderError::InvalidConfig {
                provider: Self::NAME.into(),
                message: "missing job block".into(),
            })?;
        let invalid = |m: String| ProviderError::InvalidConfig {
            provider: Self::NAME.into(),
            message: m,
        };
        let mut job = json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": spec.get("metadata").cloned().unwrap_or(json!({})),
                             "spec": spec.get("spec").cloned().ok_or_else(|| invalid("job.spec is required".into()))?});
        // Upstream names jobs `<run uid or name>.<metric>.<n>`; ours are unique per measurement time.
        let name = label_safe(&format!(
            "{}.{}.{}",
            req.run,
            req.metric.name,
            req.now.as_second()
        ));
        job["metadata"]["name"] = json!(name);
        job["metadata"]["labels"]["analysisrun"] = json!(label_safe(&req.run));
        let runs: Api<AnalysisRun> =
            Api::namespaced(self.client.clone(), req.namespace.as_deref().unwrap_or("default"));
        if let Ok(run) = runs.get(&req.run).await
            && let Some(owner) = kube::Resource::controller_owner_ref(&run, &())
        {
            job["metadata"]["ownerReferences"] = json!([owner]);
        }
        let job: Job = serde_json::from_value(job).map_err(|e| invalid(e.to_string()))?;
        match self.api(req).create(&PostParams::default(), &job).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 409 => {}
            Err(e) => return Err(Self::failed(e)),
        }
        Ok(Self::in_flight(req, name))
    }

    async fn resume(&self, req: &MeasurementRequest) -> Result<Observation, ProviderError> {
        let Some(name) = req
            .in_flight
            .as_ref()
            .and_then(|m| m.metadata.get(JOB_NAME_KEY))
            .cloned()
        else {
            return self.measure(req).await;
        };
        let job = self.api(req).get(&name).await.map_err(Self::failed)?;
        let conds = job
            .status
            .as_ref()
            .and_then(|s| s.conditions.clone())
            .unwrap_or_default();
        let done = |t: &str| conds.iter().any(|c| c.type_ == t && c.status == "True");
        let meta = BTreeMap::from([(JOB_NAME_KEY.to_string(), name.clone())]);
        if done("Complete") {
            return Ok(Observation::Decided {
                phase: AnalysisPhase::Successful,
                value: "1".into(),
                message: String::new(),
                metadata: meta,
            });
        }
        if done("Failed") {
            let why = conds
                .iter()
                .find(|c| c.type_ == "Failed")
                .and_then(|c| c.message.clone())
                .unwrap_or_default();
            return Ok(Observation::Decided {
                phase: AnalysisPhase::Failed,
                value: "0".into(),
                message: why,
                metadata: meta,
            });
        }
        Ok(Self::in_flight(req, name))
    }

    async fn terminate(&self, req: &MeasurementRequest) -> Result<Option<Observation>, ProviderError> {
        if let Some(name) = req.in_flight.as_ref().and_then(|m| m.metadata.get(JOB_NAME_KEY)) {
            let dp = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Background),
                ..Default::default()
            };
            match self.api(req).delete(name, &dp).await {
                Ok(_) => {}
                Err(kube::Error::Api(s)) if s.code == 404 => {}
                Err(e) => return Err(Self::failed(e)),
            }
        }
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
    use kube::runtime::reflector;
    use kube::runtime::watcher::Event;

    use super::*;

    #[test]
    fn runs_of_a_rollout_annotated_dry_are_held() {
        let rollout = |name: &str, dry: Option<&str>| {
            let mut ro = Rollout::default();
            ro.metadata.name = Some(name.into());
            ro.metadata.namespace = Some("shop".into());
            if let Some(v) = dry {
                ro.annotations_mut().insert(
                    rollout_core::rollout::dry_run::DRY_RUN_ANNOTATION.into(),
                    v.into(),
                );
            }
            ro
        };
        let (store, mut writer) = reflector::store::<Rollout>();
        for ro in [
            rollout("dry", Some("true")),
            rollout("wet", Some("false")),
            rollout("plain", None),
        ] {
            writer.apply_watcher_event(&Event::Apply(ro));
        }
        let run = |owner: &str, ns: &str| {
            let mut run = AnalysisRun::default();
            run.metadata.namespace = Some(ns.into());
            run.metadata.owner_references = Some(vec![OwnerReference {
                kind: "Rollout".into(),
                name: owner.into(),
                ..OwnerReference::default()
            }]);
            run
        };
        assert!(owner_runs_dry(&run("dry", "shop"), &store));
        for (owner, ns) in [
            ("wet", "shop"),
            ("plain", "shop"),
            ("gone", "shop"),
            ("dry", "other"),
        ] {
            assert!(!owner_runs_dry(&run(owner, ns), &store), "{owner} in {ns}");
        }
        assert!(!owner_runs_dry(&AnalysisRun::default(), &store));
    }

    #[test]
    fn short_names_are_only_lower_cased() {
        assert_eq!(
            label_safe("Guestbook-6d4f-2-1.Errors.1700000000"),
            "guestbook-6d4f-2-1.errors.1700000000"
        );
    }

    #[test]
    fn long_names_fit_a_label_and_stay_distinct() {
        let run = "checkout-service-canary-with-a-long-name-7d9f8c6b5-12-3";
        let a = label_safe(&format!("{run}.p99-latency-against-stable.1700000000"));
        let b = label_safe(&format!("{run}.p99-latency-against-stable.1700000060"));
        for n in [&a, &b] {
            assert!(n.len() <= MAX_LABEL_VALUE, "{n} is {} long", n.len());
            assert!(n.starts_with("checkout-service-canary"));
            assert!(
                n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-.".contains(c))
            );
            assert!(n.ends_with(|c: char| c.is_ascii_alphanumeric()));
        }
        assert_ne!(a, b);
        assert_eq!(
            a,
            label_safe(&format!("{run}.p99-latency-against-stable.1700000000"))
        );
    }
}
