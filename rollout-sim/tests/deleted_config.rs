//! `examples/scenarios/deleted-config.yaml` (issue #13, story 2): a Helm-style release swaps the
//! pods' immutable Secret and deletes the old one; the canary then regresses and is aborted. The
//! stable revision cannot start pods without the deleted Secret, so the machine holds the
//! rollback: the canary keeps its pods, and a Degraded condition and event name the Secret.

mod support;

use rollout_sim::log::EventKind;
use rollout_sim::{Outcome, Scenario, SimReport, simulate};
use support::read;

async fn run(scenario: Scenario) -> SimReport {
    let mut lines = Vec::new();
    let report = simulate(support::input(scenario, 1), &mut |e| lines.push(e.line()))
        .await
        .unwrap();
    eprintln!("{}", lines.join("\n"));
    report
}

fn canary_scale_downs(r: &SimReport) -> Vec<(i32, i32)> {
    r.events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::Scale {
                replica_set,
                from,
                to,
            } if replica_set.ends_with(&r.canary_hash) && to < from => Some((*from, *to)),
            _ => None,
        })
        .collect()
}

fn events(r: &SimReport, want: &str) -> Vec<String> {
    r.events
        .iter()
        .filter_map(|e| match &e.kind {
            EventKind::RolloutEvent { reason, message } if reason == want => Some(message.clone()),
            _ => None,
        })
        .collect()
}

/// The last `(stable, stable ready, canary, canary ready)` logged.
fn last_replicas(r: &SimReport) -> Option<(i32, i32, i32, i32)> {
    r.events.iter().rev().find_map(|e| match e.kind {
        EventKind::Replicas {
            stable,
            stable_ready,
            canary,
            canary_ready,
        } => Some((stable, stable_ready, canary, canary_ready)),
        _ => None,
    })
}

#[tokio::test]
async fn deleted_stable_secret_holds_the_rollback_and_keeps_the_canary() {
    let r = run(Scenario::from_yaml(&read("deleted-config.yaml")).unwrap()).await;
    assert_eq!(r.outcome, Outcome::Aborted, "{}", r.reason);
    assert!(
        r.reason.starts_with("Rollback to ReplicaSet guestbook-"),
        "{}",
        r.reason
    );
    assert!(
        r.reason.contains("; the abort: analysis guestbook-"),
        "{}",
        r.reason
    );
    assert!(r.reason.contains("Secret \"app-config-5d8f2a\""), "{}", r.reason);
    assert_eq!(
        canary_scale_downs(&r),
        Vec::<(i32, i32)>::new(),
        "the canary keeps its pods"
    );
    let (_, _, canary, canary_ready) = last_replicas(&r).unwrap();
    assert!(
        canary > 0 && canary_ready == canary,
        "the canary still serves: {canary_ready}/{canary}"
    );
    let held = events(&r, "RollbackHeldForConfig");
    assert_eq!(held.len(), 1, "{held:?}");
    assert!(held[0].contains("app-config-5d8f2a"), "{}", held[0]);
}

#[tokio::test]
async fn with_the_secret_kept_the_same_abort_rolls_back() {
    let mut scenario = Scenario::from_yaml(&read("deleted-config.yaml")).unwrap();
    scenario.faults.retain(|f| f.delete_stable_config.is_none());
    let r = run(scenario).await;
    assert_eq!(r.outcome, Outcome::Aborted, "{}", r.reason);
    assert!(
        r.reason.starts_with("rolled back to the stable version"),
        "{}",
        r.reason
    );
    assert!(events(&r, "RollbackHeldForConfig").is_empty());
}

#[test]
fn deleting_config_needs_the_config_section() {
    let err = Scenario::from_yaml("faults: [{at: {time: 1m}, deleteStableConfig: true}]")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "scenario field faults[0].deleteStableConfig: needs `config` (the Secrets the release swaps)"
    );
    let err = Scenario::from_yaml("config: {stableSecret: a, canarySecret: a}")
        .unwrap_err()
        .to_string();
    assert_eq!(
        err,
        "scenario field config.canarySecret: must differ from config.stableSecret"
    );
    let err = Scenario::from_yaml("config: {stableSecret: Bad_Name, canarySecret: b}")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with("scenario field config.stableSecret: \"Bad_Name\" is not a Secret name"),
        "{err}"
    );
}
