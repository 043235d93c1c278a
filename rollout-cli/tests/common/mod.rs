//! Running the `rollout` binary and reading what it printed, for the CLI tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// Exit codes (README.md, "Exit codes"; `rollout --help`).
pub const PROMOTED: i32 = 0;
/// `validate` found problems.
pub const INVALID: i32 = 1;
/// A usage or input error.
pub const ERROR: i32 = 2;
/// `simulate`: aborted.
pub const ABORTED: i32 = 3;
/// `simulate`: paused for a person.
pub const PAUSED: i32 = 4;
/// `simulate`: degraded.
pub const DEGRADED: i32 = 5;
/// `simulate`: timed out.
pub const TIMED_OUT: i32 = 6;

/// The bundled scenarios' directory.
pub fn scenarios() -> PathBuf {
    Path::new(ROOT).join("examples/scenarios")
}

/// Runs `rollout ARGS` in the temporary directory.
pub fn rollout(args: &[&str]) -> Output {
    rollout_in(&std::env::temp_dir(), args)
}

/// Runs `rollout ARGS` in `dir`.
pub fn rollout_in(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// A fresh scratch directory for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rollout-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Standard output as text.
pub fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).to_string()
}

/// Standard error as text.
pub fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).to_string()
}

/// The exit code, with the output when it is not `want`.
pub fn assert_exit(o: &Output, want: i32) {
    assert_eq!(
        o.status.code(),
        Some(want),
        "stdout:\n{}\nstderr:\n{}",
        stdout(o),
        stderr(o)
    );
}

/// Bad input: exit code 2, exactly one `error:` line on stderr, no panic.
pub fn assert_one_error_line(o: &Output, starts: &str) {
    assert_exit(o, ERROR);
    let err = stderr(o);
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(err.starts_with(&format!("error: {starts}")), "{err}");
    assert!(!err.contains("panicked"), "{err}");
}

/// The value after `key` in the summary (`outcome:`, `why:`, ...).
pub fn summary_line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(key))
        .map(str::trim)
        .unwrap_or_else(|| panic!("no {key} in\n{out}"))
}

/// The pod-template hash of the update in the bundled Rollout (runs are `guestbook-<hash>-2-<step>`).
pub fn canary_hash(out: &str) -> &str {
    out.lines()
        .find_map(|l| l.split_once("update applied: new pod-template hash "))
        .map(|(_, h)| h.trim())
        .unwrap_or_else(|| panic!("no update line in\n{out}"))
}
