//! # analysis-sdk
//!
//! The versioned WIT interface of rollout analysis judges (`wit/`) and the Rust guest SDK that
//! judge authors use to write a judge in a few lines and compile it to a WebAssembly component
//! (issue #5).
