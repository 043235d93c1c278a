//! AnalysisRun history limits (`spec.analysis.successfulRunHistoryLimit` /
//! `unsuccessfulRunHistoryLimit`, default 5 each): the machine deletes old runs with
//! `Action::DeleteAnalysisRun`, newest kept (upstream `FilterAnalysisRunsToDelete`).

mod rollout_support;

use rollout_core::analysis::AnalysisPhase::{self, *};
use rollout_core::rollout::machine::history::runs_to_delete;
use rollout_core::rollout::{Action, AnalysisRunKind, ObservedAnalysisRun};
use rollout_core::testing::FakeCluster;
use rollout_support::*;
use serde_json::json;

fn with_analysis(limits: serde_json::Value) -> rollout_core::rollout::Rollout {
    let mut ro = canary(
        2,
        json!([{"setWeight": 50}, {"analysis": {"templates": [{"templateName": "t"}]}}]),
        json!({}),
    );
    ro.spec.analysis = serde_json::from_value(limits).unwrap();
    ro
}

/// Ships `revisions` new images; each step run ends with the phase `outcome(revision)`.
/// Returns the run names in creation order.
fn ship(
    c: &mut FakeCluster,
    revisions: std::ops::RangeInclusive<u32>,
    outcome: impl Fn(u32) -> AnalysisPhase,
) -> Vec<String> {
    let mut created = Vec::new();
    for v in revisions {
        c.set_image(&format!("demo:v{v}"));
        let before = c.log.len();
        tick_until(c, 30, |c| {
            c.log
                .iter()
                .skip(before)
                .any(|a| matches!(a, Action::CreateAnalysisRun(_)))
        });
        let name = c
            .log
            .iter()
            .skip(before)
            .find_map(|a| match a {
                Action::CreateAnalysisRun(r) => Some(r.name.clone()),
                _ => None,
            })
            .unwrap();
        c.set_run_phase(&name, outcome(v), "done");
        c.settle(100, true);
        created.push(name);
    }
    created
}

fn kept(c: &FakeCluster) -> Vec<String> {
    c.observed.analysis_runs.iter().map(|r| r.name.clone()).collect()
}

#[test]
fn defaults_keep_five_successful_runs() {
    let mut c = deployed(with_analysis(json!(null)));
    let created = ship(&mut c, 2..=9, |_| Successful);
    assert_eq!(created.len(), 8);
    assert_eq!(kept(&c), created[3..].to_vec(), "the 5 newest");
    let deleted: Vec<_> = c
        .log
        .iter()
        .filter_map(|a| match a {
            Action::DeleteAnalysisRun { name } => Some(name.clone()),
            _ => None,
        })
        .collect();
    assert_eq!(deleted, created[..3].to_vec(), "the oldest, each once");
}

#[test]
fn limits_apply_to_successful_and_unsuccessful_runs_separately() {
    let mut c = deployed(with_analysis(
        json!({"successfulRunHistoryLimit": 1, "unsuccessfulRunHistoryLimit": 2}),
    ));
    // 2, 3 succeed; 4, 5, 6 fail (aborted, Error and Inconclusive count alike); 7 succeeds.
    let outcome = |v| match v {
        4 => Failed,
        5 => Error,
        6 => Inconclusive,
        _ => Successful,
    };
    let created = ship(&mut c, 2..=7, outcome);
    let mut want = vec![created[3].clone(), created[4].clone(), created[5].clone()];
    want.sort();
    let mut got = kept(&c);
    got.sort();
    assert_eq!(
        got, want,
        "newest Successful (7) and newest 2 unsuccessful (5, 6)"
    );
}

fn run(name: &str, hash: &str, phase: AnalysisPhase, at: i64) -> ObservedAnalysisRun {
    ObservedAnalysisRun {
        name: name.into(),
        kind: AnalysisRunKind::Step,
        pod_template_hash: hash.into(),
        step_index: Some(0),
        phase,
        message: String::new(),
        terminating: false,
        created_at: Some(rollout_core::common::Timestamp::from_second(1_700_000_000 + at).unwrap()),
        decided_by: None,
    }
}

#[test]
fn filter_table_as_upstream() {
    let runs = [
        run("old-ok", "a", Successful, 1),
        run("new-ok", "a", Successful, 5),
        run("mid-ok", "b", Successful, 3),
        run("running", "b", Running, 0),
        run("pending", "a", Pending, 0),
        run("orphan", "gone", Successful, 9),
        run("fail-1", "a", Failed, 2),
        run("fail-2", "b", Inconclusive, 4),
    ];
    // Newest first: orphan (no RS) always; 2 successful kept (new-ok, mid-ok); 1 unsuccessful kept
    // (fail-2); running and pending never count.
    assert_eq!(
        runs_to_delete(runs.iter(), &[("a", 1), ("b", 2)], 2, 1),
        vec!["orphan", "fail-1", "old-ok"]
    );
    assert_eq!(
        runs_to_delete(runs.iter(), &[("a", 1), ("b", 2), ("gone", 3)], 5, 5),
        Vec::<&str>::new()
    );
    assert_eq!(
        runs_to_delete(runs.iter(), &[("a", 1), ("b", 2), ("gone", 3)], 0, 0),
        vec!["orphan", "new-ok", "fail-2", "mid-ok", "fail-1", "old-ok"]
    );
}

#[test]
fn runs_created_in_the_same_second_are_ordered_by_revision() {
    // Timestamps have one-second resolution: two revisions can create their runs in the same
    // second. The newer ReplicaSet's run is the newer run, whatever the names' order.
    let runs = [
        run("shop-796cfb9556-4-0", "796cfb9556", Successful, 7),
        run("shop-78bbcb5d9f-5-0", "78bbcb5d9f", Successful, 7),
        run("shop-5f4c695f68-8-0", "5f4c695f68", Successful, 9),
    ];
    let replica_sets = [("796cfb9556", 4), ("78bbcb5d9f", 5), ("5f4c695f68", 8)];
    assert_eq!(
        runs_to_delete(runs.iter(), &replica_sets, 2, 1),
        vec!["shop-796cfb9556-4-0"]
    );
}
