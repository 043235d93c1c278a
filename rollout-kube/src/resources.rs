//! kube-rs resources for the four `argoproj.io/v1alpha1` kinds.
//!
//! Design choice: the cached objects keep `spec` and `status` as raw JSON and implement
//! [`kube::Resource`] by hand (no `CustomResource` derive, which would also own the schema). The
//! typed view is the core's serde types ([`rollout_core::rollout::Rollout`],
//! [`rollout_core::analysis::AnalysisRun`], ...), produced per reconcile by `to_core`. This way
//! one object that the core cannot parse never breaks the watch stream for all others: it gets an
//! `InvalidSpec` condition instead, and fields the core does not model round-trip untouched.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::{ClusterResourceScope, NamespaceResourceScope};
use kube::Resource;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// The API group of the Argo Rollouts kinds.
pub const GROUP: &str = "argoproj.io";
/// The served (and stored) version.
pub const VERSION: &str = "v1alpha1";

/// Argo's instance-id label: a controller started with `--instance-id X` manages only Rollouts
/// labelled `X`; one without an instance id manages only Rollouts without the label.
pub const INSTANCE_ID_LABEL: &str = "argo-rollouts.argoproj.io/controller-instance-id";

/// The label that assigns a Rollout to a shard.
pub const SHARD_LABEL: &str = "rollout.io/shard";

/// Why an object could not be read as the core's type.
#[derive(Debug, thiserror::Error)]
#[error("{kind} {name}: cannot read as the core's type: {source}")]
pub struct ConvertError {
    /// Kind of the object.
    pub kind: &'static str,
    /// `namespace/name`.
    pub name: String,
    /// The serde error (names the field).
    #[source]
    pub source: serde_json::Error,
}

macro_rules! argo_kind {
    ($(#[$doc:meta])* $ty:ident, $kind:literal, $plural:literal, $scope:ty) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Default, Serialize, Deserialize)]
        pub struct $ty {
            /// `argoproj.io/v1alpha1`.
            #[serde(rename = "apiVersion", default)]
            pub api_version: String,
            /// The kind.
            #[serde(default)]
            pub kind: String,
            /// Standard object metadata.
            #[serde(default)]
            pub metadata: ObjectMeta,
            /// The spec, as stored.
            #[serde(default)]
            pub spec: Value,
            /// The status, as stored (`null` when absent).
            #[serde(default, skip_serializing_if = "Value::is_null")]
            pub status: Value,
        }

        impl Resource for $ty {
            type DynamicType = ();
            type Scope = $scope;
            fn kind(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($kind)
            }
            fn group(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(GROUP)
            }
            fn version(_: &()) -> Cow<'_, str> {
                Cow::Borrowed(VERSION)
            }
            fn plural(_: &()) -> Cow<'_, str> {
                Cow::Borrowed($plural)
            }
            fn meta(&self) -> &ObjectMeta {
                &self.metadata
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.metadata
            }
        }

        impl $ty {
            /// A new object with `apiVersion`/`kind` set.
            pub fn new(metadata: ObjectMeta, spec: Value) -> Self {
                Self {
                    api_version: format!("{GROUP}/{VERSION}"),
                    kind: $kind.to_string(),
                    metadata,
                    spec,
                    status: Value::Null,
                }
            }

            /// The object as the core's types read it (`status` `{}` when absent).
            pub(crate) fn as_json(&self) -> Value {
                json!({
                    "apiVersion": format!("{GROUP}/{VERSION}"),
                    "kind": $kind,
                    "metadata": self.metadata,
                    "spec": self.spec,
                    "status": if self.status.is_null() { json!({}) } else { self.status.clone() },
                })
            }

            fn convert<T: serde::de::DeserializeOwned>(&self) -> Result<T, ConvertError> {
                serde_json::from_value(self.as_json()).map_err(|source| ConvertError {
                    kind: $kind,
                    name: format!(
                        "{}/{}",
                        self.metadata.namespace.as_deref().unwrap_or(""),
                        self.metadata.name.as_deref().unwrap_or("")
                    ),
                    source,
                })
            }
        }
    };
}

argo_kind!(
    /// An Argo `Rollout`.
    Rollout,
    "Rollout",
    "rollouts",
    NamespaceResourceScope
);
argo_kind!(
    /// An Argo `AnalysisTemplate`.
    AnalysisTemplate,
    "AnalysisTemplate",
    "analysistemplates",
    NamespaceResourceScope
);
argo_kind!(
    /// An Argo `ClusterAnalysisTemplate` (cluster-scoped).
    ClusterAnalysisTemplate,
    "ClusterAnalysisTemplate",
    "clusteranalysistemplates",
    ClusterResourceScope
);
argo_kind!(
    /// An Argo `AnalysisRun`.
    AnalysisRun,
    "AnalysisRun",
    "analysisruns",
    NamespaceResourceScope
);

impl Rollout {
    /// The core's typed Rollout (spec + persisted status).
    pub fn to_core(&self) -> Result<rollout_core::rollout::Rollout, ConvertError> {
        self.convert()
    }
}

impl AnalysisTemplate {
    /// The core's typed template.
    pub fn to_core(&self) -> Result<rollout_core::analysis::AnalysisTemplate, ConvertError> {
        self.convert()
    }
}

impl ClusterAnalysisTemplate {
    /// The core's typed template.
    pub fn to_core(&self) -> Result<rollout_core::analysis::AnalysisTemplate, ConvertError> {
        self.convert()
    }
}

impl AnalysisRun {
    /// The core's typed run.
    pub fn to_core(&self) -> Result<rollout_core::analysis::AnalysisRun, ConvertError> {
        self.convert()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rollout_round_trips_into_the_core_type() {
        let ro: Rollout = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": "demo", "namespace": "ns", "generation": 3, "uid": "u1"},
            "spec": {"replicas": 4, "strategy": {"canary": {"steps": [{"setWeight": 20}]}},
                     "futureField": {"kept": true}},
            "status": {"abort": true, "currentStepIndex": 1}
        }))
        .unwrap();
        assert_eq!(
            Rollout::url_path(&(), Some("ns")),
            "/apis/argoproj.io/v1alpha1/namespaces/ns/rollouts"
        );
        let core = ro.to_core().unwrap();
        assert_eq!(core.metadata.name, "demo");
        assert_eq!(core.metadata.generation, Some(3));
        assert_eq!(core.spec.replicas, Some(4));
        assert!(core.status.abort);
        assert_eq!(core.status.current_step_index, Some(1));
        assert_eq!(core.spec.extra["futureField"], json!({"kept": true}));
    }

    #[test]
    fn a_spec_the_core_cannot_read_is_an_error_naming_the_object() {
        let ro: Rollout = serde_json::from_value(json!({
            "metadata": {"name": "bad", "namespace": "ns"},
            "spec": {"replicas": "three"}
        }))
        .unwrap();
        let err = ro.to_core().unwrap_err().to_string();
        assert!(
            err.starts_with("Rollout ns/bad: cannot read as the core's type:"),
            "{err}"
        );
    }
}
