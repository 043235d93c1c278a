//! Cross-language conformance: the Rust, C, Python and JavaScript builds of the reference judge
//! (`plugins/REFERENCE-JUDGE.md`) give byte-identical verdicts through the host, on a table of
//! inputs whose expected verdicts are worked out from the specification.
//!
//! Two artefact sets are checked:
//! - the committed components in `plugins/dist/` (Rust and C; always);
//! - the components rebuilt from source by `plugins/build` into `$ROLLOUT_REBUILT_JUDGES`
//!   (all four languages). `scripts/test` sets the variable after rebuilding every judge
//!   (scripts/setup/20-wasm-toolchains.sh); when it is unset these tests say so and check the
//!   committed artefacts only.
//!
//! Compiled machine code is cached in the target dir (`CARGO_TARGET_TMPDIR/judge-cwasm`): the
//! Python and JavaScript components take 5-30 s each to compile the first time.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use analysis_host::{HostConfig, JudgeHost, LoadOptions, LoadedJudge, json};
use rollout_core::analysis::judge::{
    Bucket, Detail, JudgeArg, JudgeInput, JudgeVerdict, Point, RatioPoint, Series, VerdictPhase,
};
use serde_json::{Value, json};

/// The four reference judges, by file name (the same names in `plugins/dist` and the rebuilt dir).
const ALL: [&str; 4] = [
    "rust-error-ratio",
    "c-error-ratio",
    "python-error-ratio",
    "js-error-ratio",
];
/// The ones committed to `plugins/dist` (Python and JavaScript are 12-18 MB and are not).
const COMMITTED: [&str; 2] = ["rust-error-ratio", "c-error-ratio"];

const REBUILT_VAR: &str = "ROLLOUT_REBUILT_JUDGES";

fn host() -> &'static JudgeHost {
    static HOST: OnceLock<JudgeHost> = OnceLock::new();
    HOST.get_or_init(|| {
        let cache_dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("judge-cwasm");
        JudgeHost::new(HostConfig {
            cache_dir: Some(cache_dir),
            ..HostConfig::default()
        })
        .unwrap()
    })
}

fn dist_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../plugins/dist")
}

fn rebuilt_dir() -> Option<PathBuf> {
    std::env::var_os(REBUILT_VAR)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
}

/// Loads `<dir>/<name>.wasm` once per test process. Tests run in parallel: each file has its own
/// once-cell, so two threads never compile the same component twice, while different components
/// (Python and JavaScript take minutes in an unoptimised build) compile at the same time.
fn load(dir: &Path, name: &str) -> LoadedJudge {
    type Cells = Mutex<HashMap<PathBuf, Arc<OnceLock<LoadedJudge>>>>;
    static LOADED: OnceLock<Cells> = OnceLock::new();
    let path = dir.join(format!("{name}.wasm"));
    assert!(
        path.is_file(),
        "{} is missing (run plugins/build)",
        path.display()
    );
    let cell = {
        let mut cells = LOADED
            .get_or_init(Mutex::default)
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        Arc::clone(cells.entry(path.clone()).or_default())
    };
    cell.get_or_init(|| {
        host()
            .load_file(&path, &LoadOptions::default())
            .unwrap_or_else(|e| panic!("loading {}: {e}", path.display()))
    })
    .clone()
}

/// Loads every judge of `names` at once (one thread each), in order.
fn load_all(dir: &Path, names: &[&str]) -> Vec<LoadedJudge> {
    std::thread::scope(|scope| {
        let handles: Vec<_> = names
            .iter()
            .map(|name| scope.spawn(move || load(dir, name)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    })
}

/// One conformance case: an input and the expected outcome (the verdict, or the judge's own
/// error message).
struct Case {
    name: &'static str,
    input: JudgeInput,
    expected: Result<JudgeVerdict, &'static str>,
}

/// A series with one ratio point per (numerator, denominator), a minute apart.
fn ratios(name: &str, counts: &[(f64, f64)]) -> Series {
    Series {
        name: name.into(),
        ratios: (0_i64..)
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

/// Inputs are built as Rust values: exact f64s, whatever the JSON parser does with long numbers.
fn input(series: Vec<Series>, args: &[(&str, &str)]) -> JudgeInput {
    JudgeInput {
        metric: "error-rate".into(),
        now_ms: 1_700_000_000_000,
        series,
        weights: vec![],
        args: args
            .iter()
            .map(|(n, v)| JudgeArg {
                name: (*n).into(),
                value: (*v).into(),
            })
            .collect(),
        config: String::new(),
        state: None,
    }
}

/// The JSON form through the host's parser (`analysis_host::json`), as `rollout judge run` reads it.
fn parse(input: Value) -> JudgeInput {
    json::parse_input(&input.to_string()).unwrap()
}

/// `input` with one value replaced by something JSON cannot carry (NaN, infinities).
fn patched(mut input: JudgeInput, patch: impl FnOnce(&mut JudgeInput)) -> JudgeInput {
    patch(&mut input);
    input
}

/// The reference verdict: one `error-ratio` detail, no score, no state.
fn verdict(
    phase: VerdictPhase,
    code: &str,
    reason: &str,
    value: f64,
    samples: (u64, u64),
    needed: Option<u64>,
) -> JudgeVerdict {
    JudgeVerdict {
        phase,
        code: code.into(),
        score: None,
        reason: reason.into(),
        details: vec![Detail {
            name: "error-ratio".into(),
            statistic: "ratio-delta".into(),
            value,
            effect: None,
            interval: None,
            samples,
            samples_needed: needed,
            extra: vec![],
        }],
        state: None,
    }
}

fn ok(reason: &str, value: f64, samples: (u64, u64)) -> Result<JudgeVerdict, &'static str> {
    Ok(verdict(
        VerdictPhase::Successful,
        "ok",
        reason,
        value,
        samples,
        None,
    ))
}

fn regression(reason: &str, value: f64, samples: (u64, u64)) -> Result<JudgeVerdict, &'static str> {
    Ok(verdict(
        VerdictPhase::Failed,
        "regression",
        reason,
        value,
        samples,
        None,
    ))
}

fn insufficient(reason: &str, samples: (u64, u64), needed: u64) -> Result<JudgeVerdict, &'static str> {
    Ok(verdict(
        VerdictPhase::Inconclusive,
        "insufficient-data",
        reason,
        0.0,
        samples,
        Some(needed),
    ))
}

/// The table. Expected values follow the steps of REFERENCE-JUDGE.md in f64 arithmetic.
fn cases() -> Vec<Case> {
    let one = || ratios("stable", &[(1.0, 100.0)]);
    vec![
        // --- the examples of REFERENCE-JUDGE.md ---
        Case {
            name: "pass",
            input: input(
                vec![
                    ratios("canary", &[(1.0, 100.0), (1.0, 100.0)]),
                    ratios("stable", &[(2.0, 200.0)]),
                ],
                &[],
            ),
            expected: ok("canary errors 2/200, stable errors 2/200", 0.0, (200, 200)),
        },
        Case {
            name: "regression",
            input: input(
                vec![
                    ratios("canary", &[(10.0, 100.0), (10.0, 100.0)]),
                    ratios("stable", &[(2.0, 200.0)]),
                ],
                &[],
            ),
            expected: regression(
                "canary errors 20/200, stable errors 2/200",
                0.09000000000000001,
                (200, 200),
            ),
        },
        Case {
            name: "insufficient data",
            input: input(
                vec![
                    ratios("canary", &[(5.0, 40.0)]),
                    ratios("stable", &[(1.0, 500.0)]),
                ],
                &[],
            ),
            expected: insufficient(
                "need 100 requests per arm, have canary 40 stable 500",
                (40, 500),
                60,
            ),
        },
        Case {
            name: "tolerance arg",
            input: input(
                vec![ratios("canary", &[(3.0, 100.0)]), one()],
                &[("tolerance", "0.05")],
            ),
            expected: ok(
                "canary errors 3/100, stable errors 1/100",
                0.019999999999999997,
                (100, 100),
            ),
        },
        Case {
            name: "min-requests arg",
            input: input(
                vec![ratios("canary", &[(3.0, 10.0)]), ratios("stable", &[(1.0, 10.0)])],
                &[("min-requests", "10")],
            ),
            expected: regression(
                "canary errors 3/10, stable errors 1/10",
                0.19999999999999998,
                (10, 10),
            ),
        },
        Case {
            name: "missing canary",
            input: input(vec![one()], &[]),
            expected: Err("missing series \"canary\""),
        },
        Case {
            name: "missing stable",
            input: input(vec![ratios("canary", &[(1.0, 100.0)])], &[]),
            expected: Err("missing series \"stable\""),
        },
        Case {
            name: "invalid min-requests",
            input: input(
                vec![ratios("canary", &[(1.0, 100.0)]), one()],
                &[("min-requests", "abc")],
            ),
            expected: Err("invalid arg \"min-requests\": \"abc\""),
        },
        // --- edges ---
        Case {
            name: "no series at all",
            input: input(vec![], &[]),
            expected: Err("missing series \"canary\""),
        },
        Case {
            name: "canary without ratios",
            input: input(
                vec![
                    Series {
                        name: "canary".into(),
                        points: vec![Point {
                            time_ms: 0,
                            value: 3.5,
                        }],
                        ..Series::default()
                    },
                    one(),
                ],
                &[],
            ),
            expected: insufficient(
                "need 100 requests per arm, have canary 0 stable 100",
                (0, 100),
                100,
            ),
        },
        Case {
            name: "min-requests 0 and zero denominators",
            input: input(
                vec![ratios("canary", &[]), ratios("stable", &[])],
                &[("min-requests", "0")],
            ),
            expected: ok("canary errors 0/0, stable errors 0/0", 0.0, (0, 0)),
        },
        Case {
            name: "exactly at the minimum on one arm only",
            input: input(
                vec![
                    ratios("canary", &[(0.0, 100.0)]),
                    ratios("stable", &[(0.0, 99.0)]),
                ],
                &[],
            ),
            expected: insufficient(
                "need 100 requests per arm, have canary 100 stable 99",
                (100, 99),
                1,
            ),
        },
        Case {
            name: "delta equal to the tolerance passes",
            input: input(
                vec![ratios("canary", &[(2.0, 100.0)]), one()],
                &[("tolerance", "0.01")],
            ),
            expected: ok("canary errors 2/100, stable errors 1/100", 0.01, (100, 100)),
        },
        Case {
            name: "negative tolerance fails equal ratios",
            input: input(
                vec![ratios("canary", &[(1.0, 100.0)]), one()],
                &[("tolerance", "-0.5")],
            ),
            expected: regression("canary errors 1/100, stable errors 1/100", 0.0, (100, 100)),
        },
        Case {
            name: "fractional counts are truncated in text only",
            input: input(
                vec![
                    ratios("canary", &[(2.9, 150.7)]),
                    ratios("stable", &[(1.2, 150.2)]),
                ],
                &[],
            ),
            expected: regression(
                "canary errors 2/150, stable errors 1/150",
                0.011254182655817459,
                (150, 150),
            ),
        },
        Case {
            name: "sums run left to right",
            input: input(
                vec![
                    ratios("canary", &[(0.1, 50.0), (0.2, 30.0), (0.3, 20.0)]),
                    ratios("stable", &[(0.3, 20.0), (0.2, 30.0), (0.1, 50.0)]),
                ],
                &[],
            ),
            expected: ok(
                "canary errors 0/100, stable errors 0/100",
                8.673617379884035e-19,
                (100, 100),
            ),
        },
        Case {
            name: "a negative numerator is an error",
            input: input(
                vec![
                    ratios("canary", &[(1.0, 100.0)]),
                    ratios("stable", &[(1.0, 100.0), (-3.0, 200.0)]),
                ],
                &[],
            ),
            expected: Err(
                "invalid counts in series \"stable\" at ratio 1: need 0 <= numerator <= denominator, both finite",
            ),
        },
        Case {
            name: "more errors than requests is an error",
            input: input(vec![ratios("canary", &[(150.0, 100.0)]), one()], &[]),
            expected: Err(
                "invalid counts in series \"canary\" at ratio 0: need 0 <= numerator <= denominator, both finite",
            ),
        },
        Case {
            name: "counts near 2^53",
            input: input(
                vec![
                    ratios("canary", &[(4_503_599_627_370_496.0, 9_007_199_254_740_991.0)]),
                    ratios("stable", &[(4_503_599_627_370_496.0, 9_007_199_254_740_991.0)]),
                ],
                &[],
            ),
            expected: ok(
                "canary errors 4503599627370496/9007199254740991, stable errors 4503599627370496/9007199254740991",
                0.0,
                (9_007_199_254_740_991, 9_007_199_254_740_991),
            ),
        },
        Case {
            name: "first series and first arg of a name win; others ignored",
            input: input(
                vec![
                    ratios("canary-publish", &[(99.0, 100.0)]),
                    ratios("canary", &[(1.0, 100.0)]),
                    Series {
                        buckets: vec![Bucket {
                            upper_bound: 0.5,
                            count: 10.0,
                        }],
                        ..ratios("stable", &[(1.0, 100.0)])
                    },
                    ratios("canary", &[(90.0, 100.0)]),
                    ratios("stable", &[(0.0, 5.0)]),
                ],
                &[
                    ("min-requests", "50"),
                    ("min-requests", "abc"),
                    ("unknown", "x"),
                    ("tolerance", "0.001"),
                ],
            ),
            expected: ok("canary errors 1/100, stable errors 1/100", 0.0, (100, 100)),
        },
        Case {
            name: "leading zeros in min-requests",
            input: input(
                vec![ratios("canary", &[(5.0, 5.0)]), ratios("stable", &[(5.0, 10.0)])],
                &[("min-requests", "007")],
            ),
            expected: insufficient("need 7 requests per arm, have canary 5 stable 10", (5, 10), 2),
        },
        Case {
            name: "largest min-requests",
            input: input(
                vec![ratios("canary", &[(1.0, 100.0)]), one()],
                &[("min-requests", "18446744073709551615")],
            ),
            expected: insufficient(
                "need 18446744073709551615 requests per arm, have canary 100 stable 100",
                (100, 100),
                18_446_744_073_709_551_515,
            ),
        },
        Case {
            name: "min-requests overflowing u64",
            input: input(
                vec![ratios("canary", &[(1.0, 100.0)]), one()],
                &[("min-requests", "18446744073709551616")],
            ),
            expected: Err("invalid arg \"min-requests\": \"18446744073709551616\""),
        },
        Case {
            name: "empty min-requests",
            input: input(
                vec![ratios("canary", &[(1.0, 100.0)]), one()],
                &[("min-requests", "")],
            ),
            expected: Err("invalid arg \"min-requests\": \"\""),
        },
        Case {
            name: "non-ASCII digits are not digits",
            input: input(
                vec![ratios("canary", &[(1.0, 100.0)]), one()],
                &[("min-requests", "\u{661}\u{662}")],
            ),
            expected: Err("invalid arg \"min-requests\": \"\u{661}\u{662}\""),
        },
        Case {
            name: "signed min-requests",
            input: input(
                vec![ratios("canary", &[(1.0, 100.0)]), one()],
                &[("min-requests", "+5")],
            ),
            expected: Err("invalid arg \"min-requests\": \"+5\""),
        },
        Case {
            name: "exponent in tolerance",
            input: input(
                vec![ratios("canary", &[(1.0, 100.0)]), one()],
                &[("tolerance", "1e-3")],
            ),
            expected: Err("invalid arg \"tolerance\": \"1e-3\""),
        },
        Case {
            name: "tolerance without leading digit",
            input: input(
                vec![ratios("canary", &[(1.0, 100.0)]), one()],
                &[("tolerance", ".5")],
            ),
            expected: Err("invalid arg \"tolerance\": \".5\""),
        },
        Case {
            name: "min-requests is checked before tolerance",
            input: input(
                vec![ratios("canary", &[(1.0, 100.0)]), one()],
                &[("tolerance", "x"), ("min-requests", "-1")],
            ),
            expected: Err("invalid arg \"min-requests\": \"-1\""),
        },
        Case {
            name: "arg errors come before series errors",
            input: input(vec![], &[("tolerance", "5.")]),
            expected: Err("invalid arg \"tolerance\": \"5.\""),
        },
        Case {
            name: "JSON input; weights, config and state are ignored; no state returned",
            input: parse(json!({
                "metric": "error-rate", "now-ms": 5,
                "series": [
                    {"name": "canary", "ratios": [{"time-ms": 0, "numerator": 30, "denominator": 1000}]},
                    {"name": "stable", "ratios": [{"numerator": 10.0, "denominator": 1000.0}]},
                ],
                "weights": [{"time-ms": 0, "canary-weight": 20}],
                "config": "{\"anything\": true}", "state": [1, 2, 3],
            })),
            expected: regression(
                "canary errors 30/1000, stable errors 10/1000",
                0.019999999999999997,
                (1000, 1000),
            ),
        },
        // --- values JSON cannot carry (built through the Rust API) ---
        Case {
            name: "NaN canary denominator is an error",
            input: patched(
                input(
                    vec![ratios("canary", &[(1.0, 0.0)]), ratios("stable", &[(1.0, 50.0)])],
                    &[],
                ),
                |i| {
                    i.series[0].ratios[0].denominator = f64::NAN;
                },
            ),
            expected: Err(
                "invalid counts in series \"canary\" at ratio 0: need 0 <= numerator <= denominator, both finite",
            ),
        },
        Case {
            name: "NaN stable denominator is an error",
            input: patched(
                input(
                    vec![ratios("canary", &[(1.0, 50.0)]), ratios("stable", &[(1.0, 0.0)])],
                    &[],
                ),
                |i| {
                    i.series[1].ratios[0].denominator = f64::NAN;
                },
            ),
            expected: Err(
                "invalid counts in series \"stable\" at ratio 0: need 0 <= numerator <= denominator, both finite",
            ),
        },
        Case {
            name: "infinite canary denominator is an error",
            input: patched(input(vec![ratios("canary", &[(1.0, 0.0)]), one()], &[]), |i| {
                i.series[0].ratios[0].denominator = f64::INFINITY;
            }),
            expected: Err(
                "invalid counts in series \"canary\" at ratio 0: need 0 <= numerator <= denominator, both finite",
            ),
        },
        Case {
            name: "infinite canary numerator is an error",
            input: patched(input(vec![ratios("canary", &[(0.0, 100.0)]), one()], &[]), |i| {
                i.series[0].ratios[0].numerator = f64::INFINITY;
            }),
            expected: Err(
                "invalid counts in series \"canary\" at ratio 0: need 0 <= numerator <= denominator, both finite",
            ),
        },
    ]
}

/// Runs every case on `judge`; returns the outcomes as comparable text.
fn outcomes(label: &str, judge: &LoadedJudge) -> Vec<String> {
    cases()
        .iter()
        .map(|case| {
            let eval = judge
                .evaluate(&case.input)
                .unwrap_or_else(|e| panic!("{label}, case '{}': host error: {e}", case.name));
            assert!(
                eval.instructions > 0,
                "{label}, case '{}': no instructions counted",
                case.name
            );
            outcome_text(&eval.outcome)
        })
        .collect()
}

/// Exact text of an outcome: the verdict's JSON form plus every detail value in Rust's
/// round-trip notation (JSON has no NaN/infinity and prints -0.0 and 0.0 alike in some tools).
fn outcome_text(o: &Result<JudgeVerdict, impl AsRef<str>>) -> String {
    match o {
        Ok(v) => {
            let values: Vec<String> = v.details.iter().map(|d| format!("{:?}", d.value)).collect();
            format!("ok {} values={values:?}", json::verdict_to_json(v))
        }
        Err(e) => format!("err {}", e.as_ref()),
    }
}

/// Checks every judge of `names` in `dir` against the table, and against each other.
fn check_dir(dir: &Path, names: &[&str]) {
    let expected: Vec<String> = cases().iter().map(|c| outcome_text(&c.expected)).collect();
    for (name, judge) in names.iter().zip(load_all(dir, names)) {
        let label = format!("{}/{name}.wasm", dir.display());
        let info = judge.info();
        assert_eq!(
            (
                info.name.as_str(),
                info.version.as_str(),
                info.config_schema.as_str()
            ),
            ("error-ratio-reference", "0.1.0", "{}"),
            "{label}: describe()"
        );
        let pure: Vec<&String> = judge
            .component()
            .imports
            .iter()
            .filter(|i| !i.starts_with("rollout:judge/types@"))
            .collect();
        assert!(
            pure.is_empty(),
            "{label}: imports {pure:?}; reference judges must be pure"
        );
        let got = outcomes(&label, &judge);
        let mismatches: Vec<String> = cases()
            .iter()
            .zip(got.iter().zip(&expected))
            .filter(|(_, (g, e))| g != e)
            .map(|(c, (g, e))| format!("case '{}':\n  got      {g}\n  expected {e}", c.name))
            .collect();
        assert!(
            mismatches.is_empty(),
            "{label} differs from the reference:\n{}",
            mismatches.join("\n")
        );
        println!("{label}: {} cases identical to the reference", got.len());
    }
}

#[test]
fn table_has_every_kind_of_outcome() {
    let kinds: Vec<String> = cases()
        .iter()
        .map(|c| match &c.expected {
            Ok(v) => json::phase_name(v.phase).to_string(),
            Err(_) => "err".to_string(),
        })
        .collect();
    for kind in ["successful", "failed", "inconclusive", "err"] {
        assert!(
            kinds.iter().filter(|k| *k == kind).count() >= 3,
            "fewer than 3 '{kind}' cases"
        );
    }
    let mut names: Vec<&str> = cases().iter().map(|c| c.name).collect();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), cases().len(), "case names must be unique");
}

#[test]
fn committed_rust_and_c_judges_agree_with_the_reference() {
    check_dir(&dist_dir(), &COMMITTED);
}

#[test]
fn committed_digests_match_sha256sums() {
    let sums = std::fs::read_to_string(dist_dir().join("SHA256SUMS")).unwrap();
    for name in COMMITTED {
        let file = format!("{name}.wasm");
        let line = sums
            .lines()
            .find(|l| l.split_whitespace().nth(1) == Some(file.as_str()))
            .unwrap_or_else(|| panic!("plugins/dist/SHA256SUMS has no line for {file}"));
        let pinned = line.split_whitespace().next().unwrap_or_default().to_string();
        let judge = host().load_file(
            &dist_dir().join(&file),
            &LoadOptions {
                sha256: Some(pinned),
                allow_wasi: false,
            },
        );
        assert!(judge.is_ok(), "{file}: {:?}", judge.err().map(|e| e.to_string()));
    }
}

#[test]
fn rebuilt_judges_in_all_four_languages_agree_with_the_reference() {
    let Some(dir) = rebuilt_dir() else {
        println!(
            "{REBUILT_VAR} is not set: checked the committed artefacts (Rust, C) only. \
             scripts/test sets it after rebuilding every judge with plugins/build."
        );
        return;
    };
    check_dir(&dir, &ALL);
}
