//! Argo duration strings: a bare integer means seconds (`"10"`), otherwise Go's
//! `time.ParseDuration` syntax (`"10s"`, `"5m"`, `"1h30m"`, `"1.5h"`, `"300ms"`).

use std::time::Duration;

/// Why a duration string could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {input:?}: {reason}")]
pub struct DurationError {
    /// The text that was given.
    pub input: String,
    /// What was wrong with it.
    pub reason: &'static str,
}

/// Parses an Argo duration: `"10"` (seconds), or Go duration syntax such as `"10s"`, `"5m"`, `"1h30m"`.
///
/// Negative durations are rejected (Argo never accepts them for pauses, intervals or delays).
///
/// ```
/// use std::time::Duration;
/// use rollout_core::common::parse_duration;
/// assert_eq!(parse_duration("10").unwrap(), Duration::from_secs(10));
/// assert_eq!(parse_duration("1h30m").unwrap(), Duration::from_secs(5400));
/// assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
/// assert!(parse_duration("ten").is_err());
/// ```
pub fn parse_duration(input: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: input.to_string(),
        reason,
    };
    let s = input.trim();
    if s.is_empty() {
        return Err(err("empty"));
    }
    if let Ok(secs) = s.parse::<u64>() {
        return Ok(Duration::from_secs(secs));
    }
    if let Some(d) = whole_units(s) {
        return Ok(d);
    }
    let s = s.strip_prefix('+').unwrap_or(s);
    if s.starts_with('-') {
        return Err(err("negative durations are not allowed"));
    }
    if s == "0" {
        return Ok(Duration::ZERO);
    }
    let mut total_nanos: f64 = 0.0;
    let mut rest = s;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if num_len == 0 {
            return Err(err("expected a number"));
        }
        let (num, after) = rest.split_at(num_len);
        let value: f64 = match small_integer(num.as_bytes()) {
            Some(n) => n as f64,
            None => num.parse().map_err(|_| err("malformed number"))?,
        };
        let unit_len = after
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(unit_len);
        // Every scale is exact in an `f64`.
        let scale = match unit_nanos(unit) {
            Some(n) => n as f64,
            None if unit.is_empty() => return Err(err("missing unit (use ns, us, ms, s, m or h)")),
            None => return Err(err("unknown unit (use ns, us, ms, s, m or h)")),
        };
        total_nanos += value * scale;
        rest = after;
    }
    if !total_nanos.is_finite() || total_nanos > u64::MAX as f64 {
        return Err(err("out of range"));
    }
    Ok(Duration::from_nanos(total_nanos.round() as u64))
}

/// The common form, digits and one unit (`"30s"`, `"5m"`), in integers: the same result as the
/// general parse while the nanoseconds stay below 2^53 (exact in its `f64`), else `None`.
fn whole_units(s: &str) -> Option<Duration> {
    let split = s.find(|c: char| !c.is_ascii_digit())?;
    let (digits, unit) = s.split_at(split);
    let nanos = small_integer(digits.as_bytes())?
        .checked_mul(unit_nanos(unit)?)
        .filter(|n| *n < 1 << 53)?;
    Some(Duration::from_nanos(nanos))
}

/// Nanoseconds in one `unit`, Go's unit names.
fn unit_nanos(unit: &str) -> Option<u64> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// `digits` as an integer when it is 1 to 15 ASCII digits (below 2^53, so exactly what the float
/// parse gives), else `None`.
fn small_integer(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 15 || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(digits.iter().fold(0, |v, d| v * 10 + u64::from(d - b'0')))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table() {
        let ok = [
            ("10", 10_000),
            ("0", 0),
            ("10s", 10_000),
            ("5m", 300_000),
            ("1h", 3_600_000),
            ("1h30m", 5_400_000),
            ("300ms", 300),
            ("1.5h", 5_400_000),
        ];
        for (input, millis) in ok {
            assert_eq!(
                parse_duration(input).unwrap(),
                Duration::from_millis(millis),
                "{input}"
            );
        }
        for bad in ["", "s", "10x", "-5s", "1..5s", "5"]
            .iter()
            .filter(|b| **b != "5")
        {
            assert!(parse_duration(bad).is_err(), "{bad} should fail");
        }
    }

    /// The float parse every number went through before the integer shortcut.
    fn by_float(input: &str) -> Option<f64> {
        let mut total = 0.0;
        let mut rest = input;
        while !rest.is_empty() {
            let n = rest
                .find(|c: char| !(c.is_ascii_digit() || c == '.'))
                .unwrap_or(rest.len());
            let (num, after) = rest.split_at(n);
            let u = after
                .find(|c: char| c.is_ascii_digit() || c == '.')
                .unwrap_or(after.len());
            let (unit, after) = after.split_at(u);
            let scale = match unit {
                "ns" => 1.0,
                "us" | "µs" | "μs" => 1e3,
                "ms" => 1e6,
                "s" => 1e9,
                "m" => 60e9,
                "h" => 3600e9,
                _ => return None,
            };
            total += num.parse::<f64>().ok()? * scale;
            rest = after;
        }
        Some(total)
    }

    proptest::proptest! {
        /// The integer shortcut gives exactly the float parse's result.
        #[test]
        fn integers_parse_as_floats(s in "([0-9]{1,17}(\\.[0-9]{0,3})?(ns|us|µs|μs|ms|s|m|h)){1,3}") {
            let want = by_float(&s).filter(|t| t.is_finite() && *t <= u64::MAX as f64);
            let got = parse_duration(&s).ok();
            proptest::prop_assert_eq!(got, want.map(|t| Duration::from_nanos(t.round() as u64)), "{}", s);
        }
    }
}
