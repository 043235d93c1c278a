//! `rollout plan --rps`: per step, its duration, extra pods, the requests each arm sees, and the
//! probability that the configured judge (the shipped WASM component the AnalysisTemplate pins)
//! detects a regression by the step's end, from `rollout_sim::power`'s Monte-Carlo simulation.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use analysis_host::cache::sha256_hex;
use analysis_host::{HostConfig, JudgeHost, LoadOptions, LoadedJudge};
use rollout_core::analysis::{AnalysisTemplate, JudgeMetric, Metric};
use rollout_core::common::{IntOrString, parse_duration};
use rollout_core::rollout::Rollout;
use rollout_sim::log::human_duration;
use rollout_sim::power::{
    Cadence, Experiment, Flag, JudgeSetup, MAX_EVALUATIONS, MAX_PLAN_SECONDS, MAX_RUNS, POWER_TOLERANCE,
    PowerJudge, PowerPlan, PowerStep, Proposal, StepKind, TOO_SHORT, Traffic, flags, power, propose,
};

use super::Row;
use crate::CliError;
use crate::docs;
use crate::simulate::BUNDLED_JUDGES;

/// The window of counts a judge receives: the `judge` provider's range-query step (1m).
const WINDOW_S: u64 = 60;

/// The options of `plan --rps`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Requests per second.
    pub rps: f64,
    /// Stable's error rate, `0.5%` or `0.005`.
    pub error_rate: String,
    /// The regression, `2x` or `2`.
    pub regression: String,
    /// Files with AnalysisTemplates.
    pub judge_template: Vec<PathBuf>,
    /// Monte-Carlo runs.
    pub runs: u32,
    /// Seed.
    pub seed: u64,
    /// Per-minute error-rate variation (coefficient of variation).
    pub overdispersion: f64,
    /// Target detection power, `90%` or `0.9`.
    pub target: String,
    /// Also propose a cheaper step list.
    pub propose: bool,
}

/// The shipped WASM judge, as `rollout judge run` runs it.
struct WasmJudge(LoadedJudge);

impl PowerJudge for WasmJudge {
    fn evaluate(
        &self,
        input: &rollout_core::analysis::judge::JudgeInput,
    ) -> Result<rollout_core::analysis::judge::JudgeVerdict, String> {
        let e = self.0.evaluate(input).map_err(|e| e.to_string())?;
        e.outcome
    }
}

/// A number written as `N%` or as a fraction.
fn fraction(flag: &str, text: &str) -> Result<f64, CliError> {
    let t = text.trim();
    let v = match t.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().map(|v| v / 100.0),
        None => t.parse::<f64>(),
    };
    v.map_err(|_| CliError::new(format!("--{flag}: {text:?} is neither N% nor a number")))
}

/// A factor written as `2x` or `2`.
fn factor(text: &str) -> Result<f64, CliError> {
    let t = text.trim();
    t.strip_suffix(['x', 'X'])
        .unwrap_or(t)
        .trim()
        .parse::<f64>()
        .map_err(|_| CliError::new(format!("--regression: {text:?} is not a factor like 2x")))
}

fn int(field: &str, v: Option<&IntOrString>, default: i64) -> Result<i64, CliError> {
    match v {
        None => Ok(default),
        Some(IntOrString::Int(i)) => Ok(*i),
        Some(IntOrString::String(s)) => s.parse().map_err(|_| {
            CliError::new(format!(
                "{field}: {s:?} is not a number (args are not substituted in a plan)"
            ))
        }),
    }
}

fn seconds(field: &str, v: Option<&str>) -> Result<u64, CliError> {
    match v {
        None => Ok(0),
        Some(s) => parse_duration(s)
            .map(|d| d.as_secs())
            .map_err(|e| CliError::new(format!("{field}: {e}"))),
    }
}

/// The cadence of `metric` (`at`: its field path).
fn cadence(at: &str, m: &Metric) -> Result<Cadence, CliError> {
    let interval = m.interval.as_deref().ok_or_else(|| {
        CliError::new(format!(
            "{at}.interval: a judge metric in a plan needs an interval"
        ))
    })?;
    let nonneg = |f: &str, v: i64| {
        u32::try_from(v).map_err(|_| CliError::new(format!("{at}.{f}: must be >= 0, got {v}")))
    };
    Ok(Cadence {
        initial_delay_s: seconds(&format!("{at}.initialDelay"), m.initial_delay.as_deref())?,
        interval_s: seconds(&format!("{at}.interval"), Some(interval))?.max(1),
        count: match &m.count {
            None => None,
            c => Some(nonneg("count", int(&format!("{at}.count"), c.as_ref(), 0)?)?),
        },
        failure_limit: i32::try_from(int(&format!("{at}.failureLimit"), m.failure_limit.as_ref(), 0)?)
            .unwrap_or(i32::MAX),
        inconclusive_limit: nonneg(
            "inconclusiveLimit",
            int(
                &format!("{at}.inconclusiveLimit"),
                m.inconclusive_limit.as_ref(),
                0,
            )?,
        )?,
        consecutive_success_limit: nonneg(
            "consecutiveSuccessLimit",
            int(
                &format!("{at}.consecutiveSuccessLimit"),
                m.consecutive_success_limit.as_ref(),
                0,
            )?,
        )?,
        window_s: WINDOW_S,
    })
}

/// The judge metric of the plan: its template, its metric, and what the judge receives.
struct Chosen<'a> {
    template: &'a AnalysisTemplate,
    metric: &'a Metric,
    judge: &'a JudgeMetric,
    setup: JudgeSetup,
}

/// The first `judge` metric of `t` with canary and stable numerator/denominator series.
fn choose<'a>(t: &'a AnalysisTemplate, label: &str) -> Result<Chosen<'a>, CliError> {
    for (i, m) in t.spec.metrics.iter().enumerate() {
        let Some(j) = m.provider.judge.as_deref() else {
            continue;
        };
        let name = |key: &str, default: &str| {
            j.config
                .get(key)
                .and_then(|v| v.as_str())
                .unwrap_or(default)
                .to_string()
        };
        let canary = name("canary", "canary");
        let mut stable = name("stable", "stable");
        if !j.queries.contains_key(&stable) && j.queries.contains_key("baseline") {
            stable = "baseline".into();
        }
        let ratio = |s: &str| {
            j.queries
                .get(s)
                .is_some_and(|q| q.numerator.is_some() && q.denominator.is_some())
        };
        let at = format!("{label}: spec.metrics[{i}]");
        if !(ratio(&canary) && ratio(&stable)) {
            return Err(CliError::new(format!(
                "{at}.provider.judge.queries: a plan simulates error counts: it needs {canary:?} and {stable:?} with numerator and denominator"
            )));
        }
        return Ok(Chosen {
            template: t,
            metric: m,
            judge: j,
            setup: JudgeSetup {
                metric: m.name.clone(),
                config: if j.config.is_null() {
                    String::new()
                } else {
                    j.config.to_string()
                },
                canary,
                stable,
                cadence: cadence(&at, m)?,
            },
        });
    }
    Err(CliError::new(format!(
        "{label}: AnalysisTemplate {:?} has no judge metric: a plan simulates judges only",
        t.metadata.name.clone()
    )))
}

/// Loads the judge `j` pins: a bundled one, else a `.wasm` in `plugins/dist` with its digest.
fn load_judge(j: &JudgeMetric) -> Result<(LoadedJudge, String), CliError> {
    let want = j.sha256.to_ascii_lowercase();
    let host =
        JudgeHost::new(HostConfig::default()).map_err(|e| CliError::new(format!("judge host: {e}")))?;
    let opts = LoadOptions {
        sha256: Some(want.clone()),
        allow_wasi: false,
    };
    let load = |bytes: &[u8], from: String| {
        host.load_bytes(bytes, &opts)
            .map(|l| (l, from.clone()))
            .map_err(|e| CliError::new(format!("{from}: {e}")))
    };
    if let Some((file, bytes)) = BUNDLED_JUDGES.iter().find(|(_, b)| sha256_hex(b) == want) {
        return load(bytes, format!("bundled {file}"));
    }
    let dir = Path::new("plugins/dist");
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    files.sort();
    for f in files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "wasm"))
    {
        if let Ok(bytes) = std::fs::read(f)
            && sha256_hex(&bytes) == want
        {
            return load(&bytes, f.display().to_string());
        }
    }
    Err(CliError::new(format!(
        "judge {:?} sha256 {want}: not bundled and not in plugins/dist",
        j.name
    )))
}

/// Runs `plan --rps` on the Rollout in `path` (its `rows` already planned).
pub fn run(path: &Path, ro: &Rollout, rows: &[Row], replicas: i32, o: &Options) -> Result<String, CliError> {
    let traffic = Traffic {
        rps: o.rps,
        error_rate: fraction("error-rate", &o.error_rate)?,
        overdispersion: o.overdispersion,
    };
    let experiment = Experiment {
        regression: factor(&o.regression)?,
        runs: o.runs,
        seed: o.seed,
    };
    let target = fraction("target", &o.target)?;
    if !(0.0..=1.0).contains(&target) {
        return Err(CliError::new(format!(
            "--target: must be in [0%, 100%], got {}",
            o.target
        )));
    }
    let mut templates: Vec<(String, AnalysisTemplate)> = Vec::new();
    for file in std::iter::once(path).chain(o.judge_template.iter().map(PathBuf::as_path)) {
        let label = file.display().to_string();
        for d in docs::load(file)? {
            if matches!(d.kind.as_str(), "AnalysisTemplate" | "ClusterAnalysisTemplate") {
                templates.push((label.clone(), docs::typed(&label, &d)?));
            }
        }
    }
    let canary = ro
        .canary()
        .ok_or_else(|| CliError::new("plan needs a canary strategy"))?;
    // The Rollout's analyses: (field path, template name).
    let mut refs: Vec<(String, String)> = Vec::new();
    if let Some(a) = &canary.analysis {
        for (k, t) in a.analysis.templates.iter().enumerate() {
            refs.push((
                format!("spec.strategy.canary.analysis.templates[{k}]"),
                t.template_name.clone(),
            ));
        }
    }
    for (i, s) in ro.steps().iter().enumerate() {
        for (k, t) in s.analysis.iter().flat_map(|a| a.templates.iter().enumerate()) {
            refs.push((
                format!("spec.strategy.canary.steps[{i}].analysis.templates[{k}]"),
                t.template_name.clone(),
            ));
        }
    }
    let find = |name: &str| templates.iter().find(|(_, t)| t.metadata.name == name);
    let (chosen, source) = match refs.first() {
        Some((at, name)) => {
            let (label, t) = find(name).ok_or_else(|| {
                CliError::new(format!(
                    "{}: {at}.templateName: AnalysisTemplate {name:?} is in neither the Rollout's file nor --judge-template",
                    path.display()
                ))
            })?;
            (choose(t, label)?, "the Rollout's analysis")
        }
        None => {
            let (label, t) = templates.first().ok_or_else(|| {
                CliError::new(format!(
                    "{}: the Rollout has no analysis: pass --judge-template TEMPLATE.yaml to say which judge watches it",
                    path.display()
                ))
            })?;
            (
                choose(t, label)?,
                "--judge-template, as a background analysis from step 0",
            )
        }
    };
    let tname = chosen.template.metadata.name.clone();
    let uses = |names: Vec<&String>| names.contains(&&tname);
    let max_weight = f64::from(ro.max_traffic_weight().max(1));
    let mut steps = Vec::new();
    for (i, s) in ro.steps().iter().enumerate() {
        let share = rows
            .get(i)
            .map_or(0.0, |r| f64::from(r.weight) / max_weight)
            .clamp(0.0, 1.0);
        let kind = if let Some(p) = &s.pause {
            match p.duration_seconds() {
                None => StepKind::ManualPause,
                Some(d) => StepKind::Pause(u64::try_from(d).map_err(|_| {
                    CliError::new(format!(
                        "spec.strategy.canary.steps[{i}].pause.duration: not a duration"
                    ))
                })?),
            }
        } else if s
            .analysis
            .as_ref()
            .is_some_and(|a| uses(a.templates.iter().map(|t| &t.template_name).collect()))
        {
            StepKind::Analysis
        } else {
            StepKind::Instant
        };
        steps.push(PowerStep { share, kind });
    }
    let background_from = match &canary.analysis {
        Some(a) if uses(a.analysis.templates.iter().map(|t| &t.template_name).collect()) => {
            Some(usize::try_from(a.starting_step.unwrap_or(0).max(0)).unwrap_or(0))
        }
        Some(_) => None,
        None if refs.is_empty() => Some(0),
        None => None,
    };
    let plan = PowerPlan {
        steps,
        background_from,
    };
    let (judge, judge_from) = load_judge(chosen.judge)?;
    let wasm = WasmJudge(judge);
    let fail = |e: rollout_sim::power::PowerError| CliError::new(format!("plan --rps: {e}"));
    let report = power(&plan, &chosen.setup, traffic, experiment, &wasm).map_err(fail)?;
    let flagged = flags(&plan, &chosen.setup, &report, target);

    let c = &chosen.setup.cadence;
    let mut out = String::new();
    let info = wasm.0.info();
    let _ = writeln!(
        out,
        "judge: {} {} ({judge_from}), metric {:?} of AnalysisTemplate {tname:?} ({source}):\n  every {} after {}{}, failureLimit {}, inconclusiveLimit {}, consecutiveSuccessLimit {}; windows of {}",
        info.name,
        info.version,
        chosen.metric.name,
        human_duration(c.interval_s as f64),
        human_duration(c.initial_delay_s as f64),
        c.count.map(|n| format!(", count {n}")).unwrap_or_default(),
        c.failure_limit,
        c.inconclusive_limit,
        c.consecutive_success_limit,
        human_duration(c.window_s as f64),
    );
    let _ = writeln!(
        out,
        "traffic: {} rps, stable {:.3}% errors, canary {:.3}% ({}x){}; {} runs (seed {}), {} judge evaluations",
        o.rps,
        traffic.error_rate * 100.0,
        (traffic.error_rate * experiment.regression).min(1.0) * 100.0,
        experiment.regression,
        if traffic.overdispersion > 0.0 {
            format!(
                ", error rates varying {}x per minute (gamma, cv)",
                traffic.overdispersion
            )
        } else {
            String::new()
        },
        o.runs,
        o.seed,
        report.evaluations
    );
    let _ = writeln!(
        out,
        "{:<5} {:<28} {:>9} {:>6} {:>11} {:>11} {:>7} {:>7}",
        "STEP", "ACTION", "DURATION", "EXTRA", "CANARY-REQ", "STABLE-REQ", "DETECT", "FALSE"
    );
    for (i, s) in plan.steps.iter().enumerate() {
        let d = plan.duration_s(i, c);
        let duration = match s.kind {
            StepKind::ManualPause => "manual".to_string(),
            StepKind::Analysis => format!("≤{}", human_duration(d as f64)),
            _ => human_duration(d as f64),
        };
        let row = rows.get(i);
        let extra = row.map_or(0, |r| (r.canary + r.stable - replicas).max(0));
        let action = row.map_or(String::new(), |r| r.action.clone());
        let secs = d as f64;
        let _ = writeln!(
            out,
            "{:<5} {:<28} {:>9} {:>6} {:>11.0} {:>11.0} {:>6.1}% {:>6.1}%",
            i,
            action,
            duration,
            extra,
            o.rps * s.share * secs,
            o.rps * (1.0 - s.share) * secs,
            report.power(i, None) * 100.0,
            report.false_alarm(i) * 100.0
        );
    }
    let last = plan.steps.len().saturating_sub(1);
    let held: f64 = (0..plan.steps.len()).map(|i| report.held(i)).sum();
    let _ = writeln!(
        out,
        "DETECT: runs with the {}x regression failed by the judge by the end of the step; FALSE: the same at 1x (false alarms).{}\nBy promotion: detected in {:.1}% of runs, false alarms {:.1}%, held for a person (Inconclusive) {:.1}%.",
        experiment.regression,
        if plan.steps.iter().any(|s| s.kind == StepKind::Analysis) {
            " An analysis step lasts until its run ends: ≤ its count."
        } else {
            ""
        },
        report.power(last, None) * 100.0,
        report.false_alarm(last) * 100.0,
        held * 100.0
    );
    let describe = |i: usize| rows.get(i).map_or(String::new(), |r| r.action.clone());
    for f in &flagged {
        let _ = match f {
            Flag::TooShort { step, power } => writeln!(
                out,
                "flag: step {step} ({}) is too short to detect anything: {:.1}% by its end (< {:.0}%)",
                describe(*step),
                power * 100.0,
                TOO_SHORT * 100.0
            ),
            Flag::LongerThanNeeded {
                step,
                needed_s,
                duration_s,
            } => writeln!(
                out,
                "flag: step {step} ({}) is longer than needed: {:.0}% detection {} ({} would do)",
                describe(*step),
                target * 100.0,
                if *needed_s == 0 {
                    "before it starts".to_string()
                } else {
                    format!(
                        "{} into its {}",
                        human_duration(*needed_s as f64),
                        human_duration(*duration_s as f64)
                    )
                },
                human_duration(*needed_s as f64)
            ),
        };
    }
    let _ = writeln!(
        out,
        "bounds: at most {MAX_RUNS} runs, {} of plan per run, {MAX_EVALUATIONS} judge evaluations per simulation",
        human_duration(MAX_PLAN_SECONDS as f64)
    );
    if o.propose {
        match propose(&plan, &chosen.setup, traffic, experiment, &wasm, &report).map_err(fail)? {
            Some(p) => proposal(&mut out, &p, &plan, rows),
            None => {
                let _ = writeln!(
                    out,
                    "proposal: none: no cheaper step list keeps the final detection power of {:.1}% (within {:.0} points) on re-simulation",
                    report.power(last, None) * 100.0,
                    POWER_TOLERANCE * 100.0
                );
            }
        }
    }
    Ok(out)
}

/// A Go duration (`7m30s`, `1h`, `45s`), as a pause is written.
fn go_duration(secs: u64) -> String {
    let (h, m, s) = (secs / 3600, secs % 3600 / 60, secs % 60);
    let mut out = String::new();
    for (v, unit) in [(h, "h"), (m, "m"), (s, "s")] {
        if v > 0 {
            let _ = write!(out, "{v}{unit}");
        }
    }
    if out.is_empty() { "0s".to_string() } else { out }
}

/// Prints the proposed step list, each changed step with what it was.
fn proposal(out: &mut String, p: &Proposal, plan: &PowerPlan, rows: &[Row]) {
    let _ = writeln!(
        out,
        "proposal (re-simulated on the same seeds): detected in {:.1}% of runs by promotion (was {:.1}%), {} of pauses saved ({} candidates simulated):\nsteps:",
        p.power * 100.0,
        p.original_power * 100.0,
        go_duration(p.saved_s),
        p.tried
    );
    for (i, s) in p.steps.iter().enumerate() {
        let was = rows.get(i).map_or(String::new(), |r| r.action.clone());
        let before = plan.steps.get(i).map(|s| s.kind);
        let _ = match s.map(|s| s.kind) {
            None => writeln!(out, "  # dropped: {was}"),
            Some(StepKind::Pause(d)) if before != Some(StepKind::Pause(d)) => {
                writeln!(out, "  - pause: {{duration: {}}}   # was {was}", go_duration(d))
            }
            Some(StepKind::Pause(d)) => writeln!(out, "  - pause: {{duration: {}}}", go_duration(d)),
            Some(StepKind::ManualPause) => writeln!(out, "  - pause: {{}}"),
            Some(StepKind::Analysis) => writeln!(out, "  - analysis: ...   # step {i}, unchanged"),
            Some(StepKind::Instant) => writeln!(out, "  - {was}"),
        };
    }
}
