//! Per-evaluation store state: the memory limiter that records peak usage and denied growth,
//! and (with the `wasi` feature) a capability-less, deterministic WASI context.

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};

/// A [`ResourceLimiter`] that enforces the memory cap and records what the judge asked for.
#[derive(Debug)]
pub(crate) struct Limiter {
    inner: StoreLimits,
    cap: usize,
    /// Bytes of linear memory currently allocated, over all memories.
    total: usize,
    /// The largest `total` seen.
    pub(crate) peak: usize,
    /// The size of the first growth that was refused, if any.
    pub(crate) denied: Option<usize>,
}

impl Limiter {
    /// A limiter with a per-memory cap of `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        let inner = StoreLimitsBuilder::new()
            .memory_size(cap)
            .table_elements(1_000_000)
            .instances(256)
            .tables(256)
            .memories(16)
            .trap_on_grow_failure(true)
            .build();
        Self {
            inner,
            cap,
            total: 0,
            peak: 0,
            denied: None,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.cap {
            self.denied.get_or_insert(desired);
        }
        let allowed = self.inner.memory_growing(current, desired, maximum)?;
        if allowed {
            self.total = self.total.saturating_add(desired.saturating_sub(current));
            self.peak = self.peak.max(self.total);
        }
        Ok(allowed)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// The data of one evaluation's `Store`.
pub(crate) struct StoreData {
    pub(crate) limiter: Limiter,
    #[cfg(feature = "wasi")]
    wasi: Option<crate::wasi::WasiState>,
}

impl StoreData {
    /// Fresh data with a memory cap of `cap` bytes.
    pub(crate) fn new(cap: usize) -> Self {
        Self {
            limiter: Limiter::new(cap),
            #[cfg(feature = "wasi")]
            wasi: None,
        }
    }
}

#[cfg(feature = "wasi")]
impl wasmtime_wasi::WasiView for StoreData {
    fn ctx(&mut self) -> wasmtime_wasi::WasiCtxView<'_> {
        self.wasi
            .get_or_insert_with(crate::wasi::WasiState::deterministic)
            .view()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limiter_records_peak_and_denials() {
        let mut l = Limiter::new(1000);
        assert!(l.memory_growing(0, 600, None).unwrap_or(false));
        assert!(l.memory_growing(0, 300, None).unwrap_or(false));
        assert_eq!(l.peak, 900);
        assert!(l.memory_growing(600, 2000, None).is_err());
        assert_eq!((l.denied, l.peak), (Some(2000), 900));
    }
}
