//! Watching one ConfigMap by name (the fleet brake, the trigger policy): a field-selector watch
//! whose events become "the object is now this, or absent".

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use tracing::warn;

/// Watches the ConfigMap `name` in `namespace` and calls `observe` with it (or `None` when it is
/// absent after a list, or deleted); yields `()` whenever `observe` says what is in force
/// changed. Watch errors are logged under `what` and retried with backoff; what is in force stays
/// meanwhile.
pub(crate) fn watch_named(
    client: Client,
    namespace: &str,
    name: &str,
    what: &'static str,
    mut observe: impl FnMut(Option<&ConfigMap>) -> bool + Send + 'static,
) -> impl Stream<Item = ()> + Send + 'static {
    let api: Api<ConfigMap> = Api::namespaced(client, namespace);
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let mut seen = false;
    watcher(api, config).default_backoff().filter_map(move |event| {
        let changed = match event {
            Ok(watcher::Event::Init) => {
                seen = false;
                false
            }
            Ok(watcher::Event::InitApply(cm) | watcher::Event::Apply(cm)) => {
                seen = true;
                observe(Some(&cm))
            }
            // Listed and not there, or deleted: absent.
            Ok(watcher::Event::InitDone) if !seen => observe(None),
            Ok(watcher::Event::InitDone) => false,
            Ok(watcher::Event::Delete(_)) => observe(None),
            Err(e) => {
                warn!(error = %e, "{what}: watch failed; retrying");
                false
            }
        };
        futures::future::ready(changed.then_some(()))
    })
}
