//! successCondition / failureCondition in upstream's expr-lang dialect.

use rollout_core::analysis::AnalysisPhase::{self, *};
use rollout_core::analysis::MetricValue;
use rollout_core::analysis::condition::{Condition, ConditionError, evaluate_result};
use serde_json::json;

fn eval(cond: &str, result: MetricValue) -> Result<bool, ConditionError> {
    Condition::compile(cond)?.evaluate(&result)
}

fn v(j: serde_json::Value) -> MetricValue {
    j.into()
}

#[test]
fn language_table() {
    let vec = || v(json!([0.95, 2, 3]));
    let obj = || v(json!({"Status": 0, "Answer": [{"data": "1.2.3.4"}], "ok": true, "n": "42"}));
    let cases: Vec<(&str, MetricValue, bool)> = vec![
        ("result[0] >= 0.9", vec(), true),
        ("result[0] > 0.99 || result[1] == 2", vec(), true),
        ("result[0] > 0.99 or result[1] == 2", vec(), true),
        ("result[0] > 0.9 && result[2] < 3", vec(), false),
        ("result[0] > 0.9 and result[2] <= 3", vec(), true),
        ("!(result[1] == 2)", vec(), false),
        ("not (result[1] == 2)", vec(), false),
        ("len(result) == 3", vec(), true),
        ("all(result, {# > 0.5})", vec(), true),
        ("any(result, {# > 2.5})", vec(), true),
        ("all(result, # > 1)", vec(), false),
        ("result[1] * 2 + 1 == 5", vec(), true),
        ("result[2] / 2 == 1.5", vec(), true),
        ("result[2] - result[1] == 1", vec(), true),
        ("result.Status == 0", obj(), true),
        ("result.Answer[0].data == '1.2.3.4'", obj(), true),
        ("result.ok", obj(), true),
        ("asInt(result.n) == 42", obj(), true),
        ("asFloat(result.n) > 41.5", obj(), true),
        ("isNaN(result)", MetricValue::Float(f64::NAN), true),
        ("isNaN(result[0])", vec(), false),
        ("isInf(result)", MetricValue::Float(f64::INFINITY), true),
        ("isInf(result)", MetricValue::Float(-f64::INFINITY), true),
        ("isNil(result)", MetricValue::Nil, true),
        ("isNil(result)", vec(), false),
        ("default(result, 0) == 0", MetricValue::Nil, true),
        ("default(result, 0) == 7", MetricValue::Int(7), true),
        ("len(result) == 0 || result[0] < 1", v(json!([])), true),
        ("result == 'up'", v(json!("up")), true),
        ("result matches '^ok-2'", v(json!("ok-200")), true),
        (
            "result contains '200' and result startsWith 'ok'",
            v(json!("ok-200")),
            true,
        ),
        ("result.Status in [0, 3]", obj(), true),
        ("(result[0] ?? 0) == 0.95", vec(), true),
        ("len(result) > 0 ? result[0] > 0.9 : false", vec(), true),
    ];
    for (cond, result, want) in cases {
        assert_eq!(eval(cond, result.clone()), Ok(want), "{cond} with {result}");
    }
}

#[test]
fn parse_errors_have_position_and_expected_tokens() {
    let err = Condition::compile("result[0] >= ").unwrap_err();
    let ConditionError::Compile { message, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(message.starts_with("at 1:14: expected "), "{message}");
    let err = Condition::compile("(result > 1").unwrap_err().to_string();
    assert!(
        err.starts_with("invalid condition \"(result > 1\": at 1:12: expected "),
        "{err}"
    );
}

#[test]
fn evaluation_errors_and_non_bool() {
    assert_eq!(
        eval("foo > 1", MetricValue::Int(1)).unwrap_err().to_string(),
        "unknown variable: foo"
    );
    assert_eq!(
        eval("asInt(result)", v(json!("x1"))).unwrap_err().to_string(),
        "asInt: strconv.ParseInt: parsing \"x1\": invalid syntax"
    );
    assert_eq!(
        eval("result", MetricValue::Int(1)).unwrap_err().to_string(),
        "expected bool, but got int"
    );
}

#[test]
fn evaluate_result_table() {
    let r = MetricValue::Float(0.5);
    let t = Some("result > 0.1");
    let f = Some("result < 0.1");
    let cases: &[(Option<&str>, Option<&str>, AnalysisPhase)] = &[
        (None, None, Successful),
        (t, None, Successful),
        (f, None, Failed),
        (None, t, Failed),
        (None, f, Successful),
        (t, t, Failed),
        (f, f, Inconclusive),
        (t, f, Successful),
        (Some("result >"), None, Error),
        (None, Some("nope == 1"), Error),
    ];
    for (s, fl, want) in cases {
        assert_eq!(evaluate_result(*s, *fl, &r).0, *want, "{s:?} {fl:?}");
    }
    assert_eq!(evaluate_result(Some(""), Some("  "), &r), (Successful, None));
}

#[test]
fn nil_or_empty_results_say_so() {
    let (phase, msg) = evaluate_result(Some("result[0] > 0.9"), None, &v(json!([])));
    assert_eq!(phase, Error);
    let msg = msg.unwrap();
    assert!(msg.starts_with("metric result is nil or empty"), "{msg}");
    let (phase, msg) = evaluate_result(Some("result > 1"), None, &MetricValue::Nil);
    assert_eq!(phase, Error);
    assert!(msg.unwrap().starts_with("metric result is nil or empty"));
    // A condition that handles emptiness is fine.
    assert_eq!(
        evaluate_result(Some("len(result) == 0"), None, &v(json!([]))),
        (Successful, None)
    );
    // A compile error is reported as such even when the result is empty.
    let (_, msg) = evaluate_result(Some("result >"), None, &v(json!([])));
    assert!(msg.unwrap().starts_with("invalid condition"));
}
