//! End-to-end fleet status: two controllers on the real API server (two namespaces standing in for
//! two clusters), each serving its own metrics registry over HTTP, a real Prometheus scraping
//! both; the same release is promoted in one and aborted by a failing analysis in the other. The
//! fleet view read back through Prometheus' HTTP API has the right outcomes, causes, classes,
//! decision and degraded list, and so does the view read from the Rollouts directly.

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use prometheus_client::registry::Registry;
use rollout_core::Timestamp;
use rollout_core::fleet::HoldSelector;
use rollout_core::fleet::{FailureClass, OutcomeKind, ReleasePlan};
use rollout_kube::fleet_brake::{add_hold, list_holds, remove_hold};
use rollout_kube::fleet_status::{self, Outcomes, fleet_view, halt_hold};
use rollout_kube::manifests::ManifestOptions;
use rollout_kube::{ControllerConfig, RolloutController};
use serde_json::json;

const V1: &str = "example.invalid/shop:v1";
const V2: &str = "example.invalid/shop:v2";

/// A controller watching `c.ns` with the `web` provider, its registry served over HTTP.
async fn controller(
    c: &Cluster,
) -> (
    u16,
    [tokio::task::JoinHandle<()>; 2],
    tokio::sync::oneshot::Sender<()>,
) {
    let providers = common::web_providers();
    let mut registry = Registry::default();
    let config = ControllerConfig {
        namespace: Some(c.ns.clone()),
        ..Default::default()
    };
    let ctrl = RolloutController::new(c.sa.clone(), config, &mut registry).with_providers(providers);
    let (tx, rx) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(ctrl.run(async move {
        let _ = rx.await;
    }));
    let (port, server) = serve_registry(Arc::new(registry)).await;
    (port, [task, server], tx)
}

fn shop(environment: &str, steps: serde_json::Value) -> serde_json::Value {
    let mut ro = rollout("shop", 2, steps, V1);
    ro["metadata"]["annotations"] = json!({"rollout.io/environment": environment});
    ro
}

/// Reads Prometheus until `done` holds for the outcomes (scrapes run every second).
async fn read_until(url: &str, what: &str, done: impl Fn(&Outcomes) -> bool) -> Outcomes {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let got = fleet_status::read_prometheus(url, Timestamp::now()).await;
        if let Ok(o) = &got
            && done(o)
        {
            return o.clone();
        }
        assert!(Instant::now() < deadline, "{what}: last read {got:?}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fleet_status_reads_two_controllers_through_prometheus() {
    let Some(a) = cluster("fleet-a").await else {
        return;
    };
    let Some(b) = cluster("fleet-b").await else {
        return;
    };
    // Cluster b's analysis: an endpoint reporting the canary unhealthy.
    let (probe, probe_task) = json_endpoint(|_| ("200 OK", r#"{"ok": false}"#.to_string())).await;
    common::create_health_template(&b.admin, &b.ns, probe, 1).await;

    let (port_a, tasks_a, stop_a) = controller(&a).await;
    let (port_b, tasks_b, stop_b) = controller(&b).await;
    let Some(prom) = Prometheus::scraping(&[("a", port_a), ("b", port_b)]) else {
        return;
    };
    let url = prom.url();

    let steps = json!([{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "health"}]}}]);
    create(
        &a,
        shop(
            "cluster-a/shop",
            json!([{"setWeight": 50}, {"pause": {"duration": "1s"}}]),
        ),
    )
    .await;
    create(&b, shop("cluster-b/shop", steps)).await;
    let mut v1_hash = String::new();
    for c in [&a, &b] {
        let ro = wait_for(c, "shop", 90, "initial deploy Healthy", healthy_at_new_revision).await;
        v1_hash = text(&ro, "currentPodHash").to_string();
    }
    // Before the update both export their first release as promoted.
    read_until(&url, "v1 promoted in both", |o| {
        o.outcomes.len() == 2
            && o.outcomes
                .iter()
                .all(|x| x.row.release == V1 && x.row.outcome == OutcomeKind::Promoted)
    })
    .await;

    for c in [&a, &b] {
        set_image(c, "shop", V2).await;
    }
    let promoted = wait_for(&a, "shop", 90, "v2 promoted in a", |r| {
        healthy_at_new_revision(r) && text(r, "currentPodHash") != v1_hash
    })
    .await;
    let aborted = wait_for(&b, "shop", 120, "v2 aborted in b", |r| phase(r) == "Degraded").await;

    let got = read_until(&url, "v2 outcomes in both", |o| {
        o.outcomes.iter().filter(|x| x.row.release == V2).count() == 2
            && o.outcomes
                .iter()
                .all(|x| x.row.outcome != OutcomeKind::InProgress)
    })
    .await;
    let mut outcomes = got.outcomes.clone();
    outcomes.sort_by(|x, y| x.row.environment.cmp(&y.row.environment));
    let (in_a, in_b) = (&outcomes[0], &outcomes[1]);
    assert_eq!(in_a.row.environment, "cluster-a/shop");
    assert_eq!(in_a.row.outcome, OutcomeKind::Promoted);
    assert_eq!(in_a.row.revision, text(&promoted, "currentPodHash"));
    assert_eq!(
        (in_a.row.image.as_str(), in_a.namespace.as_str()),
        (V2, a.ns.as_str())
    );
    assert!(in_a.source.contains("cluster=a"), "{}", in_a.source);
    assert_eq!(in_b.row.environment, "cluster-b/shop");
    assert_eq!(in_b.row.outcome, OutcomeKind::AnalysisFailed);
    assert_eq!(in_b.row.cause, "AnalysisFailed");
    assert!(
        in_b.row.message.contains("Rollout aborted update to revision"),
        "{}",
        in_b.row.message
    );
    assert_eq!(in_b.row.revision, text(&aborted, "currentPodHash"));
    // The same template in both clusters: the same pod-template hash.
    assert_eq!(in_a.row.revision, in_b.row.revision);
    for o in [in_a, in_b] {
        let d = o.duration_seconds.expect("each update's duration is exported");
        assert!((0.0..120.0).contains(&d), "{o:?}");
        // The cost of safety (`metrics::cost`) joined on namespace, rollout, revision and source.
        assert!(o.extra_pod_seconds.is_some_and(|s| s > 0.0), "{o:?}");
        assert!(o.wall_seconds.is_some_and(|s| s > 0.0), "{o:?}");
    }
    assert!(got.ignored.is_empty(), "{:?}", got.ignored);

    // A plan whose test halts on one failure in two (a 30× alternative, α 0.5): a release issue.
    let plan: ReleasePlan = serde_yaml::from_str(
        "release: shop-v2\n\
         test: {baselineFailureRate: 0.01, falseAlarmRate: 0.5, failureRateRatio: 30}\n\
         waves: [{name: two-clusters, percent: 10}, {name: everyone, percent: 100}]",
    )
    .unwrap();
    assert!(plan.validate("plan").is_empty(), "{:?}", plan.validate("plan"));
    let view = fleet_view(&plan, 0, &got);
    assert_eq!(view.releases.len(), 1);
    let release = &view.releases[0];
    assert_eq!(release.release, V2);
    assert_eq!(release.health.counts.environments, 2);
    assert_eq!(
        release.health.counts.by_kind.get(&OutcomeKind::Promoted),
        Some(&1)
    );
    assert!(release.decision.is_halt(), "{}", release.decision_message);
    assert_eq!(release.classified.len(), 1);
    assert_eq!(release.classified[0].class, FailureClass::ReleaseIssue);
    let cost = release.cost.expect("the cost summed over the release");
    assert_eq!(cost.environments, 2);
    let summed: f64 = outcomes.iter().filter_map(|o| o.extra_pod_seconds).sum();
    assert!((cost.extra_pod_seconds - summed).abs() < 1e-9, "{cost:?}");
    assert_eq!(release.degraded.len(), 1);
    let degraded = &release.degraded[0];
    assert_eq!(
        (
            degraded.environment.as_str(),
            degraded.outcome,
            degraded.cause.as_str()
        ),
        ("cluster-b/shop", OutcomeKind::AnalysisFailed, "AnalysisFailed")
    );
    // `--halt`: the hold on the release's image goes into the cluster's fleet brake.
    let now = Timestamp::from_second(Timestamp::now().as_second()).unwrap();
    let hold = halt_hold(release, &got, now).expect("a halted release is held");
    assert_eq!(hold.image.as_deref(), Some(V2));
    let brake_ns = ManifestOptions::default().namespace;
    assert!(add_hold(&a.admin, &brake_ns, hold.clone()).await.unwrap());
    let holds = list_holds(&a.admin, &brake_ns).await.unwrap();
    assert!(holds.holds.contains(&hold), "{holds:?}");
    let selector = HoldSelector {
        image: Some(V2.to_string()),
        revision: None,
        release: None,
    };
    assert_eq!(remove_hold(&a.admin, &brake_ns, &selector).await.unwrap(), [hold]);
    // With the default test (baseline 1%, 3×, α 5%) one failure in two is not yet a release issue.
    let lenient: ReleasePlan = serde_yaml::from_str(
        "release: shop-v2\nwaves: [{name: first, percent: 10}, {name: rest, percent: 100}]",
    )
    .unwrap();
    let view = fleet_view(&lenient, 0, &got);
    assert!(
        !view.releases[0].decision.is_halt(),
        "{}",
        view.releases[0].decision_message
    );
    assert_eq!(view.releases[0].classified[0].class, FailureClass::Suspect);

    // The same view read from the Rollouts directly (what `--context` does).
    let mut direct = Outcomes::default();
    for (c, name) in [(&a, "a"), (&b, "b")] {
        let o = fleet_status::read_rollouts(c.admin.clone(), Some(&c.ns), name, Timestamp::now())
            .await
            .unwrap();
        direct.outcomes.extend(o.outcomes);
    }
    let kinds: Vec<(String, OutcomeKind, String)> = direct
        .outcomes
        .iter()
        .map(|x| (x.row.environment.clone(), x.row.outcome, x.row.cause.clone()))
        .collect();
    assert_eq!(
        kinds,
        [
            ("cluster-a/shop".to_string(), OutcomeKind::Promoted, String::new()),
            (
                "cluster-b/shop".to_string(),
                OutcomeKind::AnalysisFailed,
                "AnalysisFailed".to_string()
            )
        ]
    );
    assert!(fleet_view(&plan, 0, &direct).releases[0].decision.is_halt());

    let _ = (stop_a.send(()), stop_b.send(()));
    for [controller, server] in [tasks_a, tasks_b] {
        tokio::time::timeout(Duration::from_secs(20), controller)
            .await
            .expect("controller stops")
            .unwrap();
        server.abort();
    }
    probe_task.abort();
    drop(prom);
}
