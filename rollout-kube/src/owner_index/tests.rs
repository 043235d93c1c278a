//! The owner index against the reflector's own store: event sequences (relist with a vanished
//! object, adoption, orphaning, delete) and a proptest that after any sequence the index equals a
//! brute-force filter of the store.

use k8s_openapi::api::apps::v1::ReplicaSet;
use kube::runtime::reflector::store::Writer;
use kube::runtime::watcher::Event;
use proptest::prelude::*;
use serde_json::json;

use super::*;

/// A ReplicaSet `name` in `ns` with owner references `(uid, controller)`.
fn rs(ns: &str, name: &str, owners: &[(&str, bool)]) -> ReplicaSet {
    let refs: Vec<_> = owners
        .iter()
        .map(|(uid, controller)| {
            json!({"apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout", "name": "ro",
                   "uid": uid, "controller": controller})
        })
        .collect();
    serde_json::from_value(json!({
        "metadata": {"name": name, "namespace": ns, "ownerReferences": refs}
    }))
    .unwrap()
}

/// The index and the store it mirrors, fed the same events.
struct Both {
    index: OwnerIndex<ReplicaSet>,
    writer: Writer<ReplicaSet>,
}

impl Both {
    fn new(owners_of: OwnersOf<ReplicaSet>) -> Self {
        Self {
            index: OwnerIndex::new(owners_of),
            writer: Writer::default(),
        }
    }

    fn apply(&mut self, event: Event<ReplicaSet>) {
        self.index.apply(&event);
        self.writer.apply_watcher_event(&event);
    }

    fn relist(&mut self, objects: Vec<ReplicaSet>) {
        self.apply(Event::Init);
        for o in objects {
            self.apply(Event::InitApply(o));
        }
        self.apply(Event::InitDone);
    }

    /// Names the index gives for `ns`/`uid` (read through the store).
    fn indexed(&self, ns: &str, uid: &str) -> Vec<String> {
        let store = self.writer.as_reader();
        self.index
            .owned_in(&store, ns, uid)
            .iter()
            .map(|o| o.name_any())
            .collect()
    }

    /// Names a full scan of the store gives, as the snapshot filtered before the index.
    fn scanned(&self, ns: &str, uid: &str) -> Vec<String> {
        let mut names: Vec<String> = self
            .writer
            .as_reader()
            .state()
            .iter()
            .filter(|o| o.metadata.namespace.as_deref() == Some(ns))
            .filter(|o| (self.index.owners_of)(o).iter().any(|u| u == uid))
            .map(|o| o.name_any())
            .collect();
        names.sort();
        names
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn a_relist_replaces_the_index_and_objects_deleted_meanwhile_vanish() {
    let mut b = Both::new(controller_owner_uids);
    b.relist(vec![
        rs("ns", "a", &[("u1", true)]),
        rs("ns", "b", &[("u1", true)]),
        rs("ns", "c", &[("u2", true)]),
    ]);
    assert_eq!(b.indexed("ns", "u1"), names(&["a", "b"]));
    // Watch down; `b` deleted and `d` created meanwhile: the relist is the truth.
    b.apply(Event::Init);
    b.apply(Event::InitApply(rs("ns", "a", &[("u1", true)])));
    // Until InitDone the index still answers with the old contents, like the store.
    assert_eq!(b.indexed("ns", "u1"), names(&["a", "b"]));
    b.apply(Event::InitApply(rs("ns", "d", &[("u1", true)])));
    b.apply(Event::InitDone);
    assert_eq!(b.indexed("ns", "u1"), names(&["a", "d"]));
    assert_eq!(b.indexed("ns", "u2"), Vec::<String>::new(), "c vanished");
    assert_eq!(b.index.owned("ns", "u2"), Vec::new());
}

#[test]
fn adoption_and_orphaning_move_an_object_between_owners() {
    let mut b = Both::new(controller_owner_uids);
    b.apply(Event::Apply(rs("ns", "a", &[("u1", true)])));
    b.apply(Event::Apply(rs("ns", "a", &[("u2", true)])));
    assert_eq!(b.indexed("ns", "u1"), Vec::<String>::new());
    assert_eq!(b.indexed("ns", "u2"), names(&["a"]));
    // Orphaned: the reference stays but is no longer the controller.
    b.apply(Event::Apply(rs("ns", "a", &[("u2", false)])));
    assert_eq!(b.index.owned("ns", "u2"), Vec::new());
    // AnalysisRuns count any owner reference.
    let runs = Both::new(owner_uids);
    runs.index
        .apply(&Event::Apply(rs("ns", "r", &[("u1", false), ("u2", true)])));
    assert_eq!(runs.index.owned("ns", "u1").len(), 1);
    assert_eq!(runs.index.owned("ns", "u2").len(), 1);
}

#[test]
fn a_delete_removes_and_namespaces_are_kept_apart() {
    let mut b = Both::new(controller_owner_uids);
    b.apply(Event::Apply(rs("ns", "a", &[("u1", true)])));
    b.apply(Event::Apply(rs("other", "a", &[("u1", true)])));
    assert_eq!(b.indexed("ns", "u1"), names(&["a"]));
    assert_eq!(b.indexed("other", "u1"), names(&["a"]));
    b.apply(Event::Delete(rs("ns", "a", &[("u1", true)])));
    assert_eq!(b.indexed("ns", "u1"), Vec::<String>::new());
    assert_eq!(b.indexed("other", "u1"), names(&["a"]));
    let inner = b.index.inner.read().unwrap();
    assert_eq!((inner.owners.len(), inner.by_owner.len()), (1, 1), "no leftovers");
}

const NAMESPACES: [&str; 2] = ["ns", "other"];
const UIDS: [&str; 3] = ["u1", "u2", "u3"];

/// Owner references as (index into `UIDS`, controller).
type Owners = Vec<(usize, bool)>;

/// One watch event over a small universe of names, namespaces and owners: (namespace index,
/// name index, owners).
#[derive(Debug, Clone)]
enum Op {
    Apply(usize, usize, Owners),
    Delete(usize, usize),
    Relist(Vec<(usize, usize, Owners)>),
}

fn object(ns: usize, name: usize, owners: &[(usize, bool)]) -> ReplicaSet {
    let owners: Vec<(&str, bool)> = owners.iter().map(|(u, c)| (UIDS[*u], *c)).collect();
    rs(NAMESPACES[ns], &format!("rs-{name}"), &owners)
}

fn owners() -> impl Strategy<Value = Owners> {
    prop::collection::vec((0..UIDS.len(), any::<bool>()), 0..3)
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0..2usize, 0..5usize, owners()).prop_map(|(n, o, w)| Op::Apply(n, o, w)),
        2 => (0..2usize, 0..5usize).prop_map(|(n, o)| Op::Delete(n, o)),
        1 => prop::collection::vec((0..2usize, 0..5usize, owners()), 0..6).prop_map(Op::Relist),
    ]
}

proptest! {
    #[test]
    fn after_any_event_sequence_the_index_equals_a_scan_of_the_store(
        ops in prop::collection::vec(op(), 0..40),
        any_owner in any::<bool>(),
    ) {
        let mut b = Both::new(if any_owner { owner_uids } else { controller_owner_uids });
        for op in ops {
            match op {
                Op::Apply(ns, name, w) => b.apply(Event::Apply(object(ns, name, &w))),
                Op::Delete(ns, name) => b.apply(Event::Delete(object(ns, name, &[]))),
                Op::Relist(objects) => b.relist(
                    objects.iter().map(|(ns, name, w)| object(*ns, *name, w)).collect(),
                ),
            }
            for ns in NAMESPACES {
                for uid in UIDS {
                    prop_assert_eq!(b.indexed(ns, uid), b.scanned(ns, uid));
                    // The index alone (no store re-check) agrees too.
                    let refs: Vec<String> =
                        b.index.owned(ns, uid).into_iter().map(|r| r.name).collect();
                    prop_assert_eq!(refs, b.scanned(ns, uid));
                }
            }
        }
    }
}
