//! Strict JSON parsing of a FHIR resource body.
//!
//! `serde_json` alone accepts things FHIR forbids: duplicate keys (it keeps the
//! last), numbers beyond f64 (under `arbitrary_precision`), control characters
//! written as escapes. A custom visitor builds the `Value` and rejects those
//! while serde_json still knows the position.

use crate::outcome::{Issue, Severity};
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::fmt;
use std::str::FromStr;

/// Key that serde_json (feature `arbitrary_precision`) uses to hand a number's
/// text to a visitor as a one-entry map.
const NUMBER_TOKEN: &str = "$serde_json::private::Number";

/// Parses a request body into a JSON object, rejecting anything that is not
/// strictly valid FHIR JSON syntax. The `Issue` has code "structure" and its
/// diagnostics give line, column and byte offset.
pub fn parse_resource(bytes: &[u8]) -> Result<Value, Issue> {
    let text = std::str::from_utf8(bytes).map_err(|e| {
        let at = e.valid_up_to();
        let (line, col) = line_col(bytes, at);
        structure(format!(
            "invalid UTF-8 at line {line} column {col} (byte {at})"
        ))
    })?;
    let mut de = serde_json::Deserializer::from_str(text);
    let value = StrictValue
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v))
        .map_err(|e| {
            let at = byte_offset(bytes, e.line(), e.column());
            let msg = e.to_string();
            // serde_json appends " at line L column C"; add the byte offset.
            let mut issue = structure(format!("invalid JSON: {msg} (byte {at})"));
            issue.expression = control_char_path(text);
            issue
        })?;
    let mut value = value;
    crate::numbers::restore_lexemes(bytes, &mut value);
    if !value.is_object() {
        return Err(structure(
            "a FHIR resource must be a JSON object".to_string(),
        ));
    }
    Ok(value)
}

fn structure(diagnostics: String) -> Issue {
    Issue {
        severity: Severity::Fatal,
        ..Issue::error("structure", None, diagnostics)
    }
}

/// 1-based line and column (in bytes) of byte offset `at`.
fn line_col(bytes: &[u8], at: usize) -> (usize, usize) {
    let before = &bytes[..at.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    (line, at - line_start + 1)
}

/// Byte offset of serde_json's (line, column); column 0 means "line start".
fn byte_offset(bytes: &[u8], line: usize, column: usize) -> usize {
    let line_start = if line <= 1 {
        0
    } else {
        bytes
            .iter()
            .enumerate()
            .filter(|&(_, &b)| b == b'\n')
            .nth(line - 2)
            .map_or(bytes.len(), |(i, _)| i + 1)
    };
    (line_start + column.saturating_sub(1)).min(bytes.len())
}

/// Where the first string with a forbidden control character is (`Patient.name[0].family`), so
/// the error names the element, not only the byte. A second, lenient parse: error path only.
fn control_char_path(text: &str) -> Option<String> {
    fn bad(s: &str) -> bool {
        s.chars()
            .any(|c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    }
    fn walk(v: &Value, path: &str) -> Option<String> {
        match v {
            Value::String(s) => bad(s).then(|| path.to_string()),
            Value::Array(a) => a
                .iter()
                .enumerate()
                .find_map(|(i, x)| walk(x, &format!("{path}[{i}]"))),
            Value::Object(o) => o.iter().find_map(|(k, x)| {
                let here = format!("{path}.{k}");
                if bad(k) { Some(here) } else { walk(x, &here) }
            }),
            _ => None,
        }
    }
    let v: Value = serde_json::from_str(text).ok()?;
    let root = v
        .get("resourceType")
        .and_then(Value::as_str)
        .filter(|t| !bad(t))
        .unwrap_or("$this");
    walk(&v, root)
}

/// FHIR strings forbid control characters other than tab, CR and LF.
fn check_chars<E: de::Error>(s: &str) -> Result<(), E> {
    match s
        .chars()
        .find(|&c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        Some(c) => Err(E::custom(format_args!(
            "control character U+{:04X} is not allowed in a string",
            c as u32
        ))),
        None => Ok(()),
    }
}

/// Builds a `Value` with the strict checks; depth is bounded by serde_json's
/// recursion limit (128), so deep nesting is an error, not a stack overflow.
struct StrictValue;

impl<'de> DeserializeSeed<'de> for StrictValue {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

/// An object key, checked like any string.
struct StrictKey;

impl<'de> DeserializeSeed<'de> for StrictKey {
    type Value = String;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for StrictKey {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string key")
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<String, E> {
        check_chars(s)?;
        Ok(s.to_string())
    }
}

fn finite_number<E: de::Error>(text: &str) -> Result<Value, E> {
    let finite = text.parse::<f64>().is_ok_and(f64::is_finite);
    if !finite {
        return Err(E::custom(format_args!("number {text} is out of range")));
    }
    Number::from_str(text)
        .map(Value::Number)
        .map_err(|_| E::custom(format_args!("invalid number {text}")))
}

impl<'de> Visitor<'de> for StrictValue {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, b: bool) -> Result<Value, E> {
        Ok(Value::Bool(b))
    }
    fn visit_i64<E>(self, n: i64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_u64<E>(self, n: u64) -> Result<Value, E> {
        Ok(Value::Number(n.into()))
    }
    fn visit_f64<E: de::Error>(self, n: f64) -> Result<Value, E> {
        Number::from_f64(n)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is out of range"))
    }
    fn visit_str<E: de::Error>(self, s: &str) -> Result<Value, E> {
        check_chars(s)?;
        Ok(Value::String(s.to_string()))
    }
    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(v) = seq.next_element_seed(StrictValue)? {
            items.push(v);
        }
        Ok(Value::Array(items))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut obj = Map::new();
        while let Some(key) = map.next_key_seed(StrictKey)? {
            if key == NUMBER_TOKEN && obj.is_empty() {
                let text: String = map.next_value()?;
                return finite_number(&text);
            }
            if obj.contains_key(&key) {
                return Err(de::Error::custom(format_args!("duplicate key \"{key}\"")));
            }
            let value = map.next_value_seed(StrictValue)?;
            obj.insert(key, value);
        }
        Ok(Value::Object(obj))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets() {
        assert_eq!(line_col(b"ab\ncd", 4), (2, 2));
        assert_eq!(byte_offset(b"ab\ncd", 2, 2), 4);
    }

    #[test]
    fn control_characters_name_the_element() {
        let e = parse_resource(br#"{"resourceType":"Patient","name":[{"given":["a","b\u0000"]}]}"#)
            .unwrap_err();
        assert_eq!(e.expression.as_deref(), Some("Patient.name[0].given[1]"));
        assert!(e.diagnostics.contains("U+0000"), "{}", e.diagnostics);
        let e = parse_resource(br#"{"resourceType":"Patient","a\u0001":1}"#).unwrap_err();
        assert_eq!(e.expression.as_deref(), Some("Patient.a\u{1}"));
        let e = parse_resource(br#"{"resourceType":"Patient","id":"x""#).unwrap_err();
        assert_eq!(e.expression, None);
    }
}
