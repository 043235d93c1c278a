//! Pods one by one, for `spec.restartAt` restarts: the [`Cluster`]'s pod groups listed as pods
//! with synthetic names, and evictions. The ReplicaSet replaces an evicted pod at once with a new
//! one that becomes ready after the cluster's `ready_after` (or never, if its pods crash-loop).
//!
//! A pod is named `<ReplicaSet>-<group creation time in ns>-<index>`: pods of a group are
//! interchangeable, so evicting any name of a group removes one pod from it.

use jiff::Timestamp;
use rollout_core::rollout::ObservedPod;

use crate::cluster::Cluster;

/// The most pods listed one by one; a Rollout with more is not restarted (its pods are reported
/// as unknown, so the restart stays pending rather than being claimed done).
pub const MAX_LISTED_PODS: i64 = 10_000;

impl Cluster {
    /// Every pod of every ReplicaSet at `now`, or `None` beyond [`MAX_LISTED_PODS`].
    pub fn pods(&self, now: Timestamp) -> Option<Vec<ObservedPod>> {
        let total: i64 = self
            .replica_sets
            .iter()
            .flat_map(|rs| rs.pods.iter())
            .map(|g| i64::from(g.count))
            .sum();
        if total > MAX_LISTED_PODS {
            return None;
        }
        let mut out = Vec::new();
        for rs in &self.replica_sets {
            for g in &rs.pods {
                let ready_since = g.ready_at.filter(|t| *t <= now);
                for i in 0..g.count.max(0) {
                    out.push(ObservedPod {
                        name: format!("{}-{}-{i}", rs.name, g.created_at.as_nanosecond()),
                        replica_set: rs.name.clone(),
                        created_at: g.created_at,
                        ready: ready_since.is_some(),
                        ready_since,
                        terminating: false,
                    });
                }
            }
        }
        Some(out)
    }

    /// Evicts the pod `name` of `replica_set` at `now` and creates its replacement; returns
    /// whether a pod was found.
    pub fn evict(&mut self, name: &str, replica_set: &str, now: Timestamp) -> bool {
        let Some(group_key) = name
            .strip_prefix(replica_set)
            .and_then(|rest| rest.strip_prefix('-'))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(created, _)| created.parse::<i128>().ok())
        else {
            return false;
        };
        let Some(idx) = self.replica_sets.iter().position(|r| r.name == replica_set) else {
            return false;
        };
        let Some(hash) = self.replica_sets.get(idx).map(|r| r.hash.clone()) else {
            return false;
        };
        let replacement = self.new_pods(&hash, now, 1);
        let Some(rs) = self.replica_sets.get_mut(idx) else {
            return false;
        };
        let Some(group) = rs
            .pods
            .iter_mut()
            .find(|g| g.count > 0 && g.created_at.as_nanosecond() == group_key)
        else {
            return false;
        };
        group.count -= 1;
        rs.pods.retain(|g| g.count > 0);
        rs.pods.push(replacement);
        true
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rollout_core::rollout::{Action, Rollout};
    use serde_json::Value;

    use super::*;

    fn rollout() -> Rollout {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "demo"},
            "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "demo"}},
              "template": {"metadata": {"labels": {"app": "demo"}}, "spec": {"containers": [{"name": "c", "image": "demo:1"}]}},
              "strategy": {"canary": {"steps": [{"setWeight": 25}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn an_evicted_pod_is_replaced_by_a_new_unready_one() {
        let at = |s: i64| Timestamp::from_second(1_700_000_000 + s).unwrap();
        let mut c = Cluster::new(&rollout(), Duration::from_secs(10));
        let create = Action::CreateReplicaSet {
            name: "demo-a".into(),
            pod_template_hash: "a".into(),
            revision: 1,
            replicas: 3,
            template: Value::Null,
        };
        c.apply(&create, at(0));
        let pods = c.pods(at(20)).unwrap();
        assert_eq!(pods.len(), 3);
        assert!(pods.iter().all(|p| p.ready && p.created_at == at(0)));
        assert!(c.evict(&pods[1].name, "demo-a", at(20)));
        assert!(!c.evict("demo-a-nonsense", "demo-a", at(20)));
        assert!(!c.evict(&pods[1].name, "demo-b", at(20)));
        let after = c.pods(at(25)).unwrap();
        assert_eq!(after.len(), 3);
        assert_eq!(after.iter().filter(|p| p.created_at == at(0)).count(), 2);
        let new = after.iter().find(|p| p.created_at == at(20)).unwrap();
        assert!(!new.ready);
        assert_eq!(c.observe(at(25)).replica_sets[0].ready, 2);
        assert_eq!(c.observe(at(30)).replica_sets[0].ready, 3);
        assert!(c.pods(at(30)).unwrap().iter().all(|p| p.ready));
    }

    #[test]
    fn huge_replica_sets_are_not_listed() {
        let mut c = Cluster::new(&rollout(), Duration::from_secs(10));
        let create = Action::CreateReplicaSet {
            name: "demo-a".into(),
            pod_template_hash: "a".into(),
            revision: 1,
            replicas: i32::MAX,
            template: Value::Null,
        };
        c.apply(&create, Timestamp::UNIX_EPOCH);
        assert_eq!(c.pods(Timestamp::UNIX_EPOCH), None);
    }
}
