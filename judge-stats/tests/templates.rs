//! The example AnalysisTemplates under `examples/templates/`: each judge config parses into the
//! judge's typed configuration, and each pinned sha256 is the digest of the committed component in
//! `plugins/dist` (SHA256SUMS).

use std::path::PathBuf;

use judge_stats::config::{ConfigError, parse_config};
use judge_stats::{error_ratio, kayenta, latency, pair, threshold};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn check(name: &str, config: &str) -> Result<(), ConfigError> {
    match name {
        error_ratio::NAME => error_ratio::Config::test(&parse_config(config)?).map(|_| ()),
        latency::NAME => parse_config::<latency::Config>(config).map(|_| ()),
        threshold::NAME => parse_config::<threshold::Config>(config).map(|_| ()),
        kayenta::NAME => parse_config::<kayenta::Config>(config).map(|_| ()),
        pair::NAME => parse_config::<pair::Config>(config).map(|_| ()),
        other => panic!("unknown judge {other}"),
    }
}

#[test]
fn example_templates_use_valid_configs_and_committed_digests() {
    let sums = std::fs::read_to_string(root().join("plugins/dist/SHA256SUMS")).unwrap();
    let mut seen = 0;
    let mut files: Vec<_> = std::fs::read_dir(root().join("examples/templates"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    for path in files {
        let doc: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        for metric in doc["spec"]["metrics"].as_sequence().unwrap() {
            let judge = &metric["provider"]["judge"];
            let name = judge["name"].as_str().unwrap();
            let sha = judge["sha256"].as_str().unwrap();
            let file = format!(
                "judge-{}.wasm",
                if name == kayenta::NAME {
                    "kayenta"
                } else if name == pair::NAME {
                    "two-deployment"
                } else {
                    name
                }
            );
            assert!(
                sums.lines().any(|l| l == format!("{sha}  {file}")),
                "{}: {sha} is not the digest of {file}",
                path.display()
            );
            let config = serde_json::to_string(&judge["config"]).unwrap();
            check(name, &config).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            seen += 1;
        }
    }
    assert_eq!(seen, 5);
}
