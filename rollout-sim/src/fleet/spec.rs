//! The fleet simulation's input, from YAML: the release plan (`rollout_core::fleet::ReleasePlan`),
//! the fleet (environments, rings, traffic, fault rates), the release (good or bad) and how each
//! environment's canary analysis runs. Every problem is reported with its field path.
//!
//! ```yaml
//! name: bad-release
//! seed: 7
//! plan:
//!   release: v2.4.1
//!   test: {baselineFailureRate: 0.01, falseAlarmRate: 0.05, failureRateRatio: 3}
//!   waves:
//!     - {name: canary-ring, ring: canary}
//!     - {name: one-percent, percent: 1}
//!     - {name: everyone, percent: 100}
//! fleet:
//!   environments: 17000
//!   rings: {canary: 100}
//!   traffic: {medianRequestsPerMinute: 40, spread: 1.5}
//! release: {failingPercent: 5, errorRateMultiplier: 6}
//! ```

use std::collections::BTreeMap;

use rollout_core::fleet::ReleasePlan;
use rollout_core::rollout::{FieldError, FieldErrorKind};
use serde::{Deserialize, Serialize};

/// The most environments in a simulated fleet.
pub const MAX_ENVIRONMENTS: u32 = 200_000;
/// The most analysis windows per environment.
pub const MAX_WINDOWS: u32 = 100;
/// The most earlier releases in an environment's history.
pub const MAX_HISTORY: u32 = 100;

/// Why a fleet simulation cannot run.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum FleetError {
    /// The YAML did not parse or has unknown fields.
    #[error("fleet plan YAML: {0}")]
    Yaml(String),
    /// Fields have invalid values.
    #[error("fleet plan: {}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<FieldError>),
}

/// A fleet simulation: the plan, the fleet, the release and the analysis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FleetSpec {
    /// Short name.
    #[serde(default)]
    pub name: String,
    /// One-line description.
    #[serde(default)]
    pub description: String,
    /// Seed (the CLI's `--seed` overrides it; default 1).
    #[serde(default)]
    pub seed: Option<u64>,
    /// The release plan.
    pub plan: ReleasePlan,
    /// The simulated fleet.
    #[serde(default)]
    pub fleet: FleetModel,
    /// How the release behaves.
    #[serde(default)]
    pub release: ReleaseModel,
    /// How each environment's canary analysis runs.
    #[serde(default)]
    pub analysis: AnalysisModel,
}

/// The simulated environments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct FleetModel {
    /// Number of environments.
    pub environments: u32,
    /// Ring name → number of (randomly chosen) environments in it.
    pub rings: BTreeMap<String, u32>,
    /// Traffic per environment.
    pub traffic: TrafficModel,
    /// The error ratio of the stable version in a healthy environment.
    pub error_rate: f64,
    /// Burstiness of errors: the squared coefficient of variation of each window's error rate
    /// (gamma-Poisson counts; 0 is Poisson).
    pub burstiness: f64,
    /// Chance that a deployment of any release fails in an environment for the environment's own
    /// reasons (pods never ready, quota), independently per environment and release: these
    /// failures look like the release's, so they make up the fleet's baseline failure rate.
    pub fault_rate: f64,
    /// Share of flaky environments, which fail most releases ([`FLAKY_FAILURE_RATE`]).
    pub flaky_rate: f64,
    /// Share of environments whose stable version is already unhealthy.
    pub unhealthy_rate: f64,
    /// Chance of a transient failure (metric source unreachable, an API blip) per environment.
    pub transient_rate: f64,
    /// Earlier releases in each environment's history.
    pub history_releases: u32,
}

/// The chance that a flaky environment fails a release.
pub const FLAKY_FAILURE_RATE: f64 = 0.6;

impl Default for FleetModel {
    fn default() -> Self {
        FleetModel {
            environments: 17_000,
            rings: BTreeMap::new(),
            traffic: TrafficModel::default(),
            error_rate: 0.005,
            burstiness: 0.3,
            fault_rate: 0.005,
            flaky_rate: 0.01,
            unhealthy_rate: 0.005,
            transient_rate: 0.005,
            history_releases: 5,
        }
    }
}

/// Requests per minute of each environment: log-normal, so most environments see little traffic
/// and a few see a lot.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct TrafficModel {
    /// The median environment's requests per minute.
    pub median_requests_per_minute: f64,
    /// The log-normal's sigma (0: every environment sees the median).
    pub spread: f64,
}

impl Default for TrafficModel {
    fn default() -> Self {
        TrafficModel {
            median_requests_per_minute: 40.0,
            spread: 1.5,
        }
    }
}

/// The release: good, or bad in a share of environments.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct ReleaseModel {
    /// Percentage of environments in which the release regresses (0: a good release).
    pub failing_percent: f64,
    /// The canary's error rate there, as a multiple of the stable version's.
    pub error_rate_multiplier: f64,
}

impl Default for ReleaseModel {
    fn default() -> Self {
        ReleaseModel {
            failing_percent: 0.0,
            error_rate_multiplier: 6.0,
        }
    }
}

/// Each environment's canary analysis: a canary at a fixed weight judged after every window on
/// its cumulative error counts against the stable version's.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default, deny_unknown_fields)]
pub struct AnalysisModel {
    /// Judged windows.
    pub windows: u32,
    /// Minutes per window.
    pub window_minutes: f64,
    /// The canary's share of traffic, percent.
    pub canary_weight: f64,
    /// The judge's chance of failing a good canary, over all its windows.
    pub alpha: f64,
    /// Requests per arm needed before a pass; fewer at the end is inconclusive.
    pub min_requests: f64,
    /// The SLO: a stable error ratio above it is `environment-unhealthy`.
    pub max_error_rate: f64,
}

impl Default for AnalysisModel {
    fn default() -> Self {
        AnalysisModel {
            windows: 3,
            window_minutes: 10.0,
            canary_weight: 20.0,
            alpha: 0.01,
            min_requests: 200.0,
            max_error_rate: 0.05,
        }
    }
}

struct Problems(Vec<FieldError>);

impl Problems {
    fn range(&mut self, path: &str, v: f64, lo: f64, hi: f64, open_lo: bool) {
        let ok = v.is_finite() && (if open_lo { v > lo } else { v >= lo }) && v <= hi;
        if !ok {
            let bound = if open_lo { "above" } else { "at least" };
            self.0.push(FieldError {
                path: path.to_string(),
                kind: FieldErrorKind::Invalid(v.to_string()),
                message: format!("must be {bound} {lo} and at most {hi}"),
            });
        }
    }
    fn int(&mut self, path: &str, v: u32, lo: u32, hi: u32) {
        if !(lo..=hi).contains(&v) {
            self.0.push(FieldError {
                path: path.to_string(),
                kind: FieldErrorKind::Invalid(v.to_string()),
                message: format!("must be between {lo} and {hi}"),
            });
        }
    }
}

impl FleetSpec {
    /// Parses and validates a fleet simulation.
    pub fn from_yaml(text: &str) -> Result<Self, FleetError> {
        let spec: FleetSpec = serde_yaml::from_str(text).map_err(|e| FleetError::Yaml(e.to_string()))?;
        spec.validate()?;
        Ok(spec)
    }

    /// Every problem of the plan and the model, with field paths.
    pub fn validate(&self) -> Result<(), FleetError> {
        let mut p = Problems(self.plan.validate("plan"));
        let f = &self.fleet;
        p.int("fleet.environments", f.environments, 1, MAX_ENVIRONMENTS);
        let in_rings: u64 = f.rings.values().map(|n| u64::from(*n)).sum();
        if in_rings > u64::from(f.environments) {
            p.0.push(FieldError {
                path: "fleet.rings".into(),
                kind: FieldErrorKind::Invalid(in_rings.to_string()),
                message: format!("more environments in rings than the fleet's {}", f.environments),
            });
        }
        for (ring, _) in f.rings.iter().filter(|(r, _)| r.trim().is_empty()) {
            p.0.push(FieldError {
                path: format!("fleet.rings.{ring}"),
                kind: FieldErrorKind::Required,
                message: "name the ring".into(),
            });
        }
        for (i, w) in self.plan.waves.iter().enumerate() {
            if let Some(ring) = &w.ring
                && !f.rings.contains_key(ring)
            {
                p.0.push(FieldError {
                    path: format!("plan.waves[{i}].ring"),
                    kind: FieldErrorKind::Invalid(ring.clone()),
                    message: "no such ring in fleet.rings".into(),
                });
            }
        }
        p.range(
            "fleet.traffic.medianRequestsPerMinute",
            f.traffic.median_requests_per_minute,
            0.0,
            1e6,
            true,
        );
        p.range("fleet.traffic.spread", f.traffic.spread, 0.0, 5.0, false);
        p.range("fleet.errorRate", f.error_rate, 0.0, 1.0, false);
        p.range("fleet.burstiness", f.burstiness, 0.0, 100.0, false);
        for (path, v) in [
            ("fleet.faultRate", f.fault_rate),
            ("fleet.flakyRate", f.flaky_rate),
            ("fleet.unhealthyRate", f.unhealthy_rate),
            ("fleet.transientRate", f.transient_rate),
        ] {
            p.range(path, v, 0.0, 1.0, false);
        }
        p.int("fleet.historyReleases", f.history_releases, 0, MAX_HISTORY);
        p.range(
            "release.failingPercent",
            self.release.failing_percent,
            0.0,
            100.0,
            false,
        );
        p.range(
            "release.errorRateMultiplier",
            self.release.error_rate_multiplier,
            1.0,
            1000.0,
            false,
        );
        let a = &self.analysis;
        p.int("analysis.windows", a.windows, 1, MAX_WINDOWS);
        p.range("analysis.windowMinutes", a.window_minutes, 0.0, 1440.0, true);
        p.range("analysis.canaryWeight", a.canary_weight, 0.0, 99.0, true);
        p.range("analysis.alpha", a.alpha, 0.0, 0.5, true);
        p.range("analysis.minRequests", a.min_requests, 0.0, 1e9, false);
        p.range("analysis.maxErrorRate", a.max_error_rate, 0.0, 1.0, true);
        if p.0.is_empty() {
            Ok(())
        } else {
            Err(FleetError::Invalid(p.0))
        }
    }
}
