//! `rollout plan`: each canary step with the desired canary/stable replicas and traffic weight,
//! from the core's pure replica functions; with `--rps`, the detection power of each step
//! ([`power`]).

mod power;

use std::path::Path;

use rollout_core::rollout::Rollout;
use rollout_core::rollout::replicas::{
    TrafficRoutedCanary, approximate_weighted_counts, resolve_surge_unavailable,
};

use crate::CliError;
use crate::{docs, validate};

/// One row of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    /// Step index (`None` for the final "promoted" row).
    pub step: Option<usize>,
    /// The step, e.g. `setWeight: 20`.
    pub action: String,
    /// Traffic weight to the canary (percent of maxTrafficWeight).
    pub weight: i32,
    /// Desired canary replicas.
    pub canary: i32,
    /// Desired stable replicas.
    pub stable: i32,
}

/// The plan of a Rollout at `replicas` (default: `spec.replicas`).
pub fn plan(ro: &Rollout, replicas: Option<i32>) -> Result<Vec<Row>, CliError> {
    let canary = ro.canary().ok_or_else(|| {
        CliError::new("plan needs a canary strategy (blue-green switches all traffic at promotion)")
    })?;
    let r = replicas.unwrap_or_else(|| ro.replicas());
    if r < 0 {
        return Err(CliError::new(format!("--replicas must be >= 0, got {r}")));
    }
    let max_weight = ro.max_traffic_weight();
    let routed = ro.has_traffic_routing();
    let (max_surge, _) =
        resolve_surge_unavailable(canary.max_surge.as_ref(), canary.max_unavailable.as_ref(), r);
    let mut weight = 0;
    let mut scale: Option<(Option<i32>, Option<i32>, bool)> = None;
    let mut rows = Vec::new();
    let counts = |weight: i32, scale: &Option<(Option<i32>, Option<i32>, bool)>| -> (i32, i32) {
        if routed {
            let (override_replicas, weight) = match scale {
                Some((Some(n), _, false)) => (Some(*n), weight),
                Some((None, Some(w), false)) => (None, *w),
                _ => (None, weight),
            };
            let t = TrafficRoutedCanary {
                replicas: r,
                max_weight,
                weight,
                override_replicas,
                dynamic_stable_scale: canary.dynamic_stable_scale,
                min_pods: canary.min_pods_per_replica_set,
                recorded: None,
                aborted: false,
            };
            t.counts()
        } else {
            approximate_weighted_counts(r, weight, max_weight, max_surge)
        }
    };
    for (i, s) in ro.steps().iter().enumerate() {
        if let Some(w) = s.set_weight {
            weight = w;
        }
        if let Some(cs) = &s.set_canary_scale {
            scale = Some((cs.replicas, cs.weight, cs.match_traffic_weight));
        }
        let (c, st) = counts(weight, &scale);
        rows.push(Row {
            step: Some(i),
            action: s.describe(),
            weight,
            canary: c,
            stable: st,
        });
    }
    rows.push(Row {
        step: None,
        action: "promoted".to_string(),
        weight: max_weight,
        canary: r,
        stable: 0,
    });
    Ok(rows)
}

/// Formats rows as an aligned table.
pub fn table(rows: &[Row], max_weight: i32) -> String {
    let mut out = format!(
        "{:<5} {:<34} {:>7} {:>7} {:>7}\n",
        "STEP", "ACTION", "WEIGHT", "CANARY", "STABLE"
    );
    for r in rows {
        let step = r.step.map_or("-".to_string(), |s| s.to_string());
        let weight = if max_weight == 100 {
            format!("{}%", r.weight)
        } else {
            format!("{}/{max_weight}", r.weight)
        };
        out.push_str(&format!(
            "{:<5} {:<34} {:>7} {:>7} {:>7}\n",
            step, r.action, weight, r.canary, r.stable
        ));
    }
    out
}

/// Examples after `rollout plan --help`.
const HELP: &str = "Examples:
  rollout plan examples/scenarios/rollout.yaml --replicas 10
  rollout plan --strict examples/scenarios/rollout.yaml      # unknown fields are errors
  rollout plan examples/plan/pauses.yaml --rps 20 --error-rate 1% --regression 2x --judge-template examples/templates/error-ratio.yaml --runs 20
  rollout plan examples/scenarios/rollout.yaml --judge-template examples/scenarios/analysis.yaml --rps 50 --error-rate 0.5% --runs 20 --propose

The file is validated first (as rollout validate does); any error is reported instead of a plan.

With --rps, each step also shows its duration, extra pods (above spec.replicas), the requests each
arm sees, and the probability that the judge detects the --regression by the end of the step
(DETECT) and fails a canary that is as good as stable (FALSE), by simulating --runs rollouts with
the shipped WASM judge the AnalysisTemplate pins (the Rollout's analysis, or --judge-template as a
background analysis). Steps too short to detect anything and pauses longer than needed to reach
--target are flagged; --propose prints a cheaper step list, re-simulated.";

/// `rollout plan` arguments.
#[derive(Debug, clap::Args)]
#[command(after_help = HELP)]
pub struct Args {
    /// The Rollout.
    pub rollout: std::path::PathBuf,
    /// Plan for this many replicas instead of spec.replicas.
    #[arg(long)]
    pub replicas: Option<i32>,
    /// Treat warnings (unknown fields) as errors.
    #[arg(long)]
    pub strict: bool,
    /// Traffic estimate, requests per second: simulate each step's detection power.
    #[arg(long)]
    pub rps: Option<f64>,
    /// Stable's error rate (`0.5%` or `0.005`).
    #[arg(long, default_value = "0.5%", requires = "rps")]
    pub error_rate: String,
    /// The regression to detect: the canary's error rate is this times stable's.
    #[arg(long, default_value = "2x", requires = "rps")]
    pub regression: String,
    /// Files with the AnalysisTemplates (and judge) to use; without analysis in the Rollout, the
    /// first template's judge metric watches the whole rollout as a background analysis.
    #[arg(long, value_name = "TEMPLATE.yaml", requires = "rps")]
    pub judge_template: Vec<std::path::PathBuf>,
    /// Monte-Carlo runs (each at the regression and at 1x, on the same seeds).
    #[arg(long, default_value_t = 200, requires = "rps")]
    pub runs: u32,
    /// Seed of the simulation.
    #[arg(long, default_value_t = 1, requires = "rps")]
    pub seed: u64,
    /// Per-minute variation of each version's error rate (coefficient of variation of a gamma
    /// factor; 0: binomial noise only). Production streams vary: try 0.3.
    #[arg(long, default_value_t = 0.0, requires = "rps")]
    pub overdispersion: f64,
    /// Detection power a step should reach (pauses reaching it well before their end are flagged).
    #[arg(long, default_value = "90%", requires = "rps")]
    pub target: String,
    /// Also propose a cheaper step list with the same final detection power (re-simulated).
    #[arg(long, requires = "rps")]
    pub propose: bool,
}

/// Runs `rollout plan`: validates the file (as `rollout validate` does, except for analysis
/// templates, which a plan does not use), then prints the plan.
pub fn main(args: &Args) -> Result<std::process::ExitCode, CliError> {
    let source = validate::Source::file(&args.rollout);
    validate::gate(
        std::slice::from_ref(&source),
        validate::References::Ignore,
        args.strict,
    )?;
    let mut out = run(&args.rollout, args.replicas)?;
    if let Some(rps) = args.rps {
        let o = power::Options {
            rps,
            error_rate: args.error_rate.clone(),
            regression: args.regression.clone(),
            judge_template: args.judge_template.clone(),
            runs: args.runs,
            seed: args.seed,
            overdispersion: args.overdispersion,
            target: args.target.clone(),
            propose: args.propose,
        };
        out.push_str(&run_power(&args.rollout, args.replicas, &o)?);
    }
    crate::outf!("{out}");
    Ok(std::process::ExitCode::SUCCESS)
}

/// The first Rollout document in `path`.
fn load_rollout(path: &Path) -> Result<Rollout, CliError> {
    let label = path.display().to_string();
    let docs = docs::load(path)?;
    let doc = docs
        .iter()
        .find(|d| d.kind == "Rollout")
        .ok_or_else(|| CliError::new(format!("{label}: no document of kind Rollout")))?;
    let ro: Rollout = docs::typed(&label, doc)?;
    Ok(ro)
}

/// The detection-power table of the Rollout in `path` (`plan --rps`).
pub fn run_power(path: &Path, replicas: Option<i32>, o: &power::Options) -> Result<String, CliError> {
    let ro = load_rollout(path)?;
    let rows = plan(&ro, replicas)?;
    power::run(path, &ro, &rows, replicas.unwrap_or_else(|| ro.replicas()), o)
}

/// Plans the Rollout in `path` and renders the table.
pub fn run(path: &Path, replicas: Option<i32>) -> Result<String, CliError> {
    let ro = load_rollout(path)?;
    let rows = plan(&ro, replicas)?;
    let strategy = if ro.has_traffic_routing() {
        "traffic-routed canary: the stable ReplicaSet stays at full size"
    } else {
        "basic canary: replicas split by weight, traffic follows pods"
    };
    Ok(format!(
        "Rollout {:?}, {} replicas, {strategy}\n{}",
        ro.metadata.name,
        replicas.unwrap_or_else(|| ro.replicas()),
        table(&rows, ro.max_traffic_weight())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rollout(routed: bool) -> Rollout {
        let mut canary = serde_json::json!({"steps": [
            {"setWeight": 20}, {"pause": {}}, {"setWeight": 50}, {"setCanaryScale": {"replicas": 3}}, {"setWeight": 90}
        ]});
        if routed {
            canary["trafficRouting"] = serde_json::json!({"nginx": {"stableIngress": "i"}});
            canary["canaryService"] = "c".into();
            canary["stableService"] = "s".into();
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "demo"},
            "spec": {"replicas": 10, "strategy": {"canary": canary}}
        }))
        .unwrap()
    }

    #[test]
    fn basic_canary_splits_replicas_by_weight() {
        let rows = plan(&rollout(false), None).unwrap();
        let got: Vec<(i32, i32, i32)> = rows.iter().map(|r| (r.weight, r.canary, r.stable)).collect();
        // Basic canary ignores setCanaryScale; counts follow the weight.
        assert_eq!(
            got,
            vec![
                (20, 2, 8),
                (20, 2, 8),
                (50, 5, 5),
                (50, 5, 5),
                (90, 9, 1),
                (100, 10, 0)
            ]
        );
    }

    #[test]
    fn traffic_routed_keeps_stable_full_and_honours_set_canary_scale() {
        let rows = plan(&rollout(true), Some(4)).unwrap();
        let got: Vec<(i32, i32, i32)> = rows.iter().map(|r| (r.weight, r.canary, r.stable)).collect();
        assert_eq!(
            got,
            vec![
                (20, 1, 4),
                (20, 1, 4),
                (50, 2, 4),
                (50, 3, 4),
                (90, 3, 4),
                (100, 4, 0)
            ]
        );
        let t = table(&rows, 100);
        assert!(t.starts_with("STEP  ACTION"), "{t}");
        assert!(t.contains("\n-     promoted"), "{t}");
    }
}
