//! The install manifests against a real API server: CRDs, RBAC, ServiceAccount and Deployment
//! apply; every upstream Argo Rollouts example applies unchanged and round-trips without pruning;
//! the controller's ServiceAccount can do exactly what the controller needs and no more.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{Pod, Secret};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams, Patch, PatchParams,
    PostParams,
};
use rollout_kube::manifests::{self, ManifestOptions};
use rollout_kube::testenv::{TestEnv, TestEnvOptions, apply_objects, yaml_documents};
use std::path::PathBuf;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/argo-rollouts")
}

fn is_forbidden<T: std::fmt::Debug>(r: Result<T, kube::Error>) -> bool {
    matches!(r, Err(kube::Error::Api(ref s)) if s.code == 403)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn manifests_apply_and_argo_examples_round_trip() {
    let opts = TestEnvOptions {
        controller_manager: false,
    };
    let Some(env) = TestEnv::start_or_skip(opts)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    let client = env.client().unwrap();

    // CRDs first (they must be Established before Rollouts can be created), then the rest.
    env.install_crds(&manifests::crds_yaml().unwrap()).await.unwrap();
    let install = ManifestOptions::default();
    let objs = manifests::objects(&ManifestOptions {
        crds: false,
        ..install.clone()
    });
    let applied = apply_objects(&client, &objs, &install.namespace).await.unwrap();
    let kinds: Vec<_> = applied
        .iter()
        .map(|o| o.types.as_ref().unwrap().kind.clone())
        .collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "Deployment"
        ]
    );
    let dep = Api::<Deployment>::namespaced(client.clone(), &install.namespace)
        .get(&install.name)
        .await
        .unwrap();
    let pod_spec = dep.spec.template.spec.unwrap();
    assert_eq!(
        pod_spec.service_account_name.as_deref(),
        Some("rollout-controller")
    );
    // The server kept the downward-API env the controller uses for its Lease namespace and holder.
    let pod_env: Vec<(String, Option<String>)> = pod_spec.containers[0]
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .map(|e| {
            let path = e.value_from.and_then(|v| v.field_ref).map(|f| f.field_path);
            (e.name, path)
        })
        .collect();
    assert_eq!(
        pod_env,
        [
            (
                "POD_NAMESPACE".to_string(),
                Some("metadata.namespace".to_string())
            ),
            ("POD_NAME".to_string(), Some("metadata.name".to_string())),
        ]
    );

    // Every upstream example applies unchanged, each into its own namespace.
    let mut files: Vec<_> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures at ../shared/fixtures/argo-rollouts relative to the repo root")
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "yaml"))
        .collect();
    files.sort();
    assert_eq!(files.len(), 10, "{files:?}");
    let mut rollouts = 0;
    for (i, file) in files.iter().enumerate() {
        let docs = yaml_documents(&std::fs::read_to_string(file).unwrap()).unwrap();
        let ns = env.namespace(&format!("fixture-{i}")).await.unwrap();
        let stored = apply_objects(&client, &docs, &ns)
            .await
            .unwrap_or_else(|e| panic!("{} does not apply: {e}", file.display()));
        for (doc, got) in docs.iter().zip(&stored) {
            if doc["apiVersion"] == "argoproj.io/v1alpha1" {
                // No field was pruned or defaulted: the stored spec is the document's spec.
                assert_eq!(
                    got.data["spec"],
                    doc["spec"],
                    "{} {}",
                    file.display(),
                    doc["metadata"]["name"]
                );
            }
            if doc["kind"] == "Rollout" {
                rollouts += 1;
            }
        }
    }
    assert_eq!(rollouts, 7);

    // The controller's ServiceAccount: least privilege, checked with real requests.
    let sa = format!("system:serviceaccount:{}:{}", install.namespace, install.name);
    let as_sa = env
        .client_as(&sa, &["system:serviceaccounts", "system:authenticated"])
        .unwrap();
    let gvk = GroupVersionKind::gvk("argoproj.io", "v1alpha1", "Rollout");
    let ar = ApiResource::from_gvk_with_plural(&gvk, "rollouts");
    let all: Api<DynamicObject> = Api::all_with(as_sa.clone(), &ar);
    let listed = all.list(&ListParams::default()).await.unwrap();
    assert_eq!(listed.items.len(), 7);
    let ns0 = listed.items[0].metadata.namespace.clone().unwrap();
    let name0 = listed.items[0].metadata.name.clone().unwrap();
    let in_ns: Api<DynamicObject> = Api::namespaced_with(as_sa.clone(), &ns0, &ar);
    let patched = in_ns
        .patch_status(
            &name0,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"status": {"phase": "Progressing"}})),
        )
        .await
        .unwrap();
    assert_eq!(patched.data["status"]["phase"], "Progressing");
    // Rollouts may be patched: the controller keeps the `rollout.argoproj.io/workload-generation`
    // annotation (RBAC cannot narrow a patch to metadata; the controller writes nothing else).
    let annotated = in_ns
        .patch(
            &name0,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"annotations":
                {"rollout.argoproj.io/workload-generation": "1"}}})),
        )
        .await
        .unwrap();
    assert_eq!(
        annotated.metadata.annotations.unwrap_or_default()["rollout.argoproj.io/workload-generation"],
        "1"
    );
    // Pods: listed (and evicted) for `spec.restartAt` restarts, never deleted. Deletes, listing
    // Deployments or Secrets: all forbidden.
    assert!(
        Api::<Pod>::all(as_sa.clone())
            .list(&ListParams::default())
            .await
            .is_ok()
    );
    assert!(is_forbidden(
        Api::<Pod>::namespaced(as_sa.clone(), &ns0)
            .delete("any-pod", &DeleteParams::default())
            .await
    ));
    assert!(is_forbidden(in_ns.delete(&name0, &DeleteParams::default()).await));
    assert!(is_forbidden(
        Api::<Deployment>::all(as_sa.clone())
            .list(&ListParams::default())
            .await
    ));
    assert!(is_forbidden(
        Api::<Secret>::all(as_sa.clone())
            .list(&ListParams::default())
            .await
    ));
    // Shard Leases: only in the controller's own namespace.
    let lease = |name: &str| -> Lease {
        serde_json::from_value(serde_json::json!({"metadata": {"name": name}})).unwrap()
    };
    Api::<Lease>::namespaced(as_sa.clone(), &install.namespace)
        .create(&PostParams::default(), &lease("rollout-controller-shard-0"))
        .await
        .unwrap();
    assert!(is_forbidden(
        Api::<Lease>::namespaced(as_sa.clone(), &ns0)
            .create(&PostParams::default(), &lease("rollout-controller-shard-0"))
            .await
    ));
}
