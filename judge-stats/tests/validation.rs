//! Every judge validates its configuration and its input and answers Error (`invalid-input`) with
//! the reason instead of a confident verdict on nonsense (issue 16), and NaN never reaches a
//! reason or a detail. The last test is a seeded fuzz of every judge on mutated inputs and
//! configurations: no panic, the bounds of a verdict, and Error exactly when the configuration or
//! the input is invalid.

use judge_stats::config::{JudgeConfig, parse_config};
use judge_stats::data::{Bucket, JudgeData, Phase, Point, RatioPoint, Series, Verdict, WeightPoint, codes};
use judge_stats::special::SplitMix64;
use judge_stats::{error_ratio, kayenta, latency, pair, threshold};
use serde::Serialize;
use serde::de::DeserializeOwned;

/// The shipped judges, by the name of their component (`plugins/judges/<name>`).
const JUDGES: [&str; 5] = ["error-ratio", "latency", "kayenta", "threshold", "two-deployment"];

/// Runs `looks` evaluations of `judge` on `input`, carrying the state; the verdicts, and whether
/// the configuration itself is valid (`None` when it does not even parse).
fn looks<C, S>(
    judge: fn(&JudgeData, &C, Option<S>) -> (Verdict, S),
    config: &str,
    input: &JudgeData,
    looks: usize,
) -> (Vec<Verdict>, Option<bool>)
where
    C: DeserializeOwned + Default + JudgeConfig,
    S: Serialize,
{
    let Ok(c) = parse_config::<C>(config) else {
        return (Vec::new(), None);
    };
    let mut state = None;
    let mut out = Vec::new();
    for _ in 0..looks {
        let (v, s) = judge(input, &c, state.take());
        state = Some(s);
        out.push(v);
    }
    (out, Some(c.validate().is_ok()))
}

/// `looks` for the judge called `name`.
fn evaluate(name: &str, config: &str, input: &JudgeData, n: usize) -> (Vec<Verdict>, Option<bool>) {
    match name {
        "error-ratio" => looks(error_ratio::judge, config, input, n),
        "latency" => looks(latency::judge, config, input, n),
        "kayenta" => looks(kayenta::judge, config, input, n),
        "threshold" => looks(threshold::judge, config, input, n),
        "two-deployment" => looks(pair::judge, config, input, n),
        other => panic!("no judge {other}"),
    }
}

/// One evaluation of the judge called `name`.
fn once(name: &str, config: &str, input: &JudgeData) -> Verdict {
    let (mut v, valid) = evaluate(name, config, input, 1);
    assert!(valid.is_some(), "{name}: config {config} does not parse");
    v.remove(0)
}

/// The verdict is an Error `invalid-input` whose reason contains every one of `words`.
fn assert_invalid(v: &Verdict, words: &[&str]) {
    assert_eq!(
        (v.phase, v.code.as_str()),
        (Phase::Error, codes::INVALID_INPUT),
        "{v:?}"
    );
    for w in words {
        assert!(v.reason.contains(w), "{w:?} not in {:?}", v.reason);
    }
}

/// The bounds every verdict keeps (`Verdict::out_of_bounds`): a score in [0, 1], no NaN anywhere.
fn assert_bounded(v: &Verdict, context: &str) {
    assert_eq!(v.out_of_bounds(), None, "{context}: {v:?}");
}

fn ratios(name: &str, counts: &[(f64, f64)]) -> Series {
    Series {
        name: name.into(),
        ratios: (0..)
            .zip(counts)
            .map(|(i, &(numerator, denominator))| RatioPoint {
                time_ms: i * 60_000,
                numerator,
                denominator,
            })
            .collect(),
        ..Series::default()
    }
}

fn histogram(name: &str, buckets: &[(f64, f64)]) -> Series {
    Series {
        name: name.into(),
        buckets: buckets
            .iter()
            .map(|&(upper_bound, count)| Bucket { upper_bound, count })
            .collect(),
        ..Series::default()
    }
}

fn points(name: &str, values: &[f64]) -> Series {
    Series {
        name: name.into(),
        points: (0..)
            .zip(values)
            .map(|(i, &value)| Point {
                time_ms: i * 60_000,
                value,
            })
            .collect(),
        ..Series::default()
    }
}

fn data(series: Vec<Series>) -> JudgeData {
    JudgeData {
        metric: "m".into(),
        now_ms: 1_700_000_000_000,
        series,
        ..JudgeData::default()
    }
}

const HEALTHY: [(f64, f64); 3] = [(0.1, 900.0), (0.5, 990.0), (f64::INFINITY, 1000.0)];

#[test]
fn latency_rejects_negative_and_decreasing_buckets_and_a_negative_max_slow_rate() {
    let cfg = r#"{"threshold":0.5}"#;
    // Negative counts and counts that fall as the bound grows gave "rate ratio inf" (Failed).
    let negative = data(vec![
        histogram("canary", &[(0.1, -50.0), (0.5, -20.0), (f64::INFINITY, 1000.0)]),
        histogram("stable", &HEALTHY),
    ]);
    assert_invalid(
        &once("latency", cfg, &negative),
        &["series \"canary\"", "le=0.1", "count -50", "non-negative"],
    );
    let decreasing = data(vec![
        histogram("canary", &HEALTHY),
        histogram("stable", &[(0.1, 900.0), (0.5, 300.0), (f64::INFINITY, 1000.0)]),
    ]);
    assert_invalid(
        &once("latency", cfg, &decreasing),
        &[
            "series \"stable\"",
            "must not decrease",
            "le=0.1 has 900 and le=0.5 has 300",
        ],
    );
    let twice = data(vec![
        histogram("canary", &[(0.5, 1.0), (0.5, 2.0)]),
        histogram("stable", &HEALTHY),
    ]);
    assert_invalid(
        &once("latency", cfg, &twice),
        &["two histogram buckets", "le=0.5"],
    );
    let healthy = data(vec![histogram("canary", &HEALTHY), histogram("stable", &HEALTHY)]);
    for (config, field) in [
        (r#"{"threshold":0.5,"maxSlowRate":-0.1}"#, "`maxSlowRate`"),
        (r#"{"threshold":0.5,"maxSlowRate":1.5}"#, "`maxSlowRate`"),
        (r#"{"threshold":0.5,"passBelowRate":0}"#, "`passBelowRate`"),
        (r#"{"threshold":0.5,"comparisons":0}"#, "`comparisons`"),
    ] {
        assert_invalid(&once("latency", config, &healthy), &[field]);
    }
    let negative_latency = data(vec![points("canary", &[0.2, -0.3]), points("stable", &[0.2])]);
    assert_invalid(
        &once("latency", cfg, &negative_latency),
        &["series \"canary\"", "-0.3", "non-negative"],
    );
    // The same histograms, valid, are judged.
    assert_ne!(once("latency", cfg, &healthy).phase, Phase::Error);
}

#[test]
fn kayenta_rejects_bad_weights_and_thresholds() {
    let input = data(vec![
        points("canary", &[1.0, 1.1, 0.9, 1.0]),
        points("stable", &[1.0, 1.0, 1.1, 0.9]),
    ]);
    // Huge weights gave "score inf (Pass)", negative ones "score -100".
    for (config, words) in [
        (
            r#"{"groupWeights":{"default":1e300}}"#,
            &["`groupWeights`", "\"default\"", "[0, 100]"][..],
        ),
        (
            r#"{"groupWeights":{"default":-100}}"#,
            &["`groupWeights`", "-100"],
        ),
        (
            r#"{"metrics":[{"groups":["a"]},{"groups":["b"]}],"groupWeights":{"a":60,"b":60}}"#,
            &["total 120", "at most 100"],
        ),
        (
            r#"{"groupWeights":{"latency":50}}"#,
            &["\"latency\" is not a group of any metric", "default"],
        ),
        (
            r#"{"scoreThresholds":{"pass":50,"marginal":75}}"#,
            &["`scoreThresholds.marginal`", "at most pass (50)"],
        ),
        (
            r#"{"scoreThresholds":{"pass":150,"marginal":50}}"#,
            &["`scoreThresholds.pass`"],
        ),
        (r#"{"confLevel":1}"#, &["`confLevel`"]),
        (r#"{"tolerance":-1}"#, &["`tolerance`"]),
        (
            r#"{"metrics":[{"outliers":{"strategy":"remove","outlierFactor":0}}]}"#,
            &["outlierFactor"],
        ),
        (
            r#"{"metrics":[{"effectSize":{"measure":"cles","allowedIncrease":2}}]}"#,
            &["allowedIncrease", "[0, 1]"],
        ),
        (
            r#"{"metrics":[{"slo":{"min":5,"max":1}}]}"#,
            &["`metrics[].slo.min`"],
        ),
    ] {
        assert_invalid(&once("kayenta", config, &input), words);
    }
    let fine = once("kayenta", r#"{"groupWeights":{"default":100}}"#, &input);
    assert_eq!(fine.phase, Phase::Successful, "{fine:?}");
}

#[test]
fn count_judges_reject_negative_counts_more_errors_than_requests_and_bad_weights() {
    let two = |c: &[(f64, f64)], s: &[(f64, f64)]| data(vec![ratios("canary", c), ratios("stable", s)]);
    for judge in ["error-ratio", "two-deployment"] {
        let negative = once(judge, "", &two(&[(-5.0, 100.0)], &[(1.0, 100.0)]));
        assert_invalid(&negative, &["canary", "numerator -5", "non-negative"]);
        let more = once(judge, "", &two(&[(1.0, 100.0)], &[(150.0, 100.0)]));
        assert_invalid(
            &more,
            &[
                "stable",
                "numerator 150 and denominator 100",
                "numerator <= denominator",
            ],
        );
        assert_invalid(
            &once(judge, r#"{"comparisons":0}"#, &two(&[], &[])),
            &["`comparisons`"],
        );
    }
    let mut over = two(&[(1.0, 100.0)], &[(1.0, 100.0)]);
    over.weights = vec![WeightPoint {
        time_ms: 0,
        canary_weight: 150,
    }];
    assert_invalid(&once("error-ratio", "", &over), &["weights", "150", "over 100"]);
    let nan = two(&[(f64::NAN, 100.0)], &[(1.0, 100.0)]);
    assert_invalid(&once("error-ratio", "", &nan), &["not a number"]);
    assert!(!once("error-ratio", "", &nan).reason.contains("NaN"));
    assert_invalid(
        &once("two-deployment", r#"{"maxErrorRate":2}"#, &two(&[], &[])),
        &["`maxErrorRate`", "(0, 1)"],
    );
}

#[test]
fn threshold_rejects_negative_weights_and_crossed_bands() {
    let input = data(vec![points("canary", &[1.0]), points("stable", &[1.0])]);
    for (config, field) in [
        (
            r#"{"objectives":[{"pass":["<2"],"weight":-1}]}"#,
            "`objectives[].weight`",
        ),
        (
            r#"{"objectives":[{"pass":["<2"],"minSamples":-3}]}"#,
            "`objectives[].minSamples`",
        ),
        (
            r#"{"objectives":[{"pass":["<2"]}],"totalScore":{"pass":50,"warning":80}}"#,
            "`totalScore.warning`",
        ),
        (
            r#"{"objectives":[{"pass":["<2"]}],"totalScore":{"pass":101}}"#,
            "`totalScore.pass`",
        ),
        (r#"{"objectives":[]}"#, "`objectives`"),
        (r#"{"objectives":[{"pass":["~2"]}]}"#, "criterion \"~2\""),
    ] {
        assert_invalid(&once("threshold", config, &input), &[field]);
    }
    // Without data the value is 0 and the result says so (it was NaN, printed as null).
    let v = once("threshold", r#"{"objectives":[{"pass":["<2"]}]}"#, &data(vec![]));
    assert_eq!((v.phase, v.details[0].value), (Phase::Inconclusive, 0.0));
    assert_eq!(v.details[0].extra_value("result"), Some("nodata"));
}

#[test]
fn no_nan_in_the_reason_or_details_without_errors_or_traffic() {
    // The bundled low-traffic scenario printed "rate ratio NaN" (no errors in either arm yet).
    let quiet = data(vec![
        ratios("canary", &[(0.0, 20.0)]),
        ratios("stable", &[(0.0, 80.0)]),
    ]);
    let v = once("error-ratio", "", &quiet);
    assert_eq!(v.phase, Phase::Inconclusive);
    assert!(v.reason.contains("rate ratio n/a"), "{}", v.reason);
    assert_bounded(&v, "no errors");
    // No canary traffic at all: the rates are 0/0.
    let idle = data(vec![
        ratios("canary", &[(0.0, 0.0)]),
        ratios("stable", &[(0.0, 80.0)]),
    ]);
    let v = once("error-ratio", "", &idle);
    assert_eq!(v.details[0].extra_value("canary-rate"), Some("n/a"));
    assert_bounded(&v, "no canary traffic");
    // Kayenta with a zero control mean: the mean ratio is undefined.
    let zeros = data(vec![points("canary", &[0.0; 5]), points("stable", &[0.0; 5])]);
    assert_bounded(&once("kayenta", "", &zeros), "kayenta zeros");
}

/// Values that break naive arithmetic.
const EDGES: [f64; 14] = [
    0.0,
    1.0,
    2.0,
    7.0,
    100.0,
    1000.0,
    0.5,
    1e-9,
    1e300,
    -1.0,
    -1e300,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
];

fn pick(rng: &mut SplitMix64, values: &[f64]) -> f64 {
    values[(rng.next_u64() % values.len() as u64) as usize]
}

/// A plausible count up to `scale`, or an edge value with probability `edges`.
fn number(rng: &mut SplitMix64, scale: f64, edges: f64) -> f64 {
    if rng.uniform() < edges {
        pick(rng, &EDGES)
    } else {
        (rng.uniform() * scale).round()
    }
}

/// A series with ratios, points and histogram buckets; each number is an edge value, or breaks
/// the rules of its kind, with probability `edges`.
fn random_series(rng: &mut SplitMix64, name: &str, edges: f64) -> Series {
    let n = (rng.next_u64() % 8) as usize;
    let mut s = Series {
        name: name.into(),
        ..Series::default()
    };
    for i in 0..n as i64 {
        let requests = number(rng, 2000.0, edges);
        s.ratios.push(RatioPoint {
            time_ms: i * 60_000,
            numerator: if rng.uniform() < 1.0 - edges {
                (requests * rng.uniform() * 0.2).round()
            } else {
                number(rng, 50.0, 0.5)
            },
            denominator: requests,
        });
        s.points.push(Point {
            time_ms: i * 60_000,
            value: if rng.uniform() < 1.0 - edges {
                rng.uniform()
            } else {
                pick(rng, &EDGES)
            },
        });
    }
    let mut cumulative = 0.0;
    for bound in [0.1, 0.25, 0.5, 1.0, f64::INFINITY] {
        if rng.uniform() < 0.2 {
            continue;
        }
        cumulative += number(rng, 300.0, edges);
        let count = if rng.uniform() < 1.0 - edges {
            cumulative
        } else {
            number(rng, 300.0, 0.5)
        };
        s.buckets.push(Bucket {
            upper_bound: bound,
            count,
        });
    }
    s
}

/// A configuration for `judge`: one of a few shapes, with a value in the field's domain
/// substituted for `X`, or an edge value with probability `edges`.
fn random_config(rng: &mut SplitMix64, judge: &str, edges: f64) -> String {
    let shapes: &[&str] = match judge {
        "error-ratio" => &[
            "",
            r#"{"alpha":X}"#,
            r#"{"tolerance":X,"minRequests":X}"#,
            r#"{"maxErrorRate":X,"passBelowRate":X}"#,
            r#"{"exposure":"weight","failTolerance":X}"#,
        ],
        "latency" => &[
            r#"{"threshold":X}"#,
            r#"{"threshold":0.5,"cumulativeBuckets":true,"maxSlowRate":X}"#,
            r#"{"mode":"quantile","quantile":X}"#,
            r#"{"mode":"quantile","maxQuantile":X,"minRequests":X}"#,
        ],
        "kayenta" => &[
            "",
            r#"{"groupWeights":{"default":X}}"#,
            r#"{"scoreThresholds":{"pass":X,"marginal":X}}"#,
            r#"{"metrics":[{"critical":true,"mustHaveData":true,"outliers":{"strategy":"remove","outlierFactor":X}}]}"#,
            r#"{"metrics":[{"effectSize":{"measure":"cles","allowedIncrease":X}},{"canary":"stable","control":"canary","groups":["g"]}],"groupWeights":{"g":X}}"#,
        ],
        "threshold" => &[
            r#"{"objectives":[{"pass":["<X"],"weight":X}]}"#,
            r#"{"objectives":[{"aggregate":"ratio","pass":["<=+X%"],"warning":["<X"],"minSamples":X}]}"#,
            r#"{"objectives":[{"aggregate":"p99","pass":[[">X"],["<X"]],"key":true}],"totalScore":{"pass":X,"warning":X}}"#,
        ],
        "two-deployment" => &[
            "",
            r#"{"minCanaryErrors":X,"maxErrorRate":X}"#,
            r#"{"deployments":[{"name":"a","canary":"canary","stable":"baseline"}],"alpha":X}"#,
        ],
        other => panic!("no judge {other}"),
    };
    let shape = shapes[(rng.next_u64() % shapes.len() as u64) as usize];
    let mut out = String::new();
    for (i, part) in shape.split('X').enumerate() {
        if i > 0 {
            let x = if rng.uniform() < edges {
                pick(rng, &[0.0, 1.0, 3.0, 75.0, 150.0, -1.0, 1e300])
            } else {
                pick(rng, &[0.05, 0.2, 0.5, 0.9])
            };
            out.push_str(&x.to_string());
        }
        out.push_str(part);
    }
    out
}

#[test]
fn seeded_fuzz_of_every_judge_keeps_the_bounds_and_errors_on_invalid_input() {
    let mut rng = SplitMix64::new(16);
    let names = ["canary", "stable", "baseline", "canary-publish", "stable-publish"];
    // Per judge: verdicts by phase (successful, failed, inconclusive, error).
    let mut phases = [[0_u32; 4]; JUDGES.len()];
    for case in 0..300 {
        for (j, judge) in JUDGES.into_iter().enumerate() {
            // Half the cases are valid throughout, the others have a few broken numbers.
            let edges = if rng.uniform() < 0.5 { 0.0 } else { 0.03 };
            let mut series = Vec::new();
            for name in names {
                if rng.uniform() < 0.8 {
                    series.push(random_series(&mut rng, name, edges));
                }
            }
            let mut input = data(series);
            if rng.uniform() < 0.3 {
                input.weights = vec![WeightPoint {
                    time_ms: 0,
                    canary_weight: (rng.next_u64() % 130) as u32,
                }];
            }
            let config = random_config(&mut rng, judge, edges);
            let context = format!("case {case} {judge} config {config}");
            let (verdicts, valid) = evaluate(judge, &config, &input, 3);
            let Some(config_ok) = valid else {
                continue;
            };
            for v in &verdicts {
                let k = [
                    Phase::Successful,
                    Phase::Failed,
                    Phase::Inconclusive,
                    Phase::Error,
                ]
                .iter()
                .position(|p| *p == v.phase)
                .unwrap();
                phases[j][k] += 1;
                assert_bounded(v, &context);
                if !config_ok || input.validate().is_err() {
                    assert_eq!(v.phase, Phase::Error, "{context}: {v:?}");
                }
            }
        }
    }
    // The inputs reach every outcome of every judge, not only its validation.
    for (judge, counts) in JUDGES.iter().zip(phases) {
        eprintln!("{judge}: successful, failed, inconclusive, error = {counts:?}");
        let decided = counts[0] + counts[1];
        assert!(
            decided > 0 && counts[2] > 0 && counts[3] > 0,
            "{judge}: {counts:?}"
        );
    }
}
