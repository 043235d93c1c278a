//! `successCondition` / `failureCondition`: expressions over `result` in upstream's expr-lang
//! dialect (via the `expr-lang` crate), with upstream's helpers `asInt`, `asFloat`, `isNaN`,
//! `isInf`, `isNil` and `default`, and upstream's mapping of conditions to a measurement phase
//! (`utils/evaluate/evaluate.go:EvaluateResult`).

mod typecheck;

use std::sync::LazyLock;

use expr::{Context, Environment, Program, Value};

use super::AnalysisPhase;
use super::value::MetricValue;

/// The message prefix of an Error measurement whose result was nil or empty.
pub const NIL_OR_EMPTY: &str = "metric result is nil or empty";

/// Why a condition could not be evaluated.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConditionError {
    /// The expression does not parse.
    #[error("invalid condition {condition:?}: {message}")]
    Compile {
        /// The condition text.
        condition: String,
        /// Where and what: `at 1:5: expected ...`.
        message: String,
    },
    /// The expression failed at run time (unknown variable, bad operands, bad conversion).
    #[error("{message}")]
    Eval {
        /// The condition text.
        condition: String,
        /// What went wrong.
        message: String,
    },
    /// The expression did not produce a boolean.
    #[error("expected bool, but got {got}")]
    NotBool {
        /// The condition text.
        condition: String,
        /// The kind of value produced.
        got: &'static str,
    },
}

/// A compiled condition.
#[derive(Debug, Clone)]
pub struct Condition {
    source: String,
    program: Program,
}

/// Turns a pest error's multi-line display into `at <line>:<col>: expected ...`.
fn one_line(err: &expr::Error) -> String {
    let text = err.to_string();
    let position = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("--> "))
        .map(str::trim);
    let detail = text
        .lines()
        .find_map(|l| l.trim_start().strip_prefix("= "))
        .map(str::trim);
    match (position, detail) {
        (Some(p), Some(d)) => format!("at {p}: {d}"),
        _ => text.lines().map(str::trim).collect::<Vec<_>>().join(" "),
    }
}

impl Condition {
    /// Parses `source`; the error says where and which tokens were expected.
    pub fn compile(source: &str) -> Result<Self, ConditionError> {
        let program = expr::compile(source).map_err(|e| ConditionError::Compile {
            condition: source.to_string(),
            message: one_line(&e),
        })?;
        Ok(Condition {
            source: source.to_string(),
            program,
        })
    }

    /// The condition text.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// Evaluates the condition with `result` bound. A comparison of two known, different types
    /// (`asFloat(result) == "1.1"`) is an error, as upstream's compile-time check makes it.
    pub fn evaluate(&self, result: &MetricValue) -> Result<bool, ConditionError> {
        typecheck::check_comparisons(&self.source, result).map_err(|message| ConditionError::Eval {
            condition: self.source.clone(),
            message,
        })?;
        let mut ctx = Context::default();
        ctx.insert("result", to_expr(result));
        let out = ENV.run(&self.program, &ctx).map_err(|e| ConditionError::Eval {
            condition: self.source.clone(),
            message: one_line(&e),
        })?;
        match out {
            Value::Bool(b) => Ok(b),
            other => Err(ConditionError::NotBool {
                condition: self.source.clone(),
                got: kind(&other),
            }),
        }
    }
}

/// Checks that a condition as written in a template compiles. `{{args.NAME}}` placeholders
/// without a value may remain (they are filled in when a run is created): each stands for a plain
/// value of the same length, so the syntax around it is checked and error columns stay right.
///
/// ```
/// use rollout_core::analysis::condition::check_template_condition;
/// assert!(check_template_condition("result < {{args.max}}").is_ok());
/// let err = check_template_condition("result >=").unwrap_err().to_string();
/// assert!(err.starts_with("invalid condition \"result >=\": at 1:"), "{err}");
/// ```
pub fn check_template_condition(source: &str) -> Result<(), ConditionError> {
    let mut stand_in = String::with_capacity(source.len());
    let mut rest = source;
    while let Some(start) = rest.find("{{") {
        let Some(len) = rest[start..].find("}}").map(|end| end + 2) else {
            break;
        };
        stand_in.push_str(&rest[..start]);
        stand_in.extend(std::iter::repeat_n('_', len));
        rest = &rest[start + len..];
    }
    stand_in.push_str(rest);
    match Condition::compile(&stand_in) {
        Ok(_) => Ok(()),
        Err(ConditionError::Compile { message, .. }) => Err(ConditionError::Compile {
            condition: source.to_string(),
            message,
        }),
        Err(other) => Err(other),
    }
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Integer(_) => "int",
        Value::Bool(_) => "bool",
        Value::Float(_) => "float64",
        Value::Nil => "<nil>",
        Value::String(_) => "string",
        Value::Array(_) => "[]interface {}",
        Value::Map(_) | Value::KeyedMap(_) => "map[string]interface {}",
        _ => "value",
    }
}

fn to_expr(v: &MetricValue) -> Value {
    match v {
        MetricValue::Nil => Value::Nil,
        MetricValue::Bool(b) => Value::Bool(*b),
        MetricValue::Int(i) => Value::Integer(*i),
        MetricValue::Float(x) => Value::Float(*x),
        MetricValue::String(s) => Value::String(s.clone()),
        MetricValue::Array(a) => Value::Array(a.iter().map(to_expr).collect()),
        MetricValue::Map(m) => Value::Map(m.iter().map(|(k, v)| (k.clone(), to_expr(v))).collect()),
    }
}

fn arg<'a>(ident: &str, args: &'a [Value], i: usize, n: usize) -> expr::Result<&'a Value> {
    if args.len() != n {
        return Err(expr::Error::ExprError(format!(
            "{ident}: expected {n} argument(s), got {}",
            args.len()
        )));
    }
    args.get(i)
        .ok_or_else(|| expr::Error::ExprError(format!("{ident}: missing argument")))
}

fn number(ident: &str, args: &[Value]) -> expr::Result<f64> {
    match arg(ident, args, 0, 1)? {
        Value::Float(x) => Ok(*x),
        Value::Integer(i) => Ok(*i as f64),
        other => Err(expr::Error::ExprError(format!(
            "{ident}: expected a number, got {}",
            kind(other)
        ))),
    }
}

/// Upstream `asInt`: numbers are truncated toward zero (`asInt(1.123)` is 1, Go's `int64(f)`),
/// strings parsed base 10. Deliberate difference: NaN and ±Inf are an error (Go gives an
/// arbitrary integer).
fn as_int(args: &[Value]) -> expr::Result<Value> {
    match arg("asInt", args, 0, 1)? {
        Value::Integer(i) => Ok(Value::Integer(*i)),
        Value::Float(x) if x.is_finite() => Ok(Value::Integer(x.trunc() as i64)),
        Value::String(s) => s.trim().parse::<i64>().map(Value::Integer).map_err(|_| {
            expr::Error::ExprError(format!("asInt: strconv.ParseInt: parsing {s:?}: invalid syntax"))
        }),
        other => Err(not_supported("asInt", other)),
    }
}

/// Upstream `asFloat`: numbers as they are, strings parsed.
fn as_float(args: &[Value]) -> expr::Result<Value> {
    match arg("asFloat", args, 0, 1)? {
        Value::Integer(i) => Ok(Value::Float(*i as f64)),
        Value::Float(x) => Ok(Value::Float(*x)),
        Value::String(s) => s.trim().parse::<f64>().map(Value::Float).map_err(|_| {
            expr::Error::ExprError(format!(
                "asFloat: strconv.ParseFloat: parsing {s:?}: invalid syntax"
            ))
        }),
        other => Err(not_supported("asFloat", other)),
    }
}

/// Upstream's `asInt() not supported on <type> <value>`.
fn not_supported(ident: &str, v: &Value) -> expr::Error {
    let shown = match v {
        Value::Float(x) if x.is_nan() => " NaN".to_string(),
        Value::Float(x) => format!(" {}Inf", if *x > 0.0 { "+" } else { "-" }),
        Value::Bool(b) => format!(" {b}"),
        _ => String::new(),
    };
    expr::Error::ExprError(format!("{ident}() not supported on {}{shown}", kind(v)))
}

static ENV: LazyLock<Environment<'static>> = LazyLock::new(|| {
    let mut env = Environment::new();
    env.add_function("isNaN", |c| Ok(Value::Bool(number("isNaN", &c.args)?.is_nan())));
    env.add_function("isInf", |c| {
        Ok(Value::Bool(number("isInf", &c.args)?.is_infinite()))
    });
    env.add_function("isNil", |c| {
        Ok(Value::Bool(matches!(arg("isNil", &c.args, 0, 1)?, Value::Nil)))
    });
    env.add_function("default", |c| {
        let v = arg("default", &c.args, 0, 2)?;
        match v {
            Value::Nil => Ok(arg("default", &c.args, 1, 2)?.clone()),
            other => Ok(other.clone()),
        }
    });
    env.add_function("asInt", |c| as_int(&c.args));
    env.add_function("asFloat", |c| as_float(&c.args));
    env
});

/// Upstream's `EvaluateResult`: the phase of one measurement from its result and the metric's
/// conditions, with the Error message if any.
///
/// | success | failure | phase |
/// |---|---|---|
/// | none | none | Successful |
/// | S | none | S ? Successful : Failed |
/// | none | F | F ? Failed : Successful |
/// | S | F | F ? Failed : S ? Successful : Inconclusive |
///
/// A condition that fails to compile or evaluate gives Error; when the result is nil or empty
/// the message starts with [`NIL_OR_EMPTY`].
pub fn evaluate_result(
    success: Option<&str>,
    failure: Option<&str>,
    result: &MetricValue,
) -> (AnalysisPhase, Option<String>) {
    let success = success.filter(|s| !s.trim().is_empty());
    let failure = failure.filter(|s| !s.trim().is_empty());
    let eval = |cond: &str| Condition::compile(cond).and_then(|c| c.evaluate(result));
    let run = || -> Result<AnalysisPhase, ConditionError> {
        let s = success.map(eval).transpose()?;
        let f = failure.map(eval).transpose()?;
        Ok(match (s, f) {
            (None, None) => AnalysisPhase::Successful,
            (Some(s), None) => {
                if s {
                    AnalysisPhase::Successful
                } else {
                    AnalysisPhase::Failed
                }
            }
            (None, Some(f)) => {
                if f {
                    AnalysisPhase::Failed
                } else {
                    AnalysisPhase::Successful
                }
            }
            (Some(s), Some(f)) => {
                if f {
                    AnalysisPhase::Failed
                } else if s {
                    AnalysisPhase::Successful
                } else {
                    AnalysisPhase::Inconclusive
                }
            }
        })
    };
    match run() {
        Ok(phase) => (phase, None),
        Err(e) if result.is_nil_or_empty() && !matches!(e, ConditionError::Compile { .. }) => (
            AnalysisPhase::Error,
            Some(format!(
                "{NIL_OR_EMPTY}: no data returned by the provider (result {result}): {e}"
            )),
        ),
        Err(e) => (AnalysisPhase::Error, Some(e.to_string())),
    }
}
