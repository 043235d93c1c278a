//! The `rollout` command: simulate, plan and validate rollouts, inspect and run judges.

mod docs;
mod judge;
mod kube;
mod plan;
mod simulate;
mod validate;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Writes to stdout; a closed pipe (e.g. `| head`) ends the program quietly instead of panicking.
pub fn out_raw(text: &str) {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    if stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
        .is_err()
    {
        std::process::exit(0);
    }
}

/// Writes one line to stdout (see [`out_raw`]).
pub fn out(line: String) {
    out_raw(&format!("{line}\n"));
}

/// `println!` that does not panic on a closed pipe.
macro_rules! outln {
    ($($arg:tt)*) => { $crate::out(format!($($arg)*)) };
}
/// `print!` that does not panic on a closed pipe.
macro_rules! outf {
    ($($arg:tt)*) => { $crate::out_raw(&format!($($arg)*)) };
}
pub(crate) use {outf, outln};

/// A one-line error for the user.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct CliError(String);

impl CliError {
    /// An error with this message.
    pub fn new(message: impl Into<String>) -> Self {
        CliError(message.into())
    }
}

/// Progressive delivery as a library: simulate, plan and validate Argo-compatible Rollouts.
#[derive(Debug, Parser)]
#[command(name = "rollout", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a Rollout update in a simulated cluster with traffic, faults and real WASM judges.
    ///
    /// Without ROLLOUT.yaml, runs the bundled example (examples/scenarios/).
    Simulate {
        /// The Rollout (it may also hold AnalysisTemplates).
        rollout: Option<PathBuf>,
        /// AnalysisTemplate / ClusterAnalysisTemplate files.
        #[arg(long, value_name = "TEMPLATES.yaml")]
        analysis: Vec<PathBuf>,
        /// A scenario file, or a bundled one: healthy, error-spike, low-traffic, already-failing.
        #[arg(long, value_name = "SCENARIO")]
        scenario: Option<String>,
        /// Seed of the traffic model (default: the scenario's, else 1).
        #[arg(long)]
        seed: Option<u64>,
        /// Print the event log and timeline as JSON instead of the live log.
        #[arg(long)]
        json: bool,
        /// Write a timeline chart: FILE.svg, or FILE.html with the event log.
        #[arg(long, value_name = "FILE")]
        report: Option<PathBuf>,
        /// More directories to search for judges by digest (plugins/dist is searched if present).
        #[arg(long, value_name = "DIR")]
        judges: Vec<PathBuf>,
        /// Act as a person running `promote` this long after an indefinite pause (e.g. 1m).
        #[arg(long, value_name = "DURATION")]
        promote_after: Option<String>,
    },
    /// Show each canary step with its traffic weight and desired canary/stable replicas.
    Plan {
        /// The Rollout.
        rollout: PathBuf,
        /// Plan for this many replicas instead of spec.replicas.
        #[arg(long)]
        replicas: Option<i32>,
    },
    /// Check Rollout and AnalysisTemplate YAML; exit status 1 when anything is invalid.
    Validate {
        /// Files to check (every document in each).
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Inspect or run a WebAssembly judge.
    Judge {
        #[command(subcommand)]
        command: JudgeCommand,
    },
    /// Show a Rollout in the cluster: phase, step, weights, ReplicaSets and analysis runs.
    Get(crate::kube::GetArgs),
    /// Resume a paused Rollout, or skip the current step (--full: skip all steps).
    Promote(crate::kube::PromoteArgs),
    /// Abort a Rollout: scale the canary down and go back to the stable version.
    Abort(crate::kube::Target),
    /// Retry an aborted Rollout.
    Retry(crate::kube::Target),
    /// Pause a Rollout (spec.paused).
    Pause(crate::kube::Target),
    /// Run the controller for Argo-compatible Rollouts, or print its install manifests.
    Controller(crate::kube::ControllerArgs),
}

#[derive(Debug, Subcommand)]
enum JudgeCommand {
    /// Show a judge's digest, interface, imports and describe().
    Inspect {
        /// The component (.wasm).
        file: PathBuf,
    },
    /// Evaluate a judge once on a JSON input and print the verdict as JSON.
    Run {
        /// The component (.wasm).
        file: PathBuf,
        /// The input JSON file, or - for stdin.
        #[arg(long, value_name = "FILE")]
        input: String,
        /// Refuse to run unless the component has this sha256.
        #[arg(long)]
        sha256: Option<String>,
    },
}

fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Simulate {
            rollout,
            analysis,
            scenario,
            seed,
            json,
            report,
            judges,
            promote_after,
        } => {
            simulate::run(&simulate::Options {
                rollout,
                analysis,
                scenario,
                seed,
                json,
                report,
                judges,
                promote_after,
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan { rollout, replicas } => {
            crate::outf!("{}", plan::run(&rollout, replicas)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Validate { files } => {
            let paths: Vec<&std::path::Path> = files.iter().map(PathBuf::as_path).collect();
            let s = validate::run(&paths);
            for p in &s.problems {
                crate::outln!("{p}");
            }
            crate::outln!(
                "{} document(s) checked, {} skipped (other kinds), {} problem(s)",
                s.checked,
                s.skipped,
                s.problems.len()
            );
            Ok(if s.problems.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            })
        }
        Command::Judge { command } => {
            match command {
                JudgeCommand::Inspect { file } => crate::outf!("{}", judge::inspect_cmd(&file)?),
                JudgeCommand::Run { file, input, sha256 } => {
                    crate::outln!("{}", judge::run_cmd(&file, &input, sha256)?)
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Get(args) => crate::kube::get(&args).map(|()| ExitCode::SUCCESS),
        Command::Promote(args) => crate::kube::promote(&args).map(|()| ExitCode::SUCCESS),
        Command::Abort(t) => crate::kube::operate(crate::kube::Op::Abort, &t).map(|()| ExitCode::SUCCESS),
        Command::Retry(t) => crate::kube::operate(crate::kube::Op::Retry, &t).map(|()| ExitCode::SUCCESS),
        Command::Pause(t) => crate::kube::operate(crate::kube::Op::Pause, &t).map(|()| ExitCode::SUCCESS),
        Command::Controller(args) => crate::kube::controller(&args).map(|()| ExitCode::SUCCESS),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let line = e.to_string().replace('\n', " ");
            eprintln!("error: {line}");
            ExitCode::from(2)
        }
    }
}
