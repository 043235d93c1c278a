//! # analysis-host
//!
//! The wasmtime host that loads WebAssembly judges, verifies their digests and imports, runs each
//! evaluation in a fresh sandbox with fuel, memory and time limits, and implements the core's judge
//! trait (issue #5).
