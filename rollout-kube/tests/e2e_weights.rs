//! `MeasurementRequest.weights` in production: a background analysis running while the canary
//! weight moves 20% → 50% through a Gateway API HTTPRoute sees that timeline in every measurement,
//! as judges with `exposure: weights` need, on a real API server.

mod common;

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;
use common::*;
use kube::ResourceExt;
use kube::api::Api;
use rollout_core::analysis::judge::WeightPoint;
use rollout_core::analysis::{AnalysisPhase, MeasurementRequest, Observation, ProviderError};
use rollout_driver::{MeasurementProvider, Providers};
use rollout_kube::resources::AnalysisRun;
use rollout_kube::testenv::apply_objects;
use rollout_kube::weights::{CANARY_WEIGHTS_ANNOTATION, timeline};
use serde_json::json;

/// A measurement provider that passes every measurement and keeps the weight timeline of each
/// request it gets (a probe of what the controller hands providers; not a stand-in for a service).
#[derive(Default)]
struct WeightProbe {
    seen: Mutex<Vec<Vec<WeightPoint>>>,
}

#[async_trait]
impl MeasurementProvider for WeightProbe {
    fn name(&self) -> &str {
        "web"
    }

    async fn measure(&self, request: &MeasurementRequest) -> Result<Observation, ProviderError> {
        self.seen.lock().unwrap().push(request.weights.clone());
        Ok(Observation::Decided {
            phase: AnalysisPhase::Successful,
            value: "1".into(),
            message: String::new(),
            metadata: Default::default(),
        })
    }
}

/// The weights of a timeline with repeats removed.
fn weight_changes(points: &[WeightPoint]) -> Vec<u32> {
    let mut out: Vec<u32> = points.iter().map(|p| p.canary_weight).collect();
    out.dedup();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measurements_see_the_canary_weight_timeline() {
    let Some(c) = cluster("weights").await else { return };
    install_httproute(&c, "cart").await;
    let template = json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "AnalysisTemplate",
        "metadata": {"name": "probe"},
        "spec": {"metrics": [{"name": "probe", "interval": "1s",
                              "provider": {"web": {"url": "http://127.0.0.1:9/unused"}}}]}
    });
    apply_objects(&c.admin, &[template], &c.ns).await.unwrap();

    let probe = Arc::new(WeightProbe::default());
    let mut providers = Providers::new();
    providers.register(probe.clone());
    let ctrl = start_controller_with(&c, providers);
    let mut ro = rollout(
        "cart",
        2,
        json!([{"setWeight": 20}, {"pause": {"duration": "3s"}}, {"setWeight": 50}, {"pause": {}}]),
        "example.invalid/cart:v1",
    );
    route_through_httproute(&mut ro, "cart");
    ro["spec"]["strategy"]["canary"]["analysis"] = json!({"templates": [{"templateName": "probe"}]});
    create(&c, ro).await;
    wait_for(&c, "cart", 90, "initial deploy Healthy", healthy_at_new_revision).await;

    set_image(&c, "cart", "example.invalid/cart:v2").await;
    wait_for(&c, "cart", 120, "paused at step 3", |r| {
        paused(r) && step_index(r) == 3
    })
    .await;

    // The background run's annotation holds the timeline, and the provider receives it.
    let runs: Api<AnalysisRun> = Api::namespaced(c.admin.clone(), &c.ns);
    let start = Instant::now();
    let (stored, seen) = loop {
        let run = runs
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .find(|r| r.labels().get("rollout-type").map(String::as_str) == Some("Background"))
            .expect("a background AnalysisRun");
        let stored = timeline(run.annotations()).unwrap();
        let seen = probe.seen.lock().unwrap().last().cloned().unwrap_or_default();
        if weight_changes(&seen).ends_with(&[20, 50]) {
            break (stored, seen);
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "no measurement saw 20% then 50%; annotation {:?}, last request {seen:?}",
            run.annotations().get(CANARY_WEIGHTS_ANNOTATION)
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        seen.windows(2).all(|w| w[0].time_ms <= w[1].time_ms),
        "in time order: {seen:?}"
    );
    assert!(
        seen.iter().all(|p| [0, 20, 50].contains(&p.canary_weight)),
        "only the weights the steps set: {seen:?}"
    );
    assert!(
        stored.starts_with(&seen),
        "the request carries the run's stored timeline: {stored:?} vs {seen:?}"
    );
    let (t20, t50) = (
        seen.iter().find(|p| p.canary_weight == 20).unwrap().time_ms,
        seen.iter().find(|p| p.canary_weight == 50).unwrap().time_ms,
    );
    assert!(
        t50 - t20 >= 3_000,
        "the 3 s pause lies between 20% and 50%: {seen:?}"
    );
    ctrl.shutdown().await;
}
