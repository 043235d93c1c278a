//! The WASI context given to judges registered with the WASI opt-in: no preopens, no env, no
//! args, no network, stdin closed, output discarded, fixed clocks and a fixed random seed.

use std::time::Duration;

use rand::SeedableRng;
use wasmtime::component::ResourceTable;
use wasmtime_wasi::{HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxView};

/// The fixed wall-clock time WASI judges see: 2020-01-01T00:00:00Z (the real time is in the input).
const FIXED_WALL: Duration = Duration::from_secs(1_577_836_800);

/// A wall clock that never moves.
struct FixedWall;

impl HostWallClock for FixedWall {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        FIXED_WALL
    }
}

/// A monotonic clock that never moves.
struct FixedMono;

impl HostMonotonicClock for FixedMono {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }

    fn now(&self) -> u64 {
        0
    }
}

/// WASI context and resource table of one store.
pub(crate) struct WasiState {
    ctx: WasiCtx,
    table: ResourceTable,
}

impl WasiState {
    /// The capability-less, deterministic context.
    pub(crate) fn deterministic() -> Self {
        let ctx = WasiCtx::builder()
            .wall_clock(FixedWall)
            .monotonic_clock(FixedMono)
            .insecure_random_seed(0)
            .secure_random(rand::rngs::StdRng::seed_from_u64(0))
            .insecure_random(rand::rngs::StdRng::seed_from_u64(1))
            .max_random_size(64 << 10)
            .allow_ip_name_lookup(false)
            .allow_tcp(false)
            .allow_udp(false)
            .build();
        Self {
            ctx,
            table: ResourceTable::new(),
        }
    }

    /// The view wasmtime-wasi's host functions use.
    pub(crate) fn view(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }
}
