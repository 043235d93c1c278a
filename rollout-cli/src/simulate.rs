//! `rollout simulate`: run a Rollout through the core with the in-memory cluster, the traffic
//! model and real WebAssembly judges; stream the events, then print a summary.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use analysis_host::cache::sha256_hex;
use analysis_host::{HostConfig, JudgeHost, LoadOptions, WasmJudges};
use rollout_core::analysis::AnalysisTemplate;
use rollout_core::analysis::judge::JudgeRegistry;
use rollout_core::rollout::Rollout;
use rollout_sim::log::human_duration;
use rollout_sim::{Scenario, SimInput, SimReport, simulate};

use crate::CliError;
use crate::docs::{self, Doc};

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
pub const SCENARIOS: [(&str, &str); 4] = [
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

async fn judges(opts: &Options, templates: &[AnalysisTemplate]) -> Result<Arc<dyn JudgeRegistry>, CliError> {
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

/// Runs the command; returns the report.
pub fn run(opts: &Options) -> Result<SimReport, CliError> {
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
    if let Some(d) = &opts.promote_after {
        scenario.promote_paused_after = Some(d.clone());
        scenario
            .validate()
            .map_err(|e| CliError::new(format!("--promote-after: {e}")))?;
    }
    let seed = opts.seed.or(scenario.seed).unwrap_or(1);
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
        };
        let quiet = opts.json;
        if !quiet {
            crate::outln!(
                "simulating rollout {:?}, scenario {:?} (seed {seed})",
                input.rollout.metadata.name,
                input.scenario.name
            );
            if !input.scenario.description.is_empty() {
                crate::outln!("  {}", input.scenario.description);
            }
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
    if let Some(path) = &opts.report {
        let text = match path.extension().and_then(|e| e.to_str()) {
            Some("svg") => rollout_sim::report::svg(&report),
            Some("html") | Some("htm") => rollout_sim::report::html(&report),
            _ => {
                return Err(CliError::new(format!(
                    "--report {}: use a .svg or .html file name",
                    path.display()
                )));
            }
        };
        std::fs::write(path, text)
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
    }
    if opts.json {
        let text = serde_json::to_string_pretty(&report).map_err(|e| CliError::new(format!("JSON: {e}")))?;
        crate::outln!("{text}");
    } else {
        print_summary(&report, opts.report.as_deref());
    }
    Ok(report)
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
    if let Some(p) = chart {
        crate::outln!("chart:     {}", p.display());
    }
}
