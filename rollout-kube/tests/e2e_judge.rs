//! End-to-end judge analysis: a canary step analysis whose metric uses the `judge` provider with
//! the committed WebAssembly component `plugins/dist/judge-error-ratio.wasm` (loaded through
//! analysis-host, pinned by its sha256). The judge's canary/stable error and request series come
//! from a real Prometheus holding deterministic backfilled counters around the current time.
//!
//! - A canary with 10x stable's error rate fails the judge: the AnalysisRun is Failed with the
//!   judge's explanation, the Rollout aborts (Degraded) with it, the canary ReplicaSet goes to 0
//!   and stable is back at full ready capacity.
//! - Equal, healthy error rates pass the step and the rollout continues to the next step.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use analysis_host::{HostConfig, JudgeHost, LoadOptions, WasmJudges};
use analysis_providers::{PrometheusProvider, WebProvider};
use common::*;
use kube::api::{Api, PostParams};
use rollout_driver::{JudgeProvider, Providers};
use rollout_kube::resources::{AnalysisRun, AnalysisTemplate};
use serde_json::{Value, json};

/// The judge component and its digest (`plugins/dist/SHA256SUMS`).
const JUDGE_FILE: &str = "judge-error-ratio.wasm";
const JUDGE_SHA256: &str = "49d2097a29a2f963947ef29e7391e1a3ac632fa926c31ffd3bb6ddbfc4a8e96b";

fn dist() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist")
}

/// Providers as the `rollout controller` binary builds them: Prometheus and web as sources, and
/// the judge provider over the wasm judges found in `plugins/dist` by digest. The component is
/// loaded (compiled) up front so the measurement itself is quick.
fn providers() -> Providers {
    let host = JudgeHost::new(HostConfig::default()).unwrap();
    let judges = WasmJudges::new(host, vec![dist()]);
    let loaded = judges
        .register_file(
            &dist().join(JUDGE_FILE),
            &LoadOptions {
                sha256: Some(JUDGE_SHA256.into()),
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(loaded.info().name, "error-ratio");
    let mut sources = Providers::new();
    sources.register(Arc::new(PrometheusProvider::new().unwrap()));
    sources.register(Arc::new(WebProvider::new().unwrap()));
    let mut all = sources.clone();
    all.register(Arc::new(JudgeProvider::new(Arc::new(judges), sources)));
    all
}

/// Counters every 15 s from 20 minutes before to 20 minutes after now, so that any 1-minute
/// `increase` during the test sees exactly `per_minute` requests/errors per role.
fn openmetrics(canary: (u64, u64), stable: (u64, u64)) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let start = now - 20 * 60;
    let mut out = String::from("# HELP http_requests Requests served.\n# TYPE http_requests counter\n");
    for (role, (errors, requests)) in [("canary", canary), ("stable", stable)] {
        for (code, per_minute) in [("500", errors), ("200", requests - errors)] {
            for k in 0..=160u64 {
                out.push_str(&format!(
                    "http_requests_total{{role=\"{role}\",code=\"{code}\"}} {} {}\n",
                    (per_minute * k) as f64 / 4.0,
                    start + 15 * k
                ));
            }
        }
    }
    out.push_str("# EOF\n");
    out
}

/// Backfills and starts Prometheus off the async workers (it waits for readiness by polling).
async fn start_prometheus(data: String) -> Option<Prometheus> {
    tokio::task::spawn_blocking(move || Prometheus::start(&data))
        .await
        .unwrap()
}

/// The AnalysisTemplate `error-ratio`, shaped like `examples/templates/error-ratio.yaml`.
fn template(prometheus: &str) -> AnalysisTemplate {
    let q = |query: String| json!({"prometheus": {"address": prometheus, "query": query}});
    let arm = |role: &str| {
        json!({
            "numerator": q(format!("sum(increase(http_requests_total{{role=\"{role}\",code=~\"5..\"}}[1m]))")),
            "denominator": q(format!("sum(increase(http_requests_total{{role=\"{role}\"}}[1m]))")),
        })
    };
    serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "error-ratio"},
        "spec": {"metrics": [{
            "name": "error-ratio",
            "provider": {"judge": {
                "name": "error-ratio",
                "sha256": JUDGE_SHA256,
                "queries": {"canary": arm("canary"), "stable": arm("stable")},
                "config": {"alpha": 0.05, "tolerance": 0.25, "passBelowRate": 0.001,
                           "maxErrorRate": 0.05, "minRequests": 500}
            }}
        }]}
    }))
    .unwrap()
}

const STEPS: &str =
    r#"[{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "error-ratio"}]}}, {"pause": {}}]"#;

async fn runs(c: &Cluster) -> Vec<AnalysisRun> {
    Api::<AnalysisRun>::namespaced(c.admin.clone(), &c.ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items
}

/// Creates the template and a Rollout `name` at v1 (Healthy), then updates it to v2. Returns the
/// stable hash.
async fn deploy_then_update(c: &Cluster, prom: &Prometheus, name: &str) -> String {
    Api::<AnalysisTemplate>::namespaced(c.admin.clone(), &c.ns)
        .create(&PostParams::default(), &template(&prom.url()))
        .await
        .unwrap();
    let steps: Value = serde_json::from_str(STEPS).unwrap();
    create(c, rollout(name, 2, steps, &format!("example.invalid/{name}:v1"))).await;
    let v1 = wait_for(c, name, 60, "initial deploy Healthy", healthy_at_new_revision).await;
    set_image(c, name, &format!("example.invalid/{name}:v2")).await;
    text(&v1, "stableRS").to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_judge_verdict_aborts_and_restores_full_stable_capacity() {
    let Some(c) = cluster("judge-fail").await else {
        return;
    };
    // Per minute: canary 100 errors in 1000 requests (10%), stable 10 in 1000 (1%).
    let Some(prom) = start_prometheus(openmetrics((100, 1000), (10, 1000))).await else {
        return;
    };
    let ctrl = start_controller_with(&c, providers());
    let stable = deploy_then_update(&c, &prom, "shop").await;

    let aborted = wait_for(&c, "shop", 60, "Degraded after the judge's Failed verdict", |r| {
        phase(r) == "Degraded"
    })
    .await;
    assert_eq!(text(&aborted, "stableRS"), stable);

    let runs = runs(&c).await;
    assert_eq!(runs.len(), 1, "one step run");
    let run = &runs[0].status;
    assert_eq!(run["phase"], "Failed", "{run:#}");
    let m = &run["metricResults"][0]["measurements"][0];
    assert_eq!(m["phase"], "Failed", "{run:#}");
    assert_eq!(m["metadata"]["judge.name"], "error-ratio");
    assert_eq!(m["metadata"]["judge.sha256"], JUDGE_SHA256);
    assert_eq!(m["metadata"]["judge.code"], "regression", "{run:#}");
    // The judge's explanation, with the exact counts it was given.
    let reason = m["message"].as_str().unwrap();
    assert!(
        reason.starts_with(
            "error-ratio: canary is worse than stable: rate ratio 10.00 (canary 100/1000 vs stable 10/1000)"
        ),
        "{reason}"
    );
    let details: Value = serde_json::from_str(m["metadata"]["judge.details"].as_str().unwrap()).unwrap();
    assert_eq!(details[0]["samples"], json!([1000, 1000]), "{details:#}");
    let run_message = run["message"].as_str().unwrap();
    assert!(run_message.contains(reason), "{run_message}");
    let message = text(&aborted, "message");
    assert!(
        message.starts_with("RolloutAborted: Rollout aborted update to revision 2")
            && message.contains(reason),
        "{message}"
    );

    let canary = text(&aborted, "currentPodHash").to_string();
    assert_ne!(canary, stable);
    wait_for_stable_restored(&c, "shop", &stable, &canary, 2).await;
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthy_judge_verdict_passes_the_step_and_the_rollout_continues() {
    let Some(c) = cluster("judge-pass").await else {
        return;
    };
    // Per minute, both versions: 1 error in 20000 requests, under the 0.1% `passBelowRate`.
    let Some(prom) = start_prometheus(openmetrics((1, 20_000), (1, 20_000))).await else {
        return;
    };
    let ctrl = start_controller_with(&c, providers());
    let stable = deploy_then_update(&c, &prom, "cart").await;

    let paused = wait_for(&c, "cart", 60, "paused at step 2 after the analysis", |r| {
        paused(r) && step_index(r) == 2
    })
    .await;
    assert_eq!(phase(&paused), "Paused");
    assert_eq!(text(&paused, "stableRS"), stable);

    let runs = runs(&c).await;
    assert_eq!(runs.len(), 1, "one step run");
    let run = &runs[0].status;
    assert_eq!(run["phase"], "Successful", "{run:#}");
    let m = &run["metricResults"][0]["measurements"][0];
    assert_eq!(m["metadata"]["judge.code"], "within-tolerance", "{run:#}");
    assert_eq!(
        m["message"],
        "error-ratio: canary is within tolerance with confidence 95.0%: its rate is below 0.1%"
    );
    // The canary keeps its 50% share (1 of 2) while the rollout waits at the pause.
    let canary = text(&paused, "currentPodHash").to_string();
    wait_for_rs(&c, "cart", |rss| {
        rss.len() == 2
            && rss
                .iter()
                .all(|r| (r.1 == stable && r.2 >= 1) || (r.1 == canary && r.2 == 1 && r.3 == 1))
    })
    .await;
    ctrl.shutdown().await;
}
