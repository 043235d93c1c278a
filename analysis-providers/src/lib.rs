//! # analysis-providers
//!
//! Measurement providers that read real metric sources for analysis runs, implementing
//! [`rollout_driver::MeasurementProvider`]:
//! - [`prometheus`]: instant and range queries over Prometheus' HTTP API (also serves judges'
//!   range queries);
//! - [`web`]: JSON over HTTP with a JSON path.
//!
//! Failures (connection refused, timeouts, HTTP errors, malformed bodies) come back as
//! [`ProviderError`](rollout_core::analysis::ProviderError)s with the reason; the run machine records
//! them as Error measurements and its `consecutiveErrorLimit` decides, as upstream.
//!
//! ```no_run
//! use std::sync::Arc;
//! use analysis_providers::{PrometheusProvider, WebProvider};
//! use rollout_driver::Providers;
//!
//! let mut providers = Providers::new();
//! providers.register(Arc::new(PrometheusProvider::new()?.with_bearer_token("token")));
//! providers.register(Arc::new(WebProvider::new()?));
//! # Ok::<(), rollout_core::analysis::ProviderError>(())
//! ```
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod http;
pub mod prometheus;
pub mod time_expr;
pub mod web;

pub use http::Header;
pub use prometheus::{PrometheusConfig, PrometheusProvider};
pub use web::{WebConfig, WebProvider};
