//! [`MetricValue`]: the `result` a provider hands to `successCondition` / `failureCondition`.
//! Unlike JSON it can carry NaN and infinities (Prometheus returns them).

use std::fmt;

/// A provider's raw result, as seen by conditions under the name `result`.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum MetricValue {
    /// No data (`nil`).
    #[default]
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A float (may be NaN or infinite).
    Float(f64),
    /// A string.
    String(String),
    /// A list, e.g. a Prometheus vector.
    Array(Vec<MetricValue>),
    /// An object, e.g. a web provider's JSON body; keys keep their order.
    Map(Vec<(String, MetricValue)>),
}

impl MetricValue {
    /// Whether this is nil, or an empty list, map or string (upstream's "nil or empty" result).
    pub fn is_nil_or_empty(&self) -> bool {
        match self {
            MetricValue::Nil => true,
            MetricValue::String(s) => s.is_empty(),
            MetricValue::Array(a) => a.is_empty(),
            MetricValue::Map(m) => m.is_empty(),
            _ => false,
        }
    }
}

impl From<serde_json::Value> for MetricValue {
    fn from(v: serde_json::Value) -> Self {
        use serde_json::Value as J;
        match v {
            J::Null => MetricValue::Nil,
            J::Bool(b) => MetricValue::Bool(b),
            J::Number(n) => match n.as_i64() {
                Some(i) => MetricValue::Int(i),
                None => MetricValue::Float(n.as_f64().unwrap_or(f64::NAN)),
            },
            J::String(s) => MetricValue::String(s),
            J::Array(a) => MetricValue::Array(a.into_iter().map(Into::into).collect()),
            J::Object(o) => MetricValue::Map(o.into_iter().map(|(k, v)| (k, v.into())).collect()),
        }
    }
}

impl From<f64> for MetricValue {
    fn from(v: f64) -> Self {
        MetricValue::Float(v)
    }
}

impl From<Vec<f64>> for MetricValue {
    fn from(v: Vec<f64>) -> Self {
        MetricValue::Array(v.into_iter().map(MetricValue::Float).collect())
    }
}

/// Go `fmt` `%v` style: `[0.5 1]`, `map[a:1]`, `<nil>`, `NaN`, `+Inf`.
impl fmt::Display for MetricValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MetricValue::Nil => f.write_str("<nil>"),
            MetricValue::Bool(b) => write!(f, "{b}"),
            MetricValue::Int(i) => write!(f, "{i}"),
            MetricValue::Float(x) if x.is_nan() => f.write_str("NaN"),
            MetricValue::Float(x) if x.is_infinite() => f.write_str(if *x > 0.0 { "+Inf" } else { "-Inf" }),
            MetricValue::Float(x) => write!(f, "{x}"),
            MetricValue::String(s) => f.write_str(s),
            MetricValue::Array(a) => {
                f.write_str("[")?;
                for (i, v) in a.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            MetricValue::Map(m) => {
                f.write_str("map[")?;
                for (i, (k, v)) in m.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{k}:{v}")?;
                }
                f.write_str("]")
            }
        }
    }
}
