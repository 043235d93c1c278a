//! Grouped rollouts on the API server (issue #13): the [`GroupMembers`] adapter and the
//! per-Rollout coordinator inputs of a reconcile.
//!
//! A grouped Rollout's members are the Rollouts of its namespace with the same
//! `rollout.io/group` annotation. Their names come from the controller's Rollout cache (which
//! keeps that one annotation) or, without a cache, from a list call; each member is then read
//! fresh, so a member's last status write is always seen. After a member's status changes, the
//! controller reconciles the other members at once ([`others_in_group`]), so a hold is released
//! and an abort spreads within one reconcile of each.

use std::sync::Arc;

use async_trait::async_trait;
use kube::api::{Api, ListParams};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Client, ResourceExt};
use rollout_core::common::ObjectMeta;
use rollout_core::rollout::Inputs;
use rollout_core::rollout::group::{GROUP_ANNOTATION, MAX_GROUP_MEMBERS, MemberState};
use rollout_driver::{AdapterError, DriverError, GroupCoordinator, GroupMembers};

use crate::adapters::request_err;
use crate::reconciler::{Error, Reconciler};
use crate::resources::Rollout;

/// The group a (possibly cached) Rollout declares.
pub fn group_of(ro: &Rollout) -> Option<&str> {
    ro.annotations()
        .get(GROUP_ANNOTATION)
        .map(|g| g.trim())
        .filter(|g| !g.is_empty())
}

/// [`GroupMembers`] on the API server.
#[derive(Clone)]
pub struct KubeGroupMembers {
    client: Client,
    cache: Option<Store<Rollout>>,
}

impl std::fmt::Debug for KubeGroupMembers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KubeGroupMembers")
            .field("cache", &self.cache.is_some())
            .finish()
    }
}

impl KubeGroupMembers {
    /// Members found in `cache` (the controller's Rollout store), else by a list call.
    pub fn new(client: Client, cache: Option<Store<Rollout>>) -> Self {
        KubeGroupMembers { client, cache }
    }
}

#[async_trait]
impl GroupMembers for KubeGroupMembers {
    async fn members(&self, namespace: Option<&str>, group: &str) -> Result<Vec<MemberState>, AdapterError> {
        let ns = namespace.ok_or_else(|| AdapterError::Other("a grouped Rollout has no namespace".into()))?;
        let api: Api<Rollout> = Api::namespaced(self.client.clone(), ns);
        let mut names: Vec<String> = match &self.cache {
            Some(store) => store
                .state()
                .iter()
                .filter(|r| r.metadata.namespace.as_deref() == Some(ns) && group_of(r) == Some(group))
                .map(|r| r.name_any())
                .collect(),
            None => api
                .list(&ListParams::default())
                .await
                .map_err(request_err(format!("list Rollouts in {ns}")))?
                .items
                .iter()
                .filter(|r| group_of(r) == Some(group))
                .map(|r| r.name_any())
                .collect(),
        };
        names.sort();
        names.dedup();
        names.truncate(MAX_GROUP_MEMBERS + 1);
        let mut members = Vec::with_capacity(names.len());
        for name in names {
            let fresh = api
                .get_opt(&name)
                .await
                .map_err(request_err(format!("get Rollout {ns}/{name}")))?;
            // Deleted since the cache saw it: missing, as the core will say.
            let Some(fresh) = fresh else { continue };
            members.push(match fresh.to_core() {
                Ok(ro) => MemberState::of(&ro),
                Err(e) => MemberState::unreadable(&name, &e.to_string()),
            });
        }
        Ok(members)
    }
}

/// The core's view of a (cached) Rollout's metadata for the coordinator.
fn core_meta(ro: &Rollout) -> ObjectMeta {
    let mut meta = ObjectMeta {
        name: ro.name_any(),
        namespace: ro.namespace(),
        ..Default::default()
    };
    if let Some(g) = ro.annotations().get(GROUP_ANNOTATION) {
        meta.annotations.insert(GROUP_ANNOTATION.into(), g.clone());
    }
    meta
}

impl Reconciler {
    /// The coordinator inputs of `ro`'s tick: the reconciler's base inputs, plus its group's when
    /// it declares one (read through [`KubeGroupMembers`] over the Rollout cache, if any).
    pub async fn group_inputs(&self, ro: &Rollout) -> Result<Inputs, Error> {
        if group_of(ro).is_none() {
            return Ok(self.inputs.clone());
        }
        let members = KubeGroupMembers::new(self.client.clone(), self.caches.rollouts.clone());
        GroupCoordinator::new(Arc::new(members))
            .with_base(self.inputs.clone())
            .inputs(&core_meta(ro))
            .await
            .map_err(|source| {
                Error::Driver(DriverError::Observe {
                    what: "the group's members",
                    source,
                })
            })
    }
}

/// The other members of `ro`'s group in `store` (to reconcile after `ro`'s status changed).
pub fn others_in_group(store: &Store<Rollout>, ro: &Rollout) -> Vec<ObjectRef<Rollout>> {
    let Some(group) = group_of(ro) else {
        return Vec::new();
    };
    let ns = ro.namespace();
    store
        .state()
        .iter()
        .filter(|r| r.namespace() == ns && r.name_any() != ro.name_any() && group_of(r) == Some(group))
        .take(MAX_GROUP_MEMBERS)
        .map(|r| ObjectRef::from_obj(&**r))
        .collect()
}

/// One member as `rollout get` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupMemberView {
    /// Rollout name.
    pub name: String,
    /// Its phase.
    pub phase: String,
    /// `(steps completed, steps)`; `None` when it has nothing to roll out.
    pub step: Option<(i32, i32)>,
    /// What holds it, or why the group aborts it (the core's message), if anything.
    pub held_by: Option<String>,
    /// Its abort's message, when it is aborted.
    pub aborted: Option<String>,
}

/// A Rollout's group as `rollout get` shows it: the members, their steps, who holds whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupView {
    /// The group's name.
    pub name: String,
    /// The members found (sorted by name).
    pub members: Vec<GroupMemberView>,
}

/// Every Rollout of `group` in `ns`, read now (sorted by name; at most
/// [`MAX_GROUP_MEMBERS`] + 1).
async fn list_group(
    client: &Client,
    ns: &str,
    group: &str,
) -> Result<Vec<rollout_core::rollout::Rollout>, Error> {
    let api: Api<Rollout> = Api::namespaced(client.clone(), ns);
    let mut out: Vec<rollout_core::rollout::Rollout> = api
        .list(&ListParams::default())
        .await
        .map_err(crate::reconciler::kube_err(format!("list Rollouts in {ns}")))?
        .items
        .iter()
        .filter(|r| group_of(r) == Some(group))
        .filter_map(|r| r.to_core().ok())
        .collect();
    out.sort_by(|a, b| a.metadata.name.cmp(&b.metadata.name));
    out.truncate(MAX_GROUP_MEMBERS + 1);
    Ok(out)
}

/// The group of Rollout `ns/name`, if it declares one.
pub async fn group_view(client: &Client, ns: &str, name: &str) -> Result<Option<GroupView>, Error> {
    let api: Api<Rollout> = Api::namespaced(client.clone(), ns);
    let ro = api
        .get(name)
        .await
        .map_err(crate::reconciler::kube_err(format!("get Rollout {ns}/{name}")))?;
    let Some(group) = group_of(&ro).map(str::to_string) else {
        return Ok(None);
    };
    let rollouts = list_group(client, ns, &group).await?;
    let states: Vec<MemberState> = rollouts.iter().map(MemberState::of).collect();
    let members = rollouts
        .iter()
        .zip(&states)
        .map(|(ro, state)| {
            let inputs = rollout_core::rollout::group::inputs_for(&state.name, &states);
            GroupMemberView {
                name: state.name.clone(),
                phase: ro.status.phase.map(|p| format!("{p:?}")).unwrap_or_default(),
                step: match state.progress {
                    rollout_core::rollout::group::Progress::Steps(n) => Some((n, state.steps)),
                    rollout_core::rollout::group::Progress::Done => None,
                },
                held_by: inputs.group.map(|g| g.message()),
                aborted: state.aborted.as_ref().map(|a| a.message.clone()),
            }
        })
        .collect();
    Ok(Some(GroupView { name: group, members }))
}

/// The members of `ns/name`'s group (`name` included), in the order a group-wide retry writes
/// them (members aborted by a cause of their own first), each with whether it is paused. Empty
/// when it declares no group.
pub async fn members_in_write_order(
    client: &Client,
    ns: &str,
    name: &str,
) -> Result<Vec<(String, bool)>, Error> {
    let api: Api<Rollout> = Api::namespaced(client.clone(), ns);
    let ro = api
        .get(name)
        .await
        .map_err(crate::reconciler::kube_err(format!("get Rollout {ns}/{name}")))?;
    let Some(group) = group_of(&ro).map(str::to_string) else {
        return Ok(Vec::new());
    };
    let mut rollouts = list_group(client, ns, &group).await?;
    rollouts.sort_by_key(|r| MemberState::of(r).aborted.is_none_or(|a| a.by_group()));
    Ok(rollouts
        .into_iter()
        .map(|r| {
            let paused = !r.status.pause_conditions.is_empty() || r.spec.paused;
            (r.metadata.name, paused)
        })
        .collect())
}
