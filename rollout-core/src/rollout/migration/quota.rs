//! Would a namespace's ResourceQuotas admit the pods a hand-over adds? `pods`,
//! `requests.cpu` (or `cpu`) and `requests.memory` (or `memory`): hard − used against the extra
//! pods times one pod's requests. Kubernetes quantities are parsed exactly (integers in
//! milli-units), and every unreadable value is reported with its field path.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A quota resource the hand-over is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Resource {
    /// `pods`: a count.
    Pods,
    /// `requests.cpu` (or `cpu`), in millicores.
    RequestsCpu,
    /// `requests.memory` (or `memory`), in bytes.
    RequestsMemory,
}

impl Resource {
    /// The quota key (`pods`, `requests.cpu`, `requests.memory`).
    pub fn key(self) -> &'static str {
        match self {
            Resource::Pods => "pods",
            Resource::RequestsCpu => "requests.cpu",
            Resource::RequestsMemory => "requests.memory",
        }
    }

    /// Renders an amount of this resource (`3`, `1500m`, `256Mi`...).
    pub fn render(self, amount: i128) -> String {
        match self {
            Resource::Pods => amount.to_string(),
            Resource::RequestsCpu => {
                if amount % 1000 == 0 {
                    (amount / 1000).to_string()
                } else {
                    format!("{amount}m")
                }
            }
            Resource::RequestsMemory => {
                for (unit, size) in [("Gi", 1i128 << 30), ("Mi", 1 << 20), ("Ki", 1 << 10)] {
                    if amount != 0 && amount % size == 0 {
                        return format!("{}{unit}", amount / size);
                    }
                }
                amount.to_string()
            }
        }
    }

    fn of_key(key: &str) -> Option<Resource> {
        match key {
            "pods" => Some(Resource::Pods),
            "requests.cpu" | "cpu" => Some(Resource::RequestsCpu),
            "requests.memory" | "memory" => Some(Resource::RequestsMemory),
            _ => None,
        }
    }
}

/// A quantity that cannot be read, with where it was.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: cannot read the quantity {value:?}")]
pub struct QuantityError {
    /// Field path, e.g. `spec.template.spec.containers[0].resources.requests.cpu`.
    pub path: String,
    /// The value as written.
    pub value: String,
}

/// Parses a Kubernetes quantity into milli-units (`"500m"` → 500, `"2"` → 2000, `"1Ki"` →
/// 1 024 000); `None` when unreadable or out of range. Fractions below a milli-unit round up, as
/// Kubernetes does for requests.
pub fn parse_milli(s: &str) -> Option<i128> {
    let s = s.trim();
    if s.is_empty() || s.len() > 64 {
        return None;
    }
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '+' || c == '-'))
        .unwrap_or(s.len());
    let (num, suffix) = s.split_at(split);
    let (mul, div): (i128, i128) = match suffix {
        "" => (1000, 1),
        "m" => (1, 1),
        "k" => (1_000_000, 1),
        "M" => (1_000_000_000, 1),
        "G" => (1_000_000_000_000, 1),
        "T" => (1_000_000_000_000_000, 1),
        "P" => (1_000_000_000_000_000_000, 1),
        "Ki" => (1000 << 10, 1),
        "Mi" => (1000 << 20, 1),
        "Gi" => (1000 << 30, 1),
        "Ti" => (1000 << 40, 1),
        "Pi" => (1000 << 50, 1),
        "n" => (1, 1_000_000),
        "u" => (1, 1000),
        e if e.starts_with(['e', 'E']) => {
            let exp: i32 = e.get(1..)?.parse().ok()?;
            if !(-9..=18).contains(&exp) {
                return None;
            }
            if exp >= 0 {
                (1000 * 10i128.pow(exp as u32), 1)
            } else {
                (1000, 10i128.pow((-exp) as u32))
            }
        }
        _ => return None,
    };
    let negative = num.starts_with('-');
    let num = num.trim_start_matches(['+', '-']);
    let (int, frac) = num.split_once('.').unwrap_or((num, ""));
    if (int.is_empty() && frac.is_empty()) || !int.chars().chain(frac.chars()).all(|c| c.is_ascii_digit()) {
        return None;
    }
    if frac.len() > 18 || int.len() > 18 {
        return None;
    }
    let scale = 10i128.pow(frac.len() as u32);
    let digits: i128 = format!("{int}{frac}").parse().ok()?;
    let numerator = digits.checked_mul(mul)?;
    let denominator = scale.checked_mul(div)?;
    let value = (numerator + denominator - 1) / denominator;
    Some(if negative { -value } else { value })
}

fn quantity(v: &Value, path: &str) -> Result<i128, QuantityError> {
    let text = match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        other => other.to_string(),
    };
    parse_milli(&text).ok_or(QuantityError {
        path: path.to_string(),
        value: text,
    })
}

/// What one pod requests: millicores and bytes (`None`: no container requests it).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PodRequests {
    /// CPU in millicores.
    pub cpu_millis: Option<i128>,
    /// Memory in bytes.
    pub memory_bytes: Option<i128>,
}

/// The requests of one pod of `template` (a pod template: `spec.containers[].resources`); a
/// container with limits but no requests requests its limits, as Kubernetes defaults them.
/// `path` prefixes the field paths of errors (e.g. `spec.template`).
pub fn pod_requests(template: &Value, path: &str) -> Result<PodRequests, QuantityError> {
    let mut out = PodRequests::default();
    let containers = template
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or_default();
    for (i, c) in containers.iter().enumerate().take(1000) {
        for (key, slot, milli_to_unit) in [
            ("cpu", &mut out.cpu_millis, 1),
            ("memory", &mut out.memory_bytes, 1000),
        ] {
            let requested = c
                .pointer(&format!("/resources/requests/{key}"))
                .map(|v| (v, "requests"));
            let limited = c
                .pointer(&format!("/resources/limits/{key}"))
                .map(|v| (v, "limits"));
            if let Some((v, kind)) = requested.or(limited) {
                let p = format!("{path}.spec.containers[{i}].resources.{kind}.{key}");
                let milli = quantity(v, &p)?;
                let amount = (milli + milli_to_unit - 1) / milli_to_unit;
                *slot = Some(slot.unwrap_or(0).saturating_add(amount));
            }
        }
    }
    Ok(out)
}

/// A ResourceQuota as observed: `status.hard` and `status.used` (or `spec.hard`).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaUse {
    /// The quota's name.
    pub name: String,
    /// Hard limits by resource key.
    pub hard: BTreeMap<String, String>,
    /// Current use by resource key.
    pub used: BTreeMap<String, String>,
}

/// One quota resource checked against the hand-over's extra pods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuotaCheck {
    /// The quota's name.
    pub quota: String,
    /// Which resource.
    pub resource: Resource,
    /// Hard − used, in the resource's unit (pods, millicores, bytes).
    pub available: i128,
    /// What the extra pods need, in the same unit.
    pub needed: i128,
    /// The quota would refuse some of the extra pods.
    pub refused: bool,
    /// The pods request nothing of a resource the quota limits: the API server refuses them
    /// (unless a LimitRange adds defaults).
    pub missing_request: bool,
}

impl QuotaCheck {
    /// One line: `quota q: requests.cpu: needs 1500m, 1 available: refused`.
    pub fn line(&self) -> String {
        let verdict = match (self.missing_request, self.refused) {
            (true, _) => "refused: the pods request none and the quota requires a request".to_string(),
            (false, true) => "refused".to_string(),
            (false, false) => "fits".to_string(),
        };
        format!(
            "quota {}: {}: needs {}, {} available: {verdict}",
            self.quota,
            self.resource.key(),
            self.resource.render(self.needed),
            self.resource.render(self.available)
        )
    }
}

/// Checks `extra_pods` pods, each requesting `per_pod`, against every quota. Resources a quota
/// does not limit are not listed.
pub fn check(
    quotas: &[QuotaUse],
    extra_pods: i32,
    per_pod: PodRequests,
) -> Result<Vec<QuotaCheck>, QuantityError> {
    let extra = i128::from(extra_pods.max(0));
    let mut out = Vec::new();
    for q in quotas.iter().take(1000) {
        let mut seen = Vec::new();
        for (key, hard) in &q.hard {
            let Some(resource) = Resource::of_key(key) else {
                continue;
            };
            if seen.contains(&resource) {
                continue;
            }
            seen.push(resource);
            let to_unit = |milli: i128| match resource {
                Resource::RequestsCpu => milli,
                // Counts and bytes: round milli-units up to whole units.
                _ => (milli + 999).div_euclid(1000),
            };
            let hard = to_unit(quantity(
                &Value::String(hard.clone()),
                &format!("ResourceQuota {}: status.hard.{key}", q.name),
            )?);
            let used = match q.used.get(key) {
                Some(u) => to_unit(quantity(
                    &Value::String(u.clone()),
                    &format!("ResourceQuota {}: status.used.{key}", q.name),
                )?),
                None => 0,
            };
            let per = match resource {
                Resource::Pods => Some(1),
                Resource::RequestsCpu => per_pod.cpu_millis,
                Resource::RequestsMemory => per_pod.memory_bytes,
            };
            let missing_request = per.is_none() && extra > 0;
            let needed = per.unwrap_or(0).saturating_mul(extra);
            let available = hard.saturating_sub(used);
            out.push(QuotaCheck {
                quota: q.name.clone(),
                resource,
                available,
                needed,
                refused: missing_request || needed > available,
                missing_request,
            });
        }
    }
    out.sort_by(|a, b| (&a.quota, a.resource).cmp(&(&b.quota, b.resource)));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn quantities() {
        let table = [
            ("1", Some(1000)),
            ("500m", Some(500)),
            ("0.5", Some(500)),
            ("1.5", Some(1500)),
            ("128Mi", Some(128 * 1000 * (1 << 20))),
            ("1Gi", Some(1000 * (1 << 30))),
            ("1k", Some(1_000_000)),
            ("2e3", Some(2_000_000)),
            ("100n", Some(1)),
            ("0.0001", Some(1)),
            ("abc", None),
            ("1Zi", None),
            ("", None),
            (".", None),
        ];
        for (text, want) in table {
            assert_eq!(parse_milli(text), want, "{text:?}");
        }
    }

    #[test]
    fn pod_requests_sum_containers_and_fall_back_to_limits() {
        let t = json!({"spec": {"containers": [
            {"resources": {"requests": {"cpu": "250m", "memory": "64Mi"}}},
            {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}}},
        ]}});
        let r = pod_requests(&t, "spec.template").unwrap();
        assert_eq!(r.cpu_millis, Some(1250));
        assert_eq!(r.memory_bytes, Some((64 << 20) + (1 << 30)));
        let bad = json!({"spec": {"containers": [{"resources": {"requests": {"cpu": "lots"}}}]}});
        assert_eq!(
            pod_requests(&bad, "spec.template").unwrap_err().to_string(),
            "spec.template.spec.containers[0].resources.requests.cpu: cannot read the quantity \"lots\""
        );
    }

    #[test]
    fn checks_hard_minus_used() {
        let q = QuotaUse {
            name: "team".into(),
            hard: [
                ("pods", "6"),
                ("requests.cpu", "2"),
                ("limits.cpu", "9"),
                ("requests.memory", "1Gi"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
            used: [("pods", "3"), ("requests.cpu", "750m")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        };
        let per = PodRequests {
            cpu_millis: Some(250),
            memory_bytes: None,
        };
        let checks = check(std::slice::from_ref(&q), 3, per).unwrap();
        let lines: Vec<String> = checks.iter().map(QuotaCheck::line).collect();
        assert_eq!(
            lines,
            [
                "quota team: pods: needs 3, 3 available: fits",
                "quota team: requests.cpu: needs 750m, 1250m available: fits",
                "quota team: requests.memory: needs 0, 1Gi available: refused: the pods request none and the quota requires a request",
            ]
        );
        let checks = check(&[q], 4, per).unwrap();
        assert!(checks[0].refused, "4 pods, 3 available");
        assert!(!checks[1].refused);
    }
}
