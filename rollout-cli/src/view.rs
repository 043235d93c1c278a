//! `rollout get`'s text: a [`RolloutView`] as an engineer reads it.

use std::fmt::{self, Write};

use rollout_kube::ops::RolloutView;

/// The text `rollout get` prints for `view`.
pub fn render(view: &RolloutView) -> String {
    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = write_view(&mut out, view);
    out
}

fn write_view(f: &mut impl Write, view: &RolloutView) -> fmt::Result {
    writeln!(f, "Name:        {}", view.name)?;
    let msg = if view.message.is_empty() {
        String::new()
    } else {
        format!(" ({})", view.message)
    };
    writeln!(
        f,
        "Status:      {}{msg}",
        if view.phase.is_empty() {
            "Unknown"
        } else {
            &view.phase
        }
    )?;
    writeln!(f, "Strategy:    {}", view.strategy)?;
    if let Some((i, n)) = view.step {
        writeln!(f, "Step:        {i}/{n}")?;
    }
    if let Some(w) = view.set_weight {
        writeln!(f, "SetWeight:   {w}")?;
    }
    let (d, u, r, a) = view.replicas;
    writeln!(
        f,
        "Replicas:    desired {d}, updated {u}, ready {r}, available {a}"
    )?;
    writeln!(f, "ReplicaSets:")?;
    for rs in &view.replica_sets {
        writeln!(
            f,
            "  {:<40} rev {:<3} {:<7} {}/{} ready",
            rs.name, rs.revision, rs.role, rs.ready, rs.replicas
        )?;
    }
    if let Some(cost) = &view.cost {
        writeln!(f, "Cost:        {cost}")?;
    }
    crate::migrate::write_workload(f, view)?;
    if !view.analysis_runs.is_empty() {
        writeln!(f, "AnalysisRuns:")?;
        for r in &view.analysis_runs {
            writeln!(f, "  {:<40} {} {}", r.name, r.phase, r.message)?;
            for m in &r.last_measurements {
                writeln!(f, "    {m}")?;
            }
        }
    }
    Ok(())
}

/// The group section of `rollout get` (empty for a Rollout without a group): each member's
/// phase and steps, and who holds whom.
pub fn render_group(group: Option<&rollout_kube::group::GroupView>) -> String {
    let Some(g) = group else { return String::new() };
    let mut out = format!("Group:       {} ({} members)\n", g.name, g.members.len());
    let width = g.members.iter().map(|m| m.name.len()).max().unwrap_or(0);
    for m in &g.members {
        let step = m
            .step
            .map_or("done".to_string(), |(i, n)| format!("step {i}/{n}"));
        let note = match (&m.aborted, &m.held_by) {
            (Some(a), _) => format!("aborted: {a}"),
            (None, Some(h)) => format!("held: {h}"),
            (None, None) => String::new(),
        };
        let _ = writeln!(out, "  {:<width$}  {:<11} {:<10} {note}", m.name, m.phase, step);
    }
    out
}

#[cfg(test)]
mod tests {
    use rollout_kube::ops::{AnalysisRunView, ReplicaSetView};

    use super::*;

    #[test]
    fn a_paused_canary_shows_its_step_replica_sets_and_runs() {
        let view = RolloutView {
            name: "ns/web".into(),
            phase: "Paused".into(),
            message: "CanaryPauseStep".into(),
            strategy: "canary".into(),
            step: Some((1, 4)),
            set_weight: Some(20),
            replicas: (5, 1, 5, 5),
            replica_sets: vec![ReplicaSetView {
                name: "web-abc".into(),
                revision: 2,
                role: "canary".into(),
                replicas: 1,
                ready: 1,
            }],
            analysis_runs: vec![AnalysisRunView {
                name: "web-abc-2-1".into(),
                phase: "Running".into(),
                message: String::new(),
                last_measurements: vec!["error-rate: Successful 0.01".into()],
            }],
            workload: None,
            dry_run: None,
            cost: Some("extra 90.0 pod-seconds (0.025 pod-hours), wall time 2m30s".into()),
        };
        let text = render(&view);
        for line in [
            "Cost:        extra 90.0 pod-seconds (0.025 pod-hours), wall time 2m30s",
            "Name:        ns/web",
            "Status:      Paused (CanaryPauseStep)",
            "Step:        1/4",
            "SetWeight:   20",
            "Replicas:    desired 5, updated 1, ready 5, available 5",
            "  web-abc                                  rev 2   canary  1/1 ready",
            "    error-rate: Successful 0.01",
        ] {
            assert!(text.lines().any(|l| l == line), "{line:?} not in\n{text}");
        }
    }

    #[test]
    fn the_group_section_shows_members_steps_and_who_holds_whom() {
        use rollout_kube::group::{GroupMemberView, GroupView};
        assert_eq!(render_group(None), "");
        let member = |name: &str, step, held_by: Option<&str>| GroupMemberView {
            name: name.into(),
            phase: "Progressing".into(),
            step,
            held_by: held_by.map(str::to_string),
            aborted: None,
        };
        let g = GroupView {
            name: "cms".into(),
            members: vec![
                member(
                    "author",
                    Some((2, 4)),
                    Some("group cms: waiting for member publish"),
                ),
                member("publish", Some((1, 4)), None),
            ],
        };
        assert_eq!(
            render_group(Some(&g)),
            "Group:       cms (2 members)\n  \
             author   Progressing step 2/4   held: group cms: waiting for member publish\n  \
             publish  Progressing step 1/4   \n"
        );
    }

    #[test]
    fn a_status_without_phase_is_unknown() {
        let view = RolloutView {
            name: "ns/web".into(),
            phase: String::new(),
            message: String::new(),
            strategy: "blueGreen".into(),
            step: None,
            set_weight: None,
            replicas: (1, 0, 0, 0),
            replica_sets: vec![],
            analysis_runs: vec![],
            workload: None,
            dry_run: None,
            cost: None,
        };
        let text = render(&view);
        assert!(text.contains("Status:      Unknown\n"), "{text}");
        assert!(
            !text.contains("Step:") && !text.contains("AnalysisRuns:"),
            "{text}"
        );
    }
}
