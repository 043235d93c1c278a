//! [`JudgeHost`] (engine, linkers, epoch ticker, cache) and [`LoadedJudge`] (a verified,
//! compiled, pre-linked judge that evaluates in a fresh store each time).

use std::path::Path;
use std::sync::Arc;

use rollout_core::analysis::judge::{JudgeInfo, JudgeInput, JudgeVerdict};
use wasmtime::component::Linker;
use wasmtime::{Engine, Store, Trap};

use crate::bindings::JudgePre;
use crate::config::{EpochTicker, HostConfig, build_engine};
use crate::convert::{from_wit, info_from_wit, input_size, to_wit, verdict_size};
use crate::store::StoreData;
use crate::{HostError, cache, inspect};

/// The export every judge must have.
pub const EVALUATOR_EXPORT: &str = "rollout:judge/evaluator@0.1.0";

/// How to load one judge.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// The pinned sha256 (hex, any case); loading fails unless the bytes match.
    pub sha256: Option<String>,
    /// Accept a judge that imports WASI, giving it a capability-less, deterministic WASI.
    pub allow_wasi: bool,
}

/// Where a loaded judge's machine code came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeSource {
    /// Compiled with Cranelift now (and written to the cache if there is one).
    Compiled,
    /// Loaded from the precompiled disk cache.
    Cache,
}

/// What a component imports and exports, and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInfo {
    /// sha256 of the component bytes, lower-case hex.
    pub sha256: String,
    /// Size of the component in bytes.
    pub size_bytes: usize,
    /// Export names (e.g. `rollout:judge/evaluator@0.1.0`).
    pub exports: Vec<String>,
    /// Import names (e.g. `rollout:judge/types@0.1.0`).
    pub imports: Vec<String>,
}

impl ComponentInfo {
    /// The imports from the `wasi:` namespace.
    pub fn wasi_imports(&self) -> Vec<&str> {
        self.imports
            .iter()
            .map(String::as_str)
            .filter(|i| i.starts_with("wasi:"))
            .collect()
    }
}

/// The result of one evaluation.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    /// The verdict, or the judge's own `err(message)`.
    pub outcome: Result<JudgeVerdict, String>,
    /// Fuel consumed by this evaluation (instantiation included): deterministic "instructions".
    pub instructions: u64,
    /// Peak linear memory of the judge, in bytes.
    pub peak_memory_bytes: usize,
}

pub(crate) struct HostInner {
    pub(crate) engine: Engine,
    pub(crate) config: HostConfig,
    pub(crate) engine_hash: Option<String>,
    pure_linker: Linker<StoreData>,
    #[cfg(feature = "wasi")]
    wasi_linker: Linker<StoreData>,
    pub(crate) permits: Arc<tokio::sync::Semaphore>,
    _ticker: EpochTicker,
}

/// The wasmtime host: one engine, its linkers and limits. Cheap to clone.
#[derive(Clone)]
pub struct JudgeHost {
    pub(crate) inner: Arc<HostInner>,
}

impl std::fmt::Debug for JudgeHost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JudgeHost")
            .field("config", &self.inner.config)
            .finish()
    }
}

impl JudgeHost {
    /// A host with these limits (pooling allocator, fuel, epoch backstop thread).
    pub fn new(config: HostConfig) -> Result<Self, HostError> {
        let engine = build_engine(&config)?;
        let engine_hash = cache::engine_hash(&engine);
        // Pure judges import only the types interface, which needs no definitions.
        let pure_linker = Linker::new(&engine);
        #[cfg(feature = "wasi")]
        let wasi_linker = {
            let mut l = Linker::new(&engine);
            wasmtime_wasi::p2::add_to_linker_sync(&mut l)
                .map_err(|e| HostError::Engine(format!("cannot link WASI: {e:#}")))?;
            l
        };
        let ticker = EpochTicker::start(&engine, config.epoch_tick)?;
        let permits = Arc::new(tokio::sync::Semaphore::new(config.max_concurrent.max(1) as usize));
        Ok(Self {
            inner: Arc::new(HostInner {
                engine,
                config,
                engine_hash,
                pure_linker,
                #[cfg(feature = "wasi")]
                wasi_linker,
                permits,
                _ticker: ticker,
            }),
        })
    }

    /// The limits this host applies.
    pub fn config(&self) -> &HostConfig {
        &self.inner.config
    }

    /// The engine's precompile-compatibility hash (part of the cache key), hex; `None` in an
    /// evaluate-only build (no `cranelift`).
    pub fn engine_hash(&self) -> Option<&str> {
        self.inner.engine_hash.as_deref()
    }

    /// Digest, exports and imports of a component (compiling it), without applying the rules.
    pub fn component_info(&self, bytes: &[u8]) -> Result<ComponentInfo, HostError> {
        let sha256 = cache::sha256_hex(bytes);
        let (component, _) = cache::compile(&self.inner, bytes, &sha256)?;
        Ok(inspect::component_info(
            &self.inner.engine,
            &component,
            sha256,
            bytes.len(),
        ))
    }

    /// Loads a judge from a file (see [`JudgeHost::load_bytes`]).
    pub fn load_file(&self, path: &Path, opts: &LoadOptions) -> Result<LoadedJudge, HostError> {
        let bytes = std::fs::read(path).map_err(|source| HostError::Io {
            path: path.display().to_string(),
            source,
        })?;
        self.load_bytes(&bytes, opts)
    }

    /// Verifies the digest, compiles (or loads from the cache), checks exports and imports,
    /// pre-links, and calls `describe()` once.
    pub fn load_bytes(&self, bytes: &[u8], opts: &LoadOptions) -> Result<LoadedJudge, HostError> {
        let sha256 = cache::sha256_hex(bytes);
        if let Some(expected) = &opts.sha256
            && !expected.eq_ignore_ascii_case(&sha256)
        {
            return Err(HostError::DigestMismatch {
                expected: expected.clone(),
                actual: sha256,
            });
        }
        let (component, source) = cache::compile(&self.inner, bytes, &sha256)?;
        let info = inspect::component_info(&self.inner.engine, &component, sha256, bytes.len());
        inspect::check_exports(&info)?;
        let wasi = inspect::check_imports(&info, opts.allow_wasi)?;
        let linker = self.linker(wasi, &info)?;
        let pre = linker
            .instantiate_pre(&component)
            .and_then(JudgePre::new)
            .map_err(|e| HostError::Instantiate(format!("{e:#}")))?;
        let judge_info = call_describe(&self.inner, &pre)?;
        Ok(LoadedJudge {
            inner: Arc::new(JudgeInner {
                host: Arc::clone(&self.inner),
                pre,
                component: info,
                judge_info,
                source,
            }),
        })
    }

    fn linker(&self, wasi: bool, info: &ComponentInfo) -> Result<&Linker<StoreData>, HostError> {
        if !wasi {
            return Ok(&self.inner.pure_linker);
        }
        #[cfg(feature = "wasi")]
        {
            let _ = info;
            Ok(&self.inner.wasi_linker)
        }
        #[cfg(not(feature = "wasi"))]
        Err(HostError::WasiUnavailable {
            imports: info.wasi_imports().join(", "),
        })
    }
}

struct JudgeInner {
    host: Arc<HostInner>,
    pre: JudgePre<StoreData>,
    component: ComponentInfo,
    judge_info: JudgeInfo,
    source: CodeSource,
}

/// A loaded judge: verified, compiled and pre-linked. Cheap to clone; safe to share.
#[derive(Clone)]
pub struct LoadedJudge {
    inner: Arc<JudgeInner>,
}

impl std::fmt::Debug for LoadedJudge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedJudge")
            .field("info", &self.inner.judge_info)
            .field("sha256", &self.inner.component.sha256)
            .finish()
    }
}

impl LoadedJudge {
    /// What `describe()` returned at load time.
    pub fn info(&self) -> &JudgeInfo {
        &self.inner.judge_info
    }

    /// Digest, imports and exports of the component.
    pub fn component(&self) -> &ComponentInfo {
        &self.inner.component
    }

    /// sha256 of the component, lower-case hex.
    pub fn sha256(&self) -> &str {
        &self.inner.component.sha256
    }

    /// Whether the machine code was compiled now or loaded from the cache.
    pub fn code_source(&self) -> CodeSource {
        self.inner.source
    }

    /// Runs one evaluation in a fresh store, on the calling thread (it blocks for as long as the
    /// judge runs: at most the fuel budget, backstopped by the deadline).
    pub fn evaluate(&self, input: &JudgeInput) -> Result<Evaluation, HostError> {
        let cfg = &self.inner.host.config;
        let size = input_size(input);
        if size > cfg.max_input_bytes {
            return Err(HostError::InputTooLarge {
                size,
                limit: cfg.max_input_bytes,
            });
        }
        let wit_input = to_wit(input);
        let mut store = new_store(&self.inner.host)?;
        let judge = self
            .inner
            .pre
            .instantiate(&mut store)
            .map_err(|e| classify(&self.inner.host, e, &store))?;
        let result = judge
            .rollout_judge_evaluator()
            .call_evaluate(&mut store, &wit_input);
        let result = result.map_err(|e| classify(&self.inner.host, e, &store))?;
        let instructions = cfg.fuel.saturating_sub(store.get_fuel().unwrap_or(0));
        let peak_memory_bytes = store.data().limiter.peak;
        let size = match &result {
            Ok(v) => verdict_size(v),
            Err(message) => message.len(),
        };
        if size > cfg.max_output_bytes {
            return Err(HostError::OutputTooLarge {
                size,
                limit: cfg.max_output_bytes,
            });
        }
        Ok(Evaluation {
            outcome: result.map(from_wit),
            instructions,
            peak_memory_bytes,
        })
    }

    /// [`LoadedJudge::evaluate`] on tokio's blocking pool, at most `max_concurrent` at once.
    /// Must be called from within a tokio runtime.
    pub async fn evaluate_async(&self, input: JudgeInput) -> Result<Evaluation, HostError> {
        let permit = Arc::clone(&self.inner.host.permits)
            .acquire_owned()
            .await
            .map_err(|e| HostError::Task(e.to_string()))?;
        let judge = self.clone();
        tokio::task::spawn_blocking(move || {
            let out = judge.evaluate(&input);
            drop(permit);
            out
        })
        .await
        .map_err(|e| HostError::Task(e.to_string()))?
    }
}

fn new_store(host: &HostInner) -> Result<Store<StoreData>, HostError> {
    let cfg = &host.config;
    let mut store = Store::new(&host.engine, StoreData::new(cfg.max_memory_bytes));
    store.limiter(|d| &mut d.limiter);
    store
        .set_fuel(cfg.fuel)
        .map_err(|e| HostError::Engine(format!("cannot set fuel: {e:#}")))?;
    store.set_epoch_deadline(cfg.deadline_ticks());
    store.epoch_deadline_trap();
    Ok(store)
}

fn call_describe(host: &HostInner, pre: &JudgePre<StoreData>) -> Result<JudgeInfo, HostError> {
    let mut store = new_store(host)?;
    let judge = pre
        .instantiate(&mut store)
        .map_err(|e| classify(host, e, &store))?;
    let info = judge
        .rollout_judge_evaluator()
        .call_describe(&mut store)
        .map_err(|e| classify(host, e, &store))?;
    let size = info.name.len() + info.version.len() + info.config_schema.len();
    if size > host.config.max_output_bytes {
        return Err(HostError::OutputTooLarge {
            size,
            limit: host.config.max_output_bytes,
        });
    }
    Ok(info_from_wit(info))
}

/// Turns a wasmtime error into the typed error that says what the judge did.
fn classify(host: &HostInner, e: wasmtime::Error, store: &Store<StoreData>) -> HostError {
    let cfg = &host.config;
    if let Some(requested) = store.data().limiter.denied {
        return HostError::MemoryLimit {
            limit: cfg.max_memory_bytes,
            requested,
        };
    }
    if e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>().is_some() {
        return HostError::Capacity(format!("{e:#}"));
    }
    match e.downcast_ref::<Trap>() {
        Some(Trap::OutOfFuel) => HostError::FuelExhausted { budget: cfg.fuel },
        Some(Trap::Interrupt) => HostError::Deadline {
            millis: u64::try_from(cfg.deadline.as_millis()).unwrap_or(u64::MAX),
        },
        Some(Trap::StackOverflow) => HostError::StackOverflow,
        Some(trap) => HostError::Trap(trap.to_string()),
        None => HostError::Trap(format!("{e:#}")),
    }
}
