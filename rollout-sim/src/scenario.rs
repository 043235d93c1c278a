//! Scenarios: the environment a simulated rollout runs in (traffic, how each version behaves, how
//! fast pods start) and the faults injected at a time, step or canary weight. Read from YAML.
//!
//! ```yaml
//! name: error-spike
//! description: The canary's error rate rises once it takes 40% of traffic.
//! seed: 7
//! traffic: {requestsPerSecond: 40}
//! stable: {errorRate: 0.01, latencyP50Ms: 40, latencyP99Ms: 180}
//! canary: {errorRate: 0.01, latencyP50Ms: 40, latencyP99Ms: 180}
//! pods: {readyAfter: 15s}
//! faults:
//!   - at: {canaryWeight: 40}
//!     canaryErrorRate: 0.2
//! ```
//!
//! Every value is checked against a range that keeps a simulation bounded (see the `MAX_*`
//! constants): at most [`MAX_REQUESTS_PER_SECOND`], latencies up to [`MAX_LATENCY_MS`], a tick
//! of 1s to [`MAX_TICK`], durations up to [`MAX_SIMULATED_DURATION`] and at most [`MAX_TICKS`]
//! ticks in `maxDuration`, at most [`MAX_FAULTS`] faults.

use std::time::Duration;

use rollout_core::common::parse_duration;
use serde::{Deserialize, Serialize};

/// The highest `traffic.requestsPerSecond`.
pub const MAX_REQUESTS_PER_SECOND: f64 = 1_000_000.0;
/// The highest latency (p50, p99, a latency fault), in milliseconds: one hour.
pub const MAX_LATENCY_MS: f64 = 3_600_000.0;
/// The longest `tick`.
pub const MAX_TICK: Duration = Duration::from_secs(3600);
/// The longest simulated duration: `maxDuration`, and every other duration of a scenario
/// (`pods.readyAfter`, `promotePausedAfter`, fault times and outages): 7 days.
pub const MAX_SIMULATED_DURATION: Duration = Duration::from_secs(7 * 24 * 3600);
/// The most ticks in `maxDuration` (`maxDuration / tick`): traffic, metrics and the timeline
/// grow by one point per tick.
pub const MAX_TICKS: u64 = 20_000;
/// The most faults.
pub const MAX_FAULTS: usize = 100;

/// Why a scenario is not usable.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum ScenarioError {
    /// The YAML did not parse or has unknown fields.
    #[error("scenario YAML: {0}")]
    Yaml(String),
    /// A field has an invalid value.
    #[error("scenario field {field}: {message}")]
    Invalid {
        /// Field path, e.g. `faults[1].at`.
        field: String,
        /// What is wrong.
        message: String,
    },
}

/// A complete scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Scenario {
    /// Short name.
    #[serde(default)]
    pub name: String,
    /// One-line description, shown by the CLI.
    #[serde(default)]
    pub description: String,
    /// Seed of the traffic model (the CLI's `--seed` overrides it).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Request rate.
    #[serde(default)]
    pub traffic: Traffic,
    /// Behaviour of the stable version.
    #[serde(default)]
    pub stable: VersionBehaviour,
    /// Behaviour of the canary version (before faults).
    #[serde(default)]
    pub canary: VersionBehaviour,
    /// Pod start-up.
    #[serde(default)]
    pub pods: Pods,
    /// Simulation step: traffic and metrics are produced every tick (default `10s`).
    #[serde(default = "default_tick")]
    pub tick: String,
    /// Stop after this much simulated time (default `6h`).
    #[serde(default = "default_max_duration")]
    pub max_duration: String,
    /// Simulate a person running `promote` this long after an indefinite pause starts
    /// (unset: the simulation ends at such a pause).
    #[serde(default)]
    pub promote_paused_after: Option<String>,
    /// Faults to inject.
    #[serde(default)]
    pub faults: Vec<Fault>,
    /// Persistent per-arm drift: pods started after the update was applied (the canary's, and the
    /// baseline arm's when the Rollout runs one) fail this much more often than their version
    /// does, as on a worse node or with cold caches. Default 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub fresh_pod_extra_error_rate: f64,
    /// Extra labels on every simulated series (e.g. `{job: checkout, namespace: shop}`), for
    /// templates that select on labels the traffic model does not set.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    /// Rollback-safe config: the pods need an immutable Secret named by content, and the update
    /// swaps it. Unset: ConfigMaps and Secrets are not modelled.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub config: Option<ConfigSwap>,
    /// The trigger policy the controller applies (`kind: RolloutPolicy`, see
    /// [`rollout_core::rollout::policy`]); the Rollout's `rollout.io/trigger` annotation picks the
    /// rule. The CLI's `--policy FILE` overrides it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub policy: Option<rollout_core::rollout::policy::Policy>,
}

/// The Secret a release swaps (a release tool names immutable Secrets by content: each release
/// creates a new one and may delete the previous one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigSwap {
    /// The Secret the deployed revision mounts.
    pub stable_secret: String,
    /// The Secret the update creates and mounts instead.
    pub canary_secret: String,
}

fn is_zero(x: &f64) -> bool {
    *x == 0.0
}

fn default_tick() -> String {
    "10s".to_string()
}

fn default_max_duration() -> String {
    "6h".to_string()
}

impl Default for Scenario {
    fn default() -> Self {
        Scenario {
            name: "healthy".to_string(),
            description: "A healthy canary: both versions serve 1% errors.".to_string(),
            seed: None,
            traffic: Traffic::default(),
            stable: VersionBehaviour::default(),
            canary: VersionBehaviour::default(),
            pods: Pods::default(),
            tick: default_tick(),
            max_duration: default_max_duration(),
            promote_paused_after: None,
            faults: Vec::new(),
            labels: Default::default(),
            fresh_pod_extra_error_rate: 0.0,
            config: None,
            policy: None,
        }
    }
}

/// Incoming traffic.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Traffic {
    /// Mean requests per second over all versions (Poisson arrivals). Low values model
    /// low-traffic environments.
    pub requests_per_second: f64,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            requests_per_second: 50.0,
        }
    }
}

/// How one version serves requests.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VersionBehaviour {
    /// Probability that a request fails with a 5xx.
    #[serde(default = "default_error_rate")]
    pub error_rate: f64,
    /// Median latency in milliseconds (log-normal).
    #[serde(default = "default_p50")]
    pub latency_p50_ms: f64,
    /// 99th percentile latency in milliseconds.
    #[serde(default = "default_p99")]
    pub latency_p99_ms: f64,
}

fn default_error_rate() -> f64 {
    0.01
}
fn default_p50() -> f64 {
    40.0
}
fn default_p99() -> f64 {
    200.0
}

impl Default for VersionBehaviour {
    fn default() -> Self {
        VersionBehaviour {
            error_rate: default_error_rate(),
            latency_p50_ms: default_p50(),
            latency_p99_ms: default_p99(),
        }
    }
}

/// Pod start-up.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Pods {
    /// Time from creation until a pod is ready (default `10s`).
    #[serde(default = "default_ready_after")]
    pub ready_after: String,
}

fn default_ready_after() -> String {
    "10s".to_string()
}

impl Default for Pods {
    fn default() -> Self {
        Pods {
            ready_after: default_ready_after(),
        }
    }
}

/// When a fault starts. Exactly one field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Trigger {
    /// Simulated time after the update was applied, e.g. `2m`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time: Option<String>,
    /// When the rollout reaches this step index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub step: Option<i32>,
    /// When the canary's traffic weight first reaches this value (percent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_weight: Option<i32>,
}

/// One fault. `at` plus exactly one effect.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Fault {
    /// When it starts.
    pub at: Trigger,
    /// From then on the canary fails this fraction of requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_error_rate: Option<f64>,
    /// From then on the stable version fails this fraction of requests.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable_error_rate: Option<f64>,
    /// From then on the canary's median latency is this many milliseconds (p99 scales with it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_latency_p50_ms: Option<f64>,
    /// The metric source is unreachable for this long (queries fail with "connection refused").
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics_unreachable: Option<String>,
    /// From then on new canary pods crash-loop and never become ready.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary_crash_loop: Option<bool>,
    /// The stable revision's Secret (`config.stableSecret`) is deleted, as a release tool does
    /// after creating the new one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delete_stable_config: Option<bool>,
}

/// A fault's effect, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Effect {
    /// Canary error rate.
    CanaryErrorRate(f64),
    /// Stable error rate.
    StableErrorRate(f64),
    /// Canary median latency (ms).
    CanaryLatency(f64),
    /// Metrics unreachable for a while.
    MetricsUnreachable(Duration),
    /// Canary pods crash-loop.
    CanaryCrashLoop,
    /// The stable revision's Secret is deleted.
    DeleteStableConfig,
}

/// A fault's trigger, validated.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum When {
    /// At a simulated time after the update.
    Time(Duration),
    /// At a step index.
    Step(i32),
    /// At a canary weight.
    CanaryWeight(i32),
}

impl Scenario {
    /// Parses and validates a scenario from YAML. The values are range-checked (see the module
    /// docs); the YAML itself is not size-checked here: bound untrusted text first, as the CLI
    /// does (file size, nesting depth and alias expansion, `rollout-cli/src/input.rs`).
    pub fn from_yaml(text: &str) -> Result<Self, ScenarioError> {
        let s: Scenario = serde_yaml::from_str(text).map_err(|e| ScenarioError::Yaml(e.to_string()))?;
        s.validate()?;
        Ok(s)
    }

    /// Checks every field; the first problem is returned with its path.
    pub fn validate(&self) -> Result<(), ScenarioError> {
        let bad = |field: &str, message: String| ScenarioError::Invalid {
            field: field.to_string(),
            message,
        };
        if !(0.0..=MAX_REQUESTS_PER_SECOND).contains(&self.traffic.requests_per_second) {
            return Err(bad(
                "traffic.requestsPerSecond",
                format!("must be a number from 0 to {MAX_REQUESTS_PER_SECOND}"),
            ));
        }
        for (name, v) in [("stable", &self.stable), ("canary", &self.canary)] {
            check_rate(&format!("{name}.errorRate"), v.error_rate)?;
            if !(v.latency_p50_ms > 0.0
                && v.latency_p99_ms >= v.latency_p50_ms
                && v.latency_p99_ms <= MAX_LATENCY_MS)
            {
                return Err(bad(
                    &format!("{name}.latencyP99Ms"),
                    format!("latencies must satisfy 0 < p50 <= p99 <= {MAX_LATENCY_MS}"),
                ));
            }
        }
        check_rate("freshPodExtraErrorRate", self.fresh_pod_extra_error_rate)?;
        let tick = self.tick()?;
        let max = self.max_duration()?;
        let ticks = max.as_secs() / tick.as_secs().max(1);
        if ticks > MAX_TICKS {
            return Err(bad(
                "maxDuration",
                format!(
                    "{} is {ticks} ticks of {}; at most {MAX_TICKS} ticks are simulated (raise tick or lower maxDuration)",
                    self.max_duration, self.tick
                ),
            ));
        }
        self.ready_after()?;
        self.promote_paused_after()?;
        if self.faults.len() > MAX_FAULTS {
            return Err(bad(
                "faults",
                format!("{} faults; at most {MAX_FAULTS} are allowed", self.faults.len()),
            ));
        }
        for i in 0..self.faults.len() {
            self.fault(i)?;
        }
        crate::provider::check_labels(&self.labels)?;
        if let Some(c) = &self.config {
            for (field, name) in [
                ("config.stableSecret", &c.stable_secret),
                ("config.canarySecret", &c.canary_secret),
            ] {
                let valid = !name.is_empty()
                    && name.len() <= 253
                    && name
                        .bytes()
                        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
                if !valid {
                    return Err(bad(
                        field,
                        format!(
                            "{name:?} is not a Secret name (lowercase letters, digits, '-' and '.', at most 253)"
                        ),
                    ));
                }
            }
            if c.stable_secret == c.canary_secret {
                return Err(bad(
                    "config.canarySecret",
                    "must differ from config.stableSecret".into(),
                ));
            }
        }
        if let Some(e) = self.policy.as_ref().and_then(|p| p.validate().into_iter().next()) {
            let text = e.to_string();
            let message = text.strip_prefix(&format!("{}: ", e.path)).unwrap_or(&text);
            return Err(bad(&format!("policy.{}", e.path), message.to_string()));
        }
        Ok(())
    }

    /// The tick.
    pub fn tick(&self) -> Result<Duration, ScenarioError> {
        let d = duration("tick", &self.tick)?;
        if d < Duration::from_secs(1) {
            return Err(ScenarioError::Invalid {
                field: "tick".into(),
                message: "must be at least 1s".into(),
            });
        }
        if d > MAX_TICK {
            return Err(ScenarioError::Invalid {
                field: "tick".into(),
                message: "must be at most 1h".into(),
            });
        }
        Ok(d)
    }

    /// The time limit.
    pub fn max_duration(&self) -> Result<Duration, ScenarioError> {
        duration("maxDuration", &self.max_duration)
    }

    /// Pod start-up delay.
    pub fn ready_after(&self) -> Result<Duration, ScenarioError> {
        duration("pods.readyAfter", &self.pods.ready_after)
    }

    /// Simulated promotion delay after an indefinite pause.
    pub fn promote_paused_after(&self) -> Result<Option<Duration>, ScenarioError> {
        self.promote_paused_after
            .as_deref()
            .map(|d| duration("promotePausedAfter", d))
            .transpose()
    }

    /// Fault `i`, validated.
    pub fn fault(&self, i: usize) -> Result<(When, Effect), ScenarioError> {
        let f = self.faults.get(i).ok_or_else(|| ScenarioError::Invalid {
            field: format!("faults[{i}]"),
            message: "no such fault".into(),
        })?;
        let path = |s: &str| format!("faults[{i}].{s}");
        let when = match (&f.at.time, f.at.step, f.at.canary_weight) {
            (Some(t), None, None) => When::Time(duration(&path("at.time"), t)?),
            (None, Some(s), None) if s >= 0 => When::Step(s),
            (None, None, Some(w)) if (0..=100).contains(&w) => When::CanaryWeight(w),
            _ => {
                return Err(ScenarioError::Invalid {
                    field: path("at"),
                    message: "give exactly one of time, step (>= 0) or canaryWeight (0..=100)".into(),
                });
            }
        };
        let mut effects = Vec::new();
        if let Some(r) = f.canary_error_rate {
            check_rate(&path("canaryErrorRate"), r)?;
            effects.push(Effect::CanaryErrorRate(r));
        }
        if let Some(r) = f.stable_error_rate {
            check_rate(&path("stableErrorRate"), r)?;
            effects.push(Effect::StableErrorRate(r));
        }
        if let Some(ms) = f.canary_latency_p50_ms {
            if !(ms > 0.0 && ms <= MAX_LATENCY_MS) {
                return Err(ScenarioError::Invalid {
                    field: path("canaryLatencyP50Ms"),
                    message: format!("must be > 0 and at most {MAX_LATENCY_MS}"),
                });
            }
            effects.push(Effect::CanaryLatency(ms));
        }
        if let Some(d) = &f.metrics_unreachable {
            effects.push(Effect::MetricsUnreachable(duration(
                &path("metricsUnreachable"),
                d,
            )?));
        }
        if f.canary_crash_loop == Some(true) {
            effects.push(Effect::CanaryCrashLoop);
        }
        if f.delete_stable_config == Some(true) {
            if self.config.is_none() {
                return Err(ScenarioError::Invalid {
                    field: path("deleteStableConfig"),
                    message: "needs `config` (the Secrets the release swaps)".into(),
                });
            }
            effects.push(Effect::DeleteStableConfig);
        }
        match effects.as_slice() {
            [one] => Ok((when, *one)),
            _ => Err(ScenarioError::Invalid {
                field: path(""),
                message: "give exactly one effect: canaryErrorRate, stableErrorRate, canaryLatencyP50Ms, \
                          metricsUnreachable, canaryCrashLoop: true or deleteStableConfig: true"
                    .into(),
            }),
        }
    }
}

fn check_rate(field: &str, r: f64) -> Result<(), ScenarioError> {
    if (0.0..=1.0).contains(&r) {
        Ok(())
    } else {
        Err(ScenarioError::Invalid {
            field: field.to_string(),
            message: format!("must be between 0 and 1, got {r}"),
        })
    }
}

/// Parses a duration of the scenario; none may exceed [`MAX_SIMULATED_DURATION`].
fn duration(field: &str, text: &str) -> Result<Duration, ScenarioError> {
    let d = parse_duration(text).map_err(|e| ScenarioError::Invalid {
        field: field.to_string(),
        message: e.to_string(),
    })?;
    if d > MAX_SIMULATED_DURATION {
        return Err(ScenarioError::Invalid {
            field: field.to_string(),
            message: format!("{text} is longer than the longest simulated duration, 168h (7 days)"),
        });
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_documented_example() {
        let s = Scenario::from_yaml(
            "name: error-spike\nseed: 7\ntraffic: {requestsPerSecond: 40}\npods: {readyAfter: 15s}\n\
             faults:\n  - at: {canaryWeight: 40}\n    canaryErrorRate: 0.2\n",
        )
        .unwrap();
        assert_eq!(s.seed, Some(7));
        assert_eq!(s.ready_after().unwrap(), Duration::from_secs(15));
        assert_eq!(
            s.fault(0).unwrap(),
            (When::CanaryWeight(40), Effect::CanaryErrorRate(0.2))
        );
        assert_eq!(s.tick().unwrap(), Duration::from_secs(10));
    }

    #[test]
    fn problems_name_the_field() {
        let cases = [
            (
                "traffic: {requestsPerSecond: -1}",
                "scenario field traffic.requestsPerSecond: must be a number from 0 to 1000000",
            ),
            (
                "traffic: {requestsPerSecond: 1e18}",
                "scenario field traffic.requestsPerSecond: must be a number from 0 to 1000000",
            ),
            (
                "maxDuration: 2562047h",
                "scenario field maxDuration: 2562047h is longer than the longest simulated duration, 168h (7 days)",
            ),
            (
                "maxDuration: 100h\ntick: 1s",
                "scenario field maxDuration: 100h is 360000 ticks of 1s; at most 20000 ticks are simulated \
                 (raise tick or lower maxDuration)",
            ),
            ("tick: 2h", "scenario field tick: must be at most 1h"),
            (
                "stable: {latencyP50Ms: 1, latencyP99Ms: .inf}",
                "scenario field stable.latencyP99Ms: latencies must satisfy 0 < p50 <= p99 <= 3600000",
            ),
            (
                "canary: {errorRate: .nan}",
                "scenario field canary.errorRate: must be between 0 and 1, got NaN",
            ),
            (
                "canary: {errorRate: 1.5}",
                "scenario field canary.errorRate: must be between 0 and 1, got 1.5",
            ),
            (
                "faults: [{at: {time: 1m, step: 2}, canaryErrorRate: 0.1}]",
                "scenario field faults[0].at: give exactly one of time, step (>= 0) or canaryWeight (0..=100)",
            ),
            ("tick: 10ms", "scenario field tick: must be at least 1s"),
            (
                "pods: {readyAfter: soon}",
                "scenario field pods.readyAfter: invalid duration \"soon\": expected a number",
            ),
        ];
        for (yaml, want) in cases {
            assert_eq!(Scenario::from_yaml(yaml).unwrap_err().to_string(), want, "{yaml}");
        }
        let err = Scenario::from_yaml("trafic: {}").unwrap_err().to_string();
        assert!(err.starts_with("scenario YAML: unknown field `trafic`"), "{err}");
        let err = Scenario::from_yaml("faults: [{at: {step: 1}}]")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("scenario field faults[0].: give exactly one effect"),
            "{err}"
        );
    }
}
