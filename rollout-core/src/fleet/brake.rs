//! The fleet brake: release holds every controller of a cluster obeys.
//!
//! One ConfigMap per cluster ([`BRAKE_CONFIGMAP`] in the controller's install namespace) holds,
//! under [`BRAKE_KEY`], a list of holds:
//!
//! ```yaml
//! - image: registry.example.com/shop/cart:v2     # or revision: <pod-template-hash>
//!   release: v2
//!   reason: release issue in 7 of 120 environments
//!   since: 2026-12-02T10:00:00Z
//! ```
//!
//! [`Brake::parse`] reads and validates it (every mistake with its field path, e.g.
//! `holds[1].image`; at most [`MAX_HOLDS`] holds). A Rollout *updating* to a held revision (its
//! update target's pod template names a held image, or its pod-template hash is a held revision)
//! is held at its current step ([`Brake::hold_for`] gives the cause, [`apply`] puts it into the
//! coordinator [`Inputs`]); the machine then writes a `FleetHold` condition and a
//! [`Cause::FleetHold`](crate::rollout::Cause::FleetHold) entry in `status.why`. A Rollout that
//! is already stable on the held revision, or rolling back to its stable, is never held.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::common::Timestamp;
use crate::rollout::{FieldError, FieldErrorKind, Inputs, Observed, Rollout};

/// The brake ConfigMap's name.
pub const BRAKE_CONFIGMAP: &str = "rollout-fleet-brake";
/// The ConfigMap key holding the list of holds.
pub const BRAKE_KEY: &str = "holds.yaml";
/// The most holds a brake may list (bounds the work per decision).
pub const MAX_HOLDS: usize = 1_000;
/// The largest `holds.yaml` accepted, in bytes (a ConfigMap's own limit is 1 MiB).
pub const MAX_BRAKE_BYTES: usize = 1024 * 1024;
/// The longest image, release or revision string.
const MAX_NAME_LEN: usize = 512;
/// The longest reason.
const MAX_REASON_LEN: usize = 2048;
/// Field errors listed before the rest are counted.
const MAX_ERRORS: usize = 50;

/// One release hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Hold {
    /// A held image reference, compared exactly with the pod template's container images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    /// A held revision: a pod-template hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
    /// The release this hold stops (as the fleet tool names it).
    pub release: String,
    /// Why it is held.
    pub reason: String,
    /// When the hold was put in place.
    pub since: Timestamp,
}

/// What a hold matched on a Rollout's update target.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum HoldMatch {
    /// A container image of the pod template.
    Image(String),
    /// The pod-template hash.
    Revision(String),
}

impl std::fmt::Display for HoldMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HoldMatch::Image(i) => write!(f, "image {i}"),
            HoldMatch::Revision(r) => write!(f, "revision {r}"),
        }
    }
}

/// Why a Rollout is held by the fleet brake: the hold and what it matched (the `FleetHold`
/// condition's and `status.why`'s data).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FleetHoldCause {
    /// The held release.
    pub release: String,
    /// The hold's reason.
    pub reason: String,
    /// The image or revision that matched.
    pub matched: HoldMatch,
    /// When the hold was put in place.
    pub since: Timestamp,
}

impl FleetHoldCause {
    /// `release v2 is held by the fleet brake (image r/app:v2): <reason>`.
    pub fn message(&self) -> String {
        format!(
            "release {} is held by the fleet brake ({}) since {}: {}",
            self.release, self.matched, self.since, self.reason
        )
    }
}

impl Hold {
    /// What this hold matches among `images` and `pod_hash`, if anything (image first).
    pub fn matches<'a>(
        &self,
        mut images: impl Iterator<Item = &'a str>,
        pod_hash: &str,
    ) -> Option<HoldMatch> {
        if let Some(image) = &self.image
            && images.any(|i| i == image)
        {
            return Some(HoldMatch::Image(image.clone()));
        }
        match &self.revision {
            Some(r) if !pod_hash.is_empty() && r == pod_hash => Some(HoldMatch::Revision(r.clone())),
            _ => None,
        }
    }

    /// Every mistake of hold `i`, with paths `holds[i].<field>`.
    fn validate(&self, i: usize, errors: &mut Vec<FieldError>) {
        let path = |f: &str| format!("holds[{i}].{f}");
        let invalid = |f: &str, v: &str, m: &str| FieldError {
            path: path(f),
            kind: FieldErrorKind::Invalid(format!("{v:?}")),
            message: m.to_string(),
        };
        if self.image.is_none() && self.revision.is_none() {
            errors.push(FieldError {
                path: path("image"),
                kind: FieldErrorKind::Required,
                message: "a hold names an image or a revision (or both)".into(),
            });
        }
        if let Some(image) = &self.image
            && (image.is_empty() || image.len() > MAX_NAME_LEN || image.contains(char::is_whitespace))
        {
            errors.push(invalid("image", image, "an image reference without spaces"));
        }
        if let Some(rev) = &self.revision
            && (rev.is_empty() || rev.len() > 63 || !rev.bytes().all(|b| b.is_ascii_alphanumeric()))
        {
            errors.push(invalid(
                "revision",
                rev,
                "a pod-template hash (letters and digits)",
            ));
        }
        if self.release.trim().is_empty() {
            errors.push(FieldError {
                path: path("release"),
                kind: FieldErrorKind::Required,
                message: "the release this hold stops".into(),
            });
        } else if self.release.len() > MAX_NAME_LEN {
            errors.push(invalid("release", &self.release, "at most 512 characters"));
        }
        if self.reason.trim().is_empty() {
            errors.push(FieldError {
                path: path("reason"),
                kind: FieldErrorKind::Required,
                message: "why the release is held".into(),
            });
        } else if self.reason.len() > MAX_REASON_LEN {
            errors.push(invalid("reason", "…", "at most 2048 characters"));
        }
    }
}

/// A brake object that cannot be used: every mistake with its field path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid fleet brake: {}", render(.0))]
pub struct BrakeError(pub Vec<FieldError>);

fn render(errors: &[FieldError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The holds of one cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Brake {
    /// The holds, in the object's order.
    pub holds: Vec<Hold>,
}

/// The keys a hold may have.
const HOLD_KEYS: [&str; 5] = ["image", "revision", "release", "reason", "since"];

impl Brake {
    /// Reads `holds.yaml`: a list of holds (empty text or `null`: no holds). Every mistake is
    /// reported with its path; more than [`MAX_HOLDS`] holds or [`MAX_BRAKE_BYTES`] is an error.
    pub fn parse(text: &str) -> Result<Brake, BrakeError> {
        let one = |path: &str, kind, message: String| {
            BrakeError(vec![FieldError {
                path: path.into(),
                kind,
                message,
            }])
        };
        if text.len() > MAX_BRAKE_BYTES {
            return Err(one(
                BRAKE_KEY,
                FieldErrorKind::Invalid(format!("{} bytes", text.len())),
                format!("at most {MAX_BRAKE_BYTES} bytes"),
            ));
        }
        let value: serde_yaml::Value = serde_yaml::from_str(text)
            .map_err(|e| one(BRAKE_KEY, FieldErrorKind::Invalid("YAML".into()), e.to_string()))?;
        let items = match value {
            serde_yaml::Value::Null => return Ok(Brake::default()),
            serde_yaml::Value::Sequence(items) => items,
            _ => {
                return Err(one(
                    "holds",
                    FieldErrorKind::Invalid("not a list".into()),
                    "a list of holds".into(),
                ));
            }
        };
        if items.len() > MAX_HOLDS {
            return Err(one(
                "holds",
                FieldErrorKind::Invalid(format!("{} holds", items.len())),
                format!("at most {MAX_HOLDS} holds"),
            ));
        }
        let mut errors = Vec::new();
        let mut holds = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            if let Some(h) = read_hold(i, item, &mut errors) {
                h.validate(i, &mut errors);
                holds.push(h);
            }
        }
        if errors.is_empty() {
            return Ok(Brake { holds });
        }
        if errors.len() > MAX_ERRORS {
            let more = errors.len() - MAX_ERRORS;
            errors.truncate(MAX_ERRORS);
            errors.push(FieldError {
                path: "holds".into(),
                kind: FieldErrorKind::Invalid(format!("{more} more")),
                message: format!("and {more} more mistakes"),
            });
        }
        Err(BrakeError(errors))
    }

    /// The `holds.yaml` text of these holds.
    pub fn to_yaml(&self) -> String {
        if self.holds.is_empty() {
            return "[]\n".into();
        }
        // A list of plain structs always serializes.
        serde_yaml::to_string(&self.holds).unwrap_or_default()
    }

    /// The first hold matching `ro`'s own pod template images or `pod_hash`.
    pub fn matching_hold(&self, ro: &Rollout, pod_hash: &str) -> Option<&Hold> {
        let images = template_images(ro.spec.template.as_ref());
        self.first_match(&images, pod_hash).map(|(h, _)| h)
    }

    fn first_match(&self, images: &[&str], pod_hash: &str) -> Option<(&Hold, HoldMatch)> {
        self.holds
            .iter()
            .find_map(|h| h.matches(images.iter().copied(), pod_hash).map(|m| (h, m)))
    }

    /// The cause holding `ro` this tick: `pod_hash` is its update target (the current pod
    /// template's hash); its images come from `spec.template`, else the `workloadRef` object in
    /// `obs`. `None` unless `ro` is updating (a stable ReplicaSet exists and is not the target):
    /// a Rollout healthy on a held revision, or rolling back to its stable, is not held.
    pub fn hold_for(&self, ro: &Rollout, obs: &Observed, pod_hash: &str) -> Option<FleetHoldCause> {
        let stable = ro.status.stable_rs.as_str();
        if self.holds.is_empty() || stable.is_empty() || stable == pod_hash {
            return None;
        }
        let template = ro
            .spec
            .template
            .as_ref()
            .or(obs.workload.as_ref().map(|w| &w.template));
        let images = template_images(template);
        self.first_match(&images, pod_hash)
            .map(|(h, matched)| FleetHoldCause {
                release: h.release.clone(),
                reason: h.reason.clone(),
                matched,
                since: h.since,
            })
    }
}

/// Hold `i` read field by field (every wrong key or type with its path); `None` when it is not
/// a mapping.
fn read_hold(i: usize, item: &serde_yaml::Value, errors: &mut Vec<FieldError>) -> Option<Hold> {
    let Some(map) = item.as_mapping() else {
        errors.push(FieldError {
            path: format!("holds[{i}]"),
            kind: FieldErrorKind::Invalid("not a mapping".into()),
            message: format!("a hold has {}", HOLD_KEYS.join(", ")),
        });
        return None;
    };
    for key in map.keys() {
        let name = key.as_str().unwrap_or("?");
        if !HOLD_KEYS.contains(&name) {
            errors.push(FieldError {
                path: format!("holds[{i}].{name}"),
                kind: FieldErrorKind::Unsupported(format!("{name:?}")),
                message: format!("a hold has only {}", HOLD_KEYS.join(", ")),
            });
        }
    }
    let mut text = |key: &str| -> Option<String> {
        match map.get(key) {
            None | Some(serde_yaml::Value::Null) => None,
            Some(serde_yaml::Value::String(s)) => Some(s.clone()),
            Some(other) => {
                errors.push(FieldError {
                    path: format!("holds[{i}].{key}"),
                    kind: FieldErrorKind::Invalid(format!("{other:?}")),
                    message: "must be a string".into(),
                });
                None
            }
        }
    };
    let image = text("image");
    let revision = text("revision");
    let release = text("release").unwrap_or_default();
    let reason = text("reason").unwrap_or_default();
    let since = match text("since") {
        None => {
            errors.push(FieldError {
                path: format!("holds[{i}].since"),
                kind: FieldErrorKind::Required,
                message: "when the hold was put in place (RFC 3339)".into(),
            });
            None
        }
        Some(s) => match s.parse::<Timestamp>() {
            Ok(t) => Some(t),
            Err(_) => {
                errors.push(FieldError {
                    path: format!("holds[{i}].since"),
                    kind: FieldErrorKind::Invalid(format!("{s:?}")),
                    message: "an RFC 3339 time, e.g. 2026-12-02T10:00:00Z".into(),
                });
                None
            }
        },
    };
    // A hold with a field that could not be read is validated too (all mistakes at once) but
    // never used: `parse` returns holds only when there are no errors.
    Some(Hold {
        image,
        revision,
        release,
        reason,
        since: since.unwrap_or_default(),
    })
}

/// `inputs` with the brake's cause: a cause sets [`Inputs::hold`] and [`Inputs::fleet_hold`];
/// `None` leaves `hold` as the other coordinators set it.
pub fn apply(inputs: &mut Inputs, cause: Option<FleetHoldCause>) {
    inputs.hold |= cause.is_some();
    inputs.fleet_hold = cause;
}

/// The container and init-container images of a pod template (opaque JSON).
pub fn template_images(template: Option<&Value>) -> Vec<&str> {
    let Some(spec) = template.and_then(|t| t.get("spec")) else {
        return Vec::new();
    };
    ["containers", "initContainers"]
        .iter()
        .filter_map(|k| spec.get(k).and_then(Value::as_array))
        .flatten()
        .filter_map(|c| c.get("image").and_then(Value::as_str))
        .collect()
}

/// Which holds [`remove`](Brake::remove) drops: every given field must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HoldSelector {
    /// The hold's image.
    pub image: Option<String>,
    /// The hold's revision.
    pub revision: Option<String>,
    /// The hold's release.
    pub release: Option<String>,
}

impl HoldSelector {
    /// Whether it selects nothing at all (an empty selector is refused, never "all").
    pub fn is_empty(&self) -> bool {
        self.image.is_none() && self.revision.is_none() && self.release.is_none()
    }

    /// Whether `hold` is selected.
    pub fn selects(&self, hold: &Hold) -> bool {
        !self.is_empty()
            && self.image.as_ref().is_none_or(|i| hold.image.as_ref() == Some(i))
            && self
                .revision
                .as_ref()
                .is_none_or(|r| hold.revision.as_ref() == Some(r))
            && self.release.as_ref().is_none_or(|r| &hold.release == r)
    }
}

impl Brake {
    /// Adds `hold`, replacing a hold on the same image and revision with another release or
    /// reason (the same hold again changes nothing, keeping its first `since`); refuses an invalid
    /// hold or one past [`MAX_HOLDS`]. Returns whether the holds changed.
    pub fn add(&mut self, hold: Hold) -> Result<bool, BrakeError> {
        let mut errors = Vec::new();
        hold.validate(self.holds.len(), &mut errors);
        if !errors.is_empty() {
            return Err(BrakeError(errors));
        }
        if let Some(same) = self
            .holds
            .iter_mut()
            .find(|h| h.image == hold.image && h.revision == hold.revision)
        {
            // The same hold again keeps its first `since`.
            if same.release == hold.release && same.reason == hold.reason {
                return Ok(false);
            }
            *same = hold;
            return Ok(true);
        }
        if self.holds.len() >= MAX_HOLDS {
            return Err(BrakeError(vec![FieldError {
                path: "holds".into(),
                kind: FieldErrorKind::Invalid(format!("{} holds", self.holds.len())),
                message: format!("at most {MAX_HOLDS} holds"),
            }]));
        }
        self.holds.push(hold);
        Ok(true)
    }

    /// Removes the holds `selector` selects; returns them.
    pub fn remove(&mut self, selector: &HoldSelector) -> Vec<Hold> {
        let (removed, kept) = std::mem::take(&mut self.holds)
            .into_iter()
            .partition(|h| selector.selects(h));
        self.holds = kept;
        removed
    }
}

#[cfg(test)]
#[path = "brake_tests.rs"]
mod tests;
