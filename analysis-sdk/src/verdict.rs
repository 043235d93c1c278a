//! Builders for the output records: [`Verdict`], [`Detail`] and [`JudgeInfo`].

use crate::{Detail, JudgeInfo, Phase, Verdict};

impl Verdict {
    /// A verdict with the given phase, reason code and human-readable reason, and nothing else.
    pub fn new(phase: Phase, code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self {
            phase,
            code: code.into(),
            score: None,
            reason: reason.into(),
            details: Vec::new(),
            state: None,
        }
    }

    /// A `successful` verdict.
    pub fn successful(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(Phase::Successful, code, reason)
    }

    /// A `failed` verdict.
    pub fn failed(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(Phase::Failed, code, reason)
    }

    /// An `inconclusive` verdict (e.g. not enough data yet).
    pub fn inconclusive(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(Phase::Inconclusive, code, reason)
    }

    /// An `error` verdict (the judge ran but could not judge, e.g. the environment is unhealthy).
    pub fn error(code: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(Phase::Error, code, reason)
    }

    /// Sets the score in [0, 1] (1 = canary as good as stable).
    pub fn with_score(mut self, score: f64) -> Self {
        self.score = Some(score);
        self
    }

    /// Appends a detail.
    pub fn with_detail(mut self, detail: Detail) -> Self {
        self.details.push(detail);
        self
    }

    /// Sets the state handed back in the next evaluation of this run.
    pub fn with_state(mut self, state: Vec<u8>) -> Self {
        self.state = Some(state);
        self
    }
}

impl Detail {
    /// A detail for check `name` with `statistic` = `value`, zero samples and nothing else.
    pub fn new(name: impl Into<String>, statistic: impl Into<String>, value: f64) -> Self {
        Self {
            name: name.into(),
            statistic: statistic.into(),
            value,
            effect: None,
            interval: None,
            samples: (0, 0),
            samples_needed: None,
            extra: Vec::new(),
        }
    }

    /// Sets the estimated effect.
    pub fn with_effect(mut self, effect: f64) -> Self {
        self.effect = Some(effect);
        self
    }

    /// Sets the confidence interval of the effect.
    pub fn with_interval(mut self, low: f64, high: f64) -> Self {
        self.interval = Some((low, high));
        self
    }

    /// Sets the samples seen per arm (canary, stable).
    pub fn with_samples(mut self, canary: u64, stable: u64) -> Self {
        self.samples = (canary, stable);
        self
    }

    /// Sets the samples per arm still needed before a decision is possible.
    pub fn with_samples_needed(mut self, needed: u64) -> Self {
        self.samples_needed = Some(needed);
        self
    }

    /// Appends a free-form key/value pair.
    pub fn with_extra(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extra.push((key.into(), value.into()));
        self
    }
}

impl JudgeInfo {
    /// Name and version, with the config schema `{}` (accepts anything).
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            version: version.into(),
            config_schema: "{}".into(),
        }
    }

    /// Sets the JSON Schema of the judge's config.
    pub fn with_config_schema(mut self, schema: impl Into<String>) -> Self {
        self.config_schema = schema.into();
        self
    }
}

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
