//! Rollback-safe config on the API server (issue #13, story 2): the ConfigMaps and Secrets the
//! Rollout's ReplicaSets need, read by name, and their protection.
//!
//! Protection is an owner reference from each ReplicaSet that needs the object (`apps/v1`
//! `ReplicaSet`, not a controller reference): garbage collection then keeps the object while one
//! of those ReplicaSets exists and removes the reference of a deleted one. The machine removes a
//! ReplicaSet's reference before it deletes the ReplicaSet, so history cleanup never deletes a
//! user's object; deleting the Rollout (and with it its ReplicaSets) lets garbage collection
//! delete the immutable objects only its ReplicaSets needed. Why not a finalizer: see the README
//! ("Rollback-safe config").
//!
//! Every write carries the `resourceVersion` read, so two Rollouts sharing an object never lose
//! each other's references (the server answers 409 and the tick is retried).

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::OwnerReference;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams};
use kube::{Client, ResourceExt};
use rollout_core::rollout::config_deps::{self, ConfigKind, ConfigRef, PROTECTION_ANNOTATION};
use rollout_core::rollout::{self as core, ObservedConfig};
use rollout_driver::{AdapterError, Applied};
use serde_json::{Value, json};

use super::{is_status, request_err, serialize_err};

/// In-memory annotation on a cached ReplicaSet (never written): the objects its pod template
/// needs, kept when the cache drops the template.
const CACHED_NEEDS: &str = "rollout-kube.internal/config-needs";

/// The ConfigMaps and Secrets the pods of `rs` need: from its pod template, or (a cached copy
/// without one) from what [`keep_needs`] kept.
pub fn needs_of(rs: &ReplicaSet) -> Vec<ConfigRef> {
    if let Some(t) = rs.spec.template.as_ref() {
        return serde_json::to_value(t)
            .map(|t| config_deps::required(&t))
            .unwrap_or_default();
    }
    rs.annotations()
        .get(CACHED_NEEDS)
        .and_then(|n| serde_json::from_str(n).ok())
        .unwrap_or_default()
}

/// Before a cache drops the pod template of `rs`: keeps what it needs (in memory only).
pub fn keep_needs(rs: &mut ReplicaSet) {
    let needs = needs_of(rs);
    if let (false, Ok(text)) = (needs.is_empty(), serde_json::to_string(&needs)) {
        rs.annotations_mut().insert(CACHED_NEEDS.to_string(), text);
    }
}

/// The most objects looked up per tick; the rest are left out of the snapshot (neither missing
/// nor protected) and looked up once fewer are needed.
pub const MAX_OBSERVED_CONFIG: usize = 256;

fn api(client: &Client, ns: &str, kind: ConfigKind) -> Api<DynamicObject> {
    let resource = match kind {
        ConfigKind::ConfigMap => ApiResource::erase::<ConfigMap>(&()),
        ConfigKind::Secret => ApiResource::erase::<Secret>(&()),
    };
    Api::namespaced_with(client.clone(), ns, &resource)
}

fn is_replica_set_ref(o: &OwnerReference) -> bool {
    o.kind == "ReplicaSet" && o.api_version == "apps/v1"
}

/// The object as the core sees it: `None` when it does not exist.
async fn get(client: &Client, ns: &str, object: &ConfigRef) -> Result<Option<DynamicObject>, AdapterError> {
    match api(client, ns, object.kind).get(&object.name).await {
        Ok(o) => Ok(Some(o)),
        Err(e) if is_status(&e, 404) => Ok(None),
        Err(e) => Err(request_err(format!("get {object} in {ns}"))(e)),
    }
}

fn observed(object: &ConfigRef, found: Option<&DynamicObject>) -> ObservedConfig {
    let Some(o) = found.filter(|o| o.metadata.deletion_timestamp.is_none()) else {
        return ObservedConfig {
            object: object.clone(),
            exists: false,
            immutable: false,
            protection: None,
            protected_by: Vec::new(),
        };
    };
    ObservedConfig {
        object: object.clone(),
        exists: true,
        immutable: o.data.get("immutable").and_then(Value::as_bool) == Some(true),
        protection: match o.annotations().get(PROTECTION_ANNOTATION).map(String::as_str) {
            Some("true") => Some(true),
            Some("false") => Some(false),
            _ => None,
        },
        protected_by: o
            .owner_references()
            .iter()
            .filter(|r| is_replica_set_ref(r))
            .map(|r| r.name.clone())
            .collect(),
    }
}

/// Each of `objects` (at most [`MAX_OBSERVED_CONFIG`]) present or missing, read by name.
pub async fn observe(
    client: &Client,
    ns: &str,
    objects: &[ConfigRef],
) -> Result<Vec<ObservedConfig>, AdapterError> {
    let mut out = Vec::new();
    for object in objects.iter().take(MAX_OBSERVED_CONFIG) {
        out.push(observed(object, get(client, ns, object).await?.as_ref()));
    }
    Ok(out)
}

/// Writes `refs` as the object's owner references, on the version read (409 when it changed).
async fn write_refs(
    client: &Client,
    ns: &str,
    object: &ConfigRef,
    read: &DynamicObject,
    refs: Vec<OwnerReference>,
    field_manager: &str,
) -> Result<Applied, AdapterError> {
    let patch = json!({"metadata": {
        "resourceVersion": read.resource_version(),
        "ownerReferences": serde_json::to_value(refs).map_err(serialize_err)?,
    }});
    let params = PatchParams {
        field_manager: Some(field_manager.to_string()),
        ..Default::default()
    };
    api(client, ns, object.kind)
        .patch(&object.name, &params, &Patch::Merge(patch))
        .await
        .map_err(request_err(format!(
            "update owner references of {object} in {ns}"
        )))?;
    Ok(Applied::Written)
}

/// Adds an owner reference from the ReplicaSet `replica_set` to `object`; a ReplicaSet or object
/// that is gone, or a reference already there, counts as done.
pub async fn protect(
    client: &Client,
    field_manager: &str,
    ro: &core::Rollout,
    object: &ConfigRef,
    replica_set: &str,
) -> Result<Applied, AdapterError> {
    let ns = super::workloads::namespace(ro)?;
    let rs = match Api::<ReplicaSet>::namespaced(client.clone(), ns)
        .get(replica_set)
        .await
    {
        Ok(rs) => rs,
        Err(e) if is_status(&e, 404) => return Ok(Applied::Unchanged),
        Err(e) => return Err(request_err(format!("get ReplicaSet {ns}/{replica_set}"))(e)),
    };
    let Some(uid) = rs.uid() else {
        return Ok(Applied::Unchanged);
    };
    let Some(read) = get(client, ns, object).await? else {
        return Ok(Applied::Unchanged);
    };
    let mut refs = read.owner_references().to_vec();
    if refs.iter().any(|r| r.uid == uid) {
        return Ok(Applied::Unchanged);
    }
    refs.push(OwnerReference {
        api_version: "apps/v1".into(),
        kind: "ReplicaSet".into(),
        name: replica_set.to_string(),
        uid,
        controller: None,
        block_owner_deletion: None,
    });
    write_refs(client, ns, object, &read, refs, field_manager).await
}

/// Removes the owner reference of the ReplicaSet `replica_set` from `object`; an object that is
/// gone or has no such reference counts as done.
pub async fn unprotect(
    client: &Client,
    field_manager: &str,
    ro: &core::Rollout,
    object: &ConfigRef,
    replica_set: &str,
) -> Result<Applied, AdapterError> {
    let ns = super::workloads::namespace(ro)?;
    let Some(read) = get(client, ns, object).await? else {
        return Ok(Applied::Unchanged);
    };
    let before = read.owner_references();
    let refs: Vec<OwnerReference> = before
        .iter()
        .filter(|r| !(is_replica_set_ref(r) && r.name == replica_set))
        .cloned()
        .collect();
    if refs.len() == before.len() {
        return Ok(Applied::Unchanged);
    }
    write_refs(client, ns, object, &read, refs, field_manager).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(v: Value) -> DynamicObject {
        serde_json::from_value(v).unwrap()
    }

    #[test]
    fn what_the_core_sees_of_an_object() {
        let secret = ConfigRef::secret("cfg-a");
        let owner = |kind: &str, name: &str| {
            json!({"apiVersion": if kind == "ReplicaSet" {"apps/v1"} else {"v1"}, "kind": kind,
                   "name": name, "uid": format!("u-{name}")})
        };
        let cases = [
            ("missing", None, (false, false, None, vec![])),
            (
                "immutable, owned by two ReplicaSets and a Pod",
                Some(json!({"metadata": {"name": "cfg-a", "ownerReferences": [
                    owner("ReplicaSet", "r1"), owner("Pod", "p"), owner("ReplicaSet", "r2")]},
                    "immutable": true, "data": {"k": "dg=="}})),
                (true, true, None, vec!["r1", "r2"]),
            ),
            (
                "opted out by annotation",
                Some(json!({"metadata": {"name": "cfg-a",
                    "annotations": {PROTECTION_ANNOTATION: "false"}}, "immutable": true})),
                (true, true, Some(false), vec![]),
            ),
            (
                "being deleted counts as missing",
                Some(
                    json!({"metadata": {"name": "cfg-a", "deletionTimestamp": "2024-01-01T00:00:00Z",
                    "finalizers": ["x"]}}),
                ),
                (false, false, None, vec![]),
            ),
        ];
        for (what, found, (exists, immutable, protection, by)) in cases {
            let found = found.map(object);
            let got = observed(&secret, found.as_ref());
            assert_eq!(
                (got.exists, got.immutable, got.protection, got.protected_by),
                (
                    exists,
                    immutable,
                    protection,
                    by.into_iter().map(String::from).collect::<Vec<_>>()
                ),
                "{what}"
            );
        }
    }
}
