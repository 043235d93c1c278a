//! # rollout-kube
//!
//! The Kubernetes driver for [`rollout_core`]: kube-rs resources for Argo's `argoproj.io/v1alpha1`
//! kinds, a controller that builds the core's observed snapshot from the API server, calls the
//! core and carries out its actions, and the analysis providers that need the cluster (issue #8).
//!
//! Map of the crate:
//! - [`manifests`]: CRDs, least-privilege RBAC, ServiceAccount and controller Deployment as YAML.
//! - [`testenv`] (feature `testenv`): etcd + kube-apiserver (+ controller-manager) for tests.
#![forbid(unsafe_code)]
#![cfg_attr(not(test), deny(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

pub mod manifests;
#[cfg(feature = "testenv")]
pub mod testenv;
