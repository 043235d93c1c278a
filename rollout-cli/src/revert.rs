//! `rollout revert`: the way back from a migrated Rollout to its Deployment. The steps are a pure
//! plan ([`rollout_core::rollout::migration::revert_plan`]): stop the drain, scale the Deployment
//! up to the Rollout's replicas, wait until it is available (with a timeout: nothing is removed
//! otherwise), unpin the Services, then delete (or `--pause`) the Rollout. Ready pods never drop
//! below the availability floor. `--dry-run` prints the steps.

use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use rollout_core::rollout::migration::{RevertEnd, RevertInput, RevertStep, availability_floor, revert_plan};
use rollout_kube::migrate::{self, MigrateError};
use serde::Serialize;

use crate::CliError;
use crate::exit::Exit;

/// `rollout revert --help` examples.
pub const REVERT_EXAMPLES: &str = "Examples:
  rollout revert web -n shop --dry-run     # the steps, nothing changed
  rollout revert web -n shop               # Deployment back to the Rollout's replicas, then delete the Rollout
  rollout revert web -n shop --pause --timeout 600";

/// `rollout revert`.
#[derive(Debug, Args)]
pub struct RevertArgs {
    /// The Rollout.
    name: String,
    /// Its namespace (default: the kubeconfig context's).
    #[arg(short = 'n', long)]
    namespace: Option<String>,
    /// Pause the Rollout instead of deleting it (its pods keep running).
    #[arg(long)]
    pause: bool,
    /// Print the steps; change nothing.
    #[arg(long)]
    dry_run: bool,
    /// Seconds to wait for the Deployment to become available.
    #[arg(long, default_value_t = 300)]
    timeout: u64,
    /// Print the steps as JSON.
    #[arg(long)]
    json: bool,
}

/// What `rollout revert --dry-run --json` prints.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report<'a> {
    input: &'a RevertInput,
    steps: &'a [RevertStep],
}

/// The plan's input from the Rollout as stored and its Deployment's `spec.replicas`.
pub fn input_for(
    ro: &rollout_core::rollout::Rollout,
    deployment_replicas: i32,
    end: RevertEnd,
) -> Result<RevertInput, CliError> {
    let name = &ro.metadata.name;
    let wr = ro
        .spec
        .workload_ref
        .as_ref()
        .filter(|w| w.kind == "Deployment")
        .ok_or_else(|| {
            CliError::new(format!(
                "Rollout {name}: spec.workloadRef: no Deployment to revert to"
            ))
        })?;
    let replicas = ro.replicas();
    let max_unavailable = ro.canary().and_then(|c| c.max_unavailable.as_ref());
    let mut services = Vec::new();
    if let Some(c) = ro.canary() {
        services.extend([c.stable_service.clone(), c.canary_service.clone()]);
    }
    if let Some(b) = ro.blue_green() {
        services.extend([b.active_service.clone(), b.preview_service.clone()]);
    }
    services.retain(|s| !s.is_empty());
    Ok(RevertInput {
        rollout: name.clone(),
        deployment: wr.name.clone(),
        deployment_replicas,
        rollout_replicas: replicas,
        floor: availability_floor(replicas, max_unavailable),
        services,
        end,
    })
}

/// `rollout revert`.
pub fn main(args: &RevertArgs) -> Result<ExitCode, CliError> {
    crate::kube::runtime()?.block_on(async {
        let (client, default_ns) = crate::kube::client(20.0, 40).await?;
        let ns = args.namespace.clone().unwrap_or(default_ns);
        let err = |e: MigrateError| CliError::new(e.to_string());
        let stored = migrate::rollout(&client, &ns, &args.name).await.map_err(err)?;
        let ro = stored.to_core().map_err(|e| CliError::new(e.to_string()))?;
        let end = if args.pause { RevertEnd::Pause } else { RevertEnd::Remove };
        let deployment_name = ro.spec.workload_ref.as_ref().map(|w| w.name.clone()).unwrap_or_default();
        let input = input_for(&ro, 0, end)?;
        let (replicas, available) = migrate::deployment_counts(&client, &ns, &deployment_name)
            .await
            .map_err(err)?;
        let input = RevertInput {
            deployment_replicas: replicas,
            ..input
        };
        let steps = revert_plan(&input);
        if args.json {
            let text = serde_json::to_string_pretty(&Report {
                input: &input,
                steps: &steps,
            })
            .map_err(|e| CliError::new(e.to_string()))?;
            crate::outln!("{text}");
        } else {
            crate::outln!(
                "Revert Rollout {ns}/{} to Deployment {} ({replicas} replicas, {available} available; floor {} ready pods):",
                input.rollout,
                input.deployment,
                input.floor
            );
        }
        let total = steps.len();
        for (i, step) in steps.iter().enumerate() {
            if args.dry_run {
                if !args.json {
                    crate::outln!("  {}. {step}", i + 1);
                }
                continue;
            }
            match migrate::run_step(&client, &ns, step, Duration::from_secs(args.timeout), Duration::from_millis(250)).await {
                Ok(()) => {
                    if !args.json {
                        crate::outln!("  [{}/{total}] {step}: done", i + 1);
                    }
                }
                Err(e @ MigrateError::Timeout { .. }) => {
                    eprintln!("error: {e}");
                    return Ok(Exit::TimedOut.into());
                }
                Err(e) => return Err(err(e)),
            }
        }
        Ok(Exit::Success.into())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn input_from_a_canary_rollout() {
        let ro: rollout_core::rollout::Rollout = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web"},
            "spec": {"replicas": 8,
                     "workloadRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web-dep"},
                     "strategy": {"canary": {"stableService": "web", "maxUnavailable": 2}}}
        }))
        .unwrap();
        let input = input_for(&ro, 0, RevertEnd::Pause).unwrap();
        assert_eq!(
            (
                input.deployment.as_str(),
                input.rollout_replicas,
                input.floor,
                input.services.clone()
            ),
            ("web-dep", 8, 6, vec!["web".to_string()])
        );
        let no_ref: rollout_core::rollout::Rollout =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}})).unwrap();
        assert_eq!(
            input_for(&no_ref, 0, RevertEnd::Remove).unwrap_err().to_string(),
            "Rollout x: spec.workloadRef: no Deployment to revert to"
        );
    }
}
