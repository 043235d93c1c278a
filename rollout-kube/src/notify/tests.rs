//! Pure parts of notifications: URL and Secret reference parsing with field paths, target
//! choice, redaction, backoff, the JSON body, at-most-once queueing and drop counting.

use std::collections::BTreeMap;

use rollout_core::rollout::{RolloutPhase, RolloutStatus, Why};
use serde_json::json;

use super::*;

fn annotations(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn at() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

fn aborted(revision: i64) -> RolloutStatus {
    let mut why = Why::user_abort();
    why.revision = Some(revision);
    RolloutStatus {
        phase: Some(RolloutPhase::Degraded),
        feedback: why.feedback(),
        why: vec![why],
        ..Default::default()
    }
}

#[test]
fn urls_must_be_absolute_http_or_https_with_a_host() {
    let field = "metadata.annotations[rollout.io/notify-url]";
    let table: [(&str, Option<&str>); 7] = [
        ("https://hooks.example/rollouts", None),
        ("http://127.0.0.1:8080/x?y=1", None),
        ("ftp://hooks.example/", Some("the scheme must be http or https")),
        ("file:///etc/passwd", Some("the scheme must be http or https")),
        ("hooks.example/x", Some("relative URL without a base")),
        ("", Some("relative URL without a base")),
        ("http://", Some("empty host")),
    ];
    for (value, want) in table {
        match (parse_url(value, field), want) {
            (Ok(_), None) => {}
            (Err(e), Some(reason)) => {
                let text = e.to_string();
                assert!(
                    text.starts_with(&format!("{field}: invalid notification URL")),
                    "{text}"
                );
                assert!(text.contains(reason), "{value:?}: {text}");
            }
            (got, want) => panic!("{value:?}: got {got:?}, want {want:?}"),
        }
    }
}

#[test]
fn secret_references_are_name_or_name_slash_key() {
    let table: [(&str, Option<(&str, &str)>); 6] = [
        ("hook", Some(("hook", "token"))),
        ("hook/api-key", Some(("hook", "api-key"))),
        ("hook.v1/KEY_1", Some(("hook.v1", "KEY_1"))),
        ("Hook", None),
        ("hook/", None),
        ("/key", None),
    ];
    for (value, want) in table {
        let got = SecretRef::parse(value, "--notify-secret");
        match want {
            Some((name, key)) => {
                let r = got.unwrap();
                assert_eq!((r.name.as_str(), r.key.as_str()), (name, key));
            }
            None => assert!(
                got.unwrap_err()
                    .to_string()
                    .starts_with("--notify-secret: invalid Secret reference"),
                "{value}"
            ),
        }
    }
}

#[test]
fn a_rollouts_own_url_never_gets_the_controllers_secret() {
    let config = NotifyConfig {
        url: Some(parse_url("https://default.example/", "--notify-url").unwrap()),
        secret: Some(SecretRef::parse("hook", "--notify-secret").unwrap()),
        secret_namespace: "rollout-system".into(),
        ..Default::default()
    };
    let default = config.target("shop", &annotations(&[])).unwrap().unwrap();
    assert_eq!(default.url.as_str(), "https://default.example/");
    assert_eq!(
        default
            .secret
            .as_ref()
            .map(|(ns, r)| (ns.as_str(), r.name.as_str())),
        Some(("rollout-system", "hook"))
    );

    let own = config
        .target(
            "shop",
            &annotations(&[(URL_ANNOTATION, "https://team.example/x")]),
        )
        .unwrap()
        .unwrap();
    assert_eq!((own.url.as_str(), own.secret), ("https://team.example/x", None));

    let own_secret = config
        .target("shop", &annotations(&[(SECRET_ANNOTATION, "team/key")]))
        .unwrap()
        .unwrap();
    assert_eq!(
        own_secret.secret.map(|(ns, r)| (ns, r.name, r.key)),
        Some(("shop".into(), "team".into(), "key".into()))
    );

    assert_eq!(
        NotifyConfig::default().target("shop", &annotations(&[])).unwrap(),
        None
    );
    let err = config
        .target("shop", &annotations(&[(URL_ANNOTATION, "gopher://x")]))
        .unwrap_err();
    assert!(
        err.to_string()
            .starts_with("metadata.annotations[rollout.io/notify-url]:"),
        "{err}"
    );
}

#[test]
fn secrets_are_redacted_and_sent_as_bearer_or_as_given() {
    let token = Redacted::new("s3cr3t");
    assert_eq!(format!("{token:?} {token}"), "*** ***");
    assert_eq!(format!("{:?}", Some(&token)), "Some(***)");
    assert_eq!(token.authorization(), "Bearer s3cr3t");
    assert_eq!(
        Redacted::new("Basic dXNlcjpwYXNz").authorization(),
        "Basic dXNlcjpwYXNz"
    );
    let url = parse_url("https://user:pw@hooks.example/x", "f").unwrap();
    assert_eq!(display_url(&url), "https://hooks.example/x");
}

#[test]
fn backoff_doubles_to_its_cap_and_only_transient_statuses_are_retried() {
    let p = RetryPolicy {
        attempts: 5,
        base: Duration::from_secs(1),
        max: Duration::from_secs(5),
        timeout: Duration::from_secs(1),
    };
    let waits: Vec<u64> = (1..=5).map(|n| p.delay(n).as_secs()).collect();
    assert_eq!(waits, vec![1, 2, 4, 5, 5]);
    assert_eq!(p.delay(u32::MAX), Duration::from_secs(5));
    for (status, want) in [
        (400, false),
        (401, false),
        (404, false),
        (408, true),
        (429, true),
        (500, true),
        (503, true),
    ] {
        assert_eq!(retryable(status), want, "{status}");
    }
}

#[test]
fn the_body_carries_the_sentence_and_the_structured_causes() {
    let status = aborted(7);
    let body = Notification::of_status("shop", "web", Some(6), &status, at()).unwrap();
    let v = serde_json::to_value(&body).unwrap();
    assert_eq!(v["rollout"], json!({"namespace": "shop", "name": "web"}));
    assert_eq!(v["revision"], 7, "the abort's revision wins");
    assert_eq!(v["phase"], "Degraded");
    assert_eq!(v["feedback"], "rolled back: aborted by a user");
    assert_eq!(v["why"][0]["cause"], "UserAbort");
    assert_eq!(v["time"], serde_json::to_value(at()).unwrap());
    assert_eq!(body.key(), format!("shop/web/7/{}", body.fingerprint()));
    assert_eq!(body.fingerprint().len(), 16);
    assert!(Notification::of_status("shop", "web", None, &RolloutStatus::default(), at()).is_none());
}

#[tokio::test]
async fn each_sentence_is_queued_once_per_revision_and_a_full_queue_drops_visibly() {
    // The worker is started on this current-thread runtime and does not run until the test
    // awaits, so the queue (one slot) stays full.
    let config = NotifyConfig {
        url: Some(parse_url("http://127.0.0.1:9/", "--notify-url").unwrap()),
        queue: 1,
        ..Default::default()
    };
    let n = Notifier::start(None, config, NotifyMetrics::default());
    let none = annotations(&[]);
    assert_eq!(
        n.notify("shop", "web", &none, None, &aborted(2), at()),
        Queued::Queued
    );
    assert_eq!(
        n.notify("shop", "web", &none, None, &aborted(2), at()),
        Queued::Duplicate
    );
    assert_eq!(
        n.notify("shop", "web", &none, None, &aborted(3), at()),
        Queued::Dropped
    );
    assert_eq!(
        n.notify("shop", "web", &none, None, &RolloutStatus::default(), at()),
        Queued::Nothing
    );
    let bad = annotations(&[(URL_ANNOTATION, "ftp://x")]);
    assert!(
        matches!(n.notify("shop", "web", &bad, None, &aborted(2), at()), Queued::Invalid(e) if e.contains("rollout.io/notify-url"))
    );
    let m = n.metrics();
    let counts: Vec<u64> = ["queued", "duplicate", "dropped", "invalid"]
        .iter()
        .map(|o| m.get(o))
        .collect();
    assert_eq!(counts, vec![1, 1, 1, 1]);
}
