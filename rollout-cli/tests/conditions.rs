//! `rollout simulate` with a badly typed analysis condition: a configuration error (Error
//! measurements, the run ends Error naming the condition's problem), never a Failed measurement
//! that rolls a healthy canary back as if it had regressed (upstream: expr's "mismatched types").

mod common;

use std::path::Path;

use common::*;

/// A Prometheus error-ratio metric on the canary with `condition` as its successCondition.
fn template(condition: &str) -> String {
    format!(
        r#"apiVersion: argoproj.io/v1alpha1
kind: AnalysisTemplate
metadata: {{name: error-ratio}}
spec:
  args: [{{name: canary-hash}}, {{name: stable-hash}}]
  metrics:
    - name: canary-errors
      interval: 1m
      count: 3
      successCondition: '{condition}'
      provider:
        prometheus:
          address: http://prometheus:9090
          query: sum(rate(http_requests_total{{rollouts_pod_template_hash="{{{{args.canary-hash}}}}",code=~"5.."}}[1m])) / sum(rate(http_requests_total{{rollouts_pod_template_hash="{{{{args.canary-hash}}}}"}}[1m]))
"#
    )
}

fn simulate(dir: &Path, condition: &str) -> (std::process::Output, String) {
    let file = dir.join("template.yaml");
    std::fs::write(&file, template(condition)).unwrap();
    let rollout_file = scenarios().join("rollout.yaml");
    let o = rollout_in(
        dir,
        &[
            "simulate",
            rollout_file.to_str().unwrap(),
            "--analysis",
            file.to_str().unwrap(),
            "--scenario",
            "healthy",
        ],
    );
    let out = stdout(&o);
    (o, out)
}

#[test]
fn a_mistyped_condition_is_an_error_not_a_regression() {
    let dir = scratch("mistyped-condition");
    let (o, out) = simulate(&dir, r#"asFloat(result[0]) < "0.05""#);
    let why = summary_line(&out, "why:");
    assert!(
        why.contains("assessed Error due to consecutiveErrors (5) > consecutiveErrorLimit (4)"),
        "{out}"
    );
    assert!(
        why.contains("invalid operation: < (mismatched types float64 and string)"),
        "{out}"
    );
    assert!(!out.contains("Failed"), "no Failed measurement or run:\n{out}");
    assert_exit(&o, ABORTED);

    // The same condition, well typed, promotes the healthy canary.
    let (o, out) = simulate(&dir, "asFloat(result[0]) < 0.05");
    assert_eq!(summary_line(&out, "outcome:"), "promoted", "{out}");
    assert_exit(&o, PROMOTED);
    std::fs::remove_dir_all(&dir).unwrap();
}
