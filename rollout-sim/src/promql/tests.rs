use super::*;

fn labels(pairs: &[(&str, &str)]) -> Labels {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Same shape as the real-Prometheus test data: canary 9k OK + k errors, stable 20k OK, every 15 s.
fn store() -> SeriesStore {
    let mut s = SeriesStore::new();
    for k in 0..=80i64 {
        let t = k * 15_000;
        for (version, code, per) in [
            ("canary", "200", 9.0),
            ("canary", "500", 1.0),
            ("stable", "200", 20.0),
        ] {
            s.push(
                "http_requests_total",
                &labels(&[("version", version), ("code", code)]),
                t,
                per * k as f64,
            );
        }
        for (le, share) in [("0.1", 0.5), ("0.5", 0.9), ("+Inf", 1.0)] {
            s.push(
                "latency_seconds_bucket",
                &labels(&[("version", "canary"), ("le", le)]),
                t,
                share * 100.0 * k as f64,
            );
        }
    }
    s
}

fn scalar_or_first(r: &QueryResponse) -> Vec<f64> {
    match &r.result {
        QueryResult::Scalar(v) => vec![*v],
        QueryResult::Vector(s) | QueryResult::Matrix(s) => {
            s.iter().flat_map(|s| s.points.iter().map(|p| p.1)).collect()
        }
        QueryResult::String(_) => vec![],
    }
}

#[test]
fn instant_queries_table() {
    let s = store();
    let t = 600_000; // k = 40
    let cases: Vec<(&str, Vec<f64>)> = vec![
        (
            r#"sum(http_requests_total{version="canary",code="500"}) / sum(http_requests_total{version="canary"})"#,
            vec![0.1],
        ),
        (
            r#"scalar(sum(http_requests_total{version="canary",code=~"5.."}))"#,
            vec![40.0],
        ),
        (
            r#"sort(http_requests_total{version="canary"})"#,
            vec![40.0, 360.0],
        ),
        (
            r#"sort_desc(sum by (version) (http_requests_total))"#,
            vec![800.0, 400.0],
        ),
        (
            r#"sum(rate(http_requests_total{version="canary",code="500"}[1m]))"#,
            vec![1.0 / 15.0],
        ),
        (
            r#"sum(increase(http_requests_total{version="stable"}[1m]))"#,
            vec![60.0],
        ),
        (r#"http_requests_total{version="nope"}"#, vec![]),
        (r#"count(http_requests_total)"#, vec![3.0]),
        (r#"2 * 3 - 1"#, vec![5.0]),
        (
            r#"histogram_quantile(0.5, sum by (le) (latency_seconds_bucket))"#,
            vec![0.1],
        ),
        (
            r#"histogram_quantile(0.7, sum by (le) (rate(latency_seconds_bucket[1m])))"#,
            vec![0.30000000000000004],
        ),
    ];
    for (q, want) in cases {
        let got = scalar_or_first(&s.query(q, t).unwrap());
        assert_eq!(got.len(), want.len(), "{q}: {got:?}");
        for (g, w) in got.iter().zip(&want) {
            assert!((g - w).abs() < 1e-12, "{q}: got {g}, want {w}");
        }
    }
}

#[test]
fn range_queries_group_by_labels() {
    let s = store();
    let r = s
        .query_range(
            r#"sum by (code) (http_requests_total{version="canary"})"#,
            60_000,
            120_000,
            Duration::from_secs(30),
        )
        .unwrap();
    let QueryResult::Matrix(series) = r.result else {
        panic!()
    };
    assert_eq!(series.len(), 2);
    let c500 = series.iter().find(|s| s.labels["code"] == "500").unwrap();
    assert_eq!(c500.points, vec![(60.0, 4.0), (90.0, 6.0), (120.0, 8.0)]);
}

#[test]
fn unsupported_and_invalid_queries_say_why() {
    let s = store();
    assert!(s.query("sum(", 0).unwrap_err().starts_with("bad_data: "));
    assert_eq!(
        s.query("stddev(http_requests_total)", 0).unwrap_err(),
        "unsupported in simulation: aggregation stddev"
    );
    assert_eq!(
        s.query("abs(http_requests_total)", 0).unwrap_err(),
        "unsupported in simulation: function abs"
    );
    // Nothing older than the lookback window is returned.
    assert!(scalar_or_first(&s.query("http_requests_total", 80 * 15_000 + LOOKBACK_MS).unwrap()).is_empty());
}

#[test]
fn a_selector_matching_nothing_is_explained_with_the_series_on_offer() {
    let s = store();
    let offer = "the simulated Prometheus has http_requests_total{code, version}, \
                 latency_seconds_bucket{le, version}; a scenario's `labels` adds labels to every series";
    let cases = [
        (
            r#"sum(rate(http_requests_total{job="api",code="500"}[1m]))"#,
            r#"http_requests_total{code="500",job="api"} (http_requests_total has no label job)"#,
        ),
        (
            r#"sum(http_requests_total{version="blue"}) / sum(http_requests_total)"#,
            r#"http_requests_total{version="blue"} (version="blue" matches no http_requests_total: its values are canary, stable)"#,
        ),
        (
            "requests_total",
            "requests_total (no series is named requests_total)",
        ),
        (
            r#"latency_seconds_bucket{version="stable"}"#,
            r#"latency_seconds_bucket{version="stable"} (version="stable" matches no latency_seconds_bucket: its values are canary)"#,
        ),
        (
            r#"http_requests_total{version="stable",code="500"}"#,
            r#"http_requests_total{code="500",version="stable"} (no http_requests_total satisfies all the matchers together)"#,
        ),
    ];
    for (query, want) in cases {
        assert_eq!(
            s.no_match_hint(query).as_deref(),
            Some(format!("no simulated series matches {want}; {offer}").as_str()),
            "{query}"
        );
    }
    // Every selector matches: an empty result has another cause, and no hint is made up.
    assert_eq!(s.no_match_hint(r#"http_requests_total{code="500"}"#), None);
    assert_eq!(SeriesStore::new().no_match_hint("up"), None);
}

#[test]
fn extra_labels_are_on_every_series_and_selectable() {
    let mut s = SeriesStore::with_labels(labels(&[("job", "checkout"), ("code", "ignored")]));
    s.push("http_requests_total", &labels(&[("code", "500")]), 0, 1.0);
    s.push("http_requests_total", &labels(&[("code", "500")]), 15_000, 3.0);
    assert_eq!(
        s.series()[0].labels,
        labels(&[("job", "checkout"), ("code", "500")]),
        "the series' own labels win"
    );
    let r = s
        .query(r#"sum(http_requests_total{job="checkout",code="500"})"#, 15_000)
        .unwrap();
    assert_eq!(scalar_or_first(&r), vec![3.0]);
}
