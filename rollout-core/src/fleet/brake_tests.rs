//! `holds.yaml` parsing and validation (table), the round trip (property), matching, and the
//! add/remove edits.

use proptest::prelude::*;
use serde_json::json;

use super::*;

fn errors(text: &str) -> Vec<String> {
    match Brake::parse(text) {
        Ok(b) => panic!("accepted: {b:?}"),
        Err(BrakeError(e)) => e.iter().map(ToString::to_string).collect(),
    }
}

fn hold(image: Option<&str>, revision: Option<&str>, release: &str) -> Hold {
    Hold {
        image: image.map(str::to_string),
        revision: revision.map(str::to_string),
        release: release.into(),
        reason: "release issue".into(),
        since: "2026-12-02T10:00:00Z".parse().expect("timestamp"),
    }
}

#[test]
fn valid_brakes_parse() {
    assert_eq!(Brake::parse("").map(|b| b.holds.len()), Ok(0));
    assert_eq!(Brake::parse("[]").map(|b| b.holds.len()), Ok(0));
    let b = Brake::parse(
        "- image: registry/app:v2\n  release: v2\n  reason: release issue\n  since: 2026-12-02T10:00:00Z\n\
         - revision: 5f7d9c\n  release: v3\n  reason: x\n  since: 2026-12-02T11:00:00Z\n",
    )
    .expect("valid");
    assert_eq!(b.holds[0], hold(Some("registry/app:v2"), None, "v2"));
    assert_eq!(b.holds[1].revision.as_deref(), Some("5f7d9c"));
}

#[test]
fn every_mistake_is_reported_with_its_field_path() {
    let ok = "release: v2\n  reason: r\n  since: 2026-12-02T10:00:00Z";
    let table: &[(String, &[&str])] = &[
        (
            format!("- {ok}"),
            &["holds[0].image: Required value: a hold names an image or a revision (or both)"],
        ),
        (
            format!("- image: a:v1\n  {ok}\n- image: 'b c'\n  {ok}"),
            &["holds[1].image: Invalid value: \"b c\": an image reference without spaces"],
        ),
        (
            format!("- revision: 'ab-c'\n  {ok}"),
            &["holds[0].revision: Invalid value: \"ab-c\": a pod-template hash (letters and digits)"],
        ),
        (
            "- image: a\n  release: ''\n  reason: ' '\n  since: 2026-12-02T10:00:00Z".into(),
            &[
                "holds[0].release: Required value: the release this hold stops",
                "holds[0].reason: Required value: why the release is held",
            ],
        ),
        (
            format!("- image: a\n  tag: x\n  {ok}"),
            &[
                "holds[0].tag: Unsupported value: \"tag\": a hold has only image, revision, release, reason, since",
            ],
        ),
        (
            "- image: a\n  release: v2\n  reason: r\n  since: yesterday".into(),
            &["holds[0].since: Invalid value: \"yesterday\": an RFC 3339 time"],
        ),
        (
            "- image: 3\n  release: v2\n  reason: r".into(),
            &[
                "holds[0].image: Invalid value: Number(3): must be a string",
                "holds[0].since: Required value",
                "holds[0].image: Required value",
            ],
        ),
        (
            "- {release: v2}\n- x".into(),
            &[
                "holds[0].since: Required value",
                "holds[0].image: Required value",
                "holds[0].reason: Required value",
                "holds[1]: Invalid value: not a mapping",
            ],
        ),
        (
            "- {image: a, since: '2026-12-02T10:00:00Z'}".into(),
            &[
                "holds[0].release: Required value",
                "holds[0].reason: Required value",
            ],
        ),
        (
            "holds: []".into(),
            &["holds: Invalid value: not a list: a list of holds"],
        ),
        ("- [".into(), &["holds.yaml: Invalid value: YAML"]),
    ];
    for (text, want) in table {
        let got = errors(text);
        assert_eq!(got.len(), want.len(), "{text}: {got:?}");
        for (g, w) in got.iter().zip(want.iter()) {
            assert!(g.starts_with(w), "{text}:\n got {g}\nwant {w}");
        }
    }
}

#[test]
fn the_number_of_holds_and_the_size_are_bounded() {
    let one = "- {image: a, release: v, reason: r, since: '2026-12-02T10:00:00Z'}\n";
    assert_eq!(
        Brake::parse(&one.repeat(MAX_HOLDS)).map(|b| b.holds.len()),
        Ok(MAX_HOLDS)
    );
    assert_eq!(
        errors(&one.repeat(MAX_HOLDS + 1)),
        ["holds: Invalid value: 1001 holds: at most 1000 holds"]
    );
    let big = format!("# {}\n", "x".repeat(MAX_BRAKE_BYTES));
    assert_eq!(errors(&big).len(), 1);
    // Many bad holds: the first mistakes and a count of the rest.
    let bad = "- {release: v, reason: r, since: '2026-12-02T10:00:00Z'}\n".repeat(200);
    let e = errors(&bad);
    assert_eq!(e.len(), MAX_ERRORS + 1);
    assert!(e[MAX_ERRORS].contains("and 150 more"), "{}", e[MAX_ERRORS]);
}

#[test]
fn holds_match_template_images_or_the_pod_hash() {
    let mut ro = Rollout::default();
    ro.spec.template = Some(json!({"spec": {
        "initContainers": [{"name": "init", "image": "reg/init:v1"}],
        "containers": [{"name": "app", "image": "reg/app:v2"}, {"name": "side", "image": "reg/side:v1"}]
    }}));
    let brake = Brake {
        holds: vec![
            hold(Some("reg/app:v3"), None, "v3"),
            hold(Some("reg/app:v2"), None, "v2"),
            hold(None, Some("abc123"), "r"),
        ],
    };
    assert_eq!(
        brake.matching_hold(&ro, "zzz").map(|h| h.release.as_str()),
        Some("v2")
    );
    let init_only = Brake {
        holds: vec![hold(Some("reg/init:v1"), None, "i")],
    };
    assert!(init_only.matching_hold(&ro, "").is_some());
    let rev = Brake {
        holds: vec![hold(None, Some("abc123"), "r")],
    };
    assert!(rev.matching_hold(&ro, "abc123").is_some());
    assert!(rev.matching_hold(&ro, "abc124").is_none());
    assert!(rev.matching_hold(&ro, "").is_none());
}

#[test]
fn only_an_update_to_the_held_revision_is_held() {
    let mut ro = Rollout::default();
    ro.spec.template = Some(json!({"spec": {"containers": [{"name": "app", "image": "reg/app:v2"}]}}));
    let brake = Brake {
        holds: vec![hold(Some("reg/app:v2"), None, "v2")],
    };
    let obs = Observed::default();
    // Initial deploy (no stable yet): not an update.
    assert_eq!(brake.hold_for(&ro, &obs, "h2"), None);
    // Healthy on it already, or rolling back to the stable: not held.
    ro.status.stable_rs = "h2".into();
    assert_eq!(brake.hold_for(&ro, &obs, "h2"), None);
    // Updating from h1 to the held image: held, naming what matched.
    ro.status.stable_rs = "h1".into();
    let cause = brake.hold_for(&ro, &obs, "h2").expect("held");
    assert_eq!(cause.matched, HoldMatch::Image("reg/app:v2".into()));
    assert_eq!(
        cause.message(),
        "release v2 is held by the fleet brake (image reg/app:v2) since 2026-12-02T10:00:00Z: release issue"
    );
    // workloadRef: the images come from the referenced workload.
    ro.spec.template = None;
    assert_eq!(brake.hold_for(&ro, &obs, "h2"), None);
    let obs = Observed {
        workload: Some(crate::rollout::ObservedWorkload {
            template: json!({"spec": {"containers": [{"image": "reg/app:v2"}]}}),
            selector: None,
            generation: 1,
            replicas: 1,
        }),
        ..Observed::default()
    };
    assert!(brake.hold_for(&ro, &obs, "h2").is_some());
    // `apply` sets the hold with its cause, and clears only the cause.
    let mut inputs = Inputs::default();
    apply(&mut inputs, Some(cause));
    assert!(inputs.hold && inputs.fleet_hold.is_some());
    apply(&mut inputs, None);
    assert!(inputs.fleet_hold.is_none());
}

#[test]
fn add_replaces_the_same_target_and_remove_needs_a_selector() {
    let mut b = Brake::default();
    assert_eq!(b.add(hold(Some("a:v2"), None, "v2")), Ok(true));
    let mut later = hold(Some("a:v2"), None, "v2");
    later.since = Timestamp::UNIX_EPOCH;
    assert_eq!(
        b.add(later),
        Ok(false),
        "the same hold again keeps its first since"
    );
    assert_ne!(b.holds[0].since, Timestamp::UNIX_EPOCH);
    let mut other = hold(Some("a:v2"), None, "v2b");
    assert_eq!(b.add(other.clone()), Ok(true));
    assert_eq!(b.holds.len(), 1);
    other.image = Some("b:v2".into());
    assert_eq!(b.add(other), Ok(true));
    assert!(b.add(hold(None, None, "x")).is_err());
    assert!(b.remove(&HoldSelector::default()).is_empty());
    let sel = HoldSelector {
        release: Some("v2b".into()),
        ..Default::default()
    };
    assert_eq!(b.remove(&sel).len(), 2);
    assert!(b.holds.is_empty());
}

fn arb_hold() -> impl Strategy<Value = Hold> {
    (
        proptest::option::of("[a-z]{1,8}(/[a-z]{1,8})?:v[0-9]{1,2}"),
        proptest::option::of("[a-z0-9]{6,10}"),
        "[a-z0-9.\\-]{1,12}",
        "[ -~]{1,40}",
        0i64..4_000_000_000,
    )
        .prop_filter("image or revision", |(i, r, _, reason, _)| {
            (i.is_some() || r.is_some()) && !reason.trim().is_empty()
        })
        .prop_map(|(image, revision, release, reason, secs)| Hold {
            image,
            revision,
            release,
            reason,
            since: Timestamp::from_second(secs).unwrap_or_default(),
        })
}

proptest! {
    /// Whatever the CLI writes reads back the same.
    #[test]
    fn written_holds_read_back(holds in proptest::collection::vec(arb_hold(), 0..20)) {
        let brake = Brake { holds };
        prop_assert_eq!(Brake::parse(&brake.to_yaml()), Ok(brake));
    }
}
