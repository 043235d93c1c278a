//! `perform`: one measurement task through the provider registry; secret values never reach the
//! measurement. (Formerly in rollout-core's analysis_machine tests.)

mod support;

use rollout_core::analysis::AnalysisPhase::Error;
use rollout_core::analysis::machine::step;
use rollout_core::analysis::{Observation, ProviderError};
use support::analysis::{at, run};
use support::block_on;

struct Web;

#[async_trait::async_trait]
impl rollout_driver::MeasurementProvider for Web {
    fn name(&self) -> &str {
        "web"
    }
    async fn measure(
        &self,
        req: &rollout_core::analysis::MeasurementRequest,
    ) -> Result<Observation, ProviderError> {
        let token = req
            .args
            .iter()
            .find(|a| a.name == "token")
            .and_then(|a| a.value.clone());
        Err(ProviderError::Failed(format!(
            "401 for token {}",
            token.unwrap_or_default()
        )))
    }
}

#[test]
fn perform_runs_tasks_with_providers_and_redacts_secrets() {
    let mut r = run(r#"
args: [{name: token, valueFrom: {secretKeyRef: {name: s, key: k}}}]
metrics:
- name: m
  provider: {web: {url: "http://x", headers: [{key: Authorization, value: "{{args.token}}"}]}}
"#);
    // The driver resolved the secret into the args it hands to step.
    r.spec.args[0].value = Some("s3cr3t".into());
    let mut providers = rollout_driver::Providers::new();
    providers.register(std::sync::Arc::new(Web));
    let out = step(&r, at(0), vec![]);
    assert_eq!(
        out.tasks[0].request.metric.provider.config("web").unwrap()["headers"][0]["value"],
        "s3cr3t"
    );
    let result = block_on(rollout_driver::perform(&providers, &out.tasks[0]));
    assert_eq!(result.measurement.phase, Error);
    assert_eq!(result.measurement.message, "401 for token *****");
    let unknown: rollout_driver::Providers = Default::default();
    let result = block_on(rollout_driver::perform(&unknown, &out.tasks[0]));
    assert_eq!(
        result.measurement.message,
        "no measurement provider registered for \"web\""
    );
}
