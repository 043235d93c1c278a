//! Kubernetes `IntOrString`, with Argo's legacy reading of percentages.

use serde::{Deserialize, Serialize};

/// An integer or a string, as Kubernetes' `intstr.IntOrString` (`maxSurge: 1`, `maxSurge: "25%"`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum IntOrString {
    /// A plain integer.
    Int(i64),
    /// A string, usually a percentage such as `"25%"`.
    String(String),
}

impl IntOrString {
    /// Resolves the value against `total` as Kubernetes' `GetScaledValueFromIntOrPercent`:
    /// integers are taken as they are; `"N%"` is `N * total / 100`, rounded up when `round_up`.
    /// A string without `%` is read as a percentage too (Argo's legacy parsing: `"25"` means 25%).
    ///
    /// ```
    /// use rollout_core::common::IntOrString;
    /// assert_eq!(IntOrString::String("25%".into()).scaled(10, true), Ok(3));
    /// assert_eq!(IntOrString::String("25%".into()).scaled(10, false), Ok(2));
    /// assert_eq!(IntOrString::String("25".into()).scaled(10, true), Ok(3));
    /// assert_eq!(IntOrString::Int(1).scaled(10, true), Ok(1));
    /// ```
    pub fn scaled(&self, total: i64, round_up: bool) -> Result<i64, String> {
        match self {
            IntOrString::Int(v) => Ok(*v),
            IntOrString::String(s) => {
                let digits = s.strip_suffix('%').unwrap_or(s);
                let pct: i64 = digits.trim().parse().map_err(|_| {
                    format!("invalid value for IntOrString: invalid type: string is not a percentage: {s:?}")
                })?;
                let round = if round_up { 99 } else { 0 };
                // In 64 bits when it fits (128-bit division is a library call).
                if let Some(v) = pct.checked_mul(total).and_then(|p| p.checked_add(round)) {
                    return Ok(v.div_euclid(100));
                }
                let value = ((pct as i128) * (total as i128) + round as i128).div_euclid(100);
                i64::try_from(value).map_err(|_| format!("value {s:?} of {total} is out of range"))
            }
        }
    }
}

impl From<i64> for IntOrString {
    fn from(v: i64) -> Self {
        IntOrString::Int(v)
    }
}

impl From<&str> for IntOrString {
    fn from(v: &str) -> Self {
        IntOrString::String(v.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The 64-bit path gives what the 128-bit arithmetic gives, up to the overflow edges.
        #[test]
        fn scaled_percentages_match_wide_arithmetic(
            pct in proptest::prop_oneof![-200i64..200, proptest::num::i64::ANY],
            total in proptest::prop_oneof![0i64..1000, proptest::num::i64::ANY],
            round_up in proptest::bool::ANY,
        ) {
            let wide = ((pct as i128) * (total as i128) + if round_up { 99 } else { 0 }).div_euclid(100);
            let expected = i64::try_from(wide).ok();
            let got = IntOrString::String(format!("{pct}%")).scaled(total, round_up);
            proptest::prop_assert_eq!(got.ok(), expected);
        }
    }
}
