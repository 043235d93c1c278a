//! The output records [`Verdict`], [`Detail`] and [`JudgeInfo`] (`judge_types`), with their
//! builders: `Verdict::{new, successful, failed, inconclusive, error}` and `with_score`,
//! `with_detail`, `with_state`; `Detail::new` and `with_effect`, `with_interval`, `with_samples`,
//! `with_samples_needed`, `with_extra`; `JudgeInfo::new` and `with_config_schema`.

pub use crate::{Detail, JudgeInfo, Phase, Verdict};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builders_fill_every_field() {
        let v = Verdict::failed("regression", "too many errors")
            .with_score(0.25)
            .with_state(vec![9])
            .with_detail(
                Detail::new("error-ratio", "ratio-delta", 0.5)
                    .with_effect(0.4)
                    .with_interval(0.1, 0.7)
                    .with_samples(10, 20)
                    .with_samples_needed(3)
                    .with_extra("k", "v"),
            );
        assert_eq!(v.phase, Phase::Failed);
        assert_eq!(
            (v.code.as_str(), v.reason.as_str()),
            ("regression", "too many errors")
        );
        assert_eq!((v.score, v.state.clone()), (Some(0.25), Some(vec![9])));
        let d = &v.details[0];
        assert_eq!(
            (d.effect, d.interval, d.samples, d.samples_needed),
            (Some(0.4), Some((0.1, 0.7)), (10, 20), Some(3))
        );
        assert_eq!(d.extra, vec![("k".to_string(), "v".to_string())]);
        assert_eq!(Verdict::inconclusive("c", "r").phase, Phase::Inconclusive);
        assert_eq!(Verdict::error("c", "r").phase, Phase::Error);
        assert_eq!(Verdict::successful("c", "r").phase, Phase::Successful);
        assert_eq!(
            JudgeInfo::new("n", "1")
                .with_config_schema("{\"type\":\"object\"}")
                .config_schema,
            "{\"type\":\"object\"}"
        );
    }
}
