//! The in-memory cluster: ReplicaSets with pods that become ready after a delay (or crash-loop),
//! Services, the traffic router's weight and the Rollout's events. It applies the machine's
//! [`Action`]s and produces the [`Observed`] snapshot for the next reconcile.

use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rollout_core::rollout::{Action, Event, Observed, ObservedReplicaSet, ObservedService, Rollout};
use serde::Serialize;
use serde_json::Value;

/// One pod.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pod {
    /// When it was created.
    pub created_at: Timestamp,
    /// When it becomes ready (`None`: never, it crash-loops).
    pub ready_at: Option<Timestamp>,
}

/// One ReplicaSet and its pods.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SimReplicaSet {
    /// Name.
    pub name: String,
    /// Pod-template hash.
    pub hash: String,
    /// Revision annotation.
    pub revision: i64,
    /// Creation time.
    pub created_at: Timestamp,
    /// `spec.replicas`.
    pub replicas: i32,
    /// Pods (oldest first).
    pub pods: Vec<Pod>,
    /// `scale-down-deadline` annotation.
    pub scale_down_deadline: Option<Timestamp>,
    /// Pod template.
    #[serde(skip)]
    pub template: Value,
}

impl SimReplicaSet {
    /// Pods ready at `now`.
    pub fn ready(&self, now: Timestamp) -> i32 {
        let n = self
            .pods
            .iter()
            .filter(|p| p.ready_at.is_some_and(|t| t <= now))
            .count();
        i32::try_from(n).unwrap_or(i32::MAX)
    }
}

/// The traffic router's current split.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouterWeight {
    /// Canary hash.
    pub canary_hash: String,
    /// Stable hash.
    pub stable_hash: String,
    /// Canary weight in percent of `maxTrafficWeight`.
    pub weight: i32,
}

/// Everything the simulated cluster holds besides AnalysisRuns (see [`crate::driver`]).
#[derive(Debug, Clone)]
pub struct Cluster {
    /// ReplicaSets owned by the Rollout.
    pub replica_sets: Vec<SimReplicaSet>,
    /// Services and the hash their selector pins.
    pub services: Vec<ObservedService>,
    /// The router's split, once set.
    pub router: Option<RouterWeight>,
    /// Pod start-up delay.
    pub ready_after: Duration,
    /// Hashes whose new pods crash-loop.
    pub crash_looping: Vec<String>,
    /// Events emitted so far, with their time.
    pub events: Vec<(Timestamp, Event)>,
    /// The blue-green active Service, whose selector receives all traffic.
    pub active_service: Option<String>,
}

impl Cluster {
    /// A cluster for `rollout` with the Services its strategy names.
    pub fn new(rollout: &Rollout, ready_after: Duration) -> Self {
        let mut services = Vec::new();
        if let Some(c) = rollout.canary() {
            for s in [&c.canary_service, &c.stable_service] {
                if !s.is_empty() {
                    services.push(ObservedService {
                        name: s.clone(),
                        selector_hash: None,
                    });
                }
            }
        }
        let active_service = rollout
            .blue_green()
            .map(|b| b.active_service.clone())
            .filter(|s| !s.is_empty());
        if let Some(b) = rollout.blue_green() {
            for s in [&b.active_service, &b.preview_service] {
                if !s.is_empty() {
                    services.push(ObservedService {
                        name: s.clone(),
                        selector_hash: None,
                    });
                }
            }
        }
        Cluster {
            replica_sets: Vec::new(),
            services,
            router: None,
            ready_after,
            crash_looping: Vec::new(),
            events: Vec::new(),
            active_service,
        }
    }

    /// The snapshot the machine sees (AnalysisRuns are added by the driver).
    pub fn observe(&self, now: Timestamp) -> Observed {
        Observed {
            replica_sets: self
                .replica_sets
                .iter()
                .map(|rs| {
                    let ready = rs.ready(now);
                    ObservedReplicaSet {
                        name: rs.name.clone(),
                        pod_template_hash: rs.hash.clone(),
                        revision: rs.revision,
                        created_at: rs.created_at,
                        replicas: rs.replicas,
                        status_replicas: i32::try_from(rs.pods.len()).unwrap_or(i32::MAX),
                        ready,
                        available: ready,
                        scale_down_deadline: rs.scale_down_deadline,
                        template: Some(rs.template.clone()),
                    }
                })
                .collect(),
            services: self.services.clone(),
            analysis_runs: Vec::new(),
            workload: None,
        }
    }

    /// The ReplicaSet with this hash.
    pub fn by_hash(&self, hash: &str) -> Option<&SimReplicaSet> {
        self.replica_sets.iter().find(|r| r.hash == hash)
    }

    fn new_pod(&self, hash: &str, now: Timestamp) -> Pod {
        let ready_at = if self.crash_looping.iter().any(|h| h == hash) {
            None
        } else {
            SignedDuration::try_from(self.ready_after)
                .ok()
                .and_then(|d| now.checked_add(d).ok())
        };
        Pod {
            created_at: now,
            ready_at,
        }
    }

    fn scale(&mut self, idx: usize, to: i32, now: Timestamp) {
        let Some(hash) = self.replica_sets.get(idx).map(|r| r.hash.clone()) else {
            return;
        };
        let target = usize::try_from(to.max(0)).unwrap_or(0);
        let mut fresh = Vec::new();
        if let Some(rs) = self.replica_sets.get(idx) {
            for _ in rs.pods.len()..target {
                fresh.push(self.new_pod(&hash, now));
            }
        }
        if let Some(rs) = self.replica_sets.get_mut(idx) {
            rs.replicas = to;
            rs.pods.extend(fresh);
            // Scale-down removes pods that are not ready first, then the newest.
            while rs.pods.len() > target {
                let victim = rs
                    .pods
                    .iter()
                    .rposition(|p| p.ready_at.is_none_or(|t| t > now))
                    .unwrap_or(rs.pods.len() - 1);
                rs.pods.remove(victim);
            }
        }
    }

    /// Applies one action at `now`. AnalysisRun actions are handled by the driver.
    pub fn apply(&mut self, action: &Action, now: Timestamp) {
        match action {
            Action::CreateReplicaSet {
                name,
                pod_template_hash,
                revision,
                replicas,
                template,
            } => {
                self.replica_sets.push(SimReplicaSet {
                    name: name.clone(),
                    hash: pod_template_hash.clone(),
                    revision: *revision,
                    created_at: now,
                    replicas: 0,
                    pods: Vec::new(),
                    scale_down_deadline: None,
                    template: template.clone(),
                });
                let idx = self.replica_sets.len() - 1;
                self.scale(idx, *replicas, now);
            }
            Action::ScaleReplicaSet { name, to, .. } => {
                if let Some(idx) = self.replica_sets.iter().position(|r| &r.name == name) {
                    self.scale(idx, *to, now);
                }
            }
            Action::SetScaleDownDeadline { name, deadline } => {
                if let Some(rs) = self.replica_sets.iter_mut().find(|r| &r.name == name) {
                    rs.scale_down_deadline = *deadline;
                }
            }
            Action::SetReplicaSetRevision { name, revision } => {
                if let Some(rs) = self.replica_sets.iter_mut().find(|r| &r.name == name) {
                    rs.revision = *revision;
                }
            }
            Action::DeleteReplicaSet { name } => self.replica_sets.retain(|r| &r.name != name),
            Action::SetServiceSelector {
                service,
                pod_template_hash,
            } => match self.services.iter_mut().find(|s| &s.name == service) {
                Some(s) => s.selector_hash = Some(pod_template_hash.clone()),
                None => self.services.push(ObservedService {
                    name: service.clone(),
                    selector_hash: Some(pod_template_hash.clone()),
                }),
            },
            Action::SetTrafficWeight {
                canary_hash,
                stable_hash,
                weight,
            } => {
                self.router = Some(RouterWeight {
                    canary_hash: canary_hash.clone(),
                    stable_hash: stable_hash.clone(),
                    weight: *weight,
                });
            }
            Action::Event(e) => self.events.push((now, e.clone())),
            Action::CreateAnalysisRun(_)
            | Action::TerminateAnalysisRun { .. }
            | Action::ScaleWorkload { .. } => {}
        }
    }

    /// The next time a pod becomes ready, after `now`.
    pub fn next_pod_ready(&self, now: Timestamp) -> Option<Timestamp> {
        self.replica_sets
            .iter()
            .flat_map(|rs| rs.pods.iter().filter_map(|p| p.ready_at))
            .filter(|t| *t > now)
            .min()
    }

    /// Traffic fractions by hash: all to the blue-green active Service's selector, else the
    /// router's split when one is set (each side only if it has ready pods), else in proportion
    /// to ready pods.
    pub fn traffic_split(&self, now: Timestamp, max_weight: i32) -> Vec<(String, f64)> {
        let ready = |h: &str| self.by_hash(h).map_or(0, |r| r.ready(now));
        if let Some(active) = &self.active_service
            && let Some(hash) = self
                .services
                .iter()
                .find(|s| &s.name == active)
                .and_then(|s| s.selector_hash.clone())
            && ready(&hash) > 0
        {
            return vec![(hash, 1.0)];
        }
        if let Some(r) = &self.router
            && r.canary_hash != r.stable_hash
            && ready(&r.stable_hash) > 0
        {
            let max = f64::from(max_weight.max(1));
            let w = f64::from(r.weight.clamp(0, max_weight.max(1))) / max;
            let canary = if ready(&r.canary_hash) > 0 { w } else { 0.0 };
            return vec![
                (r.canary_hash.clone(), canary),
                (r.stable_hash.clone(), 1.0 - canary),
            ];
        }
        let total: i32 = self.replica_sets.iter().map(|r| r.ready(now)).sum();
        if total == 0 {
            return Vec::new();
        }
        self.replica_sets
            .iter()
            .filter(|r| r.ready(now) > 0)
            .map(|r| (r.hash.clone(), f64::from(r.ready(now)) / f64::from(total)))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout() -> Rollout {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "demo"},
            "spec": {"replicas": 4, "selector": {"matchLabels": {"app": "demo"}},
              "template": {"metadata": {"labels": {"app": "demo"}}, "spec": {"containers": [{"name": "c", "image": "demo:1"}]}},
              "strategy": {"canary": {"steps": [{"setWeight": 25}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn pods_become_ready_after_the_delay_and_crash_loops_never_do() {
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        let mut c = Cluster::new(&rollout(), Duration::from_secs(15));
        c.crash_looping.push("bad".into());
        for (name, hash) in [("demo-good", "good"), ("demo-bad", "bad")] {
            c.apply(
                &Action::CreateReplicaSet {
                    name: name.into(),
                    pod_template_hash: hash.into(),
                    revision: 1,
                    replicas: 3,
                    template: Value::Null,
                },
                t0,
            );
        }
        let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        assert_eq!(c.observe(at(14)).replica_sets[0].ready, 0);
        assert_eq!(c.observe(at(15)).replica_sets[0].ready, 3);
        assert_eq!(c.observe(at(999)).replica_sets[1].ready, 0);
        assert_eq!(c.next_pod_ready(t0), Some(at(15)));
        // Basic canary: traffic follows ready pods.
        assert_eq!(c.traffic_split(at(20), 100), vec![("good".to_string(), 1.0)]);
        c.apply(
            &Action::ScaleReplicaSet {
                name: "demo-good".into(),
                from: 3,
                to: 1,
            },
            at(20),
        );
        assert_eq!(c.observe(at(20)).replica_sets[0].ready, 1);
        c.apply(
            &Action::SetTrafficWeight {
                canary_hash: "bad".into(),
                stable_hash: "good".into(),
                weight: 30,
            },
            at(20),
        );
        // The canary has no ready pods: it gets no traffic even with weight 30.
        assert_eq!(
            c.traffic_split(at(20), 100),
            vec![("bad".to_string(), 0.0), ("good".to_string(), 1.0)]
        );
    }
}
