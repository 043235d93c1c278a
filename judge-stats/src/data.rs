//! The judges' input and verdict: the one set of judge types (crate `judge_types`, shared with
//! the core, the WASM host and the guest SDK), re-exported under the names the judges use, and
//! the first check every judge runs ([`reject`]).
//!
//! A judge is `judge(&JudgeData, &Config, Option<State>) -> (Verdict, State)`: it reads the input
//! minus its opaque `config` and `state` (the component wrapper decodes those into the judge's
//! typed `Config` and `State`) and returns a verdict without state (the wrapper encodes the
//! returned `State` into it).

/// The input of one evaluation ([`judge_types::JudgeInput`]).
pub use judge_types::JudgeInput as JudgeData;
/// The result of one evaluation ([`judge_types::JudgeVerdict`]).
pub use judge_types::JudgeVerdict as Verdict;
/// The four phases of an Argo measurement ([`judge_types::VerdictPhase`]).
pub use judge_types::VerdictPhase as Phase;
pub use judge_types::{Bucket, Detail, ExtraValue, JudgeArg, Point, RatioPoint, Series, WeightPoint, codes};

/// The `Error` verdict for a judge configuration or an input that cannot be judged, if any: the
/// first check every judge runs ([`crate::config::JudgeConfig::validate`], then
/// [`JudgeData::validate`](judge_types::JudgeInput::validate)).
pub fn reject<C: crate::config::JudgeConfig>(input: &JudgeData, config: &C) -> Option<Verdict> {
    let problem = match config.validate() {
        Err(e) => e.to_string(),
        Ok(()) => input.validate().err()?,
    };
    Some(Verdict::invalid(problem))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn extra_texts_write_nan_like_the_reasons() {
        assert_eq!(judge_types::NOT_A_NUMBER, crate::explain::NOT_A_NUMBER);
        let d = Detail::new("n", "s", 0.0).with("rate", f64::NAN).with("n", 3u64);
        assert_eq!(
            (d.extra_value("rate"), d.extra_value("n")),
            (Some("n/a"), Some("3"))
        );
    }

    #[test]
    fn reject_reports_the_input_problem() {
        let heavy = JudgeData {
            weights: vec![WeightPoint {
                time_ms: 0,
                canary_weight: 120,
            }],
            ..JudgeData::default()
        };
        let v = reject(&heavy, &crate::error_ratio::Config::default());
        assert_eq!(
            v.as_ref().map(|v| (v.phase, v.code.as_str())),
            Some((Phase::Error, codes::INVALID_INPUT))
        );
        assert_eq!(
            reject(&JudgeData::default(), &crate::error_ratio::Config::default()),
            None
        );
    }
}
