//! # analysis-providers
//!
//! Measurement providers that read real metric sources for analysis runs: Prometheus (instant and
//! range queries over the HTTP API) and web (JSON over HTTP with a JSON path).
