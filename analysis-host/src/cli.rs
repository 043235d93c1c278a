//! The library side of `rollout judge inspect|run`.

use std::path::Path;

use rollout_core::analysis::judge::JudgeInfo;

use crate::host::{ComponentInfo, Evaluation, JudgeHost, LoadOptions};
use crate::{HostConfig, HostError, json};

/// What `rollout judge inspect` shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// Digest, size, exports and imports.
    pub component: ComponentInfo,
    /// `describe()` of the judge, when it loads under this host's rules (WASI allowed).
    pub info: Option<JudgeInfo>,
    /// Why it does not load, otherwise.
    pub load_error: Option<String>,
}

/// Reads a component and reports its interface, imports and digest, and whether it loads.
pub fn inspect(path: &Path) -> Result<Inspection, HostError> {
    let bytes = std::fs::read(path).map_err(|source| HostError::Io {
        path: path.display().to_string(),
        source,
    })?;
    let host = JudgeHost::new(HostConfig {
        max_concurrent: 2,
        ..HostConfig::default()
    })?;
    let component = host.component_info(&bytes)?;
    let opts = LoadOptions {
        sha256: None,
        allow_wasi: cfg!(feature = "wasi"),
    };
    let (info, load_error) = match host.load_bytes(&bytes, &opts) {
        Ok(judge) => (Some(judge.info().clone()), None),
        Err(e) => (None, Some(e.to_string())),
    };
    Ok(Inspection {
        component,
        info,
        load_error,
    })
}

/// Options of `rollout judge run`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RunOptions {
    /// Pin and WASI opt-in.
    pub load: LoadOptions,
    /// Limits (default: production limits).
    pub config: HostConfig,
    /// The judge state to resume from (what an earlier evaluation returned), replacing the
    /// input's `state`.
    pub state: Option<Vec<u8>>,
}

/// What `rollout judge run` prints.
#[derive(Debug, Clone, PartialEq)]
pub struct RunReport {
    /// `describe()` of the judge.
    pub info: JudgeInfo,
    /// sha256 of the component.
    pub sha256: String,
    /// Verdict (or the judge's error), instructions and peak memory.
    pub evaluation: Evaluation,
}

/// Size and digest of a judge state, for showing it without its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateSummary {
    /// Length in bytes.
    pub bytes: usize,
    /// Lower-case hex sha256 of the bytes.
    pub sha256: String,
}

impl RunReport {
    /// The state the judge returned, if it answered a verdict with one.
    pub fn state(&self) -> Option<&[u8]> {
        self.evaluation.outcome.as_ref().ok()?.state.as_deref()
    }

    /// Size and sha256 of [`RunReport::state`].
    pub fn state_summary(&self) -> Option<StateSummary> {
        self.state().map(|s| StateSummary {
            bytes: s.len(),
            sha256: crate::cache::sha256_hex(s),
        })
    }

    /// The report as JSON: `{"judge":…,"sha256":…,"verdict"|"error":…,"instructions":…,"peak-memory-bytes":…}`.
    /// The verdict's `state` is its bytes in standard base64 (`null` without a state).
    pub fn to_json(&self) -> serde_json::Value {
        use base64::Engine as _;
        let mut map = serde_json::Map::new();
        map.insert(
            "judge".into(),
            format!("{} {}", self.info.name, self.info.version).into(),
        );
        map.insert("sha256".into(), self.sha256.clone().into());
        if let serde_json::Value::Object(rest) = json::evaluation_to_json(&self.evaluation) {
            map.extend(rest);
        }
        if let Some(verdict) = map.get_mut("verdict").and_then(serde_json::Value::as_object_mut) {
            let state = self
                .state()
                .map(|s| base64::engine::general_purpose::STANDARD.encode(s));
            verdict.insert("state".into(), state.into());
        }
        serde_json::Value::Object(map)
    }
}

/// Loads the judge at `path` and evaluates it once on the JSON input (see [`json::parse_input`]),
/// with the state of `opts` if given.
pub fn run(path: &Path, input_json: &str, opts: &RunOptions) -> Result<RunReport, HostError> {
    let mut input = json::parse_input(input_json)?;
    if let Some(state) = &opts.state {
        input.state = Some(state.clone());
    }
    let host = JudgeHost::new(HostConfig {
        max_concurrent: 2,
        ..opts.config.clone()
    })?;
    let judge = host.load_file(path, &opts.load)?;
    let evaluation = judge.evaluate(&input)?;
    Ok(RunReport {
        info: judge.info().clone(),
        sha256: judge.sha256().to_string(),
        evaluation,
    })
}
