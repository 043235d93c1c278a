//! The test harness itself: start etcd + kube-apiserver + kube-controller-manager, create a
//! namespace and a ConfigMap, see the ReplicaSet controller act, and stop everything by PID.

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use kube::api::{Api, ListParams, PostParams};
use rollout_kube::testenv::{TestEnv, TestEnvOptions};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn starts_serves_and_stops() {
    let Some(env) = TestEnv::start_or_skip(TestEnvOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    let client = env.client().unwrap();
    let version = client.apiserver_version().await.unwrap();
    assert_eq!(version.major, "1");

    let ns = env.namespace("smoke").await.unwrap();
    let cms: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let cm: ConfigMap = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "hello"}, "data": {"greeting": "hi"}
    }))
    .unwrap();
    cms.create(&PostParams::default(), &cm).await.unwrap();
    let got = cms.get("hello").await.unwrap();
    assert_eq!(got.data.unwrap()["greeting"], "hi");

    // The controller-manager's ReplicaSet controller creates pods (there is no scheduler/kubelet).
    let rs: ReplicaSet = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "web"},
        "spec": {
            "replicas": 2,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {"metadata": {"labels": {"app": "web"}},
                         "spec": {"containers": [{"name": "c", "image": "example.invalid/web:1"}]}}
        }
    }))
    .unwrap();
    Api::<ReplicaSet>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &rs)
        .await
        .unwrap();
    let pods: Api<Pod> = Api::namespaced(client.clone(), &ns);
    let mut n = 0;
    for _ in 0..150 {
        n = pods
            .list(&ListParams::default().labels("app=web"))
            .await
            .unwrap()
            .items
            .len();
        if n == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(n, 2, "the ReplicaSet controller should have created 2 pods");

    // Stopping kills the servers: the port stops answering.
    let server = env.server().to_string();
    drop(env);
    let port: u16 = server.rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        std::net::TcpStream::connect(("127.0.0.1", port)).is_err(),
        "apiserver still listening after drop"
    );
}
