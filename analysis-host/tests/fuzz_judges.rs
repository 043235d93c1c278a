//! A seeded fuzz of every shipped judge component through the host (issue 16): valid inputs with
//! a few numbers broken (negative, NaN, infinite, huge counts, buckets out of order, weights over
//! 100) and configurations with values in and out of their domains. Every evaluation must finish
//! within the production budget (no trap, no panic, no fuel exhaustion) and answer a verdict with a
//! score in [0, 1] and no NaN in its reason or details, or an error message without NaN.
//!
//! The components are `$ROLLOUT_REBUILT_JUDGES` when set (scripts/test rebuilds every judge from
//! source into it), else the committed `plugins/dist`.

use std::path::PathBuf;

use analysis_host::{HostConfig, JudgeHost, LoadOptions};
use judge_stats::special::SplitMix64;
use rollout_core::analysis::judge::{
    Bucket, JudgeInput, JudgeVerdict, Point, RatioPoint, Series, WeightPoint,
};

/// Every shipped judge with the configuration shapes it is fuzzed with (`X`: a number).
const JUDGES: [(&str, &[&str]); 7] = [
    (
        "judge-error-ratio",
        &[
            "",
            r#"{"alpha":X}"#,
            r#"{"tolerance":X,"minRequests":X,"maxErrorRate":X}"#,
        ],
    ),
    (
        "judge-latency",
        &[
            r#"{"threshold":X}"#,
            r#"{"threshold":0.5,"cumulativeBuckets":true,"maxSlowRate":X}"#,
            r#"{"mode":"quantile","quantile":X}"#,
        ],
    ),
    (
        "judge-kayenta",
        &[
            "",
            r#"{"groupWeights":{"default":X}}"#,
            r#"{"scoreThresholds":{"pass":X,"marginal":X}}"#,
        ],
    ),
    (
        "judge-threshold",
        &[
            r#"{"objectives":[{"pass":["<X"],"weight":X}]}"#,
            r#"{"objectives":[{"aggregate":"ratio","pass":["<=+X%"],"minSamples":X}]}"#,
        ],
    ),
    (
        "judge-two-deployment",
        &["", r#"{"minCanaryErrors":X,"maxErrorRate":X}"#],
    ),
    ("rust-error-ratio", &[""]),
    ("c-error-ratio", &[""]),
];

/// Numbers that break naive arithmetic.
const EDGES: [f64; 9] = [
    0.0,
    -1.0,
    -1e300,
    1e300,
    f64::NAN,
    f64::INFINITY,
    f64::NEG_INFINITY,
    1e-300,
    4.5e15,
];

/// Config values: inside the usual domains, and outside them.
const CONFIG_VALUES: [f64; 10] = [0.05, 0.2, 0.5, 0.9, 0.0, 1.0, 75.0, 150.0, -1.0, 1e300];

fn components() -> PathBuf {
    std::env::var_os("ROLLOUT_REBUILT_JUDGES")
        .filter(|d| !d.is_empty())
        .map_or_else(
            || PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist"),
            PathBuf::from,
        )
}

fn pick<T: Copy>(rng: &mut SplitMix64, values: &[T]) -> T {
    values[(rng.next_u64() % values.len() as u64) as usize]
}

/// A plausible arm: a few windows of requests with about 1% errors, latencies around 0.2 and a
/// cumulative histogram.
fn arm(rng: &mut SplitMix64, name: &str) -> Series {
    let windows = 1 + rng.next_u64() % 6;
    let mut s = Series {
        name: name.into(),
        ..Series::default()
    };
    for i in 0..windows as i64 {
        let requests = (rng.uniform() * 3000.0).round();
        s.ratios.push(RatioPoint {
            time_ms: 1_700_000_000_000 + i * 60_000,
            numerator: (requests * rng.uniform() * 0.03).round(),
            denominator: requests,
        });
        s.points.push(Point {
            time_ms: 1_700_000_000_000 + i * 60_000,
            value: 0.1 + 0.2 * rng.uniform(),
        });
    }
    let total = (rng.uniform() * 5000.0).round();
    s.buckets = [(0.1, 0.5), (0.25, 0.9), (0.5, 0.97), (f64::INFINITY, 1.0)]
        .iter()
        .map(|&(upper_bound, share)| Bucket {
            upper_bound,
            count: (total * share).round(),
        })
        .collect();
    s
}

/// Breaks one number of the input.
fn mutate(rng: &mut SplitMix64, input: &mut JudgeInput) {
    let n = input.series.len() as u64;
    let Some(s) = input.series.get_mut((rng.next_u64() % n.max(1)) as usize) else {
        return;
    };
    let edge = pick(rng, &EDGES);
    match rng.next_u64() % 6 {
        0 => s.ratios.iter_mut().for_each(|r| r.numerator = edge),
        1 => s.ratios.iter_mut().for_each(|r| r.denominator = edge),
        2 => s.points.iter_mut().for_each(|p| p.value = edge),
        3 => s.buckets.iter_mut().take(2).for_each(|b| b.count = edge),
        4 => s.buckets.reverse(),
        _ => {
            input.weights = vec![WeightPoint {
                time_ms: 0,
                canary_weight: 150,
            }]
        }
    }
}

fn config(rng: &mut SplitMix64, shapes: &[&str]) -> String {
    let shape = pick(rng, shapes);
    let mut out = String::new();
    for (i, part) in shape.split('X').enumerate() {
        if i > 0 {
            out.push_str(&pick(rng, &CONFIG_VALUES).to_string());
        }
        out.push_str(part);
    }
    out
}

/// A score in [0, 1] and no NaN in the reason or any detail (`JudgeVerdict::out_of_bounds`).
fn assert_bounded(v: &JudgeVerdict, context: &str) {
    assert_eq!(v.out_of_bounds(), None, "{context}: {v:?}");
}

#[test]
fn every_shipped_judge_survives_seeded_nonsense_within_budget_and_never_shows_nan() {
    let host = JudgeHost::new(HostConfig {
        cache_dir: Some(PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("judge-cwasm")),
        ..HostConfig::default()
    })
    .unwrap();
    let dir = components();
    let mut rng = SplitMix64::new(16);
    let names = ["canary", "stable", "canary-publish", "stable-publish"];
    for (name, shapes) in JUDGES {
        let path = dir.join(format!("{name}.wasm"));
        let judge = host
            .load_file(&path, &LoadOptions::default())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let (mut verdicts, mut errors) = (0, 0);
        for case in 0..40 {
            let mut input = JudgeInput {
                metric: "fuzz".into(),
                now_ms: 1_700_000_600_000,
                series: names.iter().map(|n| arm(&mut rng, n)).collect(),
                config: config(&mut rng, shapes),
                ..JudgeInput::default()
            };
            for _ in 0..rng.next_u64() % 3 {
                mutate(&mut rng, &mut input);
            }
            // Two looks, the second resuming from the first's state.
            for look in 0..2 {
                let context = format!("{name} case {case} look {look}: {input:?}");
                let e = judge
                    .evaluate(&input)
                    .unwrap_or_else(|err| panic!("{context}: {err}"));
                match e.outcome {
                    Ok(v) => {
                        verdicts += 1;
                        assert_bounded(&v, &context);
                        input.state = v.state;
                    }
                    Err(message) => {
                        errors += 1;
                        assert!(!message.contains("NaN"), "{context}: {message}");
                    }
                }
                input.now_ms += 60_000;
            }
        }
        assert!(verdicts > 0, "{name}: no verdict in {errors} evaluations");
    }
}
