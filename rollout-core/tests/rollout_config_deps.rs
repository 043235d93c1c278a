//! Rollback-safe config (issue #13, story 2): the machine protects the ConfigMaps and Secrets of
//! ReplicaSets that may serve again, and holds an abort or rollback whose stable ReplicaSet needs
//! a missing object (Helm style: a release creates `cfg-b` and deletes `cfg-a`).

mod rollout_support;

use std::collections::BTreeSet;

use proptest::prelude::*;
use rollout_core::rollout::config_deps::{ConfigKind, ConfigRef, template_config};
use rollout_core::rollout::why::Cause;
use rollout_core::rollout::{Action, ConditionStatus, ConditionType, ObservedConfig, Rollout, RolloutPhase};
use rollout_core::testing::FakeCluster;
use rollout_support::{from_json, t0};
use serde_json::{Value, json};

/// The pod template of revision `cfg`: a Secret volume named `cfg`.
fn template(cfg: &str) -> Value {
    json!({"metadata": {"labels": {"app": "demo"}},
           "spec": {"containers": [{"name": "app", "image": "demo:v1"}],
                    "volumes": [{"name": "cfg", "secret": {"secretName": cfg}}]}})
}

fn rollout(strategy: Value, history: i32) -> Rollout {
    from_json(json!({
        "metadata": {"name": "demo", "namespace": "default", "generation": 1},
        "spec": {"replicas": 4, "revisionHistoryLimit": history,
                 "selector": {"matchLabels": {"app": "demo"}},
                 "template": template("cfg-a"), "strategy": strategy}
    }))
}

fn basic_canary() -> Value {
    json!({"canary": {"steps": [{"setWeight": 25}, {"pause": {}}]}})
}

fn routed_canary() -> Value {
    json!({"canary": {"canaryService": "canary", "stableService": "stable",
                      "trafficRouting": {"alb": {"ingress": "demo", "servicePort": 80}},
                      "steps": [{"setWeight": 25}, {"pause": {}}]}})
}

fn blue_green() -> Value {
    json!({"blueGreen": {"activeService": "active", "previewService": "preview",
                         "autoPromotionEnabled": false}})
}

/// What the test cluster holds besides the Rollout's own objects.
struct World {
    existing: BTreeSet<String>,
    immutable: bool,
}

/// The driver's part: look up every Secret the ReplicaSets need, keeping the protection the
/// applied actions recorded (and dropping owners that are gone, as garbage collection does).
fn observe_config(c: &mut FakeCluster, w: &World) {
    let names: BTreeSet<String> = c.observed.replica_sets.iter().map(|r| r.name.clone()).collect();
    let needed: BTreeSet<ConfigRef> = c
        .observed
        .replica_sets
        .iter()
        .flat_map(|r| r.needs.iter().cloned())
        .collect();
    let previous = std::mem::take(&mut c.observed.config);
    c.observed.config = needed
        .into_iter()
        .map(|object| {
            let exists = w.existing.contains(&object.name);
            let protected_by = previous
                .iter()
                .find(|p| p.object == object && exists)
                .map(|p| {
                    p.protected_by
                        .iter()
                        .filter(|r| names.contains(*r))
                        .cloned()
                        .collect()
                })
                .unwrap_or_default();
            ObservedConfig {
                object,
                exists,
                immutable: w.immutable,
                protection: None,
                protected_by,
            }
        })
        .collect();
}

/// Runs `n` ticks one second apart (pods become ready), following wake-ups.
fn run(c: &mut FakeCluster, w: &World, n: usize) {
    for _ in 0..n {
        observe_config(c, w);
        let d = c.tick();
        c.advance(1);
        if let Some(t) = d.next_wake
            && t > c.now
            && d.actions.iter().all(|a| matches!(a, Action::Event(_)))
        {
            let secs = (t.as_second() - c.now.as_second()).clamp(1, 120);
            c.advance(secs);
        }
    }
}

fn set_config(c: &mut FakeCluster, cfg: &str) {
    c.rollout.spec.template = Some(template(cfg));
    c.rollout.metadata.generation = Some(c.rollout.metadata.generation.unwrap_or(1) + 1);
}

fn protected_by(c: &FakeCluster, name: &str) -> Vec<String> {
    c.observed
        .config
        .iter()
        .find(|o| o.object.name == name)
        .map(|o| o.protected_by.clone())
        .unwrap_or_default()
}

fn rs_name(c: &FakeCluster, hash: &str) -> String {
    c.rs(hash).map(|r| r.name.clone()).unwrap_or_default()
}

/// Deployed on `cfg-a`, updated to `cfg-b` and paused at the first pause (canary serving).
fn updated(strategy: Value) -> (FakeCluster, World) {
    let mut w = World {
        existing: ["cfg-a".to_string()].into(),
        immutable: true,
    };
    let mut c = FakeCluster::new(rollout(strategy, 10), t0());
    run(&mut c, &w, 30);
    assert_eq!(
        c.rollout.status.phase,
        Some(RolloutPhase::Healthy),
        "{:#?}",
        c.rollout.status
    );
    w.existing.insert("cfg-b".into());
    set_config(&mut c, "cfg-b");
    run(&mut c, &w, 40);
    assert_eq!(
        c.rollout.status.phase,
        Some(RolloutPhase::Paused),
        "{:#?}",
        c.rollout.status
    );
    (c, w)
}

/// The canary's `spec.replicas` (the ReplicaSet of the current template).
fn canary_replicas(c: &FakeCluster) -> i32 {
    c.rs(&c.rollout.status.current_pod_hash).map_or(0, |r| r.replicas)
}

#[test]
fn both_revisions_protect_their_config_while_the_canary_runs() {
    for strategy in [basic_canary(), routed_canary(), blue_green()] {
        let (c, _) = updated(strategy.clone());
        let st = &c.rollout.status;
        assert_eq!(
            protected_by(&c, "cfg-a"),
            vec![rs_name(&c, &st.stable_rs)],
            "{strategy}"
        );
        assert_eq!(
            protected_by(&c, "cfg-b"),
            vec![rs_name(&c, &st.current_pod_hash)],
            "{strategy}"
        );
        assert!(c.rollout.status.condition(ConditionType::Degraded).is_none());
    }
}

#[test]
fn abort_with_the_stable_config_deleted_keeps_the_canary_serving() {
    for strategy in [basic_canary(), routed_canary(), blue_green()] {
        let (mut c, mut w) = updated(strategy.clone());
        let canary_before = canary_replicas(&c);
        let weight_before = c.rollout.status.canary.weights.clone();
        let active_before = c.rollout.status.blue_green.active_selector.clone();
        assert!(canary_before > 0, "{strategy}");
        // Helm style: the release deleted the old immutable Secret; then the canary is aborted.
        w.existing.remove("cfg-a");
        c.abort();
        run(&mut c, &w, 200);
        let st = &c.rollout.status;
        assert!(st.abort, "{strategy}");
        assert_eq!(canary_replicas(&c), canary_before, "{strategy}: canary kept");
        assert_eq!(st.canary.weights, weight_before, "{strategy}: traffic stays");
        assert_eq!(st.blue_green.active_selector, active_before, "{strategy}");
        let cond = st.condition(ConditionType::Degraded).expect("Degraded condition");
        assert_eq!(cond.status, ConditionStatus::True);
        assert_eq!(cond.reason, "RollbackHeldForConfig", "{strategy}");
        assert!(cond.message.contains("Secret \"cfg-a\""), "{}", cond.message);
        let why = st
            .why
            .iter()
            .find(|w| w.cause == Cause::RollbackHeld)
            .expect("why");
        assert_eq!(why.missing_config[0].object, ConfigRef::secret("cfg-a"));
        assert_eq!(
            why.replica_set.as_deref(),
            Some(rs_name(&c, &st.stable_rs).as_str())
        );
        let events: Vec<_> = c
            .events
            .iter()
            .filter(|e| e.reason == "RollbackHeldForConfig")
            .collect();
        assert_eq!(events.len(), 1, "{strategy}: one event, {events:?}");
        assert!(events[0].message.contains("cfg-a"));
        // Restored (re-applied): the abort completes and the condition goes.
        w.existing.insert("cfg-a".into());
        run(&mut c, &w, 200);
        assert_eq!(canary_replicas(&c), 0, "{strategy}: aborted canary scaled down");
        assert!(
            c.rollout.status.condition(ConditionType::Degraded).is_none(),
            "{strategy}"
        );
        assert!(
            c.rollout
                .status
                .why
                .iter()
                .all(|w| w.cause != Cause::RollbackHeld)
        );
    }
}

#[test]
fn abort_with_the_config_present_scales_the_canary_down() {
    for strategy in [basic_canary(), routed_canary(), blue_green()] {
        let (mut c, w) = updated(strategy.clone());
        c.abort();
        run(&mut c, &w, 200);
        assert_eq!(canary_replicas(&c), 0, "{strategy}");
        assert!(c.rollout.status.condition(ConditionType::Degraded).is_none());
    }
}

#[test]
fn rollback_to_the_stable_template_is_held_too() {
    let (mut c, mut w) = updated(basic_canary());
    let canary = c.rollout.status.current_pod_hash.clone();
    let before = c.rs(&canary).map_or(0, |r| r.replicas);
    w.existing.remove("cfg-a");
    set_config(&mut c, "cfg-a");
    run(&mut c, &w, 100);
    assert_eq!(c.rs(&canary).map_or(0, |r| r.replicas), before, "old canary kept");
    let cond = c
        .rollout
        .status
        .condition(ConditionType::Degraded)
        .expect("Degraded");
    assert_eq!(cond.reason, "RollbackHeldForConfig");
}

#[test]
fn a_missing_config_without_a_rollback_is_reported_not_held() {
    let (mut c, mut w) = updated(basic_canary());
    w.existing.remove("cfg-b");
    run(&mut c, &w, 5);
    let st = &c.rollout.status;
    let cond = st.condition(ConditionType::Degraded).expect("Degraded");
    assert_eq!(cond.reason, "ConfigMissing");
    assert!(cond.message.contains("Secret \"cfg-b\""), "{}", cond.message);
    assert_eq!(
        st.phase,
        Some(RolloutPhase::Paused),
        "a missing object alone does not degrade"
    );
    assert!(st.why.iter().any(|w| w.cause == Cause::ConfigMissing));
    assert_eq!(c.events.iter().filter(|e| e.reason == "ConfigMissing").count(), 1);
}

#[test]
fn protection_is_removed_before_the_old_replica_set_is_deleted() {
    let mut w = World {
        existing: ["cfg-a".to_string(), "cfg-b".to_string()].into(),
        immutable: true,
    };
    let mut c = FakeCluster::new(rollout(basic_canary(), 0), t0());
    run(&mut c, &w, 30);
    let old = rs_name(&c, &c.rollout.status.stable_rs.clone());
    set_config(&mut c, "cfg-b");
    run(&mut c, &w, 40);
    c.promote();
    run(&mut c, &w, 100);
    assert_eq!(
        c.rollout.status.phase,
        Some(RolloutPhase::Healthy),
        "{:#?}",
        c.rollout.status
    );
    let unprotect = c.log.iter().position(|a| {
        matches!(a, Action::UnprotectConfig { object, replica_set } if object.name == "cfg-a" && *replica_set == old)
    });
    let delete = c
        .log
        .iter()
        .position(|a| matches!(a, Action::DeleteReplicaSet { name } if *name == old));
    assert!(unprotect.is_some() && delete.is_some(), "{:#?}", c.log);
    assert!(unprotect < delete, "unprotect first");
    w.existing.remove("cfg-a");
    run(&mut c, &w, 5);
    assert!(
        c.rollout.status.condition(ConditionType::Degraded).is_none(),
        "cfg-a is needed by nobody"
    );
}

#[test]
fn mutable_objects_are_not_protected_but_still_guarded() {
    let (mut c, mut w) = updated(basic_canary());
    assert!(!protected_by(&c, "cfg-a").is_empty());
    w.immutable = false;
    run(&mut c, &w, 3);
    assert!(protected_by(&c, "cfg-a").is_empty(), "unprotected once mutable");
    w.existing.remove("cfg-a");
    let before = canary_replicas(&c);
    c.abort();
    run(&mut c, &w, 100);
    assert_eq!(canary_replicas(&c), before);
}

#[test]
fn optional_references_are_not_needed() {
    let w = World {
        existing: BTreeSet::new(),
        immutable: true,
    };
    let mut ro = rollout(basic_canary(), 10);
    ro.spec.template = Some(json!({"metadata": {"labels": {"app": "demo"}},
        "spec": {"containers": [{"name": "app", "image": "demo:v1",
                 "envFrom": [{"secretRef": {"name": "maybe", "optional": true}}]}]}}));
    let mut c = FakeCluster::new(ro, t0());
    run(&mut c, &w, 30);
    assert!(c.observed.config.is_empty());
    assert_eq!(c.rollout.status.phase, Some(RolloutPhase::Healthy));
    assert!(c.rollout.status.condition(ConditionType::Degraded).is_none());
}

/// Where a generated reference goes in a template.
#[derive(Debug, Clone, Copy)]
enum Place {
    Volume,
    Projected,
    EnvFrom,
    ValueFrom,
    InitEnvFrom,
    PullSecret,
}

fn place(template: &mut Value, at: Place, kind: ConfigKind, name: &str, optional: bool) {
    let spec = &mut template["spec"];
    let push = |v: &mut Value, item: Value| {
        if !v.is_array() {
            *v = json!([]);
        }
        if let Some(a) = v.as_array_mut() {
            a.push(item);
        }
    };
    let (cm, sec) = (kind == ConfigKind::ConfigMap, kind == ConfigKind::Secret);
    match at {
        Place::Volume if cm => push(
            &mut spec["volumes"],
            json!({"configMap": {"name": name, "optional": optional}}),
        ),
        Place::Volume => push(
            &mut spec["volumes"],
            json!({"secret": {"secretName": name, "optional": optional}}),
        ),
        Place::Projected => {
            let key = if cm { "configMap" } else { "secret" };
            push(
                &mut spec["volumes"],
                json!({"projected": {"sources": [{key: {"name": name, "optional": optional}}]}}),
            )
        }
        Place::EnvFrom | Place::InitEnvFrom => {
            let key = if cm { "configMapRef" } else { "secretRef" };
            let list = if matches!(at, Place::EnvFrom) {
                "containers"
            } else {
                "initContainers"
            };
            push(
                &mut spec[list],
                json!({"name": "c", "envFrom": [{key: {"name": name, "optional": optional}}]}),
            )
        }
        Place::ValueFrom => {
            let key = if cm { "configMapKeyRef" } else { "secretKeyRef" };
            push(
                &mut spec["containers"],
                json!({"name": "c", "env": [{"name": "X",
                "valueFrom": {key: {"name": name, "key": "k", "optional": optional}}}]}),
            )
        }
        Place::PullSecret if sec => push(&mut spec["imagePullSecrets"], json!({"name": name})),
        Place::PullSecret => push(
            &mut spec["volumes"],
            json!({"configMap": {"name": name, "optional": optional}}),
        ),
    }
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        "[a-z]{0,6}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, |inner| {
        let key = prop::sample::select(vec![
            "spec",
            "volumes",
            "configMap",
            "secret",
            "secretName",
            "name",
            "optional",
            "projected",
            "sources",
            "containers",
            "initContainers",
            "envFrom",
            "configMapRef",
            "secretRef",
            "env",
            "valueFrom",
            "secretKeyRef",
            "configMapKeyRef",
            "imagePullSecrets",
            "x",
        ]);
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map(key, inner, 0..5)
                .prop_map(|m| Value::Object(m.into_iter().map(|(k, v)| (k.to_string(), v)).collect())),
        ]
    })
}

proptest! {
    /// Extraction never panics, and everything it reports is required or optional, not both.
    #[test]
    fn extraction_is_total(v in any_json()) {
        let got = template_config(&v);
        prop_assert!(got.required.is_disjoint(&got.optional));
        let wrapped = template_config(&json!({"spec": v}));
        prop_assert!(wrapped.required.is_disjoint(&wrapped.optional));
    }

    /// Every reference placed anywhere in a template is found, required unless every placement
    /// of it is optional (image pull secrets are always required).
    #[test]
    fn every_placed_reference_is_found(refs in prop::collection::vec((
        prop::sample::select(vec![Place::Volume, Place::Projected, Place::EnvFrom, Place::ValueFrom,
                                  Place::InitEnvFrom, Place::PullSecret]),
        prop::sample::select(vec![ConfigKind::ConfigMap, ConfigKind::Secret]),
        "[a-c]{1,2}",
        any::<bool>(),
    ), 0..12)) {
        let mut t = json!({"metadata": {}, "spec": {}});
        let mut required = BTreeSet::new();
        let mut all = BTreeSet::new();
        for (at, kind, name, optional) in &refs {
            place(&mut t, *at, *kind, name, *optional);
            let r = ConfigRef { kind: *kind, name: name.clone() };
            let always = matches!(at, Place::PullSecret) && *kind == ConfigKind::Secret;
            if !*optional || always {
                required.insert(r.clone());
            }
            all.insert(r);
        }
        let got = template_config(&t);
        prop_assert_eq!(&got.required, &required);
        let optional: BTreeSet<ConfigRef> = all.difference(&required).cloned().collect();
        prop_assert_eq!(&got.optional, &optional);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(32))]

    /// Whatever the strategy and however ticks interleave with the deletion and the abort (the
    /// Secret deleted before the abort, or after it has run for a while), from the moment the
    /// stable's Secret is missing the canary never loses a pod, and ready pods remain.
    #[test]
    fn a_held_rollback_never_scales_serving_pods_away(
        strategy in 0usize..3,
        delete_before_abort in any::<bool>(),
        gap in 0usize..6,
        after in 1usize..60,
    ) {
        let strategy = [basic_canary(), routed_canary(), blue_green()][strategy].clone();
        let (mut c, mut w) = updated(strategy);
        if delete_before_abort {
            w.existing.remove("cfg-a");
            run(&mut c, &w, gap);
            c.abort();
        } else {
            c.abort();
            run(&mut c, &w, gap);
            w.existing.remove("cfg-a");
        }
        let canary = canary_replicas(&c);
        for _ in 0..after {
            run(&mut c, &w, 1);
            prop_assert_eq!(canary_replicas(&c), canary);
            let ready: i32 = c.observed.replica_sets.iter().map(|r| r.ready).sum();
            prop_assert!(ready > 0);
        }
    }
}
