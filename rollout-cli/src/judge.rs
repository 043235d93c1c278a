//! `rollout judge inspect|run`, on analysis-host's library functions.

use std::io::Read as _;
use std::path::Path;

use analysis_host::LoadOptions;
use analysis_host::cli::{RunOptions, inspect, run as run_judge};

use crate::CliError;

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

/// `rollout judge run FILE --input JSON [--sha256 HEX]`: one evaluation, printed as JSON.
pub fn run_cmd(path: &Path, input: &str, sha256: Option<String>) -> Result<String, CliError> {
    let input_json = if input == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| CliError::new(format!("cannot read the input from stdin: {e}")))?;
        s
    } else {
        std::fs::read_to_string(input).map_err(|e| CliError::new(format!("cannot read {input}: {e}")))?
    };
    let opts = RunOptions {
        load: LoadOptions {
            sha256,
            allow_wasi: false,
        },
        ..RunOptions::default()
    };
    let report =
        run_judge(path, &input_json, &opts).map_err(|e| CliError::new(format!("{}: {e}", path.display())))?;
    serde_json::to_string_pretty(&report.to_json()).map_err(|e| CliError::new(format!("JSON: {e}")))
}
