//! Upstream's type check of comparisons (`invalid operation: == (mismatched types float64 and
//! string)`).
//!
//! Upstream compiles a condition against an environment holding the actual `result`, so expr-lang
//! knows the type of `result`, of literals and of its helpers (`asFloat` → float64, `asInt` →
//! int64, `isNaN`/`isInf`/`isNil` → bool) and rejects a comparison between two known, different
//! types: `asFloat(result) == "1.1"` is an Error measurement, not a `false` that fails the
//! metric. The Rust `expr-lang` crate compares any two values and answers `false`, so this
//! module repeats the check on the tokens: for every comparison whose two operands are each a
//! literal, `result` or a call of one of those helpers, both sides' types must be comparable.
//! Any other operand (arithmetic, member access, `default(...)`) has a type upstream only knows
//! as `interface {}` and is not checked, as upstream.

use super::MetricValue;

/// A token of a condition, as far as the check needs it.
#[derive(Debug, Clone, PartialEq)]
enum Token<'a> {
    /// A literal with its upstream type name.
    Literal(Type),
    /// An identifier or keyword.
    Ident(&'a str),
    /// An operator or punctuation.
    Punct(&'a str),
}

/// The static type of an operand, with upstream's name for messages.
#[derive(Debug, Clone, PartialEq)]
struct Type {
    name: String,
    class: Class,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    Number,
    Str,
    Bool,
    Nil,
    Other,
}

impl Type {
    fn new(name: &str, class: Class) -> Self {
        Type {
            name: name.to_string(),
            class,
        }
    }

    /// The type upstream sees for `result` (JSON numbers decode to float64 in Go).
    fn of_result(v: &MetricValue) -> Self {
        match v {
            MetricValue::Nil => Type::new("nil", Class::Nil),
            MetricValue::Bool(_) => Type::new("bool", Class::Bool),
            MetricValue::Int(_) | MetricValue::Float(_) => Type::new("float64", Class::Number),
            MetricValue::String(_) => Type::new("string", Class::Str),
            MetricValue::Array(a) if a.iter().all(|x| matches!(x, MetricValue::Float(_))) => {
                Type::new("[]float64", Class::Other)
            }
            MetricValue::Array(_) => Type::new("[]interface {}", Class::Other),
            MetricValue::Map(_) => Type::new("map[string]interface {}", Class::Other),
        }
    }
}

const COMPARISONS: [&str; 6] = ["==", "!=", "<", ">", "<=", ">="];
const TWO_CHAR: [&str; 10] = ["==", "!=", "<=", ">=", "&&", "||", "??", "?.", "..", "**"];
/// Tokens that bind looser than a comparison: an operand next to one of them is complete.
const LOOSER: [&str; 10] = ["(", ")", ",", "[", "]", "&&", "||", "?", ":", "??"];

/// Splits `source` into tokens; `None` if it does not tokenize (the parser reports that).
fn tokenize(source: &str) -> Option<Vec<Token<'_>>> {
    let bytes = source.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while let Some(&c) = bytes.get(i) {
        let start = i;
        if c.is_ascii_whitespace() {
            i += 1;
        } else if c == b'"' || c == b'\'' || c == b'`' {
            i += 1;
            loop {
                match bytes.get(i) {
                    None => return None,
                    Some(b'\\') if c != b'`' => i += 2,
                    Some(&q) if q == c => break,
                    Some(_) => i += 1,
                }
            }
            i += 1;
            out.push(Token::Literal(Type::new("string", Class::Str)));
        } else if c.is_ascii_digit() || (c == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit)) {
            let hex = c == b'0' && matches!(bytes.get(i + 1), Some(b'x' | b'X'));
            let mut float = false;
            while let Some(&d) = bytes.get(i) {
                let exponent_sign = !hex
                    && matches!(d, b'+' | b'-')
                    && matches!(bytes.get(i.wrapping_sub(1)), Some(b'e' | b'E'));
                let fraction = d == b'.' && bytes.get(i + 1).is_some_and(u8::is_ascii_digit);
                if fraction || (!hex && matches!(d, b'e' | b'E')) {
                    float = true;
                } else if !(d.is_ascii_alphanumeric() || d == b'_' || exponent_sign) {
                    break;
                }
                i += 1;
            }
            let ty = if float { "float64" } else { "int" };
            out.push(Token::Literal(Type::new(ty, Class::Number)));
        } else if c.is_ascii_alphabetic() || c == b'_' || c == b'$' || c == b'#' {
            while bytes
                .get(i)
                .is_some_and(|d| d.is_ascii_alphanumeric() || *d == b'_' || *d == b'$' || *d == b'#')
            {
                i += 1;
            }
            out.push(match source.get(start..i)? {
                "true" | "false" => Token::Literal(Type::new("bool", Class::Bool)),
                "nil" => Token::Literal(Type::new("nil", Class::Nil)),
                word => Token::Ident(word),
            });
        } else {
            let two = source.get(i..i + 2).filter(|t| TWO_CHAR.contains(t));
            let len = two.map_or(source[i..].chars().next()?.len_utf8(), str::len);
            i += len;
            out.push(Token::Punct(source.get(start..i)?));
        }
    }
    Some(out)
}

/// The return type of a helper upstream declares with a concrete type.
fn helper_type(name: &str) -> Option<Type> {
    match name {
        "asInt" => Some(Type::new("int64", Class::Number)),
        "asFloat" => Some(Type::new("float64", Class::Number)),
        "isNaN" | "isInf" | "isNil" => Some(Type::new("bool", Class::Bool)),
        _ => None,
    }
}

fn is_boundary(t: Option<&Token<'_>>) -> bool {
    match t {
        None => true,
        Some(Token::Punct(p)) => LOOSER.contains(p),
        Some(Token::Ident(w)) => matches!(*w, "and" | "or"),
        Some(Token::Literal(_)) => false,
    }
}

/// The type of a single-token operand (a literal or `result`).
fn atom_type(t: &Token<'_>, result: &MetricValue) -> Option<Type> {
    match t {
        Token::Literal(ty) => Some(ty.clone()),
        Token::Ident("result") => Some(Type::of_result(result)),
        _ => None,
    }
}

/// The operand ending at `end` (inclusive): its type, if it is a typed operand standing alone.
fn left_operand(tokens: &[Token<'_>], end: usize, result: &MetricValue) -> Option<Type> {
    let (start, ty) = match tokens.get(end)? {
        Token::Punct(")") => {
            let mut depth = 0usize;
            let mut open = None;
            for j in (0..=end).rev() {
                match tokens.get(j)? {
                    Token::Punct(")") => depth += 1,
                    Token::Punct("(") => {
                        depth -= 1;
                        if depth == 0 {
                            open = Some(j);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let name_at = open?.checked_sub(1)?;
            let Token::Ident(name) = tokens.get(name_at)? else {
                return None;
            };
            (name_at, helper_type(name)?)
        }
        t => (end, atom_type(t, result)?),
    };
    is_boundary(start.checked_sub(1).and_then(|s| tokens.get(s))).then_some(ty)
}

/// The operand starting at `start`: its type, if it is a typed operand standing alone.
fn right_operand(tokens: &[Token<'_>], start: usize, result: &MetricValue) -> Option<Type> {
    let first = tokens.get(start)?;
    let (end, ty) = match (first, tokens.get(start + 1)) {
        (Token::Ident(name), Some(Token::Punct("("))) => {
            let ty = helper_type(name)?;
            let mut depth = 0usize;
            let mut close = None;
            for (j, t) in tokens.iter().enumerate().skip(start + 1) {
                match t {
                    Token::Punct("(") => depth += 1,
                    Token::Punct(")") => {
                        depth -= 1;
                        if depth == 0 {
                            close = Some(j);
                            break;
                        }
                    }
                    _ => {}
                }
            }
            (close?, ty)
        }
        (t, _) => (start, atom_type(t, result)?),
    };
    is_boundary(tokens.get(end + 1)).then_some(ty)
}

fn comparable(op: &str, l: &Type, r: &Type) -> bool {
    use Class::*;
    match (l.class, r.class) {
        (Number, Number) => true,
        (Nil, _) | (_, Nil) => true,
        (Other, _) | (_, Other) if op == "==" || op == "!=" => l.name == r.name,
        (a, b) if op == "==" || op == "!=" => a == b,
        (Str, Str) => true,
        _ => false,
    }
}

/// Checks every comparison of `source` whose operands have known types, with `result` typed as
/// upstream would see it. Returns upstream's message for the first mismatch.
///
/// Conditions that do not tokenize are left to the parser, which reports them.
pub(super) fn check_comparisons(source: &str, result: &MetricValue) -> Result<(), String> {
    let Some(tokens) = tokenize(source) else {
        return Ok(());
    };
    for (i, t) in tokens.iter().enumerate() {
        let Token::Punct(op) = t else { continue };
        if !COMPARISONS.contains(op) || i == 0 {
            continue;
        }
        let (Some(l), Some(r)) = (
            left_operand(&tokens, i - 1, result),
            right_operand(&tokens, i + 1, result),
        ) else {
            continue;
        };
        if !comparable(op, &l, &r) {
            return Err(format!(
                "invalid operation: {op} (mismatched types {} and {})",
                l.name, r.name
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(source: &str, result: MetricValue) -> Result<(), String> {
        check_comparisons(source, &result)
    }

    #[test]
    fn mismatches_named_as_upstream() {
        let f = MetricValue::Float(1.1);
        assert_eq!(
            check(r#"asFloat(result) == "1.1""#, f.clone()),
            Err("invalid operation: == (mismatched types float64 and string)".into())
        );
        assert_eq!(
            check(r#"result != "ok""#, f.clone()),
            Err("invalid operation: != (mismatched types float64 and string)".into())
        );
        assert_eq!(
            check("asInt(result) >= '5' && true", f.clone()),
            Err("invalid operation: >= (mismatched types int64 and string)".into())
        );
        assert_eq!(
            check("isNaN(result) == 1", f.clone()),
            Err("invalid operation: == (mismatched types bool and int)".into())
        );
        assert_eq!(
            check("result == 1", MetricValue::from(vec![1.0])),
            Err("invalid operation: == (mismatched types []float64 and int)".into())
        );
    }

    #[test]
    fn well_typed_or_unknown_operands_pass() {
        let f = MetricValue::Float(1.1);
        for ok in [
            "asFloat(result) == 1.1",
            "asInt(result) == 1 || result < 2e-3",
            "result != nil",
            "result.status == 'ok'",
            "result[0] == 'x'",
            "result + 1 == 'x'",
            "default(result, 0) == 'x'",
            "len(result) == 'x'",
            "(result) == 'x'",
            "asFloat(result) * 100 == '5'",
            "'b' > 'a'",
            "0x1F == 31 and 1_000 == 1000.0",
        ] {
            assert_eq!(check(ok, f.clone()), Ok(()), "{ok}");
        }
        assert_eq!(check("result == 'up'", MetricValue::String("up".into())), Ok(()));
        assert_eq!(check("unclosed == 'x", f), Ok(()), "left to the parser");
    }
}
