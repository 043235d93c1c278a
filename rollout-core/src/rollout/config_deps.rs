//! The ConfigMaps and Secrets a pod template needs, and which ReplicaSets' needs are protected
//! (issue #13, story 2: a rollback that cannot hit deleted config).
//!
//! - [`template_config`] / [`required`]: from a pod template (`ObservedReplicaSet.template`,
//!   `CreateReplicaSet.template`), the objects it names in volumes (`configMap`, `secret`),
//!   projected volume sources, `envFrom`, `env[].valueFrom` of containers, init and ephemeral
//!   containers, and `imagePullSecrets`. A reference with `optional: true` is not required: the
//!   pod starts without it.
//! - [`may_serve_again`]: the ReplicaSets that may run pods again (stable, current, serving now,
//!   the newest old ones kept for a rollback), and [`protection_set`]: each required object with
//!   the ReplicaSets among them that need it.
//!
//! Pure and bounded: one pass over the template's fixed paths; anything of the wrong shape is
//! skipped, never an error.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::observed::ObservedReplicaSet;

/// Annotation on a ConfigMap or Secret: `"true"` protects it even when it is mutable, `"false"`
/// never protects it (by default only `immutable: true` objects are protected).
pub const PROTECTION_ANNOTATION: &str = "rollout.argoproj.io/config-protection";

/// ConfigMap or Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ConfigKind {
    /// A ConfigMap.
    ConfigMap,
    /// A Secret.
    Secret,
}

impl fmt::Display for ConfigKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ConfigKind::ConfigMap => "ConfigMap",
            ConfigKind::Secret => "Secret",
        })
    }
}

/// A ConfigMap or Secret in the Rollout's namespace.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigRef {
    /// ConfigMap or Secret.
    pub kind: ConfigKind,
    /// Object name.
    pub name: String,
}

impl ConfigRef {
    /// A ConfigMap reference.
    pub fn config_map(name: impl Into<String>) -> Self {
        ConfigRef {
            kind: ConfigKind::ConfigMap,
            name: name.into(),
        }
    }

    /// A Secret reference.
    pub fn secret(name: impl Into<String>) -> Self {
        ConfigRef {
            kind: ConfigKind::Secret,
            name: name.into(),
        }
    }
}

impl fmt::Display for ConfigRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {:?}", self.kind, self.name)
    }
}

/// The config objects one pod template names.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TemplateConfig {
    /// Objects the pods cannot start without.
    pub required: BTreeSet<ConfigRef>,
    /// Objects named only with `optional: true` (an object both required and optional somewhere
    /// is required only).
    pub optional: BTreeSet<ConfigRef>,
}

impl TemplateConfig {
    fn add(&mut self, kind: ConfigKind, name: Option<&Value>, optional: Option<&Value>) {
        let Some(name) = name.and_then(Value::as_str).filter(|n| !n.is_empty()) else {
            return;
        };
        let r = ConfigRef {
            kind,
            name: name.to_string(),
        };
        if optional.and_then(Value::as_bool) == Some(true) {
            if !self.required.contains(&r) {
                self.optional.insert(r);
            }
        } else {
            self.optional.remove(&r);
            self.required.insert(r);
        }
    }
}

/// Elements of the array at `v[key]` (nothing when absent or not an array).
fn items<'a>(v: &'a Value, key: &str) -> impl Iterator<Item = &'a Value> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.as_slice())
        .unwrap_or_default()
        .iter()
}

/// Adds the reference in `v[key]` (`{name, optional}`) as `kind`.
fn add_ref(out: &mut TemplateConfig, kind: ConfigKind, v: &Value, key: &str) {
    if let Some(r) = v.get(key) {
        out.add(kind, r.get("name"), r.get("optional"));
    }
}

/// The ConfigMaps and Secrets the pod template `template` (a `PodTemplateSpec`) names.
pub fn template_config(template: &Value) -> TemplateConfig {
    let mut out = TemplateConfig::default();
    let Some(spec) = template.get("spec") else {
        return out;
    };
    for volume in items(spec, "volumes") {
        add_ref(&mut out, ConfigKind::ConfigMap, volume, "configMap");
        if let Some(s) = volume.get("secret") {
            out.add(ConfigKind::Secret, s.get("secretName"), s.get("optional"));
        }
        if let Some(projected) = volume.get("projected") {
            for source in items(projected, "sources") {
                add_ref(&mut out, ConfigKind::ConfigMap, source, "configMap");
                add_ref(&mut out, ConfigKind::Secret, source, "secret");
            }
        }
    }
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for container in items(spec, list) {
            for from in items(container, "envFrom") {
                add_ref(&mut out, ConfigKind::ConfigMap, from, "configMapRef");
                add_ref(&mut out, ConfigKind::Secret, from, "secretRef");
            }
            for env in items(container, "env") {
                if let Some(from) = env.get("valueFrom") {
                    add_ref(&mut out, ConfigKind::ConfigMap, from, "configMapKeyRef");
                    add_ref(&mut out, ConfigKind::Secret, from, "secretKeyRef");
                }
            }
        }
    }
    for pull in items(spec, "imagePullSecrets") {
        out.add(ConfigKind::Secret, pull.get("name"), None);
    }
    out
}

/// The objects the pods of `template` cannot start without, sorted (kind, then name).
pub fn required(template: &Value) -> Vec<ConfigRef> {
    template_config(template).required.into_iter().collect()
}

/// Every object the ReplicaSets `rss` need ([`ObservedReplicaSet::needs`]), once each, sorted: what
/// a driver looks up for [`Observed::config`](super::Observed::config).
pub fn needed(rss: &[ObservedReplicaSet]) -> Vec<ConfigRef> {
    let all: BTreeSet<&ConfigRef> = rss.iter().flat_map(|r| r.needs.iter()).collect();
    all.into_iter().cloned().collect()
}

/// Which ReplicaSets may serve again: see [`may_serve_again`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ServeWindow<'a> {
    /// `status.stableRS`.
    pub stable_hash: &'a str,
    /// The hash of the current pod template (the canary or new ReplicaSet).
    pub current_hash: &'a str,
    /// How many of the newest other ReplicaSets are kept for a rollback:
    /// `max(revisionHistoryLimit, rollbackWindow.revisions)`.
    pub keep: usize,
}

/// The ReplicaSets of `rss` that may run pods again: the stable and current ones, every one with
/// pods or desired pods (a scale-down delay keeps them), and the `keep` newest (by creation) of
/// the others, which a rollback can return to. The rest are the ones history cleanup deletes.
pub fn may_serve_again<'a>(
    rss: &'a [ObservedReplicaSet],
    window: ServeWindow<'_>,
) -> Vec<&'a ObservedReplicaSet> {
    let pinned = |rs: &ObservedReplicaSet| {
        let h = rs.pod_template_hash.as_str();
        (!h.is_empty() && (h == window.stable_hash || h == window.current_hash))
            || rs.replicas > 0
            || rs.status_replicas > 0
    };
    let mut rest: Vec<&ObservedReplicaSet> = rss.iter().filter(|rs| !pinned(rs)).collect();
    rest.sort_by(|a, b| b.created_at.cmp(&a.created_at).then(b.name.cmp(&a.name)));
    rest.truncate(window.keep);
    rss.iter()
        .filter(|rs| pinned(rs) || rest.iter().any(|k| k.name == rs.name))
        .collect()
}

/// Each object required by a ReplicaSet of `serving` (see [`may_serve_again`]), with the names of
/// the ReplicaSets that need it.
pub fn protection_set<'a>(
    serving: impl IntoIterator<Item = &'a ObservedReplicaSet>,
) -> BTreeMap<ConfigRef, BTreeSet<String>> {
    let mut out: BTreeMap<ConfigRef, BTreeSet<String>> = BTreeMap::new();
    for rs in serving {
        for r in &rs.needs {
            out.entry(r.clone()).or_default().insert(rs.name.clone());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn cm(n: &str) -> ConfigRef {
        ConfigRef::config_map(n)
    }
    fn sec(n: &str) -> ConfigRef {
        ConfigRef::secret(n)
    }

    #[test]
    fn every_place_a_reference_can_be() {
        let spec = |s: Value| json!({"metadata": {}, "spec": s});
        let cases: Vec<(&str, Value, Vec<ConfigRef>, Vec<ConfigRef>)> = vec![
            ("empty", json!({}), vec![], vec![]),
            (
                "configMap volume",
                spec(json!({"volumes": [{"name": "v", "configMap": {"name": "a"}}]})),
                vec![cm("a")],
                vec![],
            ),
            (
                "secret volume uses secretName",
                spec(json!({"volumes": [{"name": "v", "secret": {"secretName": "s"}}]})),
                vec![sec("s")],
                vec![],
            ),
            (
                "optional volume",
                spec(json!({"volumes": [{"configMap": {"name": "a", "optional": true}}]})),
                vec![],
                vec![cm("a")],
            ),
            (
                "projected sources",
                spec(json!({"volumes": [{"projected": {"sources": [
                    {"configMap": {"name": "p"}}, {"secret": {"name": "q", "optional": false}},
                    {"serviceAccountToken": {"path": "t"}}]}}]})),
                vec![cm("p"), sec("q")],
                vec![],
            ),
            (
                "envFrom and valueFrom in containers and initContainers",
                spec(json!({
                    "containers": [{"name": "c", "envFrom": [{"configMapRef": {"name": "e1"}},
                                                              {"secretRef": {"name": "e2", "optional": true}}],
                                    "env": [{"name": "X", "valueFrom": {"secretKeyRef": {"name": "k1", "key": "x"}}},
                                            {"name": "Y", "value": "plain"}]}],
                    "initContainers": [{"name": "i", "env": [{"name": "Z",
                        "valueFrom": {"configMapKeyRef": {"name": "k2", "key": "z"}}}]}]})),
                vec![cm("e1"), cm("k2"), sec("k1")],
                vec![sec("e2")],
            ),
            (
                "image pull secrets",
                spec(json!({"imagePullSecrets": [{"name": "reg"}, {"name": ""}]})),
                vec![sec("reg")],
                vec![],
            ),
            (
                "required anywhere wins over optional elsewhere",
                spec(
                    json!({"volumes": [{"configMap": {"name": "a", "optional": true}}],
                            "containers": [{"envFrom": [{"configMapRef": {"name": "a"}}]}]}),
                ),
                vec![cm("a")],
                vec![],
            ),
            (
                "same name, different kinds",
                spec(json!({"volumes": [{"configMap": {"name": "x"}}, {"secret": {"secretName": "x"}}]})),
                vec![cm("x"), sec("x")],
                vec![],
            ),
            (
                "wrong shapes are skipped",
                spec(
                    json!({"volumes": {"configMap": {"name": "a"}}, "containers": [1, "x", null,
                            {"env": "no", "envFrom": [{"configMapRef": {"name": 3}}]}]}),
                ),
                vec![],
                vec![],
            ),
        ];
        for (what, template, required, optional) in cases {
            let got = template_config(&template);
            assert_eq!(got.required.into_iter().collect::<Vec<_>>(), required, "{what}");
            assert_eq!(got.optional.into_iter().collect::<Vec<_>>(), optional, "{what}");
        }
    }

    fn rs(name: &str, hash: &str, created: &str, replicas: i32, needs: &[ConfigRef]) -> ObservedReplicaSet {
        ObservedReplicaSet {
            name: name.into(),
            pod_template_hash: hash.into(),
            revision: 1,
            created_at: created.parse().unwrap_or_default(),
            replicas,
            status_replicas: replicas,
            ready: replicas,
            available: replicas,
            scale_down_deadline: None,
            template: None,
            needs: needs.to_vec(),
        }
    }

    #[test]
    fn which_replica_sets_may_serve_again() {
        let rss = vec![
            rs("r1", "h1", "2024-01-01T00:00:00Z", 0, &[sec("s1")]),
            rs("r2", "h2", "2024-01-02T00:00:00Z", 0, &[sec("s2")]),
            rs("r3", "h3", "2024-01-03T00:00:00Z", 0, &[sec("s3")]),
            rs("r4", "h4", "2024-01-04T00:00:00Z", 3, &[sec("s4")]),
            rs("r5", "h5", "2024-01-05T00:00:00Z", 0, &[sec("s4"), cm("c")]),
        ];
        let cases: Vec<(&str, &str, &str, usize, Vec<&str>)> = vec![
            ("stable and current only", "h4", "h5", 0, vec!["r4", "r5"]),
            (
                "serving counts without being stable",
                "",
                "h5",
                0,
                vec!["r4", "r5"],
            ),
            (
                "history keeps the newest others",
                "h4",
                "h5",
                2,
                vec!["r2", "r3", "r4", "r5"],
            ),
            ("stable found by hash", "h1", "h5", 0, vec!["r1", "r4", "r5"]),
            (
                "keep larger than all",
                "",
                "",
                9,
                vec!["r1", "r2", "r3", "r4", "r5"],
            ),
        ];
        for (what, stable, current, keep, want) in cases {
            let window = ServeWindow {
                stable_hash: stable,
                current_hash: current,
                keep,
            };
            let got: Vec<&str> = may_serve_again(&rss, window)
                .iter()
                .map(|r| r.name.as_str())
                .collect();
            assert_eq!(got, want, "{what}");
        }
        let window = ServeWindow {
            stable_hash: "h4",
            current_hash: "h5",
            keep: 0,
        };
        let set = protection_set(may_serve_again(&rss, window));
        let want: BTreeMap<ConfigRef, BTreeSet<String>> = [
            (cm("c"), ["r5"].map(String::from).into()),
            (sec("s4"), ["r4", "r5"].map(String::from).into()),
        ]
        .into();
        assert_eq!(set, want);
    }
}
