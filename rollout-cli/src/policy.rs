//! Trigger policy files (`kind: RolloutPolicy`, [`rollout_core::rollout::policy`]) for
//! `rollout simulate --policy FILE`; `rollout validate` checks them like any other kind.

use std::path::Path;

use rollout_core::rollout::policy::{KIND, Policy};

use crate::CliError;
use crate::docs;

/// The most problems one error line lists.
const MAX_LISTED: usize = 10;

/// Reads the policy in `path`: its `kind: RolloutPolicy` document (or its only document), checked;
/// every problem is named with its field path.
pub fn load(path: &Path) -> Result<Policy, CliError> {
    let label = path.display().to_string();
    let documents = docs::load(path)?;
    let doc = match documents.iter().find(|d| d.kind == KIND) {
        Some(d) => d,
        None if documents.len() == 1 => &documents[0],
        None => {
            return Err(CliError::new(format!("{label}: no document of kind {KIND}")));
        }
    };
    let policy: Policy = docs::typed(&label, doc)?;
    let problems: Vec<String> = policy.validate().iter().map(ToString::to_string).collect();
    if problems.is_empty() {
        return Ok(policy);
    }
    let mut text = problems[..problems.len().min(MAX_LISTED)].join("; ");
    if problems.len() > MAX_LISTED {
        text.push_str(&format!("; and {} more", problems.len() - MAX_LISTED));
    }
    Err(CliError::new(format!("{label}: document {}: {text}", doc.index)))
}
