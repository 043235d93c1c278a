//! The checks every judge relies on before it judges an input.

use crate::{Bucket, JudgeInput};

impl JudgeInput {
    /// Checks what every judge relies on, naming the series and entry at fault: canary weights
    /// within 0-100; ratio counts finite, with a non-negative denominator (exposure); histogram
    /// buckets with distinct bounds that are numbers, and finite, non-negative cumulative counts
    /// that do not decrease as the bound grows. Judges add their own checks (e.g. the count
    /// judges need `0 <= numerator <= denominator`).
    pub fn validate(&self) -> Result<(), String> {
        if let Some(w) = self.weights.iter().find(|w| w.canary_weight > 100) {
            return Err(format!(
                "weights: canary weight {} at {} ms is over 100 (percent)",
                w.canary_weight, w.time_ms
            ));
        }
        for s in &self.series {
            for r in &s.ratios {
                if !(r.numerator.is_finite() && r.denominator.is_finite() && r.denominator >= 0.0) {
                    return Err(format!(
                        "series {:?}: the ratio window at {} ms has numerator {} and denominator {}; \
                         counts must be finite and the denominator non-negative",
                        s.name,
                        r.time_ms,
                        shown(r.numerator),
                        shown(r.denominator)
                    ));
                }
            }
            check_buckets(&s.name, &s.buckets)?;
        }
        Ok(())
    }
}

/// A number in an error message: `not a number` for NaN (which never reaches a reason).
fn shown(x: f64) -> String {
    if x.is_nan() {
        "not a number".into()
    } else {
        x.to_string()
    }
}

/// Checks one series' cumulative histogram (see [`JudgeInput::validate`]).
fn check_buckets(series: &str, buckets: &[Bucket]) -> Result<(), String> {
    let bad = |problem: String| Err(format!("series {series:?}: {problem}"));
    for b in buckets {
        if b.upper_bound.is_nan() {
            return bad("a histogram bucket has an upper bound that is not a number".into());
        }
        if !(b.count.is_finite() && b.count >= 0.0) {
            return bad(format!(
                "the histogram bucket le={} has count {}; counts must be finite and non-negative",
                b.upper_bound,
                shown(b.count)
            ));
        }
    }
    let mut sorted: Vec<&Bucket> = buckets.iter().collect();
    sorted.sort_by(|a, b| a.upper_bound.total_cmp(&b.upper_bound));
    for pair in sorted.windows(2) {
        let [lo, hi] = pair else { continue };
        if lo.upper_bound == hi.upper_bound {
            return bad(format!(
                "two histogram buckets have the bound le={}",
                lo.upper_bound
            ));
        }
        if hi.count < lo.count {
            return bad(format!(
                "histogram bucket counts must not decrease as the bound grows (they are cumulative), \
                 but le={} has {} and le={} has {}",
                lo.upper_bound, lo.count, hi.upper_bound, hi.count
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::{Bucket, JudgeInput, RatioPoint, Series, WeightPoint};

    fn with(series: Series) -> JudgeInput {
        JudgeInput {
            series: vec![series],
            ..JudgeInput::default()
        }
    }

    #[test]
    fn names_the_entry_at_fault() {
        let heavy = JudgeInput {
            weights: vec![WeightPoint {
                time_ms: 7,
                canary_weight: 101,
            }],
            ..JudgeInput::default()
        };
        assert_eq!(
            heavy.validate(),
            Err("weights: canary weight 101 at 7 ms is over 100 (percent)".into())
        );
        let negative = with(Series {
            name: "c".into(),
            ratios: vec![RatioPoint {
                time_ms: 1,
                numerator: f64::NAN,
                denominator: -1.0,
            }],
            ..Series::default()
        });
        let err = negative.validate().unwrap_err();
        assert!(err.contains("numerator not a number and denominator -1"), "{err}");
        let b = |upper_bound, count| Bucket { upper_bound, count };
        let decreasing = with(Series {
            name: "c".into(),
            buckets: vec![b(f64::INFINITY, 1.0), b(0.5, 2.0)],
            ..Series::default()
        });
        let err = decreasing.validate().unwrap_err();
        assert!(err.contains("le=0.5 has 2 and le=inf has 1"), "{err}");
        let twice = with(Series {
            name: "c".into(),
            buckets: vec![b(0.5, 1.0), b(0.5, 1.0)],
            ..Series::default()
        });
        assert!(twice.validate().unwrap_err().contains("two histogram buckets"));
        assert_eq!(with(Series::default()).validate(), Ok(()));
    }
}
