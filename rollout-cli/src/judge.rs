//! `rollout judge inspect|run`, on analysis-host's library functions, and how `judge run` exits
//! for each answer of the judge.

use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use analysis_host::LoadOptions;
use analysis_host::cli::{RunOptions, RunReport, inspect, run as run_judge};
use analysis_host::json::phase_name;
use rollout_core::analysis::judge::{JudgeVerdict, VerdictPhase};

use crate::CliError;
use crate::exit::Exit;

/// `rollout judge` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Show a judge's digest, interface, imports and describe().
    #[command(after_help = "Examples:
  rollout judge inspect plugins/dist/judge-error-ratio.wasm
  rollout judge inspect plugins/dist/judge-latency.wasm      # its config schema lists every field")]
    Inspect {
        /// The component (.wasm).
        file: PathBuf,
    },
    /// Evaluate a judge once on an input and show its verdict; the exit code is the verdict.
    #[command(after_help = run_help())]
    Run(RunArgs),
}

/// Arguments of `rollout judge run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// The judge component.
    #[arg(value_name = "JUDGE.wasm")]
    judge: PathBuf,
    /// The evaluation input (JSON, see below), or - for stdin.
    #[arg(value_name = "INPUT.json")]
    input: String,
    /// Print the whole report as JSON, with the judge's state in base64.
    #[arg(long)]
    json: bool,
    /// Write the state the judge returned (its bytes) to FILE, for --state on the next run.
    #[arg(long, value_name = "FILE")]
    state_out: Option<PathBuf>,
    /// Resume from the state in FILE (written by --state-out) instead of the input's "state".
    #[arg(long, value_name = "FILE")]
    state: Option<PathBuf>,
    /// Refuse to run unless the component has this sha256.
    #[arg(long, value_name = "HEX")]
    sha256: Option<String>,
}

/// How `judge run` exits for each phase of the verdict, with the line its `--help` shows. A judge
/// that could not run, or answered its own `err(...)`, exits like an Error verdict.
const RUN_EXITS: [(VerdictPhase, Exit, &str); 4] = [
    (VerdictPhase::Successful, Exit::Success, "Successful"),
    (
        VerdictPhase::Error,
        Exit::Error,
        "Error: the config or input is invalid, or the judge could not run (one `error:` line on stderr)",
    ),
    (
        VerdictPhase::Failed,
        Exit::Aborted,
        "Failed (an analysis would abort the rollout)",
    ),
    (
        VerdictPhase::Inconclusive,
        Exit::Paused,
        "Inconclusive (an analysis would pause the rollout)",
    ),
];

/// The exit code of `judge run` when the judge answers `phase`.
pub fn exit_of(phase: VerdictPhase) -> Exit {
    RUN_EXITS
        .iter()
        .find(|(p, _, _)| *p == phase)
        .map_or(Exit::Error, |(_, exit, _)| *exit)
}

/// A shipped input for the shipped judges (`judge run --help` runs it in its examples).
pub const SAMPLE_INPUT: &str = "examples/judges/error-ratio-input.json";

/// The text after `judge run --help`: examples, the input format and the exit codes.
fn run_help() -> String {
    let exits: Vec<String> = RUN_EXITS
        .iter()
        .map(|(_, exit, meaning)| format!("  {}  {meaning}", exit.code()))
        .collect();
    format!(
        "Examples:
  rollout judge run plugins/dist/judge-error-ratio.wasm {SAMPLE_INPUT}
  rollout judge run plugins/dist/judge-error-ratio.wasm {SAMPLE_INPUT} --json --state-out state.bin

INPUT.json is one evaluation's input, with the field names of the WIT (analysis-sdk/wit/judge.wit):
  {{\"metric\": \"error-ratio\", \"now-ms\": 1700000600000,
   \"series\": [{{\"name\": \"canary\", \"ratios\": [{{\"time-ms\": 1700000060000, \"numerator\": 12, \"denominator\": 1000}}]}},
              {{\"name\": \"stable\", \"points\": [{{\"time-ms\": 1700000060000, \"value\": 0.25}}],
               \"buckets\": [{{\"upper-bound\": 0.5, \"count\": 980}}]}}],
   \"weights\": [{{\"time-ms\": 1700000000000, \"canary-weight\": 20}}],
   \"args\": [{{\"name\": \"min-requests\", \"value\": \"100\"}}],
   \"config\": \"{{\\\"tolerance\\\": 0.25}}\", \"state\": null}}
Only \"metric\" is required; lists default to empty, \"config\" (the judge's JSON config, as text) to
\"\", \"state\" (base64) to null. A complete input ships in {SAMPLE_INPUT}.

The state a judge returns is shown by its size and sha256; --json prints its bytes in base64 and
--state-out FILE writes them, for --state FILE on the next evaluation.

Exit codes (the judge's verdict):
{}",
        exits.join("\n")
    )
}

/// Runs `rollout judge ...`.
pub fn main(command: Command) -> Result<ExitCode, CliError> {
    match command {
        Command::Inspect { file } => {
            crate::outf!("{}", inspect_cmd(&file)?);
            Ok(Exit::Success.into())
        }
        Command::Run(args) => run_cmd(&args).map(ExitCode::from),
    }
}

/// `rollout judge inspect FILE`: digest, interface, imports and `describe()`.
pub fn inspect_cmd(path: &Path) -> Result<String, CliError> {
    let i = inspect(path).map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    let mut out = format!(
        "file:     {}\nsha256:   {}\nsize:     {} bytes\nexports:  {}\nimports:  {}\n",
        path.display(),
        i.component.sha256,
        i.component.size_bytes,
        i.component.exports.join(", "),
        if i.component.imports.is_empty() {
            "-".to_string()
        } else {
            i.component.imports.join(", ")
        }
    );
    match (&i.info, &i.load_error) {
        (Some(info), _) => out.push_str(&format!(
            "judge:    {} {}\nconfig:   {}\n",
            info.name,
            info.version,
            if info.config_schema.is_empty() {
                "-"
            } else {
                &info.config_schema
            }
        )),
        (None, Some(e)) => out.push_str(&format!("loads:    no: {e}\n")),
        (None, None) => {}
    }
    Ok(out)
}

/// `rollout judge run JUDGE.wasm INPUT.json`: one evaluation, printed for a person (or as JSON);
/// the exit code is the verdict's ([`exit_of`]). An Error verdict or the judge's own error is
/// printed and then returned as the error.
pub fn run_cmd(args: &RunArgs) -> Result<u8, CliError> {
    let input_json = if args.input == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::new(format!("cannot read the input from stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(&args.input)
            .map_err(|e| CliError::new(format!("cannot read {}: {e}", args.input)))?
    };
    let state = args
        .state
        .as_ref()
        .map(|f| std::fs::read(f).map_err(|e| CliError::new(format!("cannot read {}: {e}", f.display()))))
        .transpose()?;
    let opts = RunOptions {
        load: LoadOptions {
            sha256: args.sha256.clone(),
            allow_wasi: false,
        },
        state,
        ..RunOptions::default()
    };
    let report = run_judge(&args.judge, &input_json, &opts)
        .map_err(|e| CliError::new(format!("{}: {e}", args.judge.display())))?;
    if let (Some(file), Some(state)) = (&args.state_out, report.state()) {
        std::fs::write(file, state)
            .map_err(|e| CliError::new(format!("cannot write {}: {e}", file.display())))?;
    }
    if args.json {
        let text = serde_json::to_string_pretty(&report.to_json())
            .map_err(|e| CliError::new(format!("JSON: {e}")))?;
        crate::outln!("{text}");
    } else {
        crate::outf!("{}", human(&report, args.state_out.as_deref()));
    }
    match &report.evaluation.outcome {
        Err(message) => Err(CliError::new(format!("the judge answered an error: {message}"))),
        Ok(v) if v.phase == VerdictPhase::Error => Err(CliError::new(format!(
            "the judge answered Error ({}): {}",
            v.code, v.reason
        ))),
        Ok(v) => Ok(exit_of(v.phase).code()),
    }
}

/// The report for a person: the verdict, its details, the state by size and digest, the cost.
fn human(report: &RunReport, state_out: Option<&Path>) -> String {
    let mut out = format!(
        "judge:        {} {} (sha256 {})\n",
        report.info.name, report.info.version, report.sha256
    );
    match &report.evaluation.outcome {
        Ok(v) => verdict_lines(&mut out, v),
        Err(message) => {
            let _ = writeln!(out, "error:        {message}");
        }
    }
    let state = match (report.state_summary(), state_out) {
        (Some(s), Some(file)) => format!(
            "{} bytes, sha256 {} (written to {})",
            s.bytes,
            s.sha256,
            file.display()
        ),
        (Some(s), None) => format!(
            "{} bytes, sha256 {} (--json prints it in base64, --state-out FILE writes it)",
            s.bytes, s.sha256
        ),
        (None, _) => "none".to_string(),
    };
    let e = &report.evaluation;
    let _ = writeln!(out, "state:        {state}");
    let _ = writeln!(out, "instructions: {}", e.instructions);
    let _ = writeln!(out, "peak memory:  {} bytes", e.peak_memory_bytes);
    out
}

fn verdict_lines(out: &mut String, v: &JudgeVerdict) {
    let score = v.score.map(|s| format!(", score {s}")).unwrap_or_default();
    let _ = writeln!(out, "verdict:      {} ({}){score}", phase_name(v.phase), v.code);
    let _ = writeln!(out, "reason:       {}", v.reason);
    for d in &v.details {
        let mut line = format!("{}: {} {}", d.name, d.statistic, d.value);
        if let Some(e) = d.effect {
            let _ = write!(line, ", effect {e}");
        }
        if let Some((lo, hi)) = d.interval {
            let _ = write!(line, " [{lo}, {hi}]");
        }
        let _ = write!(line, ", samples {}/{}", d.samples.0, d.samples.1);
        if let Some(n) = d.samples_needed {
            let _ = write!(line, ", {n} more needed");
        }
        let _ = writeln!(out, "detail:       {line}");
        if !d.extra.is_empty() {
            let extra: Vec<String> = d.extra.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(out, "              {}", extra.join(" "));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_phase_has_its_exit_code_and_the_help_lists_them() {
        let codes: Vec<u8> = [
            VerdictPhase::Successful,
            VerdictPhase::Failed,
            VerdictPhase::Inconclusive,
            VerdictPhase::Error,
        ]
        .map(|p| exit_of(p).code())
        .to_vec();
        assert_eq!(codes, [0, 3, 4, 2]);
        let help = run_help();
        for (_, exit, meaning) in RUN_EXITS {
            assert!(help.contains(&format!("  {}  {meaning}", exit.code())), "{help}");
        }
    }
}
