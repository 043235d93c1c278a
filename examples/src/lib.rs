//! # rollout-examples
//!
//! Embedding examples: the library inside another operator's reconcile loop, a custom adapter and
//! a simulation. Each example is also run by the test suite.
