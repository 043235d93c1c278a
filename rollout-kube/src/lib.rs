//! # rollout-kube
//!
//! The Kubernetes driver for [`rollout_core`]: kube-rs resources for Argo's `argoproj.io/v1alpha1`
//! kinds, a controller that builds the core's observed snapshot from the API server, calls the
//! core and carries out its actions, and the analysis providers that need the cluster (issue #8).
