//! One simulated environment: its traits (traffic, flaky, unhealthy, ...) and its rollout of the
//! release, ending in a Rollout phase and typed causes (`status.why`) from which the core builds
//! the [`EnvironmentOutcome`].
//!
//! The canary analysis is a cheap stand-in for the `error-ratio` judge, so that 17,000
//! environments take well under a second: after each window it compares the cumulative canary
//! and stable error counts with the conditional binomial test (given `m` errors in all, the
//! canary's count is Binomial(m, canary share of requests) when both versions fail alike), with
//! the counts divided by the gamma-Poisson variance factor `1 + burstiness × mean errors per
//! window` so bursts do not read as regressions, at `alpha / windows` per look (Bonferroni). A
//! canary whose arms saw fewer than `minRequests` requests at the end is Inconclusive
//! (`insufficient-data`): low-traffic environments rarely fail, they end undecided.

use std::collections::BTreeMap;

use rand::SeedableRng;
use rand_distr::{Distribution, Gamma, Poisson, StandardNormal, StandardUniform};
use rand_pcg::Pcg64;
use rollout_core::AnalysisPhase;
use rollout_core::analysis::judge::metadata_keys;
use rollout_core::analysis::provider::error_keys;
use rollout_core::fleet::{EnvironmentHistory, EnvironmentOutcome};
use rollout_core::rollout::why::{DecidingMetric, Why};
use rollout_core::rollout::{AnalysisRunKind, ObservedAnalysisRun, RolloutPhase};

use super::spec::{FLAKY_FAILURE_RATE, FleetSpec};

/// The Rollout revision of the update in every environment (the stable version is revision 1).
pub const UPDATE_REVISION: i64 = 2;

/// What an environment is, drawn once per environment.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    /// Name, `env-00042`.
    pub name: String,
    /// Its ring, if any.
    pub ring: Option<String>,
    /// Requests per minute.
    pub requests_per_minute: f64,
    /// Fails most releases.
    pub flaky: bool,
    /// The stable version is already unhealthy.
    pub unhealthy: bool,
    /// The release regresses here (bad releases only).
    pub affected: bool,
    /// Its record with earlier releases.
    pub history: EnvironmentHistory,
}

fn unit(rng: &mut Pcg64) -> f64 {
    StandardUniform.sample(rng)
}

/// A seed for environment `i` of a run with `seed` (SplitMix64 of both), so an environment's draws
/// do not depend on the plan's waves.
fn env_seed(seed: u64, i: u64, salt: u64) -> u64 {
    let mut z = seed
        .wrapping_add(i.wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(salt.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn bernoulli_count(rng: &mut Pcg64, n: u32, p: f64) -> u32 {
    (0..n).map(|_| u32::from(unit(rng) < p)).sum()
}

/// The fleet's environments, deterministic for `seed`; rings go to randomly chosen environments.
pub fn environments(spec: &FleetSpec, seed: u64) -> Vec<Environment> {
    let f = &spec.fleet;
    let n = f.environments;
    let affected_share = spec.release.failing_percent / 100.0;
    let mut envs: Vec<Environment> = (0..n)
        .map(|i| {
            let rng = &mut Pcg64::seed_from_u64(env_seed(seed, u64::from(i), 1));
            let z: f64 = StandardNormal.sample(rng);
            let flaky = unit(rng) < f.flaky_rate;
            let fail_rate = if flaky { FLAKY_FAILURE_RATE } else { f.fault_rate };
            Environment {
                name: format!("env-{i:05}"),
                ring: None,
                requests_per_minute: f.traffic.median_requests_per_minute * (f.traffic.spread * z).exp(),
                flaky,
                unhealthy: unit(rng) < f.unhealthy_rate,
                affected: unit(rng) < affected_share,
                history: EnvironmentHistory {
                    releases: f.history_releases,
                    failures: bernoulli_count(rng, f.history_releases, fail_rate),
                },
            }
        })
        .collect();
    // Rings: a seeded partial Fisher-Yates shuffle picks their members.
    let rng = &mut Pcg64::seed_from_u64(env_seed(seed, u64::MAX, 2));
    let mut order: Vec<usize> = (0..envs.len()).collect();
    let mut next = 0usize;
    for (ring, count) in &f.rings {
        for _ in 0..*count {
            if next >= order.len() {
                break;
            }
            let span = order.len() - next;
            let j = next + ((unit(rng) * span as f64) as usize).min(span - 1);
            order.swap(next, j);
            if let Some(env) = order.get(next).and_then(|&k| envs.get_mut(k)) {
                env.ring = Some(ring.clone());
            }
            next += 1;
        }
    }
    envs
}

fn poisson(rng: &mut Pcg64, lambda: f64) -> f64 {
    if !(lambda.is_finite() && lambda > 0.0) {
        return 0.0;
    }
    Poisson::new(lambda).map_or(lambda.round(), |d| d.sample(rng))
}

/// Errors among `n` requests at mean error rate `p`: gamma-Poisson with squared coefficient of
/// variation `burstiness` for the window's rate (Poisson when 0), at most `n`.
fn errors(rng: &mut Pcg64, n: f64, p: f64, burstiness: f64) -> f64 {
    let rate = if burstiness > 0.0 && p > 0.0 {
        Gamma::new(1.0 / burstiness, p * burstiness).map_or(p, |g| g.sample(rng))
    } else {
        p
    };
    poisson(rng, n * rate).min(n)
}

/// P(X ≥ c) for X ~ Binomial(m, q), continuous in c and m (the regularized incomplete beta
/// `I_q(c, m − c + 1)`), for counts scaled by a variance factor.
fn upper_tail(c: f64, m: f64, q: f64) -> f64 {
    if c <= 0.0 {
        return 1.0;
    }
    statrs::function::beta::checked_beta_reg(c, m - c + 1.0, q).unwrap_or(1.0)
}

/// How an environment's canary analysis ended.
enum Judged {
    Pass,
    Fail {
        canary: (f64, f64),
        stable: (f64, f64),
        p_value: f64,
    },
    Unhealthy {
        stable: (f64, f64),
    },
    Insufficient {
        canary_requests: f64,
    },
}

fn judge(spec: &FleetSpec, env: &Environment, rng: &mut Pcg64) -> Judged {
    let (f, a) = (&spec.fleet, &spec.analysis);
    let stable_rate = if env.unhealthy {
        (a.max_error_rate * 3.0).min(1.0)
    } else {
        f.error_rate
    };
    let canary_rate = if env.affected {
        (stable_rate * spec.release.error_rate_multiplier).min(1.0)
    } else {
        stable_rate
    };
    let w = a.canary_weight / 100.0;
    let per_window = env.requests_per_minute * a.window_minutes;
    let per_look = a.alpha / f64::from(a.windows.max(1));
    let (mut nc, mut c, mut ns, mut s) = (0.0, 0.0, 0.0, 0.0);
    for look in 1..=a.windows {
        let (wc, ws) = (poisson(rng, per_window * w), poisson(rng, per_window * (1.0 - w)));
        c += errors(rng, wc, canary_rate, f.burstiness);
        s += errors(rng, ws, stable_rate, f.burstiness);
        nc += wc;
        ns += ws;
        if ns >= a.min_requests && s / ns > a.max_error_rate {
            return Judged::Unhealthy { stable: (s, ns) };
        }
        if nc > 0.0 && ns > 0.0 && c / nc > s / ns {
            let m = c + s;
            let mean_errors = m / (2.0 * f64::from(look));
            let phi = 1.0 + f.burstiness * mean_errors;
            let p_value = upper_tail(c / phi, m / phi, nc / (nc + ns));
            if p_value < per_look {
                return Judged::Fail {
                    canary: (c, nc),
                    stable: (s, ns),
                    p_value,
                };
            }
        }
    }
    if nc >= a.min_requests && ns >= a.min_requests {
        Judged::Pass
    } else {
        Judged::Insufficient { canary_requests: nc }
    }
}

fn pct(errors: f64, requests: f64) -> f64 {
    if requests > 0.0 {
        100.0 * errors / requests
    } else {
        0.0
    }
}

fn analysis_why(
    env: &Environment,
    phase: AnalysisPhase,
    message: String,
    metadata: &[(&str, &str)],
) -> Vec<Why> {
    let run = ObservedAnalysisRun {
        name: format!("{}-canary-analysis", env.name),
        kind: AnalysisRunKind::Step,
        pod_template_hash: "release".into(),
        step_index: Some(1),
        phase,
        message: String::new(),
        terminating: false,
        created_at: None,
        decided_by: Some(DecidingMetric {
            name: "error-ratio".into(),
            phase,
            message,
            metadata: metadata
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect::<BTreeMap<_, _>>(),
        }),
    };
    let detail = format!("Metric \"error-ratio\" assessed {phase:?}");
    Why::analysis(&run, detail)
        .map(|mut w| {
            if w.is_abort() {
                w.revision = Some(UPDATE_REVISION);
            }
            w
        })
        .into_iter()
        .collect()
}

/// The environment's rollout of the release: transient trouble first (retried), then an
/// environment's own deployment failure, else the canary analysis.
pub fn roll_out(spec: &FleetSpec, seed: u64, index: u64, env: &Environment) -> EnvironmentOutcome {
    let f = &spec.fleet;
    let rng = &mut Pcg64::seed_from_u64(env_seed(seed, index, 3));
    let rs = format!("{}-release", env.name);
    let mut retry_succeeded = false;
    let (phase, why) = if unit(rng) < f.transient_rate {
        if unit(rng) < 0.5 {
            let unreachable = [(error_keys::KIND, "unreachable")];
            let why = analysis_why(
                env,
                AnalysisPhase::Error,
                "Post \"http://prometheus:9090/api/v1/query\": dial tcp: connection refused".into(),
                &unreachable,
            );
            retry_succeeded = unit(rng) < 0.5;
            (RolloutPhase::Degraded, why)
        } else {
            retry_succeeded = true;
            let why = Why::replica_failure(
                "FailedCreate",
                "Internal error occurred: the server was unable to return a response in the time allotted"
                    .into(),
            );
            (RolloutPhase::Degraded, vec![why])
        }
    } else if unit(rng)
        < if env.flaky {
            FLAKY_FAILURE_RATE
        } else {
            f.fault_rate
        }
    {
        if unit(rng) < 0.7 {
            let msg = format!("ReplicaSet \"{rs}\" has timed out progressing.");
            (
                RolloutPhase::Degraded,
                vec![Why::progress_deadline(Some(rs), msg)],
            )
        } else {
            let msg = format!("pods \"{rs}\" is forbidden: exceeded quota: compute-resources");
            (
                RolloutPhase::Degraded,
                vec![Why::replica_failure("FailedCreate", msg)],
            )
        }
    } else {
        let judge_name = (metadata_keys::NAME, "error-ratio");
        match judge(spec, env, rng) {
            Judged::Pass => (RolloutPhase::Healthy, Vec::new()),
            Judged::Fail {
                canary,
                stable,
                p_value,
            } => {
                let message = format!(
                    "canary error ratio {:.2}% vs stable {:.2}% over {} requests (p = {p_value:.1e})",
                    pct(canary.0, canary.1),
                    pct(stable.0, stable.1),
                    canary.1
                );
                let meta = [judge_name, (metadata_keys::CODE, judge_types::codes::REGRESSION)];
                (
                    RolloutPhase::Degraded,
                    analysis_why(env, AnalysisPhase::Failed, message, &meta),
                )
            }
            Judged::Unhealthy { stable } => {
                let message = format!(
                    "stable itself violates the SLO: error ratio {:.2}% > {:.2}%",
                    pct(stable.0, stable.1),
                    100.0 * spec.analysis.max_error_rate
                );
                let meta = [
                    judge_name,
                    (metadata_keys::CODE, judge_types::codes::ENVIRONMENT_UNHEALTHY),
                ];
                (
                    RolloutPhase::Paused,
                    analysis_why(env, AnalysisPhase::Inconclusive, message, &meta),
                )
            }
            Judged::Insufficient { canary_requests } => {
                let message = format!(
                    "{canary_requests} canary requests, {} needed",
                    spec.analysis.min_requests
                );
                let meta = [
                    judge_name,
                    (metadata_keys::CODE, judge_types::codes::INSUFFICIENT_DATA),
                ];
                (
                    RolloutPhase::Paused,
                    analysis_why(env, AnalysisPhase::Inconclusive, message, &meta),
                )
            }
        }
    };
    let mut outcome = EnvironmentOutcome::from_status(env.name.clone(), phase, why);
    outcome.stable_unhealthy_before = env.unhealthy;
    outcome.retry_succeeded = retry_succeeded;
    outcome.history = env.history;
    outcome
}
