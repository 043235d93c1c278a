//! `rollout fleet audit`: every rollout update that was not promoted in a window, with its typed
//! cause and class, and the false-alarm and miss rates per AnalysisTemplate and per judge (per day
//! or week), read from one or more kube contexts (rollout-kube's `audit`, the core's
//! `fleet::audit`). `rollout fleet audit mark RUN` records an operator's review on the run.
//!
//! Exits 0 with the data in the output (whatever it shows), 2 on an input error (a bad
//! `--since`, an unreadable kubeconfig or context, an unreachable cluster, an unknown run).

use std::process::ExitCode;

use ::kube::Client;
use ::kube::config::{Config, KubeConfigOptions};
use rollout_core::common::Timestamp;
use rollout_core::fleet::ClassificationPolicy;
use rollout_core::fleet::FailureClass;
use rollout_core::fleet::audit::{
    AuditReport, Bucket, GroupRates, Rates, Review, Window, audit, parse_since,
};
use rollout_kube::audit::{collect, mark};
use serde::Serialize;

use super::Format;
use crate::exit::Exit;
use crate::{CliError, outf};

/// `rollout fleet audit --help` examples.
pub const EXAMPLES: &str = "Examples:
  rollout fleet audit                                  # last 7 days, the context's namespace
  rollout fleet audit --since 24h -A --output json     # every namespace, as JSON
  rollout fleet audit --since 30d --bucket week --context eu-1 --context us-1 -n shop
  rollout fleet audit mark shop-6d4f9-2-1 --false-alarm --note probe-outage -n shop

Rates: false-alarm rate = failures marked false-alarm / failures marked either way (unreviewed
failures are listed next to it); miss rate = passed runs marked regression / passed runs.
Exits 0 with the data in the output; 2 on an input error (bad --since, unreachable cluster).";

/// `rollout fleet audit mark --help` examples.
pub const MARK_EXAMPLES: &str = "Examples:
  rollout fleet audit mark shop-6d4f9-2-1 --false-alarm --note probe-outage -n shop
  rollout fleet audit mark shop-7a1c2-3-bg --regression   # a passed run that let a regression through

Writes the annotations rollout.io/review (false-alarm|regression) and rollout.io/review-note on the
AnalysisRun. Exits 0 when written; 2 on an error (unknown run, unreachable cluster).";

/// Arguments of `rollout fleet audit`.
#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AuditArgs {
    /// Mark a run instead of auditing.
    #[command(subcommand)]
    pub mark: Option<AuditCommand>,
    /// The window, ending now: a number and a unit m, h, d or w (at most 366d).
    #[arg(long, default_value = "7d")]
    pub since: String,
    /// Kube contexts to read (repeatable; default: the current context).
    #[arg(long = "context", value_name = "CTX")]
    pub contexts: Vec<String>,
    /// Namespace (default: the context's namespace).
    #[arg(short = 'n', long, conflicts_with = "all_namespaces")]
    pub namespace: Option<String>,
    /// Every namespace.
    #[arg(short = 'A', long)]
    pub all_namespaces: bool,
    /// Bucket size of the rates over time.
    #[arg(long, value_enum, default_value_t = BucketArg::Day)]
    pub bucket: BucketArg,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub output: Format,
}

/// `rollout fleet audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Record an operator's review of an AnalysisRun's outcome.
    #[command(after_help = MARK_EXAMPLES)]
    Mark(MarkArgs),
}

/// Arguments of `rollout fleet audit mark`.
#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("review").required(true).args(["false_alarm", "regression"])))]
pub struct MarkArgs {
    /// The AnalysisRun's name.
    pub run: String,
    /// The run stopped an update that was good.
    #[arg(long)]
    pub false_alarm: bool,
    /// The update was a real regression (a passed run so marked counts as a miss).
    #[arg(long)]
    pub regression: bool,
    /// A note kept with the review.
    #[arg(long)]
    pub note: Option<String>,
    /// Namespace (default: the context's namespace).
    #[arg(short = 'n', long)]
    pub namespace: Option<String>,
    /// Kube context (default: the current one).
    #[arg(long)]
    pub context: Option<String>,
}

/// `--bucket`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BucketArg {
    /// UTC days.
    Day,
    /// Weeks from Monday, UTC.
    Week,
}

/// Runs `rollout fleet audit [mark]`.
pub fn main(args: &AuditArgs) -> Result<ExitCode, CliError> {
    match &args.mark {
        Some(AuditCommand::Mark(m)) => run_mark(m),
        None => run_audit(args),
    }
    .map(|()| Exit::Success.into())
}

async fn context_client(context: Option<&str>) -> Result<(Client, String), CliError> {
    let config = match context {
        None => Config::infer().await.map_err(|e| {
            CliError::new(format!(
                "no usable Kubernetes configuration (KUBECONFIG, ~/.kube/config or in-cluster): {e}"
            ))
        })?,
        Some(name) => {
            let options = KubeConfigOptions {
                context: Some(name.to_string()),
                ..Default::default()
            };
            Config::from_kubeconfig(&options)
                .await
                .map_err(|e| CliError::new(format!("--context {name}: {e}")))?
        }
    };
    let ns = config.default_namespace.clone();
    let client = rollout_kube::ratelimit::rate_limited_client(config, 20.0, 40)
        .map_err(|e| CliError::new(format!("cannot create a Kubernetes client: {e}")))?;
    Ok((client, ns))
}

fn run_mark(args: &MarkArgs) -> Result<(), CliError> {
    let review = if args.false_alarm {
        Review::FalseAlarm
    } else {
        Review::Regression
    };
    crate::kube::runtime()?.block_on(async {
        let (client, default_ns) = context_client(args.context.as_deref()).await?;
        let ns = args.namespace.clone().unwrap_or(default_ns);
        mark(&client, &ns, &args.run, review, args.note.as_deref())
            .await
            .map_err(|e| CliError::new(e.to_string()))?;
        outf!("marked AnalysisRun {ns}/{}: {}\n", args.run, review.as_str());
        Ok(())
    })
}

/// The JSON output: the report and the runs that could not be read.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Output<'a> {
    #[serde(flatten)]
    report: &'a AuditReport,
    skipped: &'a [String],
}

fn run_audit(args: &AuditArgs) -> Result<(), CliError> {
    let seconds = parse_since("--since", &args.since).map_err(|e| CliError::new(e.to_string()))?;
    let bucket = match args.bucket {
        BucketArg::Day => Bucket::Day,
        BucketArg::Week => Bucket::Week,
    };
    let now = Timestamp::now();
    let window = Window::ending_at(now, seconds, bucket);
    let contexts: Vec<Option<&str>> = if args.contexts.is_empty() {
        vec![None]
    } else {
        args.contexts.iter().map(|c| Some(c.as_str())).collect()
    };
    let (entries, skipped) = crate::kube::runtime()?.block_on(async {
        let mut entries = Vec::new();
        let mut skipped = Vec::new();
        for context in contexts {
            let (client, default_ns) = context_client(context).await?;
            let ns = match (&args.namespace, args.all_namespaces) {
                (_, true) => None,
                (Some(ns), false) => Some(ns.clone()),
                (None, false) => Some(default_ns),
            };
            let got = collect(&client, ns.as_deref(), context, now).await.map_err(|e| {
                CliError::new(match context {
                    Some(c) => format!("--context {c}: {e}"),
                    None => e.to_string(),
                })
            })?;
            entries.extend(got.entries);
            skipped.extend(got.skipped);
        }
        Ok::<_, CliError>((entries, skipped))
    })?;
    let report = audit(&entries, &window, &ClassificationPolicy::default());
    match args.output {
        Format::Json => {
            let output = Output {
                report: &report,
                skipped: &skipped,
            };
            let json =
                serde_json::to_string_pretty(&output).map_err(|e| CliError::new(format!("JSON: {e}")))?;
            outf!("{json}\n");
        }
        Format::Text => outf!("{}", render_text(&report, &args.since, &skipped)),
    }
    Ok(())
}

fn percent(rate: Option<f64>) -> String {
    rate.map_or("-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

fn class_text(class: Option<FailureClass>) -> String {
    let Some(class) = class else {
        return "undecided".to_string();
    };
    let reason = serde_json::to_value(class)
        .ok()
        .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(String::from));
    let name = match class {
        FailureClass::Suspect | FailureClass::ReleaseIssue => "release",
        FailureClass::EnvironmentIssue(_) => "environment",
        FailureClass::Transient(_) => "transient",
    };
    match reason {
        Some(r) => format!("{name} ({r})"),
        None => name.to_string(),
    }
}

fn rates_line(r: &Rates) -> String {
    format!(
        "runs {} passed {} failures {} (false alarms {}, confirmed {}, unreviewed {}) misses {} \
         in progress {}{} | false-alarm rate {} miss rate {}",
        r.runs,
        r.passed,
        r.failures,
        r.false_alarms,
        r.confirmed,
        r.unreviewed,
        r.misses,
        r.in_progress,
        if r.mismarked > 0 {
            format!(" mismarked {}", r.mismarked)
        } else {
            String::new()
        },
        percent(r.false_alarm_rate),
        percent(r.miss_rate),
    )
}

fn render_groups(out: &mut String, title: &str, groups: &[GroupRates], bucket: Bucket) {
    out.push_str(&format!("per {title}:\n"));
    if groups.is_empty() {
        out.push_str("  (none)\n");
    }
    for g in groups {
        out.push_str(&format!("  {}: {}\n", g.name, rates_line(&g.total)));
        for b in &g.buckets {
            let start = b.start.to_string();
            let label = match bucket {
                Bucket::Day => start.get(..10).unwrap_or(&start).to_string(),
                Bucket::Week => format!("week of {}", start.get(..10).unwrap_or(&start)),
            };
            out.push_str(&format!("    {label}: {}\n", rates_line(&b.rates)));
        }
    }
}

/// The report as text: the updates not promoted, the totals, per template and per judge.
pub fn render_text(report: &AuditReport, since: &str, skipped: &[String]) -> String {
    let w = &report.window;
    let mut out = format!(
        "window: {} .. {} ({}, {} buckets)\n",
        w.start,
        w.end,
        since.trim(),
        match w.bucket {
            Bucket::Day => "daily",
            Bucket::Week => "weekly",
        }
    );
    out.push_str(&format!("not promoted: {}\n", report.not_promoted.len()));
    for n in &report.not_promoted {
        let e = &n.entry;
        let review = match e.review {
            Some(r) if e.note.is_empty() => format!(" review {}", r.as_str()),
            Some(r) => format!(" review {} ({})", r.as_str(), e.note),
            None => " unreviewed".to_string(),
        };
        out.push_str(&format!(
            "  {} {} {} {} class {}{}\n",
            e.at,
            e.environment,
            e.run.as_deref().unwrap_or("(no run)"),
            e.outcome.as_str(),
            class_text(n.class),
            review
        ));
        for why in &e.why {
            let detail = why
                .metric
                .as_ref()
                .map(|m| m.message.as_str())
                .filter(|m| !m.is_empty())
                .map(|m| format!(" ({m})"))
                .unwrap_or_default();
            out.push_str(&format!("      why: {}{detail}\n", why.message()));
        }
    }
    out.push_str(&format!("total: {}\n", rates_line(&report.total)));
    render_groups(&mut out, "template", &report.templates, w.bucket);
    render_groups(&mut out, "judge", &report.judges, w.bucket);
    if !skipped.is_empty() {
        out.push_str(&format!("skipped runs: {}\n", skipped.len()));
        for s in skipped {
            out.push_str(&format!("  {s}\n"));
        }
    }
    out
}
