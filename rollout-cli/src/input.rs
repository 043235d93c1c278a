//! Bounds on the YAML files the commands read, checked before anything is built from them, so
//! that any input finishes or is refused quickly with a one-line error.
//!
//! | limit | value | why |
//! |---|---|---|
//! | file size | [`MAX_FILE_BYTES`] (2 MiB) | read and parse time |
//! | nesting depth | [`MAX_DEPTH`] (64 levels) | the YAML scanner's cost grows with flow nesting |
//! | expanded size | [`MAX_EXPANDED_BYTES`] (8 MiB of scalars) after replacing aliases | alias bombs |
//! | expanded values | [`MAX_VALUES`] (1,000,000 scalars and collections) | memory per value |
//!
//! The depth is first estimated from the text (flow collections and indentation) before the
//! parser runs, because a deeply nested flow collection is slow to scan; then one parse counts
//! the values and bytes every document expands to, following aliases, and stops as soon as a
//! limit is passed.

use std::fmt;
use std::io::Read as _;
use std::path::Path;

use serde::de::{
    self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess, VariantAccess, Visitor,
};

use crate::CliError;

/// The largest file read: 2 MiB.
pub const MAX_FILE_BYTES: usize = 2 * 1024 * 1024;
/// The deepest nesting of collections (mappings and sequences).
pub const MAX_DEPTH: usize = 64;
/// The most bytes of scalars (keys, strings, numbers, tags) a file may expand to once every
/// alias is replaced by its anchor's content: 8 MiB.
pub const MAX_EXPANDED_BYTES: usize = 8 * 1024 * 1024;
/// The most values (scalars and collections) a file may expand to.
pub const MAX_VALUES: usize = 1_000_000;

/// Reads a YAML file of at most [`MAX_FILE_BYTES`] and checks it with [`check_yaml_bounds`];
/// errors name the file.
pub fn read_yaml(path: &Path) -> Result<String, CliError> {
    let label = path.display();
    let file = std::fs::File::open(path).map_err(|e| CliError::new(format!("cannot read {label}: {e}")))?;
    let mut bytes = Vec::new();
    let limit = u64::try_from(MAX_FILE_BYTES).unwrap_or(u64::MAX);
    file.take(limit.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| CliError::new(format!("cannot read {label}: {e}")))?;
    if bytes.len() > MAX_FILE_BYTES {
        return Err(CliError::new(format!(
            "{label}: larger than {}, the largest file read",
            mib(MAX_FILE_BYTES)
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| CliError::new(format!("cannot read {label}: {e}")))?;
    check_yaml_bounds(&text).map_err(|e| CliError::new(format!("{label}: {e}")))?;
    Ok(text)
}

/// Checks YAML text against the documented limits: size, nesting depth, and the size and
/// number of values every document expands to (aliases included). Text that does not parse
/// passes (the caller's parser reports it with its position).
pub fn check_yaml_bounds(text: &str) -> Result<(), CliError> {
    if text.len() > MAX_FILE_BYTES {
        return Err(CliError::new(format!(
            "{} bytes of YAML; at most {} are read",
            text.len(),
            mib(MAX_FILE_BYTES)
        )));
    }
    if let Some(line) = nesting_deeper_than(text, MAX_DEPTH) {
        return Err(CliError::new(format!(
            "YAML nested deeper than {MAX_DEPTH} levels (line {line})"
        )));
    }
    let mut budget = Budget::default();
    for document in serde_yaml::Deserializer::from_str(text) {
        match (Counter {
            budget: &mut budget,
            depth: 0,
        })
        .deserialize(document)
        {
            Ok(()) => {}
            Err(e) if budget.exceeded.is_some() => {
                let what = budget.exceeded.take().unwrap_or_default();
                let at = e
                    .location()
                    .map_or(String::new(), |l| format!(" (line {})", l.line()));
                return Err(CliError::new(format!("{what}{at}")));
            }
            // Not a bounds problem: the parser that reads the file reports it.
            Err(_) => return Ok(()),
        }
    }
    Ok(())
}

fn mib(bytes: usize) -> String {
    format!("{} MiB", bytes / (1024 * 1024))
}

/// The 1-based line where nesting (flow collections plus block indentation levels) first
/// exceeds `max`, estimated from the text without parsing it. Quoted scalars, comments and
/// block scalars (`|`, `>`) are skipped; a `[` or `{` opens a flow collection where a value
/// can start.
fn nesting_deeper_than(text: &str, max: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let mut i = 0;
    let mut line = 1;
    let mut flow = 0usize;
    // Indentations of the enclosing block collections.
    let mut indents: Vec<usize> = Vec::new();
    let mut value_start = true;
    let mut line_start = true;
    while i < bytes.len() {
        if line_start && flow == 0 {
            line_start = false;
            let indent = bytes[i..].iter().take_while(|b| **b == b' ').count();
            i += indent;
            if i >= bytes.len() || matches!(bytes[i], b'\n' | b'\r' | b'#') {
                continue;
            }
            while indents.last().is_some_and(|top| *top >= indent) {
                indents.pop();
            }
            indents.push(indent);
            value_start = true;
        }
        if indents.len() + flow > max {
            return Some(line);
        }
        let b = bytes[i];
        let next = bytes.get(i + 1).copied();
        let separated = |n: Option<u8>| matches!(n, None | Some(b' ' | b'\t' | b'\n' | b'\r'));
        match b {
            b'\n' => {
                line += 1;
                line_start = true;
                value_start = flow > 0;
            }
            b'#' if i == 0 || matches!(bytes[i - 1], b' ' | b'\t' | b'\n') => {
                i = skip_line(bytes, i);
                continue;
            }
            b'"' | b'\'' if value_start => {
                let (end, lines) = skip_quoted(bytes, i);
                i = end;
                line += lines;
                value_start = false;
                continue;
            }
            b'[' | b'{' if value_start || flow > 0 => {
                flow += 1;
                value_start = true;
            }
            b']' | b'}' if flow > 0 => {
                flow -= 1;
                value_start = false;
            }
            b',' if flow > 0 => value_start = true,
            b':' if flow > 0 || separated(next) => value_start = true,
            b'-' | b'?' if value_start && separated(next) => {
                // A block sequence entry (or complex key) nests one level inside the line.
                indents.push(usize::MAX - indents.len());
            }
            b'|' | b'>' if value_start && flow == 0 => {
                let (end, lines) = skip_block_scalar(bytes, i);
                i = end;
                line += lines;
                line_start = true;
                continue;
            }
            b'&' | b'!' if value_start => {
                while i < bytes.len() && !matches!(bytes[i], b' ' | b'\t' | b'\n') {
                    i += 1;
                }
                continue;
            }
            b' ' | b'\t' | b'\r' => {}
            _ => value_start = false,
        }
        i += 1;
    }
    None
}

fn skip_line(bytes: &[u8], from: usize) -> usize {
    bytes[from..]
        .iter()
        .position(|b| *b == b'\n')
        .map_or(bytes.len(), |n| from + n)
}

/// Skips a quoted scalar starting at `from`; returns the index after it and the newlines in it.
fn skip_quoted(bytes: &[u8], from: usize) -> (usize, usize) {
    let quote = bytes[from];
    let mut i = from + 1;
    let mut lines = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' if quote == b'"' => i += 1,
            b'\'' if quote == b'\'' && bytes.get(i + 1) == Some(&b'\'') => i += 1,
            b if b == quote => return (i + 1, lines),
            b'\n' => lines += 1,
            _ => {}
        }
        i += 1;
    }
    (bytes.len(), lines)
}

/// Skips a block scalar whose indicator is at `from`: the rest of its line, then every line that
/// is blank or indented more than the indicator's line. Returns the start of the next line that
/// is not part of it and the newlines skipped.
fn skip_block_scalar(bytes: &[u8], from: usize) -> (usize, usize) {
    let line_begin = bytes[..from]
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |n| n + 1);
    let parent_indent = bytes[line_begin..].iter().take_while(|b| **b == b' ').count();
    let mut i = skip_line(bytes, from);
    let mut lines = 0;
    while i < bytes.len() {
        // `i` is at a newline: look at the next line.
        let start = i + 1;
        let indent = bytes[start..].iter().take_while(|b| **b == b' ').count();
        let blank = matches!(bytes.get(start + indent), None | Some(b'\n' | b'\r'));
        if !blank && indent <= parent_indent {
            return (start, lines + 1);
        }
        lines += 1;
        i = skip_line(bytes, start);
    }
    (bytes.len(), lines)
}

/// What a file has expanded to so far.
#[derive(Debug, Default)]
struct Budget {
    bytes: usize,
    values: usize,
    /// Why counting stopped, once a limit was passed.
    exceeded: Option<String>,
}

impl Budget {
    fn add<E: de::Error>(&mut self, bytes: usize) -> Result<(), E> {
        self.values += 1;
        self.bytes = self.bytes.saturating_add(bytes);
        let exceeded = if self.values > MAX_VALUES {
            format!("YAML expands to more than {MAX_VALUES} values (aliases included)")
        } else if self.bytes > MAX_EXPANDED_BYTES {
            format!(
                "YAML expands to more than {} once aliases are replaced",
                mib(MAX_EXPANDED_BYTES)
            )
        } else {
            return Ok(());
        };
        let error = E::custom(&exceeded);
        self.exceeded = Some(exceeded);
        Err(error)
    }
}

/// Walks one value (following aliases, as every consumer of the parse does) and counts it.
struct Counter<'b> {
    budget: &'b mut Budget,
    depth: usize,
}

impl Counter<'_> {
    fn child(&mut self) -> Counter<'_> {
        Counter {
            budget: self.budget,
            depth: self.depth + 1,
        }
    }

    fn nested<E: de::Error>(&mut self) -> Result<(), E> {
        if self.depth >= MAX_DEPTH {
            let exceeded = format!("YAML nested deeper than {MAX_DEPTH} levels (aliases included)");
            let error = E::custom(&exceeded);
            self.budget.exceeded = Some(exceeded);
            return Err(error);
        }
        self.budget.add(0)
    }
}

impl<'de> DeserializeSeed<'de> for Counter<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Counter<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, _: bool) -> Result<(), E> {
        self.budget.add(1)
    }
    fn visit_i64<E: de::Error>(self, _: i64) -> Result<(), E> {
        self.budget.add(8)
    }
    fn visit_u64<E: de::Error>(self, _: u64) -> Result<(), E> {
        self.budget.add(8)
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<(), E> {
        self.budget.add(8)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.budget.add(v.len())
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        self.budget.add(0)
    }
    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        self.budget.add(0)
    }

    fn visit_seq<A: SeqAccess<'de>>(mut self, mut seq: A) -> Result<(), A::Error> {
        self.nested()?;
        while seq.next_element_seed(self.child())?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(mut self, mut map: A) -> Result<(), A::Error> {
        self.nested()?;
        while map.next_key_seed(self.child())?.is_some() {
            map.next_value_seed(self.child())?;
        }
        Ok(())
    }

    fn visit_enum<A: EnumAccess<'de>>(mut self, data: A) -> Result<(), A::Error> {
        // A tagged value: `!tag value`.
        let (tag, variant) = data.variant::<String>()?;
        self.budget.add(tag.len())?;
        variant.newtype_variant_seed(self.child())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(text: &str) -> String {
        check_yaml_bounds(text).unwrap_err().to_string()
    }

    #[test]
    fn ordinary_files_pass() {
        for text in [
            include_str!("../../examples/scenarios/rollout.yaml"),
            include_str!("../../examples/scenarios/analysis.yaml"),
            include_str!("../../examples/templates/kayenta.yaml"),
            "a: &x {b: [1, 2]}\nc: *x\nd: 'it''s [not' # a comment [[[\ne: \"{{\"\nf: |\n  [[[[\n  {{{{\n",
            "not: [valid\n",
        ] {
            check_yaml_bounds(text).unwrap();
        }
    }

    #[test]
    fn an_alias_bomb_is_refused_by_expanded_size() {
        // The 160 KB file from the issue: 20,000 references to a 100,000-byte string.
        let text = format!(
            "x: &s \"{}\"\ny:\n{}",
            "a".repeat(100_000),
            "- *s\n".repeat(20_000)
        );
        assert!(text.len() < 300_000);
        assert!(refused(&text).starts_with("YAML expands to more than 8 MiB once aliases are replaced"));
        // Many small values: an anchored list of 1,000 items referenced 2,000 times.
        let items = format!(
            "x: &l [{}]\ny:\n{}",
            vec!["1"; 1_000].join(", "),
            "- *l\n".repeat(2_000)
        );
        assert!(refused(&items).starts_with("YAML expands to more than 1000000 values"));
        // Nested aliases ("billion laughs") are stopped by the parser's own repetition limit
        // before our count; either way the text is refused, not expanded.
        let mut laughs = String::from("a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
        for k in 1..10 {
            let refs = vec![format!("*a{}", k - 1); 10].join(", ");
            laughs.push_str(&format!("a{k}: &a{k} [{refs}]\n"));
        }
        let parsed = check_yaml_bounds(&laughs).and_then(|()| {
            serde_yaml::from_str::<serde_yaml::Value>(&laughs).map_err(|e| CliError::new(e.to_string()))
        });
        assert!(parsed.is_err());
    }

    #[test]
    fn deep_nesting_is_refused_before_parsing() {
        let deep_flow = format!("metadata: {}{}", "{a: ".repeat(40_000), "}".repeat(40_000));
        // Refused by the estimate from the text (it names the line), before the scanner runs.
        assert_eq!(refused(&deep_flow), "YAML nested deeper than 64 levels (line 1)");
        let deep_block: String = (0..70).map(|k| format!("{}a{k}:\n", " ".repeat(k))).collect();
        assert_eq!(
            refused(&deep_block),
            "YAML nested deeper than 64 levels (line 65)"
        );
        let dashes = format!("{}x\n", "- ".repeat(70));
        assert_eq!(refused(&dashes), "YAML nested deeper than 64 levels (line 1)");
        let ok: String = (0..60).map(|k| format!("{}a{k}:\n", " ".repeat(k))).collect();
        check_yaml_bounds(&ok).unwrap();
    }

    #[test]
    fn size_is_bounded() {
        let big = format!("a: \"{}\"\n", "x".repeat(MAX_FILE_BYTES));
        assert!(refused(&big).ends_with("bytes of YAML; at most 2 MiB are read"));
    }
}
