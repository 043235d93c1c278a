//! [`SeenRollouts`]: the Rollouts as the controller's watch delivered them, read by a reconcile
//! instead of a GET when they are not older than its last write.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use futures::Stream;
use kube::ResourceExt;
use kube::runtime::watcher;
use rollout_core::rollout::Rollout as CoreRollout;
use rollout_driver::Kept;
use serde_json::Value;

use crate::resources::Rollout;

/// The Rollouts as the controller's watch last delivered them, decoded into the core's
/// [`CoreRollout`] once per watch event (not per reconcile: decoding was a sixth of a
/// steady-state reconcile), so a reconcile reads its Rollout without a GET (as Argo's informers
/// do). Clones share the cache.
///
/// Staleness rule: our own status (and annotation) writes reach the watch some time after the
/// server answered them, so a reconcile triggered in between would see the status from before
/// its previous write and could repeat that write's actions (a second ReplicaSet create, a
/// second step's events). So the server's answer to each write is kept
/// ([`SeenRollouts::wrote`]) and the cached copy is used only when its `resourceVersion` is
/// ≥ that one; otherwise, or when either version is not an integer (the API server's are
/// etcd revisions, but the API calls them opaque), or after a failed reconcile
/// ([`SeenRollouts::forget`]), the reconcile GETs the Rollout. Other writers' changes (a user's
/// `promote`) are the informer case: a copy older than them fails the status write's
/// `resourceVersion` precondition with 409 and the retry reads from the server. A relist
/// (`Init`..`InitDone`) replaces the whole cache; deleted Rollouts vanish.
#[derive(Clone, Default)]
pub struct SeenRollouts {
    inner: Arc<Mutex<SeenInner>>,
}

/// Namespace and name.
type Key = (String, String);

#[derive(Default)]
struct SeenInner {
    seen: HashMap<Key, Seen>,
    /// A relist in progress: the Rollouts listed so far.
    relist: Option<HashMap<Key, Seen>>,
    /// The `resourceVersion` of our last write, per Rollout the watch has not caught up with.
    written: HashMap<Key, u64>,
    /// What the last reconcile's driver kept, per Rollout still watched.
    kept: HashMap<Key, Kept>,
}

#[derive(Clone)]
struct Seen {
    resource_version: u64,
    rollout: Arc<CoreRollout>,
}

fn key_of(ro: &Rollout) -> Key {
    (ro.namespace().unwrap_or_default(), ro.name_any())
}

fn key(ns: &str, name: &str) -> Key {
    (ns.to_string(), name.to_string())
}

/// `ro` as cached, in the core's shape without `managedFields`, when its `resourceVersion` is
/// an integer and it decodes (else `None`: a reconcile GETs it and reports what is unreadable).
fn seen_of(ro: &Rollout) -> Option<Seen> {
    let resource_version = ro.resource_version()?.parse().ok()?;
    let mut json = ro.as_json();
    if let Some(meta) = json.get_mut("metadata").and_then(Value::as_object_mut) {
        meta.remove("managedFields");
    }
    Some(Seen {
        resource_version,
        rollout: Arc::new(serde_json::from_value(json).ok()?),
    })
}

impl SeenRollouts {
    fn lock(&self) -> std::sync::MutexGuard<'_, SeenInner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Applies one watch event of the (untrimmed) Rollout watch.
    pub fn apply(&self, event: &watcher::Event<Rollout>) {
        let mut inner = self.lock();
        match event {
            watcher::Event::Apply(ro) => {
                let key = key_of(ro);
                match seen_of(ro) {
                    Some(seen) => {
                        if inner
                            .written
                            .get(&key)
                            .is_some_and(|w| *w <= seen.resource_version)
                        {
                            inner.written.remove(&key);
                        }
                        inner.seen.insert(key, seen);
                    }
                    None => {
                        inner.seen.remove(&key);
                    }
                }
            }
            watcher::Event::Delete(ro) => {
                let key = key_of(ro);
                inner.seen.remove(&key);
                inner.written.remove(&key);
                inner.kept.remove(&key);
            }
            watcher::Event::Init => inner.relist = Some(HashMap::new()),
            watcher::Event::InitApply(ro) => {
                let relist = inner.relist.get_or_insert_default();
                match seen_of(ro) {
                    Some(seen) => relist.insert(key_of(ro), seen),
                    None => relist.remove(&key_of(ro)),
                };
            }
            watcher::Event::InitDone => {
                let listed = inner.relist.take().unwrap_or_default();
                let SeenInner {
                    seen, written, kept, ..
                } = &mut *inner;
                written.retain(|k, w| listed.get(k).is_some_and(|s| s.resource_version < *w));
                kept.retain(|k, _| listed.contains_key(k));
                *seen = listed;
            }
        }
    }

    /// `stream` (the Rollout watcher's, before any trimming) with every event applied first.
    pub fn track<S>(&self, stream: S) -> impl Stream<Item = watcher::Result<watcher::Event<Rollout>>> + use<S>
    where
        S: Stream<Item = watcher::Result<watcher::Event<Rollout>>>,
    {
        let seen = self.clone();
        crate::owner_index::each_event(stream, move |event| seen.apply(event))
    }

    /// The cached Rollout `ns/name` and its `resourceVersion`, unless it is older than our
    /// last write to it (see the type's doc), absent, or unreadable.
    pub fn get(&self, ns: &str, name: &str) -> Option<(String, Arc<CoreRollout>)> {
        let seen = {
            let inner = self.lock();
            let key = key(ns, name);
            let seen = inner.seen.get(&key)?;
            if inner
                .written
                .get(&key)
                .is_some_and(|w| seen.resource_version < *w)
            {
                return None;
            }
            seen.clone()
        };
        Some((seen.resource_version.to_string(), seen.rollout))
    }

    /// Records that the server answered a write to `ns/name` with `resource_version` (one that
    /// is not an integer keeps every read of it a GET until the Rollout is deleted or relisted).
    pub fn wrote(&self, ns: &str, name: &str, resource_version: &str) {
        let mut inner = self.lock();
        let key = key(ns, name);
        let rv = resource_version.parse().unwrap_or(u64::MAX);
        if inner.seen.get(&key).is_some_and(|s| s.resource_version >= rv) {
            return;
        }
        let w = inner.written.entry(key).or_insert(rv);
        *w = (*w).max(rv);
    }

    /// What the last reconcile of `ns/name` kept (taken out; default when nothing was kept).
    pub fn take_kept(&self, ns: &str, name: &str) -> Kept {
        let key = key(ns, name);
        self.lock().kept.remove(&key).unwrap_or_default()
    }

    /// Keeps `kept` for the next reconcile of `ns/name`, while the watch has the Rollout (one
    /// deleted meanwhile keeps nothing, so nothing outlives its Rollout).
    pub fn keep(&self, ns: &str, name: &str, kept: Kept) {
        let mut inner = self.lock();
        let key = key(ns, name);
        if inner.seen.contains_key(&key) {
            inner.kept.insert(key, kept);
        }
    }

    /// Drops the cached copy of `ns/name` until the next watch event for it (the next read GETs).
    pub fn forget(&self, ns: &str, name: &str) {
        self.lock().seen.remove(&key(ns, name));
    }
}

#[cfg(test)]
mod tests {
    use kube::runtime::watcher::Event;
    use serde_json::{Value, json};

    use super::*;

    fn cached(name: &str, rv: &str, spec: Value) -> Rollout {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": "ns", "resourceVersion": rv, "uid": "u1"},
            "spec": spec, "status": {"currentStepIndex": 1}
        }))
        .unwrap()
    }

    fn ok(name: &str, rv: &str) -> Rollout {
        cached(name, rv, json!({"replicas": 1}))
    }

    fn rv_of(seen: &SeenRollouts, name: &str) -> Option<String> {
        seen.get("ns", name).map(|(rv, _)| rv)
    }

    #[test]
    fn a_cached_read_equals_the_conversion_of_the_watched_object() {
        let full = |status: Value| -> Rollout {
            serde_json::from_value(json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": "a", "namespace": "ns", "resourceVersion": "7", "uid": "u1",
                             "generation": 4, "labels": {"app": "a"},
                             "annotations": {"rollout.argoproj.io/revision": "3"}},
                "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "a"}},
                         "template": {"metadata": {"labels": {"app": "a"}},
                                      "spec": {"containers": [{"name": "c", "image": "i:2"}]}},
                         "strategy": {"canary": {"steps": [{"setWeight": 20}, {"pause": {"duration": "1m"}}]}},
                         "futureField": {"kept": true}},
                "status": status
            }))
            .unwrap()
        };
        let with_status = full(
            json!({"currentStepIndex": 1, "phase": "Paused", "pauseConditions":
            [{"reason": "CanaryPauseStep", "startTime": "2026-12-02T10:00:00Z"}],
            "conditions": [{"type": "Progressing", "status": "True", "reason": "NewReplicaSetAvailable",
                            "message": "m", "lastUpdateTime": "2026-12-02T10:00:00Z",
                            "lastTransitionTime": "2026-12-02T10:00:00Z"}]}),
        );
        for ro in [with_status, full(Value::Null)] {
            let seen = SeenRollouts::default();
            seen.apply(&Event::Apply(ro.clone()));
            let (rv, cached) = seen.get("ns", "a").unwrap();
            assert_eq!(rv, "7");
            assert_eq!(*cached, ro.to_core().unwrap());
        }
        // managedFields are not kept (the core keeps unknown metadata in `extra`).
        let mut managed = ok("m", "3");
        managed.metadata.managed_fields = Some(vec![Default::default()]);
        let seen = SeenRollouts::default();
        seen.apply(&Event::Apply(managed));
        let (_, cached) = seen.get("ns", "m").unwrap();
        assert!(!cached.metadata.extra.contains_key("managedFields"));
    }

    #[test]
    fn a_cached_rollout_older_than_our_last_write_is_not_read() {
        let seen = SeenRollouts::default();
        seen.apply(&Event::Apply(ok("a", "10")));
        let (rv, ro) = seen.get("ns", "a").unwrap();
        assert_eq!((rv.as_str(), ro.status.current_step_index), ("10", Some(1)));
        // We wrote the status (server answered 12): the copy at 10 is stale until the watch
        // delivers 12 or later.
        seen.wrote("ns", "a", "12");
        assert_eq!(rv_of(&seen, "a"), None);
        seen.apply(&Event::Apply(ok("a", "11")));
        assert_eq!(rv_of(&seen, "a"), None, "another writer's version before ours");
        seen.apply(&Event::Apply(ok("a", "12")));
        assert_eq!(rv_of(&seen, "a").as_deref(), Some("12"));
        assert!(seen.lock().written.is_empty(), "caught up: nothing kept");
        // A write the watch already delivered keeps nothing either.
        seen.wrote("ns", "a", "12");
        assert!(seen.lock().written.is_empty());
        // A version that is not an integer: GET from then on.
        seen.wrote("ns", "a", "opaque");
        assert_eq!(rv_of(&seen, "a"), None);
        seen.apply(&Event::Apply(ok("a", "99")));
        assert_eq!(rv_of(&seen, "a"), None);
    }

    #[test]
    fn unreadable_forgotten_deleted_and_relisted_rollouts_are_read_from_the_server() {
        let seen = SeenRollouts::default();
        seen.apply(&Event::Apply(ok("a", "1")));
        seen.apply(&Event::Apply(cached("a", "2", json!({"replicas": "two"}))));
        assert_eq!(rv_of(&seen, "a"), None, "an unreadable spec: the GET reports it");
        seen.apply(&Event::Apply(ok("a", "3")));
        seen.forget("ns", "a");
        assert_eq!(rv_of(&seen, "a"), None, "after a failed reconcile");
        seen.apply(&Event::Apply(ok("a", "4")));
        seen.apply(&Event::Apply(ok("b", "5")));
        seen.apply(&Event::Delete(ok("a", "4")));
        assert_eq!(rv_of(&seen, "a"), None);
        // Relist: `b` was deleted while the watch was down, `c` created; our write to `c` at 9
        // is newer than the listed 8; `d` is listed twice, the second time unreadable.
        seen.wrote("ns", "c", "9");
        seen.apply(&Event::Init);
        seen.apply(&Event::InitApply(ok("c", "8")));
        seen.apply(&Event::InitApply(ok("d", "6")));
        seen.apply(&Event::InitApply(cached("d", "7", json!({"replicas": "two"}))));
        assert_eq!(
            rv_of(&seen, "b").as_deref(),
            Some("5"),
            "old contents until InitDone"
        );
        seen.apply(&Event::InitDone);
        assert_eq!(rv_of(&seen, "b"), None);
        assert_eq!(rv_of(&seen, "d"), None);
        assert_eq!(rv_of(&seen, "c"), None, "older than our write");
        seen.apply(&Event::Apply(ok("c", "9")));
        assert_eq!(rv_of(&seen, "c").as_deref(), Some("9"));
    }

    /// What a reconcile keeps lives only as long as the watch has its Rollout.
    #[test]
    fn kept_values_go_with_their_rollout() {
        let kept = |seen: &SeenRollouts| {
            let mut names: Vec<String> = seen.lock().kept.keys().map(|k| k.1.clone()).collect();
            names.sort();
            names
        };
        let seen = SeenRollouts::default();
        seen.apply(&Event::Apply(ok("a", "1")));
        seen.apply(&Event::Apply(ok("b", "2")));
        seen.keep("ns", "a", Kept::default());
        seen.keep("ns", "b", Kept::default());
        seen.keep("ns", "gone", Kept::default());
        assert_eq!(kept(&seen), ["a", "b"], "nothing kept for a Rollout not watched");
        let _ = seen.take_kept("ns", "a");
        assert_eq!(kept(&seen), ["b"], "taken out by the reconcile");
        seen.keep("ns", "a", Kept::default());
        seen.apply(&Event::Delete(ok("a", "1")));
        assert_eq!(kept(&seen), ["b"]);
        seen.apply(&Event::Init);
        seen.apply(&Event::InitApply(ok("c", "3")));
        seen.apply(&Event::InitDone);
        assert!(kept(&seen).is_empty(), "b was not relisted");
    }
}
