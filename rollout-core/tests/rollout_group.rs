//! Grouped rollouts (issue #13): the group declaration's validation, each member's coordinator
//! inputs (table), the machine's `GroupHold` condition and group abort cause, and the property:
//! for any interleaving of member ticks, no member is ever more than one step ahead, and an abort
//! of one member aborts every other within one reconcile of each.

mod rollout_support;

use proptest::prelude::*;
use rollout_core::rollout::group::{
    Aborted, Expected, GroupSpec, MemberProblem, MemberState, Progress, inputs_for,
};
use rollout_core::rollout::why::Cause;
use rollout_core::rollout::{ConditionType, Rollout};
use rollout_core::testing::FakeCluster;
use rollout_support::*;
use serde_json::json;

fn member(name: &str, members: &str, steps: i32, progress: Progress) -> MemberState {
    let mut ro = Rollout::default();
    ro.metadata.name = name.into();
    ro.metadata
        .annotations
        .insert("rollout.io/group".into(), "shop".into());
    ro.metadata
        .annotations
        .insert("rollout.io/group-members".into(), members.into());
    MemberState {
        steps,
        progress,
        ..MemberState::of(&ro)
    }
}

fn at(name: &str, completed: i32) -> MemberState {
    member(name, "a,b", 4, Progress::Steps(completed))
}

fn problem(me: &str, members: &[MemberState]) -> Option<(String, MemberProblem)> {
    let inputs = inputs_for(me, members);
    assert_eq!(
        inputs.hold,
        inputs.group.is_some() && inputs.force_abort.is_none()
    );
    inputs.group.map(|g| (g.member, g.problem))
}

#[test]
fn group_annotations_are_validated_with_their_field_paths() {
    let errs = |ann: &[(&str, &str)]| {
        let mut ro = Rollout::default();
        ro.metadata.name = "a".into();
        for (k, v) in ann {
            ro.metadata.annotations.insert((*k).into(), (*v).into());
        }
        match GroupSpec::of(&ro.metadata) {
            Ok(spec) => Ok(spec),
            Err(e) => Err(e.iter().map(ToString::to_string).collect::<Vec<_>>()),
        }
    };
    let g = "rollout.io/group";
    let m = "rollout.io/group-members";
    assert_eq!(errs(&[]), Ok(None));
    let spec = errs(&[(g, "shop"), (m, "b, a")]).unwrap().unwrap();
    assert_eq!(spec.expected, Expected::Members(vec!["a".into(), "b".into()]));
    assert_eq!(
        errs(&[(g, "shop"), (m, "2")]).unwrap().unwrap().expected,
        Expected::Count(2)
    );
    let table: &[(&[(&str, &str)], &str)] = &[
        (
            &[(g, "shop")],
            "metadata.annotations[rollout.io/group-members]: Required value",
        ),
        (
            &[(m, "a,b")],
            "metadata.annotations[rollout.io/group]: Required value",
        ),
        (
            &[(g, "Shop!"), (m, "a")],
            "metadata.annotations[rollout.io/group]: Invalid value: \"Shop!\"",
        ),
        (
            &[(g, "shop"), (m, "0")],
            "metadata.annotations[rollout.io/group-members]: Invalid value: \"0\": a count must be 1 to 64",
        ),
        (&[(g, "shop"), (m, "b,c")], "does not list this Rollout (a)"),
        (&[(g, "shop"), (m, "a,a")], "member \"a\" is listed twice"),
        (&[(g, "shop"), (m, "a,")], "member \"\" is not a Rollout name"),
        (
            &[(g, "shop"), (m, "a"), ("rollout.io/group-revision", " ")],
            "metadata.annotations[rollout.io/group-revision]",
        ),
    ];
    for (ann, want) in table {
        let got = errs(ann).unwrap_err();
        assert!(got.iter().any(|e| e.contains(want)), "{ann:?}: {got:?}");
    }
    let many = (0..70).map(|i| format!("m{i}")).collect::<Vec<_>>().join(",");
    let got = errs(&[(g, "shop"), (m, &many)]).unwrap_err();
    assert!(got[0].contains("at most 64 members"), "{got:?}");
}

/// A table row: what it shows, the members, the member and problem that hold `a`.
type Case = (
    &'static str,
    Vec<MemberState>,
    Option<(&'static str, MemberProblem)>,
);

#[test]
fn each_member_holds_or_aborts_with_the_member_and_the_reason() {
    let behind = |completed, needed| MemberProblem::Behind { completed, needed };
    let mut invalid_b = at("b", 1);
    invalid_b.invalid = Some("spec.replicas: bad".into());
    let mut stale_b = at("b", 1);
    stale_b.observed = false;
    let mut other_rev = at("b", 1);
    if let Ok(Some(s)) = &mut other_rev.spec {
        s.revision = Some("v2".into());
    }
    let mut by_group = at("b", 0);
    by_group.aborted = Some(Aborted {
        cause: Some(Cause::GroupAbort),
        message: "x".into(),
    });
    let table: Vec<Case> = vec![
        ("equal progress: nobody holds", vec![at("a", 1), at("b", 1)], None),
        (
            "ahead by one holds",
            vec![at("a", 2), at("b", 1)],
            Some(("b", behind(1, 2))),
        ),
        ("behind by one does not hold", vec![at("a", 1), at("b", 2)], None),
        (
            "promotion waits for every member's last step",
            vec![at("a", 4), at("b", 3)],
            Some(("b", behind(3, 4))),
        ),
        (
            "a done member never holds",
            vec![at("a", 1), member("b", "a,b", 4, Progress::Done)],
            None,
        ),
        (
            "fewer steps: needed is capped at the member's steps",
            vec![at("a", 3), member("b", "a,b", 2, Progress::Steps(2))],
            None,
        ),
        (
            "missing member",
            vec![at("a", 0)],
            Some(("b", MemberProblem::Missing)),
        ),
        (
            "unexpected member",
            vec![
                at("a", 0),
                at("b", 0),
                member("c", "a,b,c", 4, Progress::Steps(0)),
            ],
            Some(("c", MemberProblem::Unexpected)),
        ),
        (
            "invalid member",
            vec![at("a", 1), invalid_b],
            Some((
                "b",
                MemberProblem::Invalid {
                    message: "spec.replicas: bad".into(),
                },
            )),
        ),
        (
            "member not reconciled at its spec",
            vec![at("a", 1), stale_b],
            Some(("b", MemberProblem::NotObserved)),
        ),
        (
            "member on another group revision",
            vec![at("a", 1), other_rev],
            Some((
                "b",
                MemberProblem::OtherRevision {
                    revision: Some("v2".into()),
                    expected: None,
                },
            )),
        ),
        (
            "member aborted by the group: retry it too",
            vec![at("a", 0), by_group],
            Some(("b", MemberProblem::AbortedByGroup)),
        ),
    ];
    for (name, members, want) in table {
        let got = problem("a", &members);
        let want = want.map(|(m, p)| (m.to_string(), p));
        assert_eq!(got, want, "{name}");
    }
    // A count: too few members name none.
    let count = |n: &str| member("a", n, 4, Progress::Steps(0));
    assert_eq!(
        problem("a", &[count("3"), member("b", "3", 4, Progress::Steps(0))]),
        Some((
            String::new(),
            MemberProblem::TooFew {
                expected: 3,
                found: 2
            }
        ))
    );
    // Members declaring different member lists.
    let got = problem("a", &[at("a", 0), member("b", "a,b,c", 4, Progress::Steps(0))]);
    assert!(
        matches!(&got, Some((m, MemberProblem::Invalid { .. })) if m == "b"),
        "{got:?}"
    );
}

#[test]
fn an_abort_of_its_own_aborts_the_others_naming_the_member_and_its_cause() {
    let mut b = at("b", 1);
    b.aborted = Some(Aborted {
        cause: Some(Cause::AnalysisFailed),
        message: "Rollout aborted update to revision 2: metric error-rate failed".into(),
    });
    let inputs = inputs_for("a", &[at("a", 1), b.clone()]);
    assert!(!inputs.hold);
    assert_eq!(
        inputs.force_abort.as_deref(),
        Some("group shop: member b aborted: Rollout aborted update to revision 2: metric error-rate failed")
    );
    let g = inputs.group.unwrap();
    assert_eq!(g.member, "b");
    assert!(matches!(
        g.problem,
        MemberProblem::Aborted {
            cause: Some(Cause::AnalysisFailed),
            ..
        }
    ));
    // The aborted member itself is neither held nor aborted again; a Rollout without a group
    // gets no inputs at all.
    let own = inputs_for("b", &[at("a", 1), b]);
    assert_eq!((own.hold, own.force_abort, own.group), (false, None, None));
    assert_eq!(own.group_status.unwrap().members.len(), 2);
    let mut lone = at("x", 0);
    lone.spec = Ok(None);
    assert_eq!(inputs_for("x", &[lone]), Default::default());
}

// ---- the machine with group inputs -------------------------------------------------------

const STEPS: usize = 4;

fn grouped(name: &str, names: &str) -> Rollout {
    let mut ro = canary(
        4,
        json!([{"setWeight": 25}, {"pause": {"duration": "5s"}}, {"setWeight": 50}, {"pause": {"duration": "5s"}}]),
        json!({}),
    );
    ro.metadata.name = name.into();
    ro.metadata
        .annotations
        .insert("rollout.io/group".into(), "shop".into());
    ro.metadata
        .annotations
        .insert("rollout.io/group-members".into(), names.into());
    ro
}

/// Members deployed at revision 1, then all updated to revision 2 (not yet reconciled).
fn group(n: usize) -> Vec<FakeCluster> {
    let names: Vec<String> = (0..n).map(|i| format!("m{i}")).collect();
    let list = names.join(",");
    names
        .iter()
        .map(|name| {
            let mut c = deployed(grouped(name, &list));
            c.set_image("demo:v2");
            c
        })
        .collect()
}

fn states(members: &[FakeCluster]) -> Vec<MemberState> {
    members.iter().map(|c| MemberState::of(&c.rollout)).collect()
}

/// One reconcile of member `i` with its group inputs.
fn tick(members: &mut [FakeCluster], i: usize) {
    let inputs = inputs_for(&members[i].rollout.metadata.name.clone(), &states(members));
    members[i].inputs = inputs;
    members[i].tick();
}

/// Steps completed, `STEPS + 1` once promoted; `None` when aborted or not reconciled yet.
fn progress(c: &FakeCluster) -> Option<i32> {
    let s = MemberState::of(&c.rollout);
    if s.aborted.is_some() || !s.observed {
        return None;
    }
    Some(match s.progress {
        Progress::Done => STEPS as i32 + 1,
        Progress::Steps(n) => n,
    })
}

#[test]
fn a_held_member_carries_a_group_hold_condition_naming_the_member() {
    let mut g = group(2);
    for _ in 0..3 {
        tick(&mut g, 0);
        g[0].advance(1);
    }
    // m1 never reconciled its new spec: m0 holds at step 0 and says so.
    let cond = g[0]
        .rollout
        .status
        .condition(ConditionType::GroupHold)
        .expect("GroupHold condition")
        .clone();
    assert_eq!(cond.reason, "GroupMemberNotObserved");
    assert_eq!(
        cond.message,
        "group shop: member m1 has not been reconciled at its current spec"
    );
    assert_eq!(g[0].rollout.status.current_step_index, Some(0));
    let why = g[0]
        .rollout
        .status
        .why
        .iter()
        .find(|w| w.cause == Cause::GroupHold)
        .unwrap();
    assert_eq!(why.group.as_ref().unwrap().member, "m1");
    assert_eq!(last_event(&g[0], "GroupHold").unwrap().message, cond.message);
    // Once m1 catches up the hold and its cause go away.
    for _ in 0..4 {
        tick(&mut g, 1);
        g[1].advance(1);
        tick(&mut g, 0);
        g[0].advance(1);
    }
    let st = &g[0].rollout.status;
    assert!(
        st.condition(ConditionType::GroupHold).is_none(),
        "{:#?}",
        st.conditions
    );
    assert!(
        st.why.iter().all(|w| w.cause != Cause::GroupHold),
        "{:#?}",
        st.why
    );
    assert!(st.current_step_index.unwrap_or(0) >= 1);
}

#[test]
fn an_abort_records_the_group_cause_on_the_other_members() {
    let mut g = group(2);
    for _ in 0..4 {
        for i in 0..2 {
            tick(&mut g, i);
            g[i].advance(1);
        }
    }
    g[1].abort();
    tick(&mut g, 0);
    let st = &g[0].rollout.status;
    assert!(st.abort, "{st:#?}");
    let why = st.why.iter().find(|w| w.is_abort()).unwrap();
    assert_eq!(why.cause, Cause::GroupAbort);
    assert_eq!(why.group.as_ref().unwrap().member, "m1");
    assert!(
        why.message().contains("group shop: member m1 aborted"),
        "{}",
        why.message()
    );
    // m0 was aborted by the group: m1 stays aborted and is not held by m0.
    tick(&mut g, 1);
    assert!(g[1].rollout.status.abort);
    assert!(MemberState::of(&g[0].rollout).aborted.unwrap().by_group());
}

#[derive(Debug, Clone)]
enum Op {
    Tick(usize, i64),
    Abort(usize),
}

fn ops() -> impl Strategy<Value = (usize, Vec<Op>)> {
    (2usize..=4).prop_flat_map(|n| {
        let op = prop_oneof![
            12 => (0..n, 0i64..4).prop_map(|(i, s)| Op::Tick(i, s)),
            1 => (0..n).prop_map(Op::Abort),
        ];
        (Just(n), proptest::collection::vec(op, 1..120))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    #[test]
    fn lockstep_and_group_abort_hold_for_any_interleaving((n, ops) in ops()) {
        let mut g = group(n);
        // Members that must abort on their next reconcile.
        let mut must_abort = vec![false; n];
        for op in ops {
            match op {
                Op::Abort(k) => {
                    let updating = matches!(progress(&g[k]), Some(p) if p <= STEPS as i32);
                    if updating {
                        g[k].abort();
                        for (j, flag) in must_abort.iter_mut().enumerate() {
                            *flag |= j != k && matches!(progress(&g[j]), Some(p) if p <= STEPS as i32);
                        }
                    }
                }
                Op::Tick(i, secs) => {
                    tick(&mut g, i);
                    if must_abort[i] {
                        prop_assert!(g[i].rollout.status.abort, "m{i} not aborted: {:#?}", g[i].rollout.status);
                        must_abort[i] = false;
                    }
                    for c in g.iter_mut() {
                        c.advance(secs);
                    }
                }
            }
            let live: Vec<i32> = g.iter().filter_map(progress).collect();
            if let (Some(lo), Some(hi)) = (live.iter().min(), live.iter().max()) {
                prop_assert!(hi - lo <= 1, "progress {:?}", g.iter().map(progress).collect::<Vec<_>>());
            }
        }
    }
}

#[test]
fn a_group_that_is_never_aborted_completes_together() {
    let mut g = group(3);
    for round in 0..200 {
        let i = (round * 7) % 3;
        tick(&mut g, i);
        for c in g.iter_mut() {
            c.advance(1);
        }
    }
    let all: Vec<Option<i32>> = g.iter().map(progress).collect();
    assert_eq!(all, vec![Some(STEPS as i32 + 1); 3]);
}

#[test]
fn analysis_args_read_another_members_hashes_from_status_group() {
    let mut g = group(2);
    for _ in 0..3 {
        for i in 0..2 {
            tick(&mut g, i);
            g[i].advance(1);
        }
    }
    let other = g[1].rollout.status.clone();
    let group = g[0].rollout.status.group.clone().expect("status.group");
    assert_eq!(group.name, "shop");
    let m1 = &group.members["m1"];
    assert_eq!(
        (m1.stable_rs.as_str(), m1.current_pod_hash.as_str()),
        (other.stable_rs.as_str(), other.current_pod_hash.as_str())
    );
    assert_ne!(m1.stable_rs, m1.current_pod_hash, "m1 is updating");
    // What a step analysis of m0 resolves for `valueFrom.fieldRef` args naming m1.
    let args: Vec<rollout_core::rollout::AnalysisRunArgument> = serde_json::from_value(json!([
        {"name": "publish-canary-hash",
         "valueFrom": {"fieldRef": {"fieldPath": "status.group.members.m1.currentPodHash"}}},
        {"name": "publish-stable-hash",
         "valueFrom": {"fieldRef": {"fieldPath": "status.group.members.m1.stableRS"}}},
    ]))
    .unwrap();
    let resolved = rollout_core::rollout::args::resolve_args(&g[0].rollout, &args, "s", "l");
    let values: Vec<Option<String>> = resolved.into_iter().map(|a| a.value).collect();
    assert_eq!(
        values,
        vec![
            Some(other.current_pod_hash.clone()),
            Some(other.stable_rs.clone())
        ]
    );
}

#[test]
fn the_two_deployment_template_sees_the_other_members_versions() {
    use rollout_core::analysis::{AnalysisTemplate, Argument, new_run_from_templates};
    use rollout_core::rollout::Action;
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/templates/two-deployment.yaml"
    );
    let template: AnalysisTemplate = serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let steps = json!([
        {"setWeight": 25},
        {"analysis": {"templates": [{"templateName": "author-and-publish-errors"}], "args": [
            {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}},
            {"name": "stable-hash", "valueFrom": {"podTemplateHashValue": "Stable"}},
            {"name": "publish-canary-hash",
             "valueFrom": {"fieldRef": {"fieldPath": "status.group.members.publish.currentPodHash"}}},
            {"name": "publish-stable-hash",
             "valueFrom": {"fieldRef": {"fieldPath": "status.group.members.publish.stableRS"}}}]}}
    ]);
    let mut g: Vec<FakeCluster> = ["author", "publish"]
        .iter()
        .map(|name| {
            let mut ro = canary(4, steps.clone(), json!({}));
            ro.metadata.name = (*name).into();
            ro.metadata
                .annotations
                .insert("rollout.io/group".into(), "cms".into());
            ro.metadata
                .annotations
                .insert("rollout.io/group-members".into(), "author,publish".into());
            let mut c = deployed(ro);
            c.set_image(&format!("{name}:v2"));
            c
        })
        .collect();
    let mut request = None;
    for _ in 0..10 {
        for i in 0..2 {
            let states = states(&g);
            g[i].inputs = inputs_for(&g[i].rollout.metadata.name.clone(), &states);
            let d = g[i].tick();
            g[i].advance(1);
            if i == 0 {
                request = request.or(d.actions.into_iter().find_map(|a| match a {
                    Action::CreateAnalysisRun(r) => Some(r),
                    _ => None,
                }));
            }
        }
    }
    let request = request.expect("author's step analysis");
    let publish = &g[1].rollout.status;
    let args: Vec<Argument> = request
        .args
        .iter()
        .map(|a| Argument {
            name: a.name.clone(),
            value: a.value.clone(),
            value_from: None,
        })
        .collect();
    let run = new_run_from_templates(&[template], &[], &args, &[], &[], "r", None).unwrap();
    let text = serde_json::to_string(&run.spec.args).unwrap();
    assert!(text.contains(&publish.current_pod_hash), "{text}");
    assert!(text.contains(&publish.stable_rs), "{text}");
    assert_ne!(publish.current_pod_hash, publish.stable_rs);
}
