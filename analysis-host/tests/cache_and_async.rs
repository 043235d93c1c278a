//! The precompiled disk cache, the core's async judge traits, and the CLI library API.

mod common;

use std::path::PathBuf;
use std::sync::Arc;

use analysis_host::{CodeSource, HostConfig, JudgeHost, LoadOptions, WasmJudges, cli};
use common::{dist, healthy};
use rollout_core::analysis::judge::{JudgeError, VerdictPhase};
use rollout_driver::JudgeRegistry;

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("analysis-host-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn second_load_comes_from_the_disk_cache_and_damage_is_repaired() {
    let dir = temp_dir("cache");
    let config = HostConfig {
        cache_dir: Some(dir.clone()),
        max_concurrent: 2,
        ..HostConfig::default()
    };
    let first = JudgeHost::new(config.clone()).unwrap();
    let judge = first
        .load_file(&dist("rust-error-ratio"), &LoadOptions::default())
        .unwrap();
    assert_eq!(judge.code_source(), CodeSource::Compiled);
    let entry = dir.join(format!(
        "{}-{}.cwasm",
        judge.sha256(),
        first.engine_hash().unwrap()
    ));
    assert!(entry.is_file(), "missing {}", entry.display());

    let second = JudgeHost::new(config.clone()).unwrap();
    let cached = second
        .load_file(&dist("rust-error-ratio"), &LoadOptions::default())
        .unwrap();
    assert_eq!(cached.code_source(), CodeSource::Cache);
    assert_eq!(
        cached.evaluate(&healthy()).unwrap().outcome.unwrap().phase,
        VerdictPhase::Successful
    );

    // A damaged entry is recompiled and rewritten, never trusted.
    std::fs::write(&entry, b"garbage").unwrap();
    let third = JudgeHost::new(config).unwrap();
    let again = third
        .load_file(&dist("rust-error-ratio"), &LoadOptions::default())
        .unwrap();
    assert_eq!(again.code_source(), CodeSource::Compiled);
    assert!(std::fs::metadata(&entry).unwrap().len() > 1000);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_async_evaluations_through_the_core_trait() {
    let host = JudgeHost::new(HostConfig {
        max_concurrent: 3,
        ..HostConfig::default()
    })
    .unwrap();
    let judge = host
        .load_file(&dist("rust-error-ratio"), &LoadOptions::default())
        .unwrap();
    let judge: Arc<dyn rollout_driver::Judge> = Arc::new(judge);
    assert_eq!(judge.describe().name, "error-ratio-reference");
    let tasks: Vec<_> = (0..24)
        .map(|_| {
            let j = Arc::clone(&judge);
            tokio::spawn(async move { j.evaluate(healthy()).await })
        })
        .collect();
    for t in tasks {
        assert_eq!(t.await.unwrap().unwrap().phase, VerdictPhase::Successful);
    }
    // The judge's own err(...) is Rejected, a host failure is Failed.
    let rejected = judge.evaluate(common::input(vec![], &[])).await.unwrap_err();
    assert_eq!(rejected, JudgeError::Rejected("missing series \"canary\"".into()));
    let looping = host
        .load_file(&dist("hostile-infinite-loop"), &LoadOptions::default())
        .unwrap();
    let failed = rollout_driver::Judge::evaluate(&looping, healthy())
        .await
        .unwrap_err();
    assert!(
        matches!(&failed, JudgeError::FuelExhausted { message, .. } if message.contains("ran out of its budget")),
        "{failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_finds_judges_by_digest_in_a_directory() {
    let host = JudgeHost::new(HostConfig {
        max_concurrent: 2,
        ..HostConfig::default()
    })
    .unwrap();
    let dir = dist("rust-error-ratio").parent().unwrap().to_path_buf();
    let registry = WasmJudges::new(host, vec![dir]);
    let sha = analysis_host::cache::sha256_hex(&std::fs::read(dist("rust-error-ratio")).unwrap());
    let judge = registry
        .lookup("error-ratio-reference", &sha.to_uppercase())
        .await
        .unwrap();
    assert_eq!(
        judge.evaluate(healthy()).await.unwrap().phase,
        VerdictPhase::Successful
    );
    // Second lookup hits the map.
    assert!(registry.lookup("error-ratio-reference", &sha).await.is_ok());
    let wrong_name = registry.lookup("other-judge", &sha).await.err().unwrap();
    assert!(
        matches!(&wrong_name, JudgeError::InvalidConfig { message, .. } if message.contains("describes itself as \"error-ratio-reference\"")),
        "{wrong_name:?}"
    );
    let unknown = registry.lookup("x", &"a".repeat(64)).await.err().unwrap();
    assert!(matches!(unknown, JudgeError::NotFound { .. }));
}

#[test]
fn cli_inspect_shows_interface_imports_and_digest() {
    let ok = cli::inspect(&dist("rust-error-ratio")).unwrap();
    assert_eq!(
        ok.component.exports,
        vec!["rollout:judge/evaluator@0.1.0".to_string()]
    );
    assert_eq!(
        ok.component.imports,
        vec!["rollout:judge/types@0.1.0".to_string()]
    );
    assert_eq!(ok.component.sha256.len(), 64);
    assert_eq!(ok.info.map(|i| i.name), Some("error-ratio-reference".to_string()));
    assert_eq!(ok.load_error, None);

    let wrong = cli::inspect(&dist("hostile-wrong-version")).unwrap();
    assert_eq!(
        wrong.component.exports,
        vec!["rollout:judge/evaluator@0.2.0".to_string()]
    );
    assert!(
        wrong
            .load_error
            .is_some_and(|e| e.contains("this host supports rollout:judge/evaluator@0.1.0"))
    );
}

#[test]
fn cli_run_prints_verdict_instructions_and_memory() {
    let input = r#"{"metric":"error-rate","series":[
        {"name":"canary","ratios":[{"numerator":5,"denominator":40}]},
        {"name":"stable","ratios":[{"numerator":1,"denominator":500}]}]}"#;
    let report = cli::run(&dist("rust-error-ratio"), input, &cli::RunOptions::default()).unwrap();
    let json = report.to_json();
    assert_eq!(json["judge"], "error-ratio-reference 0.1.0");
    assert_eq!(json["verdict"]["phase"], "inconclusive");
    assert_eq!(
        json["verdict"]["reason"],
        "need 100 requests per arm, have canary 40 stable 500"
    );
    assert_eq!(json["verdict"]["details"][0]["samples-needed"], 60);
    assert!(json["instructions"].as_u64().unwrap() > 0);
    assert!(json["peak-memory-bytes"].as_u64().unwrap() >= 64 << 10);

    let bad = cli::run(
        &dist("rust-error-ratio"),
        "{\"metric\": 3}",
        &cli::RunOptions::default(),
    )
    .unwrap_err();
    assert!(bad.to_string().starts_with("invalid judge input JSON: "), "{bad}");
}
