//! `rollout fleet status`: the fleet view per release — counts per outcome, each failure's class
//! with the release-issue test's evidence, the decision and the degraded list — from the
//! controllers' release series in Prometheus (`--prometheus URL`) or from Rollouts read through
//! kube contexts (`--context CTX`, repeatable). The library part is `rollout_kube::fleet_status`.
//!
//! Exits like `fleet simulate`: 0 whatever the plan decided (the decision is in the output), 2 on
//! an input error or when Prometheus or a cluster cannot be read.

use std::fmt::Write as _;
use std::path::PathBuf;

use kube::config::{KubeConfigOptions, Kubeconfig};
use rollout_core::Timestamp;
use rollout_core::fleet::{ClassificationPolicy, Gate, ReleasePlan, ReleaseTest, Wave};
use rollout_kube::fleet_status::{self, FleetView, Outcomes, ReleaseView};

use super::Format;
use crate::{CliError, outf};

/// The most degraded environments listed per release in text (JSON lists every one).
const MAX_LISTED: usize = 50;

/// Arguments of `rollout fleet status`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("from").required(true).args(["prometheus", "context"])))]
pub struct StatusArgs {
    /// Read the release series through this Prometheus (federated or central), e.g.
    /// http://prometheus:9090.
    #[arg(long, value_name = "URL")]
    pub prometheus: Option<String>,
    /// Read Rollouts directly through this kubeconfig context (repeatable).
    #[arg(long, value_name = "CTX")]
    pub context: Vec<String>,
    /// With --context: only this namespace (default: every namespace).
    #[arg(long, short = 'n')]
    pub namespace: Option<String>,
    /// The release plan (its test, classification and waves; a `fleet simulate` file's `plan:`
    /// works too). Default: the default test and classification, waves `observed` and `remaining`.
    #[arg(long, value_name = "PLAN.yaml")]
    pub plan: Option<PathBuf>,
    /// The plan's wave that the observed environments belong to (default: its first).
    #[arg(long, value_name = "NAME")]
    pub wave: Option<String>,
    /// Only this release.
    #[arg(long)]
    pub release: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
    /// When a release's decision is a halt, hold it in the fleet brake of every cluster: the
    /// `--brake-context` ones, else the `--context` ones, else the current kubeconfig context.
    #[arg(long)]
    pub halt: bool,
    /// With --halt: a cluster whose brake to write (repeatable).
    #[arg(long, value_name = "CTX", requires = "halt")]
    pub brake_context: Vec<String>,
    /// With --halt: the controllers' install namespace, where the brake lives.
    #[arg(long, value_name = "NS", default_value = rollout_kube::fleet_brake::DEFAULT_BRAKE_NAMESPACE, requires = "halt")]
    pub brake_namespace: String,
}

/// The plan when none is given.
fn default_plan() -> ReleasePlan {
    let wave = |name: &str, percent: f64| Wave {
        name: name.to_string(),
        percent: Some(percent),
        ring: None,
        gate: Gate::default(),
    };
    ReleasePlan {
        release: String::new(),
        waves: vec![wave("observed", 50.0), wave("remaining", 100.0)],
        test: ReleaseTest::default(),
        classification: ClassificationPolicy::default(),
    }
}

/// Reads `--plan`: a release plan, or a document whose `plan:` is one; validated with field paths.
fn read_plan(path: &std::path::Path) -> Result<ReleasePlan, CliError> {
    let label = path.display();
    let text = crate::input::read_yaml(path)?;
    let mut doc: serde_yaml::Value =
        serde_yaml::from_str(&text).map_err(|e| CliError::new(format!("{label}: {e}")))?;
    let prefix = match doc.get("plan") {
        Some(p) => {
            doc = p.clone();
            "plan"
        }
        None => "",
    };
    let plan: ReleasePlan = serde_path_to_error::deserialize(doc).map_err(|e| {
        let at = e.path().to_string();
        let at = if prefix.is_empty() {
            at
        } else {
            format!("{prefix}.{at}")
        };
        CliError::new(format!("{label}: {at}: {}", e.inner()))
    })?;
    let problems = plan.validate(prefix);
    if let Some(first) = problems.first() {
        return Err(CliError::new(format!("{label}: {first}")));
    }
    Ok(plan)
}

/// A client for kubeconfig context `ctx` (`None`: the current context or in-cluster config).
async fn context_client(
    kubeconfig: Option<&Kubeconfig>,
    ctx: Option<&str>,
) -> Result<kube::Client, CliError> {
    let label = ctx.unwrap_or("(current context)");
    let config = match (kubeconfig, ctx) {
        (Some(k), Some(ctx)) => {
            let options = KubeConfigOptions {
                context: Some(ctx.to_string()),
                ..KubeConfigOptions::default()
            };
            kube::Config::from_custom_kubeconfig(k.clone(), &options)
                .await
                .map_err(|e| CliError::new(format!("--context {ctx}: {e}")))?
        }
        _ => kube::Config::infer()
            .await
            .map_err(|e| CliError::new(format!("no usable Kubernetes configuration: {e}")))?,
    };
    rollout_kube::ratelimit::rate_limited_client(config, 20.0, 40)
        .map_err(|e| CliError::new(format!("{label}: cannot create a Kubernetes client: {e}")))
}

/// `--halt`: writes each halted release's hold into the brake of every brake cluster; returns
/// one line per hold written.
async fn halt(
    args: &StatusArgs,
    view: &FleetView,
    outcomes: &Outcomes,
    now: Timestamp,
) -> Result<Vec<String>, CliError> {
    let holds: Vec<_> = view
        .releases
        .iter()
        .filter_map(|r| fleet_status::halt_hold(r, outcomes, now))
        .collect();
    if holds.is_empty() {
        return Ok(vec![]);
    }
    let contexts: Vec<Option<&str>> = if !args.brake_context.is_empty() {
        args.brake_context.iter().map(|c| Some(c.as_str())).collect()
    } else if !args.context.is_empty() {
        args.context.iter().map(|c| Some(c.as_str())).collect()
    } else {
        vec![None]
    };
    let kubeconfig = if contexts.iter().any(Option::is_some) {
        Some(Kubeconfig::read().map_err(|e| CliError::new(format!("kubeconfig: {e}")))?)
    } else {
        None
    };
    let ns = &args.brake_namespace;
    let mut lines = Vec::new();
    for ctx in contexts {
        let client = context_client(kubeconfig.as_ref(), ctx).await?;
        let label = ctx.unwrap_or("the current context");
        for hold in &holds {
            let changed = rollout_kube::fleet_brake::add_hold(&client, ns, hold.clone())
                .await
                .map_err(|e| CliError::new(format!("--halt in {label}: {e}")))?;
            let what = hold
                .image
                .as_deref()
                .or(hold.revision.as_deref())
                .unwrap_or_default();
            lines.push(format!(
                "brake: {} {what} (release {}) in {label}, {ns}/{}",
                if changed { "held" } else { "already held" },
                hold.release,
                rollout_core::fleet::brake::BRAKE_CONFIGMAP
            ));
        }
    }
    Ok(lines)
}

async fn read(args: &StatusArgs, now: Timestamp) -> Result<Outcomes, CliError> {
    if let Some(url) = &args.prometheus {
        return fleet_status::read_prometheus(url, now)
            .await
            .map_err(|e| CliError::new(e.to_string()));
    }
    let kubeconfig = Kubeconfig::read().map_err(|e| CliError::new(format!("kubeconfig: {e}")))?;
    let mut all = Outcomes::default();
    for ctx in &args.context {
        let client = context_client(Some(&kubeconfig), Some(ctx)).await?;
        let got = fleet_status::read_rollouts(client, args.namespace.as_deref(), ctx, now)
            .await
            .map_err(|e| CliError::new(e.to_string()))?;
        all.outcomes.extend(got.outcomes);
        all.ignored.extend(got.ignored);
    }
    Ok(all)
}

/// Runs `rollout fleet status`.
pub fn status(args: &StatusArgs) -> Result<(), CliError> {
    let plan = match &args.plan {
        Some(path) => read_plan(path)?,
        None => default_plan(),
    };
    let wave = match &args.wave {
        None => 0,
        Some(name) => plan.waves.iter().position(|w| &w.name == name).ok_or_else(|| {
            let names: Vec<&str> = plan.waves.iter().map(|w| w.name.as_str()).collect();
            CliError::new(format!(
                "--wave {name}: not a wave of the plan ({})",
                names.join(", ")
            ))
        })?,
    };
    // Whole seconds: the time a hold records.
    let now = Timestamp::from_second(Timestamp::now().as_second())
        .map_err(|e| CliError::new(format!("clock: {e}")))?;
    let runtime = crate::kube::runtime()?;
    let mut outcomes = runtime.block_on(read(args, now))?;
    if let Some(r) = &args.release {
        outcomes.outcomes.retain(|o| &o.row.release == r);
    }
    let view = fleet_status::fleet_view(&plan, wave, &outcomes);
    match args.output {
        Format::Json => {
            let json =
                serde_json::to_string_pretty(&view).map_err(|e| CliError::new(format!("JSON: {e}")))?;
            outf!("{json}\n");
        }
        Format::Text => outf!("{}", render_text(&view)),
    }
    if args.halt {
        for line in runtime.block_on(halt(args, &view, &outcomes, now))? {
            match args.output {
                Format::Text => outf!("{line}\n"),
                Format::Json => eprintln!("{line}"),
            }
        }
    }
    Ok(())
}

fn duration(seconds: f64) -> String {
    if seconds >= 3600.0 {
        format!("{:.1} h", seconds / 3600.0)
    } else if seconds >= 60.0 {
        format!("{:.1} min", seconds / 60.0)
    } else {
        format!("{seconds:.0} s")
    }
}

fn render_release(out: &mut String, r: &ReleaseView) {
    let c = &r.health.counts;
    let kinds: Vec<String> = c
        .by_kind
        .iter()
        .map(|(k, n)| format!("{} {n}", k.as_str()))
        .collect();
    let _ = writeln!(
        out,
        "release {}: {} environments: {}",
        r.release,
        c.environments,
        kinds.join(", ")
    );
    let e = &r.health.evidence;
    let _ = writeln!(
        out,
        "  classes: release issue {}, suspect {}, environment issue {}, transient {}",
        r.classified
            .iter()
            .filter(|x| x.class.as_str() == "release-issue")
            .count(),
        r.classified
            .iter()
            .filter(|x| x.class.as_str() == "suspect")
            .count(),
        c.environment_issues,
        c.transient
    );
    let _ = writeln!(
        out,
        "  evidence: {} {} of {} failed ({:.2}%) vs baseline {:.2}%; Λ {:.2}, halt at {:.2} (false-alarm rate {}%){}",
        e.test,
        e.failures,
        e.n,
        100.0 * e.failure_rate(),
        100.0 * e.baseline,
        e.statistic,
        e.threshold,
        100.0 * e.false_alarm_rate,
        if e.failures_to_halt <= e.n {
            format!("; {} failures would halt", e.failures_to_halt)
        } else {
            String::new()
        }
    );
    let _ = writeln!(out, "  decision: {}", r.decision_message);
    match &r.cost {
        Some(cost) => {
            let _ = writeln!(
                out,
                "  cost: {:.0} extra pod-seconds ({:.2} pod-hours), wall {} summed over {} environments",
                cost.extra_pod_seconds,
                cost.extra_pod_seconds / 3600.0,
                duration(cost.wall_seconds),
                cost.environments
            );
        }
        None => {
            let _ = writeln!(out, "  cost: -");
        }
    }
    let _ = writeln!(out, "  degraded: {}", r.degraded.len());
    for d in r.degraded.iter().take(MAX_LISTED) {
        let class = r
            .classified
            .iter()
            .find(|x| x.environment == d.environment)
            .map_or("-", |x| x.class.as_str());
        let cause = if d.message.is_empty() {
            d.cause.clone()
        } else {
            d.message.clone()
        };
        let _ = writeln!(
            out,
            "    {}  {}/{}@{}  {}  {}  {}",
            d.environment,
            d.namespace,
            d.rollout,
            d.revision,
            d.outcome.as_str(),
            class,
            if cause.is_empty() { "-" } else { &cause }
        );
    }
    if r.degraded.len() > MAX_LISTED {
        let _ = writeln!(
            out,
            "    … and {} more (--output json lists all)",
            r.degraded.len() - MAX_LISTED
        );
    }
}

/// The fleet view as text: one block per release.
pub fn render_text(view: &FleetView) -> String {
    let mut out = String::new();
    if view.releases.is_empty() {
        out.push_str("no release outcomes found\n");
    }
    for r in &view.releases {
        render_release(&mut out, r);
    }
    for i in &view.ignored {
        let _ = writeln!(out, "ignored: {i}");
    }
    out
}

#[cfg(test)]
mod tests {
    use analysis_providers::prometheus::{QueryResult, decode_response};
    use serde_json::{Value, json};

    use super::*;

    fn vector(samples: Vec<Value>) -> Vec<analysis_providers::prometheus::Series> {
        let body = json!({"status": "success", "data": {"resultType": "vector", "result": samples}});
        match decode_response(200, &body.to_string()).unwrap().result {
            QueryResult::Vector(v) => v,
            other => panic!("{other:?}"),
        }
    }

    fn sample(cluster: &str, outcome: &str, cause: &str, message: &str) -> Value {
        json!({"metric": {"cluster": cluster, "namespace": "shop", "rollout": "web", "revision": "7486d84546",
                          "image": "shop:v2", "release": "v2.4.1", "outcome": outcome, "cause": cause,
                          "environment": format!("{cluster}/shop"), "message": message},
               "value": [1_796_205_600.0, "1"]})
    }

    fn cost(name: &str, cluster: &str, v: &str) -> Value {
        json!({"metric": {"__name__": name, "cluster": cluster, "namespace": "shop", "rollout": "web",
                          "revision": "7486d84546"},
               "value": [1_796_205_600.0, v]})
    }

    #[test]
    fn the_text_view_shows_counts_classes_decision_cost_and_the_degraded_list() {
        let outcomes = vector(vec![
            sample("eu-1", "promoted", "", ""),
            sample("eu-2", "promoted", "", ""),
            sample(
                "us-1",
                "analysis-failed",
                "AnalysisFailed",
                "Rollout aborted update to revision 2: Metric \"error-ratio\" assessed Failed",
            ),
            sample(
                "us-2",
                "provider-unreachable",
                "ProviderUnreachable",
                "Rollout aborted update to revision 2: dial tcp: connection refused",
            ),
        ]);
        let extra = vector(vec![
            cost(fleet_status::EXTRA_POD_SECONDS_SERIES, "eu-1", "600"),
            cost(fleet_status::EXTRA_POD_SECONDS_SERIES, "us-1", "300"),
        ]);
        let wall = vector(vec![
            cost(fleet_status::WALL_SECONDS_SERIES, "eu-1", "1200"),
            cost(fleet_status::WALL_SECONDS_SERIES, "us-1", "240"),
        ]);
        let outcomes = fleet_status::from_series(&outcomes, &[], &extra, &wall);
        let view = fleet_status::fleet_view(&default_plan(), 0, &outcomes);
        let text = render_text(&view);
        println!("{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines[0],
            "release v2.4.1: 4 environments: promoted 2, analysis-failed 1, provider-unreachable 1"
        );
        assert_eq!(
            lines[1],
            "  classes: release issue 0, suspect 1, environment issue 0, transient 1"
        );
        assert!(
            lines[2].starts_with("  evidence: wald-sprt 1 of 3 failed (33.33%) vs baseline 1.00%"),
            "{}",
            lines[2]
        );
        assert_eq!(lines[3], "  decision: proceed to wave remaining");
        assert_eq!(
            lines[4],
            "  cost: 900 extra pod-seconds (0.25 pod-hours), wall 24.0 min summed over 2 environments"
        );
        assert_eq!(lines[5], "  degraded: 2");
        assert!(
            lines[6]
                .starts_with("    us-1/shop  shop/web@7486d84546  analysis-failed  suspect  Rollout aborted"),
            "{}",
            lines[6]
        );
        assert!(
            lines[7].contains("provider-unreachable  transient  "),
            "{}",
            lines[7]
        );
        // Without the cost series: "-".
        let bare =
            fleet_status::from_series(&vector(vec![sample("eu-1", "promoted", "", "")]), &[], &[], &[]);
        let text = render_text(&fleet_status::fleet_view(&default_plan(), 0, &bare));
        assert!(text.contains("\n  cost: -\n"), "{text}");
    }

    #[test]
    fn plans_are_read_bare_or_under_plan_with_field_paths() {
        let dir = std::env::temp_dir().join(format!("fleet-status-plan-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            (
                "bare.yaml",
                "release: v2\nwaves: [{name: a, percent: 100}]\n",
                Ok("a"),
            ),
            (
                "nested.yaml",
                "name: x\nplan:\n  release: v2\n  waves: [{name: b, percent: 100}]\n",
                Ok("b"),
            ),
            ("typo.yaml", "plan:\n  release: v2\n  wavez: []\n", Err("plan")),
            (
                "bad.yaml",
                "release: v2\nwaves: [{name: a, percent: 150}]\n",
                Err("waves[0].percent"),
            ),
        ];
        for (name, text, want) in cases {
            let path = dir.join(name);
            std::fs::write(&path, text).unwrap();
            match (read_plan(&path), want) {
                (Ok(plan), Ok(first)) => assert_eq!(plan.waves[0].name, first, "{name}"),
                (Err(e), Err(path)) => assert!(e.to_string().contains(path), "{name}: {e}"),
                (got, want) => panic!("{name}: {got:?} vs {want:?}"),
            }
        }
        let _ = std::fs::remove_dir_all(&dir);
    }
}
