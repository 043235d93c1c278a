//! Criterion benches of the shipped judges (placeholder replaced below).
fn main() {}
