//! The Prometheus provider against a real Prometheus (Debian package) started by each test on
//! 127.0.0.1 with deterministic data backfilled by `promtool tsdb create-blocks-from openmetrics`,
//! queried at fixed times; plus a run where Prometheus is stopped mid-run and comes back.

mod support;

use analysis_providers::prometheus::{PrometheusConfig, PrometheusProvider, RangeQueryConfig};
use jiff::Timestamp;
use rollout_core::analysis::{
    MeasurementRequest, Metric, MetricProvider, MetricValue, Observation, ProviderError, ProviderErrorKind,
};
use rollout_driver::MeasurementProvider;
use serde_json::json;
use support::PromServer;

/// Start of the data: 2023-11-14T22:13:20Z.
const T0: i64 = 1_700_000_000;
/// One sample every 15 s for 20 minutes.
const STEP: i64 = 15;
const STEPS: i64 = 80;

/// Counters after k steps: canary 9k OK + k errors (10% errors), stable 20k OK and no errors.
fn openmetrics() -> String {
    let mut out = String::from("# HELP http_requests Requests served.\n# TYPE http_requests counter\n");
    let series: [(&str, &str, i64); 4] = [
        ("canary", "200", 9),
        ("canary", "500", 1),
        ("stable", "200", 20),
        ("stable", "500", 0),
    ];
    for (version, code, per_step) in series {
        for k in 0..=STEPS {
            out.push_str(&format!(
                "http_requests_total{{version=\"{version}\",code=\"{code}\"}} {} {}\n",
                per_step * k,
                T0 + STEP * k
            ));
        }
    }
    out.push_str("# EOF\n");
    out
}

fn at(offset: i64) -> Timestamp {
    Timestamp::from_second(T0 + offset).unwrap()
}

fn cfg(server: &PromServer, query: &str) -> PrometheusConfig {
    PrometheusConfig {
        address: server.url(),
        query: query.to_string(),
        timeout: Some(5),
        ..Default::default()
    }
}

fn result(obs: Observation) -> (MetricValue, String) {
    match obs {
        Observation::Result { result, value, .. } => (result, value),
        other => panic!("expected a result, got {other:?}"),
    }
}

fn request(provider: MetricProvider, now: Timestamp, window_start: Timestamp) -> MeasurementRequest {
    MeasurementRequest {
        namespace: None,
        run: "guestbook-6c5b7-2-1".to_string(),
        metric: Metric {
            name: "error-ratio".to_string(),
            provider,
            ..Default::default()
        },
        args: Vec::new(),
        now,
        window_start,
        previous: None,
        in_flight: None,
        weights: Vec::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn instant_queries_at_a_fixed_time_give_exact_values() {
    let Some(server) = PromServer::start(&openmetrics()) else {
        return;
    };
    let p = PrometheusProvider::new().unwrap();
    let now = at(600); // k = 40
    let cases: Vec<(&str, MetricValue, &str)> = vec![
        (
            r#"sum(http_requests_total{version="canary",code="500"}) / sum(http_requests_total{version="canary"})"#,
            MetricValue::from(vec![0.1]),
            "[0.1]",
        ),
        (
            r#"scalar(sum(http_requests_total{version="canary",code="500"}))"#,
            MetricValue::Float(40.0),
            "40",
        ),
        (
            r#"sort(http_requests_total{version="canary"})"#,
            MetricValue::from(vec![40.0, 360.0]),
            "[40,360]",
        ),
        (
            r#"sum(http_requests_total{version="stable",code="500"}) / sum(http_requests_total{version="stable"})"#,
            MetricValue::from(vec![0.0]),
            "[0]",
        ),
        // No such series: upstream hands `[]` to the conditions (then `result[0]` errors).
        (
            r#"http_requests_total{version="nope"}"#,
            MetricValue::Array(vec![]),
            "[]",
        ),
        // 0/0 is NaN, which the conditions see as a float (isNaN(result[0]) holds).
        (
            r#"sum(http_requests_total{version="stable",code="500"}) / sum(http_requests_total{version="stable",code="500"})"#,
            MetricValue::from(vec![f64::NAN]),
            "[NaN]",
        ),
    ];
    for (query, want_result, want_value) in cases {
        let obs = p.measure_config(&cfg(&server, query), now).await.unwrap();
        let (r, v) = result(obs);
        assert_eq!(r.to_string(), want_result.to_string(), "{query}");
        assert_eq!(v, want_value, "{query}");
    }

    // The realistic form: a ratio of rates over a window.
    let obs = p
        .measure_config(
            &cfg(
                &server,
                r#"sum(rate(http_requests_total{version="canary",code="500"}[1m])) / sum(rate(http_requests_total{version="canary"}[1m]))"#,
            ),
            now,
        )
        .await
        .unwrap();
    let (r, _) = result(obs);
    let MetricValue::Array(items) = r else {
        panic!("{r:?}")
    };
    let MetricValue::Float(ratio) = items[0] else {
        panic!("{items:?}")
    };
    assert!((ratio - 0.1).abs() < 1e-9, "{ratio}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn range_queries_return_the_flattened_matrix_and_judge_samples() {
    let Some(server) = PromServer::start(&openmetrics()) else {
        return;
    };
    let p = PrometheusProvider::new().unwrap();
    let mut c = cfg(
        &server,
        r#"sum(http_requests_total{version="canary",code="500"})"#,
    );
    c.range_query = Some(RangeQueryConfig {
        start: r#"now() - duration("60s")"#.to_string(),
        end: "now()".to_string(),
        step: "30s".to_string(),
    });
    // Window [60 s, 120 s] → k = 4, 6, 8.
    let (r, v) = result(p.measure_config(&c, at(120)).await.unwrap());
    assert_eq!(r, MetricValue::from(vec![4.0, 6.0, 8.0]));
    assert_eq!(v, "[4,6,8]");

    // Judges ask for series over [window_start, now] through the trait.
    let provider = MetricProvider::opaque(
        "prometheus",
        json!({"address": server.url(), "query": "sum by (code) (http_requests_total{version=\"canary\"})",
               "rangeQuery": {"step": "1m"}}),
    );
    let req = request(provider.clone(), at(180), at(60));
    let samples = p.query_range(&req, &provider).await.unwrap();
    let mut got: Vec<(String, i64, f64)> = samples
        .iter()
        .map(|s| (s.labels["code"].clone(), s.time_ms, s.value))
        .collect();
    got.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let ms = |off: i64| (T0 + off) * 1000;
    assert_eq!(
        got,
        vec![
            ("200".to_string(), ms(60), 36.0),
            ("200".to_string(), ms(120), 72.0),
            ("200".to_string(), ms(180), 108.0),
            ("500".to_string(), ms(60), 4.0),
            ("500".to_string(), ms(120), 8.0),
            ("500".to_string(), ms(180), 12.0),
        ]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_promql_is_an_error_with_prometheus_reason() {
    let Some(server) = PromServer::start(&openmetrics()) else {
        return;
    };
    let p = PrometheusProvider::new().unwrap();
    let err = p
        .measure_config(&cfg(&server, "sum(http_requests_total"), at(600))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("prometheus returned HTTP 400: bad_data: invalid parameter \"query\""),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prometheus_stopped_mid_run_gives_errors_then_recovers() {
    let Some(mut server) = PromServer::start(&openmetrics()) else {
        return;
    };
    let p = PrometheusProvider::new().unwrap();
    let provider = MetricProvider::opaque(
        "prometheus",
        json!({"address": server.url(), "timeout": 5,
               "query": "sum(http_requests_total{version=\"canary\",code=\"500\"}) / sum(http_requests_total{version=\"canary\"})"}),
    );
    // Three measurements a minute apart, as a run with `interval: 1m` takes them.
    let mut outcomes: Vec<Result<String, ProviderError>> = Vec::new();
    for (i, minute) in [5, 6, 7, 8, 9].iter().enumerate() {
        if i == 2 {
            server.stop();
        }
        if i == 4 {
            server.restart();
        }
        let req = request(provider.clone(), at(minute * 60), at(0));
        outcomes.push(match p.measure(&req).await {
            Ok(obs) => Ok(result(obs).1),
            Err(e) => Err(e),
        });
    }
    assert_eq!(outcomes[0].as_ref().ok(), Some(&"[0.1]".to_string()));
    assert_eq!(outcomes[1].as_ref().ok(), Some(&"[0.1]".to_string()));
    for failed in &outcomes[2..4] {
        let err = failed.as_ref().unwrap_err();
        // A new connection is refused; a pooled keep-alive connection may instead be found closed
        // by the stopped server. Both are the same typed cause.
        assert_eq!(err.kind(), ProviderErrorKind::Unreachable, "{err}");
        let text = err.to_string().to_lowercase();
        assert!(text.starts_with("prometheus query failed: "), "{text}");
        assert!(
            text.contains("connection refused") || text.contains("connection closed"),
            "{text}"
        );
    }
    assert_eq!(outcomes[4].as_ref().ok(), Some(&"[0.1]".to_string()));
    assert!(matches!(
        p.measure(&request(MetricProvider::default(), at(0), at(0))).await,
        Err(ProviderError::InvalidConfig { .. })
    ));
}
