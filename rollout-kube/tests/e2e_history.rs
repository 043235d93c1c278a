//! End-to-end AnalysisRun history: over several revisions, runs that are no longer current are
//! deleted beyond `spec.analysis.successfulRunHistoryLimit` / `unsuccessfulRunHistoryLimit`,
//! newest kept (upstream `FilterAnalysisRunsToDelete`), so runs do not pile up in etcd.

mod common;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::*;
use kube::api::{Api, PostParams};
use rollout_driver::Providers;
use rollout_kube::resources::{AnalysisRun, AnalysisTemplate};
use serde_json::json;

/// Answers `{"ok": <healthy>}`.
async fn health_endpoint(healthy: Arc<AtomicBool>) -> (u16, tokio::task::JoinHandle<()>) {
    json_endpoint(move |_| {
        (
            "200 OK",
            format!(r#"{{"ok": {}}}"#, healthy.load(Ordering::SeqCst)),
        )
    })
    .await
}

/// `run name → phase` of the namespace's AnalysisRuns.
async fn runs(c: &Cluster) -> BTreeMap<String, String> {
    Api::<AnalysisRun>::namespaced(c.admin.clone(), &c.ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|r| {
            let phase = r.status["phase"].as_str().unwrap_or("").to_string();
            (r.metadata.name.unwrap_or_default(), phase)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_runs_are_deleted_beyond_the_history_limits() {
    let Some(c) = cluster("history").await else {
        return;
    };
    let healthy = Arc::new(AtomicBool::new(true));
    let (port, server) = health_endpoint(healthy.clone()).await;
    let template: AnalysisTemplate = serde_json::from_value(json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "health"},
        "spec": {"metrics": [{
            "name": "healthy",
            "successCondition": "result == true",
            "provider": {"web": {"url": format!("http://127.0.0.1:{port}/health"), "jsonPath": "{$.ok}"}}
        }]}
    }))
    .unwrap();
    Api::<AnalysisTemplate>::namespaced(c.admin.clone(), &c.ns)
        .create(&PostParams::default(), &template)
        .await
        .unwrap();
    let mut providers = Providers::new();
    providers.register(Arc::new(analysis_providers::web::WebProvider::new().unwrap()));
    let ctrl = start_controller_with(&c, providers);

    let steps = json!([{"analysis": {"templates": [{"templateName": "health"}]}}]);
    let mut ro = rollout("shop", 1, steps, "example.invalid/shop:v1");
    ro["spec"]["analysis"] = json!({"successfulRunHistoryLimit": 2, "unsuccessfulRunHistoryLimit": 1});
    create(&c, ro).await;
    let v1 = wait_for(&c, "shop", 90, "initial deploy Healthy", healthy_at_new_revision).await;

    // Revisions 2-5 pass their analysis, 6 and 7 fail it (aborted), 8 passes.
    let mut hashes = BTreeMap::from([(1, text(&v1, "stableRS").to_string())]);
    for revision in 2..=8 {
        let passes = !(6..=7).contains(&revision);
        healthy.store(passes, Ordering::SeqCst);
        set_image(&c, "shop", &format!("example.invalid/shop:v{revision}")).await;
        let seen = hashes.clone();
        let updated = wait_for(&c, "shop", 60, &format!("revision {revision} observed"), |r| {
            let current = text(r, "currentPodHash");
            !current.is_empty() && !seen.values().any(|h| h == current)
        })
        .await;
        let hash = text(&updated, "currentPodHash").to_string();
        let what = format!(
            "revision {revision} {}",
            if passes { "Healthy" } else { "aborted" }
        );
        wait_for(&c, "shop", 90, &what, |r| {
            text(r, "currentPodHash") == hash
                && if passes {
                    healthy_at_new_revision(r)
                } else {
                    phase(r) == "Degraded" && text(r, "message").contains("RolloutAborted")
                }
        })
        .await;
        hashes.insert(revision, hash);
    }
    let run_of = |revision: i32| format!("shop-{}-{revision}-0", hashes[&revision]);

    // Kept: the 2 newest Successful runs (revisions 8 and 5) and the newest unsuccessful one (7).
    let want: BTreeMap<String, String> = [
        (run_of(5), "Successful"),
        (run_of(7), "Failed"),
        (run_of(8), "Successful"),
    ]
    .into_iter()
    .map(|(n, p)| (n, p.to_string()))
    .collect();
    let start = Instant::now();
    let mut seen = runs(&c).await;
    while seen != want && start.elapsed() < Duration::from_secs(60) {
        tokio::time::sleep(Duration::from_millis(250)).await;
        seen = runs(&c).await;
    }
    assert_eq!(
        seen, want,
        "7 runs created, the history limits keep 2 Successful + 1 unsuccessful"
    );

    ctrl.shutdown().await;
    server.abort();
}
