//! Unit tests of the manifests: RBAC rules, CRDs, install objects.

use super::*;

#[test]
fn every_crd_is_structural_at_the_top() {
    for c in crds() {
        let v = &c["spec"]["versions"][0];
        let schema = &v["schema"]["openAPIV3Schema"];
        assert_eq!(schema["type"], "object");
        assert_eq!(
            schema["properties"]["spec"]["type"], "object",
            "{}",
            c["metadata"]["name"]
        );
        assert_eq!(v["subresources"]["status"], json!({}));
    }
    let names: Vec<_> = crds()
        .iter()
        .map(|c| c["metadata"]["name"].as_str().unwrap_or("").to_string())
        .collect();
    assert_eq!(
        names,
        [
            "rollouts.argoproj.io",
            "analysistemplates.argoproj.io",
            "clusteranalysistemplates.argoproj.io",
            "analysisruns.argoproj.io"
        ]
    );
}

#[test]
fn namespaced_rbac_uses_a_role_and_no_wildcards() {
    let opts = ManifestOptions {
        watch_namespace: Some("team-a".into()),
        ..Default::default()
    };
    let objs = rbac(&opts);
    let kinds: Vec<_> = objs.iter().map(|o| o["kind"].as_str().unwrap_or("")).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding"
        ]
    );
    assert_eq!(objs[1]["metadata"]["namespace"], "team-a");
    // The watched namespace's Role has no Lease rule: Leases live in the controller's namespace.
    assert!(
        objs[1]["rules"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["apiGroups"] != json!(["coordination.k8s.io"]))
    );
    assert_eq!(
        objs[5]["metadata"],
        json!({"name": "rollout-controller-leases", "namespace": "rollout-system"})
    );
    let yaml = all_with(&opts).unwrap();
    assert!(
        !yaml.contains("'*'") && !yaml.contains("\"*\""),
        "no wildcard verbs or resources"
    );
    assert!(yaml.contains("--namespace=team-a"));
}

#[test]
fn the_deployment_passes_pod_namespace_and_name_from_the_downward_api() {
    let opts = ManifestOptions {
        namespace: "ops".into(),
        ..Default::default()
    };
    let d = deployment(&opts);
    let container = &d["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(
        container["env"],
        json!([
            {"name": "POD_NAMESPACE", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.namespace"}}},
            {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}
        ])
    );
    assert_eq!(d["metadata"]["namespace"], "ops");
    // What the controller makes of that env: Leases in the pod's namespace, held by the pod.
    let env = |k: &str| match k {
        "POD_NAMESPACE" => Some("ops".to_string()),
        "POD_NAME" => Some("rollout-controller-5d8f-abcde".to_string()),
        _ => None,
    };
    let shard = crate::sharding::ShardOptions::from_lookup("1", env);
    assert_eq!(shard.lease_namespace, "ops");
    assert_eq!(shard.identity, "rollout-controller-5d8f-abcde");
}

#[test]
fn a_shard_gets_its_own_deployment_running_that_shard() {
    let plain = deployment(&ManifestOptions::default());
    let opts = ManifestOptions {
        shard: Some("2".into()),
        ..Default::default()
    };
    let d = deployment(&opts);
    assert_eq!(plain["metadata"]["name"], "rollout-controller");
    assert_eq!(d["metadata"]["name"], "rollout-controller-shard-2");
    assert_eq!(
        d["spec"]["selector"]["matchLabels"]["app.kubernetes.io/name"],
        "rollout-controller-shard-2"
    );
    let args = &d["spec"]["template"]["spec"]["containers"][0]["args"];
    assert!(args.as_array().unwrap().contains(&json!("--shard=2")), "{args}");
    // Shards share the ServiceAccount, so the RBAC is the same for every shard.
    assert_eq!(rbac(&opts), rbac(&ManifestOptions::default()));
    assert_eq!(
        d["spec"]["template"]["spec"]["serviceAccountName"],
        "rollout-controller"
    );
}

#[test]
fn leases_are_granted_only_in_the_controller_namespace() {
    let opts = ManifestOptions {
        namespace: "ops".into(),
        ..Default::default()
    };
    let objs = rbac(&opts);
    let kinds: Vec<_> = objs.iter().map(|o| o["kind"].as_str().unwrap_or("")).collect();
    assert_eq!(
        kinds,
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding"
        ]
    );
    let cluster_groups: Vec<&Value> = objs[1]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| &r["apiGroups"][0])
        .collect();
    assert!(
        !cluster_groups.contains(&&json!("coordination.k8s.io")),
        "{cluster_groups:?}"
    );
    assert_eq!(cluster_groups.len(), RULES.len() - 1);
    assert_eq!(
        objs[3],
        json!({
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "Role",
            "metadata": {"name": "rollout-controller-leases", "namespace": "ops"},
            "rules": [{
                "apiGroups": ["coordination.k8s.io"],
                "resources": ["leases"],
                "verbs": ["get", "create", "patch", "update"]
            }, {
                "apiGroups": [""],
                "resources": ["configmaps"],
                "resourceNames": ["rollout-fleet-brake", "rollout-policy"],
                "verbs": ["get", "list", "watch"]
            }]
        })
    );
    assert_eq!(
        objs[4]["subjects"],
        json!([{"kind": "ServiceAccount", "name": "rollout-controller", "namespace": "ops"}])
    );
    assert_eq!(objs[4]["roleRef"]["name"], "rollout-controller-leases");
}
