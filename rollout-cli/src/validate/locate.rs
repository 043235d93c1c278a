//! The line of a field path (`spec.strategy.canary.steps[0].setWeight`) in a YAML document.
//!
//! serde_yaml keeps no positions in its values, but its errors carry the position of the value
//! being read. So the document is read once more, following the path, and reading stops with an
//! error at the target: at the key for a map entry, at the value for a sequence element. A path
//! that leaves the document stops at the deepest part that exists.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use crate::docs::Doc;

/// One step of a path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// Splits `a.b[0].c` into segments (a key that contains `.` or `[` is not found exactly; its
/// parent's line is used).
fn segments(path: &str) -> Vec<Segment> {
    let mut out = Vec::new();
    for part in path.split('.') {
        let (key, mut indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !key.is_empty() {
            out.push(Segment::Key(key.to_string()));
        }
        while let Some(rest) = indexes.strip_prefix('[') {
            let Some((index, after)) = rest.split_once(']') else {
                break;
            };
            match index.parse() {
                Ok(i) => out.push(Segment::Index(i)),
                Err(_) => out.push(Segment::Key(index.to_string())),
            }
            indexes = after;
        }
    }
    out
}

/// The message of the error that marks the target.
const FOUND: &str = "found";

/// The 1-based line of `path` in `doc`, or of the deepest part of it that exists.
pub fn line_of(doc: &Doc, path: &str) -> Option<usize> {
    let segments = segments(path);
    let de = serde_yaml::Deserializer::from_str(&doc.text);
    let err = Seek(&segments).deserialize(de).err()?;
    err.location().map(|l| doc.first_line + l.line() - 1)
}

/// Follows the remaining segments into a value.
struct Seek<'p>(&'p [Segment]);

impl<'de> DeserializeSeed<'de> for Seek<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<(), D::Error> {
        // At the target, any value is an error carrying its position.
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seek<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(FOUND)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Some((Segment::Key(want), rest)) = self.0.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        while let Some(found) = map.next_key_seed(Key {
            want,
            last: rest.is_empty(),
        })? {
            if found {
                return map.next_value_seed(Seek(rest));
            }
            map.next_value::<IgnoredAny>()?;
        }
        Err(de::Error::custom(FOUND))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let Some((Segment::Index(want), rest)) = self.0.split_first() else {
            return Err(de::Error::custom(FOUND));
        };
        for _ in 0..*want {
            if seq.next_element::<IgnoredAny>()?.is_none() {
                return Err(de::Error::custom(FOUND));
            }
        }
        seq.next_element_seed(Seek(rest))?;
        Err(de::Error::custom(FOUND))
    }
}

/// Reads a map key: whether it is the wanted one; the error that marks the target when it is the
/// path's last segment.
struct Key<'p> {
    want: &'p str,
    last: bool,
}

impl Key<'_> {
    fn check<E: de::Error>(&self, key: &str) -> Result<bool, E> {
        match (key == self.want, self.last) {
            (true, true) => Err(E::custom(FOUND)),
            (matched, _) => Ok(matched),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;

    fn deserialize<D: Deserializer<'de>>(self, de: D) -> Result<bool, D::Error> {
        de.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = bool;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        self.check(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        self.check(&v.to_string())
    }
    fn visit_f64<E: de::Error>(self, _: f64) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_unit<E: de::Error>(self) -> Result<bool, E> {
        Ok(false)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
        while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
        Ok(false)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<bool, A::Error> {
        while seq.next_element::<IgnoredAny>()?.is_some() {}
        Ok(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_split_into_keys_and_indexes() {
        use Segment::{Index, Key};
        assert_eq!(
            segments("spec.steps[2].pause"),
            vec![
                Key("spec".into()),
                Key("steps".into()),
                Index(2),
                Key("pause".into())
            ]
        );
        assert_eq!(segments("a[0][1]"), vec![Key("a".into()), Index(0), Index(1)]);
    }

    #[test]
    fn lines_of_keys_elements_and_missing_fields() {
        let text = "kind: X\n---\nkind: Rollout\nspec:\n  strategy:\n    canary:\n      steps:\n      - setWeight: 10\n      - pause:\n          duration: soon\n";
        let doc = crate::docs::parse_each(text).remove(1).unwrap();
        assert_eq!(
            line_of(&doc, "spec.strategy.canary.steps[1].pause.duration"),
            Some(10)
        );
        assert_eq!(line_of(&doc, "spec.strategy.canary.steps[0].setWeight"), Some(8));
        assert_eq!(line_of(&doc, "spec.strategy.canary.steps[1]"), Some(9));
        assert_eq!(line_of(&doc, "spec.strategy"), Some(5));
        // Missing: the deepest part that exists (the `canary` mapping starts at line 7).
        assert_eq!(line_of(&doc, "spec.strategy.canary.maxSurge"), Some(7));
        assert_eq!(line_of(&doc, "spec.strategy.canary.steps[5]"), Some(8));
    }
}
