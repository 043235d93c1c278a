//! The JSON forms that plain serde does not give (see the crate docs): numbers that are not
//! finite, and judge state as base64. Usable with `#[serde(with = "...")]` on other types, e.g. a
//! measurement that keeps a judge's state.

/// `f64` that may be NaN or infinite: written as a number, or `"nan"`, `"inf"`, `"-inf"`; read
/// from a number, those strings, `"+inf"`, `"+Inf"`, `"Inf"`, `"Infinity"`, `"-Infinity"`, or
/// `null` (NaN).
pub mod nonfinite {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes `v`, as a string when it is not finite.
    pub fn serialize<S: Serializer>(v: &f64, s: S) -> Result<S::Ok, S::Error> {
        if v.is_finite() {
            s.serialize_f64(*v)
        } else if v.is_nan() {
            s.serialize_str("nan")
        } else if *v > 0.0 {
            s.serialize_str("inf")
        } else {
            s.serialize_str("-inf")
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Num(f64),
        Text(String),
        Null(()),
    }

    /// Reads a number, one of the strings above, or `null` (NaN).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
        match Repr::deserialize(d)? {
            Repr::Num(v) => Ok(v),
            Repr::Null(()) => Ok(f64::NAN),
            Repr::Text(t) => match t.to_ascii_lowercase().as_str() {
                "nan" => Ok(f64::NAN),
                "inf" | "+inf" | "infinity" | "+infinity" => Ok(f64::INFINITY),
                "-inf" | "-infinity" => Ok(f64::NEG_INFINITY),
                _ => Err(D::Error::custom(format!(
                    "expected a number, \"nan\", \"inf\" or \"-inf\", found {t:?}"
                ))),
            },
        }
    }
}

/// Judge state (`Option<Vec<u8>>`): written as standard base64 (with padding) or `null`; read
/// from base64 (padding optional), an array of byte values, or `null`.
pub mod state_bytes {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer, Serializer};

    /// Serializes the state as base64, or `null`.
    pub fn serialize<S: Serializer>(v: &Option<Vec<u8>>, s: S) -> Result<S::Ok, S::Error> {
        match v {
            Some(bytes) => s.serialize_str(&super::to_base64(bytes)),
            None => s.serialize_none(),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Repr {
        Text(String),
        Bytes(Vec<u8>),
    }

    /// Reads base64, an array of bytes, or `null`.
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<u8>>, D::Error> {
        match Option::<Repr>::deserialize(d)? {
            None => Ok(None),
            Some(Repr::Bytes(b)) => Ok(Some(b)),
            Some(Repr::Text(t)) => super::from_base64(&t)
                .map(Some)
                .ok_or_else(|| D::Error::custom("the state is not valid base64")),
        }
    }
}

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/// Standard base64 (RFC 4648, with `=` padding) of `bytes`.
pub fn to_base64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [0, 1, 2].map(|i| chunk.get(i).copied().unwrap_or(0));
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let six = (n >> (18 - 6 * i)) & 0x3f;
                out.push(char::from(ALPHABET.get(six as usize).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Bytes of standard base64 text (padding optional), or `None` when it is not base64.
pub fn from_base64(text: &str) -> Option<Vec<u8>> {
    let body = text.trim_end_matches('=');
    if text.len() - body.len() > 2 || body.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(body.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in body.bytes() {
        let six = ALPHABET.iter().position(|&a| a == c)?;
        acc = ((acc << 6) | six as u32) & 0xffff;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push(((acc >> bits) & 0xff) as u8);
        }
    }
    // Bits left over must be zero (canonical encoding).
    (acc & ((1 << bits) - 1) == 0).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc_4648_vectors() {
        let vectors = [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ];
        for (plain, encoded) in vectors {
            assert_eq!(to_base64(plain.as_bytes()), encoded);
            assert_eq!(from_base64(encoded), Some(plain.as_bytes().to_vec()));
        }
        assert_eq!(from_base64("Zm9vYg"), Some(b"foob".to_vec()));
        let all: Vec<u8> = (0..=255).collect();
        assert_eq!(from_base64(&to_base64(&all)), Some(all));
        for bad in ["Z", "Zm9v!", "Zh==", "Zg==="] {
            assert_eq!(from_base64(bad), None, "{bad}");
        }
    }

    #[test]
    fn nonfinite_reads_the_documented_strings_only() {
        #[derive(serde::Deserialize)]
        struct V(#[serde(with = "nonfinite")] f64);
        let read = |t: &str| serde_json::from_str::<V>(t).map(|v| v.0);
        assert_eq!(read("\"+Inf\"").ok(), Some(f64::INFINITY));
        assert_eq!(read("\"-Infinity\"").ok(), Some(f64::NEG_INFINITY));
        assert!(read("null").is_ok_and(f64::is_nan));
        assert_eq!(read("2.5").ok(), Some(2.5));
        assert!(read("\"lots\"").is_err());
    }
}
