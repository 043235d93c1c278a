//! The `rollout` command: simulate, plan and validate rollouts, inspect and run judges.

mod docs;
mod exit;
mod fleet;
mod input;
mod judge;
mod kube;
mod migrate;
mod plan;
mod policy;
mod revert;
mod simulate;
mod simulate_dry;
mod simulate_group;
mod validate;
mod view;

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use exit::Exit;

/// mimalloc: glibc's malloc cost the controller ~30% of a steady-state reconcile (BENCHMARKS.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

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
#[command(name = "rollout", version, about, after_help = top_level_help())]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run a Rollout update in a simulated cluster with traffic, faults and real WASM judges.
    ///
    /// Without ROLLOUT.yaml, runs the bundled example (examples/scenarios/).
    Simulate(simulate::Args),
    /// Show each canary step with its traffic weight and desired canary/stable replicas.
    Plan(plan::Args),
    /// Check Rollout, AnalysisTemplate and RolloutPolicy YAML; exit status 1 when anything is invalid.
    Validate(validate::Args),
    /// Inspect or run a WebAssembly judge.
    #[command(after_help = "Examples:
  rollout judge inspect plugins/dist/judge-error-ratio.wasm
  rollout judge run plugins/dist/judge-error-ratio.wasm examples/judges/error-ratio-input.json")]
    Judge {
        #[command(subcommand)]
        command: judge::Command,
    },
    /// Show a Rollout in the cluster: phase, step, weights, ReplicaSets and analysis runs.
    #[command(after_help = crate::kube::GET_EXAMPLES)]
    Get(crate::kube::GetArgs),
    /// Resume a paused Rollout, or skip the current step (--full: skip all steps).
    #[command(after_help = crate::kube::PROMOTE_EXAMPLES)]
    Promote(crate::kube::PromoteArgs),
    /// Abort a Rollout: scale the canary down and go back to the stable version.
    #[command(after_help = crate::kube::ABORT_EXAMPLES)]
    Abort(crate::kube::Target),
    /// Retry an aborted Rollout.
    #[command(after_help = crate::kube::RETRY_EXAMPLES)]
    Retry(crate::kube::Target),
    /// Pause a Rollout (spec.paused).
    #[command(after_help = crate::kube::PAUSE_EXAMPLES)]
    Pause(crate::kube::Target),
    /// Run the controller for Argo-compatible Rollouts, or print its install manifests.
    #[command(after_help = crate::kube::CONTROLLER_EXAMPLES)]
    Controller(crate::kube::ControllerArgs),
    /// Release one version to many environments in waves: simulate a plan over a fleet.
    #[command(after_help = "Examples:
  rollout fleet simulate examples/fleet/plan.yaml")]
    Fleet {
        #[command(subcommand)]
        command: fleet::Command,
    },
    /// Write the Rollout that takes over a Deployment (workloadRef) and show the hand-over plan:
    /// replicas at each moment, ResourceQuota verdict.
    #[command(after_help = crate::migrate::MIGRATE_EXAMPLES)]
    Migrate(crate::migrate::MigrateArgs),
    /// Give a migrated Rollout's pods back to its Deployment, never below the availability floor.
    #[command(after_help = crate::revert::REVERT_EXAMPLES)]
    Revert(crate::revert::RevertArgs),
}

/// Examples and the exit codes, after the top-level `--help`.
fn top_level_help() -> String {
    format!(
        "Examples:
  rollout simulate --scenario error-spike            # a bundled canary, no cluster needed
  rollout simulate --scenario healthy --report timeline.html
  rollout validate examples/scenarios/rollout.yaml   # from the repository root
  rollout judge inspect plugins/dist/judge-error-ratio.wasm
  rollout get guestbook -n shop                      # against the kubeconfig's cluster

{}",
        exit::table()
    )
}

/// Runs one subcommand; each module's `main` maps its outcome to an exit code.
fn run(cli: Cli) -> Result<ExitCode, CliError> {
    match cli.command {
        Command::Simulate(args) => simulate::main(args),
        Command::Plan(args) => plan::main(&args),
        Command::Validate(args) => validate::main(&args),
        Command::Judge { command } => judge::main(command),
        Command::Get(args) => crate::kube::get(&args).map(|()| Exit::Success.into()),
        Command::Promote(args) => crate::kube::promote(&args).map(|()| Exit::Success.into()),
        Command::Abort(t) => crate::kube::operate(crate::kube::Op::Abort, &t).map(|()| Exit::Success.into()),
        Command::Retry(t) => crate::kube::operate(crate::kube::Op::Retry, &t).map(|()| Exit::Success.into()),
        Command::Pause(t) => crate::kube::operate(crate::kube::Op::Pause, &t).map(|()| Exit::Success.into()),
        Command::Controller(args) => crate::kube::controller(&args).map(|()| Exit::Success.into()),
        Command::Fleet { command } => fleet::main(command),
        Command::Migrate(args) => crate::migrate::main(&args),
        Command::Revert(args) => crate::revert::main(&args),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            let line = e.to_string().replace('\n', " ");
            eprintln!("error: {line}");
            Exit::Error.into()
        }
    }
}
