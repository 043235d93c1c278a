//! Group simulations (issue #13): several Rollouts of one group (`rollout.io/group`) simulated
//! on one clock. Each member is a [`Simulation`] with its own cluster, traffic and analysis;
//! before every reconcile a member gets the core's group inputs
//! ([`inputs_for`](rollout_core::rollout::group::inputs_for)) computed from every member's
//! current Rollout, so the members move in lockstep and an abort of one aborts all.
//!
//! A group scenario is a [`Scenario`] plus per-member overrides:
//!
//! ```yaml
//! name: group
//! canary: {errorRate: 0.01}
//! members:
//!   publish:                 # the Rollout's name
//!     canary: {errorRate: 0.2}
//! ```

use std::collections::BTreeMap;

use rollout_core::rollout::cost::CostFigures;
use rollout_core::rollout::group::{MAX_GROUP_MEMBERS, MemberState, inputs_for};
use rollout_core::rollout::{Cause, Inputs};
use serde::{Deserialize, Serialize};

use crate::adapters::InMemory;
use crate::driver::{MAX_INSTANTS, SimError, SimInput, Simulation};
use crate::log::{LogEvent, Outcome, SimReport};
use crate::scenario::{Fault, Scenario, ScenarioError, VersionBehaviour};

/// What a member's simulation reads of the others: their in-memory worlds.
#[derive(Debug, Clone)]
pub struct GroupView {
    members: Vec<InMemory>,
}

impl GroupView {
    /// Member `me`'s inputs from every member's current Rollout.
    pub(crate) fn inputs(&self, me: &str) -> Inputs {
        let states: Vec<MemberState> = self
            .members
            .iter()
            .map(|io| MemberState::of(&io.rollout()))
            .collect();
        inputs_for(me, &states)
    }
}

/// One member's changes to the group scenario.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MemberOverride {
    /// Its stable version's behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stable: Option<VersionBehaviour>,
    /// Its canary version's behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<VersionBehaviour>,
    /// Its faults (instead of the scenario's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub faults: Option<Vec<Fault>>,
}

/// A scenario for a group: the shared [`Scenario`] and per-member overrides (`members:`).
#[derive(Debug, Clone, PartialEq)]
pub struct GroupScenario {
    /// What every member shares.
    pub base: Scenario,
    /// Overrides by Rollout name.
    pub members: BTreeMap<String, MemberOverride>,
}

impl GroupScenario {
    /// Reads a scenario with an optional `members:` map; every member's scenario is validated
    /// (a problem's field path starts with `members.NAME.`).
    pub fn from_yaml(text: &str) -> Result<Self, ScenarioError> {
        let yaml = |e: serde_yaml::Error| ScenarioError::Yaml(e.to_string());
        let mut value: serde_yaml::Value = serde_yaml::from_str(text).map_err(yaml)?;
        let members = value.as_mapping_mut().and_then(|m| m.remove("members"));
        let base: Scenario = serde_yaml::from_value(value).map_err(yaml)?;
        base.validate()?;
        let members: BTreeMap<String, MemberOverride> = match members {
            Some(m) => serde_yaml::from_value(m).map_err(|e| ScenarioError::Yaml(format!("members: {e}")))?,
            None => BTreeMap::new(),
        };
        let group = GroupScenario { base, members };
        for name in group.members.keys() {
            group.for_member(name).validate().map_err(|e| match e {
                ScenarioError::Invalid { field, message } => ScenarioError::Invalid {
                    field: format!("members.{name}.{field}"),
                    message,
                },
                other => other,
            })?;
        }
        Ok(group)
    }

    /// The scenario member `name` runs in.
    pub fn for_member(&self, name: &str) -> Scenario {
        let mut s = self.base.clone();
        if let Some(o) = self.members.get(name) {
            if let Some(v) = o.stable {
                s.stable = v;
            }
            if let Some(v) = o.canary {
                s.canary = v;
            }
            if let Some(f) = &o.faults {
                s.faults = f.clone();
            }
        }
        s
    }
}

/// The record of a group simulation: each member's report and the group's outcome.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GroupReport {
    /// The group's outcome: aborted if any member aborted, promoted if all were, else the first
    /// other outcome.
    pub outcome: Outcome,
    /// Why, naming the member that decided it.
    pub reason: String,
    /// The members' reports, in input order (one shared clock: `t` is comparable across them).
    pub members: Vec<SimReport>,
    /// The members the group aborted because another member aborted (their report's reason
    /// says which).
    pub aborted_by_group: Vec<String>,
    /// The group's cost of safety ([`total_cost`] of the members).
    pub cost: CostFigures,
}

/// The group's cost of safety: the members' extra pod-seconds summed; the wall time is the
/// longest member's (they share one clock).
pub fn total_cost(members: &[SimReport]) -> CostFigures {
    members.iter().fold(CostFigures::default(), |acc, m| CostFigures {
        extra_pod_seconds: acc.extra_pod_seconds + m.cost.extra_pod_seconds,
        wall_seconds: acc.wall_seconds.max(m.cost.wall_seconds),
    })
}

/// The group's outcome from its members' (a member aborted by its own cause decides before
/// one the group aborted).
pub fn group_outcome(members: &[SimReport], aborted_by_group: &[String]) -> (Outcome, String) {
    let aborted = |r: &&SimReport| r.outcome == Outcome::Aborted;
    let pick = members
        .iter()
        .filter(aborted)
        .find(|r| !aborted_by_group.contains(&r.rollout))
        .or_else(|| members.iter().find(aborted))
        .or_else(|| members.iter().find(|r| r.outcome != Outcome::Promoted));
    match pick {
        Some(r) => (r.outcome, format!("{}: {}", r.rollout, r.reason)),
        None => (
            Outcome::Promoted,
            format!("all {} members promoted", members.len()),
        ),
    }
}

/// Runs the members of a group on one clock to their outcomes, calling `sink` with the member's
/// name for each event as it happens. At most [`MAX_GROUP_MEMBERS`] members.
pub async fn simulate_group(
    inputs: Vec<SimInput>,
    sink: &mut dyn FnMut(&str, &LogEvent),
) -> Result<GroupReport, SimError> {
    if inputs.is_empty() || inputs.len() > MAX_GROUP_MEMBERS {
        return Err(SimError::Scenario(ScenarioError::Invalid {
            field: "rollouts".into(),
            message: format!("a group simulation takes 1 to {MAX_GROUP_MEMBERS} Rollouts"),
        }));
    }
    let mut sims = Vec::with_capacity(inputs.len());
    for input in inputs {
        sims.push(Simulation::new(input).await?);
    }
    // One clock: every member starts its update when the slowest initial deploy is done.
    let start = sims.iter().map(|s| s.adapters().now()).max();
    let view = GroupView {
        members: sims.iter().map(|s| s.adapters().clone()).collect(),
    };
    let names: Vec<String> = sims
        .iter()
        .map(|s| s.adapters().rollout().metadata.name.clone())
        .collect();
    for (sim, name) in sims.iter_mut().zip(&names) {
        if let Some(t) = start {
            sim.set_now(t);
        }
        sim.group = Some(view.clone());
        sim.begin(&mut |e| sink(name, e))?;
    }
    // A member the group aborted says so (its own runs were only terminated).
    let by_group = |io: &InMemory| {
        io.rollout()
            .status
            .why
            .iter()
            .find(|w| w.cause == Cause::GroupAbort)
            .map(|w| w.message())
    };
    let mut aborted_by_group = Vec::new();
    let mut running: Vec<Option<Simulation>> = sims.into_iter().map(Some).collect();
    let mut reports: Vec<Option<SimReport>> = vec![None; running.len()];
    for instants in 1..=MAX_INSTANTS {
        for ((slot, report), name) in running.iter_mut().zip(reports.iter_mut()).zip(&names) {
            let Some(sim) = slot.as_mut() else { continue };
            let mut member_sink = |e: &LogEvent| sink(name, e);
            if let Some((outcome, mut reason)) = sim.step(instants, &mut member_sink).await?
                && let Some(sim) = slot.take()
            {
                if let Some(why) = by_group(sim.adapters()).filter(|_| outcome == Outcome::Aborted) {
                    reason = format!("rolled back with the group: {why}");
                    aborted_by_group.push(name.clone());
                }
                *report = Some(sim.finish(outcome, reason, &mut member_sink));
            }
        }
        let next = running.iter().flatten().map(Simulation::next_instant).min();
        let Some(next) = next else { break };
        for sim in running.iter_mut().flatten() {
            sim.set_now(next);
        }
    }
    // Members still running after the instant limit (each member's own limit ends it first).
    for ((slot, report), name) in running.iter_mut().zip(reports.iter_mut()).zip(&names) {
        if let Some(sim) = slot.take() {
            let reason = format!("still running after {MAX_INSTANTS} group instants");
            *report = Some(sim.finish(Outcome::TimedOut, reason, &mut |e| sink(name, e)));
        }
    }
    let members: Vec<SimReport> = reports.into_iter().flatten().collect();
    let (outcome, reason) = group_outcome(&members, &aborted_by_group);
    Ok(GroupReport {
        outcome,
        reason,
        cost: total_cost(&members),
        members,
        aborted_by_group,
    })
}

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The members' timeline charts side by side and the merged event log (one clock, a member
/// column) as one HTML page.
pub fn html(report: &GroupReport) -> String {
    use std::fmt::Write as _;
    let mut charts = String::new();
    for m in &report.members {
        let _ = write!(
            charts,
            "<div><h3>{} — {}</h3><p>{}</p><p>Cost of safety: {}</p>{}</div>",
            esc(&m.rollout),
            m.outcome.as_str(),
            esc(&m.reason),
            esc(&m.cost.text()),
            crate::report::svg(m)
        );
    }
    let mut events: Vec<(&str, &LogEvent)> = report
        .members
        .iter()
        .flat_map(|m| m.events.iter().map(move |e| (m.rollout.as_str(), e)))
        .collect();
    events.sort_by(|a, b| a.1.t.total_cmp(&b.1.t));
    let width = report.members.iter().map(|m| m.rollout.len()).max().unwrap_or(0);
    let mut rows = String::new();
    for (member, e) in events {
        let _ = write!(rows, "<tr><td>{}</td></tr>", esc(&e.member_line(member, width)));
    }
    let scenario = report.members.first().map_or("", |m| m.scenario.as_str());
    format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>rollout simulate (group): {}</title>\
         <style>body{{font-family:sans-serif;margin:24px}}.members{{display:grid;\
         grid-template-columns:repeat({},minmax(0,1fr));gap:16px}}.members svg{{width:100%;height:auto}}\
         td{{font-family:monospace;font-size:12px;white-space:pre}}</style></head><body>\
         <h2>group outcome: {} — {}</h2><div class=\"members\">{charts}</div>\
         <h3>Event log</h3><table>{rows}</table></body></html>",
        esc(scenario),
        report.members.len().clamp(1, 4),
        report.outcome.as_str(),
        esc(&report.reason),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_overrides_apply_and_are_validated_with_their_path() {
        let g = GroupScenario::from_yaml(
            "name: g\ncanary: {errorRate: 0.01}\nmembers:\n  publish:\n    canary: {errorRate: 0.3}\n",
        )
        .unwrap();
        assert_eq!(g.for_member("publish").canary.error_rate, 0.3);
        assert_eq!(g.for_member("author").canary.error_rate, 0.01);
        let err = GroupScenario::from_yaml("members:\n  publish:\n    canary: {errorRate: 3}\n").unwrap_err();
        assert!(
            err.to_string().contains("members.publish.canary.errorRate"),
            "{err}"
        );
        let err = GroupScenario::from_yaml("members:\n  publish:\n    colour: red\n").unwrap_err();
        assert!(err.to_string().contains("members"), "{err}");
    }

    #[test]
    fn the_group_outcome_names_the_member_that_decided_it() {
        let report = |name: &str, outcome| SimReport {
            rollout: name.into(),
            scenario: "s".into(),
            seed: 1,
            outcome,
            reason: "why".into(),
            duration_secs: 1.0,
            stable_hash: String::new(),
            canary_hash: String::new(),
            events: Vec::new(),
            timeline: Vec::new(),
            pod_seconds: Default::default(),
            cost: Default::default(),
        };
        let all = [report("a", Outcome::Aborted), report("b", Outcome::Aborted)];
        let by_group = ["a".to_string()];
        assert_eq!(
            group_outcome(&all, &by_group),
            (Outcome::Aborted, "b: why".to_string())
        );
        let all = [report("a", Outcome::Promoted), report("b", Outcome::Promoted)];
        assert_eq!(group_outcome(&all, &[]).0, Outcome::Promoted);
        let page = html(&GroupReport {
            outcome: Outcome::Aborted,
            reason: "b: <why>".into(),
            members: all.to_vec(),
            aborted_by_group: Vec::new(),
            cost: total_cost(&all),
        });
        assert!(
            page.contains("b: &lt;why&gt;") && page.matches("<svg").count() == 2,
            "{page}"
        );
    }
}
