//! `rollout fleet brake add|list|remove` against a real kube-apiserver (skipped locally without
//! ROLLOUT_KUBE_BIN; CI sets it): the holds round-trip through the ConfigMap, a bad hold exits 2
//! with its field path.

use std::path::Path;
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use rollout_kube::testenv::{self, TestEnvOptions};

fn run(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rollout"))
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brake_add_list_remove_round_trip_through_the_configmap() {
    let Some(env) = testenv::shared(TestEnvOptions::default())
        .await
        .unwrap_or_else(|e| panic!("{e}"))
    else {
        return;
    };
    let ns = env.namespace("brake-cli").await.unwrap();
    let kc = env.kubeconfig_path().to_path_buf();
    let brake = |args: &[&str]| {
        let mut all = vec!["fleet", "brake"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["-n", &ns]);
        run(&kc, &all)
    };

    assert_eq!(
        stdout(&brake(&["list"])),
        format!("no holds in {ns}/rollout-fleet-brake\n")
    );
    let add = [
        "add",
        "--image",
        "reg/app:v2",
        "--release",
        "v2",
        "--reason",
        "fails in 7 of 120",
    ];
    assert_eq!(
        stdout(&brake(&add)),
        format!("held image reg/app:v2 (release v2) in {ns}/rollout-fleet-brake\n")
    );
    assert!(stdout(&brake(&add)).starts_with("already held: image reg/app:v2"));
    stdout(&brake(&[
        "add",
        "--revision",
        "5f7d9c",
        "--release",
        "v3",
        "--reason",
        "x",
    ]));

    let list = stdout(&brake(&["list"]));
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 2, "{list}");
    assert!(
        lines[0].starts_with("image reg/app:v2  release v2  since "),
        "{list}"
    );
    assert!(lines[0].ends_with("fails in 7 of 120"), "{list}");
    let json: serde_json::Value =
        serde_json::from_str(&stdout(&brake(&["list", "--output", "json"]))).unwrap();
    assert_eq!(json[1]["revision"], "5f7d9c");

    // What the controller reads: the ConfigMap's holds.yaml.
    let cm = Api::<ConfigMap>::namespaced(env.client().unwrap(), &ns)
        .get("rollout-fleet-brake")
        .await
        .unwrap();
    assert!(cm.data.unwrap()["holds.yaml"].contains("image: reg/app:v2"));

    // A bad hold: exit 2, the field path named, nothing written.
    let bad = brake(&["add", "--image", "reg/app v2", "--release", "v2", "--reason", "r"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("holds[2].image"),
        "{bad:?}"
    );

    assert_eq!(
        stdout(&brake(&["remove", "--release", "v2"])),
        "removed image reg/app:v2 (release v2)\n"
    );
    assert_eq!(
        stdout(&brake(&["remove", "--image", "nothing:held"])),
        format!("no hold matched in {ns}/rollout-fleet-brake\n")
    );
    assert!(stdout(&brake(&["list"])).starts_with("revision 5f7d9c  release v3"));
}
