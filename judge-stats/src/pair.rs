//! The two-deployment error judge, for services rolled out as a pair (e.g. an author tier and a
//! publish tier). For each deployment it combines the anytime-valid error-ratio test of canary vs
//! stable, the number of canary errors (a Fail needs at least `minCanaryErrors`), and the request
//! volume of both arms (a Pass needs `minRequests` in each); it fails if either deployment
//! regresses. The error level is split across the deployments (Bonferroni).

use serde::{Deserialize, Serialize};

use crate::config::{ConfigError, JudgeConfig, check_comparisons, check_min, check_open, check_rate};
use crate::counts::{CountState, CountTest, Exposure, assess, pair_windows};
use crate::data::{JudgeData, Phase, Series, Verdict, codes};
use crate::guard::{MissingData, bonferroni};

/// Judge name.
pub const NAME: &str = "two-deployment-errors";

/// One deployment of the pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Deployment {
    /// Name shown in the details.
    pub name: String,
    /// Canary ratio series (errors / requests).
    pub canary: String,
    /// Stable ratio series.
    pub stable: String,
}

/// Configuration (JSON, camelCase).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct Config {
    /// The deployments (default: `canary`/`stable` and `canary-publish`/`stable-publish`).
    pub deployments: Vec<Deployment>,
    /// Error level before correction (split across deployments and `comparisons`).
    pub alpha: f64,
    /// Other metrics judged together (Bonferroni).
    pub comparisons: u32,
    /// Fail margin on the error-rate ratio.
    pub fail_tolerance: f64,
    /// Pass margin on the error-rate ratio.
    pub tolerance: f64,
    /// Absolute SLO on the error rate (baseline-health guard and canary SLO check).
    pub max_error_rate: Option<f64>,
    /// Also pass a deployment whose canary error rate is shown below this.
    pub pass_below_rate: Option<f64>,
    /// Requests per arm (per deployment) before a pass.
    pub min_requests: f64,
    /// Canary errors required before a regression fails the deployment.
    pub min_canary_errors: f64,
    /// Exposure measure.
    pub exposure: Exposure,
    /// Mixture range.
    pub max_ratio: f64,
    /// Missing-data policy.
    pub missing_data: MissingData,
}

impl Default for Config {
    fn default() -> Self {
        let dep = |name: &str, suffix: &str| Deployment {
            name: name.into(),
            canary: format!("canary{suffix}"),
            stable: format!("stable{suffix}"),
        };
        Self {
            deployments: vec![dep("primary", ""), dep("publish", "-publish")],
            alpha: 0.05,
            comparisons: 1,
            fail_tolerance: 0.0,
            tolerance: 0.25,
            max_error_rate: None,
            pass_below_rate: None,
            min_requests: 200.0,
            min_canary_errors: 3.0,
            exposure: Exposure::Requests,
            max_ratio: 20.0,
            missing_data: MissingData::Inconclusive,
        }
    }
}

impl Config {
    fn test(&self) -> Result<CountTest, ConfigError> {
        check_open("alpha", self.alpha, 0.0, 1.0)?;
        check_min("failTolerance", self.fail_tolerance, 0.0)?;
        check_open("tolerance", self.tolerance, 0.0, f64::INFINITY)?;
        check_open("maxRatio", self.max_ratio, 1.1, 1e3)?;
        check_min("minRequests", self.min_requests, 0.0)?;
        check_min("minCanaryErrors", self.min_canary_errors, 0.0)?;
        check_comparisons(self.comparisons)?;
        check_rate("maxErrorRate", self.max_error_rate)?;
        check_rate("passBelowRate", self.pass_below_rate)?;
        if self.deployments.is_empty() {
            return Err(ConfigError::Invalid {
                field: "deployments",
                problem: "must list at least one deployment".into(),
            });
        }
        let n = u32::try_from(self.deployments.len()).unwrap_or(u32::MAX);
        Ok(CountTest {
            alpha: bonferroni(self.alpha, self.comparisons.max(1).saturating_mul(n)),
            fail_ratio: 1.0 + self.fail_tolerance,
            pass_ratio: 1.0 + self.tolerance,
            max_ratio: self.max_ratio,
            max_rate: self.max_error_rate,
            pass_below_rate: self.pass_below_rate,
            min_exposure: self.min_requests,
            min_canary_events: self.min_canary_errors,
            missing_data: self.missing_data,
            bayesian_details: false,
        })
    }
}

impl JudgeConfig for Config {
    fn validate(&self) -> Result<(), ConfigError> {
        self.test().map(|_| ())
    }
}

/// State: one count state per deployment, in configuration order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Per-deployment states.
    pub deployments: Vec<CountState>,
}

/// Judges one evaluation.
pub fn judge(input: &JudgeData, config: &Config, state: Option<State>) -> (Verdict, State) {
    if let Some(v) = crate::data::reject(input, config) {
        return (v, state.unwrap_or_default());
    }
    let test = match config.test() {
        Ok(t) => t,
        Err(e) => return (Verdict::invalid(e.to_string()), state.unwrap_or_default()),
    };
    let prev = state.map(|s| s.deployments).unwrap_or_default();
    if !prev.is_empty() && prev.len() != config.deployments.len() {
        let msg = "the judge state has a different number of deployments than the configuration";
        return (
            Verdict::new(Phase::Error, codes::STATE_MISMATCH, msg),
            State::default(),
        );
    }
    let mut states = Vec::new();
    let mut outcomes = Vec::new();
    let empty = Series::default();
    for (i, d) in config.deployments.iter().enumerate() {
        let mut st = match CountState::resume(prev.get(i).cloned(), &test) {
            Ok(s) => s,
            Err(e) => {
                return (
                    Verdict::new(Phase::Error, codes::STATE_MISMATCH, e),
                    State::default(),
                );
            }
        };
        let canary = input.series(&d.canary).unwrap_or(&empty);
        let stable = input.series(&d.stable).unwrap_or(&empty);
        let windows = match pair_windows(
            &canary.ratios,
            &stable.ratios,
            st.last_time_ms,
            config.exposure,
            &|t| input.weight_at(t),
        ) {
            Ok(w) => w,
            Err(e) => {
                return (
                    Verdict::invalid(format!("{}: {e}", d.name)),
                    State { deployments: prev },
                );
            }
        };
        outcomes.push(assess(&test, &mut st, &windows, &d.name));
        states.push(st);
    }
    let st = State { deployments: states };
    let pick = |phase: Phase, code: Option<&str>| {
        outcomes
            .iter()
            .filter(|o| o.phase == phase && code.is_none_or(|c| o.code == c))
            .collect::<Vec<_>>()
    };
    let failed = pick(Phase::Failed, None);
    let unhealthy = pick(Phase::Inconclusive, Some(codes::ENVIRONMENT_UNHEALTHY));
    let passed = pick(Phase::Successful, None);
    let join = |os: &[&crate::counts::CountOutcome]| {
        os.iter()
            .map(|o| o.reason.as_str())
            .collect::<Vec<_>>()
            .join("; ")
    };
    let (phase, code, reason) = if let Some(first) = failed.first() {
        (Phase::Failed, first.code, join(&failed))
    } else if !unhealthy.is_empty() {
        (
            Phase::Inconclusive,
            codes::ENVIRONMENT_UNHEALTHY,
            join(&unhealthy),
        )
    } else if passed.len() == outcomes.len() {
        (Phase::Successful, codes::WITHIN_TOLERANCE, join(&passed))
    } else {
        let waiting: Vec<_> = outcomes.iter().filter(|o| o.phase != Phase::Successful).collect();
        let code = if waiting.iter().any(|o| o.code == codes::NO_DATA) {
            codes::NO_DATA
        } else {
            codes::INSUFFICIENT_EVIDENCE
        };
        let phase = waiting
            .iter()
            .find(|o| o.code == codes::NO_DATA)
            .map_or(Phase::Inconclusive, |o| o.phase);
        (phase, code, join(&waiting))
    };
    let mut v = Verdict::new(phase, code, reason);
    v.details = outcomes
        .into_iter()
        .map(|o| {
            o.detail
                .with("phase", format!("{:?}", o.phase))
                .with("code", o.code)
        })
        .collect();
    v.score = v
        .details
        .iter()
        .filter_map(crate::error_ratio::score_of)
        .reduce(f64::min);
    (v, st)
}
