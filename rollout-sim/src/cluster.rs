//! The in-memory cluster: ReplicaSets with pods that become ready after a delay (or crash-loop),
//! Services, the traffic router's weight and the Rollout's events. It applies the machine's
//! [`Action`]s and produces the [`Observed`] snapshot for the next reconcile.
//!
//! Pods are modelled in aggregate: a ReplicaSet holds one [`PodGroup`] per scale-up (pods created
//! together become ready together), so the cost of scaling, observing and splitting traffic
//! depends on the number of scale-ups, never on the number of replicas (`replicas: 2147483647`
//! costs the same as `replicas: 2`).

use std::collections::BTreeSet;
use std::time::Duration;

use jiff::{SignedDuration, Timestamp};
use rollout_core::rollout::config_deps::{self, ConfigRef};
use rollout_core::rollout::{
    Action, Event, Observed, ObservedConfig, ObservedReplicaSet, ObservedService, ObservedWorkload, Rollout,
};

use crate::config::ConfigStore;
use serde::Serialize;
use serde_json::Value;

/// Pods of one ReplicaSet created by the same scale-up: they become ready together.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PodGroup {
    /// When they were created.
    pub created_at: Timestamp,
    /// When they become ready (`None`: never, they crash-loop).
    pub ready_at: Option<Timestamp>,
    /// How many pods (always > 0 in a ReplicaSet).
    pub count: i32,
}

impl PodGroup {
    fn is_ready(&self, now: Timestamp) -> bool {
        self.ready_at.is_some_and(|t| t <= now)
    }
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
    /// Pods, in groups created together (oldest first).
    pub pods: Vec<PodGroup>,
    /// `scale-down-deadline` annotation.
    pub scale_down_deadline: Option<Timestamp>,
    /// Pod template.
    #[serde(skip)]
    pub template: Value,
}

impl SimReplicaSet {
    /// Pods ready at `now`.
    pub fn ready(&self, now: Timestamp) -> i32 {
        self.pods
            .iter()
            .filter(|g| g.is_ready(now))
            .fold(0i32, |n, g| n.saturating_add(g.count))
    }

    /// Pods that exist (ready or not): `status.replicas`.
    pub fn pod_count(&self) -> i32 {
        self.pods.iter().fold(0i32, |n, g| n.saturating_add(g.count))
    }

    /// Scales to `target` pods at `now`: new pods join one group; scale-down removes pods that
    /// are not ready first, then the newest (as the ReplicaSet controller ranks them).
    fn scale_pods(&mut self, target: i32, new_pods: impl FnOnce(i32) -> PodGroup, now: Timestamp) {
        let current = self.pod_count();
        if target > current {
            self.pods.push(new_pods(target - current));
            return;
        }
        let mut excess = current - target;
        for only_unready in [true, false] {
            for g in self.pods.iter_mut().rev() {
                if excess == 0 {
                    break;
                }
                if only_unready && g.is_ready(now) {
                    continue;
                }
                let removed = g.count.min(excess);
                g.count -= removed;
                excess -= removed;
            }
        }
        self.pods.retain(|g| g.count > 0);
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
    /// The managed routes (`setHeaderRoute` / `setMirrorRoute`) the router holds, by name. The
    /// traffic model sends no headers and mirrors nothing, so they change no simulated traffic.
    pub managed_routes: BTreeSet<String>,
    /// Pod start-up delay.
    pub ready_after: Duration,
    /// Hashes whose new pods crash-loop.
    pub crash_looping: Vec<String>,
    /// Events emitted so far, with their time.
    pub events: Vec<(Timestamp, Event)>,
    /// The blue-green active Service, whose selector receives all traffic.
    pub active_service: Option<String>,
    /// The object `workloadRef` points at (its template is the Rollout's; `ScaleWorkload`
    /// scales it).
    pub workload: Option<ObservedWorkload>,
    /// ConfigMaps and Secrets, when the scenario models them (`None`: every object the pods
    /// need counts as present and none is observed).
    pub config: Option<ConfigStore>,
}

impl Cluster {
    /// A cluster for `rollout` with the Services its strategy names.
    pub fn new(rollout: &Rollout, ready_after: Duration) -> Self {
        let services = rollout
            .service_names()
            .map(|name| ObservedService {
                name: name.to_string(),
                selector_hash: None,
            })
            .collect();
        let active_service = rollout
            .blue_green()
            .map(|b| b.active_service.clone())
            .filter(|s| !s.is_empty());
        Cluster {
            replica_sets: Vec::new(),
            services,
            router: None,
            managed_routes: BTreeSet::new(),
            ready_after,
            crash_looping: Vec::new(),
            events: Vec::new(),
            active_service,
            workload: None,
            config: None,
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
                        status_replicas: rs.pod_count(),
                        ready,
                        available: ready,
                        scale_down_deadline: rs.scale_down_deadline,
                        template: Some(rs.template.clone()),
                        needs: config_deps::required(&rs.template),
                    }
                })
                .collect(),
            services: self.services.clone(),
            analysis_runs: Vec::new(),
            workload: self.workload.clone(),
            config: Vec::new(),
            pods: None,
        }
    }

    /// Each of `objects` present or missing (nothing when config is not modelled).
    pub fn observe_config(&self, objects: &[ConfigRef]) -> Vec<ObservedConfig> {
        self.config
            .as_ref()
            .map(|c| c.observe(objects))
            .unwrap_or_default()
    }

    /// Whether the pods of the ReplicaSet `hash` cannot start: it needs a missing object.
    fn config_missing(&self, hash: &str) -> bool {
        self.config.as_ref().is_some_and(|c| {
            self.by_hash(hash)
                .is_some_and(|rs| !c.all_present(&config_deps::required(&rs.template)))
        })
    }

    /// The ReplicaSet with this hash.
    pub fn by_hash(&self, hash: &str) -> Option<&SimReplicaSet> {
        self.replica_sets.iter().find(|r| r.hash == hash)
    }

    pub(crate) fn new_pods(&self, hash: &str, now: Timestamp, count: i32) -> PodGroup {
        let ready_at = if self.crash_looping.iter().any(|h| h == hash) || self.config_missing(hash) {
            None
        } else {
            SignedDuration::try_from(self.ready_after)
                .ok()
                .and_then(|d| now.checked_add(d).ok())
        };
        PodGroup {
            created_at: now,
            ready_at,
            count,
        }
    }

    fn scale(&mut self, idx: usize, to: i32, now: Timestamp) {
        let Some(hash) = self.replica_sets.get(idx).map(|r| r.hash.clone()) else {
            return;
        };
        let template = self.new_pods(&hash, now, 0);
        if let Some(rs) = self.replica_sets.get_mut(idx) {
            rs.replicas = to;
            rs.scale_pods(to.max(0), |count| PodGroup { count, ..template }, now);
        }
    }

    /// Adds a ReplicaSet with `replicas` new pods.
    fn create(
        &mut self,
        name: &str,
        hash: &str,
        revision: i64,
        replicas: i32,
        template: Value,
        now: Timestamp,
    ) {
        self.replica_sets.push(SimReplicaSet {
            name: name.to_string(),
            hash: hash.to_string(),
            revision,
            created_at: now,
            replicas: 0,
            pods: Vec::new(),
            scale_down_deadline: None,
            template,
        });
        let idx = self.replica_sets.len() - 1;
        self.scale(idx, replicas, now);
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
            } => self.create(
                name,
                pod_template_hash,
                *revision,
                *replicas,
                template.clone(),
                now,
            ),
            Action::CreateBaselineReplicaSet {
                name,
                source,
                pod_template_hash,
                replicas,
                labels,
            } => {
                let Some(src) = self.replica_sets.iter().find(|r| &r.name == source) else {
                    return;
                };
                let template =
                    rollout_core::rollout::machine::arm_template(&src.template, pod_template_hash, labels);
                let revision = src.revision;
                self.create(name, pod_template_hash, revision, *replicas, template, now);
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
            Action::DeleteReplicaSet { name } => {
                self.replica_sets.retain(|r| &r.name != name);
                if let Some(c) = &mut self.config {
                    c.forget_owner(name);
                }
            }
            Action::ProtectConfig { object, replica_set } => {
                if let Some(c) = &mut self.config {
                    c.protect(object, replica_set);
                }
            }
            Action::UnprotectConfig { object, replica_set } => {
                if let Some(c) = &mut self.config {
                    c.unprotect(object, replica_set);
                }
            }
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
            Action::ScaleWorkload { replicas, .. } => {
                if let Some(w) = &mut self.workload {
                    w.replicas = *replicas;
                }
            }
            Action::SetHeaderRoute(route) => self.set_route(&route.name, !route.removes()),
            Action::SetMirrorRoute(route) => self.set_route(&route.name, !route.removes()),
            Action::RemoveManagedRoutes { routes } => {
                for name in routes {
                    self.managed_routes.remove(name);
                }
            }
            Action::EvictPod { name, replica_set } => {
                self.evict(name, replica_set, now);
            }
            Action::CreateAnalysisRun(_)
            | Action::TerminateAnalysisRun { .. }
            | Action::DeleteAnalysisRun { .. } => {}
        }
    }

    fn set_route(&mut self, name: &str, present: bool) {
        if present {
            self.managed_routes.insert(name.to_string());
        } else {
            self.managed_routes.remove(name);
        }
    }

    /// The next time a pod becomes ready, after `now`.
    pub fn next_pod_ready(&self, now: Timestamp) -> Option<Timestamp> {
        self.replica_sets
            .iter()
            .flat_map(|rs| rs.pods.iter().filter_map(|g| g.ready_at))
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
            && r.canary_hash == r.stable_hash
            && ready(&r.stable_hash) > 0
        {
            // Promoted (or not started): the router sends everything to the stable version, even
            // while the old ReplicaSet's pods wait for their scale-down.
            return vec![(r.stable_hash.clone(), 1.0)];
        }
        if let Some(r) = &self.router
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
        let total: f64 = self.replica_sets.iter().map(|r| f64::from(r.ready(now))).sum();
        if total == 0.0 {
            return Vec::new();
        }
        self.replica_sets
            .iter()
            .filter(|r| r.ready(now) > 0)
            .map(|r| (r.hash.clone(), f64::from(r.ready(now)) / total))
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
    fn pods_are_groups_and_scale_down_removes_unready_pods_first() {
        let t0 = Timestamp::from_second(1_700_000_000).unwrap();
        let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        let mut c = Cluster::new(&rollout(), Duration::from_secs(10));
        let create = Action::CreateReplicaSet {
            name: "demo-a".into(),
            pod_template_hash: "a".into(),
            revision: 1,
            replicas: i32::MAX,
            template: Value::Null,
        };
        c.apply(&create, t0);
        let scale = |to| Action::ScaleReplicaSet {
            name: "demo-a".into(),
            from: 0,
            to,
        };
        // The largest replica count is one group, not two billion pods.
        assert_eq!(c.replica_sets[0].pods.len(), 1);
        assert_eq!(c.observe(at(10)).replica_sets[0].ready, i32::MAX);
        c.apply(&scale(4), at(10));
        c.apply(&scale(10), at(20));
        // 4 ready and 6 starting: scaling to 7 removes 3 of the starting pods, the ready stay.
        c.apply(&scale(7), at(25));
        let rs = c.observe(at(25)).replica_sets[0].clone();
        assert_eq!((rs.status_replicas, rs.ready), (7, 4));
        // Scaling to 2 removes the remaining 3 starting pods, then 2 of the ready ones.
        c.apply(&scale(2), at(25));
        let rs = c.observe(at(40)).replica_sets[0].clone();
        assert_eq!((rs.status_replicas, rs.ready), (2, 2));
        assert_eq!(c.replica_sets[0].pods.len(), 1);
        // Two ReplicaSets at the largest count split traffic without overflowing.
        c.apply(&scale(i32::MAX), at(40));
        c.apply(
            &Action::CreateReplicaSet {
                name: "demo-b".into(),
                pod_template_hash: "b".into(),
                revision: 2,
                replicas: i32::MAX,
                template: Value::Null,
            },
            at(40),
        );
        let split = c.traffic_split(at(60), 100);
        assert_eq!(split.len(), 2);
        assert!(split.iter().all(|(_, f)| (*f - 0.5).abs() < 1e-9), "{split:?}");
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
