//! The reference logic, kept free of the export so that the host's benches and tests can compile
//! it natively (`#[path]`) and compare it with the component.

use analysis_sdk::input::invalid_arg;
use analysis_sdk::{Detail, Input, JudgeInfo, Verdict};

/// `describe()` of the reference judge.
pub fn describe() -> JudgeInfo {
    JudgeInfo::new("error-ratio-reference", "0.1.0")
}

/// `int(x)` of the specification: truncation toward zero, 0 for negative, NaN or infinite values.
fn int(x: f64) -> u64 {
    if x.is_finite() && x >= 0.0 { x as u64 } else { 0 }
}

fn is_digits(text: &str) -> bool {
    !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit())
}

/// `^-?[0-9]+(\.[0-9]+)?$`
fn is_decimal(text: &str) -> bool {
    let unsigned = text.strip_prefix('-').unwrap_or(text);
    match unsigned.split_once('.') {
        Some((int_part, frac)) => is_digits(int_part) && is_digits(frac),
        None => is_digits(unsigned),
    }
}

/// Step 3 of the specification: every ratio needs `0 <= numerator <= denominator`, both finite
/// (a NaN fails every comparison).
fn check_counts(series: &analysis_sdk::Series, name: &str) -> Result<(), String> {
    match series
        .ratios
        .iter()
        .position(|r| !(r.numerator >= 0.0 && r.numerator <= r.denominator && r.denominator <= f64::MAX))
    {
        None => Ok(()),
        Some(i) => Err(format!(
            "invalid counts in series \"{name}\" at ratio {i}: need 0 <= numerator <= denominator, both finite"
        )),
    }
}

/// `evaluate()` of the reference judge.
pub fn evaluate(input: &Input) -> Result<Verdict, String> {
    let min = match input.arg_str("min-requests") {
        None => 100,
        Some(t) if is_digits(t) => t.parse::<u64>().map_err(|_| invalid_arg("min-requests", t))?,
        Some(t) => return Err(invalid_arg("min-requests", t)),
    };
    let tolerance = match input.arg_str("tolerance") {
        None => 0.01,
        Some(t) if is_decimal(t) => t.parse::<f64>().map_err(|_| invalid_arg("tolerance", t))?,
        Some(t) => return Err(invalid_arg("tolerance", t)),
    };
    let canary = input.require_series("canary")?;
    let stable = input.require_series("stable")?;
    check_counts(canary, "canary")?;
    check_counts(stable, "stable")?;
    let (c, s) = (canary.ratio_totals(), stable.ratio_totals());
    let (cd, sd) = (c.denominator, s.denominator);
    let detail = Detail::new("error-ratio", "ratio-delta", 0.0).with_samples(int(cd), int(sd));
    let min_f = min as f64;
    if cd < min_f || sd < min_f {
        let needed = min.saturating_sub(int(cd.min(sd)));
        let reason = format!(
            "need {min} requests per arm, have canary {} stable {}",
            int(cd),
            int(sd)
        );
        return Ok(Verdict::inconclusive("insufficient-data", reason)
            .with_detail(detail.with_samples_needed(needed)));
    }
    let delta = c.ratio_or_zero() - s.ratio_or_zero();
    let reason = format!(
        "canary errors {}/{}, stable errors {}/{}",
        int(c.numerator),
        int(cd),
        int(s.numerator),
        int(sd)
    );
    let verdict = if delta > tolerance {
        Verdict::failed("regression", reason)
    } else {
        Verdict::successful("ok", reason)
    };
    Ok(verdict.with_detail(Detail {
        value: delta,
        ..detail
    }))
}
