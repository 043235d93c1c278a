//! The analysis types read upstream YAML unchanged (fixtures 03, 04, 08, 09, 10).

use std::path::PathBuf;

use rollout_core::analysis::{AnalysisRun, AnalysisTemplate, Argument};
use rollout_core::common::IntOrString;
use serde::Deserialize;

fn fixture(name: &str) -> String {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../shared/fixtures/argo-rollouts")
        .join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn documents(text: &str) -> Vec<serde_yaml::Value> {
    serde_yaml::Deserializer::from_str(text)
        .map(|d| serde_yaml::Value::deserialize(d).unwrap())
        .filter(|v| !v.is_null())
        .collect()
}

fn templates(name: &str) -> Vec<AnalysisTemplate> {
    documents(&fixture(name))
        .into_iter()
        .map(|v| serde_yaml::from_value(v).unwrap())
        .collect()
}

/// Round trip through JSON loses nothing that upstream wrote.
fn assert_round_trip(original: &serde_yaml::Value, parsed: &AnalysisTemplate) {
    let back: serde_json::Value = serde_json::to_value(parsed).unwrap();
    let orig: serde_json::Value = serde_json::to_value(original).unwrap();
    assert_eq!(back, orig);
}

#[test]
fn fixture_04_pass_and_random_fail() {
    let text = fixture("04-analysis-templates.yaml");
    let docs = documents(&text);
    let ts = templates("04-analysis-templates.yaml");
    assert_eq!(ts.len(), 2);
    for (doc, t) in docs.iter().zip(&ts) {
        assert_round_trip(doc, t);
    }
    let pass = &ts[0];
    assert_eq!(pass.kind.as_deref(), Some("AnalysisTemplate"));
    assert_eq!(pass.metadata.name, "pass");
    let m = &pass.spec.metrics[0];
    assert_eq!(m.count, Some(IntOrString::Int(1)));
    assert_eq!(m.interval.as_deref(), Some("5s"));
    assert_eq!(m.failure_limit, Some(IntOrString::Int(1)));
    assert_eq!(m.provider.name(), Some("job"));
    assert_eq!(
        m.provider.config("job").unwrap()["spec"]["backoffLimit"],
        serde_json::json!(0)
    );
    let rf = &ts[1].spec.metrics[0];
    assert_eq!(rf.name, "random-fail");
    assert_eq!(rf.count, Some(IntOrString::Int(2)));
}

#[test]
fn fixture_09_sleep_job_args_and_string_count() {
    let docs = documents(&fixture("09-analysistemplate-sleep-job.yaml"));
    let ts = templates("09-analysistemplate-sleep-job.yaml");
    assert_round_trip(&docs[0], &ts[0]);
    let t = &ts[0];
    assert_eq!(
        t.spec.args,
        ["duration", "exit-code", "count", "rev"]
            .iter()
            .zip(["0", "0", "1", "notset"])
            .map(|(n, v)| Argument {
                name: n.to_string(),
                value: Some(v.to_string()),
                value_from: None
            })
            .collect::<Vec<_>>()
    );
    assert_eq!(
        t.spec.metrics[0].count,
        Some(IntOrString::String("{{args.count}}".into()))
    );
}

#[test]
fn fixture_10_web_conditions_and_limits() {
    let docs = documents(&fixture("10-analysistemplate-web-background-inconclusive.yaml"));
    let ts = templates("10-analysistemplate-web-background-inconclusive.yaml");
    assert_round_trip(&docs[0], &ts[0]);
    let m = &ts[0].spec.metrics[0];
    assert_eq!(m.success_condition.as_deref(), Some("result.Status == 999"));
    assert_eq!(m.failure_condition.as_deref(), Some("result.Status == -1"));
    assert_eq!(m.inconclusive_limit, Some(IntOrString::Int(3)));
    assert_eq!(m.provider.config("web").unwrap()["url"], "{{args.url-val}}");
}

#[test]
fn fixtures_03_and_08_analysis_parts() {
    // Background analysis (03) and an analysis step with a fieldRef arg (08) use our template
    // reference and argument types.
    let r03 = &documents(&fixture("03-rollout-background-analysis.yaml"))[0];
    let bg = &r03["spec"]["strategy"]["canary"]["analysis"]["templates"];
    let refs: Vec<rollout_core::analysis::AnalysisTemplateRef> = serde_yaml::from_value(bg.clone()).unwrap();
    assert_eq!(refs[0].template_name, "random-fail");
    assert!(!refs[0].cluster_scope);

    let r08 = &documents(&fixture("08-rollout-rollback-window.yaml"))[0];
    let step = &r08["spec"]["strategy"]["canary"]["steps"][1]["analysis"];
    let args: Vec<Argument> = serde_yaml::from_value(step["args"].clone()).unwrap();
    assert_eq!(args[0].name, "rev");
    assert_eq!(
        args[0]
            .value_from
            .as_ref()
            .unwrap()
            .field_ref
            .as_ref()
            .unwrap()
            .field_path,
        "metadata.labels['rev']"
    );
}

#[test]
fn analysis_run_with_status_round_trips() {
    let yaml = r#"
apiVersion: argoproj.io/v1alpha1
kind: AnalysisRun
metadata:
  name: r-abc-2
  namespace: default
spec:
  metrics:
  - name: m
    interval: 10s
    successCondition: result[0] > 0.9
    provider:
      prometheus:
        address: http://prom:9090
        query: up
  args:
  - name: a
    value: b
  dryRun:
  - metricName: .*
status:
  phase: Running
  startedAt: "2026-01-01T00:00:00Z"
  metricResults:
  - name: m
    phase: Running
    count: 1
    successful: 1
    consecutiveSuccess: 1
    dryRun: true
    measurements:
    - phase: Successful
      value: "[0.95]"
      startedAt: "2026-01-01T00:00:00Z"
      finishedAt: "2026-01-01T00:00:01Z"
  runSummary:
    count: 1
    successful: 1
"#;
    let run: AnalysisRun = serde_yaml::from_str(yaml).unwrap();
    let original: serde_json::Value =
        serde_json::to_value(serde_yaml::from_str::<serde_yaml::Value>(yaml).unwrap()).unwrap();
    let back = serde_json::to_value(&run).unwrap();
    assert_eq!(back["spec"], original["spec"]);
    assert_eq!(
        back["status"]["metricResults"],
        original["status"]["metricResults"]
    );
    assert_eq!(back["status"]["runSummary"], original["status"]["runSummary"]);
    let st = run.status.unwrap();
    assert_eq!(st.metric_results[0].measurements[0].value, "[0.95]");
}
