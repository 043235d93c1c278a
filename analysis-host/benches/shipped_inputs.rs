//! Realistic inputs for the judges we ship: 50 one-minute windows per arm with traffic that varies
//! from window to window (deterministic), and each judge's config as the bundled templates write it.

use judge_types::JudgeInput;
use judge_types::{Bucket, Point, RatioPoint, Series};

/// Windows per arm.
pub const WINDOWS: usize = 50;

/// A deterministic "noise" in [0, 1) for window `i` of stream `salt`.
fn jitter(i: usize, salt: u64) -> f64 {
    let mut x = (i as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD1B5_4A32_D192_ED03);
    x ^= x >> 29;
    x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x ^= x >> 32;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// Error-ratio windows: about `rps × 60` requests a minute, `rate` of them errors.
fn ratios(windows: usize, name: &str, rps: f64, rate: f64, salt: u64) -> Series {
    Series {
        name: name.into(),
        ratios: (0..windows)
            .map(|i| {
                let requests = (rps * 60.0 * (0.7 + 0.6 * jitter(i, salt))).round();
                RatioPoint {
                    time_ms: i as i64 * 60_000,
                    numerator: (requests * rate * (0.5 + jitter(i, salt ^ 7))).round(),
                    denominator: requests,
                }
            })
            .collect(),
        ..Series::default()
    }
}

/// One value a minute around `level` (latencies in ms).
fn points(windows: usize, name: &str, level: f64, salt: u64) -> Series {
    Series {
        name: name.into(),
        points: (0..windows)
            .map(|i| Point {
                time_ms: i as i64 * 60_000,
                value: level * (0.8 + 0.4 * jitter(i, salt)),
            })
            .collect(),
        ..Series::default()
    }
}

/// A latency histogram over the whole run (`sum by (le) (increase(...[50m]))`), `slow` of each
/// thousand requests above 500 ms.
fn histogram(name: &str, requests: f64, slow: f64) -> Series {
    let bounds = [0.05, 0.1, 0.25, 0.5, 1.0, 2.5, f64::INFINITY];
    let below_half = requests * (1.0 - slow / 1000.0);
    Series {
        name: name.into(),
        buckets: bounds
            .iter()
            .map(|&upper_bound| Bucket {
                upper_bound,
                count: if upper_bound < 0.5 {
                    (below_half * upper_bound / 0.5).round()
                } else if upper_bound == 0.5 {
                    below_half.round()
                } else if upper_bound.is_finite() {
                    (below_half + (requests - below_half) * upper_bound / 2.5)
                        .min(requests)
                        .round()
                } else {
                    requests
                },
            })
            .collect(),
        ..Series::default()
    }
}

fn input(windows: usize, metric: &str, series: Vec<Series>, config: &str) -> JudgeInput {
    JudgeInput {
        metric: metric.into(),
        now_ms: windows as i64 * 60_000,
        series,
        config: config.into(),
        ..JudgeInput::default()
    }
}

/// `(component file in plugins/dist, input)` for each shipped judge and the two reference judges,
/// with `w` windows per arm (the histogram covers the whole run).
pub fn shipped(w: usize) -> Vec<(&'static str, JudgeInput)> {
    // The two reference judges and the shipped error-ratio judge read the same arms.
    let error_ratio = vec![
        ratios(w, "canary", 20.0, 0.012, 1),
        ratios(w, "stable", 20.0, 0.010, 2),
    ];
    vec![
        (
            "rust-error-ratio.wasm",
            input(w, "error-rate", error_ratio.clone(), "null"),
        ),
        (
            "c-error-ratio.wasm",
            input(w, "error-rate", error_ratio.clone(), "null"),
        ),
        (
            "judge-error-ratio.wasm",
            input(
                w,
                "error-rate",
                error_ratio.clone(),
                r#"{"minRequests": 500, "maxErrorRate": 0.05}"#,
            ),
        ),
        (
            "judge-two-deployment.wasm",
            input(
                w,
                "errors-both-tiers",
                [
                    error_ratio,
                    vec![
                        ratios(w, "canary-publish", 5.0, 0.02, 3),
                        ratios(w, "stable-publish", 5.0, 0.02, 4),
                    ],
                ]
                .concat(),
                r#"{"deployments": [{"name": "author", "canary": "canary", "stable": "stable"},
                                    {"name": "publish", "canary": "canary-publish", "stable": "stable-publish"}],
                    "minRequests": 500, "minCanaryErrors": 3, "maxErrorRate": 0.05}"#,
            ),
        ),
        (
            "judge-latency.wasm",
            input(
                w,
                "slower-than-500ms",
                vec![
                    histogram("canary", 60_000.0, 60.0),
                    histogram("stable", 60_000.0, 50.0),
                ],
                r#"{"threshold": 0.5, "tolerance": 0.25, "maxSlowRate": 0.2, "minRequests": 500}"#,
            ),
        ),
        (
            "judge-kayenta.wasm",
            input(
                w,
                "p99-latency",
                vec![points(w, "canary", 110.0, 5), points(w, "stable", 100.0, 6)],
                "null",
            ),
        ),
        (
            "judge-threshold.wasm",
            input(
                w,
                "latency-slo",
                vec![points(w, "canary", 110.0, 5), points(w, "stable", 100.0, 6)],
                r#"{"objectives": [{"name": "p99", "aggregate": "p99", "pass": ["<=+10%", "<500"], "warning": ["<=+25%"]},
                                   {"name": "mean", "pass": ["<300"]}]}"#,
            ),
        ),
    ]
}
