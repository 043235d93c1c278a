//! End-to-end: grouped rollouts (issue #13) on a real kube-apiserver, driven by the controller
//! as its least-privilege ServiceAccount: two members move in lockstep at a pause, an abort of
//! one aborts both, and a missing member holds the other with a `GroupHold` condition naming it.

mod common;

use common::*;
use rollout_kube::resources::Rollout;
use rollout_kube::{group, ops};
use serde_json::{Value, json};

fn member(name: &str, members: &str, steps: Value) -> Value {
    let mut ro = rollout(name, 2, steps, &format!("example.invalid/{name}:v1"));
    ro["metadata"]["annotations"] = json!({
        "rollout.io/group": "shop",
        "rollout.io/group-members": members,
    });
    ro
}

fn group_hold(ro: &Rollout) -> Option<(String, String)> {
    ro.status["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "GroupHold")
        .map(|c| {
            (
                c["reason"].as_str().unwrap_or_default().to_string(),
                c["message"].as_str().unwrap_or_default().to_string(),
            )
        })
}

async fn update_both(c: &Cluster) {
    set_image(c, "author", "example.invalid/author:v2").await;
    set_image(c, "publish", "example.invalid/publish:v2").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn members_move_in_lockstep_and_an_abort_of_one_aborts_both() {
    let Some(c) = cluster("group").await else { return };
    let ctrl = start_controller(&c);
    let steps = json!([{"setWeight": 50}, {"pause": {}}, {"setWeight": 100}, {"pause": {}}]);
    create(&c, member("author", "author,publish", steps.clone())).await;
    create(&c, member("publish", "author,publish", steps)).await;
    for name in ["author", "publish"] {
        wait_for(&c, name, 90, "initial deploy Healthy", healthy_at_new_revision).await;
    }
    update_both(&c).await;
    for name in ["author", "publish"] {
        wait_for(&c, name, 90, "paused at step 1", |r| {
            paused(r) && step_index(r) == 1
        })
        .await;
    }

    // Lockstep: promoting only `author` lets it complete its pause, but it holds at step 2 (it
    // may not complete step 3 before `publish` completed step 2), naming `publish`.
    ops::promote(&c.admin, &c.ns, "author", false).await.unwrap();
    // (A hold from the update itself, at step 1 while `publish` had not yet completed step 0, may
    // still be recorded when the promote lands: wait for the one at step 2.)
    let held = wait_for(&c, "author", 90, "author held by publish at step 2", |r| {
        step_index(r) == 2 && group_hold(r).is_some_and(|(reason, _)| reason == "GroupMemberBehind")
    })
    .await;
    let (_, message) = group_hold(&held).unwrap();
    assert!(message.contains("waiting for member publish"), "{message}");
    assert_eq!(step_index(&held), 2, "{:#}", held.status);
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    let still = rollouts(&c).get("author").await.unwrap();
    assert_eq!(
        step_index(&still),
        2,
        "no step past the group: {:#}",
        still.status
    );
    let publish = rollouts(&c).get("publish").await.unwrap();
    assert_eq!(step_index(&publish), 1);

    // Promoting `publish` releases the hold: both reach the second pause, and no hold is left
    // once both are there.
    ops::promote(&c.admin, &c.ns, "publish", false).await.unwrap();
    for name in ["author", "publish"] {
        wait_for(&c, name, 90, "paused at step 3, not held", |r| {
            paused(r) && step_index(r) == 3 && group_hold(r).is_none()
        })
        .await;
    }

    // Abort one: the other aborts too, naming the member and its cause.
    ops::abort(&c.admin, &c.ns, "publish").await.unwrap();
    let author = wait_for(&c, "author", 90, "author aborted by the group", |r| {
        r.status["abort"] == json!(true)
    })
    .await;
    let why = author.status["why"]
        .as_array()
        .and_then(|w| w.iter().find(|w| w["cause"] == "GroupAbort"))
        .cloned()
        .unwrap_or_else(|| panic!("a GroupAbort cause: {:#}", author.status));
    assert_eq!(why["group"]["member"], "publish", "{why:#}");
    let progressing = author.status["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Progressing"))
        .cloned()
        .unwrap();
    assert!(
        progressing["message"]
            .as_str()
            .unwrap()
            .contains("group shop: member publish aborted"),
        "{progressing:#}"
    );
    for name in ["author", "publish"] {
        wait_for(&c, name, 90, "Degraded after the group abort", |r| {
            phase(r) == "Degraded"
        })
        .await;
    }

    // `rollout get` sees the group: both members aborted, author by the group.
    let view = group::group_view(&c.admin, &c.ns, "author")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(view.name, "shop");
    let names: Vec<&str> = view.members.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["author", "publish"]);
    assert!(view.members.iter().all(|m| m.aborted.is_some()), "{view:#?}");
    assert!(
        view.members[0]
            .aborted
            .as_deref()
            .unwrap()
            .contains("member publish aborted"),
        "{view:#?}"
    );

    // Retry applies to the group, the member aborted by its own cause first: then nobody is
    // aborted again and both resume.
    let order = group::members_in_write_order(&c.admin, &c.ns, "author")
        .await
        .unwrap();
    let order: Vec<&str> = order.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(order, ["publish", "author"]);
    for name in order {
        ops::retry(&c.admin, &c.ns, name).await.unwrap();
    }
    for name in ["author", "publish"] {
        wait_for(&c, name, 90, "resumed after the group retry", |r| {
            r.status.get("abort").is_none_or(|a| a == &json!(false)) && phase(r) != "Degraded"
        })
        .await;
    }
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    for name in ["author", "publish"] {
        let r = rollouts(&c).get(name).await.unwrap();
        assert_ne!(
            r.status["abort"],
            json!(true),
            "{name} aborted again: {:#}",
            r.status
        );
    }
    ctrl.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_member_holds_the_other_with_a_condition_naming_it() {
    let Some(c) = cluster("group-missing").await else {
        return;
    };
    let ctrl = start_controller(&c);
    let steps = json!([{"setWeight": 50}, {"pause": {"duration": 1}}, {"setWeight": 100}]);
    create(&c, member("author", "author,publish", steps)).await;
    // The initial deploy is not held; the update is.
    wait_for(
        &c,
        "author",
        90,
        "initial deploy Healthy",
        healthy_at_new_revision,
    )
    .await;
    set_image(&c, "author", "example.invalid/author:v2").await;
    let held = wait_for(&c, "author", 90, "held: publish is missing", |r| {
        group_hold(r).is_some()
    })
    .await;
    assert_eq!(
        group_hold(&held),
        Some((
            "GroupMemberMissing".to_string(),
            "group shop: member publish does not exist".to_string()
        ))
    );
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let still = rollouts(&c).get("author").await.unwrap();
    assert_eq!(
        step_index(&still),
        0,
        "held at the first step: {:#}",
        still.status
    );
    let events = rollout_events(&c, "Rollout", "author").await;
    assert!(
        events.iter().any(|(reason, _, message)| reason == "GroupHold"
            && message == "group shop: member publish does not exist"),
        "{events:?}"
    );
    ctrl.shutdown().await;
}
