//! # rollout-sim
//!
//! Run rollouts without a cluster: in-memory implementations of every adapter trait on a simulated
//! clock, pods that become ready after a delay, and a per-version traffic and metrics model with
//! injected faults. The `rollout simulate` command is built on it.
