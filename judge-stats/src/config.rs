//! Parsing and validation of judge configurations and states (JSON).

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A configuration or state that could not be used.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ConfigError {
    /// The JSON did not parse into the judge's configuration.
    #[error("invalid judge configuration: {0}")]
    Parse(String),
    /// A field has a value outside its domain.
    #[error("invalid judge configuration: `{field}` {problem}")]
    Invalid {
        /// The offending field (camelCase, as written in the template).
        field: &'static str,
        /// What is wrong with it.
        problem: String,
    },
    /// The state bytes did not parse.
    #[error("invalid judge state: {0}")]
    State(String),
}

/// A judge configuration that says whether it can be used, before any data is looked at. The
/// component glue checks it first and answers an Error verdict without a state when it fails.
pub trait JudgeConfig {
    /// `Ok` when every field is in its domain, else the first offending field and why.
    fn validate(&self) -> Result<(), ConfigError>;
}

impl JudgeConfig for crate::error_ratio::Config {
    fn validate(&self) -> Result<(), ConfigError> {
        check_comparisons(self.comparisons)?;
        self.test().map(|_| ())
    }
}

/// Parses a JSON configuration; empty or blank text, or `null` (what the controller sends when a
/// metric has no `config`), gives the defaults.
pub fn parse_config<T: DeserializeOwned + Default>(text: &str) -> Result<T, ConfigError> {
    if text.trim().is_empty() || text.trim() == "null" {
        return Ok(T::default());
    }
    serde_json::from_str(text).map_err(|e| ConfigError::Parse(e.to_string()))
}

/// Parses state bytes produced by [`encode_state`].
pub fn decode_state<T: DeserializeOwned>(bytes: Option<&[u8]>) -> Result<Option<T>, ConfigError> {
    bytes
        .map(|b| serde_json::from_slice(b).map_err(|e| ConfigError::State(e.to_string())))
        .transpose()
}

/// Encodes a state as JSON bytes (states hold only plain numbers, so this cannot fail in practice;
/// an empty vector is returned if it ever did).
pub fn encode_state<T: Serialize>(state: &T) -> Vec<u8> {
    serde_json::to_vec(state).unwrap_or_default()
}

/// Checks that `value` lies in the open interval (lo, hi).
pub fn check_open(field: &'static str, value: f64, lo: f64, hi: f64) -> Result<(), ConfigError> {
    if value > lo && value < hi {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            field,
            problem: format!("must be in ({lo}, {hi}), got {value}"),
        })
    }
}

/// Checks that `value` lies in the closed interval [lo, hi].
pub fn check_closed(field: &'static str, value: f64, lo: f64, hi: f64) -> Result<(), ConfigError> {
    if value >= lo && value <= hi {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            field,
            problem: format!("must be in [{lo}, {hi}], got {value}"),
        })
    }
}

/// Checks that `value` is finite and at least `lo`.
pub fn check_min(field: &'static str, value: f64, lo: f64) -> Result<(), ConfigError> {
    if value.is_finite() && value >= lo {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            field,
            problem: format!("must be a number >= {lo}, got {value}"),
        })
    }
}

/// Checks that `comparisons` (the number of metrics sharing the error level) is at least 1.
pub fn check_comparisons(comparisons: u32) -> Result<(), ConfigError> {
    if comparisons >= 1 {
        Ok(())
    } else {
        Err(ConfigError::Invalid {
            field: "comparisons",
            problem: "must be at least 1 (the number of metrics judged together)".into(),
        })
    }
}

/// Checks that an optional rate, when set, lies in (0, 1).
pub fn check_rate(field: &'static str, rate: Option<f64>) -> Result<(), ConfigError> {
    rate.map_or(Ok(()), |r| check_open(field, r, 0.0, 1.0))
}

/// Serde for `f64` that survives JSON (non-finite values as `"inf"`, `"-inf"`, `"nan"`): the one
/// form of the judge types.
pub use judge_types::serde_forms::nonfinite;
