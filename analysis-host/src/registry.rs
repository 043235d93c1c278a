//! The driver's judge traits over wasm judges: [`LoadedJudge`] implements
//! [`rollout_driver::Judge`], and [`WasmJudges`] implements `JudgeRegistry`,
//! loading components on demand from directories by their sha256.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use rollout_core::analysis::judge::{JudgeError, JudgeInfo, JudgeInput, JudgeVerdict};
use rollout_driver::{Judge, JudgeRegistry};

use crate::host::{JudgeHost, LoadOptions, LoadedJudge};
use crate::{HostError, cache};

#[async_trait]
impl Judge for LoadedJudge {
    fn describe(&self) -> JudgeInfo {
        self.info().clone()
    }

    async fn evaluate(&self, input: JudgeInput) -> Result<JudgeVerdict, JudgeError> {
        let evaluation = self.evaluate_async(input).await.map_err(JudgeError::from)?;
        evaluation.outcome.map_err(JudgeError::Rejected)
    }
}

/// A registry of wasm judges keyed by (name, sha256).
///
/// Judges are registered explicitly, or found on first lookup: every `*.wasm` file in the search
/// directories whose sha256 matches is loaded (once) and must describe itself with the asked name.
/// Cheap to clone (shared state).
#[derive(Debug, Clone)]
pub struct WasmJudges {
    inner: Arc<RegistryInner>,
}

#[derive(Debug)]
struct RegistryInner {
    host: JudgeHost,
    dirs: Vec<PathBuf>,
    allow_wasi: bool,
    loaded: RwLock<HashMap<(String, String), LoadedJudge>>,
}

impl WasmJudges {
    /// An empty registry over `host`, searching `dirs` on a lookup miss.
    pub fn new(host: JudgeHost, dirs: Vec<PathBuf>) -> Self {
        Self::with_wasi(host, dirs, false)
    }

    /// Like [`WasmJudges::new`]; `allow_wasi` grants judges found in the search directories the
    /// capability-less WASI opt-in.
    pub fn with_wasi(host: JudgeHost, dirs: Vec<PathBuf>, allow_wasi: bool) -> Self {
        let loaded = RwLock::new(HashMap::new());
        Self {
            inner: Arc::new(RegistryInner {
                host,
                dirs,
                allow_wasi,
                loaded,
            }),
        }
    }

    /// Loads a judge file (optionally pinned) and registers it under its described name.
    pub fn register_file(&self, path: &Path, opts: &LoadOptions) -> Result<LoadedJudge, HostError> {
        let judge = self.inner.host.load_file(path, opts)?;
        self.insert(judge.clone());
        Ok(judge)
    }

    /// Registers an already loaded judge under its described name and digest.
    pub fn insert(&self, judge: LoadedJudge) {
        let key = (judge.info().name.clone(), judge.sha256().to_string());
        if let Ok(mut map) = self.inner.loaded.write() {
            map.insert(key, judge);
        }
    }

    fn get(&self, name: &str, sha256: &str) -> Option<LoadedJudge> {
        let map = self.inner.loaded.read().ok()?;
        map.get(&(name.to_string(), sha256.to_ascii_lowercase())).cloned()
    }

    /// Scans the search directories for a component with this digest and loads it.
    fn find(&self, name: &str, sha256: &str) -> Result<LoadedJudge, JudgeError> {
        let wanted = sha256.to_ascii_lowercase();
        for dir in &self.inner.dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for path in entries.flatten().map(|e| e.path()) {
                if path.extension().is_none_or(|e| e != "wasm") {
                    continue;
                }
                let Ok(bytes) = std::fs::read(&path) else { continue };
                if cache::sha256_hex(&bytes) != wanted {
                    continue;
                }
                let opts = LoadOptions {
                    sha256: Some(wanted.clone()),
                    allow_wasi: self.inner.allow_wasi,
                };
                let judge = self.inner.host.load_bytes(&bytes, &opts).map_err(|e| {
                    let message = format!("cannot load judge {}: {e}", path.display());
                    e.into_judge_error(message)
                })?;
                if judge.info().name != name {
                    return Err(JudgeError::InvalidConfig {
                        message: format!(
                            "judge {} with sha256 {wanted} describes itself as {:?}, not {name:?}",
                            path.display(),
                            judge.info().name
                        ),
                        source: None,
                    });
                }
                self.insert(judge.clone());
                return Ok(judge);
            }
        }
        Err(JudgeError::NotFound {
            name: name.to_string(),
            sha256: sha256.to_string(),
        })
    }
}

#[async_trait]
impl JudgeRegistry for WasmJudges {
    async fn lookup(&self, name: &str, sha256: &str) -> Result<Arc<dyn Judge>, JudgeError> {
        if let Some(judge) = self.get(name, sha256) {
            return Ok(Arc::new(judge));
        }
        let this = self.clone();
        let (name, sha256) = (name.to_string(), sha256.to_string());
        let judge = tokio::task::spawn_blocking(move || this.find(&name, &sha256))
            .await
            .map_err(|e| {
                JudgeError::Unavailable {
                    message: format!("judge loading task failed: {e}"),
                    source: None,
                }
                .with_source(e)
            })??;
        Ok(Arc::new(judge))
    }
}
