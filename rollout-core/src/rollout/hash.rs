//! Hashes: upstream's step hash (`currentStepHash`) and our pod-template hash.
//!
//! Both use upstream's scheme: FNV-1a-32 over JSON bytes, the `u32` printed in decimal, then
//! Kubernetes' `SafeEncodeString`. The step hash is byte-compatible with upstream (steps are
//! serialised in Go's field order with Go's escaping), so taking over a Rollout from an Argo
//! controller keeps its step index. Opaque step bodies (`experiment`, `setHeaderRoute`,
//! `setMirrorRoute`, `plugin`) keep their input key order, which can differ from Go's.
//!
//! The pod-template hash is deterministic (keys sorted) but cannot reproduce Go's struct
//! order for a full `PodTemplateSpec`; the machine therefore also adopts an existing
//! ReplicaSet whose template is *equal* to the desired one, whatever its hash.

use serde_json::Value;

use super::spec::CanaryStep;

/// Kubernetes' `rand.SafeEncodeString` alphabet (no vowels, no confusable characters).
const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";

/// FNV-1a 32-bit hasher.
#[derive(Debug, Clone, Copy)]
pub struct Fnv1a32(u32);

impl Default for Fnv1a32 {
    fn default() -> Self {
        Fnv1a32(0x811c_9dc5)
    }
}

impl Fnv1a32 {
    /// Feeds bytes.
    pub fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u32::from(*b);
            self.0 = self.0.wrapping_mul(0x0100_0193);
        }
    }
    /// The hash value.
    pub fn finish(self) -> u32 {
        self.0
    }
}

/// Kubernetes' `SafeEncodeString`: maps each byte to the safe alphabet.
///
/// ```
/// use rollout_core::rollout::hash::safe_encode;
/// assert_eq!(safe_encode("0123"), "2456");
/// ```
pub fn safe_encode(s: &str) -> String {
    s.bytes()
        .map(|b| char::from(ALPHANUMS[usize::from(b) % ALPHANUMS.len()]))
        .collect()
}

/// Writes `v` as Go's `encoding/json` would (HTML-safe escaping), keeping map order, or with
/// sorted keys when `sort_keys`.
pub fn go_json(v: &Value, sort_keys: bool, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => go_string(s, out),
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_json(x, sort_keys, out);
            }
            out.push(']');
        }
        Value::Object(m) => {
            out.push('{');
            let mut entries: Vec<(&String, &Value)> = m.iter().collect();
            if sort_keys {
                entries.sort_by(|a, b| a.0.cmp(b.0));
            }
            for (i, (k, x)) in entries.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                go_string(k, out);
                out.push(':');
                go_json(x, sort_keys, out);
            }
            out.push('}');
        }
    }
}

fn go_string(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                out.push_str(&format!("\\u{:04x}", u32::from(c)));
            }
            c if u32::from(c) < 0x20 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
}

fn encode(h: Fnv1a32) -> String {
    safe_encode(&h.finish().to_string())
}

/// Upstream `ComputeStepHash`: FNV-1a-32 over `json.Marshal(steps)` (`null` when steps are
/// absent), decimal, safe-encoded. Blue-green rollouts have an empty step hash.
pub fn step_hash(steps: Option<&[CanaryStep]>) -> String {
    let mut json = String::new();
    match steps {
        None => json.push_str("null"),
        Some(steps) => match serde_json::to_value(steps) {
            Ok(v) => go_json(&v, false, &mut json),
            Err(_) => json.push_str("null"),
        },
    }
    let mut h = Fnv1a32::default();
    h.write(json.as_bytes());
    encode(h)
}

/// Pod-template hash: FNV-1a-32 over the template's JSON with sorted keys, then (if a
/// collision count is set) its `u32` little-endian bytes followed by 4 zero bytes, as upstream.
pub fn pod_template_hash(template: &Value, collision_count: Option<i32>) -> String {
    let mut json = String::new();
    go_json(template, true, &mut json);
    let mut h = Fnv1a32::default();
    h.write(json.as_bytes());
    if let Some(c) = collision_count {
        let mut bytes = [0u8; 8];
        bytes[..4].copy_from_slice(&(c as u32).to_le_bytes());
        h.write(&bytes);
    }
    encode(h)
}

/// The label the controller adds to pods and RS templates.
pub const POD_TEMPLATE_HASH_LABEL: &str = "rollouts-pod-template-hash";

/// Whether two pod templates are equal, ignoring the `rollouts-pod-template-hash` label
/// (which the controller adds to RS templates) and an empty `metadata.creationTimestamp`.
pub fn templates_equal(a: &Value, b: &Value) -> bool {
    normalize(a) == normalize(b)
}

fn normalize(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(meta) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        if meta.get("creationTimestamp").is_some_and(Value::is_null) {
            meta.remove("creationTimestamp");
        }
        if let Some(labels) = meta.get_mut("labels").and_then(Value::as_object_mut) {
            labels.remove(POD_TEMPLATE_HASH_LABEL);
            if labels.is_empty() {
                meta.remove("labels");
            }
        }
        if meta.is_empty()
            && let Some(obj) = v.as_object_mut()
        {
            obj.remove("metadata");
        }
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fnv_known_vectors() {
        let mut h = Fnv1a32::default();
        assert_eq!(h.finish(), 0x811c9dc5);
        h.write(b"a");
        assert_eq!(h.finish(), 0xe40c292c);
        let mut h = Fnv1a32::default();
        h.write(b"foobar");
        assert_eq!(h.finish(), 0xbf9cf968);
    }

    #[test]
    fn go_escaping() {
        let mut s = String::new();
        go_json(&serde_json::json!({"b": "<&>", "a": 1}), true, &mut s);
        assert_eq!(s, r#"{"a":1,"b":"\u003c\u0026\u003e"}"#);
    }
}
