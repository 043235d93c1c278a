//! Number formatting for the human-readable reason texts of the judges, shared so that every
//! judge prints its statistics the same way. Machine-readable details keep full precision; only
//! the sentences use these.
//!
//! - [`number`]: three significant digits, scientific notation outside [1e-3, 1e4)
//!   (`23.2`, `1234`, `2.3e34`, `0.0123`, `4.3e-5`).
//! - [`e_value`]: like [`number`], two significant digits in scientific notation (`2.3e34`).
//! - [`p_value`]: two significant digits, scientific below 1e-3 (`0.012`, `4.3e-35`).
//! - [`percent`]: a rate as a percentage with three significant digits (`1.23%`, `15.3%`, `5%`).
//! - [`ratio`]: a rate ratio with two decimals (`10.00`), scientific from 1e4, `inf` when unbounded.
//!
//! NaN (a ratio of two zero counts) is written [`NOT_A_NUMBER`] by all of them.

/// `x` with `digits` significant digits in plain notation, trailing zeros after the point removed.
fn plain(x: f64, digits: i32) -> String {
    let magnitude = x.abs().log10().floor() as i32;
    let decimals = (digits - 1 - magnitude).max(0) as usize;
    let s = format!("{x:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// `x` in scientific notation with `digits` significant digits (`2.3e34`).
fn scientific(x: f64, digits: usize) -> String {
    let decimals = digits.saturating_sub(1);
    let s = format!("{x:.decimals$e}");
    // "2.0e5" reads better as "2e5".
    match s.split_once('e') {
        Some((mantissa, exp)) if mantissa.contains('.') => {
            let m = mantissa.trim_end_matches('0').trim_end_matches('.');
            format!("{m}e{exp}")
        }
        _ => s,
    }
}

/// How every formatter here writes NaN (e.g. the rate ratio when neither arm has an error yet):
/// NaN never reaches a reason.
pub const NOT_A_NUMBER: &str = "n/a";

fn special(x: f64) -> Option<String> {
    if x.is_nan() {
        Some(NOT_A_NUMBER.into())
    } else if x.is_infinite() {
        Some(if x > 0.0 { "inf" } else { "-inf" }.into())
    } else if x == 0.0 {
        Some("0".into())
    } else {
        None
    }
}

/// A statistic with three significant digits; scientific outside [1e-3, 1e4); integers from 100.
pub fn number(x: f64) -> String {
    if let Some(s) = special(x) {
        return s;
    }
    let a = x.abs();
    if !(1e-3..1e4).contains(&a) {
        scientific(x, 2)
    } else if a >= 100.0 {
        format!("{x:.0}")
    } else {
        plain(x, 3)
    }
}

/// An e-value (evidence against the null): as [`number`] (`0.43`, `23.2`, `2.3e34`).
pub fn e_value(x: f64) -> String {
    number(x)
}

/// `10^log10` in scientific notation with two significant digits, for values that overflow f64.
fn scientific_from_log10(log10: f64) -> String {
    let mut exp = log10.floor();
    let mut mantissa = 10f64.powf(log10 - exp);
    if (mantissa * 10.0).round() >= 100.0 {
        mantissa /= 10.0;
        exp += 1.0;
    }
    scientific(mantissa, 2).replace("e0", &format!("e{exp:.0}"))
}

/// An e-value given by its natural log, so that evidence beyond f64's range still prints
/// (`exp(1000)` → `2e434`).
pub fn e_value_ln(log_e: f64) -> String {
    if log_e.is_finite() && log_e > 700.0 {
        scientific_from_log10(log_e / std::f64::consts::LN_10)
    } else {
        e_value(log_e.exp())
    }
}

/// The p-value `min(1, exp(−log_e))` of an e-value given by its natural log, without underflow.
pub fn p_value_ln(log_e: f64) -> String {
    if log_e.is_finite() && log_e > 700.0 {
        scientific_from_log10(-log_e / std::f64::consts::LN_10)
    } else {
        p_value((-log_e).exp())
    }
}

/// A p-value with two significant digits; scientific below 1e-3; `1` when at least 1.
pub fn p_value(p: f64) -> String {
    if let Some(s) = special(p) {
        return s;
    }
    if p >= 1.0 {
        "1".into()
    } else if p < 1e-3 {
        scientific(p, 2)
    } else {
        plain(p, 2)
    }
}

/// A rate in [0, 1] as a percentage with three significant digits (`1.23%`, `15.3%`, `5%`).
pub fn percent(rate: f64) -> String {
    if rate.is_nan() {
        return NOT_A_NUMBER.into();
    }
    if let Some(s) = special(rate) {
        return format!("{s}%");
    }
    let pct = 100.0 * rate;
    if pct.abs() < 1e-3 {
        format!("{}%", scientific(pct, 2))
    } else {
        format!("{}%", plain(pct, 3))
    }
}

/// A rate ratio with two decimals (`10.00`, `0.95`); scientific from 1e4; `inf` when unbounded.
pub fn ratio(r: f64) -> String {
    if let Some(s) = special(r) {
        return s;
    }
    if r.abs() >= 1e4 || r.abs() < 5e-3 {
        scientific(r, 2)
    } else {
        format!("{r:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_read_naturally() {
        let cases = [
            (23_211_949_483_577_372_508_497_595_435_319_296.0, "2.3e34"),
            (0.4321, "0.432"),
            (23.21, "23.2"),
            (1.0, "1"),
            (1.5, "1.5"),
            (1234.4, "1234"),
            (12_345.0, "1.2e4"),
            (20_000.0, "2e4"),
            (0.0001234, "1.2e-4"),
            (0.0, "0"),
            (f64::INFINITY, "inf"),
            (-3.0, "-3"),
            (f64::NAN, "n/a"),
        ];
        for (x, want) in cases {
            assert_eq!(number(x), want, "{x}");
            assert_eq!(e_value(x), want, "{x}");
        }
    }

    #[test]
    fn values_beyond_f64_print_from_their_log() {
        assert_eq!(e_value_ln(1000.0), "2e434");
        assert_eq!(p_value_ln(1000.0), "5.1e-435");
        assert_eq!(e_value_ln(20f64.ln()), "20");
        assert_eq!(p_value_ln(20f64.ln()), "0.05");
        assert_eq!(e_value_ln(80.0), "5.5e34");
    }

    #[test]
    fn p_values_have_two_significant_digits() {
        let cases = [
            (4.308e-35, "4.3e-35"),
            (0.01234, "0.012"),
            (0.5, "0.5"),
            (0.049_99, "0.05"),
            (1.2, "1"),
            (0.000_999, "1e-3"),
        ];
        for (p, want) in cases {
            assert_eq!(p_value(p), want, "{p}");
        }
    }

    #[test]
    fn rates_are_percentages() {
        let cases = [
            (0.1532, "15.3%"),
            (0.05, "5%"),
            (0.01234, "1.23%"),
            (0.001, "0.1%"),
            (1.0, "100%"),
            (0.0, "0%"),
            (1e-6, "1e-4%"),
            (f64::NAN, "n/a"),
        ];
        for (r, want) in cases {
            assert_eq!(percent(r), want, "{r}");
        }
    }

    #[test]
    fn ratios_keep_two_decimals() {
        let cases = [
            (10.0, "10.00"),
            (0.954, "0.95"),
            (15.7345, "15.73"),
            (f64::INFINITY, "inf"),
            (3.2e6, "3.2e6"),
            (f64::NAN, "n/a"),
        ];
        for (r, want) in cases {
            assert_eq!(ratio(r), want, "{r}");
        }
    }
}
