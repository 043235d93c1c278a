//! `rollout simulate`: run a Rollout through the core with the in-memory cluster, the traffic
//! model and real WebAssembly judges; stream the events, then print a summary.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use analysis_host::cache::sha256_hex;
use analysis_host::{HostConfig, JudgeHost, LoadOptions, WasmJudges};
use rollout_core::analysis::AnalysisTemplate;
use rollout_core::rollout::{ObservedWorkload, Rollout};
use rollout_driver::JudgeRegistry;
use rollout_sim::log::human_duration;
use rollout_sim::{Outcome, Scenario, SimInput, SimReport, simulate};

use crate::CliError;
use crate::docs::{self, Doc};
use crate::exit::Exit;

/// Examples after `rollout simulate --help`.
pub const EXAMPLES: &str = "Examples:
  rollout simulate                                   # the bundled canary in the healthy scenario
  rollout simulate --scenario error-spike --report timeline.html
  rollout simulate --scenario low-traffic --json     # the event log and timeline as JSON
  rollout simulate examples/scenarios/rollout.yaml --analysis examples/templates/error-ratio.yaml
  rollout simulate ROLLOUT.yaml --promote-after 1m    # act as a person at indefinite pauses
  rollout simulate examples/policy/rollout.yaml --analysis examples/scenarios/analysis.yaml --policy examples/policy/policy.yaml
  rollout simulate --scenario group --report group.html   # two Rollouts of one group, side by side
  rollout simulate examples/scenarios/group-rollouts.yaml --analysis examples/scenarios/analysis.yaml --scenario examples/scenarios/group.yaml";

/// The examples and the exit code of each outcome, so CI can gate on a simulation.
fn help() -> String {
    let codes: Vec<String> = Outcome::ALL
        .iter()
        .map(|o| format!("{} {}", Exit::of_outcome(*o).code(), o.as_str()))
        .collect();
    format!(
        "{EXAMPLES}\n\nThe exit status is the outcome, to gate CI on: {}; {} for bad input (rollout --help lists all codes).",
        codes.join(", "),
        Exit::Error.code()
    )
}

/// `rollout simulate` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = help())]
pub struct Args {
    /// The Rollout (it may also hold AnalysisTemplates; several Rollouts: a group).
    pub rollout: Option<PathBuf>,
    /// More Rollouts: all of them are simulated as one group on one clock (`rollout.io/group`).
    #[arg(value_name = "MORE_ROLLOUTS")]
    pub more: Vec<PathBuf>,
    /// AnalysisTemplate / ClusterAnalysisTemplate files.
    #[arg(long, value_name = "TEMPLATES.yaml")]
    pub analysis: Vec<PathBuf>,
    /// A scenario file, or a bundled one: healthy, error-spike, low-traffic, already-failing,
    /// deleted-config.
    #[arg(long, value_name = "SCENARIO")]
    pub scenario: Option<String>,
    /// Seed of the traffic model (default: the scenario's, else 1).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Print the event log and timeline as JSON instead of the live log.
    #[arg(long)]
    pub json: bool,
    /// Write a timeline chart: FILE.svg, or FILE.html with the event log.
    #[arg(long, value_name = "FILE")]
    pub report: Option<PathBuf>,
    /// More directories to search for judges by digest (plugins/dist is searched if present).
    #[arg(long, value_name = "DIR")]
    pub judges: Vec<PathBuf>,
    /// Act as a person running `promote` this long after an indefinite pause (e.g. 1m).
    #[arg(long, value_name = "DURATION")]
    pub promote_after: Option<String>,
    /// Files holding the Deployment a `workloadRef` Rollout points at, when it is not in the
    /// Rollout's file.
    #[arg(long, value_name = "FILE")]
    pub workload: Vec<PathBuf>,
    /// A trigger policy (`kind: RolloutPolicy`): the Rollout's `rollout.io/trigger` annotation
    /// picks its step profile, analysis mode and on-failure choice (overrides the scenario's).
    #[arg(long, value_name = "FILE")]
    pub policy: Option<PathBuf>,
    /// Refuse to simulate when the files have warnings (unknown fields), as `validate --strict`.
    #[arg(long)]
    pub strict: bool,
    /// Dry run: show what the controller would do to an empty cluster (the withheld actions,
    /// the `DryRun` condition) over three ticks, and that it does none of it.
    #[arg(long)]
    pub dry_run: bool,
}

/// Runs `rollout simulate`; the exit code says the outcome ([`Exit::of_outcome`]).
pub fn main(args: Args) -> Result<std::process::ExitCode, CliError> {
    if args.dry_run {
        let report = crate::simulate_dry::run(args.rollout.as_ref(), &args.workload)?;
        if args.json {
            let text = serde_json::to_string_pretty(&report).map_err(|e| CliError::new(e.to_string()))?;
            crate::outln!("{text}");
        } else {
            crate::outf!("{}", crate::simulate_dry::render(&report));
        }
        return Ok(Exit::Success.into());
    }
    let opts = Options {
        rollout: args.rollout,
        analysis: args.analysis,
        scenario: args.scenario,
        seed: args.seed,
        json: args.json,
        report: args.report,
        judges: args.judges,
        promote_after: args.promote_after,
        workload: args.workload,
        strict: args.strict,
        policy: args.policy,
    };
    if crate::simulate_group::wanted(&opts, &args.more)? {
        let report = crate::simulate_group::run(&opts, &args.more)?;
        return Ok(Exit::of_outcome(report.outcome).into());
    }
    let report = run(&opts)?;
    Ok(Exit::of_outcome(report.outcome).into())
}

/// The Rollout simulated when no file is given.
pub const DEFAULT_ROLLOUT: &str = include_str!("../../examples/scenarios/rollout.yaml");
/// Its AnalysisTemplate.
pub const DEFAULT_ANALYSIS: &str = include_str!("../../examples/scenarios/analysis.yaml");
/// Judge components compiled into the binary (file name in `plugins/dist`, bytes): the judges we
/// ship and the reference judge, so templates pinning them run from any directory. Only those a
/// template pins (by sha256) are compiled.
pub const BUNDLED_JUDGES: [(&str, &[u8]); 6] = [
    (
        "judge-error-ratio.wasm",
        include_bytes!("../../plugins/dist/judge-error-ratio.wasm"),
    ),
    (
        "judge-latency.wasm",
        include_bytes!("../../plugins/dist/judge-latency.wasm"),
    ),
    (
        "judge-threshold.wasm",
        include_bytes!("../../plugins/dist/judge-threshold.wasm"),
    ),
    (
        "judge-kayenta.wasm",
        include_bytes!("../../plugins/dist/judge-kayenta.wasm"),
    ),
    (
        "judge-two-deployment.wasm",
        include_bytes!("../../plugins/dist/judge-two-deployment.wasm"),
    ),
    (
        "rust-error-ratio.wasm",
        include_bytes!("../../plugins/dist/rust-error-ratio.wasm"),
    ),
];

/// Bundled scenarios by name.
pub const SCENARIOS: [(&str, &str); 5] = [
    ("healthy", include_str!("../../examples/scenarios/healthy.yaml")),
    (
        "error-spike",
        include_str!("../../examples/scenarios/error-spike.yaml"),
    ),
    (
        "low-traffic",
        include_str!("../../examples/scenarios/low-traffic.yaml"),
    ),
    (
        "already-failing",
        include_str!("../../examples/scenarios/already-failing.yaml"),
    ),
    (
        "deleted-config",
        include_str!("../../examples/scenarios/deleted-config.yaml"),
    ),
];

/// Providers a simulation answers (from the traffic model, and judges over it).
pub const SIMULATED_PROVIDERS: [&str; 2] = ["prometheus", "judge"];

/// Options of `rollout simulate`.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Rollout file (none: the bundled example).
    pub rollout: Option<PathBuf>,
    /// AnalysisTemplate files.
    pub analysis: Vec<PathBuf>,
    /// Scenario file or bundled scenario name.
    pub scenario: Option<String>,
    /// Seed override.
    pub seed: Option<u64>,
    /// Print the report as JSON instead of the live log.
    pub json: bool,
    /// Write a chart (`.svg`) or page (`.html`).
    pub report: Option<PathBuf>,
    /// Extra directories searched for judges.
    pub judges: Vec<PathBuf>,
    /// Simulate `promote` this long after an indefinite pause starts (overrides the scenario).
    pub promote_after: Option<String>,
    /// Files searched (after the Rollout's) for the object a `workloadRef` names.
    pub workload: Vec<PathBuf>,
    /// Warnings (unknown fields) are errors.
    pub strict: bool,
    /// Trigger policy file (overrides the scenario's policy).
    pub policy: Option<PathBuf>,
}

fn load_scenario(arg: Option<&str>) -> Result<Scenario, CliError> {
    let (label, text) = match arg {
        None => ("healthy".to_string(), SCENARIOS[0].1.to_string()),
        Some(name) => match SCENARIOS.iter().find(|(n, _)| *n == name) {
            Some((n, t)) => ((*n).to_string(), (*t).to_string()),
            None if Path::new(name).exists() => (name.to_string(), docs::read(Path::new(name))?),
            None => {
                let names: Vec<&str> = SCENARIOS.iter().map(|(n, _)| *n).collect();
                return Err(CliError::new(format!(
                    "scenario {name:?} is neither a file nor a bundled scenario ({})",
                    names.join(", ")
                )));
            }
        },
    };
    Scenario::from_yaml(&text).map_err(|e| CliError::new(format!("{label}: {e}")))
}

fn collect(
    label: &str,
    docs: &[Doc],
    rollout: &mut Option<Rollout>,
    templates: &mut Vec<AnalysisTemplate>,
) -> Result<(), CliError> {
    for d in docs {
        match d.kind.as_str() {
            "Rollout" if rollout.is_none() => *rollout = Some(docs::typed(label, d)?),
            "AnalysisTemplate" | "ClusterAnalysisTemplate" => templates.push(docs::typed(label, d)?),
            _ => {}
        }
    }
    Ok(())
}

/// The object a `workloadRef` Rollout names, from the Rollout's file or the `--workload` files
/// (`None` when it is in neither: the simulation says so).
fn find_workload(opts: &Options, rollout: &Rollout) -> Result<Option<ObservedWorkload>, CliError> {
    let Some(reference) = &rollout.spec.workload_ref else {
        return Ok(None);
    };
    for path in opts.rollout.iter().chain(&opts.workload) {
        for d in docs::load(path)? {
            let manifest = serde_json::to_value(&d.value)
                .map_err(|e| CliError::new(format!("{}: document {}: {e}", path.display(), d.index)))?;
            if let Some(workload) = rollout_sim::adapters::referenced_workload(reference, &manifest) {
                return Ok(Some(workload));
            }
        }
    }
    Ok(None)
}

/// Template names a Rollout references (background and step analyses), with cluster scope.
fn referenced_templates(ro: &Rollout) -> Vec<(String, bool)> {
    let mut out = Vec::new();
    if let Some(c) = ro.canary() {
        if let Some(a) = &c.analysis {
            out.extend(
                a.analysis
                    .templates
                    .iter()
                    .map(|t| (t.template_name.clone(), t.cluster_scope)),
            );
        }
        for s in ro.steps() {
            if let Some(a) = &s.analysis {
                out.extend(
                    a.templates
                        .iter()
                        .map(|t| (t.template_name.clone(), t.cluster_scope)),
                );
            }
        }
    }
    out
}

pub(crate) async fn judges(
    opts: &Options,
    templates: &[AnalysisTemplate],
) -> Result<Arc<dyn JudgeRegistry>, CliError> {
    let host =
        JudgeHost::new(HostConfig::default()).map_err(|e| CliError::new(format!("judge host: {e}")))?;
    let mut dirs = opts.judges.clone();
    let local = PathBuf::from("plugins/dist");
    if local.is_dir() {
        dirs.push(local);
    }
    let pinned: Vec<String> = templates
        .iter()
        .flat_map(|t| &t.spec.metrics)
        .filter_map(|m| m.provider.judge.as_ref())
        .map(|j| j.sha256.to_ascii_lowercase())
        .collect();
    let mut bundled = Vec::new();
    for (file, bytes) in BUNDLED_JUDGES {
        if pinned.contains(&sha256_hex(bytes)) {
            let judge = host
                .load_bytes(bytes, &LoadOptions::default())
                .map_err(|e| CliError::new(format!("bundled judge {file}: {e}")))?;
            bundled.push(judge);
        }
    }
    let registry = WasmJudges::new(host, dirs.clone());
    for judge in bundled {
        registry.insert(judge);
    }
    // Every judge the templates pin must be found (and match its digest) before simulating.
    for t in templates {
        for m in &t.spec.metrics {
            if let Some(j) = &m.provider.judge {
                registry.lookup(&j.name, &j.sha256).await.map_err(|e| {
                    let searched: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
                    CliError::new(format!(
                        "metric {:?} of template {:?}: {e} (searched the bundled judges{}{})",
                        m.name,
                        t.metadata.name.clone(),
                        if searched.is_empty() { "" } else { " and " },
                        searched.join(", ")
                    ))
                })?;
            }
        }
    }
    Ok(Arc::new(registry))
}

/// A `--report` file, checked before anything is simulated.
struct Chart<'a> {
    path: &'a Path,
    html: bool,
}

impl<'a> Chart<'a> {
    /// `FILE.svg`, `FILE.html` or `FILE.htm` in a directory that exists.
    fn new(path: &'a Path) -> Result<Self, CliError> {
        let html = match path.extension().and_then(|e| e.to_str()) {
            Some("svg") => false,
            Some("html" | "htm") => true,
            _ => {
                return Err(CliError::new(format!(
                    "--report {}: use a .svg or .html file name",
                    path.display()
                )));
            }
        };
        let dir = path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        if !dir.is_dir() {
            return Err(CliError::new(format!(
                "--report {}: directory {} does not exist",
                path.display(),
                dir.display()
            )));
        }
        Ok(Chart { path, html })
    }

    fn write(&self, report: &SimReport) -> Result<(), CliError> {
        let text = if self.html {
            rollout_sim::report::html(report)
        } else {
            rollout_sim::report::svg(report)
        };
        std::fs::write(self.path, text)
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", self.path.display())))
    }
}

/// Runs the command; returns the report. Arguments are checked before anything is simulated.
pub fn run(opts: &Options) -> Result<SimReport, CliError> {
    crate::validate::check_before_run(opts.rollout.as_deref(), &opts.analysis, opts.strict)?;
    let chart = opts.report.as_deref().map(Chart::new).transpose()?;
    let mut rollout = None;
    let mut templates = Vec::new();
    match &opts.rollout {
        None => {
            collect(
                "bundled rollout",
                &docs::parse("bundled rollout", DEFAULT_ROLLOUT)?,
                &mut rollout,
                &mut templates,
            )?;
            if opts.analysis.is_empty() {
                collect(
                    "bundled analysis",
                    &docs::parse("bundled analysis", DEFAULT_ANALYSIS)?,
                    &mut rollout,
                    &mut templates,
                )?;
            }
        }
        Some(path) => collect(
            &path.display().to_string(),
            &docs::load(path)?,
            &mut rollout,
            &mut templates,
        )?,
    }
    for path in &opts.analysis {
        collect(
            &path.display().to_string(),
            &docs::load(path)?,
            &mut None,
            &mut templates,
        )?;
    }
    let rollout = rollout.ok_or_else(|| {
        CliError::new(format!(
            "{}: no document of kind Rollout",
            opts.rollout
                .as_ref()
                .map_or("input".into(), |p| p.display().to_string())
        ))
    })?;
    for (name, cluster) in referenced_templates(&rollout) {
        let kind = if cluster {
            "ClusterAnalysisTemplate"
        } else {
            "AnalysisTemplate"
        };
        let found = templates
            .iter()
            .any(|t| t.metadata.name == *name && t.kind.as_deref().unwrap_or("AnalysisTemplate") == kind);
        if !found {
            return Err(CliError::new(format!(
                "the Rollout references {kind} {name:?}, which is not in the given files (pass it with --analysis FILE)"
            )));
        }
    }
    let referenced = referenced_templates(&rollout);
    let used = templates
        .iter()
        .filter(|t| referenced.iter().any(|(name, _)| t.metadata.name == *name));
    for t in used {
        for m in &t.spec.metrics {
            if let Some(name) = m.provider.name().filter(|n| !SIMULATED_PROVIDERS.contains(n)) {
                return Err(CliError::new(format!(
                    "metric {:?} of template {:?} uses the {name:?} provider; a simulation provides only {}",
                    m.name,
                    t.metadata.name.clone(),
                    SIMULATED_PROVIDERS.join(" and ")
                )));
            }
        }
    }
    let mut scenario = load_scenario(opts.scenario.as_deref())?;
    if let Some(path) = &opts.policy {
        scenario.policy = Some(crate::policy::load(path)?);
    }
    if let Some(d) = &opts.promote_after {
        scenario.promote_paused_after = Some(d.clone());
        scenario
            .validate()
            .map_err(|e| CliError::new(format!("--promote-after: {e}")))?;
    }
    let seed = opts.seed.or(scenario.seed).unwrap_or(1);
    let workload = find_workload(opts, &rollout)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::new(format!("cannot start the async runtime: {e}")))?;
    let report = runtime.block_on(async {
        let judges = judges(opts, &templates).await?;
        let input = SimInput {
            rollout,
            templates,
            scenario,
            seed,
            judges,
            workload,
        };
        let quiet = opts.json;
        if !quiet {
            crate::outln!(
                "simulating rollout {:?}, scenario {:?} (seed {seed})",
                input.rollout.metadata.name,
                input.scenario.name
            );
            if description_applies(opts) && !input.scenario.description.is_empty() {
                crate::outln!("  {}", input.scenario.description);
            }
            crate::outln!("  {}", environment(&input.scenario));
        }
        let mut sink = |e: &rollout_sim::LogEvent| {
            if !quiet {
                crate::out(e.line());
            }
        };
        simulate(input, &mut sink)
            .await
            .map_err(|e| CliError::new(format!("simulation: {e}")))
    })?;
    if let Some(chart) = &chart {
        chart.write(&report)?;
    }
    if opts.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| CliError::new(format!("JSON: {e}")))?;
        crate::outln!("{text}");
    } else {
        print_summary(&report, opts.report.as_deref());
    }
    Ok(report)
}

/// A bundled scenario's description tells what the bundled Rollout and analysis do in it; for any
/// other Rollout or templates only its environment applies.
fn description_applies(opts: &Options) -> bool {
    let bundled_scenario = opts
        .scenario
        .as_deref()
        .is_none_or(|name| SCENARIOS.iter().any(|(bundled, _)| *bundled == name));
    !bundled_scenario || (opts.rollout.is_none() && opts.analysis.is_empty())
}

/// The scenario's traffic, error rates and faults in one line.
fn environment(s: &Scenario) -> String {
    let faults = match s.faults.len() {
        0 => "no faults".to_string(),
        1 => "1 fault".to_string(),
        n => format!("{n} faults"),
    };
    format!(
        "environment: {} requests/s; stable {:.1}% errors, canary {:.1}% errors; {faults}",
        s.traffic.requests_per_second,
        s.stable.error_rate * 100.0,
        s.canary.error_rate * 100.0
    )
}

fn print_summary(r: &SimReport, chart: Option<&Path>) {
    let measurements = r
        .events
        .iter()
        .filter(|e| matches!(e.kind, rollout_sim::log::EventKind::Measurement { .. }))
        .count();
    crate::out(String::new());
    crate::outln!("outcome:   {}", r.outcome.as_str());
    crate::outln!("duration:  {} of simulated time", human_duration(r.duration_secs));
    crate::outln!("why:       {}", r.reason);
    crate::outln!("analysis:  {measurements} measurement(s)");
    crate::outln!("cost:      {}", r.cost.text());
    if r.pod_seconds.baseline > 0.0 {
        crate::outln!(
            "baseline:  {:.0} pod-seconds for the baseline arm ({:.0} pod-seconds in all)",
            r.pod_seconds.baseline,
            r.pod_seconds.total
        );
    }
    if let Some(p) = chart {
        crate::outln!("chart:     {}", p.display());
    }
}
