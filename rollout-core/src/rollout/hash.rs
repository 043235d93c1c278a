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

use serde_json::{Map, Value};

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
    let empty = Map::new();
    // A template has a handful of keys at each level: a scan is cheaper than hashing the name.
    fn object<'m>(m: &'m Map<String, Value>, name: &str) -> Option<&'m Map<String, Value>> {
        m.iter()
            .find(|(k, _)| *k == name)
            .and_then(|(_, v)| v.as_object())
    }
    let (am, bm) = (
        object(ao, "metadata").unwrap_or(&empty),
        object(bo, "metadata").unwrap_or(&empty),
    );
    let (la, lb) = (
        object(am, "labels").unwrap_or(&empty),
        object(bm, "labels").unwrap_or(&empty),
    );
    entries_eq(ao, bo, |k, _| k != "metadata")
        && entries_eq(am, bm, |k, v| {
            k != "labels" && !(k == "creationTimestamp" && v.is_null())
        })
        && entries_eq(la, lb, |k, _| k != POD_TEMPLATE_HASH_LABEL)
}

/// Whether the entries `keep` accepts are the same in `x` and `y` (values by [`json_eq`]), side by
/// side while the keys come in the same order, by lookup from the first that does not.
fn entries_eq(
    x: &Map<String, Value>,
    y: &Map<String, Value>,
    keep: impl Fn(&str, &Value) -> bool + Copy,
) -> bool {
    let (mut xs, mut ys) = (kept_entries(x, keep), kept_entries(y, keep));
    loop {
        match (xs.next(), ys.next()) {
            (None, None) => return true,
            (Some((ka, va)), Some((kb, vb))) if ka == kb => {
                if !json_eq(va, vb) {
                    return false;
                }
            }
            (Some(_), Some(_)) => break,
            _ => return false,
        }
    }
    kept_entries(x, keep).count() == kept_entries(y, keep).count()
        && kept_entries(x, keep).all(|(k, v)| y.get(k).is_some_and(|w| keep(k, w) && json_eq(v, w)))
}

fn kept_entries(
    m: &Map<String, Value>,
    keep: impl Fn(&str, &Value) -> bool + Copy,
) -> impl Iterator<Item = (&String, &Value)> {
    m.iter().filter(move |(k, v)| keep(k, v))
}

/// `a == b`, walking objects whose keys come in the same order side by side instead of looking
/// each key up (a copied template keeps its order; a lookup hashes the key). Objects in another
/// order fall back to lookups, so the result is always `a == b`.
pub(crate) fn json_eq(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Object(x), Value::Object(y)) => {
            if x.len() != y.len() {
                return false;
            }
            for ((ka, va), (kb, vb)) in x.iter().zip(y) {
                if ka != kb {
                    return x.iter().all(|(k, v)| y.get(k).is_some_and(|w| json_eq(v, w)));
                }
                if !json_eq(va, vb) {
                    return false;
                }
            }
            true
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(v, w)| json_eq(v, w))
        }
        _ => a == b,
    }
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

    fn arb_json() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            (0i64..3).prop_map(Value::from),
            "[ab]{0,2}".prop_map(Value::from),
        ];
        leaf.prop_recursive(4, 32, 4, |inner| {
            prop_oneof![
                proptest::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                proptest::collection::vec(("[abc]", inner), 0..4)
                    .prop_map(|kv| Value::Object(kv.into_iter().collect())),
            ]
        })
    }

    /// The same value with every object's keys in reverse order.
    fn reordered(v: &Value) -> Value {
        match v {
            Value::Object(m) => {
                Value::Object(m.iter().rev().map(|(k, v)| (k.clone(), reordered(v))).collect())
            }
            Value::Array(a) => Value::Array(a.iter().map(reordered).collect()),
            _ => v.clone(),
        }
    }

    /// A pod-template-like value: keys from small pools, so that two draws are often equal.
    fn arb_template() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        let labels = proptest::collection::vec(
            (prop_oneof![Just(POD_TEMPLATE_HASH_LABEL), Just("app")], "[xy]"),
            0..3,
        )
        .prop_map(|kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_string(), v.into())).collect()));
        let created = prop_oneof![Just(Value::Null), Just(Value::from("t"))];
        let metadata = proptest::collection::vec(
            prop_oneof![
                labels.prop_map(|l| ("labels".to_string(), l)),
                created.prop_map(|c| ("creationTimestamp".to_string(), c)),
                "[xy]".prop_map(|a| ("name".to_string(), Value::from(a))),
            ],
            0..3,
        )
        .prop_map(|kv| Value::Object(kv.into_iter().collect()));
        let spec = prop_oneof![
            Just(serde_json::json!({"c": 1})),
            Just(serde_json::json!({"c": 2}))
        ];
        (
            proptest::option::of(metadata),
            proptest::option::of(spec),
            proptest::bool::ANY,
        )
            .prop_map(|(m, s, metadata_first)| {
                let mut t = serde_json::Map::new();
                let m = m.map(|m| ("metadata".to_string(), m));
                let s = s.map(|s| ("spec".to_string(), s));
                let (first, second) = if metadata_first { (m, s) } else { (s, m) };
                t.extend(first.into_iter().chain(second));
                Value::Object(t)
            })
    }

    /// `templates_equal` by its definition: copies without the ignored parts, compared.
    fn templates_equal_by_definition(a: &Value, b: &Value) -> bool {
        let parts = |v: &Value| {
            let mut top = v.as_object().cloned().unwrap_or_default();
            let mut meta = top
                .remove("metadata")
                .and_then(|m| m.as_object().cloned())
                .unwrap_or_default();
            let mut labels = meta
                .remove("labels")
                .and_then(|l| l.as_object().cloned())
                .unwrap_or_default();
            labels.remove(POD_TEMPLATE_HASH_LABEL);
            if meta.get("creationTimestamp").is_some_and(Value::is_null) {
                meta.remove("creationTimestamp");
            }
            (top, meta, labels)
        };
        parts(a) == parts(b)
    }

    proptest::proptest! {
        #[test]
        fn templates_equal_matches_its_definition(a in arb_template(), b in arb_template()) {
            let expected = templates_equal_by_definition(&a, &b);
            proptest::prop_assert_eq!(templates_equal(&a, &b), expected);
            proptest::prop_assert_eq!(templates_equal(&reordered(&a), &b), expected);
        }

        #[test]
        fn json_eq_is_equality(a in arb_json(), b in arb_json(), flip in proptest::bool::ANY) {
            // Unrelated values, a value and its reordered copy, and a reordered copy of a changed value.
            proptest::prop_assert_eq!(json_eq(&a, &b), a == b);
            let r = reordered(&a);
            proptest::prop_assert!(json_eq(&a, &r) && json_eq(&r, &a));
            let c = if flip { reordered(&b) } else { b.clone() };
            let mixed = serde_json::json!({"x": a.clone(), "y": c.clone()});
            let other = serde_json::json!({"y": b.clone(), "x": r.clone()});
            proptest::prop_assert_eq!(json_eq(&mixed, &other), mixed == other);
        }
    }

    #[test]
    fn go_escaping() {
        let mut s = String::new();
        go_json(&serde_json::json!({"b": "<&>", "a": 1}), true, &mut s);
        assert_eq!(s, r#"{"a":1,"b":"\u003c\u0026\u003e"}"#);
    }
}
