//! `rollout simulate` with several Rollouts (issue #13): the members of a group
//! (`rollout.io/group`) simulated on one clock, side by side in the log and the HTML report.
//! Group mode is chosen when more than one Rollout is given (several files, or one file with
//! several Rollouts) or with `--scenario group` (the bundled two-tier group).

use std::path::{Path, PathBuf};

use rollout_core::analysis::AnalysisTemplate;
use rollout_core::rollout::Rollout;
use rollout_sim::SimInput;
use rollout_sim::group::{GroupReport, GroupScenario, simulate_group};
use rollout_sim::log::human_duration;

use crate::CliError;
use crate::docs;
use crate::simulate::Options;

/// The bundled group scenario's name.
pub const GROUP_SCENARIO_NAME: &str = "group";
/// The bundled group scenario.
pub const GROUP_SCENARIO: &str = include_str!("../../examples/scenarios/group.yaml");
/// The bundled group's Rollouts.
pub const GROUP_ROLLOUTS: &str = include_str!("../../examples/scenarios/group-rollouts.yaml");

/// Whether these arguments ask for a group simulation.
pub fn wanted(opts: &Options, more: &[PathBuf]) -> Result<bool, CliError> {
    if !more.is_empty() || (opts.rollout.is_none() && opts.scenario.as_deref() == Some(GROUP_SCENARIO_NAME)) {
        return Ok(true);
    }
    let Some(path) = &opts.rollout else {
        return Ok(false);
    };
    Ok(docs::load(path)?.iter().filter(|d| d.kind == "Rollout").count() > 1)
}

fn collect(
    label: &str,
    docs: &[docs::Doc],
    rollouts: &mut Vec<Rollout>,
    templates: &mut Vec<AnalysisTemplate>,
) -> Result<(), CliError> {
    for d in docs {
        match d.kind.as_str() {
            "Rollout" => rollouts.push(docs::typed(label, d)?),
            "AnalysisTemplate" | "ClusterAnalysisTemplate" => templates.push(docs::typed(label, d)?),
            _ => {}
        }
    }
    Ok(())
}

fn load_scenario(arg: Option<&str>) -> Result<GroupScenario, CliError> {
    let (label, text) = match arg {
        None | Some(GROUP_SCENARIO_NAME) => (GROUP_SCENARIO_NAME.to_string(), GROUP_SCENARIO.to_string()),
        Some(name) => match crate::simulate::SCENARIOS.iter().find(|(n, _)| *n == name) {
            Some((n, t)) => ((*n).to_string(), (*t).to_string()),
            None if Path::new(name).exists() => (name.to_string(), docs::read(Path::new(name))?),
            None => {
                return Err(CliError::new(format!(
                    "scenario {name:?} is neither a file nor a bundled scenario"
                )));
            }
        },
    };
    GroupScenario::from_yaml(&text).map_err(|e| CliError::new(format!("{label}: {e}")))
}

/// Runs the group; prints the interleaved log and a summary (or JSON); returns the report.
pub fn run(opts: &Options, more: &[PathBuf]) -> Result<GroupReport, CliError> {
    let files: Vec<&PathBuf> = opts.rollout.iter().chain(more).collect();
    for path in &files {
        crate::validate::check_before_run(Some(path), &opts.analysis, opts.strict)?;
    }
    if let Some(p) = &opts.report
        && p.extension().and_then(|e| e.to_str()) != Some("html")
    {
        return Err(CliError::new(format!(
            "--report {}: a group report is an .html page",
            p.display()
        )));
    }
    let (mut rollouts, mut templates) = (Vec::new(), Vec::new());
    if files.is_empty() {
        collect(
            "bundled group",
            &docs::parse("bundled group", GROUP_ROLLOUTS)?,
            &mut rollouts,
            &mut templates,
        )?;
        if opts.analysis.is_empty() {
            let analysis = docs::parse("bundled analysis", crate::simulate::DEFAULT_ANALYSIS)?;
            collect("bundled analysis", &analysis, &mut rollouts, &mut templates)?;
        }
    }
    for path in &files {
        collect(
            &path.display().to_string(),
            &docs::load(path)?,
            &mut rollouts,
            &mut templates,
        )?;
    }
    for path in &opts.analysis {
        collect(
            &path.display().to_string(),
            &docs::load(path)?,
            &mut Vec::new(),
            &mut templates,
        )?;
    }
    if rollouts.is_empty() {
        return Err(CliError::new("no document of kind Rollout in the given files"));
    }
    let mut names: Vec<&str> = rollouts.iter().map(|r| r.metadata.name.as_str()).collect();
    names.sort_unstable();
    if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
        return Err(CliError::new(format!("two Rollouts are named {:?}", w[0])));
    }
    let scenario = load_scenario(opts.scenario.as_deref())?;
    if let Some(unknown) = scenario.members.keys().find(|k| !names.contains(&k.as_str())) {
        return Err(CliError::new(format!(
            "scenario members.{unknown}: no Rollout named {unknown:?} is given"
        )));
    }
    let seed = opts.seed.or(scenario.base.seed).unwrap_or(1);
    let width = names.iter().map(|n| n.len()).max().unwrap_or(0);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the async runtime: {e}")))?;
    let report = runtime.block_on(async {
        let judges = crate::simulate::judges(opts, &templates).await?;
        let inputs: Vec<SimInput> = rollouts
            .into_iter()
            .map(|rollout| {
                let mut member = scenario.for_member(&rollout.metadata.name);
                if let Some(d) = &opts.promote_after {
                    member.promote_paused_after = Some(d.clone());
                }
                SimInput {
                    rollout,
                    templates: templates.clone(),
                    scenario: member,
                    seed,
                    judges: judges.clone(),
                    workload: None,
                }
            })
            .collect();
        let quiet = opts.json;
        if !quiet {
            let members: Vec<&str> = inputs.iter().map(|i| i.rollout.metadata.name.as_str()).collect();
            crate::outln!(
                "simulating group of {} Rollouts ({}), scenario {:?} (seed {seed})",
                members.len(),
                members.join(", "),
                scenario.base.name
            );
            if !scenario.base.description.is_empty() {
                crate::outln!("  {}", scenario.base.description);
            }
        }
        let mut sink = |member: &str, e: &rollout_sim::LogEvent| {
            if !quiet {
                crate::out(e.member_line(member, width));
            }
        };
        simulate_group(inputs, &mut sink)
            .await
            .map_err(|e| CliError::new(format!("simulation: {e}")))
    })?;
    if let Some(path) = &opts.report {
        std::fs::write(path, rollout_sim::group::html(&report))
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
    }
    if opts.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| CliError::new(format!("JSON: {e}")))?;
        crate::outln!("{text}");
    } else {
        crate::out(String::new());
        crate::outln!("group outcome: {}", report.outcome.as_str());
        crate::outln!("why:           {}", report.reason);
        for m in &report.members {
            crate::outln!(
                "  {:<width$}  {:<9}  {}  {}",
                m.rollout,
                m.outcome.as_str(),
                human_duration(m.duration_secs),
                m.reason
            );
            crate::outln!("  {:<width$}  cost: {}", "", m.cost.text());
        }
        crate::outln!("cost:          {}", report.cost.text());
        if let Some(p) = &opts.report {
            crate::outln!("report:        {}", p.display());
        }
    }
    Ok(report)
}
