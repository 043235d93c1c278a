//! The exit codes of every `rollout` subcommand, in one place: the top-level `--help` prints
//! [`table`], README.md's "Exit codes" section shows the same rows, and a test keeps them equal.

use std::process::ExitCode;

use rollout_sim::Outcome;

/// How a `rollout` command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Done: `simulate` promoted, `validate` found nothing, any other command succeeded.
    /// `fleet simulate` and `fleet status` exit with it whatever the plan decided (a halt
    /// included): the decision is in their output, like `decision:` or the JSON's `decision`.
    Success,
    /// `validate` found problems in the files.
    Invalid,
    /// A usage or input error: bad arguments, unreadable or invalid files, an unreachable cluster.
    Error,
    /// `simulate`: the update was aborted and traffic went back to the stable version; `judge run`:
    /// the verdict is Failed.
    Aborted,
    /// `simulate`: the rollout paused for a person (an Inconclusive analysis, or an indefinite pause
    /// without `--promote-after`); `judge run`: the verdict is Inconclusive.
    Paused,
    /// `simulate`: the rollout became Degraded without an abort (e.g. its progress deadline passed).
    Degraded,
    /// `simulate`: the scenario's `maxDuration` passed before an outcome; `revert`: the Deployment
    /// did not become available within `--timeout` (the Rollout was left in place).
    TimedOut,
    /// `migrate`: a ResourceQuota would refuse the pods the hand-over adds (with `--apply`:
    /// nothing applied).
    QuotaRefused,
}

/// Every code in order, for the table.
pub const ALL: [Exit; 8] = [
    Exit::Success,
    Exit::Invalid,
    Exit::Error,
    Exit::Aborted,
    Exit::Paused,
    Exit::Degraded,
    Exit::TimedOut,
    Exit::QuotaRefused,
];

impl Exit {
    /// The process exit status.
    pub const fn code(self) -> u8 {
        match self {
            Exit::Success => 0,
            Exit::Invalid => 1,
            Exit::Error => 2,
            Exit::Aborted => 3,
            Exit::Paused => 4,
            Exit::Degraded => 5,
            Exit::TimedOut => 6,
            Exit::QuotaRefused => 7,
        }
    }

    /// One line for the table.
    pub const fn meaning(self) -> &'static str {
        match self {
            Exit::Success => "success; simulate: promoted",
            Exit::Invalid => "validate: problems found",
            Exit::Error => "usage or input error (one `error:` line on stderr)",
            Exit::Aborted => "simulate: aborted, traffic back to stable; judge run: Failed",
            Exit::Paused => {
                "simulate: paused for a person (inconclusive analysis, or an indefinite pause without \
                 --promote-after); judge run: Inconclusive"
            }
            Exit::Degraded => "simulate: degraded without an abort (e.g. progress deadline exceeded)",
            Exit::TimedOut => {
                "simulate: the scenario's maxDuration passed first; revert: the Deployment was not available \
                 within --timeout (the Rollout is left in place)"
            }
            Exit::QuotaRefused => {
                "migrate: a ResourceQuota would refuse the hand-over's peak (--apply: nothing applied)"
            }
        }
    }

    /// The code a simulation's outcome exits with.
    pub const fn of_outcome(outcome: Outcome) -> Exit {
        match outcome {
            Outcome::Promoted => Exit::Success,
            Outcome::Aborted => Exit::Aborted,
            Outcome::Paused => Exit::Paused,
            Outcome::Degraded => Exit::Degraded,
            Outcome::TimedOut => Exit::TimedOut,
        }
    }
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> Self {
        ExitCode::from(e.code())
    }
}

/// The table shown at the end of `rollout --help` (README.md's "Exit codes" section shows the same
/// rows; `tests/docs_commands.rs` keeps them equal).
pub fn table() -> String {
    let rows: Vec<String> = ALL
        .iter()
        .map(|e| format!("  {}  {}", e.code(), e.meaning()))
        .collect();
    format!("Exit codes:\n{}", rows.join("\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_lists_every_code_once_in_order() {
        let table = table();
        assert!(
            table.starts_with("Exit codes:\n  0  success; simulate: promoted\n  1  "),
            "{table}"
        );
        assert_eq!(table.lines().count(), ALL.len() + 1);
        let mut codes: Vec<u8> = ALL.iter().map(|e| e.code()).collect();
        codes.dedup();
        assert_eq!(codes, (0..8).collect::<Vec<u8>>());
    }

    #[test]
    fn each_outcome_has_its_own_code_and_only_promoted_is_zero() {
        let codes: Vec<u8> = Outcome::ALL.iter().map(|o| Exit::of_outcome(*o).code()).collect();
        assert_eq!(codes, [0, 3, 4, 5, 6]);
    }
}
