//! Everything a cluster needs to run the controller, as YAML: the four `argoproj.io/v1alpha1`
//! CRDs (for clusters without Argo Rollouts), a least-privilege ClusterRole (or Role for one
//! namespace) with only the verbs the controller uses, a ServiceAccount, the bindings and the
//! controller Deployment.
//!
//! The CRD schemas are structural but keep unknown fields (`x-kubernetes-preserve-unknown-fields`)
//! under `spec` and `status`, so upstream Argo YAML applies unchanged and fields this controller
//! does not model survive. Fields the controller and Argo's kubectl plugin read or write are typed.

use serde_json::{Value, json};

use crate::resources::{GROUP, VERSION};
use crate::sharding::{POD_NAME_ENV, POD_NAMESPACE_ENV};

/// Options for [`all_with`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestOptions {
    /// Namespace of the controller's ServiceAccount and Deployment.
    pub namespace: String,
    /// Name of the ServiceAccount, ClusterRole/Role, bindings and Deployment.
    pub name: String,
    /// Container image of the controller.
    pub image: String,
    /// `Some(ns)`: manage Rollouts in `ns` only, with a Role instead of a ClusterRole.
    pub watch_namespace: Option<String>,
    /// `--instance-id` passed to the controller (Argo's `controller-instance-id` label selector).
    pub instance_id: Option<String>,
    /// Include the CRDs (leave out on clusters that already run Argo Rollouts).
    pub crds: bool,
    /// `Some(n)`: the Deployment runs shard `n` (`--shard=n`, see [`crate::sharding`]) and is
    /// named `<name>-shard-<n>`; render once per shard (the other objects are shared).
    pub shard: Option<String>,
}

impl Default for ManifestOptions {
    fn default() -> Self {
        Self {
            namespace: "rollout-system".into(),
            name: "rollout-controller".into(),
            image: "rollout:latest".into(),
            watch_namespace: None,
            instance_id: None,
            crds: true,
            shard: None,
        }
    }
}

/// One rule of the controller's role: `(api group, resources, verbs)`.
pub type Rule = (&'static str, &'static [&'static str], &'static [&'static str]);

/// Every permission the controller uses, and why (kept in sync with the controller's requests;
/// the e2e tests run the controller under exactly these rules).
pub const RULES: &[Rule] = &[
    // Watched (label-selected) and read; status written with merge patches on /status; the
    // `rollout.argoproj.io/workload-generation` annotation kept with a metadata merge patch.
    (GROUP, &["rollouts"], &["get", "list", "watch", "patch"]),
    (GROUP, &["rollouts/status"], &["patch"]),
    // Runs are created, watched, measured (status patch) and deleted with their rollout revision.
    (
        GROUP,
        &["analysisruns"],
        &["get", "list", "watch", "create", "patch", "delete"],
    ),
    (GROUP, &["analysisruns/status"], &["patch"]),
    // Templates are read by name when a run is created.
    (
        GROUP,
        &["analysistemplates", "clusteranalysistemplates"],
        &["get"],
    ),
    // Owned ReplicaSets: watched by label, created from the pod template, scaled/annotated, pruned.
    (
        "apps",
        &["replicasets"],
        &["get", "list", "watch", "create", "patch", "delete"],
    ),
    // workloadRef: only the referenced Deployment, read by name and scaled down.
    ("apps", &["deployments"], &["get", "patch"]),
    // `spec.restartAt`: the ReplicaSets' pods are listed while a restart is pending and evicted
    // through the Eviction API (PodDisruptionBudgets honoured).
    ("", &["pods"], &["get", "list"]),
    ("", &["pods/eviction"], &["create"]),
    // Stable/canary/active/preview Services: read by name, selectors switched.
    ("", &["services"], &["get", "patch"]),
    // `secretKeyRef` analysis args and provider credentials, read at measurement time; the
    // ConfigMaps and Secrets the ReplicaSets need, read by name and protected by owner
    // references (rollback-safe config).
    ("", &["configmaps", "secrets"], &["get", "patch"]),
    // The `job` analysis provider.
    ("batch", &["jobs"], &["get", "create", "delete"]),
    // Gateway API traffic router.
    ("gateway.networking.k8s.io", &["httproutes"], &["get", "patch"]),
    // Istio traffic router (issue #15).
    (
        "networking.istio.io",
        &["virtualservices", "destinationrules"],
        &["get", "patch"],
    ),
    // NGINX (canary Ingress created and patched) and ALB (annotations patched) traffic routers.
    ("networking.k8s.io", &["ingresses"], &["get", "create", "patch"]),
    // SMI traffic router: the TrafficSplit is created and patched.
    (
        "split.smi-spec.io",
        &["trafficsplits"],
        &["get", "create", "patch"],
    ),
    // Traefik traffic router: the weighted TraefikService is patched.
    ("traefik.io", &["traefikservices"], &["get", "patch"]),
    // Events on transitions.
    ("events.k8s.io", &["events"], &["create", "patch"]),
    // One Lease per shard.
    (
        "coordination.k8s.io",
        &["leases"],
        &["get", "create", "patch", "update"],
    ),
];

fn printer(name: &str, ty: &str, path: &str) -> Value {
    json!({"name": name, "type": ty, "jsonPath": path})
}

fn age() -> Value {
    json!({"name": "Age", "type": "date", "jsonPath": ".metadata.creationTimestamp"})
}

fn open_object() -> Value {
    json!({"type": "object", "x-kubernetes-preserve-unknown-fields": true})
}

struct CrdDef {
    kind: &'static str,
    plural: &'static str,
    short: &'static str,
    namespaced: bool,
    columns: Vec<Value>,
    scale: bool,
}

fn crd(def: CrdDef, spec: Value, status: Value) -> Value {
    let CrdDef {
        kind,
        plural,
        short,
        namespaced,
        columns,
        scale,
    } = def;
    let mut subresources = json!({"status": {}});
    if scale {
        subresources["scale"] = json!({
            "specReplicasPath": ".spec.replicas",
            "statusReplicasPath": ".status.HPAReplicas",
            "labelSelectorPath": ".status.selector"
        });
    }
    json!({
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": {"name": format!("{plural}.{GROUP}"), "labels": {"app.kubernetes.io/part-of": "rollout"}},
        "spec": {
            "group": GROUP,
            "names": {
                "kind": kind,
                "listKind": format!("{kind}List"),
                "plural": plural,
                "singular": kind.to_lowercase(),
                "shortNames": [short]
            },
            "scope": if namespaced { "Namespaced" } else { "Cluster" },
            "versions": [{
                "name": VERSION,
                "served": true,
                "storage": true,
                "additionalPrinterColumns": columns,
                "subresources": subresources,
                "schema": {"openAPIV3Schema": {
                    "type": "object",
                    "required": ["spec"],
                    "properties": {
                        "apiVersion": {"type": "string"},
                        "kind": {"type": "string"},
                        "metadata": {"type": "object"},
                        "spec": spec,
                        "status": status
                    }
                }}
            }]
        }
    })
}

fn rollout_crd() -> Value {
    let int = json!({"type": "integer", "format": "int32"});
    let spec = json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "replicas": int,
            "minReadySeconds": int,
            "revisionHistoryLimit": int,
            "progressDeadlineSeconds": int,
            "progressDeadlineAbort": {"type": "boolean"},
            "paused": {"type": "boolean"},
            "restartAt": {"type": "string", "format": "date-time"},
            "selector": open_object(),
            "template": open_object(),
            "workloadRef": {
                "type": "object",
                "properties": {
                    "apiVersion": {"type": "string"},
                    "kind": {"type": "string"},
                    "name": {"type": "string"},
                    "scaleDown": {"type": "string"}
                }
            },
            "strategy": open_object(),
            "analysis": open_object(),
            "rollbackWindow": open_object()
        }
    });
    let status = json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            // Written by users / Argo's kubectl plugin; the controller consumes them.
            "abort": {"type": "boolean"},
            "promoteFull": {"type": "boolean"},
            "currentStepIndex": int,
            "pauseConditions": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["reason", "startTime"],
                    "properties": {
                        "reason": {"type": "string"},
                        "startTime": {"type": "string", "format": "date-time"}
                    }
                }
            },
            // Written by the controller.
            "phase": {"type": "string"},
            "message": {"type": "string"},
            "replicas": int,
            "updatedReplicas": int,
            "readyReplicas": int,
            "availableReplicas": int,
            "HPAReplicas": int,
            "selector": {"type": "string"},
            "stableRS": {"type": "string"},
            "currentPodHash": {"type": "string"},
            "currentStepHash": {"type": "string"},
            "observedGeneration": {"type": "string"},
            "conditions": {
                "type": "array",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            },
            // Our extension: the structured cause of each abort, hold and degraded condition
            // (rollout_core::rollout::why).
            "why": {
                "type": "array",
                "items": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}
            }
        }
    });
    let columns = vec![
        printer("Desired", "integer", ".spec.replicas"),
        printer("Current", "integer", ".status.replicas"),
        printer("Up-to-date", "integer", ".status.updatedReplicas"),
        printer("Available", "integer", ".status.availableReplicas"),
        printer("Phase", "string", ".status.phase"),
        age(),
    ];
    let def = CrdDef {
        kind: "Rollout",
        plural: "rollouts",
        short: "ro",
        namespaced: true,
        columns,
        scale: true,
    };
    crd(def, spec, status)
}

fn template_def(kind: &'static str, plural: &'static str, short: &'static str, namespaced: bool) -> CrdDef {
    CrdDef {
        kind,
        plural,
        short,
        namespaced,
        columns: vec![age()],
        scale: false,
    }
}

fn template_spec() -> Value {
    json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "metrics": {"type": "array", "items": open_object()},
            "args": {"type": "array", "items": open_object()},
            "dryRun": {"type": "array", "items": open_object()},
            "measurementRetention": {"type": "array", "items": open_object()}
        }
    })
}

fn analysis_run_crd() -> Value {
    let mut spec = template_spec();
    spec["properties"]["terminate"] = json!({"type": "boolean"});
    let status = json!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
        "properties": {
            "phase": {"type": "string"},
            "message": {"type": "string"},
            "startedAt": {"type": "string", "format": "date-time"},
            "metricResults": {"type": "array", "items": open_object()}
        }
    });
    let columns = vec![printer("Status", "string", ".status.phase"), age()];
    let def = CrdDef {
        kind: "AnalysisRun",
        plural: "analysisruns",
        short: "ar",
        namespaced: true,
        columns,
        scale: false,
    };
    crd(def, spec, status)
}

/// The four CRDs: Rollout, AnalysisTemplate, ClusterAnalysisTemplate, AnalysisRun.
pub fn crds() -> Vec<Value> {
    vec![
        rollout_crd(),
        crd(
            template_def("AnalysisTemplate", "analysistemplates", "at", true),
            template_spec(),
            open_object(),
        ),
        crd(
            template_def(
                "ClusterAnalysisTemplate",
                "clusteranalysistemplates",
                "cat",
                false,
            ),
            template_spec(),
            open_object(),
        ),
        analysis_run_crd(),
    ]
}

/// The Lease rule is granted by a Role in the controller's own namespace (where
/// [`crate::sharding::ShardOptions::from_env`] puts the Leases), never cluster-wide.
fn is_lease_rule(group: &str) -> bool {
    group == "coordination.k8s.io"
}

fn rule_json(group: &str, resources: &[&str], verbs: &[&str]) -> Value {
    json!({"apiGroups": [group], "resources": resources, "verbs": verbs})
}

/// [`RULES`] except the Lease rule.
fn rules() -> Vec<Value> {
    RULES
        .iter()
        .filter(|(group, _, _)| !is_lease_rule(group))
        .map(|(group, resources, verbs)| rule_json(group, resources, verbs))
        .collect()
}

/// A Role and RoleBinding in the controller's namespace for the shard Leases and the fleet
/// brake and trigger policy ConfigMaps (read and watched by name, [`crate::fleet_brake`],
/// [`crate::policy`]).
fn lease_role(opts: &ManifestOptions, subject: &Value) -> [Value; 2] {
    let name = format!("{}-leases", opts.name);
    let mut lease_rules: Vec<Value> = RULES
        .iter()
        .filter(|(group, _, _)| is_lease_rule(group))
        .map(|(group, resources, verbs)| rule_json(group, resources, verbs))
        .collect();
    lease_rules.push(json!({
        "apiGroups": [""],
        "resources": ["configmaps"],
        "resourceNames": [rollout_core::fleet::brake::BRAKE_CONFIGMAP, crate::policy::POLICY_CONFIGMAP],
        "verbs": ["get", "list", "watch"]
    }));
    [
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": name, "namespace": opts.namespace},
            "rules": lease_rules
        }),
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": name, "namespace": opts.namespace},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
            "subjects": [subject]
        }),
    ]
}

/// The ServiceAccount, the ClusterRole (or Role) with [`RULES`] and its binding, and a Role in
/// the controller's namespace for the shard Leases.
pub fn rbac(opts: &ManifestOptions) -> Vec<Value> {
    let subject = json!({"kind": "ServiceAccount", "name": opts.name, "namespace": opts.namespace});
    let mut out = workload_rbac(opts, &subject);
    out.extend(lease_role(opts, &subject));
    out
}

fn workload_rbac(opts: &ManifestOptions, subject: &Value) -> Vec<Value> {
    let sa = json!({
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": opts.name, "namespace": opts.namespace}
    });
    match &opts.watch_namespace {
        None => vec![
            sa,
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRole",
                "metadata": {"name": opts.name},
                "rules": rules()
            }),
            json!({
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "ClusterRoleBinding",
                "metadata": {"name": opts.name},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": opts.name},
                "subjects": [subject]
            }),
        ],
        Some(ns) => {
            // ClusterAnalysisTemplates are cluster-scoped: reading them needs a small ClusterRole.
            let ns_rules: Vec<Value> = rules()
                .into_iter()
                .map(|mut r| {
                    if let Some(res) = r["resources"].as_array_mut() {
                        res.retain(|x| x != "clusteranalysistemplates");
                    }
                    r
                })
                .collect();
            vec![
                sa,
                json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "Role",
                    "metadata": {"name": opts.name, "namespace": ns},
                    "rules": ns_rules
                }),
                json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "RoleBinding",
                    "metadata": {"name": opts.name, "namespace": ns},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": opts.name},
                    "subjects": [subject]
                }),
                json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRole",
                    "metadata": {"name": format!("{}-cluster-templates", opts.name)},
                    "rules": [{"apiGroups": [GROUP], "resources": ["clusteranalysistemplates"], "verbs": ["get"]}]
                }),
                json!({
                    "apiVersion": "rbac.authorization.k8s.io/v1",
                    "kind": "ClusterRoleBinding",
                    "metadata": {"name": format!("{}-cluster-templates", opts.name)},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": format!("{}-cluster-templates", opts.name)},
                    "subjects": [subject]
                }),
            ]
        }
    }
}

/// The controller Deployment (one replica per shard; see the controller's `--shard` flag). The
/// pod's namespace and name reach the controller as [`POD_NAMESPACE_ENV`] and [`POD_NAME_ENV`]
/// (downward API): the shard Leases live in that namespace and name the pod as their holder.
pub fn deployment(opts: &ManifestOptions) -> Value {
    let field_env = |name: &str, path: &str| json!({"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": path}}});
    let env = vec![
        field_env(POD_NAMESPACE_ENV, "metadata.namespace"),
        field_env(POD_NAME_ENV, "metadata.name"),
    ];
    let mut args = vec![json!("controller")];
    if let Some(ns) = &opts.watch_namespace {
        args.push(json!(format!("--namespace={ns}")));
    }
    if let Some(id) = &opts.instance_id {
        args.push(json!(format!("--instance-id={id}")));
    }
    let mut name = opts.name.clone();
    if let Some(shard) = &opts.shard {
        args.push(json!(format!("--shard={shard}")));
        name = format!("{name}-shard-{shard}");
    }
    args.push(json!("--metrics-addr=0.0.0.0:8090"));
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": opts.namespace, "labels": {"app.kubernetes.io/name": name}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app.kubernetes.io/name": name}},
            "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": name}},
                "spec": {
                    "serviceAccountName": opts.name,
                    "containers": [{
                        "name": "controller",
                        "image": opts.image,
                        "args": args,
                        "env": env,
                        "ports": [{"name": "metrics", "containerPort": 8090}],
                        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
                        "securityContext": {
                            "runAsNonRoot": true,
                            "readOnlyRootFilesystem": true,
                            "allowPrivilegeEscalation": false,
                            "capabilities": {"drop": ["ALL"]}
                        }
                    }]
                }
            }
        }
    })
}

/// Every object for `opts`, in apply order (namespace, CRDs, RBAC, Deployment).
pub fn objects(opts: &ManifestOptions) -> Vec<Value> {
    let mut out =
        vec![json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": opts.namespace}})];
    if opts.crds {
        out.extend(crds());
    }
    out.extend(rbac(opts));
    out.push(deployment(opts));
    out
}

/// Renders objects as a multi-document YAML stream.
pub fn to_yaml(objects: &[Value]) -> Result<String, serde_yaml::Error> {
    let mut out = String::new();
    for o in objects {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(o)?);
    }
    Ok(out)
}

/// Everything a cluster needs, with [`ManifestOptions::default`], as YAML.
pub fn all() -> Result<String, serde_yaml::Error> {
    all_with(&ManifestOptions::default())
}

/// Everything a cluster needs for `opts`, as YAML.
pub fn all_with(opts: &ManifestOptions) -> Result<String, serde_yaml::Error> {
    to_yaml(&objects(opts))
}

/// Only the CRDs, as YAML.
pub fn crds_yaml() -> Result<String, serde_yaml::Error> {
    to_yaml(&crds())
}

#[cfg(test)]
mod tests;
