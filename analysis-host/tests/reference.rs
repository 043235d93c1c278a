//! The committed Rust reference judge (`plugins/dist/rust-error-ratio.wasm`) against the table of
//! `plugins/REFERENCE-JUDGE.md`, and against the same logic compiled natively on random inputs.

mod common;

use analysis_host::{HostConfig, JudgeHost, LoadOptions, json};
use common::sdk::sdk_input;
use common::{dist, input, load, ratios};
use proptest::prelude::*;
use rollout_core::analysis::judge::{Detail, JudgeVerdict, VerdictPhase};

#[path = "../../plugins/rust-error-ratio/src/logic.rs"]
#[allow(dead_code)]
mod logic;

fn detail(value: f64, samples: (u64, u64), needed: Option<u64>) -> Detail {
    Detail {
        name: "error-ratio".into(),
        statistic: "ratio-delta".into(),
        value,
        effect: None,
        interval: None,
        samples,
        samples_needed: needed,
        extra: vec![],
    }
}

fn verdict(phase: VerdictPhase, code: &str, reason: &str, d: Detail) -> Result<JudgeVerdict, String> {
    Ok(JudgeVerdict {
        phase,
        code: code.into(),
        score: None,
        reason: reason.into(),
        details: vec![d],
        state: None,
    })
}

#[test]
fn reference_table() {
    use VerdictPhase::*;
    let host = JudgeHost::new(HostConfig::default()).unwrap();
    let judge = load(&host, "rust-error-ratio");
    assert_eq!(judge.info().name, "error-ratio-reference");
    assert_eq!(
        (judge.info().version.as_str(), judge.info().config_schema.as_str()),
        ("0.1.0", "{}")
    );
    let cases = vec![
        (
            input(
                vec![
                    ratios("canary", &[(1.0, 100.0), (1.0, 100.0)]),
                    ratios("stable", &[(2.0, 200.0)]),
                ],
                &[],
            ),
            verdict(
                Successful,
                "ok",
                "canary errors 2/200, stable errors 2/200",
                detail(0.0, (200, 200), None),
            ),
        ),
        (
            input(
                vec![
                    ratios("canary", &[(10.0, 100.0), (10.0, 100.0)]),
                    ratios("stable", &[(2.0, 200.0)]),
                ],
                &[],
            ),
            verdict(
                Failed,
                "regression",
                "canary errors 20/200, stable errors 2/200",
                detail(0.09000000000000001, (200, 200), None),
            ),
        ),
        (
            input(
                vec![
                    ratios("canary", &[(5.0, 40.0)]),
                    ratios("stable", &[(1.0, 500.0)]),
                ],
                &[],
            ),
            verdict(
                Inconclusive,
                "insufficient-data",
                "need 100 requests per arm, have canary 40 stable 500",
                detail(0.0, (40, 500), Some(60)),
            ),
        ),
        (
            input(
                vec![
                    ratios("canary", &[(3.0, 100.0)]),
                    ratios("stable", &[(1.0, 100.0)]),
                ],
                &[("tolerance", "0.05")],
            ),
            verdict(
                Successful,
                "ok",
                "canary errors 3/100, stable errors 1/100",
                detail(0.019999999999999997, (100, 100), None),
            ),
        ),
        (
            input(
                vec![ratios("canary", &[(3.0, 10.0)]), ratios("stable", &[(1.0, 10.0)])],
                &[("min-requests", "10")],
            ),
            verdict(
                Failed,
                "regression",
                "canary errors 3/10, stable errors 1/10",
                detail(0.19999999999999998, (10, 10), None),
            ),
        ),
        (
            input(vec![ratios("stable", &[(1.0, 100.0)])], &[]),
            Err("missing series \"canary\"".into()),
        ),
        (
            input(vec![ratios("canary", &[(1.0, 100.0)])], &[]),
            Err("missing series \"stable\"".into()),
        ),
        (
            input(
                vec![
                    ratios("canary", &[(1.0, 100.0)]),
                    ratios("stable", &[(1.0, 100.0)]),
                ],
                &[("min-requests", "abc")],
            ),
            Err("invalid arg \"min-requests\": \"abc\"".into()),
        ),
        (
            input(
                vec![
                    ratios("canary", &[(1.0, 100.0)]),
                    ratios("stable", &[(1.0, 100.0)]),
                ],
                &[("tolerance", "1e-3")],
            ),
            Err("invalid arg \"tolerance\": \"1e-3\"".into()),
        ),
        (
            input(
                vec![
                    ratios("canary", &[(1.0, 100.0)]),
                    ratios("stable", &[(1.0, 100.0)]),
                ],
                &[("min-requests", "+5")],
            ),
            Err("invalid arg \"min-requests\": \"+5\"".into()),
        ),
        (
            // min-requests 0 with empty arms: zero denominators count as ratio 0.
            input(
                vec![ratios("canary", &[]), ratios("stable", &[])],
                &[("min-requests", "0")],
            ),
            verdict(
                Successful,
                "ok",
                "canary errors 0/0, stable errors 0/0",
                detail(0.0, (0, 0), None),
            ),
        ),
    ];
    for (i, (input, expected)) in cases.into_iter().enumerate() {
        let got = judge.evaluate(&input).unwrap();
        assert_eq!(got.outcome, expected, "case {i}");
        assert!(got.instructions > 0 && got.peak_memory_bytes > 0, "case {i}");
    }
}

#[test]
fn instructions_are_deterministic() {
    let host = JudgeHost::new(HostConfig::default()).unwrap();
    let judge = load(&host, "rust-error-ratio");
    let a = judge.evaluate(&common::healthy()).unwrap();
    let b = judge.evaluate(&common::healthy()).unwrap();
    assert_eq!(
        (a.instructions, a.peak_memory_bytes),
        (b.instructions, b.peak_memory_bytes)
    );
}

#[test]
fn pinned_digest_from_sha256sums_loads() {
    let sums = std::fs::read_to_string(dist("rust-error-ratio").with_file_name("SHA256SUMS")).unwrap();
    let line = sums
        .lines()
        .find(|l| l.ends_with("  rust-error-ratio.wasm"))
        .unwrap();
    let digest = line.split_whitespace().next().unwrap().to_uppercase();
    let host = common::small_host();
    let judge = host
        .load_file(
            &dist("rust-error-ratio"),
            &LoadOptions {
                sha256: Some(digest.clone()),
                allow_wasi: false,
            },
        )
        .unwrap();
    assert_eq!(judge.sha256(), digest.to_lowercase());
    assert_eq!(
        judge.component().imports,
        vec!["rollout:judge/types@0.1.0".to_string()]
    );
    assert_eq!(
        judge.component().exports,
        vec!["rollout:judge/evaluator@0.1.0".to_string()]
    );
}

fn native(i: &rollout_core::analysis::judge::JudgeInput) -> serde_json::Value {
    match logic::evaluate(&sdk_input(i)) {
        Ok(v) => {
            let d = &v.details[0];
            serde_json::json!({
                "phase": match v.phase {
                    analysis_sdk::Phase::Successful => "successful",
                    analysis_sdk::Phase::Failed => "failed",
                    analysis_sdk::Phase::Inconclusive => "inconclusive",
                    analysis_sdk::Phase::Error => "error",
                }, "code": v.code, "reason": v.reason,
                "value": d.value, "samples": [d.samples.0, d.samples.1], "needed": d.samples_needed,
            })
        }
        Err(e) => serde_json::json!({ "error": e }),
    }
}

fn wasm(outcome: &Result<JudgeVerdict, String>) -> serde_json::Value {
    match outcome {
        Ok(v) => {
            let d = &v.details[0];
            serde_json::json!({
                "phase": json::phase_name(v.phase), "code": v.code, "reason": v.reason,
                "value": d.value, "samples": [d.samples.0, d.samples.1], "needed": d.samples_needed,
            })
        }
        Err(e) => serde_json::json!({ "error": e }),
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// The component and the same source compiled natively agree on every input.
    #[test]
    fn component_matches_native_logic(
        canary in proptest::collection::vec((0u32..50, 0u32..400), 0..6),
        stable in proptest::collection::vec((0u32..50, 0u32..400), 0..6),
        min in prop_oneof![Just(None), (0u32..300).prop_map(|m| Some(m.to_string())), Just(Some("x".to_string()))],
        tol in prop_oneof![Just(None), (0u32..100).prop_map(|t| Some(format!("0.{t:02}"))), Just(Some("-1".to_string()))],
    ) {
        thread_local!(static JUDGE: analysis_host::LoadedJudge = load(&common::small_host(), "rust-error-ratio"));
        let f = |v: &[(u32, u32)]| v.iter().map(|&(n, d)| (f64::from(n), f64::from(d))).collect::<Vec<_>>();
        let mut args = vec![];
        if let Some(m) = &min { args.push(("min-requests", m.as_str())); }
        if let Some(t) = &tol { args.push(("tolerance", t.as_str())); }
        let i = input(vec![ratios("canary", &f(&canary)), ratios("stable", &f(&stable))], &args);
        let got = JUDGE.with(|j| j.evaluate(&i)).unwrap();
        prop_assert_eq!(wasm(&got.outcome), native(&i));
    }
}
