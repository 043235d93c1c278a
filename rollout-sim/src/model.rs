//! The traffic and metrics model: Poisson request arrivals split between versions by traffic
//! share, binomial errors at each version's error rate, log-normal latencies; written as the
//! cumulative Prometheus series a real service would export, into a [`SeriesStore`].
//!
//! Series (all labelled `rollouts_pod_template_hash`, the hash of the ReplicaSet that served):
//! - `http_requests_total{code="200"|"500"}`;
//! - `http_request_duration_seconds_bucket{le=...}` (cumulative histogram) and `..._count`.

use std::collections::BTreeMap;
use std::time::Duration;

use rand::SeedableRng;
use rand_distr::{Binomial, Distribution, LogNormal, Poisson};
use rand_pcg::Pcg64;
use serde::Serialize;

use jiff::Timestamp;
use rollout_core::rollout::machine::is_baseline_hash;

use crate::cluster::SimReplicaSet;
use crate::promql::{Labels, SeriesStore};
use crate::scenario::VersionBehaviour;

/// Histogram bucket bounds in seconds (Prometheus client defaults).
pub const BUCKETS: [f64; 11] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// Latency samples drawn per version per tick at most; larger counts are scaled.
const MAX_LATENCY_SAMPLES: u64 = 2_000;

/// z-score of the 99th percentile of a standard normal.
const Z99: f64 = 2.326_347_874;

/// Name of the request counter.
pub const REQUESTS: &str = "http_requests_total";
/// Name of the latency histogram buckets.
pub const LATENCY_BUCKET: &str = "http_request_duration_seconds_bucket";
/// Name of the latency histogram count.
pub const LATENCY_COUNT: &str = "http_request_duration_seconds_count";
/// The label carrying the serving ReplicaSet's pod-template hash.
pub const HASH_LABEL: &str = "rollouts_pod_template_hash";

/// The share of traffic one version receives during a tick.
#[derive(Debug, Clone, PartialEq)]
pub struct Share {
    /// Pod-template hash of the serving ReplicaSet.
    pub hash: String,
    /// Fraction of all requests, 0..=1 (shares should sum to at most 1).
    pub fraction: f64,
    /// How it behaves during this tick.
    pub behaviour: VersionBehaviour,
}

/// What one version served during one tick.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
pub struct Served {
    /// Requests served.
    pub requests: u64,
    /// Of which failed.
    pub errors: u64,
}

#[derive(Debug, Clone, Default)]
struct Totals {
    ok: u64,
    errors: u64,
    buckets: [u64; BUCKETS.len()],
    count: u64,
}

/// Deterministic traffic generator: the same seed and inputs give the same series.
#[derive(Debug, Clone)]
pub struct TrafficModel {
    rng: Pcg64,
    requests_per_second: f64,
    totals: BTreeMap<String, Totals>,
}

impl TrafficModel {
    /// A model seeded with `seed`.
    pub fn new(seed: u64, requests_per_second: f64) -> Self {
        TrafficModel {
            rng: Pcg64::seed_from_u64(seed),
            requests_per_second: requests_per_second.max(0.0),
            totals: BTreeMap::new(),
        }
    }

    /// Generates `dt` of traffic ending at `t_ms`, writes every known series at `t_ms`, and
    /// returns what each hash served.
    pub fn tick(
        &mut self,
        t_ms: i64,
        dt: Duration,
        shares: &[Share],
        store: &mut SeriesStore,
    ) -> BTreeMap<String, Served> {
        let lambda = self.requests_per_second * dt.as_secs_f64();
        let total = poisson(&mut self.rng, lambda);
        let mut served = BTreeMap::new();
        let mut remaining = total;
        let mut remaining_fraction = 1.0f64;
        for share in shares {
            let fraction = share.fraction.clamp(0.0, 1.0);
            let p = if remaining_fraction <= 0.0 {
                0.0
            } else {
                (fraction / remaining_fraction).clamp(0.0, 1.0)
            };
            let n = binomial(&mut self.rng, remaining, p).min(remaining);
            remaining -= n;
            remaining_fraction -= fraction;
            let errors = binomial(&mut self.rng, n, share.behaviour.error_rate).min(n);
            let latency = latency_counts(&mut self.rng, n, &share.behaviour);
            // Counters saturate instead of overflowing (the scenario bounds keep them far below).
            let t = self.totals.entry(share.hash.clone()).or_default();
            t.ok = t.ok.saturating_add(n - errors);
            t.errors = t.errors.saturating_add(errors);
            t.count = t.count.saturating_add(n);
            for (acc, add) in t.buckets.iter_mut().zip(latency) {
                *acc = acc.saturating_add(add);
            }
            served.insert(share.hash.clone(), Served { requests: n, errors });
        }
        for (hash, t) in &self.totals {
            let base = |extra: &[(&str, &str)]| -> Labels {
                let mut l = Labels::new();
                l.insert(HASH_LABEL.to_string(), hash.clone());
                for (k, v) in extra {
                    l.insert((*k).to_string(), (*v).to_string());
                }
                l
            };
            store.push(REQUESTS, &base(&[("code", "200")]), t_ms, t.ok as f64);
            store.push(REQUESTS, &base(&[("code", "500")]), t_ms, t.errors as f64);
            for (le, count) in BUCKETS.iter().zip(t.buckets) {
                store.push(
                    LATENCY_BUCKET,
                    &base(&[("le", &format!("{le}"))]),
                    t_ms,
                    count as f64,
                );
            }
            store.push(LATENCY_BUCKET, &base(&[("le", "+Inf")]), t_ms, t.count as f64);
            store.push(LATENCY_COUNT, &base(&[]), t_ms, t.count as f64);
        }
        served
    }
}

/// A version's behaviour on one ReplicaSet under the persistent per-arm drift of pods started
/// during the update (scenario `freshPodExtraErrorRate`): the error rate rises by `extra` times
/// the share of the ReplicaSet's ready pods created at or after `since`. The canary and a baseline
/// arm started with it drift alike; the long-running stable pods do not.
pub fn drifted(
    behaviour: VersionBehaviour,
    rs: Option<&SimReplicaSet>,
    since: Timestamp,
    now: Timestamp,
    extra: f64,
) -> VersionBehaviour {
    let Some(rs) = rs.filter(|_| extra > 0.0) else {
        return behaviour;
    };
    let (mut fresh, mut ready) = (0.0, 0.0);
    for g in rs.pods.iter().filter(|g| g.ready_at.is_some_and(|t| t <= now)) {
        ready += f64::from(g.count);
        if g.created_at >= since {
            fresh += f64::from(g.count);
        }
    }
    let share = if ready > 0.0 { fresh / ready } else { 0.0 };
    VersionBehaviour {
        error_rate: (behaviour.error_rate + extra * share).clamp(0.0, 1.0),
        ..behaviour
    }
}

/// Pod-seconds spent by the simulated cluster: the cost of a rollout, and the part of it the
/// baseline arm adds (our extension `canary.baseline`, ReplicaSets whose hash marks them as
/// baseline arms).
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PodSeconds {
    /// Every pod that existed (ready or not), in pod-seconds.
    pub total: f64,
    /// Pods of baseline arms, in pod-seconds (included in `total`).
    pub baseline: f64,
}

impl PodSeconds {
    /// Adds `dt` of the pods the ReplicaSets hold now.
    pub fn add(&mut self, replica_sets: &[SimReplicaSet], dt: Duration) {
        let secs = dt.as_secs_f64();
        for rs in replica_sets {
            let pods = f64::from(rs.pod_count()) * secs;
            self.total += pods;
            if is_baseline_hash(&rs.hash) {
                self.baseline += pods;
            }
        }
    }
}

fn poisson(rng: &mut Pcg64, lambda: f64) -> u64 {
    if !(lambda.is_finite() && lambda > 0.0) {
        return 0;
    }
    match Poisson::new(lambda) {
        Ok(d) => {
            let x: f64 = d.sample(rng);
            x.max(0.0) as u64
        }
        Err(_) => lambda.round() as u64,
    }
}

fn binomial(rng: &mut Pcg64, n: u64, p: f64) -> u64 {
    if n == 0 || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return n;
    }
    Binomial::new(n, p).map(|d| d.sample(rng)).unwrap_or(0)
}

/// Cumulative counts per bucket bound for `n` requests.
fn latency_counts(rng: &mut Pcg64, n: u64, b: &VersionBehaviour) -> [u64; BUCKETS.len()] {
    let mut counts = [0u64; BUCKETS.len()];
    if n == 0 {
        return counts;
    }
    let mu = (b.latency_p50_ms / 1000.0).ln();
    let sigma = ((b.latency_p99_ms / b.latency_p50_ms).ln() / Z99).max(1e-9);
    let Ok(dist) = LogNormal::new(mu, sigma) else {
        return counts;
    };
    let draws = n.min(MAX_LATENCY_SAMPLES);
    for _ in 0..draws {
        let x: f64 = dist.sample(rng);
        for (c, le) in counts.iter_mut().zip(BUCKETS) {
            if x <= le {
                *c += 1;
            }
        }
    }
    if draws < n {
        let scale = n as f64 / draws as f64;
        for c in &mut counts {
            *c = ((*c as f64) * scale).round() as u64;
        }
    }
    counts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn behaviour(error_rate: f64) -> VersionBehaviour {
        VersionBehaviour {
            error_rate,
            ..VersionBehaviour::default()
        }
    }

    fn run(seed: u64) -> (SeriesStore, u64, u64) {
        let mut m = TrafficModel::new(seed, 100.0);
        let mut store = SeriesStore::new();
        let (mut canary, mut errors) = (0, 0);
        for k in 1..=60 {
            let shares = [
                Share {
                    hash: "c".into(),
                    fraction: 0.2,
                    behaviour: behaviour(0.1),
                },
                Share {
                    hash: "s".into(),
                    fraction: 0.8,
                    behaviour: behaviour(0.0),
                },
            ];
            let served = m.tick(k * 10_000, Duration::from_secs(10), &shares, &mut store);
            canary += served["c"].requests;
            errors += served["c"].errors;
            assert_eq!(served["s"].errors, 0);
        }
        (store, canary, errors)
    }

    #[test]
    fn same_seed_same_series_and_shares_hold_statistically() {
        let (a, canary, errors) = run(42);
        let (b, _, _) = run(42);
        assert_eq!(a, b);
        // 60 ticks * 10 s * 100 rps * 20% = 12,000 expected canary requests.
        assert!((11_400..=12_600).contains(&canary), "{canary}");
        let ratio = errors as f64 / canary as f64;
        assert!((0.085..=0.115).contains(&ratio), "{ratio}");
        let (c, _, _) = run(43);
        assert_ne!(a, c);
        // The store answers PromQL over the generated series.
        let q = a
            .query(
                r#"sum(http_requests_total{rollouts_pod_template_hash="c",code="500"}) / sum(http_requests_total{rollouts_pod_template_hash="c"})"#,
                600_000,
            )
            .unwrap();
        match q.result {
            analysis_providers::prometheus::QueryResult::Vector(v) => {
                assert!((v[0].points[0].1 - ratio).abs() < 1e-12)
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn latency_histogram_is_cumulative_and_near_the_median() {
        let mut rng = Pcg64::seed_from_u64(1);
        let counts = latency_counts(&mut rng, 1000, &VersionBehaviour::default());
        assert!(counts.windows(2).all(|w| w[0] <= w[1]));
        // p50 = 40 ms: about half the requests are under 50 ms, most under 250 ms.
        assert!((450..=750).contains(&counts[3]), "{counts:?}");
        assert!(counts[5] >= 950, "{counts:?}");
        assert_eq!(poisson(&mut rng, 0.0), 0);
        assert_eq!(binomial(&mut rng, 10, 1.0), 10);
    }

    fn replica_set(hash: &str, groups: &[(i64, Option<i64>, i32)]) -> SimReplicaSet {
        let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        SimReplicaSet {
            name: format!("demo-{hash}"),
            hash: hash.into(),
            revision: 1,
            created_at: at(0),
            replicas: groups.iter().map(|g| g.2).sum(),
            pods: groups
                .iter()
                .map(|&(created, ready, count)| crate::cluster::PodGroup {
                    created_at: at(created),
                    ready_at: ready.map(at),
                    count,
                })
                .collect(),
            scale_down_deadline: None,
            template: serde_json::Value::Null,
        }
    }

    #[test]
    fn fresh_pods_drift_in_proportion_and_pod_seconds_count_the_baseline_apart() {
        let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        // 3 ready pods from before the update (t=100), 1 ready and 4 not yet ready from after.
        let rs = replica_set("s", &[(0, Some(10), 3), (150, Some(160), 1), (190, None, 4)]);
        let b = behaviour(0.01);
        let d = drifted(b, Some(&rs), at(100), at(200), 0.02);
        assert!((d.error_rate - (0.01 + 0.02 * 0.25)).abs() < 1e-12, "{d:?}");
        assert_eq!(drifted(b, Some(&rs), at(100), at(200), 0.0), b);
        assert_eq!(drifted(b, None, at(100), at(200), 0.02), b);
        assert_eq!(
            drifted(behaviour(0.99), Some(&rs), at(0), at(200), 1.0).error_rate,
            1.0
        );
        let mut cost = PodSeconds::default();
        cost.add(
            &[rs, replica_set("s-baseline", &[(150, Some(160), 2)])],
            Duration::from_secs(10),
        );
        assert_eq!(
            cost,
            PodSeconds {
                total: 100.0,
                baseline: 20.0
            }
        );
    }
}
