//! `rollout fleet simulate PLAN.yaml`: a release plan over a simulated fleet (rollout-sim's
//! `fleet` module, the core's classification and gating), printed as text or JSON, with an
//! optional HTML report. Exits 0 whatever the plan decided (the decision is in the output);
//! input errors exit 2. `rollout fleet status` (the fleet view from real clusters) is in
//! `fleet/status.rs`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use rollout_sim::fleet::{FleetSpec, render_text, report, simulate_fleet};

use crate::exit::Exit;
use crate::{CliError, outf};

mod audit;
mod brake;
mod status;

/// `rollout fleet` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Release a plan's waves over a simulated fleet: classifications, the decision, its evidence.
    #[command(after_help = "Examples:
  rollout fleet simulate examples/fleet/plan.yaml                # a good release: every wave
  rollout fleet simulate examples/fleet/bad-release.yaml --report fleet.html
  rollout fleet simulate examples/fleet/bad-release.yaml --output json --seed 3

Exits 0 whatever the plan decided (read `decision:` or the JSON's `decision`); 2 on an input error.")]
    Simulate(SimulateArgs),
    /// The fleet view from real clusters: outcomes per release, classes, the decision, the
    /// degraded list.
    #[command(after_help = "Examples:
  rollout fleet status --prometheus http://prometheus:9090         # every release the controllers export
  rollout fleet status --prometheus http://prometheus:9090 --release v2.4.0 --plan examples/fleet/plan.yaml
  rollout fleet status --context eu-1 --context us-1 --output json # Rollouts read directly
  rollout fleet status --prometheus http://prometheus:9090 --halt --brake-context eu-1 --brake-context us-1

Reads `rollout_release_outcome` (and the duration and cost series) through Prometheus' HTTP API, or
the Rollouts of each kubeconfig context. --halt holds a halted release in the fleet brake (`rollout
fleet brake`). Exits 0 whatever the plan decided (read `decision:` or the
JSON's `decision`); 2 on an input error or when Prometheus or a cluster cannot be read.")]
    Status(status::StatusArgs),
    /// Every rollout update not promoted in a window, with cause and class, and the false-alarm
    /// and miss rates per AnalysisTemplate and judge; `audit mark RUN` records a review.
    #[command(after_help = audit::EXAMPLES)]
    Audit(audit::AuditArgs),
    /// Hold a release on this cluster (the fleet brake): Rollouts updating to a held image pause
    /// at their step with a FleetHold condition; `add`, `remove`, `list`.
    #[command(after_help = brake::EXAMPLES)]
    Brake(brake::BrakeArgs),
}

/// How the result is printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// For people: one line per wave, release, outcome or hold.
    Text,
    /// The whole result as JSON.
    Json,
}

/// Arguments of `rollout fleet simulate`.
#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The fleet simulation: the release plan, the fleet, the release and the analysis.
    #[arg(value_name = "PLAN.yaml")]
    pub plan: PathBuf,
    /// Write an HTML report (FILE.html).
    #[arg(long, value_name = "FILE.html")]
    pub report: Option<PathBuf>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// Seed (default: the plan's, else 1).
    #[arg(long)]
    pub seed: Option<u64>,
}

/// Runs a `rollout fleet` subcommand.
pub fn main(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Simulate(args) => simulate(&args).map(|()| Exit::Success.into()),
        Command::Status(args) => status::status(&args).map(|()| Exit::Success.into()),
        Command::Audit(args) => audit::main(&args),
        Command::Brake(args) => brake::main(&args).map(|()| Exit::Success.into()),
    }
}

/// A `--report` path: `.html`/`.htm` in a directory that exists.
fn check_report(path: &Path) -> Result<(), CliError> {
    if !matches!(path.extension().and_then(|e| e.to_str()), Some("html" | "htm")) {
        return Err(CliError::new(format!(
            "--report {}: use a .html file name",
            path.display()
        )));
    }
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
    Ok(())
}

fn simulate(args: &SimulateArgs) -> Result<(), CliError> {
    if let Some(path) = &args.report {
        check_report(path)?;
    }
    let label = args.plan.display();
    let text = crate::input::read_yaml(&args.plan)?;
    let spec = FleetSpec::from_yaml(&text).map_err(|e| CliError::new(format!("{label}: {e}")))?;
    let report = simulate_fleet(&spec, args.seed).map_err(|e| CliError::new(format!("{label}: {e}")))?;
    if let Some(path) = &args.report {
        std::fs::write(path, report::html(&report))
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", path.display())))?;
    }
    match args.output {
        Format::Json => {
            let json =
                serde_json::to_string_pretty(&report).map_err(|e| CliError::new(format!("JSON: {e}")))?;
            outf!("{json}\n");
        }
        Format::Text => {
            outf!("{}", render_text(&report));
            if let Some(path) = &args.report {
                outf!("report: {}\n", path.display());
            }
        }
    }
    Ok(())
}
