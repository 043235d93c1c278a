//! Kubernetes Events for the transitions the core reports: one `events.k8s.io/v1` Event per
//! transition, with the core's reason and message.
//!
//! Not kube-runtime's `Recorder`: it groups events by type, action and reason but not by message,
//! so a second "Created ReplicaSet … (revision 2)" would only bump the count of the first event,
//! which keeps saying "revision 1". Transitions are rare (the core reports each once), so there is
//! nothing to aggregate.

use k8s_openapi::api::core::v1::ObjectReference;
use k8s_openapi::api::events::v1::Event as K8sEvent;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::Client;
use kube::api::{Api, PostParams};
use rollout_core::rollout::{Event, EventType};

/// Longest `note` the API server accepts (bytes).
pub const MAX_NOTE: usize = 1024;

/// Publishes the core's transition events for the objects they concern.
#[derive(Clone)]
pub struct EventPublisher {
    client: Client,
    controller: String,
    instance: String,
}

impl std::fmt::Debug for EventPublisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventPublisher")
            .field("controller", &self.controller)
            .field("instance", &self.instance)
            .finish()
    }
}

impl EventPublisher {
    /// Events reported as `controller` (`reportingController`) by `instance`
    /// (`reportingInstance`; the controller name when not given).
    pub fn new(client: Client, controller: String, instance: Option<String>) -> Self {
        let instance = instance.unwrap_or_else(|| controller.clone());
        Self {
            client,
            controller,
            instance,
        }
    }

    /// The Event object for `event` about `regarding` at `now` (what [`Self::publish`] creates).
    pub fn event(&self, regarding: &ObjectReference, event: &Event, now: Timestamp) -> K8sEvent {
        let name = regarding.name.as_deref().unwrap_or(&self.controller);
        K8sEvent {
            metadata: ObjectMeta {
                name: Some(format!("{name}.{:x}", now.as_nanosecond())),
                namespace: regarding.namespace.clone(),
                ..ObjectMeta::default()
            },
            action: Some(event.reason.clone()),
            reason: Some(event.reason.clone()),
            note: Some(truncate(&event.message, MAX_NOTE)),
            type_: Some(
                match event.kind {
                    EventType::Normal => "Normal",
                    EventType::Warning => "Warning",
                }
                .to_string(),
            ),
            event_time: Some(MicroTime(now)),
            regarding: Some(regarding.clone()),
            reporting_controller: Some(self.controller.clone()),
            reporting_instance: Some(self.instance.clone()),
            ..K8sEvent::default()
        }
    }

    /// Creates the Event in the namespace of `regarding`.
    pub async fn publish(&self, regarding: &ObjectReference, event: &Event) -> Result<(), kube::Error> {
        let ns = regarding.namespace.as_deref().unwrap_or("default");
        let api: Api<K8sEvent> = Api::namespaced(self.client.clone(), ns);
        api.create(
            &PostParams::default(),
            &self.event(regarding, event, Timestamp::now()),
        )
        .await
        .map(|_| ())
    }
}

/// At most `max` bytes of `s`, cut at a character boundary.
fn truncate(s: &str, max: usize) -> String {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_cut_at_a_char_boundary() {
        assert_eq!(truncate("abc", 10), "abc");
        assert_eq!(truncate("ééé", 3), "é");
        assert_eq!(truncate(&"x".repeat(2000), MAX_NOTE).len(), MAX_NOTE);
    }
}
