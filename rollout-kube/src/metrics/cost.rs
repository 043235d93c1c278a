//! The cost of safety of every Rollout's last update (`status.cost`, see
//! [`rollout_core::rollout::cost`]), computed at scrape time from the controller's Rollout cache:
//!
//! - `rollout_cost_extra_pod_seconds{namespace,rollout,revision}`: pod-seconds above
//!   `spec.replicas` (canary surge, preview, delayed scale-down), counted up to now while the
//!   update runs;
//! - `rollout_cost_wall_seconds{namespace,rollout,revision}`: update start → end, or → now.
//!
//! `revision` is the pod-template hash of the update (as in [`super::outcomes`], so `rollout
//! fleet status` joins the series). Always on, like the release outcomes: two series per Rollout
//! that had an update.

use kube::ResourceExt;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;
use rollout_core::Timestamp;
use rollout_core::rollout::cost::CostStatus;
use serde_json::Value;

use crate::resources::Rollout;

/// Name of the extra pod-seconds series (read by `rollout fleet status`).
pub const EXTRA_POD_SECONDS_SERIES: &str = "rollout_cost_extra_pod_seconds";
/// Name of the wall-time series (read by `rollout fleet status`).
pub const WALL_SECONDS_SERIES: &str = "rollout_cost_wall_seconds";

/// Keeps `status.cost` in the trimmed cached `spec` under `"cost"` (the spec then is an object;
/// [`super::trim_cached_rollout`]). Nothing without a cost.
pub(super) fn keep(status: &Value, cached_spec: &mut Value) {
    let Some(cost) = status.get("cost").filter(|c| !c.is_null()) else {
        return;
    };
    if cached_spec.is_null() {
        *cached_spec = Value::Object(Default::default());
    }
    if let Some(o) = cached_spec.as_object_mut() {
        o.insert("cost".into(), cost.clone());
    }
}

/// The cost a trimmed cached Rollout keeps.
fn cached(ro: &Rollout) -> Option<CostStatus> {
    serde_json::from_value(ro.spec.get("cost")?.clone()).ok()
}

/// One figure of a cost at a time.
type Figure = fn(&CostStatus, Timestamp) -> f64;

/// Both cost series for the cached `rollouts` at `now` (nothing when none has a cost).
pub(super) fn encode<'a>(
    encoder: &mut DescriptorEncoder,
    rollouts: impl Iterator<Item = &'a Rollout>,
    now: Timestamp,
) -> Result<(), std::fmt::Error> {
    let rows: Vec<(String, String, CostStatus)> = rollouts
        .filter_map(|ro| Some((ro.namespace().unwrap_or_default(), ro.name_any(), cached(ro)?)))
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    let series: [(&str, &str, Figure); 2] = [
        (
            EXTRA_POD_SECONDS_SERIES,
            "Pod-seconds above spec.replicas of each Rollout's last update (the cost of safety).",
            |c, now| c.at(now).extra_pod_seconds,
        ),
        (
            WALL_SECONDS_SERIES,
            "Wall time of each Rollout's last update, to now while it runs.",
            |c, now| c.at(now).wall_seconds,
        ),
    ];
    for (name, help, value) in series {
        let mut e = encoder.encode_descriptor(name, help, None, MetricType::Gauge)?;
        for (ns, rollout, c) in &rows {
            let labels = [
                ("namespace", ns.as_str()),
                ("rollout", rollout.as_str()),
                ("revision", c.pod_hash.as_str()),
            ];
            e.encode_family(&labels)?.encode_gauge(&value(c, now))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use prometheus_client::collector::Collector;
    use prometheus_client::registry::Registry;
    use serde_json::json;

    use super::*;

    #[derive(Debug)]
    struct Fixed(Vec<Rollout>, Timestamp);

    impl Collector for Fixed {
        fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
            encode(&mut encoder, self.0.iter(), self.1)
        }
    }

    fn cached_rollout(name: &str, status: Value) -> Rollout {
        let mut ro: Rollout = serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
            "metadata": {"name": name, "namespace": "shop"},
            "spec": {"replicas": 10, "template": {"spec": {"containers": [{"name": "c", "image": "i:2"}]}}},
            "status": status
        }))
        .unwrap();
        // As the controller's watcher caches it (without Argo's per-object gauges).
        super::super::trim_cached_rollout(&mut ro, false);
        ro
    }

    #[test]
    fn encodes_both_series_at_scrape_time_and_skips_rollouts_without_a_cost() {
        let now: Timestamp = "2026-01-01T00:10:00Z".parse().unwrap();
        let running = cached_rollout(
            "cart",
            json!({"currentPodHash": "abc", "cost": {"podHash": "abc", "extraPodSeconds": 100.0, "extraPods": 2,
                   "since": "2026-01-01T00:05:00Z", "startedAt": "2026-01-01T00:00:00Z"}}),
        );
        let done = cached_rollout(
            "shop",
            json!({"currentPodHash": "def", "cost": {"podHash": "def", "extraPodSeconds": 42.5, "extraPods": 0,
                   "since": "2026-01-01T00:01:00Z", "startedAt": "2026-01-01T00:00:00Z",
                   "finishedAt": "2026-01-01T00:01:00Z"}}),
        );
        let none = cached_rollout("quiet", json!({"currentPodHash": "x"}));
        let mut registry = Registry::default();
        registry.register_collector(Box::new(Fixed(vec![running, done, none], now)));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        let mut lines: Vec<&str> = text.lines().filter(|l| l.starts_with("rollout_cost")).collect();
        lines.sort_unstable();
        assert_eq!(
            lines,
            [
                // 100 + 2 pods × 300 s since `since`.
                r#"rollout_cost_extra_pod_seconds{namespace="shop",rollout="cart",revision="abc"} 700.0"#,
                r#"rollout_cost_extra_pod_seconds{namespace="shop",rollout="shop",revision="def"} 42.5"#,
                r#"rollout_cost_wall_seconds{namespace="shop",rollout="cart",revision="abc"} 600.0"#,
                r#"rollout_cost_wall_seconds{namespace="shop",rollout="shop",revision="def"} 60.0"#,
            ],
            "{text}"
        );
        assert!(
            text.contains("# TYPE rollout_cost_extra_pod_seconds gauge"),
            "{text}"
        );
    }

    #[test]
    fn nothing_without_costs() {
        let mut registry = Registry::default();
        let ro = cached_rollout("quiet", json!({}));
        registry.register_collector(Box::new(Fixed(vec![ro], Timestamp::UNIX_EPOCH)));
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).unwrap();
        assert!(!text.contains("rollout_cost"), "{text}");
    }
}
