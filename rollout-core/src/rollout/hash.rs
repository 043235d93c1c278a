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
/// assert_eq!(safe_encode("0123"), "4567");
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

/// A `serde_json` formatter that escapes like Go's `encoding/json` (HTML-safe `<`, `>`, `&`,
/// U+2028/U+2029, and `\u0008`/`\u000c` instead of `\b`/`\f`).
struct GoFormatter;

impl serde_json::ser::Formatter for GoFormatter {
    fn write_string_fragment<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        fragment: &str,
    ) -> std::io::Result<()> {
        let mut start = 0;
        for (i, c) in fragment.char_indices() {
            if matches!(c, '<' | '>' | '&' | '\u{2028}' | '\u{2029}') {
                writer.write_all(&fragment.as_bytes()[start..i])?;
                write!(writer, "\\u{:04x}", u32::from(c))?;
                start = i + c.len_utf8();
            }
        }
        writer.write_all(&fragment.as_bytes()[start..])
    }

    fn write_char_escape<W: ?Sized + std::io::Write>(
        &mut self,
        writer: &mut W,
        escape: serde_json::ser::CharEscape,
    ) -> std::io::Result<()> {
        use serde_json::ser::CharEscape::*;
        let s: &[u8] = match escape {
            Quote => b"\\\"",
            ReverseSolidus => b"\\\\",
            Solidus => b"/",
            LineFeed => b"\\n",
            CarriageReturn => b"\\r",
            Tab => b"\\t",
            Backspace => b"\\u0008",
            FormFeed => b"\\u000c",
            AsciiControl(b) => return write!(writer, "\\u{:04x}", b),
        };
        writer.write_all(s)
    }
}

/// Upstream `ComputeStepHash`: FNV-1a-32 over `json.Marshal(steps)` (`null` when steps are
/// absent), decimal, safe-encoded. Blue-green rollouts have an empty step hash.
pub fn step_hash(steps: Option<&[CanaryStep]>) -> String {
    use serde::Serialize;
    let mut json: Vec<u8> = Vec::with_capacity(256);
    let mut ser = serde_json::Serializer::with_formatter(&mut json, GoFormatter);
    if steps.serialize(&mut ser).is_err() {
        json = b"null".to_vec();
    }
    let mut h = Fnv1a32::default();
    h.write(&json);
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
/// (which the controller adds to RS templates) and a null `metadata.creationTimestamp`.
/// Compares in place, without cloning.
pub fn templates_equal(a: &Value, b: &Value) -> bool {
    let (Some(ao), Some(bo)) = (a.as_object(), b.as_object()) else {
        return a == b;
    };
    let empty = serde_json::Map::new();
    let am = ao.get("metadata").and_then(Value::as_object).unwrap_or(&empty);
    let bm = bo.get("metadata").and_then(Value::as_object).unwrap_or(&empty);
    let other_keys_equal = |x: &serde_json::Map<String, Value>, y: &serde_json::Map<String, Value>| {
        x.iter()
            .filter(|(k, _)| k.as_str() != "metadata")
            .all(|(k, v)| y.get(k) == Some(v))
            && y.keys().filter(|k| k.as_str() != "metadata").count()
                == x.keys().filter(|k| k.as_str() != "metadata").count()
    };
    if !other_keys_equal(ao, bo) {
        return false;
    }
    let skip = |k: &str, v: &Value| k == "labels" || (k == "creationTimestamp" && v.is_null());
    let meta_eq = |x: &serde_json::Map<String, Value>, y: &serde_json::Map<String, Value>| {
        x.iter()
            .filter(|(k, v)| !skip(k, v))
            .all(|(k, v)| y.get(k) == Some(v))
    };
    if !meta_eq(am, bm) || !meta_eq(bm, am) {
        return false;
    }
    let la = am.get("labels").and_then(Value::as_object).unwrap_or(&empty);
    let lb = bm.get("labels").and_then(Value::as_object).unwrap_or(&empty);
    let count = |l: &serde_json::Map<String, Value>| {
        l.keys().filter(|k| k.as_str() != POD_TEMPLATE_HASH_LABEL).count()
    };
    count(la) == count(lb)
        && la
            .iter()
            .filter(|(k, _)| k.as_str() != POD_TEMPLATE_HASH_LABEL)
            .all(|(k, v)| lb.get(k) == Some(v))
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
    fn step_json_matches_go_marshal() {
        use crate::common::IntOrString;
        let steps = vec![
            CanaryStep::set_weight(20),
            CanaryStep::pause(None),
            CanaryStep::pause(Some(IntOrString::String("40s".into()))),
            CanaryStep::pause(Some(IntOrString::Int(10))),
        ];
        // What Go's json.Marshal([]CanaryStep) writes for these steps.
        let go = r#"[{"setWeight":20},{"pause":{}},{"pause":{"duration":"40s"}},{"pause":{"duration":10}}]"#;
        let mut h = Fnv1a32::default();
        h.write(go.as_bytes());
        assert_eq!(step_hash(Some(&steps)), encode(h));
        let mut h = Fnv1a32::default();
        h.write(b"null");
        assert_eq!(step_hash(None), encode(h));
        let mut v = serde_json::to_value(vec![CanaryStep {
            set_header_route: Some(serde_json::json!({"name": "a<b>&"})),
            ..Default::default()
        }])
        .unwrap();
        let mut s = String::new();
        go_json(&v, false, &mut s);
        assert_eq!(s, r#"[{"setHeaderRoute":{"name":"a\u003cb\u003e\u0026"}}]"#);
        let mut h = Fnv1a32::default();
        h.write(s.as_bytes());
        let steps: Vec<CanaryStep> = serde_json::from_value(v.take()).unwrap();
        assert_eq!(step_hash(Some(&steps)), encode(h));
    }

    #[test]
    fn step_hash_matches_a_live_argo_rollout() {
        // status.currentStepHash of a Rollout written by the Argo controller (v1.7, 2024).
        let steps: Vec<CanaryStep> = serde_json::from_value(serde_json::json!([
            {"setWeight": 25},
            {"analysis": {"analysisRunMetadata": {},
                          "templates": [{"templateName": "random-fail"}, {"templateName": "always-pass"}]}}
        ]))
        .unwrap();
        assert_eq!(step_hash(Some(&steps)), "84d4b665cd");
    }

    #[test]
    fn templates_equal_ignores_hash_label() {
        let a = serde_json::json!({"metadata": {"labels": {"app": "x"}}, "spec": {"c": 1}});
        let b = serde_json::json!({"metadata": {"labels": {"app": "x", "rollouts-pod-template-hash": "h"},
                                                "creationTimestamp": null}, "spec": {"c": 1}});
        let c = serde_json::json!({"metadata": {"labels": {"app": "y"}}, "spec": {"c": 1}});
        let d = serde_json::json!({"metadata": {"labels": {"app": "x"}}, "spec": {"c": 2}});
        assert!(templates_equal(&a, &b));
        assert!(templates_equal(&b, &a));
        assert!(!templates_equal(&a, &c));
        assert!(!templates_equal(&a, &d));
    }

    #[test]
    fn go_escaping() {
        let mut s = String::new();
        go_json(&serde_json::json!({"b": "<&>", "a": 1}), true, &mut s);
        assert_eq!(s, r#"{"a":1,"b":"\u003c\u0026\u003e"}"#);
    }
}
