//! Argo's per-object gauges, computed from cached Rollouts and AnalysisRuns
//! (upstream `controller/metrics/rollouts.go` and `analysis.go`).

use kube::ResourceExt;
use prometheus_client::encoding::{DescriptorEncoder, EncodeLabelSet, MetricEncoder};
use prometheus_client::metrics::MetricType;
use rollout_core::analysis::validate::dry_run_metrics;
use rollout_core::analysis::{DryRun, Metric};
use serde_json::{Value, json};

use crate::resources::{AnalysisRun, Rollout};

/// Upstream's traffic routers known to `rollout_info{traffic_router}`, in the order it checks
/// them (the last one set wins); any other router is reported as `""`.
const ROUTERS: [(&str, &str); 6] = [
    ("alb", "ALB"),
    ("ambassador", "Ambassador"),
    ("istio", "Istio"),
    ("nginx", "Nginx"),
    ("smi", "SMI"),
    ("appMesh", "AppMesh"),
];

/// `rollout_phase`'s phases, in upstream's order (`InvalidSpec` only appears in `rollout_info`).
const ROLLOUT_PHASES: [&str; 6] = ["Completed", "Progressing", "Paused", "Timeout", "Error", "Abort"];

/// `analysis_run_phase`'s and `analysis_run_metric_phase`'s phases, in upstream's order.
const RUN_PHASES: [&str; 6] = [
    "Pending",
    "Error",
    "Failed",
    "Successful",
    "Running",
    "Inconclusive",
];

/// Upstream `metricproviders.Type`: provider key → type label, first match wins.
const PROVIDERS: [(&str, &str); 12] = [
    ("prometheus", "Prometheus"),
    ("job", "Job"),
    ("kayenta", "Kayenta"),
    ("web", "Web"),
    ("datadog", "Datadog"),
    ("wavefront", "Wavefront"),
    ("newRelic", "NewRelic"),
    ("cloudWatch", "CloudWatch"),
    ("graphite", "Graphite"),
    ("influxdb", "Influxdb"),
    ("skywalking", "skywalking"),
    ("plugin", "RPCPlugin"),
];

/// What the controller's Rollout cache keeps of `o`: metadata, the outcome row of
/// [`super::outcomes`] in `spec` (`null` before an update target is known), and with `per_object` also the per-object gauges' values, computed here once per watch event
/// and kept as one small array in `status`: `[strategy, traffic_router, phase, desired,
/// available, unavailable, updated]` (a few hundred bytes; the JSON fields they come from would
/// take several KB per Rollout).
pub fn trim_cached_rollout(o: &mut Rollout, per_object: bool) {
    let spec = std::mem::take(&mut o.spec);
    let status = std::mem::take(&mut o.status);
    o.spec = super::outcomes::cached(&o.metadata, &spec, &status);
    super::cost::keep(&status, &mut o.spec);
    if !per_object {
        return;
    }
    let (strategy, router) = strategy_and_router(&spec);
    let (replicas, available) = (int(&status, "replicas"), int(&status, "availableReplicas"));
    o.status = json!([
        strategy,
        router,
        rollout_phase(&status),
        int(&spec, "replicas").unwrap_or(1),
        available.unwrap_or(0),
        replicas.unwrap_or(0) - available.unwrap_or(0),
        int(&status, "updatedReplicas").unwrap_or(0),
    ]);
}

/// Upstream `getStrategyAndTrafficRouter`.
pub(super) fn strategy_and_router(spec: &Value) -> (&'static str, &'static str) {
    let set = |p: &str| spec.pointer(p).is_some_and(|v| !v.is_null());
    if set("/strategy/blueGreen") {
        return ("blueGreen", "");
    }
    if !set("/strategy/canary") {
        return ("none", "");
    }
    let router = ROUTERS
        .iter()
        .filter(|(k, _)| set(&format!("/strategy/canary/trafficRouting/{k}")))
        .map(|(_, label)| *label)
        .next_back()
        .unwrap_or("");
    ("canary", router)
}

/// Upstream metrics' `calculatePhase`, from the status conditions.
pub(super) fn rollout_phase(status: &Value) -> &'static str {
    let conditions = status.get("conditions").and_then(Value::as_array);
    let find = |t: &str| {
        conditions
            .into_iter()
            .flatten()
            .find(|c| c.get("type").and_then(Value::as_str) == Some(t))
    };
    if find("InvalidSpec").is_some() {
        return "InvalidSpec";
    }
    match find("Progressing")
        .and_then(|c| c.get("reason"))
        .and_then(Value::as_str)
    {
        Some("NewReplicaSetAvailable") => "Completed",
        Some("RolloutPaused") => "Paused",
        Some("ReplicaSetCreateError") => "Error",
        Some("ProgressDeadlineExceeded") => "Timeout",
        Some("RolloutAborted") => "Abort",
        _ => "Progressing",
    }
}

fn int(v: &Value, key: &str) -> Option<i64> {
    v.get(key).and_then(Value::as_i64)
}

/// One of a row's numbers.
type RowValue = fn(&RolloutRow) -> i64;

struct RolloutRow<'a> {
    namespace: String,
    name: String,
    strategy: &'a str,
    router: &'a str,
    phase: &'a str,
    available: i64,
    unavailable: i64,
    desired: i64,
    updated: i64,
}

/// One gauge family: `rows` each give their samples through `sample`.
fn family<R>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    rows: &[R],
    mut sample: impl FnMut(&R, &mut MetricEncoder) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    let mut e = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
    for r in rows {
        sample(r, &mut e)?;
    }
    Ok(())
}

fn gauge(e: &mut MetricEncoder, labels: &impl EncodeLabelSet, v: i64) -> Result<(), std::fmt::Error> {
    e.encode_family(labels)?.encode_gauge(&v)
}

/// `rollout_info*` and `rollout_phase` for `rollouts` (nothing when there are none).
pub(super) fn encode_rollouts<'a>(
    encoder: &mut DescriptorEncoder,
    rollouts: impl Iterator<Item = &'a Rollout>,
) -> Result<(), std::fmt::Error> {
    let rows: Vec<RolloutRow> = rollouts
        .filter_map(|ro| {
            let a = ro.status.as_array()?;
            let text = |i: usize| a.get(i).and_then(Value::as_str).unwrap_or_default();
            let num = |i: usize| a.get(i).and_then(Value::as_i64).unwrap_or(0);
            Some(RolloutRow {
                namespace: ro.namespace().unwrap_or_default(),
                name: ro.name_any(),
                strategy: text(0),
                router: text(1),
                phase: text(2),
                desired: num(3),
                available: num(4),
                unavailable: num(5),
                updated: num(6),
            })
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let id = |r: &RolloutRow| [("namespace", r.namespace.clone()), ("name", r.name.clone())];
    family(
        encoder,
        "rollout_info",
        "Information about rollout.",
        &rows,
        |r, e| {
            let mut l = id(r).to_vec();
            l.extend([
                ("strategy", r.strategy.to_string()),
                ("traffic_router", r.router.to_string()),
                ("phase", r.phase.to_string()),
            ]);
            gauge(e, &l, 1)
        },
    )?;
    let counts: [(&str, &str, RowValue); 4] = [
        (
            "rollout_info_replicas_available",
            "The number of available replicas per rollout.",
            |r| r.available,
        ),
        (
            "rollout_info_replicas_unavailable",
            "The number of unavailable replicas per rollout.",
            |r| r.unavailable,
        ),
        (
            "rollout_info_replicas_desired",
            "The number of desired replicas per rollout.",
            |r| r.desired,
        ),
        (
            "rollout_info_replicas_updated",
            "The number of updated replicas per rollout.",
            |r| r.updated,
        ),
    ];
    for (name, help, value) in counts {
        family(encoder, name, help, &rows, |r, e| gauge(e, &id(r), value(r)))?;
    }
    family(
        encoder,
        "rollout_phase",
        "Information on the state of the rollout (DEPRECATED - use rollout_info)",
        &rows,
        |r, e| {
            for p in ROLLOUT_PHASES {
                let mut l = id(r).to_vec();
                l.extend([("strategy", r.strategy.to_string()), ("phase", p.to_string())]);
                gauge(e, &l, i64::from(r.phase == p))?;
            }
            Ok(())
        },
    )
}

struct RunRow {
    namespace: String,
    name: String,
    phase: String,
    /// Per metric: name, provider type, dry run, phase (`""` without a result yet).
    metrics: Vec<(String, &'static str, bool, String)>,
}

/// Upstream `metricproviders.Type` for one metric's JSON (`judge` is ours).
pub(super) fn provider_type(metric: &Value) -> &'static str {
    let provider = metric.get("provider");
    let set = |k: &str| provider.and_then(|p| p.get(k)).is_some_and(|v| !v.is_null());
    PROVIDERS
        .iter()
        .find(|(k, _)| set(k))
        .map(|(_, t)| *t)
        .unwrap_or(if set("judge") { "Judge" } else { "Unknown Provider" })
}

fn str_at<'a>(v: &'a Value, key: &str) -> &'a str {
    v.get(key).and_then(Value::as_str).unwrap_or_default()
}

/// Names of the dry-run metrics: upstream matches every `spec.dryRun` rule against the metric
/// names; a run whose rules do not all match keeps the flags its results were stored with.
fn dry_run(run: &AnalysisRun, results: &[Value]) -> Vec<String> {
    let rules = run.spec.get("dryRun").filter(|v| !v.is_null());
    let Some(rules) = rules else {
        return vec![];
    };
    let parsed = serde_json::from_value::<Vec<DryRun>>(rules.clone()).ok().zip(
        run.spec
            .get("metrics")
            .and_then(|m| serde_json::from_value::<Vec<Metric>>(m.clone()).ok()),
    );
    match parsed.map(|(rules, metrics)| dry_run_metrics(&rules, &metrics)) {
        Some(Ok(names)) => names.into_iter().collect(),
        _ => results
            .iter()
            .filter(|r| r.get("dryRun").and_then(Value::as_bool) == Some(true))
            .map(|r| str_at(r, "name").to_string())
            .collect(),
    }
}

/// `analysis_run_info`, `analysis_run_phase`, `analysis_run_metric_type` and
/// `analysis_run_metric_phase` for `runs` (nothing when there are none).
pub(super) fn encode_runs<'a>(
    encoder: &mut DescriptorEncoder,
    runs: impl Iterator<Item = &'a AnalysisRun>,
) -> Result<(), std::fmt::Error> {
    let rows: Vec<RunRow> = runs
        .map(|run| {
            let results: &[Value] = run
                .status
                .get("metricResults")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or_default();
            let dry = dry_run(run, results);
            let metrics = run
                .spec
                .get("metrics")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .map(|m| {
                    let name = str_at(m, "name");
                    let phase = results
                        .iter()
                        .find(|r| str_at(r, "name") == name)
                        .map(|r| str_at(r, "phase"))
                        .unwrap_or_default();
                    let is_dry = dry.iter().any(|d| d == name);
                    (name.to_string(), provider_type(m), is_dry, phase.to_string())
                })
                .collect();
            RunRow {
                namespace: run.namespace().unwrap_or_default(),
                name: run.name_any(),
                phase: str_at(&run.status, "phase").to_string(),
                metrics,
            }
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let id = |r: &RunRow| vec![("namespace", r.namespace.clone()), ("name", r.name.clone())];
    let is = |phase: &str, p: &str| i64::from(phase == p || (p == "Pending" && phase.is_empty()));
    family(
        encoder,
        "analysis_run_info",
        "Information about analysis run.",
        &rows,
        |r, e| {
            let mut l = id(r);
            l.push(("phase", r.phase.clone()));
            gauge(e, &l, 1)
        },
    )?;
    family(
        encoder,
        "analysis_run_phase",
        "Information on the state of the Analysis Run (DEPRECATED - use analysis_run_info)",
        &rows,
        |r, e| {
            for p in RUN_PHASES {
                let mut l = id(r);
                l.push(("phase", p.to_string()));
                gauge(e, &l, is(&r.phase, p))?;
            }
            Ok(())
        },
    )?;
    if rows.iter().all(|r| r.metrics.is_empty()) {
        return Ok(());
    }
    family(
        encoder,
        "analysis_run_metric_type",
        "Information on the type of a specific metric in the Analysis Runs",
        &rows,
        |r, e| {
            for (metric, kind, _, _) in &r.metrics {
                let mut l = id(r);
                l.extend([("metric", metric.clone()), ("type", kind.to_string())]);
                gauge(e, &l, 1)?;
            }
            Ok(())
        },
    )?;
    family(
        encoder,
        "analysis_run_metric_phase",
        "Information on the duration of a specific metric in the Analysis Run",
        &rows,
        |r, e| {
            for (metric, kind, dry, phase) in &r.metrics {
                for p in RUN_PHASES {
                    let mut l = id(r);
                    l.extend([
                        ("metric", metric.clone()),
                        ("type", kind.to_string()),
                        ("dry_run", dry.to_string()),
                        ("phase", p.to_string()),
                    ]);
                    gauge(e, &l, is(phase, p))?;
                }
            }
            Ok(())
        },
    )
}
