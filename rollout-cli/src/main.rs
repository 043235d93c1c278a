//! The `rollout` command: simulate, plan and validate rollouts, run judges, run the controller.

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Progressive delivery as a library: simulate, plan and validate Argo-compatible Rollouts.
#[derive(Debug, Parser)]
#[command(name = "rollout", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse an Argo duration string and print it in seconds (smoke check of the core).
    Duration {
        /// A duration such as "10", "30s", "5m" or "1h30m".
        value: String,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Duration { value } => match rollout_core::common::parse_duration(&value) {
            Ok(d) => {
                println!("{}", d.as_secs_f64());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: {e}");
                ExitCode::FAILURE
            }
        },
    }
}
