//! The judge contract: the `judge` provider queries series through other providers, calls a judge
//! found by name + sha256, and records the verdict in the measurement.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use rollout_core::analysis::judge::{RatioThresholdJudge, metadata_keys, record_verdict};
use rollout_core::analysis::provider::Sample;
use rollout_core::analysis::{
    AnalysisPhase, Measurement, MeasurementRequest, Metric, MetricProvider, Observation, ProviderError,
};
use rollout_driver::{JudgeProvider, JudgeRegistry, MeasurementProvider, Providers, StaticJudges};
use serde_json::Value;

mod support;

use support::analysis::at;
use support::block_on;

/// A fake range-query source: answers by the `query` string of its config.
struct FakeProm {
    answers: BTreeMap<String, Vec<Sample>>,
    seen: Mutex<Vec<String>>,
}

#[async_trait]
impl MeasurementProvider for FakeProm {
    fn name(&self) -> &str {
        "prometheus"
    }
    async fn measure(&self, _r: &MeasurementRequest) -> Result<Observation, ProviderError> {
        Err(ProviderError::Failed("instant queries not faked".into()))
    }
    async fn query_range(
        &self,
        _r: &MeasurementRequest,
        provider: &MetricProvider,
    ) -> Result<Vec<Sample>, ProviderError> {
        let query = provider
            .config("prometheus")
            .and_then(|c| c.get("query"))
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        self.seen.lock().unwrap().push(query.clone());
        self.answers
            .get(&query)
            .cloned()
            .ok_or_else(|| ProviderError::Failed(format!("no data for {query}")))
    }
}

fn samples(values: &[(i64, f64)]) -> Vec<Sample> {
    values
        .iter()
        .map(|&(time_ms, value)| Sample {
            labels: BTreeMap::new(),
            time_ms,
            value,
        })
        .collect()
}

const METRIC: &str = r#"
name: errors
interval: 1m
provider:
  judge:
    name: ratio-threshold
    sha256: "0000000000000000000000000000000000000000000000000000000000000001"
    queries:
      canary:
        numerator: { prometheus: { address: "http://prom", query: "canary-errors" } }
        denominator: { prometheus: { address: "http://prom", query: "canary-requests" } }
      stable:
        numerator: { prometheus: { address: "http://prom", query: "stable-errors" } }
        denominator: { prometheus: { address: "http://prom", query: "stable-requests" } }
    config:
      maxIncrease: 0.01
      minSamples: 100
"#;

fn setup(canary_errors: f64) -> (JudgeProvider, Arc<FakeProm>) {
    let mut answers = BTreeMap::new();
    answers.insert(
        "canary-errors".into(),
        samples(&[(1000, canary_errors / 2.0), (2000, canary_errors / 2.0)]),
    );
    answers.insert("canary-requests".into(), samples(&[(1000, 100.0), (2000, 100.0)]));
    answers.insert("stable-errors".into(), samples(&[(1000, 1.0), (2000, 1.0)]));
    answers.insert("stable-requests".into(), samples(&[(1000, 100.0), (2000, 100.0)]));
    let prom = Arc::new(FakeProm {
        answers,
        seen: Mutex::new(vec![]),
    });
    let mut sources = Providers::new();
    sources.register(prom.clone());
    let mut judges = StaticJudges::new();
    judges.insert(
        RatioThresholdJudge::NAME,
        RatioThresholdJudge::SHA256,
        Arc::new(RatioThresholdJudge),
    );
    (JudgeProvider::new(Arc::new(judges), sources), prom)
}

fn request(previous: Option<Measurement>) -> MeasurementRequest {
    let metric: Metric = serde_yaml::from_str(METRIC).unwrap();
    MeasurementRequest {
        namespace: None,
        run: "r".into(),
        metric,
        args: vec![],
        now: "2026-01-01T00:01:00Z".parse().unwrap(),
        window_start: "2026-01-01T00:00:00Z".parse().unwrap(),
        previous,
        in_flight: None,
        weights: vec![],
    }
}

#[test]
fn judge_metric_parses_as_provider_named_judge() {
    let req = request(None);
    assert_eq!(req.metric.provider.name(), Some("judge"));
    let judge = req.metric.provider.judge.as_ref().unwrap();
    assert_eq!(judge.queries.len(), 2);
    assert!(judge.queries["canary"].numerator.is_some());
}

#[test]
fn regression_fails_with_reason_and_details() {
    let (provider, prom) = setup(20.0); // canary 10% vs stable 1%
    let obs = block_on(provider.measure(&request(None))).unwrap();
    let Observation::Judged(judged) = obs else {
        panic!("expected a judged observation, got {obs:?}")
    };
    let mut m = Measurement::default();
    record_verdict(&mut m, *judged);
    let Measurement {
        phase,
        value,
        message,
        metadata,
        judge_state,
        ..
    } = m;
    assert_eq!(phase, AnalysisPhase::Failed);
    assert_eq!(value, "0");
    assert_eq!(
        message,
        "canary error ratio 0.1000 exceeds stable 0.0100 by more than 0.01"
    );
    assert_eq!(metadata[metadata_keys::CODE], "regression");
    assert_eq!(judge_state, Some(vec![1, 0, 0, 0]));
    let details: Value = serde_json::from_str(&metadata[metadata_keys::DETAILS]).unwrap();
    assert_eq!(details[0]["samples"], serde_json::json!([200, 200]));
    assert!((details[0]["value"].as_f64().unwrap() - 0.09).abs() < 1e-12);
    assert_eq!(prom.seen.lock().unwrap().len(), 4);
}

#[test]
fn no_regression_succeeds_and_state_is_threaded() {
    let (provider, _) = setup(2.0);
    let mut previous = Measurement::default();
    previous
        .metadata
        .insert(metadata_keys::STATE.into(), "02000000".into());
    let obs = block_on(provider.measure(&request(Some(previous)))).unwrap();
    let Observation::Judged(judged) = obs else {
        panic!("expected judged")
    };
    let mut m = Measurement::default();
    record_verdict(&mut m, *judged);
    assert_eq!(m.phase, AnalysisPhase::Successful);
    assert_eq!(m.judge_state, Some(vec![3, 0, 0, 0]));
}

#[test]
fn unknown_digest_is_an_error_naming_the_judge() {
    let (_, prom) = setup(2.0);
    let mut sources = Providers::new();
    sources.register(prom);
    let provider = JudgeProvider::new(Arc::new(StaticJudges::new()), sources);
    let err = block_on(provider.measure(&request(None))).unwrap_err();
    assert_eq!(
        err.to_string(),
        "judge \"ratio-threshold\" with sha256 0000000000000000000000000000000000000000000000000000000000000001 is not registered"
    );
}

#[test]
fn registry_lookup_is_case_insensitive_on_digest() {
    let mut judges = StaticJudges::new();
    judges.insert("j", "ABCD", Arc::new(RatioThresholdJudge));
    assert!(block_on(judges.lookup("j", "abcd")).is_ok());
    assert!(block_on(judges.lookup("k", "abcd")).is_err());
}

#[test]
fn judge_metric_through_the_run_machine_explains_the_failure() {
    let (judge_provider, prom) = setup(20.0);
    let mut providers = Providers::new();
    providers.register(prom).register(Arc::new(judge_provider));
    let mut run = rollout_core::analysis::AnalysisRun::default();
    run.metadata.name = "canary-judge".into();
    run.spec.metrics = vec![serde_yaml::from_str(METRIC).unwrap()];
    let mut results = vec![];
    let mut now = at(0);
    for _ in 0..10 {
        let out = rollout_core::analysis::step(&run, now, std::mem::take(&mut results));
        run.status = Some(out.status.clone());
        if out.status.phase.is_completed() {
            break;
        }
        for task in &out.tasks {
            results.push(block_on(rollout_driver::perform(&providers, task)));
        }
        if results.is_empty() {
            now = out.next_wake.unwrap();
        }
    }
    let st = run.status.unwrap();
    assert_eq!(st.phase, AnalysisPhase::Failed);
    assert_eq!(
        st.message,
        "Metric \"errors\" assessed Failed due to failed (1) > failureLimit (0): \"Error Message: canary error ratio 0.1000 exceeds stable 0.0100 by more than 0.01\""
    );
    let m = &st.metric_results[0].measurements[0];
    assert_eq!(m.metadata[metadata_keys::CODE], "regression");
    assert_eq!(m.value, "0");
}
