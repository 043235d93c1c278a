//! Run creation from templates + Rollout args, with upstream's rules and messages.

use rollout_core::analysis::create::{
    RolloutArgSource, build_rollout_args, expand_template_refs, flatten_templates, merge_args,
    resolve_metric_args, resolve_placeholders,
};
use rollout_core::analysis::validate::int_value;
use rollout_core::analysis::{
    AnalysisTemplate, Argument, CreateError, DryRun, MeasurementRetention, new_run_from_templates,
};
use rollout_core::common::IntOrString;
use serde_json::json;

fn template(yaml: &str) -> AnalysisTemplate {
    serde_yaml::from_str(yaml).unwrap()
}

fn arg(name: &str, value: &str) -> Argument {
    Argument {
        name: name.into(),
        value: Some(value.into()),
        value_from: None,
    }
}

fn sleep_job() -> AnalysisTemplate {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures/argo-rollouts/09-analysistemplate-sleep-job.yaml"
    );
    serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

const A: &str = r#"
metadata: {name: a}
spec:
  args: [{name: x, value: "1"}, {name: shared}]
  metrics:
  - name: m1
    provider: {web: {url: "http://a/{{args.x}}"}}
  dryRun: [{metricName: m1}]
"#;
const B: &str = r#"
metadata: {name: b}
spec:
  args: [{name: shared, value: "s"}, {name: y}]
  metrics:
  - name: m2
    provider: {web: {url: "http://b/{{ args.y }}"}}
  measurementRetention: [{metricName: m2, limit: 3}]
"#;

#[test]
fn metrics_are_concatenated_and_args_merged() {
    let spec = flatten_templates(&[template(A)], &[template(B)]).unwrap();
    let names: Vec<_> = spec.metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["m1", "m2"]);
    // `shared` had no value in A; B's value replaces it. `y` stays unresolved for now.
    assert_eq!(
        spec.args,
        vec![
            arg("x", "1"),
            arg("shared", "s"),
            Argument {
                name: "y".into(),
                value: None,
                value_from: None
            }
        ]
    );
    assert_eq!(
        spec.dry_run,
        vec![DryRun {
            metric_name: "m1".into()
        }]
    );
    assert_eq!(spec.measurement_retention[0].limit, 3);
}

#[test]
fn duplicate_metric_name_is_an_error() {
    let err = flatten_templates(&[template(A), template(A)], &[]).unwrap_err();
    assert_eq!(err.to_string(), "two metrics have the same name 'm1'");
}

#[test]
fn conflicting_arg_values_are_an_error() {
    let c = template(
        r#"
spec:
  args: [{name: x, value: "2"}]
  metrics: [{name: other, provider: {web: {url: u}}}]
"#,
    );
    let err = flatten_templates(&[template(A), c], &[]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "Argument `x` specified multiple times with different values: '1', '2'"
    );
}

#[test]
fn rollout_args_override_only_declared_args() {
    let declared = vec![
        arg("x", "1"),
        Argument {
            name: "y".into(),
            value: None,
            value_from: None,
        },
    ];
    let merged = merge_args(
        &[arg("y", "from-rollout"), arg("undeclared", "z"), arg("x", "9")],
        &declared,
    )
    .unwrap();
    assert_eq!(merged, vec![arg("x", "9"), arg("y", "from-rollout")]);
    let err = merge_args(&[], &declared).unwrap_err();
    assert_eq!(err.to_string(), "args.y was not resolved");
}

#[test]
fn new_run_concatenates_step_dry_run_first_and_rejects_duplicates() {
    let run = new_run_from_templates(
        &[template(A)],
        &[template(B)],
        &[arg("y", "v")],
        &[DryRun {
            metric_name: "m2".into(),
        }],
        &[MeasurementRetention {
            metric_name: "m1".into(),
            limit: 5,
        }],
        "ro-abc-1-2",
        Some("ns"),
    )
    .unwrap();
    assert_eq!(run.metadata.name, "ro-abc-1-2");
    assert_eq!(
        run.spec
            .dry_run
            .iter()
            .map(|d| d.metric_name.as_str())
            .collect::<Vec<_>>(),
        ["m2", "m1"]
    );
    assert_eq!(run.spec.measurement_retention.len(), 2);
    let err = new_run_from_templates(
        &[template(A)],
        &[template(B)],
        &[arg("y", "v")],
        &[DryRun {
            metric_name: "m1".into(),
        }],
        &[],
        "r",
        None,
    )
    .unwrap_err();
    assert_eq!(err, CreateError::DuplicateDryRun("m1".into()));
    assert_eq!(
        err.to_string(),
        "two Dry-Run metric rules have the same name 'm1'"
    );
}

#[test]
fn substitution_covers_strings_and_int_or_string_count() {
    // Fixture 09: count is "{{args.count}}" and a label uses "{{ args.rev }}" with spaces.
    let t = sleep_job();
    let run = new_run_from_templates(
        &[t],
        &[],
        &[arg("count", "3"), arg("rev", "v2"), arg("exit-code", "1")],
        &[],
        &[],
        "r",
        None,
    )
    .unwrap();
    let m = resolve_metric_args(&run.spec.metrics[0], &run.spec.args).unwrap();
    assert_eq!(m.count, Some(IntOrString::String("3".into())));
    assert_eq!(int_value(m.count.as_ref().unwrap()), 3);
    let job = m.provider.config("job").unwrap();
    assert_eq!(job["spec"]["template"]["metadata"]["labels"]["rev"], "v2");
    assert_eq!(
        job["spec"]["template"]["spec"]["containers"][0]["args"][0],
        "sleep 0 && exit 1"
    );
}

#[test]
fn substituted_values_are_json_escaped() {
    let t = template(
        r#"
spec:
  metrics:
  - name: q
    successCondition: result[0] < {{args.limit}}
    provider: {prometheus: {query: "sum(x{app=\"{{args.app}}\"})"}}
"#,
    );
    let m = resolve_metric_args(&t.spec.metrics[0], &[arg("app", "a\"b\\c"), arg("limit", "0.5")]).unwrap();
    assert_eq!(m.success_condition.as_deref(), Some("result[0] < 0.5"));
    assert_eq!(
        m.provider.config("prometheus").unwrap()["query"],
        json!("sum(x{app=\"a\"b\\c\"})")
    );
}

#[test]
fn unresolved_placeholders_name_the_tag() {
    let err = resolve_placeholders("a {{args.missing}} b {{ args.other }}", &[], false).unwrap_err();
    assert_eq!(err.to_string(), "failed to resolve {{args.missing}}");
    // An arg declared without a value is not available for substitution.
    let err = resolve_placeholders(
        "{{ args.x }}",
        &[Argument {
            name: "x".into(),
            value: None,
            value_from: None,
        }],
        false,
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "failed to resolve {{ args.x }}");
    assert_eq!(
        resolve_placeholders("{{args.x}}-{{args.x}}", &[arg("x", "1")], false).unwrap(),
        "1-1"
    );
}

fn rollout_json() -> serde_json::Value {
    json!({
        "metadata": {"name": "window", "namespace": "prod", "uid": "u-1",
                     "labels": {"rev": "initial", "app": "window"},
                     "annotations": {"team": "payments"}},
        "spec": {"template": {"metadata": {"labels": {"version": "v7"}}},
                 "replicas": 2},
        "status": {"alb": {"canaryTargetGroup": {"name": "tg-canary"}}, "hpas": [{"n": 1}]}
    })
}

#[test]
fn rollout_value_from_pod_hash_and_field_refs() {
    let args: Vec<Argument> = serde_yaml::from_str(
        r#"
- name: stable
  valueFrom: {podTemplateHashValue: Stable}
- name: latest
  valueFrom: {podTemplateHashValue: Latest}
- name: rev
  valueFrom: {fieldRef: {fieldPath: "metadata.labels['rev']"}}
- name: team
  valueFrom: {fieldRef: {fieldPath: "metadata.annotations['team']"}}
- name: ns
  valueFrom: {fieldRef: {fieldPath: metadata.namespace}}
- name: tg
  valueFrom: {fieldRef: {fieldPath: status.alb.canaryTargetGroup.name}}
- name: version
  valueFrom: {fieldRef: {fieldPath: spec.template.metadata.labels.version}}
- name: replicas
  valueFrom: {fieldRef: {fieldPath: spec.replicas}}
- name: plain
  value: p
"#,
    )
    .unwrap();
    let rollout = rollout_json();
    let out = build_rollout_args(
        &args,
        RolloutArgSource {
            stable_hash: Some("6d4f"),
            latest_hash: Some("8b7c"),
            rollout: &rollout,
        },
    )
    .unwrap();
    let got: Vec<(&str, &str)> = out
        .iter()
        .map(|a| (a.name.as_str(), a.value.as_deref().unwrap()))
        .collect();
    assert_eq!(
        got,
        [
            ("stable", "6d4f"),
            ("latest", "8b7c"),
            ("rev", "initial"),
            ("team", "payments"),
            ("ns", "prod"),
            ("tg", "tg-canary"),
            ("version", "v7"),
            ("replicas", "2"),
            ("plain", "p")
        ]
    );
}

#[test]
fn rollout_field_ref_errors_are_upstreams() {
    let rollout = rollout_json();
    let src = RolloutArgSource {
        stable_hash: None,
        latest_hash: None,
        rollout: &rollout,
    };
    let one = |path: &str| {
        let a: Vec<Argument> = serde_yaml::from_str(&format!(
            "- name: a\n  valueFrom: {{fieldRef: {{fieldPath: \"{path}\"}}}}"
        ))
        .unwrap();
        build_rollout_args(&a, src).unwrap_err().to_string()
    };
    assert_eq!(
        one("status.missing.x"),
        "invalid path status.missing.x in rollout"
    );
    assert_eq!(
        one("status.alb"),
        "path status.alb in rollout must terminate in a primitive value"
    );
    assert_eq!(one("status.hpas[3].n"), "index 3 out of range");
    assert_eq!(one("status.hpas[x]"), "invalid index 'x'");
    assert_eq!(
        one("metadata.generateName2"),
        "unsupported fieldPath: metadata.generateName2"
    );
}

#[test]
fn nested_template_refs_expand_once_and_report_missing() {
    let parent = template(
        r#"
metadata: {name: parent}
spec:
  templates: [{templateName: a}, {templateName: b, clusterScope: true}, {templateName: a}]
"#,
    );
    let lookup = |name: &str, cluster: bool| -> Option<AnalysisTemplate> {
        match (name, cluster) {
            ("parent", false) => Some(parent.clone()),
            ("a", false) => Some(template(A)),
            ("b", true) => Some(template(B)),
            _ => None,
        }
    };
    let (ns, cl) = expand_template_refs(&[("parent".into(), false)], &lookup).unwrap();
    assert_eq!(ns.len(), 2);
    assert_eq!(cl.len(), 1);
    let spec = flatten_templates(&ns, &cl).unwrap();
    assert_eq!(spec.metrics.len(), 2);
    let err = expand_template_refs(&[("nope".into(), true)], &lookup).unwrap_err();
    assert_eq!(err.to_string(), "ClusterAnalysisTemplate 'nope' not found");
}

/// The machine's resolution (`rollout::args::resolve_args`, typed Rollout) and
/// `build_rollout_args` (Rollout JSON) read field paths with one implementation: same values,
/// including array indexes, and an unreadable path leaves only that arg unresolved.
#[test]
fn machine_args_resolve_like_build_rollout_args() {
    use rollout_core::rollout::Rollout;
    use rollout_core::rollout::args::resolve_args;
    use rollout_core::rollout::spec::AnalysisRunArgument;
    let ro_json = json!({
        "metadata": {"name": "window", "namespace": "prod", "uid": "u-1",
                     "labels": {"rev": "initial"}, "annotations": {"team": "payments"}},
        "spec": {"replicas": 2,
                 "template": {"metadata": {"labels": {"version": "v7"}}},
                 "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {}}]}}}
    });
    let ro: Rollout = serde_json::from_value(ro_json.clone()).unwrap();
    let yaml = r#"
- name: stable
  valueFrom: {podTemplateHashValue: Stable}
- name: rev
  valueFrom: {fieldRef: {fieldPath: "metadata.labels['rev']"}}
- name: team
  valueFrom: {fieldRef: {fieldPath: "metadata.annotations['team']"}}
- name: version
  valueFrom: {fieldRef: {fieldPath: spec.template.metadata.labels.version}}
- name: weight
  valueFrom: {fieldRef: {fieldPath: "spec.strategy.canary.steps[0].setWeight"}}
- name: plain
  value: p
- name: empty
"#;
    let rollout_args: Vec<AnalysisRunArgument> = serde_yaml::from_str(yaml).unwrap();
    let analysis_args: Vec<Argument> = serde_yaml::from_str(yaml).unwrap();
    let machine: Vec<(String, Option<String>)> = resolve_args(&ro, &rollout_args, "6d4f", "8b7c")
        .into_iter()
        .map(|a| (a.name, a.value))
        .collect();
    let src = RolloutArgSource {
        stable_hash: Some("6d4f"),
        latest_hash: Some("8b7c"),
        rollout: &serde_json::to_value(&ro).unwrap(),
    };
    let built: Vec<(String, Option<String>)> = build_rollout_args(&analysis_args, src)
        .unwrap()
        .into_iter()
        .map(|a| (a.name, a.value))
        .collect();
    assert_eq!(machine, built);
    assert_eq!(machine[4], ("weight".to_string(), Some("20".to_string())));
    assert_eq!(machine[6], ("empty".to_string(), Some(String::new())));

    let bad: Vec<AnalysisRunArgument> = serde_yaml::from_str(
        "- name: a\n  value: x\n- name: b\n  valueFrom: {fieldRef: {fieldPath: status.missing.x}}",
    )
    .unwrap();
    let out = resolve_args(&ro, &bad, "", "");
    assert_eq!(out[0].value.as_deref(), Some("x"));
    assert_eq!(out[1].value, None);
}
