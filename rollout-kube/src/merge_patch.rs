//! JSON merge patches (RFC 7386) of only what changed: how status is written without clobbering
//! fields that users and other tools own.

use serde_json::Value;

/// The JSON merge patch (RFC 7386) that turns `before` into `after`; `Null` when equal.
pub fn merge_diff(before: &Value, after: &Value) -> Value {
    match (before, after) {
        (Value::Object(b), Value::Object(a)) => {
            let mut out = serde_json::Map::new();
            for (k, av) in a {
                match b.get(k) {
                    Some(bv) if bv == av => {}
                    Some(bv) if bv.is_object() && av.is_object() => {
                        let d = merge_diff(bv, av);
                        if !d.is_null() {
                            out.insert(k.clone(), d);
                        }
                    }
                    _ => {
                        out.insert(k.clone(), av.clone());
                    }
                }
            }
            for k in b.keys() {
                if !a.contains_key(k) {
                    out.insert(k.clone(), Value::Null);
                }
            }
            if out.is_empty() {
                Value::Null
            } else {
                Value::Object(out)
            }
        }
        _ if before == after => Value::Null,
        _ => after.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_diff_writes_only_changed_fields() {
        let before = json!({"abort": true, "phase": "Paused", "canary": {"weights": {"canary": 20}, "x": 1}, "gone": 1});
        let after = json!({"abort": true, "phase": "Healthy", "canary": {"weights": {"canary": 20}, "x": 2}});
        assert_eq!(
            merge_diff(&before, &after),
            json!({"phase": "Healthy", "canary": {"x": 2}, "gone": null})
        );
        assert_eq!(merge_diff(&after, &after), Value::Null);
        // Consuming a user field removes it explicitly.
        assert_eq!(
            merge_diff(&json!({"promoteFull": true}), &json!({})),
            json!({"promoteFull": null})
        );
    }
}
