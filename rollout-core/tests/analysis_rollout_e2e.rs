//! The rollout machine and the analysis run machine together, with simulated time: an inline
//! analysis step that fails aborts the canary; a background analysis that passes lets it finish.
#![cfg(feature = "testing")]

mod analysis_support;

use std::collections::BTreeMap;

use analysis_support::settle;
use rollout_core::analysis::{
    AnalysisPhase, AnalysisRun, AnalysisTemplate, MeasurementRequest, Observation, ProviderError,
};
use rollout_core::common::Timestamp;
use rollout_core::rollout::{Action, Rollout, RolloutPhase};
use rollout_core::testing::FakeCluster;
use serde_json::json;

type Provider = Box<dyn FnMut(&MeasurementRequest) -> Result<Observation, ProviderError>>;

/// A fake cluster for the Rollout plus the analysis machine for the runs it asks for.
struct World {
    cluster: FakeCluster,
    templates: BTreeMap<String, AnalysisTemplate>,
    runs: BTreeMap<String, AnalysisRun>,
    provider: Provider,
}

impl World {
    fn new(rollout: Rollout, templates: &[&str], provider: Provider) -> Self {
        let now: Timestamp = "2026-03-01T00:00:00Z".parse().unwrap();
        let mut cluster = FakeCluster::new(rollout, now);
        cluster.settle(50, true);
        let templates = templates
            .iter()
            .map(|y| {
                let t: AnalysisTemplate = serde_yaml::from_str(y).unwrap();
                (t.metadata.name.clone(), t)
            })
            .collect();
        World {
            cluster,
            templates,
            runs: BTreeMap::new(),
            provider,
        }
    }

    /// One rollout reconcile, then every live run settles at the same `now`; run phases are
    /// written back where the rollout machine observes them.
    fn tick(&mut self) {
        let d = self.cluster.tick();
        for a in &d.actions {
            match a {
                Action::CreateAnalysisRun(req) => {
                    let ts: Vec<AnalysisTemplate> = req
                        .templates
                        .iter()
                        .map(|r| self.templates[&r.template_name].clone())
                        .collect();
                    let run = req.build_run(&ts, &[], Some("default")).unwrap();
                    assert_eq!(run.metadata.labels, req.labels);
                    self.runs.insert(req.name.clone(), run);
                }
                Action::TerminateAnalysisRun { name } => {
                    if let Some(r) = self.runs.get_mut(name) {
                        r.spec.terminate = true;
                    }
                }
                _ => {}
            }
        }
        let now = self.cluster.now;
        for (name, run) in &mut self.runs {
            let out = settle(run, now, &mut *self.provider);
            if let Some(obs) = self
                .cluster
                .observed
                .analysis_runs
                .iter_mut()
                .find(|r| &r.name == name)
            {
                obs.phase = out.status.phase;
                obs.message = out.status.message.clone();
            }
        }
        self.cluster.advance(1);
    }

    fn run_until(&mut self, max_secs: usize, done: impl Fn(&World) -> bool) {
        for _ in 0..max_secs {
            if done(self) {
                return;
            }
            self.tick();
        }
        panic!(
            "not reached after {max_secs}s: {:#?}",
            self.cluster.rollout.status
        );
    }

    fn run_named(&self, suffix: &str) -> &AnalysisRun {
        self.runs
            .iter()
            .find(|(n, _)| n.ends_with(suffix))
            .map(|(_, r)| r)
            .unwrap()
    }
}

fn rollout(canary: serde_json::Value) -> Rollout {
    serde_json::from_value(json!({
        "metadata": {"name": "shop", "namespace": "default", "generation": 1},
        "spec": {
            "replicas": 5,
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {"metadata": {"labels": {"app": "shop"}},
                         "spec": {"containers": [{"name": "app", "image": "shop:v1"}]}},
            "strategy": {"canary": canary}
        }
    }))
    .unwrap()
}

const ERROR_RATE: &str = r#"
metadata: {name: error-rate}
spec:
  args: [{name: canary-hash}]
  metrics:
  - name: error-rate
    interval: 10s
    count: 3
    failureLimit: 1
    successCondition: result[0] < 0.05
    provider:
      prometheus:
        address: http://prometheus:9090
        query: sum(rate(http_errors{rollouts_pod_template_hash="{{args.canary-hash}}"}[1m]))
"#;

#[test]
fn failing_inline_analysis_step_aborts_the_canary() {
    let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let log = seen.clone();
    let provider: Provider = Box::new(move |req| {
        let q = req.metric.provider.config("prometheus").unwrap()["query"]
            .as_str()
            .unwrap()
            .to_string();
        log.borrow_mut().push(q);
        Ok(Observation::Result {
            result: vec![0.2].into(),
            value: "[0.2]".into(),
            metadata: Default::default(),
        })
    });
    let ro = rollout(json!({"steps": [
        {"setWeight": 20},
        {"analysis": {"templates": [{"templateName": "error-rate"}],
                      "args": [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]}},
        {"setWeight": 60},
        {"pause": {}}
    ]}));
    let mut w = World::new(ro, &[ERROR_RATE], provider);
    let v1 = w.cluster.rollout.status.stable_rs.clone();
    assert!(!v1.is_empty());
    w.cluster.set_image("shop:v2");
    w.run_until(300, |w| w.cluster.rollout.status.abort);
    let v2 = w.cluster.rollout.status.current_pod_hash.clone();
    assert_ne!(v1, v2);

    let run = w.run_named("-1");
    let st = run.status.as_ref().unwrap();
    let msg = "Metric \"error-rate\" assessed Failed due to failed (2) > failureLimit (1)";
    assert_eq!((st.phase, st.message.as_str()), (AnalysisPhase::Failed, msg));
    assert_eq!(st.metric_results[0].measurements.len(), 2);
    // The canary's own hash reached the query through the Rollout's `Latest` arg.
    assert!(
        seen.borrow()
            .iter()
            .all(|q| q.contains(&format!("hash=\"{v2}\""))),
        "{:?}",
        seen.borrow()
    );

    // The step never advanced past the analysis: the canary never grew beyond 20% (1 of 5).
    let canary_rs = format!("shop-{v2}");
    let max_canary = w
        .cluster
        .log
        .iter()
        .filter_map(|a| match a {
            Action::ScaleReplicaSet { name, to, .. } if *name == canary_rs => Some(*to),
            _ => None,
        })
        .max();
    assert_eq!(max_canary, Some(1));
    w.run_until(120, |w| w.cluster.stable_and_canary() == (5, 0));
    let (phase, message) = (
        w.cluster.rollout.status.phase,
        w.cluster.rollout.status.message.clone(),
    );
    assert_eq!(phase, Some(RolloutPhase::Degraded));
    assert!(message.starts_with("RolloutAborted: "), "{message}");
    assert!(message.contains(msg), "{message}");
    assert_eq!(w.cluster.rollout.status.stable_rs, v1);
}

const SUCCESS_RATE: &str = r#"
metadata: {name: success-rate}
spec:
  args: [{name: stable-hash}, {name: canary-hash}]
  metrics:
  - name: success-rate
    interval: 10s
    successCondition: result[0] >= 0.95
    failureLimit: 1
    provider:
      prometheus:
        address: http://prometheus:9090
        query: canary {{args.canary-hash}} vs stable {{args.stable-hash}}
"#;

#[test]
fn passing_background_analysis_lets_the_canary_finish() {
    let provider: Provider = Box::new(|_| {
        Ok(Observation::Result {
            result: vec![0.99].into(),
            value: "[0.99]".into(),
            metadata: Default::default(),
        })
    });
    let ro = rollout(json!({
        "analysis": {"templates": [{"templateName": "success-rate"}],
                     "args": [{"name": "stable-hash", "valueFrom": {"podTemplateHashValue": "Stable"}},
                              {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]},
        "steps": [{"setWeight": 25}, {"pause": {"duration": "30s"}}, {"setWeight": 50}, {"pause": {"duration": "30s"}}]
    }));
    let mut w = World::new(ro, &[SUCCESS_RATE], provider);
    let v1 = w.cluster.rollout.status.stable_rs.clone();
    w.cluster.set_image("shop:v2");
    w.run_until(400, |w| {
        let st = &w.cluster.rollout.status;
        !w.runs.is_empty() && st.stable_rs == st.current_pod_hash && st.stable_rs != v1
    });
    w.run_until(20, |w| {
        w.runs
            .values()
            .all(|r| r.status.as_ref().is_some_and(|s| s.phase.is_completed()))
    });
    let st = &w.cluster.rollout.status;
    assert!(!st.abort);
    assert_eq!(w.runs.len(), 1, "the background run is created once");
    let run = w.runs.values().next().unwrap();
    assert!(run.spec.terminate, "terminated when fully promoted");
    let rs = run.status.as_ref().unwrap();
    assert_eq!(
        (rs.phase, rs.message.as_str()),
        (AnalysisPhase::Successful, "Run Terminated")
    );
    let m = &rs.metric_results[0];
    assert!(
        m.count >= 6,
        "measured every 10s through two 30s pauses, got {}",
        m.count
    );
    assert_eq!((m.successful, m.failed, m.error), (m.count, 0, 0));
    let args: BTreeMap<_, _> = run
        .spec
        .args
        .iter()
        .map(|a| (a.name.as_str(), a.value.clone().unwrap()))
        .collect();
    assert_eq!(args["stable-hash"], v1);
    assert_eq!(args["canary-hash"], st.current_pod_hash);
    w.run_until(60, |w| {
        w.cluster.rollout.status.phase == Some(RolloutPhase::Healthy)
    });
}

const WEB_INCONCLUSIVE: &str = r#"
metadata: {name: web-background-inconclusive}
spec:
  args: [{name: url-val, value: "https://dns.google/resolve?name=google.com"}]
  metrics:
  - name: web
    interval: 5s
    inconclusiveLimit: 3
    successCondition: result.Status == 999
    failureCondition: result.Status == -1
    provider:
      web:
        url: "{{args.url-val}}"
"#;

#[test]
fn inconclusive_inline_analysis_pauses_and_promote_creates_a_fresh_run() {
    let provider: Provider = Box::new(|_| {
        Ok(Observation::Result {
            result: json!({"Status": 0}).into(),
            value: "{\"Status\":0}".into(),
            metadata: Default::default(),
        })
    });
    let ro = rollout(json!({"steps": [
        {"setWeight": 20},
        {"analysis": {"templates": [{"templateName": "web-background-inconclusive"}]}},
        {"setWeight": 60}
    ]}));
    let mut w = World::new(ro, &[WEB_INCONCLUSIVE], provider);
    w.cluster.set_image("shop:v2");
    w.run_until(120, |w| {
        w.cluster.rollout.status.phase == Some(RolloutPhase::Paused)
    });
    let run = w.run_named("-1");
    let st = run.status.as_ref().unwrap();
    assert_eq!(
        (st.phase, st.message.as_str()),
        (
            AnalysisPhase::Inconclusive,
            "Metric \"web\" assessed Inconclusive due to inconclusive (4) > inconclusiveLimit (3)"
        )
    );
    assert_eq!(w.cluster.rollout.status.message, "InconclusiveAnalysisRun");
    assert!(!w.cluster.rollout.status.abort);
    // Paused, not aborted: the canary keeps its 20% while a human decides.
    for _ in 0..30 {
        w.tick();
    }
    assert_eq!(w.cluster.stable_and_canary(), (4, 1));
    assert_eq!(w.runs.len(), 1);
    // `promote` clears the pause; the rollout asks for a fresh run, which is judged anew.
    w.cluster.promote();
    w.run_until(60, |w| w.runs.len() == 2);
    w.run_until(60, |w| {
        w.cluster.rollout.status.phase == Some(RolloutPhase::Paused)
    });
    let names: Vec<&String> = w.runs.keys().collect();
    assert!(names[1].starts_with(names[0].as_str()), "{names:?}");
    assert!(
        w.runs
            .values()
            .all(|r| r.status.as_ref().unwrap().phase == AnalysisPhase::Inconclusive)
    );
}

fn blue_green(bg: serde_json::Value) -> Rollout {
    serde_json::from_value(json!({
        "metadata": {"name": "shop", "namespace": "default", "generation": 1},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": "shop"}},
            "template": {"metadata": {"labels": {"app": "shop"}},
                         "spec": {"containers": [{"name": "app", "image": "shop:v1"}]}},
            "strategy": {"blueGreen": bg}
        }
    }))
    .unwrap()
}

fn active_hash(w: &World) -> Option<String> {
    w.cluster
        .observed
        .services
        .iter()
        .find(|s| s.name == "shop-active")
        .and_then(|s| s.selector_hash.clone())
}

#[test]
fn failing_pre_promotion_analysis_keeps_blue_active_and_aborts() {
    let provider: Provider = Box::new(|_| {
        Ok(Observation::Result {
            result: vec![0.3].into(),
            value: "[0.3]".into(),
            metadata: Default::default(),
        })
    });
    let ro = blue_green(json!({
        "activeService": "shop-active",
        "previewService": "shop-preview",
        "prePromotionAnalysis": {
            "templates": [{"templateName": "error-rate"}],
            "args": [{"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]
        }
    }));
    let mut w = World::new(ro, &[ERROR_RATE], provider);
    let blue = w.cluster.rollout.status.stable_rs.clone();
    assert_eq!(active_hash(&w), Some(blue.clone()));
    w.cluster.set_image("shop:v2");
    w.run_until(300, |w| w.cluster.rollout.status.abort);
    let run = w.run_named("-pre");
    let st = run.status.as_ref().unwrap();
    assert_eq!(
        (st.phase, st.message.as_str()),
        (
            AnalysisPhase::Failed,
            "Metric \"error-rate\" assessed Failed due to failed (2) > failureLimit (1)"
        )
    );
    w.run_until(60, |w| {
        w.cluster.rollout.status.phase == Some(RolloutPhase::Degraded)
    });
    assert_eq!(active_hash(&w), Some(blue), "blue stays active");
}

#[test]
fn passing_post_promotion_analysis_completes_the_blue_green_update() {
    let provider: Provider = Box::new(|_| {
        Ok(Observation::Result {
            result: vec![0.99].into(),
            value: "[0.99]".into(),
            metadata: Default::default(),
        })
    });
    let ro = blue_green(json!({
        "activeService": "shop-active",
        "previewService": "shop-preview",
        "postPromotionAnalysis": {
            "templates": [{"templateName": "success-rate"}],
            "args": [{"name": "stable-hash", "valueFrom": {"podTemplateHashValue": "Stable"}},
                     {"name": "canary-hash", "valueFrom": {"podTemplateHashValue": "Latest"}}]
        }
    }));
    let success_rate_bounded = SUCCESS_RATE.replace("interval: 10s", "interval: 10s\n    count: 3");
    let mut w = World::new(ro, &[&success_rate_bounded], provider);
    let blue = w.cluster.rollout.status.stable_rs.clone();
    w.cluster.set_image("shop:v2");
    w.run_until(300, |w| {
        let st = &w.cluster.rollout.status;
        st.stable_rs == st.current_pod_hash && st.stable_rs != blue
    });
    let green = w.cluster.rollout.status.current_pod_hash.clone();
    assert_eq!(active_hash(&w), Some(green));
    let run = w.run_named("-post");
    let st = run.status.as_ref().unwrap();
    assert_eq!((st.phase, st.message.as_str()), (AnalysisPhase::Successful, ""));
    assert_eq!(st.metric_results[0].count, 3);
    assert!(!w.cluster.rollout.status.abort);
}
