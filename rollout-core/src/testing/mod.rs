//! Property-testing kit for rollouts (feature `testing`).
//!
//! - [`strategies`]: proptest strategies for valid canary specs, step lists, observed
//!   snapshots and user-event sequences.
//! - [`invariants`]: checks that must hold after every tick.
//! - [`FakeCluster`]: applies [`Decision`](crate::rollout::Decision)s to in-memory objects so a
//!   test can drive a whole lifecycle.
//!
//! Using it in your own suite (add `rollout-core = { version = "...", features = ["testing"] }`
//! to `[dev-dependencies]`):
//!
//! ```
//! use proptest::prelude::*;
//! use rollout_core::testing::{FakeCluster, invariants, strategies};
//!
//! // In your suite this body lives in a `proptest! { #[test] fn ...(ro in ...) { ... } }`.
//! proptest!(ProptestConfig::with_cases(16), |(ro in strategies::basic_canary_rollout())| {
//!     let mut cluster = FakeCluster::new(ro, strategies::epoch());
//!     cluster.settle(50, true);          // initial deploy
//!     cluster.set_image("demo:v2");      // start an update
//!     for _ in 0..60 {
//!         cluster.tick();
//!         invariants::basic_canary_bounds(&cluster).map_err(TestCaseError::fail)?;
//!         cluster.advance(5);
//!         cluster.promote();             // resume any pause
//!     }
//! });
//! ```

mod cluster;
pub mod invariants;
pub mod strategies;

pub use cluster::FakeCluster;
