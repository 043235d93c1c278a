use super::*;
use serde_json::json;

fn obs(body: &str) -> Result<(MetricValue, String, BTreeMap<String, String>), String> {
    let response = decode_response(200, body)?;
    match observation(&response)? {
        Observation::Result {
            result,
            value,
            metadata,
        } => Ok((result, value, metadata)),
        other => panic!("unexpected {other:?}"),
    }
}

#[test]
fn result_types_map_to_values_as_upstream() {
    // (body, result the conditions see, measurement value)
    let cases: Vec<(&str, MetricValue, &str)> = vec![
        (
            r#"{"status":"success","data":{"resultType":"scalar","result":[1700000500,"10"]}}"#,
            MetricValue::Float(10.0),
            "10",
        ),
        (
            r#"{"status":"success","data":{"resultType":"vector","result":[
                {"metric":{"a":"1"},"value":[1700000500,"10"]},{"metric":{},"value":[1700000500,"11"]}]}}"#,
            MetricValue::from(vec![10.0, 11.0]),
            "[10,11]",
        ),
        (
            r#"{"status":"success","data":{"resultType":"vector","result":[]}}"#,
            MetricValue::Array(vec![]),
            "[]",
        ),
        (
            r#"{"status":"success","data":{"resultType":"matrix","result":[
                {"metric":{},"values":[[1,"11"],[2,"12"]]},{"metric":{},"values":[[1,"13"],[2,"14"]]}]}}"#,
            MetricValue::from(vec![11.0, 12.0, 13.0, 14.0]),
            "[11,12,13,14]",
        ),
        (
            r#"{"status":"success","data":{"resultType":"scalar","result":[1,"NaN"]}}"#,
            MetricValue::Float(f64::NAN),
            "NaN",
        ),
        (
            r#"{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"+Inf"]},{"metric":{},"value":[1,"0.9"]}]}}"#,
            MetricValue::from(vec![f64::INFINITY, 0.9]),
            "[+Inf,0.9]",
        ),
    ];
    for (body, result, value) in cases {
        let (r, v, _) = obs(body).unwrap();
        // NaN != NaN: compare the Go-style rendering too.
        assert_eq!(r.to_string(), result.to_string(), "{body}");
        assert!(r == result || r.to_string().contains("NaN"), "{body}");
        assert_eq!(v, value, "{body}");
    }
}

#[test]
fn string_results_are_not_supported() {
    let err = obs(r#"{"status":"success","data":{"resultType":"string","result":[1,"hello"]}}"#).unwrap_err();
    assert_eq!(err, "Prometheus metric type not supported");
}

#[test]
fn warnings_are_kept_as_upstream() {
    let (_, _, metadata) = obs(
        r#"{"status":"success","warnings":["warning","warning2"],"data":{"resultType":"scalar","result":[1,"10"]}}"#,
    )
    .unwrap();
    assert_eq!(metadata.get("warnings").unwrap(), r#""warning", "warning2""#);
}

#[test]
fn api_errors_http_errors_and_malformed_bodies_say_why() {
    let cases: Vec<(u16, &str, &str)> = vec![
        (
            400,
            r#"{"status":"error","errorType":"bad_data","error":"invalid parameter \"query\": 1:5: parse error"}"#,
            r#"prometheus returned HTTP 400: bad_data: invalid parameter "query": 1:5: parse error"#,
        ),
        (
            502,
            "<html>Bad Gateway</html>",
            "prometheus returned HTTP 502: <html>Bad Gateway</html>",
        ),
        (
            200,
            "not json",
            "malformed prometheus response: expected ident at line 1 column 2 (body: \"not json\")",
        ),
        (
            200,
            r#"{"status":"success"}"#,
            "malformed prometheus response: success without data",
        ),
        (
            200,
            r#"{"status":"success","data":{"resultType":"scalar","result":[1,"ten"]}}"#,
            r#"malformed prometheus response: sample value "ten" is not a number"#,
        ),
    ];
    for (status, body, want) in cases {
        assert_eq!(decode_response(status, body).unwrap_err(), want, "{body}");
    }
}

#[test]
fn config_defaults_and_validation() {
    let provider = MetricProvider::opaque(
        "prometheus",
        json!({"address": "http://p:9090/", "query": "up", "timeout": 40,
               "headers": [{"key": "X-Scope-OrgID", "value": "tenant_a"}],
               "rangeQuery": {"start": "now() - duration(\"5m\")", "end": "now()", "step": "1m"}}),
    );
    let cfg = PrometheusConfig::from_provider(&provider).unwrap();
    assert_eq!(cfg.timeout().unwrap(), Duration::from_secs(40));
    assert_eq!(cfg.headers.len(), 1);
    assert_eq!(cfg.range_query.as_ref().unwrap().step, "1m");
    let p = PrometheusProvider::new().unwrap();
    assert_eq!(p.base_url(&cfg).unwrap(), "http://p:9090");

    let mut cfg = PrometheusConfig::default();
    assert_eq!(cfg.timeout().unwrap(), DEFAULT_TIMEOUT);
    assert_eq!(
        p.base_url(&cfg).unwrap_err().to_string(),
        "invalid prometheus provider config: prometheus address is not configured"
    );
    let with_default = p.clone().with_default_address("http://fallback:9090");
    assert_eq!(with_default.base_url(&cfg).unwrap(), "http://fallback:9090");
    cfg.address = ":invalid::url".into();
    assert_eq!(
        p.base_url(&cfg).unwrap_err().to_string(),
        "invalid prometheus provider config: prometheus address \":invalid::url\" is not a URL"
    );
    cfg.timeout = Some(-20);
    assert_eq!(
        cfg.timeout().unwrap_err().to_string(),
        "invalid prometheus provider config: prometheus timeout should not be negative"
    );
    let bad = MetricProvider::opaque("prometheus", json!({"timeout": "soon"}));
    assert!(PrometheusConfig::from_provider(&bad).is_err());
}

#[test]
fn unix_params_and_judge_steps() {
    assert_eq!(
        unix_param(Timestamp::from_second(1_700_000_500).unwrap()),
        "1700000500"
    );
    assert_eq!(
        unix_param(Timestamp::from_millisecond(1_700_000_500_250).unwrap()),
        "1700000500.250"
    );
    let cfg = PrometheusConfig::default();
    assert_eq!(judge_step(&cfg, Duration::from_secs(600)).unwrap(), DEFAULT_STEP);
    // A 30-day window at the default step would exceed 11,000 points: the step widens.
    assert_eq!(
        judge_step(&cfg, Duration::from_secs(30 * 86_400)).unwrap(),
        Duration::from_secs(236)
    );
    let cfg = PrometheusConfig {
        range_query: Some(RangeQueryConfig {
            step: "15s".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        judge_step(&cfg, Duration::from_secs(600)).unwrap(),
        Duration::from_secs(15)
    );
}

#[test]
fn samples_carry_labels_and_millisecond_times() {
    let response = decode_response(
        200,
        r#"{"status":"success","data":{"resultType":"matrix","result":[
            {"metric":{"le":"0.5"},"values":[[1700000000.5,"3"],[1700000060,"4"]]}]}}"#,
    )
    .unwrap();
    let s = samples(&response.result).unwrap();
    assert_eq!(s.len(), 2);
    assert_eq!(s[0].time_ms, 1_700_000_000_500);
    assert_eq!(s[0].labels.get("le").unwrap(), "0.5");
    assert_eq!(s[1].value, 4.0);
    assert!(samples(&QueryResult::Scalar(1.0)).is_err());
}
