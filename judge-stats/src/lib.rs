//! # judge-stats
//!
//! The statistics behind the judges we ship (issue #6). Pure Rust with no IO, so the same code is
//! unit-tested and benchmarked natively and compiled into the WebAssembly judge components.
