//! serde_json (arbitrary_precision) keeps a number's digits but rewrites its exponent (`1.2E+2` →
//! `1.2e+2`, `1e2` → `1e+2`). FHIR decimals must come back exactly as sent, so after parsing we put
//! the original lexemes back. Only numbers written with an exponent differ, so documents without
//! one skip the walk entirely.

use serde_json::{Number, Value};

/// Number lexemes of a JSON text, in document order (string contents skipped).
fn number_lexemes(raw: &[u8]) -> Vec<&str> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < raw.len() {
        match raw[i] {
            b'"' => {
                i += 1;
                while i < raw.len() && raw[i] != b'"' {
                    i += if raw[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < raw.len()
                    && matches!(raw[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    i += 1;
                }
                if let Ok(s) = std::str::from_utf8(&raw[start..i]) {
                    out.push(s);
                }
            }
            _ => i += 1,
        }
    }
    out
}

fn walk<'a>(v: &mut Value, lexemes: &mut impl Iterator<Item = &'a str>) -> bool {
    match v {
        Value::Number(n) => match lexemes.next() {
            Some(lex) => {
                if (lex.contains('e') || lex.contains('E')) && n.to_string() != lex {
                    // The lexeme came from the JSON lexer that produced `n`, so it is a valid number.
                    *n = Number::from_string_unchecked(lex.to_string());
                }
                true
            }
            None => false,
        },
        Value::Array(a) => a.iter_mut().all(|x| walk(x, lexemes)),
        Value::Object(o) => o.values_mut().all(|x| walk(x, lexemes)),
        _ => true,
    }
}

/// Restores exponent spelling in `value`, parsed from `raw`.
pub fn restore_lexemes(raw: &[u8], value: &mut Value) {
    let lexemes = number_lexemes(raw);
    if !lexemes.iter().any(|l| l.contains('e') || l.contains('E')) {
        return;
    }
    let mut it = lexemes.into_iter();
    walk(value, &mut it);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exponents_come_back_as_sent() {
        let raw = br#"{"a":1.2E+2,"b":[1e2,"x\"1e5",0.700,-3E-7],"c":{"d":5}}"#;
        let mut v: Value = serde_json::from_slice(raw).unwrap();
        restore_lexemes(raw, &mut v);
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"a":1.2E+2,"b":[1e2,"x\"1e5",0.700,-3E-7],"c":{"d":5}}"#
        );
    }

    #[test]
    fn no_exponent_no_change() {
        let raw = br#"{"a":0.10,"b":"1e5"}"#;
        let mut v: Value = serde_json::from_slice(raw).unwrap();
        restore_lexemes(raw, &mut v);
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"a":0.10,"b":"1e5"}"#
        );
    }
}
