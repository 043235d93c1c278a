//! Badly typed conditions are configuration errors (Error measurements, retried up to
//! `consecutiveErrorLimit`), never a `false` that fails the metric as a regression
//! (upstream `utils/evaluate/evaluate.go`: expr's compile-time check, `asInt`/`asFloat`).

mod analysis_support;

use analysis_support::{at, run, run_to_end, value};
use rollout_core::analysis::AnalysisPhase::*;
use rollout_core::analysis::MetricValue;
use rollout_core::analysis::condition::{Condition, evaluate_result};
use serde_json::json;

fn eval(cond: &str, result: MetricValue) -> Result<bool, String> {
    Condition::compile(cond)
        .and_then(|c| c.evaluate(&result))
        .map_err(|e| e.to_string())
}

#[test]
fn as_int_truncates_numbers_as_upstream() {
    let f = |x: f64| MetricValue::Float(x);
    assert_eq!(eval("asInt(result) == 1", f(1.123)), Ok(true));
    assert_eq!(eval("asInt(result) == -1", f(-1.9)), Ok(true));
    assert_eq!(eval("asInt(result) == 7", MetricValue::Int(7)), Ok(true));
    assert_eq!(eval("asInt(result) == 42", json!("42").into()), Ok(true));
    assert_eq!(eval("asFloat(result) == 1.5", json!("1.5").into()), Ok(true));
    assert_eq!(eval("asFloat(result) == 2", MetricValue::Int(2)), Ok(true));
    assert_eq!(
        eval("asInt(result) == 1", json!("1.123").into()),
        Err(r#"asInt: strconv.ParseInt: parsing "1.123": invalid syntax"#.into())
    );
    assert_eq!(
        eval("asInt(result) == 1", f(f64::NAN)),
        Err("asInt() not supported on float64 NaN".into())
    );
    assert_eq!(
        eval("asFloat(result) == 1", json!(true).into()),
        Err("asFloat() not supported on bool true".into())
    );
}

#[test]
fn mismatched_types_are_an_error_not_false() {
    let (phase, message) = evaluate_result(
        Some(r#"asFloat(result) == "1.1""#),
        None,
        &MetricValue::Float(1.1),
    );
    assert_eq!(phase, Error);
    assert_eq!(
        message.as_deref(),
        Some("invalid operation: == (mismatched types float64 and string)")
    );
    // Well typed, the same comparison decides.
    assert_eq!(
        evaluate_result(Some("asFloat(result) == 1.1"), None, &MetricValue::Float(1.1)).0,
        Successful
    );
    assert_eq!(
        evaluate_result(Some("asFloat(result) == 1.2"), None, &MetricValue::Float(1.1)).0,
        Failed
    );
}

#[test]
fn a_mistyped_condition_ends_the_run_as_error_after_the_error_limit() {
    let mut r = run(r#"
metrics:
- name: error-rate
  interval: 30s
  count: 5
  consecutiveErrorLimit: 2
  successCondition: 'asFloat(result) <= "0.05"'
  provider: {prometheus: {query: q}}
"#);
    let mut measured = 0;
    let mut p = |_: &rollout_core::analysis::MeasurementRequest| {
        measured += 1;
        value(json!(0.01))
    };
    run_to_end(&mut r, at(0), at(3600), &mut p).expect("run completes");
    let status = r.status.unwrap();
    let result = &status.metric_results[0];
    assert_eq!(
        measured, 3,
        "measured, then retried up to consecutiveErrorLimit (2)"
    );
    assert!(result.measurements.iter().all(|m| m.phase == Error));
    assert_eq!((result.failed, result.error), (0, 3));
    assert_eq!(status.phase, Error);
    assert_eq!(
        status.message,
        "Metric \"error-rate\" assessed Error due to consecutiveErrors (3) > consecutiveErrorLimit (2): \
         \"Error Message: invalid operation: <= (mismatched types float64 and string)\""
    );
}
