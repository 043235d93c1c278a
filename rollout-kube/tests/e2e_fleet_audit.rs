//! End-to-end `rollout fleet audit` on the real API server: a controller drives one Rollout
//! through a promoted update (its step analysis passes) and an aborted one (the analysis fails);
//! an operator marks the failed run a false alarm and the passed run a regression; the audit
//! (the library, then the `rollout` binary against the test env's kubeconfig when it is built)
//! lists the aborted update with its cause and class and reports the rates per template.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use common::*;
use kube::api::Api;
use rollout_core::common::Timestamp;
use rollout_core::fleet::audit::{Bucket, Review, Window, audit};
use rollout_core::fleet::{ClassificationPolicy, FailureClass, OutcomeKind};
use rollout_core::rollout::Cause;
use rollout_kube::audit::{collect, mark};
use rollout_kube::resources::AnalysisRun;
use serde_json::{Value, json};

/// The `rollout` binary in this test's target directory, if built with `fleet audit`.
fn rollout_bin() -> Option<std::path::PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let bin = target.join("debug/rollout");
    let has_audit = std::process::Command::new(&bin)
        .args(["fleet", "audit", "--help"])
        .output()
        .is_ok_and(|o| o.status.success());
    has_audit.then_some(bin)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_lists_the_aborted_update_and_rates_the_reviews() {
    let Some(c) = cluster("audit").await else {
        return;
    };
    let healthy = Arc::new(AtomicBool::new(true));
    let h = healthy.clone();
    let (port, server) = json_endpoint(move |_| {
        let ok = h.load(Ordering::SeqCst);
        ("200 OK", format!(r#"{{"ok": {ok}}}"#))
    })
    .await;
    common::create_health_template(&c.admin, &c.ns, port, 2).await;
    let providers = common::web_providers();
    let ctrl = start_controller_with(&c, providers);

    let steps = json!([{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "health"}]}}]);
    create(&c, rollout("shop", 2, steps, "example.invalid/shop:v1")).await;
    let v1 = wait_for(&c, "shop", 90, "initial deploy Healthy", healthy_at_new_revision).await;
    let v1_hash = text(&v1, "stableRS").to_string();
    // v2: the analysis passes and the update is promoted.
    set_image(&c, "shop", "example.invalid/shop:v2").await;
    let v2 = wait_for(&c, "shop", 120, "v2 promoted", |r| {
        healthy_at_new_revision(r) && text(r, "stableRS") != v1_hash
    })
    .await;
    let v2_hash = text(&v2, "stableRS").to_string();
    // v3: the analysis fails and the update is aborted.
    healthy.store(false, Ordering::SeqCst);
    set_image(&c, "shop", "example.invalid/shop:v3").await;
    let aborted = wait_for(&c, "shop", 120, "v3 aborted", |r| phase(r) == "Degraded").await;
    let v3_hash = text(&aborted, "currentPodHash").to_string();
    assert_ne!(v2_hash, v3_hash);

    let runs = Api::<AnalysisRun>::namespaced(c.admin.clone(), &c.ns)
        .list(&Default::default())
        .await
        .unwrap()
        .items;
    let run_of = |hash: &str| {
        runs.iter()
            .find(|r| {
                r.metadata
                    .labels
                    .as_ref()
                    .and_then(|l| l.get("rollouts-pod-template-hash"))
                    == Some(&hash.to_string())
            })
            .and_then(|r| r.metadata.name.clone())
            .unwrap_or_else(|| panic!("no run for {hash}: {runs:#?}"))
    };
    let (passed_run, failed_run) = (run_of(&v2_hash), run_of(&v3_hash));
    mark(
        &c.admin,
        &c.ns,
        &failed_run,
        Review::FalseAlarm,
        Some("probe outage"),
    )
    .await
    .unwrap();
    mark(&c.admin, &c.ns, &passed_run, Review::Regression, None)
        .await
        .unwrap();
    let unknown = mark(&c.admin, &c.ns, "no-such-run", Review::Regression, None).await;
    assert!(unknown.unwrap_err().to_string().contains("no-such-run"));

    // The library.
    let now = Timestamp::now();
    let collected = collect(&c.admin, Some(&c.ns), None, now).await.unwrap();
    assert!(collected.skipped.is_empty(), "{:?}", collected.skipped);
    let window = Window::ending_at(now, 3_600, Bucket::Day);
    let report = audit(&collected.entries, &window, &ClassificationPolicy::default());
    assert_eq!(report.not_promoted.len(), 1, "{:#?}", report.not_promoted);
    let np = &report.not_promoted[0];
    assert_eq!(np.entry.environment, format!("{}/shop", c.ns));
    assert_eq!(np.entry.run.as_deref(), Some(failed_run.as_str()));
    assert_eq!(np.entry.pod_template_hash, v3_hash);
    assert_eq!(np.entry.outcome, OutcomeKind::AnalysisFailed);
    assert_eq!(np.entry.templates, ["health"]);
    assert_eq!(np.entry.why[0].cause, Cause::AnalysisFailed);
    assert_eq!(
        np.entry.why[0].metric.as_ref().map(|m| m.name.as_str()),
        Some("healthy"),
        "{:#?}\n{:#}",
        np.entry.why,
        aborted.status
    );
    assert_eq!(np.entry.review, Some(Review::FalseAlarm));
    assert_eq!(np.entry.note, "probe outage");
    assert_eq!(np.class, Some(FailureClass::Suspect));
    assert_eq!(report.templates.len(), 1, "{:#?}", report.templates);
    let health = &report.templates[0];
    assert_eq!(health.name, "health");
    let t = &health.total;
    assert_eq!(
        (
            t.runs,
            t.passed,
            t.failures,
            t.false_alarms,
            t.unreviewed,
            t.misses
        ),
        (2, 1, 1, 1, 0, 1)
    );
    assert_eq!((t.false_alarm_rate, t.miss_rate), (Some(1.0), Some(1.0)));
    assert!(report.judges.is_empty());

    // The CLI binary against the test env's kubeconfig.
    match rollout_bin() {
        Some(bin) => {
            let run = |args: &[&str]| {
                std::process::Command::new(&bin)
                    .args(args)
                    .env("KUBECONFIG", c.env.kubeconfig_path())
                    .output()
                    .unwrap()
            };
            let out = run(&["fleet", "audit", "--since", "1h", "-n", &c.ns, "--output", "json"]);
            let stdout = String::from_utf8_lossy(&out.stdout);
            assert!(
                out.status.success(),
                "{stdout}\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let json: Value = serde_json::from_str(&stdout).unwrap();
            assert_eq!(json["notPromoted"][0]["run"], json!(failed_run), "{json:#}");
            assert_eq!(json["notPromoted"][0]["class"]["class"], "suspect");
            assert_eq!(json["templates"][0]["total"]["falseAlarmRate"], 1.0);
            let out = run(&["fleet", "audit", "-n", &c.ns]);
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(
                text.contains(&format!("{failed_run} analysis-failed class release")),
                "{text}"
            );
            assert!(text.contains("review false-alarm (probe outage)"), "{text}");
            let out = run(&[
                "fleet",
                "audit",
                "mark",
                &passed_run,
                "--false-alarm",
                "-n",
                &c.ns,
            ]);
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
            let out = run(&["fleet", "audit", "--since", "7x", "-n", &c.ns]);
            assert_eq!(out.status.code(), Some(2));
            assert!(String::from_utf8_lossy(&out.stderr).contains("--since"));
            let collected = collect(&c.admin, Some(&c.ns), None, Timestamp::now())
                .await
                .unwrap();
            let passed = collected
                .entries
                .iter()
                .find(|e| e.run.as_deref() == Some(&passed_run))
                .unwrap();
            assert_eq!(passed.review, Some(Review::FalseAlarm));
        }
        None => eprintln!(
            "rollout binary with `fleet audit` not built: CLI part skipped (cargo build -p rollout-cli)"
        ),
    }

    ctrl.shutdown().await;
    server.abort();
}
