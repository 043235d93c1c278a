//! The per-Rollout group coordinator (issue #13): before each tick of a grouped Rollout, read
//! every member's state through [`GroupMembers`] and hand the core's
//! [`inputs_for`](rollout_core::rollout::group::inputs_for) to the driver
//! ([`RolloutDriver::set_inputs`]). A Rollout without the `rollout.io/group` annotation gets the
//! coordinator's base inputs unchanged.
//!
//! ```
//! # use std::sync::Arc;
//! # use rollout_driver::{AdapterError, GroupCoordinator, GroupMembers};
//! # use rollout_core::rollout::group::MemberState;
//! struct NoMembers;
//! #[async_trait::async_trait]
//! impl GroupMembers for NoMembers {
//!     async fn members(&self, _: Option<&str>, _: &str) -> Result<Vec<MemberState>, AdapterError> {
//!         Ok(Vec::new())
//!     }
//! }
//! let coordinator = GroupCoordinator::new(Arc::new(NoMembers));
//! # let _ = coordinator;
//! ```

use std::sync::Arc;

use async_trait::async_trait;
use rollout_core::common::ObjectMeta;
use rollout_core::rollout::Inputs;
use rollout_core::rollout::group::{GROUP_ANNOTATION, MemberProblem, MemberState, inputs_for};

use crate::contracts::AdapterError;
use crate::rollout_loop::{DriverError, RolloutDriver};

/// Lists a group's members: every Rollout in `namespace` whose `rollout.io/group` annotation is
/// `group` (the asking Rollout included), read fresh enough that a member's last status write is
/// seen, each as [`MemberState::of`] (or [`MemberState::unreadable`]).
#[async_trait]
pub trait GroupMembers: Send + Sync {
    /// The members of `group` in `namespace`.
    async fn members(&self, namespace: Option<&str>, group: &str) -> Result<Vec<MemberState>, AdapterError>;
}

/// Computes each grouped Rollout's coordinator inputs from its members.
#[derive(Clone)]
pub struct GroupCoordinator {
    members: Arc<dyn GroupMembers>,
    base: Inputs,
}

impl std::fmt::Debug for GroupCoordinator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupCoordinator")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

impl GroupCoordinator {
    /// A coordinator reading members through `members`.
    pub fn new(members: Arc<dyn GroupMembers>) -> Self {
        GroupCoordinator {
            members,
            base: Inputs::default(),
        }
    }

    /// Inputs every Rollout gets in addition to its group's (a controller-wide hold or abort).
    #[must_use]
    pub fn with_base(mut self, base: Inputs) -> Self {
        self.base = base;
        self
    }

    /// The group named by `meta`'s annotation, if any.
    pub fn group_of(meta: &ObjectMeta) -> Option<&str> {
        meta.annotations
            .get(GROUP_ANNOTATION)
            .map(|g| g.trim())
            .filter(|g| !g.is_empty())
    }

    /// The inputs of the Rollout with `meta` (its name, namespace and annotations are used).
    pub async fn inputs(&self, meta: &ObjectMeta) -> Result<Inputs, AdapterError> {
        let Some(group) = Self::group_of(meta) else {
            return Ok(self.base.clone());
        };
        let members = self.members.members(meta.namespace.as_deref(), group).await?;
        Ok(merge(&self.base, inputs_for(&meta.name, &members)))
    }

    /// Sets `driver`'s inputs for the Rollout with `meta`; returns them. A failed member listing
    /// is a [`DriverError::Observe`] (the tick must not run without its group in view).
    pub async fn prepare(
        &self,
        driver: &mut RolloutDriver,
        meta: &ObjectMeta,
    ) -> Result<Inputs, DriverError> {
        let inputs = self.inputs(meta).await.map_err(|source| DriverError::Observe {
            what: "the group's members",
            source,
        })?;
        driver.set_inputs(inputs.clone());
        Ok(inputs)
    }
}

/// The base inputs combined with the group's: either holds; the base's forced abort wins (and
/// then its cause is not the group's).
pub fn merge(base: &Inputs, group: Inputs) -> Inputs {
    let mut out = group;
    out.hold |= base.hold;
    if let Some(reason) = &base.force_abort {
        out.force_abort = Some(reason.clone());
        if out
            .group
            .as_ref()
            .is_some_and(|g| matches!(g.problem, MemberProblem::Aborted { .. }))
        {
            out.group = None;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use rollout_core::rollout::Rollout;
    use rollout_core::rollout::group::GroupCause;

    use super::*;

    struct Members(Mutex<Vec<Rollout>>, bool);

    #[async_trait]
    impl GroupMembers for Members {
        async fn members(&self, ns: Option<&str>, group: &str) -> Result<Vec<MemberState>, AdapterError> {
            if self.1 {
                return Err(AdapterError::Other("list failed".into()));
            }
            Ok(self
                .0
                .lock()
                .map_err(|_| AdapterError::Other("poisoned".into()))?
                .iter()
                .filter(|r| r.metadata.namespace.as_deref() == ns)
                .filter(|r| GroupCoordinator::group_of(&r.metadata) == Some(group))
                .map(MemberState::of)
                .collect())
        }
    }

    fn ro(name: &str, ns: &str, group: Option<&str>) -> Rollout {
        let mut ro = Rollout::default();
        ro.metadata.name = name.into();
        ro.metadata.namespace = Some(ns.into());
        if let Some(g) = group {
            ro.metadata.annotations.insert(GROUP_ANNOTATION.into(), g.into());
            ro.metadata
                .annotations
                .insert("rollout.io/group-members".into(), "a,b".into());
        }
        ro
    }

    #[tokio::test]
    async fn members_are_looked_up_per_group_and_namespace_and_base_inputs_kept() {
        let a = ro("a", "ns", Some("shop"));
        // b exists only in another namespace: a holds, naming b as missing.
        let list = Members(Mutex::new(vec![a.clone(), ro("b", "other", Some("shop"))]), false);
        let base = Inputs {
            hold: false,
            force_abort: Some("operator".into()),
            ..Inputs::default()
        };
        let c = GroupCoordinator::new(Arc::new(list)).with_base(base.clone());
        let inputs = c.inputs(&a.metadata).await.unwrap();
        assert!(inputs.hold);
        assert_eq!(inputs.force_abort.as_deref(), Some("operator"));
        let GroupCause { member, problem, .. } = inputs.group.unwrap();
        assert_eq!((member.as_str(), problem), ("b", MemberProblem::Missing));
        // No group: the base inputs as they are.
        assert_eq!(c.inputs(&ro("x", "ns", None).metadata).await.unwrap(), base);
    }

    #[tokio::test]
    async fn a_failed_listing_fails_the_tick_instead_of_running_without_the_group() {
        let c = GroupCoordinator::new(Arc::new(Members(Mutex::new(Vec::new()), true)));
        let err = c.inputs(&ro("a", "ns", Some("shop")).metadata).await.unwrap_err();
        assert_eq!(err.to_string(), "list failed");
    }
}
