//! The time expressions of a Prometheus `rangeQuery` (`start`, `end`).
//!
//! Upstream evaluates these with expr-lang; the forms used in practice are supported here:
//! `now()`, `date("<RFC 3339>")`, a bare RFC 3339 timestamp or Unix seconds, each optionally
//! followed by `+ duration("5m")` / `- duration("1h")` terms.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rollout_core::common::parse_duration;

/// Evaluates a time expression relative to `now`. The error says what was wrong.
pub fn eval_time(expr: &str, now: Timestamp) -> Result<Timestamp, String> {
    let mut rest = expr.trim();
    let (mut t, after) = base(rest, now)?;
    rest = after.trim_start();
    while !rest.is_empty() {
        let (sign, after) = if let Some(a) = rest.strip_prefix('+') {
            (1i32, a)
        } else if let Some(a) = rest.strip_prefix('-') {
            (-1i32, a)
        } else {
            return Err(format!("unexpected {rest:?} (expected + or - duration(\"...\"))"));
        };
        let (d, after) = duration_call(after.trim_start())?;
        let signed = SignedDuration::try_from(d).map_err(|_| "duration out of range".to_string())?;
        let signed = if sign < 0 { -signed } else { signed };
        t = t
            .checked_add(signed)
            .map_err(|_| "time out of range".to_string())?;
        rest = after.trim_start();
    }
    Ok(t)
}

/// The leading time value of an expression and the text after it.
fn base(s: &str, now: Timestamp) -> Result<(Timestamp, &str), String> {
    if let Some(after) = s.strip_prefix("now()") {
        return Ok((now, after));
    }
    if let Some(after) = s.strip_prefix("date(") {
        let (arg, after) = string_arg(after)?;
        let t = parse_instant(&arg)?;
        return Ok((t, after));
    }
    // A bare instant up to the first " + " / " - " term.
    let end = s.find(" +").or_else(|| s.find(" -")).unwrap_or(s.len());
    let (head, after) = s.split_at(end);
    Ok((parse_instant(head.trim())?, after))
}

/// `duration("5m")` → 5 minutes, and the text after the call.
fn duration_call(s: &str) -> Result<(Duration, &str), String> {
    let after = s
        .strip_prefix("duration(")
        .ok_or_else(|| format!("expected duration(\"...\") at {s:?}"))?;
    let (arg, after) = string_arg(after)?;
    let d = parse_duration(&arg).map_err(|e| e.to_string())?;
    Ok((d, after))
}

/// A quoted string argument followed by `)`; returns the string and the text after `)`.
fn string_arg(s: &str) -> Result<(String, &str), String> {
    let s = s.trim_start();
    let quote = s
        .chars()
        .next()
        .filter(|c| *c == '"' || *c == '\'' || *c == '`')
        .ok_or_else(|| format!("expected a quoted string at {s:?}"))?;
    let body = &s[quote.len_utf8()..];
    let close = body
        .find(quote)
        .ok_or_else(|| format!("unterminated string at {s:?}"))?;
    let arg = body[..close].to_string();
    let after = body[close + quote.len_utf8()..].trim_start();
    let after = after
        .strip_prefix(')')
        .ok_or_else(|| format!("expected ) after {arg:?}"))?;
    Ok((arg, after))
}

/// RFC 3339 or Unix seconds (possibly fractional).
fn parse_instant(s: &str) -> Result<Timestamp, String> {
    if let Ok(secs) = s.parse::<f64>() {
        if !secs.is_finite() {
            return Err(format!("invalid time {s:?}"));
        }
        let d = SignedDuration::try_from_secs_f64(secs).map_err(|_| format!("invalid time {s:?}"))?;
        return Timestamp::from_duration(d).map_err(|_| format!("time {s:?} out of range"));
    }
    s.parse::<Timestamp>().map_err(|_| {
        format!("invalid time {s:?} (expected now(), date(\"RFC 3339\"), RFC 3339 or Unix seconds)")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_second(1_700_000_500).unwrap()
    }

    #[test]
    fn table() {
        let cases: &[(&str, i64)] = &[
            ("now()", 1_700_000_500),
            ("now() - duration(\"10m\")", 1_700_000_500 - 600),
            (
                "now()-duration('1h')+duration(\"30s\")",
                1_700_000_500 - 3600 + 30,
            ),
            (
                "date(\"2023-08-14T00:00:00Z\") - duration(\"1h\")",
                1_691_971_200 - 3600,
            ),
            ("2023-08-14T00:00:00Z", 1_691_971_200),
            ("1700000000", 1_700_000_000),
            ("1700000000 + duration(\"5m\")", 1_700_000_300),
        ];
        for (expr, want) in cases {
            assert_eq!(eval_time(expr, now()).unwrap().as_second(), *want, "{expr}");
        }
    }

    #[test]
    fn errors_say_what_is_wrong() {
        assert_eq!(
            eval_time("now() - duration(\"??\")", now()).unwrap_err(),
            "invalid duration \"??\": expected a number"
        );
        assert!(
            eval_time("yesterday", now())
                .unwrap_err()
                .starts_with("invalid time \"yesterday\"")
        );
        assert!(
            eval_time("now() * 2", now())
                .unwrap_err()
                .starts_with("unexpected \"* 2\"")
        );
        assert!(
            eval_time("date(\"x", now())
                .unwrap_err()
                .starts_with("unterminated string")
        );
    }
}
