//! [`HostConfig`]: the limits every evaluation runs under, and the engine built from them.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::HostError;

/// Limits and knobs of the judge host. [`HostConfig::default`] is what production uses.
#[derive(Debug, Clone, PartialEq)]
pub struct HostConfig {
    /// Fuel budget per evaluation, reported to authors as "instructions" (deterministic).
    pub fuel: u64,
    /// Cap on each linear memory of a judge, in bytes.
    pub max_memory_bytes: usize,
    /// Cap on the (estimated, canonical-ABI) size of an evaluation input, in bytes.
    pub max_input_bytes: usize,
    /// Cap on the (estimated) size of a verdict, in bytes.
    pub max_output_bytes: usize,
    /// Wall-clock backstop per evaluation (epoch interruption); fuel is the real budget.
    pub deadline: Duration,
    /// How often the epoch ticks; the deadline is rounded up to whole ticks.
    pub epoch_tick: Duration,
    /// Maximum evaluations running at once (instance-pool size); more wait in `evaluate_async`.
    pub max_concurrent: u32,
    /// Maximum wasm call-stack size, in bytes.
    pub max_wasm_stack: usize,
    /// Where precompiled artefacts are cached (`<sha256>-<engine hash>.cwasm`); `None` = no disk cache.
    /// Only this host writes there: never point it at files from judge authors.
    pub cache_dir: Option<PathBuf>,
}

impl Default for HostConfig {
    fn default() -> Self {
        Self {
            fuel: 200_000_000,
            max_memory_bytes: 64 << 20,
            max_input_bytes: 4 << 20,
            max_output_bytes: 1 << 20,
            deadline: Duration::from_secs(5),
            epoch_tick: Duration::from_millis(10),
            max_concurrent: 16,
            max_wasm_stack: 512 << 10,
            cache_dir: None,
        }
    }
}

impl HostConfig {
    /// The deadline in epoch ticks (at least 1).
    pub(crate) fn deadline_ticks(&self) -> u64 {
        let tick = self.epoch_tick.as_micros().max(1);
        let ticks = self.deadline.as_micros().div_ceil(tick);
        u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
    }
}

/// Builds the engine: fuel, epoch interruption, NaN canonicalisation, and the pooling allocator
/// sized for judges (falls back to on-demand allocation if the pool cannot be reserved).
pub(crate) fn build_engine(cfg: &HostConfig) -> Result<Engine, HostError> {
    let mut base = Config::new();
    base.consume_fuel(true)
        .epoch_interruption(true)
        .max_wasm_stack(cfg.max_wasm_stack)
        .wasm_component_model(true);
    #[cfg(feature = "cranelift")]
    base.cranelift_nan_canonicalization(true);

    let n = cfg.max_concurrent.max(1);
    let mut pool = PoolingAllocationConfig::new();
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(64))
        .max_core_instances_per_component(64)
        .total_memories(n.saturating_mul(8))
        .max_memories_per_component(8)
        .total_tables(n.saturating_mul(16))
        .max_tables_per_component(16)
        .table_elements(100_000)
        .max_memory_size(cfg.max_memory_bytes)
        .max_core_instance_size(4 << 20)
        .max_component_instance_size(4 << 20)
        .max_unused_warm_slots(n)
        // Reset small memories with memset instead of madvise: no page faults on the next use.
        .linear_memory_keep_resident(1 << 20)
        .table_keep_resident(64 << 10);
    let mut pooled = base.clone();
    pooled.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    match Engine::new(&pooled) {
        Ok(engine) => Ok(engine),
        // Small address spaces cannot reserve the pool: on-demand allocation is slower but works.
        Err(_) => Engine::new(&base).map_err(|e| HostError::Engine(format!("{e:#}"))),
    }
}

/// A thread that advances the engine's epoch every tick, stopped and joined on drop.
#[derive(Debug)]
pub(crate) struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine` every `tick`.
    pub(crate) fn start(engine: &Engine, tick: Duration) -> Result<Self, HostError> {
        let stop = Arc::new(AtomicBool::new(false));
        let weak = engine.weak();
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("judge-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    match weak.upgrade() {
                        Some(engine) => engine.increment_epoch(),
                        None => break,
                    }
                }
            })
            .map_err(|e| HostError::Engine(format!("cannot start the epoch thread: {e}")))?;
        Ok(Self {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadline_rounds_up_to_ticks() {
        let cfg = HostConfig {
            deadline: Duration::from_millis(25),
            epoch_tick: Duration::from_millis(10),
            ..HostConfig::default()
        };
        assert_eq!(cfg.deadline_ticks(), 3);
        let zero = HostConfig {
            deadline: Duration::ZERO,
            ..cfg
        };
        assert_eq!(zero.deadline_ticks(), 1);
    }
}
