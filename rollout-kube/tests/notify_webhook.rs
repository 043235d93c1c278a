//! Webhook notifications against a local HTTP server on 127.0.0.1 (started and stopped by each
//! test): retries with backoff on 503, no retry on 400, the JSON body and `Authorization`
//! header, the asynchronous notifier, and no token in logs, errors or `Debug`.

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rollout_core::common::Timestamp;
use rollout_core::rollout::{RolloutPhase, RolloutStatus, Why};
use rollout_kube::notify::{
    Notification, Notifier, NotifyConfig, NotifyError, NotifyMetrics, Queued, Redacted, RetryPolicy, deliver,
    parse_url,
};
use serde_json::json;
use tokio::net::TcpListener;

mod notify_server;

use notify_server::Server;

const TOKEN: &str = "s3cr3t-hook-t0ken";

/// Log lines written while a test runs (every level), for the no-token checks.
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture(&self) -> tracing::subscriber::DefaultGuard {
        let logs = self.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(move || logs.clone())
            .finish();
        tracing::subscriber::set_default(subscriber)
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).to_string()
    }
}

fn at() -> Timestamp {
    Timestamp::from_second(1_800_000_000).unwrap()
}

fn aborted() -> RolloutStatus {
    let mut why = Why::forced_abort("fleet brake engaged".into());
    why = why.into_abort();
    why.revision = Some(4);
    RolloutStatus {
        phase: Some(RolloutPhase::Degraded),
        feedback: why.feedback(),
        why: vec![why],
        ..Default::default()
    }
}

fn body() -> Notification {
    Notification::of_status("shop", "web", None, &aborted(), at()).unwrap()
}

fn policy(base_ms: u64) -> RetryPolicy {
    RetryPolicy {
        attempts: 5,
        base: Duration::from_millis(base_ms),
        max: Duration::from_secs(2),
        timeout: Duration::from_secs(5),
    }
}

#[tokio::test]
async fn two_503s_then_200_is_three_attempts_with_doubling_waits() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let server = Server::start(&[503, 503, 200]).await;
    let url = parse_url(&server.url, "--notify-url").unwrap();
    let token = Redacted::new(TOKEN);
    let http = reqwest::Client::new();
    let out = deliver(&http, &url, Some(&token), &body(), &policy(150))
        .await
        .unwrap();
    assert_eq!((out.attempts, out.status), (3, 200));

    let seen = server.seen();
    assert_eq!(seen.len(), 3, "{seen:#?}");
    for s in &seen {
        assert!(s.head.starts_with("POST /hooks/rollouts HTTP/1.1"), "{}", s.head);
        assert_eq!(
            s.header("authorization").as_deref(),
            Some(format!("Bearer {TOKEN}").as_str())
        );
        assert_eq!(s.header("content-type").as_deref(), Some("application/json"));
        assert_eq!(s.header("idempotency-key"), Some(body().key()));
        assert_eq!(
            s.body,
            json!({
                "rollout": {"namespace": "shop", "name": "web"},
                "revision": 4,
                "phase": "Degraded",
                "feedback": "rolled back: aborted by the coordinator: fleet brake engaged",
                "why": [{"cause": "ForcedAbort", "condition": "Progressing", "reason": "RolloutAborted",
                         "revision": 4, "detail": "fleet brake engaged"}],
                "time": serde_json::to_value(at()).unwrap()
            })
        );
    }
    // Waits of 150 ms then 300 ms (base doubling), give or take scheduling.
    let gaps: Vec<Duration> = seen.windows(2).map(|w| w[1].at - w[0].at).collect();
    assert!(
        gaps[0] >= Duration::from_millis(150) && gaps[0] < Duration::from_millis(1500),
        "{gaps:?}"
    );
    assert!(
        gaps[1] >= Duration::from_millis(300) && gaps[1] < Duration::from_millis(1800),
        "{gaps:?}"
    );
    assert!(gaps[1] > gaps[0], "{gaps:?}");

    let text = logs.text();
    assert!(text.contains("retrying"), "retries are logged: {text}");
    assert!(!text.contains(TOKEN), "token in the logs: {text}");
    assert!(!format!("{token:?} {token}").contains(TOKEN));
}

#[tokio::test]
async fn a_400_is_not_retried_and_the_error_has_no_token() {
    let server = Server::start(&[400, 200]).await;
    let url = parse_url(&server.url, "--notify-url").unwrap();
    let token = Redacted::new(TOKEN);
    let err = deliver(&reqwest::Client::new(), &url, Some(&token), &body(), &policy(10))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            NotifyError::Status {
                status: 400,
                attempts: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(server.seen().len(), 1);
    let text = format!("{err} {err:?}");
    assert!(!text.contains(TOKEN), "{text}");
}

#[tokio::test]
async fn an_unreachable_endpoint_uses_every_attempt() {
    // Bind then drop: nothing listens on the port any more.
    let port = TcpListener::bind("127.0.0.1:0")
        .await
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = parse_url(&format!("http://user:pw@127.0.0.1:{port}/x"), "--notify-url").unwrap();
    let mut retry = policy(5);
    retry.attempts = 3;
    let err = deliver(&reqwest::Client::new(), &url, None, &body(), &retry)
        .await
        .unwrap_err();
    assert!(
        matches!(err, NotifyError::Transport { attempts: 3, .. }),
        "{err:?}"
    );
    assert!(!err.to_string().contains("pw"), "{err}");
}

#[tokio::test]
async fn the_notifier_delivers_in_the_background_once_per_sentence() {
    let logs = Logs::default();
    let _guard = logs.capture();
    let server = Server::start(&[503, 503, 200]).await;
    let config = NotifyConfig {
        url: Some(parse_url(&server.url, "--notify-url").unwrap()),
        retry: policy(20),
        ..Default::default()
    };
    let notifier = Notifier::start(None, config, NotifyMetrics::default());
    let none = Default::default();
    let started = Instant::now();
    assert_eq!(
        notifier.notify("shop", "web", &none, None, &aborted(), at()),
        Queued::Queued
    );
    assert!(
        started.elapsed() < Duration::from_millis(20),
        "notify never waits for the endpoint"
    );
    assert_eq!(
        notifier.notify("shop", "web", &none, None, &aborted(), at()),
        Queued::Duplicate
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while notifier.metrics().get("sent") < 1 {
        assert!(Instant::now() < deadline, "not delivered: {}", logs.text());
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(server.seen().len(), 3);
    assert_eq!(
        server.seen()[2].body["feedback"],
        "rolled back: aborted by the coordinator: fleet brake engaged"
    );
    assert_eq!(
        server.seen()[2].header("authorization"),
        None,
        "no Secret configured"
    );
    assert!(logs.text().contains("notification sent"), "{}", logs.text());
}
