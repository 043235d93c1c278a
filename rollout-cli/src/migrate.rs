//! `rollout migrate`: from a Deployment (in the cluster, or `-f FILE`), write the Rollout that
//! references it (`workloadRef` + `scaleDown`) and report, before anything is applied, the
//! replicas at each moment of the hand-over and whether a ResourceQuota would refuse the peak
//! (plans from [`rollout_core::rollout::migration`]). `--dry-run` prints the plan; `--apply`
//! creates the Rollout.

use std::fmt;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use rollout_core::rollout::ScaleDownMode;
use rollout_core::rollout::dry_run::DRY_RUN_ANNOTATION;
use rollout_core::rollout::migration::quota::{self, QuotaCheck, QuotaUse};
use rollout_core::rollout::migration::{HandOver, hand_over};
use rollout_kube::ops::RolloutView;
use serde::Serialize;
use serde_json::{Value, json};

use crate::CliError;
use crate::exit::Exit;

/// `rollout migrate --help` examples.
pub const MIGRATE_EXAMPLES: &str = "Examples:
  rollout migrate web -n shop --dry-run                 # the plan: replicas per moment, quota verdict
  rollout migrate web -n shop --dry-run -o json
  rollout migrate -f examples/migrate/deployment.yaml    # the Rollout as YAML (plan on stderr)
  rollout migrate web -n shop --controller-dry-run --apply   # the controller only records, first
  rollout migrate web -n shop --scale-down onsuccess --apply";

/// `workloadRef.scaleDown`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ScaleDown {
    /// Leave the Deployment running (scale it down yourself).
    Never,
    /// Scale the Deployment to zero once the Rollout is Healthy.
    Onsuccess,
    /// Shrink the Deployment as the Rollout's pods become ready.
    Progressively,
}

impl ScaleDown {
    fn mode(self) -> ScaleDownMode {
        match self {
            ScaleDown::Never => ScaleDownMode::Never,
            ScaleDown::Onsuccess => ScaleDownMode::OnSuccess,
            ScaleDown::Progressively => ScaleDownMode::Progressively,
        }
    }
}

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    /// The plan for a person.
    Text,
    /// The plan and the Rollout as one JSON object.
    Json,
    /// The Rollout only, as YAML.
    Yaml,
}

/// `rollout migrate`.
#[derive(Debug, Args)]
pub struct MigrateArgs {
    /// The Deployment (read from the cluster unless -f is given).
    deployment: Option<String>,
    /// Namespace (default: the file's, else the kubeconfig context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Read the Deployment from this YAML file instead of the cluster (quotas are then not checked
    /// unless --apply).
    #[arg(short = 'f', long, value_name = "FILE")]
    file: Option<PathBuf>,
    /// Name of the Rollout (default: the Deployment's).
    #[arg(long)]
    name: Option<String>,
    /// How the Deployment is drained once the Rollout runs.
    #[arg(long, value_enum, default_value = "progressively")]
    scale_down: ScaleDown,
    /// Canary steps as a YAML or JSON list (default: setWeight 20, pause 30s, setWeight 50, pause 30s).
    #[arg(long, value_name = "STEPS")]
    steps: Option<String>,
    /// Replicas of the Rollout (default: the Deployment's).
    #[arg(long)]
    replicas: Option<i32>,
    /// Annotate the Rollout `rollout.io/dry-run: "true"`: the controller records what it would do
    /// and changes nothing until the annotation is removed.
    #[arg(long)]
    controller_dry_run: bool,
    /// Print the plan; apply nothing.
    #[arg(long, conflicts_with = "apply")]
    dry_run: bool,
    /// Create the Rollout after printing the plan (refused when a quota would refuse the peak).
    #[arg(long)]
    apply: bool,
    /// With --apply: create the Rollout even when a ResourceQuota would refuse the peak.
    #[arg(long, requires = "apply")]
    ignore_quota: bool,
    /// Output format (default text; without --dry-run or --apply the Rollout is printed as YAML).
    #[arg(short = 'o', long, value_enum)]
    output: Option<Output>,
}

/// Default canary steps of a migrated Rollout.
pub fn default_steps() -> Value {
    json!([{"setWeight": 20}, {"pause": {"duration": "30s"}}, {"setWeight": 50}, {"pause": {"duration": "30s"}}])
}

/// The Rollout that references `deployment` (JSON of an `apps/v1` Deployment): its selector,
/// replicas (or `replicas`), `revisionHistoryLimit`, `minReadySeconds`,
/// `progressDeadlineSeconds` and rolling-update surge/unavailable, a canary with `steps`.
pub fn rollout_for(
    deployment: &Value,
    name: Option<&str>,
    scale_down: ScaleDown,
    steps: Value,
    replicas: Option<i32>,
    controller_dry_run: bool,
) -> Result<Value, CliError> {
    let dep_name = deployment
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| CliError::new("the Deployment has no metadata.name"))?;
    let spec = deployment
        .get("spec")
        .ok_or_else(|| CliError::new(format!("Deployment {dep_name}: spec: required")))?;
    let selector = spec
        .get("selector")
        .filter(|s| s.is_object())
        .ok_or_else(|| CliError::new(format!("Deployment {dep_name}: spec.selector: required")))?;
    if !steps.is_array() {
        return Err(CliError::new("--steps: a list of canary steps is needed"));
    }
    let replicas = replicas
        .or_else(|| spec.get("replicas").and_then(Value::as_i64).map(|r| r as i32))
        .unwrap_or(1);
    if replicas < 0 {
        return Err(CliError::new(format!("--replicas: {replicas} is negative")));
    }
    let mut canary = json!({"steps": steps});
    for key in ["maxSurge", "maxUnavailable"] {
        if let Some(v) = spec.pointer(&format!("/strategy/rollingUpdate/{key}")) {
            canary[key] = v.clone();
        }
    }
    let mut rspec = json!({
        "replicas": replicas,
        "selector": selector,
        "workloadRef": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": dep_name,
            "scaleDown": scale_down.mode_name(),
        },
        "strategy": {"canary": canary},
    });
    for key in [
        "revisionHistoryLimit",
        "minReadySeconds",
        "progressDeadlineSeconds",
    ] {
        if let Some(v) = spec.get(key) {
            rspec[key] = v.clone();
        }
    }
    let mut metadata = json!({"name": name.unwrap_or(dep_name)});
    if let Some(ns) = deployment.pointer("/metadata/namespace") {
        metadata["namespace"] = ns.clone();
    }
    if let Some(labels) = deployment.pointer("/metadata/labels") {
        metadata["labels"] = labels.clone();
    }
    if controller_dry_run {
        metadata["annotations"] = json!({DRY_RUN_ANNOTATION: "true"});
    }
    Ok(json!({
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Rollout",
        "metadata": metadata,
        "spec": rspec,
    }))
}

impl ScaleDown {
    fn mode_name(self) -> &'static str {
        rollout_core::rollout::migration::mode_name(self.mode())
    }
}

/// Everything `rollout migrate` reports.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// The Rollout to apply.
    pub rollout: Value,
    /// The hand-over, moment by moment.
    pub hand_over: HandOver,
    /// Quota checks (`None`: not checked, the Deployment came from a file).
    pub quota: Option<Vec<QuotaCheck>>,
    /// A quota would refuse the peak.
    pub quota_refused: bool,
    /// The Rollout was created.
    pub applied: bool,
    /// The way back.
    pub revert: String,
}

/// The plan for `rollout` replacing `deployment`, against `quotas` when known.
pub fn plan(deployment: &Value, rollout: Value, quotas: Option<&[QuotaUse]>) -> Result<Plan, CliError> {
    let d = deployment
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1) as i32;
    let r = rollout
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .unwrap_or(1) as i32;
    let mode = match rollout
        .pointer("/spec/workloadRef/scaleDown")
        .and_then(Value::as_str)
    {
        Some("onsuccess") => ScaleDownMode::OnSuccess,
        Some("progressively") => ScaleDownMode::Progressively,
        _ => ScaleDownMode::Never,
    };
    let hand_over = hand_over(mode, d, r);
    let template = deployment
        .pointer("/spec/template")
        .cloned()
        .unwrap_or(Value::Null);
    let quota = match quotas {
        None => None,
        Some(q) => {
            let per_pod =
                quota::pod_requests(&template, "spec.template").map_err(|e| CliError::new(e.to_string()))?;
            Some(quota::check(q, hand_over.extra_pods, per_pod).map_err(|e| CliError::new(e.to_string()))?)
        }
    };
    let quota_refused = quota.iter().flatten().any(|c| c.refused);
    let s = |p: &str| {
        rollout
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string()
    };
    let ns = s("/metadata/namespace");
    let revert = format!(
        "rollout revert {}{}",
        s("/metadata/name"),
        if ns.is_empty() {
            String::new()
        } else {
            format!(" -n {ns}")
        }
    );
    Ok(Plan {
        rollout,
        hand_over,
        quota,
        quota_refused,
        applied: false,
        revert,
    })
}

/// The plan as text.
pub fn render(plan: &Plan) -> String {
    let mut out = String::new();
    let _ = write_plan(&mut out, plan);
    out
}

fn write_plan(f: &mut impl fmt::Write, plan: &Plan) -> fmt::Result {
    let s = |p: &str| {
        plan.rollout
            .pointer(p)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let h = &plan.hand_over;
    writeln!(
        f,
        "Rollout {} will reference Deployment {} (workloadRef, scaleDown: {}).",
        s("/metadata/name"),
        s("/spec/workloadRef/name"),
        h.scale_down
    )?;
    writeln!(f, "Hand-over, pods at each moment:")?;
    writeln!(
        f,
        "  {:<28} {:>8} {:>11} {:>6} {:>7}",
        "moment", "rollout", "deployment", "total", "ready>="
    )?;
    for m in &h.moments {
        writeln!(
            f,
            "  {:<28} {:>8} {:>11} {:>6} {:>7}",
            m.stage.to_string(),
            m.rollout,
            m.deployment,
            m.pods(),
            m.ready
        )?;
    }
    writeln!(
        f,
        "Peak: {} pods ({} more than now); fewest ready: {}.",
        h.peak_pods, h.extra_pods, h.min_ready
    )?;
    if h.deployment_kept {
        writeln!(
            f,
            "scaleDown never: the Deployment keeps its pods; scale it down yourself."
        )?;
    }
    match &plan.quota {
        None => writeln!(f, "Quota: not checked (the Deployment was read from a file).")?,
        Some(checks) if checks.is_empty() => {
            writeln!(f, "Quota: no ResourceQuota limits pods, CPU or memory here.")?
        }
        Some(checks) => {
            for c in checks {
                writeln!(f, "Quota: {}", c.line())?;
            }
        }
    }
    if plan.quota_refused {
        writeln!(
            f,
            "Verdict: a ResourceQuota would refuse the peak (raise it, lower --replicas, or choose another --scale-down)."
        )?;
    } else {
        writeln!(f, "Verdict: the hand-over fits.")?;
    }
    writeln!(f, "Way back: {}", plan.revert)?;
    if plan.applied {
        writeln!(f, "Applied: Rollout {} created.", s("/metadata/name"))?;
    }
    Ok(())
}

/// `rollout migrate`.
pub fn main(args: &MigrateArgs) -> Result<ExitCode, CliError> {
    let (deployment, from_file) = match (&args.file, &args.deployment) {
        (Some(path), None) => (deployment_from_file(path)?, true),
        (None, Some(_)) => (Value::Null, false),
        (Some(_), Some(_)) => return Err(CliError::new("give a Deployment name or -f FILE, not both")),
        (None, None) => return Err(CliError::new("give a Deployment name, or -f FILE")),
    };
    let steps = match &args.steps {
        Some(text) => {
            serde_yaml::from_str::<Value>(text).map_err(|e| CliError::new(format!("--steps: {e}")))?
        }
        None => default_steps(),
    };
    let needs_cluster = !from_file || args.apply;
    if !needs_cluster {
        let mut deployment = deployment;
        if let Some(ns) = &args.namespace {
            deployment["metadata"]["namespace"] = json!(ns);
        }
        let rollout = rollout_for(
            &deployment,
            args.name.as_deref(),
            args.scale_down,
            steps,
            args.replicas,
            args.controller_dry_run,
        )?;
        let plan = plan(&deployment, rollout, None)?;
        return finish(args, plan);
    }
    crate::kube::runtime()?.block_on(async {
        let (client, default_ns) = crate::kube::client(20.0, 40).await?;
        let err = |e: rollout_kube::migrate::MigrateError| CliError::new(e.to_string());
        let (mut deployment, ns) = match &args.deployment {
            Some(name) => {
                let ns = args.namespace.clone().unwrap_or(default_ns);
                (
                    rollout_kube::migrate::deployment(&client, &ns, name)
                        .await
                        .map_err(err)?,
                    ns,
                )
            }
            None => {
                let ns = args
                    .namespace
                    .clone()
                    .or_else(|| deployment["metadata"]["namespace"].as_str().map(str::to_string))
                    .unwrap_or(default_ns);
                (deployment, ns)
            }
        };
        deployment["metadata"]["namespace"] = json!(ns);
        let rollout = rollout_for(
            &deployment,
            args.name.as_deref(),
            args.scale_down,
            steps,
            args.replicas,
            args.controller_dry_run,
        )?;
        let quotas = rollout_kube::migrate::quotas(&client, &ns).await.map_err(err)?;
        let mut plan = plan(&deployment, rollout, Some(&quotas))?;
        if args.apply && (!plan.quota_refused || args.ignore_quota) {
            rollout_kube::migrate::create_rollout(&client, &ns, &plan.rollout)
                .await
                .map_err(err)?;
            plan.applied = true;
        }
        finish(args, plan)
    })
}

/// Prints the plan as asked; the exit code says whether a quota refuses the peak.
fn finish(args: &MigrateArgs, plan: Plan) -> Result<ExitCode, CliError> {
    let show_plan = args.dry_run || args.apply;
    match args.output {
        Some(Output::Json) => {
            let text = serde_json::to_string_pretty(&plan).map_err(|e| CliError::new(e.to_string()))?;
            crate::outln!("{text}");
        }
        Some(Output::Yaml) => crate::outf!("{}", yaml(&plan.rollout)?),
        Some(Output::Text) | None if show_plan => crate::outf!("{}", render(&plan)),
        Some(Output::Text) | None => {
            // Writing the Rollout: YAML on stdout, the plan on stderr.
            crate::outf!("{}", yaml(&plan.rollout)?);
            eprint!("{}", render(&plan));
        }
    }
    if args.apply && plan.quota_refused && !plan.applied {
        eprintln!(
            "error: not applied: a ResourceQuota would refuse the peak (--ignore-quota to apply anyway)"
        );
    }
    Ok(if plan.quota_refused {
        Exit::QuotaRefused.into()
    } else {
        Exit::Success.into()
    })
}

fn yaml(v: &Value) -> Result<String, CliError> {
    serde_yaml::to_string(v).map_err(|e| CliError::new(e.to_string()))
}

/// The first Deployment in a YAML file.
fn deployment_from_file(path: &std::path::Path) -> Result<Value, CliError> {
    let text = crate::input::read_yaml(path)?;
    for doc in serde_yaml::Deserializer::from_str(&text) {
        let v: Value = serde::Deserialize::deserialize(doc)
            .map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
        if v.get("kind").and_then(Value::as_str) == Some("Deployment") {
            return Ok(v);
        }
    }
    Err(CliError::new(format!(
        "{}: no Deployment in the file",
        path.display()
    )))
}

/// The `workloadRef` and dry-run lines of `rollout get`.
pub fn write_workload(f: &mut impl fmt::Write, view: &RolloutView) -> fmt::Result {
    if let Some(w) = &view.workload {
        write!(
            f,
            "Workload:    {} (scaleDown {}): {} replicas, {} available",
            w.name, w.scale_down, w.replicas, w.available
        )?;
        if let Some(by) = &w.managed_by {
            write!(f, "; managed by Rollout {by}")?;
        }
        writeln!(f)?;
        if let Some(revert) = &w.revert {
            writeln!(f, "Revert:      {revert}")?;
        }
    }
    if let Some(msg) = &view.dry_run {
        writeln!(f, "DryRun:      {msg}")?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "shop", "labels": {"team": "a"}},
            "spec": {
                "replicas": 4,
                "revisionHistoryLimit": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": {"rollingUpdate": {"maxUnavailable": 0}},
                "template": {"metadata": {"labels": {"app": "web"}},
                             "spec": {"containers": [{"name": "app", "image": "web:1",
                                       "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}
            }
        })
    }

    #[test]
    fn the_rollout_references_the_deployment() {
        let r = rollout_for(
            &deployment(),
            None,
            ScaleDown::Onsuccess,
            default_steps(),
            None,
            true,
        )
        .unwrap();
        assert_eq!(
            r["spec"]["workloadRef"],
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "name": "web", "scaleDown": "onsuccess"})
        );
        assert_eq!(r["spec"]["replicas"], 4);
        assert_eq!(r["spec"]["revisionHistoryLimit"], 3);
        assert_eq!(r["spec"]["strategy"]["canary"]["maxUnavailable"], 0);
        assert_eq!(r["metadata"]["annotations"][DRY_RUN_ANNOTATION], "true");
        assert!(
            r["spec"].get("template").is_none(),
            "the template stays in the Deployment"
        );
        let core: rollout_core::rollout::Rollout = serde_json::from_value(r).unwrap();
        let template = deployment()["spec"]["template"].clone();
        let problems = rollout_core::rollout::validate(&core, Some(&template));
        assert!(problems.is_empty(), "a valid Rollout: {problems:?}");
    }

    #[test]
    fn errors_name_the_field() {
        let mut d = deployment();
        d["spec"].as_object_mut().unwrap().remove("selector");
        let e = rollout_for(&d, None, ScaleDown::Never, default_steps(), None, false).unwrap_err();
        assert_eq!(e.to_string(), "Deployment web: spec.selector: required");
        let e = rollout_for(&deployment(), None, ScaleDown::Never, json!({}), None, false).unwrap_err();
        assert_eq!(e.to_string(), "--steps: a list of canary steps is needed");
    }

    #[test]
    fn a_quota_that_refuses_the_peak_is_reported() {
        let d = deployment();
        let r = rollout_for(&d, None, ScaleDown::Progressively, default_steps(), None, false).unwrap();
        let q = QuotaUse {
            name: "team".into(),
            hard: [("pods".to_string(), "6".to_string())].into(),
            used: [("pods".to_string(), "4".to_string())].into(),
        };
        let p = plan(&d, r, Some(&[q])).unwrap();
        assert_eq!((p.hand_over.peak_pods, p.hand_over.extra_pods), (8, 4));
        assert!(p.quota_refused);
        let text = render(&p);
        for line in [
            "  before                              0           4      4       4",
            "Quota: quota team: pods: needs 4, 2 available: refused",
            "Way back: rollout revert web -n shop",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
        assert!(
            text.contains("Verdict: a ResourceQuota would refuse the peak"),
            "{text}"
        );
    }
}
