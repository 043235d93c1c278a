//! The cost of safety a simulation reports is the core's `status.cost` (what the controller
//! exports); it agrees with the simulator's own pod model: the pod-seconds of every pod that
//! existed minus `spec.replicas` for the whole update.

mod support;

use rollout_sim::{Scenario, simulate};
use support::read;

#[tokio::test]
async fn the_core_cost_agrees_with_the_pod_model() {
    for scenario in ["healthy.yaml", "error-spike.yaml"] {
        let input = support::input(Scenario::from_yaml(&read(scenario)).unwrap(), 7);
        let replicas = f64::from(input.rollout.replicas());
        let r = simulate(input, &mut |_| {}).await.unwrap();
        let model = r.pod_seconds.total - replicas * r.duration_secs;
        let core = r.cost.extra_pod_seconds;
        assert!(
            core > 0.0 && model > 0.0,
            "{scenario}: core {core}, model {model}"
        );
        // The pod model counts pods while they exist, starting and terminating included, tick
        // by tick; the core counts the ReplicaSets' spec.replicas between its passes: close,
        // and never above the pods that existed.
        assert!(
            core <= model * 1.05 && core >= model * 0.8,
            "{scenario}: core {core} vs pod model {model}"
        );
        assert!(
            (r.cost.wall_seconds - r.duration_secs).abs() <= 15.0,
            "{scenario}: wall {} vs duration {}",
            r.cost.wall_seconds,
            r.duration_secs
        );
    }
}
