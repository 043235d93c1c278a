//! Hostile judge: exports `rollout:judge/evaluator@0.2.0`, which the 0.1 host must refuse at load.

wit_bindgen::generate!({ world: "judge", path: "wit" });

struct WrongVersion;

impl exports::rollout::judge::evaluator::Guest for WrongVersion {
    fn describe() -> String {
        "hostile-wrong-version".to_string()
    }
}

export!(WrongVersion);
