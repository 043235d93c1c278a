//! The Rust judge guide, `docs/rust.md` (its code is compiled as a doctest).
#![doc = include_str!("../docs/rust.md")]
