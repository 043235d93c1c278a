//! # rollout-examples
//!
//! Embedding examples, each a library module (so the test suite runs it) with a thin
//! `examples/*.rs` program around it:
//! - [`reconcile_loop`]: another operator ("WebApp") that owns a Rollout, keeps it in its own
//!   [`RolloutStore`](rollout_driver::RolloutStore) and ticks a
//!   [`RolloutDriver`](rollout_driver::RolloutDriver) from its own reconcile loop, with the
//!   in-memory cluster adapters from `rollout-sim`
//!   (`cargo run -p rollout-examples --example reconcile_loop`).
//! - [`custom_router`]: a custom [`TrafficRouter`](rollout_driver::TrafficRouter) that renders
//!   the canary split as a proxy config, plugged into a
//!   [`RolloutDriver`](rollout_driver::RolloutDriver) with the in-memory adapters for the rest
//!   (`cargo run -p rollout-examples --example custom_router`).
#![forbid(unsafe_code)]

pub mod custom_router;
pub mod reconcile_loop;
