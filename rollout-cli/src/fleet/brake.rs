//! `rollout fleet brake add|remove|list`: the release holds every controller of the cluster obeys
//! (the `rollout-fleet-brake` ConfigMap in the controller's install namespace; see
//! `rollout_kube::fleet_brake`). Exits 0 on success, 2 on an input error or an unreachable or
//! refusing cluster.

use rollout_core::common::Timestamp;
use rollout_core::fleet::brake::{BRAKE_CONFIGMAP, Hold, HoldSelector};
use rollout_kube::fleet_brake::{DEFAULT_BRAKE_NAMESPACE, add_hold, list_holds, remove_hold};

use super::Format;
use crate::kube::{client, runtime};
use crate::{CliError, outf};

/// `rollout fleet brake --help` examples.
pub const EXAMPLES: &str = "Examples:
  rollout fleet brake add --image registry.example.com/shop/cart:v2 --release v2 --reason \"fails in 7 of 120 environments\"
  rollout fleet brake list
  rollout fleet brake remove --image registry.example.com/shop/cart:v2
  rollout fleet brake remove --release v2 --namespace rollout-system

A Rollout updating to a held image (or pod-template hash, --revision) pauses at its step with a
FleetHold condition naming the release and the reason; removing the hold resumes it. Exits 0 on
success; 2 on an input error or when the cluster cannot be read or written.";

/// `rollout fleet brake`.
#[derive(Debug, clap::Args)]
pub struct BrakeArgs {
    #[command(subcommand)]
    command: BrakeCommand,
}

/// The brake's subcommands.
#[derive(Debug, clap::Subcommand)]
enum BrakeCommand {
    /// Hold a release: Rollouts updating to the image (or revision) pause at their step.
    #[command(after_help = "Examples:
  rollout fleet brake add --image registry.example.com/shop/cart:v2 --release v2 --reason \"fails in 7 of 120 environments\"
  rollout fleet brake add --revision 6d4f8c9b7 --release v2 --reason \"error ratio 4x\" --namespace rollout-system

Exits 0 when held (or already held); 2 on an input error or when the cluster cannot be read or written.")]
    Add(AddArgs),
    /// Remove the holds matching every given flag.
    #[command(after_help = "Examples:
  rollout fleet brake remove --image registry.example.com/shop/cart:v2
  rollout fleet brake remove --release v2 --namespace rollout-system

Exits 0 (also when nothing matched); 2 on an input error or when the cluster cannot be read or written.")]
    Remove(RemoveArgs),
    /// The holds in force.
    #[command(after_help = "Examples:
  rollout fleet brake list
  rollout fleet brake list --output json

Exits 0; 2 when the cluster cannot be read or the brake object is invalid.")]
    List(ListArgs),
}

/// Where the brake lives.
#[derive(Debug, clap::Args)]
struct Where {
    /// The controller's install namespace (where the brake ConfigMap lives).
    #[arg(short = 'n', long, default_value = DEFAULT_BRAKE_NAMESPACE)]
    namespace: String,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("target").required(true).multiple(true).args(["image", "revision"])))]
struct AddArgs {
    /// The held image, exactly as Rollouts' pod templates name it.
    #[arg(long)]
    image: Option<String>,
    /// The held revision: a pod-template hash.
    #[arg(long)]
    revision: Option<String>,
    /// The release this hold stops.
    #[arg(long)]
    release: String,
    /// Why it is held (shown in the FleetHold condition).
    #[arg(long)]
    reason: String,
    #[command(flatten)]
    at: Where,
}

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("selector").required(true).multiple(true).args(["image", "revision", "release"])))]
struct RemoveArgs {
    /// Holds on this image.
    #[arg(long)]
    image: Option<String>,
    /// Holds on this revision.
    #[arg(long)]
    revision: Option<String>,
    /// Holds of this release.
    #[arg(long)]
    release: Option<String>,
    #[command(flatten)]
    at: Where,
}

#[derive(Debug, clap::Args)]
struct ListArgs {
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    output: Format,
    #[command(flatten)]
    at: Where,
}

fn target(h: &Hold) -> String {
    match (&h.image, &h.revision) {
        (Some(i), Some(r)) => format!("image {i}, revision {r}"),
        (Some(i), None) => format!("image {i}"),
        (None, Some(r)) => format!("revision {r}"),
        (None, None) => String::new(),
    }
}

/// Runs `rollout fleet brake`.
pub fn main(args: &BrakeArgs) -> Result<(), CliError> {
    let err = |e: rollout_kube::fleet_brake::BrakeError| CliError::new(e.to_string());
    runtime()?.block_on(async {
        let (client, _) = client(20.0, 40).await?;
        match &args.command {
            BrakeCommand::Add(a) => {
                let hold = Hold {
                    image: a.image.clone(),
                    revision: a.revision.clone(),
                    release: a.release.clone(),
                    reason: a.reason.clone(),
                    since: Timestamp::now(),
                };
                let what = target(&hold);
                let changed = add_hold(&client, &a.at.namespace, hold).await.map_err(err)?;
                let ns = &a.at.namespace;
                if changed {
                    outf!("held {what} (release {}) in {ns}/{BRAKE_CONFIGMAP}\n", a.release);
                } else {
                    outf!(
                        "already held: {what} (release {}) in {ns}/{BRAKE_CONFIGMAP}\n",
                        a.release
                    );
                }
            }
            BrakeCommand::Remove(r) => {
                let selector = HoldSelector {
                    image: r.image.clone(),
                    revision: r.revision.clone(),
                    release: r.release.clone(),
                };
                let removed = remove_hold(&client, &r.at.namespace, &selector)
                    .await
                    .map_err(err)?;
                if removed.is_empty() {
                    outf!("no hold matched in {}/{BRAKE_CONFIGMAP}\n", r.at.namespace);
                }
                for h in removed {
                    outf!("removed {} (release {})\n", target(&h), h.release);
                }
            }
            BrakeCommand::List(l) => {
                let brake = list_holds(&client, &l.at.namespace).await.map_err(err)?;
                match l.output {
                    Format::Json => {
                        let json = serde_json::to_string_pretty(&brake.holds)
                            .map_err(|e| CliError::new(format!("JSON: {e}")))?;
                        outf!("{json}\n");
                    }
                    Format::Text if brake.holds.is_empty() => {
                        outf!("no holds in {}/{BRAKE_CONFIGMAP}\n", l.at.namespace);
                    }
                    Format::Text => {
                        for h in &brake.holds {
                            outf!(
                                "{}  release {}  since {}  {}\n",
                                target(h),
                                h.release,
                                h.since,
                                h.reason
                            );
                        }
                    }
                }
            }
        }
        Ok(())
    })
}
