//! Both providers against small HTTP servers started by the tests on 127.0.0.1: headers and bearer
//! tokens, request shapes, HTTP errors, malformed bodies, timeouts and refused connections.

mod support;

use std::time::Duration;

use analysis_providers::prometheus::PrometheusConfig;
use analysis_providers::{Header, PrometheusProvider, WebConfig, WebProvider};
use jiff::Timestamp;
use rollout_core::analysis::{AnalysisPhase, MetricValue, Observation};
use serde_json::json;
use support::{Reply, Stub, free_port};

const VECTOR: &str = r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000500,"0.97"]}]}}"#;

fn prom_cfg(address: String) -> PrometheusConfig {
    PrometheusConfig {
        address,
        query: "sum(rate(x[1m]))".to_string(),
        timeout: Some(1),
        headers: vec![Header {
            key: "X-Scope-OrgID".to_string(),
            value: "tenant_a".to_string(),
        }],
        ..Default::default()
    }
}

fn value_of(obs: Observation) -> String {
    match obs {
        Observation::Result { value, .. } => value,
        Observation::Decided { value, .. } => value,
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn prometheus_sends_query_time_headers_and_bearer_token() {
    let stub = Stub::start(|_| Reply::json(200, VECTOR)).await;
    let p = PrometheusProvider::new().unwrap().with_bearer_token("s3cret");
    let now = Timestamp::from_second(1_700_000_500).unwrap();
    let obs = p.measure_config(&prom_cfg(stub.url()), now).await.unwrap();
    assert_eq!(value_of(obs), "[0.97]");
    let reqs = stub.recorded();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(
        reqs[0].target,
        "/api/v1/query?query=sum%28rate%28x%5B1m%5D%29%29&time=1700000500"
    );
    assert_eq!(reqs[0].header("authorization"), Some("Bearer s3cret"));
    assert_eq!(reqs[0].header("x-scope-orgid"), Some("tenant_a"));
}

#[tokio::test]
async fn prometheus_http_errors_malformed_bodies_timeouts_and_refusals_say_why() {
    let now = Timestamp::from_second(1_700_000_500).unwrap();
    let p = PrometheusProvider::new().unwrap();

    let stub = Stub::start(|_| Reply::json(503, "upstream unavailable")).await;
    let err = p.measure_config(&prom_cfg(stub.url()), now).await.unwrap_err();
    assert_eq!(
        err.to_string(),
        "prometheus returned HTTP 503: upstream unavailable"
    );

    let stub =
        Stub::start(|_| Reply::json(200, r#"{"status":"success","data":{"resultType":"vector""#)).await;
    let err = p.measure_config(&prom_cfg(stub.url()), now).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("malformed prometheus response: EOF while parsing"),
        "{err}"
    );

    let stub = Stub::start(|_| Reply {
        status: 200,
        body: VECTOR.to_string(),
        delay: Duration::from_secs(5),
    })
    .await;
    let err = p.measure_config(&prom_cfg(stub.url()), now).await.unwrap_err();
    assert_eq!(err.to_string(), "prometheus query timed out after 1s");

    let closed = format!("http://127.0.0.1:{}", free_port());
    let err = p.measure_config(&prom_cfg(closed), now).await.unwrap_err();
    let text = err.to_string();
    assert!(text.starts_with("prometheus query failed: "), "{text}");
    assert!(text.to_lowercase().contains("connection refused"), "{text}");
}

#[tokio::test]
async fn web_get_with_json_path_and_headers() {
    let stub = Stub::start(|_| Reply::json(200, r#"{"data":{"ok":true,"successRate":0.993}}"#)).await;
    let w = WebProvider::new().unwrap();
    let cfg = WebConfig::from_value(&json!({
        "url": format!("{}/api/health?service=guestbook", stub.url()),
        "headers": [{"key": "Authorization", "value": "Bearer abc"}],
        "jsonPath": "{$.data.successRate}",
    }))
    .unwrap();
    match w.measure_config(&cfg).await.unwrap() {
        Observation::Result { result, value, .. } => {
            assert_eq!(result, MetricValue::Float(0.993));
            assert_eq!(value, "0.993");
        }
        other => panic!("{other:?}"),
    }
    let reqs = stub.recorded();
    assert_eq!(reqs[0].method, "GET");
    assert_eq!(reqs[0].target, "/api/health?service=guestbook");
    assert_eq!(reqs[0].header("authorization"), Some("Bearer abc"));
}

#[tokio::test]
async fn web_post_json_body_sets_content_type() {
    let stub = Stub::start(|req| Reply::json(200, &format!(r#"{{"echo":{}}}"#, req.body))).await;
    let w = WebProvider::new().unwrap();
    let cfg = WebConfig::from_value(&json!({
        "url": stub.url(),
        "method": "POST",
        "jsonBody": {"service": "guestbook", "window": "5m"},
        "jsonPath": "{$.echo.service}",
    }))
    .unwrap();
    assert_eq!(value_of(w.measure_config(&cfg).await.unwrap()), "\"guestbook\"");
    let reqs = stub.recorded();
    assert_eq!(reqs[0].method, "POST");
    assert_eq!(reqs[0].header("content-type"), Some("application/json"));
    assert_eq!(reqs[0].body, r#"{"service":"guestbook","window":"5m"}"#);
}

#[tokio::test]
async fn web_errors_as_upstream() {
    let w = WebProvider::new().unwrap();
    let stub = Stub::start(|_| Reply::json(500, "{}")).await;
    let cfg = WebConfig::from_value(&json!({"url": stub.url(), "jsonPath": "{$.ok}"})).unwrap();
    assert_eq!(
        w.measure_config(&cfg).await.unwrap_err().to_string(),
        "received non 2xx response code: 500"
    );

    let cfg = WebConfig::from_value(&json!({"url": stub.url(), "body": "x"})).unwrap();
    assert_eq!(
        w.measure_config(&cfg).await.unwrap_err().to_string(),
        "Body/JSONBody can only be used with POST or PUT WebMetric Method types"
    );
    let cfg =
        WebConfig::from_value(&json!({"url": stub.url(), "method": "PUT", "body": "x", "jsonBody": {}}))
            .unwrap();
    assert_eq!(
        w.measure_config(&cfg).await.unwrap_err().to_string(),
        "use either Body or JSONBody; both cannot exists for WebMetric payload"
    );

    let slow = Stub::start(|_| Reply {
        status: 200,
        body: "{}".to_string(),
        delay: Duration::from_secs(4),
    })
    .await;
    let cfg = WebConfig::from_value(&json!({"url": slow.url(), "timeoutSeconds": 1})).unwrap();
    assert_eq!(
        w.measure_config(&cfg).await.unwrap_err().to_string(),
        "web request timed out after 1s"
    );

    // A body that is not JSON is the value, and the measurement is Successful (upstream).
    let text = Stub::start(|_| Reply::json(200, "OK")).await;
    let cfg = WebConfig::from_value(&json!({"url": text.url(), "jsonPath": "{$.ok}"})).unwrap();
    match w.measure_config(&cfg).await.unwrap() {
        Observation::Decided { phase, value, .. } => {
            assert_eq!(phase, AnalysisPhase::Successful);
            assert_eq!(value, "OK");
        }
        other => panic!("{other:?}"),
    }
}
