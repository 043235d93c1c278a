//! Seeded mutation of YAML and JSON inputs for the fuzz tests: structure-aware (extreme scalars,
//! deleted and duplicated keys and items, deep nesting, long strings, changed types), textual
//! (YAML aliases, deep flow nesting, odd scalars such as `.nan`) and byte-level (flips, inserted
//! YAML indicators, deleted or repeated ranges, truncation). Deterministic for a seed.
//!
//! Reuse: `Rng::new(seed)` and [`mutate_yaml`] for YAML files, or [`mutate_value`] on a parsed
//! `serde_json::Value` followed by `serde_json::to_vec` for JSON inputs (judge inputs).
#![allow(dead_code)]

use serde_json::{Value, json};

/// A small deterministic generator (SplitMix64): no dependency, same sequence everywhere.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (0 when `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// True with probability `percent`/100.
    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Scalars that break assumptions: limits of every integer type, huge and tiny floats, durations
/// out of range, empty and odd strings, wrong types.
fn extreme(rng: &mut Rng) -> Value {
    let choices = [
        json!(0),
        json!(-1),
        json!(i32::MAX),
        json!(i32::MIN),
        json!(i64::MAX),
        json!(u64::MAX),
        json!(1e18),
        json!(-1e308),
        json!(1e-300),
        json!(0.5),
        json!(true),
        Value::Null,
        json!(""),
        json!("0"),
        json!("-5s"),
        json!("0s"),
        json!("1ms"),
        json!("2562047h"),
        json!("9223372036854775807"),
        json!("1e18"),
        json!("100%"),
        json!("101%"),
        json!("-1%"),
        json!("{{args.missing}}"),
        json!("\u{0}\u{7f}💥"),
        json!({}),
        json!([]),
    ];
    rng.pick(&choices).clone()
}

/// Every path to a node of `v` (the root is the empty path), at most `limit` of them.
fn paths(v: &Value, limit: usize) -> Vec<Vec<PathKey>> {
    let mut out = Vec::new();
    let mut stack = vec![(Vec::new(), v)];
    while let Some((path, node)) = stack.pop() {
        if out.len() >= limit {
            break;
        }
        match node {
            Value::Object(m) => {
                for (k, child) in m {
                    let mut p = path.clone();
                    p.push(PathKey::Key(k.clone()));
                    stack.push((p, child));
                }
            }
            Value::Array(a) => {
                for (i, child) in a.iter().enumerate() {
                    let mut p = path.clone();
                    p.push(PathKey::Index(i));
                    stack.push((p, child));
                }
            }
            _ => {}
        }
        out.push(path);
    }
    out
}

#[derive(Debug, Clone)]
enum PathKey {
    Key(String),
    Index(usize),
}

fn node_mut<'a>(v: &'a mut Value, path: &[PathKey]) -> Option<&'a mut Value> {
    path.iter().try_fold(v, |node, key| match key {
        PathKey::Key(k) => node.get_mut(k.as_str()),
        PathKey::Index(i) => node.get_mut(*i),
    })
}

fn nest(v: Value, depth: usize, rng: &mut Rng) -> Value {
    let as_map = rng.chance(50);
    (0..depth).fold(v, |inner, _| {
        if as_map {
            json!({ "a": inner })
        } else {
            json!([inner])
        }
    })
}

/// Applies one to three structure-aware mutations to `v`.
pub fn mutate_value(rng: &mut Rng, v: &mut Value) {
    for _ in 0..=rng.below(3) {
        let all = paths(v, 10_000);
        let path = rng.pick(&all).clone();
        let (parent_path, last) = match path.split_last() {
            Some((last, parent)) => (parent.to_vec(), Some(last.clone())),
            None => (Vec::new(), None),
        };
        let op = rng.below(8);
        match (op, &last) {
            // Delete the key or item.
            (0, Some(key)) => match (node_mut(v, &parent_path), key) {
                (Some(Value::Object(m)), PathKey::Key(k)) => {
                    m.remove(k);
                }
                (Some(Value::Array(a)), PathKey::Index(i)) if *i < a.len() => {
                    a.remove(*i);
                }
                _ => {}
            },
            // Duplicate it: an item many times, a key under a second name.
            (1, Some(key)) => {
                let copies = *rng.pick(&[2, 50, 2_000]);
                let Some(node) = node_mut(v, &path).cloned() else {
                    continue;
                };
                match (node_mut(v, &parent_path), key) {
                    (Some(Value::Array(a)), _) => a.extend(std::iter::repeat_n(node, copies)),
                    (Some(Value::Object(m)), PathKey::Key(k)) => {
                        m.insert(format!("{k}-copy"), node);
                    }
                    _ => {}
                }
            }
            // Deep nesting.
            (2, _) => {
                if let Some(node) = node_mut(v, &path) {
                    let depth = *rng.pick(&[10, 70, 300]);
                    *node = nest(node.take(), depth, rng);
                }
            }
            // A long string.
            (3, _) => {
                if let Some(node) = node_mut(v, &path) {
                    let len = *rng.pick(&[1_000, 100_000, 300_000]);
                    *node = Value::String("x".repeat(len));
                }
            }
            // Another type.
            (4, _) => {
                if let Some(node) = node_mut(v, &path) {
                    *node = match rng.below(3) {
                        0 => json!([node.take()]),
                        1 => json!({ "value": node.take() }),
                        _ => Value::String(node.to_string()),
                    };
                }
            }
            // An extreme scalar (most often: the commonest source of bugs).
            _ => {
                if let Some(node) = node_mut(v, &path) {
                    *node = extreme(rng);
                }
            }
        }
    }
}

/// YAML text whose aliases expand to far more than the text: a long anchored string referenced
/// many times, or nested anchors ("billion laughs").
pub fn alias_bomb(rng: &mut Rng) -> String {
    if rng.chance(50) {
        let long = "a".repeat(*rng.pick(&[1_000, 100_000]));
        let refs = *rng.pick(&[100, 20_000]);
        format!("x-anchor: &s \"{long}\"\nx-refs:\n{}", "  - *s\n".repeat(refs))
    } else {
        let mut text = String::from("x-l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for k in 1..10 {
            let refs = vec![format!("*l{}", k - 1); 10].join(", ");
            text.push_str(&format!("x-l{k}: &l{k} [{refs}]\n"));
        }
        text
    }
}

/// Odd YAML scalars that JSON cannot express.
const YAML_SCALARS: [&str; 12] = [
    ".nan",
    ".inf",
    "-.inf",
    "~",
    "0x7fffffff",
    "0o777",
    "1e400",
    "-0",
    "!!binary aGk=",
    "*undefined",
    "&a",
    "'unterminated",
];

/// Characters with a meaning in YAML, for byte-level insertions.
const INDICATORS: &[u8] = b"{}[]&*!|>-:#'\"%@`,? \t\n";

/// Replaces the value after one `key: ` with an odd scalar.
fn odd_scalar(rng: &mut Rng, text: &str) -> String {
    let positions: Vec<usize> = text.match_indices(": ").map(|(i, _)| i + 2).collect();
    if positions.is_empty() {
        return text.to_string();
    }
    let at = *rng.pick(&positions);
    let end = text[at..].find('\n').map_or(text.len(), |n| at + n);
    format!("{}{}{}", &text[..at], rng.pick(&YAML_SCALARS), &text[end..])
}

/// One to four byte-level mutations.
fn mutate_bytes(rng: &mut Rng, bytes: &mut Vec<u8>) {
    for _ in 0..=rng.below(4) {
        if bytes.is_empty() {
            bytes.push(b'{');
        }
        let at = rng.below(bytes.len());
        match rng.below(6) {
            0 => bytes[at] ^= 1 << rng.below(8),
            1 => bytes.insert(at, *rng.pick(INDICATORS)),
            2 => {
                let end = (at + rng.below(64)).min(bytes.len());
                bytes.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(200)).min(bytes.len());
                let chunk = bytes[at..end].to_vec();
                for _ in 0..rng.below(20) {
                    bytes.splice(at..at, chunk.iter().copied());
                }
            }
            4 => bytes.truncate(at),
            _ => bytes[at] = rng.below(256) as u8,
        }
    }
}

/// A mutant of a YAML file (one or more documents): a structure-aware mutation of one document
/// (60%), a textual one (25%: aliases, deep flow nesting, odd scalars) or byte-level (15%).
/// The result may be invalid UTF-8.
pub fn mutate_yaml(rng: &mut Rng, text: &str) -> Vec<u8> {
    let roll = rng.below(100);
    if roll < 60 {
        let docs: Vec<Value> = serde_yaml::Deserializer::from_str(text)
            .filter_map(|d| serde::Deserialize::deserialize(d).ok())
            .filter(|v: &Value| !v.is_null())
            .collect();
        if !docs.is_empty() {
            let mut docs = docs;
            let k = rng.below(docs.len());
            mutate_value(rng, &mut docs[k]);
            let parts: Vec<String> = docs
                .iter()
                .filter_map(|d| serde_yaml::to_string(d).ok())
                .collect();
            return parts.join("---\n").into_bytes();
        }
    }
    if roll < 85 {
        return match rng.below(3) {
            0 => format!("{text}\n{}", alias_bomb(rng)).into_bytes(),
            1 => {
                let depth = *rng.pick(&[70, 5_000, 40_000]);
                format!("{text}\nx-deep: {}{}\n", "{a: ".repeat(depth), "}".repeat(depth)).into_bytes()
            }
            _ => odd_scalar(rng, text).into_bytes(),
        };
    }
    let mut bytes = text.as_bytes().to_vec();
    mutate_bytes(rng, &mut bytes);
    bytes
}
