//! proptest strategies for Rollout specs, steps, observed snapshots and user events.

use proptest::prelude::*;
use serde_json::json;

use crate::analysis::AnalysisPhase;
use crate::common::{IntOrString, Timestamp};
use crate::rollout::{
    AnalysisRunKind, CanaryStep, Observed, ObservedAnalysisRun, ObservedReplicaSet, ObservedService, Rollout,
};

/// A fixed starting instant (2024-01-01T00:00:00Z).
pub fn epoch() -> Timestamp {
    Timestamp::from_second(1_704_067_200).unwrap_or(Timestamp::UNIX_EPOCH)
}

/// `maxSurge`/`maxUnavailable` values: small ints or percentages (legacy `"25"` included).
pub fn int_or_percent() -> impl Strategy<Value = IntOrString> {
    prop_oneof![
        (0i64..4).prop_map(IntOrString::Int),
        prop::sample::select(vec!["0%", "10%", "25%", "50%", "25", "100%"])
            .prop_map(|s| IntOrString::String(s.to_string())),
    ]
}

/// Basic-canary steps: setWeight 0..=100 and pauses (indefinite, int, `"Ns"`, `"Nm"`).
pub fn basic_step() -> impl Strategy<Value = CanaryStep> {
    prop_oneof![
        3 => (0i32..=100).prop_map(CanaryStep::set_weight),
        1 => Just(CanaryStep::pause(None)),
        1 => (1i64..120).prop_map(|s| CanaryStep::pause(Some(IntOrString::Int(s)))),
        1 => (1i64..120).prop_map(|s| CanaryStep::pause(Some(IntOrString::String(format!("{s}s"))))),
        1 => (1i64..3).prop_map(|m| CanaryStep::pause(Some(IntOrString::String(format!("{m}m"))))),
    ]
}

/// Step lists of 0..=10 basic steps.
pub fn basic_steps() -> impl Strategy<Value = Vec<CanaryStep>> {
    prop::collection::vec(basic_step(), 0..=10)
}

/// A valid basic canary (no traffic routing) Rollout with 1..=12 replicas.
pub fn basic_canary_rollout() -> impl Strategy<Value = Rollout> {
    (1i32..=12, basic_steps(), int_or_percent(), int_or_percent()).prop_filter_map(
        "maxSurge and maxUnavailable both zero",
        |(replicas, steps, surge, unavailable)| {
            let zero =
                |v: &IntOrString| matches!(v, IntOrString::Int(0)) || *v == IntOrString::String("0%".into());
            if zero(&surge) && zero(&unavailable) {
                return None;
            }
            let v = json!({
                "apiVersion": "argoproj.io/v1alpha1", "kind": "Rollout",
                "metadata": {"name": "prop", "namespace": "default", "generation": 1},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": "prop"}},
                    "template": {"metadata": {"labels": {"app": "prop"}},
                                 "spec": {"containers": [{"name": "app", "image": "demo:v1"}]}},
                    "strategy": {"canary": {"steps": steps, "maxSurge": surge, "maxUnavailable": unavailable}}
                }
            });
            serde_json::from_value(v).ok()
        },
    )
}

/// A valid traffic-routed canary (ALB) with optional dynamicStableScale and setCanaryScale.
pub fn traffic_routed_rollout() -> impl Strategy<Value = Rollout> {
    let step = prop_oneof![
        3 => (0i32..=100).prop_map(|w| json!({"setWeight": w})),
        1 => Just(json!({"pause": {}})),
        1 => (0i32..5).prop_map(|r| json!({"setCanaryScale": {"replicas": r}})),
        1 => Just(json!({"setCanaryScale": {"matchTrafficWeight": true}})),
    ];
    (
        1i32..=10,
        prop::collection::vec(step, 0..=8),
        any::<bool>(),
        prop::option::of(0i32..5),
    )
        .prop_filter_map("invalid", |(replicas, steps, dss, min_pods)| {
            let has_scale = steps.iter().any(|s| s.get("setCanaryScale").is_some());
            let dss = dss && !has_scale;
            let v = json!({
                "metadata": {"name": "tr", "generation": 1},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": {"app": "tr"}},
                    "template": {"metadata": {"labels": {"app": "tr"}},
                                 "spec": {"containers": [{"name": "app", "image": "demo:v1"}]}},
                    "strategy": {"canary": {
                        "steps": steps, "canaryService": "tr-canary", "stableService": "tr-stable",
                        "dynamicStableScale": dss, "minPodsPerReplicaSet": min_pods,
                        "trafficRouting": {"alb": {"ingress": "tr", "servicePort": 80}}}}
                }
            });
            serde_json::from_value(v).ok()
        })
}

/// A valid blue-green Rollout: optional preview service, previewReplicaCount, manual or
/// timed promotion, scale-down delay.
pub fn blue_green_rollout() -> impl Strategy<Value = Rollout> {
    (
        1i32..=8,
        any::<bool>(),
        prop::option::of(1i32..4),
        prop::option::of(any::<bool>()),
        prop::option::of(0i32..60),
        prop::option::of(0i32..60),
    )
        .prop_filter_map("invalid", |(replicas, preview, prc, auto, secs, delay)| {
            let mut bg = json!({"activeService": "bg-active"});
            if preview {
                bg["previewService"] = json!("bg-preview");
            }
            if let Some(p) = prc {
                bg["previewReplicaCount"] = json!(p.min(replicas));
            }
            if let Some(a) = auto {
                bg["autoPromotionEnabled"] = json!(a);
            }
            if let Some(s) = secs {
                bg["autoPromotionSeconds"] = json!(s);
            }
            if let Some(d) = delay {
                bg["scaleDownDelaySeconds"] = json!(d);
            }
            serde_json::from_value(json!({
                "metadata": {"name": "bg", "generation": 1},
                "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "bg"}},
                         "template": {"metadata": {"labels": {"app": "bg"}},
                                      "spec": {"containers": [{"name": "app", "image": "demo:v1"}]}},
                         "strategy": {"blueGreen": bg}}
            }))
            .ok()
        })
}

/// Arbitrary observed snapshots (any sizes, hashes, deadlines, runs), including nonsense.
pub fn observed_snapshot() -> impl Strategy<Value = Observed> {
    let rs = (
        prop::sample::select(vec!["aaa", "bbb", "ccc", "ddd"]),
        0i64..5,
        0i64..1000,
        0i32..15,
        0i32..15,
        0i32..15,
        prop::option::of(0i64..100),
    )
        .prop_map(
            |(h, rev, created, spec, st, avail, deadline)| ObservedReplicaSet {
                name: format!("ro-{h}"),
                pod_template_hash: h.to_string(),
                revision: rev,
                created_at: crate::rollout::machine::plus_secs_pub(epoch(), created),
                replicas: spec,
                status_replicas: st,
                ready: avail,
                available: avail,
                scale_down_deadline: deadline.map(|d| crate::rollout::machine::plus_secs_pub(epoch(), d)),
                template: None,
                needs: Vec::new(),
            },
        );
    let run = (
        prop::sample::select(vec!["ro-aaa-1", "ro-bbb-2-0", "ro-bbb-2-1"]),
        prop::sample::select(vec![
            AnalysisPhase::Pending,
            AnalysisPhase::Running,
            AnalysisPhase::Successful,
            AnalysisPhase::Failed,
            AnalysisPhase::Error,
            AnalysisPhase::Inconclusive,
        ]),
    )
        .prop_map(|(n, phase)| ObservedAnalysisRun {
            name: n.to_string(),
            kind: AnalysisRunKind::Step,
            pod_template_hash: "bbb".into(),
            step_index: Some(0),
            phase,
            message: "m".into(),
            terminating: false,
            created_at: None,
            decided_by: None,
        });
    (
        prop::collection::vec(rs, 0..4),
        prop::collection::vec(run, 0..3),
        prop::option::of(prop::sample::select(vec!["aaa", "bbb"])),
    )
        .prop_map(|(replica_sets, analysis_runs, sel)| Observed {
            replica_sets,
            analysis_runs,
            services: vec![ObservedService {
                name: "svc".into(),
                selector_hash: sel.map(str::to_string),
            }],
            workload: None,
            config: Vec::new(),
            pods: None,
        })
}

/// A user or world event applied between ticks.
#[derive(Debug, Clone, PartialEq)]
pub enum UserEvent {
    /// Let `secs` pass (pods become ready).
    Wait(i64),
    /// `kubectl argo rollouts promote`.
    Promote,
    /// `promote --full`.
    PromoteFull,
    /// `abort`.
    Abort,
    /// `retry`.
    Retry,
    /// Ship a new image.
    NewImage(u8),
    /// Toggle `spec.paused`.
    TogglePaused,
}

/// Sequences of user events.
pub fn event_sequence() -> impl Strategy<Value = Vec<UserEvent>> {
    let ev = prop_oneof![
        6 => (1i64..90).prop_map(UserEvent::Wait),
        3 => Just(UserEvent::Promote),
        1 => Just(UserEvent::PromoteFull),
        1 => Just(UserEvent::Abort),
        1 => Just(UserEvent::Retry),
        1 => (0u8..4).prop_map(UserEvent::NewImage),
        1 => Just(UserEvent::TogglePaused),
    ];
    prop::collection::vec(ev, 0..30)
}

impl super::FakeCluster {
    /// Applies one [`UserEvent`].
    pub fn user_event(&mut self, e: &UserEvent) {
        match e {
            UserEvent::Wait(s) => self.advance(*s),
            UserEvent::Promote => self.promote(),
            UserEvent::PromoteFull => self.promote_full(),
            UserEvent::Abort => self.abort(),
            UserEvent::Retry => self.retry(),
            UserEvent::NewImage(i) => self.set_image(&format!("demo:v{}", 2 + u32::from(*i))),
            UserEvent::TogglePaused => {
                self.rollout.spec.paused = !self.rollout.spec.paused;
                self.rollout.metadata.generation = Some(self.rollout.metadata.generation.unwrap_or(1) + 1);
            }
        }
    }
}
