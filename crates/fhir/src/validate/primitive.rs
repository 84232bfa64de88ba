//! Lexical checks of FHIR R4 primitive values, hand-rolled from the R4 regexes
//! (no regex engine: these run for every primitive of every request).

use serde_json::Value;

/// FHIR strings are limited to 1 MiB.
const MAX_STRING_BYTES: usize = 1024 * 1024;

/// A failed primitive check: FHIR issue-type code and reason.
pub(crate) type Failure = (&'static str, String);

fn fail(code: &'static str, reason: impl Into<String>) -> Result<(), Failure> {
    Err((code, reason.into()))
}

/// Checks a non-null JSON value against primitive type `ty`.
pub(crate) fn check(ty: &str, v: &Value) -> Result<(), Failure> {
    match ty {
        "boolean" => match v {
            Value::Bool(_) => Ok(()),
            _ => fail(
                "structure",
                format!("expected a JSON boolean for a boolean, found {}", kind(v)),
            ),
        },
        "decimal" | "integer" | "positiveInt" | "unsignedInt" => match v {
            Value::Number(n) => check_number(ty, &n.to_string()),
            _ => fail(
                "structure",
                format!("expected a JSON number for a {ty}, found {}", kind(v)),
            ),
        },
        _ => match v {
            Value::String(s) => check_string(ty, s),
            _ => fail(
                "structure",
                format!("expected a JSON string for a {ty}, found {}", kind(v)),
            ),
        },
    }
}

/// Short description of a JSON value's kind for diagnostics.
pub(crate) fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn check_number(ty: &str, text: &str) -> Result<(), Failure> {
    if ty == "decimal" {
        return if is_decimal(text) && text.parse::<f64>().is_ok_and(f64::is_finite) {
            Ok(())
        } else {
            fail("value", format!("'{text}' is not a valid decimal"))
        };
    }
    if !is_integer(text) {
        return fail(
            "value",
            format!("'{text}' is not a valid {ty} (no fraction or exponent allowed)"),
        );
    }
    let (lo, hi) = match ty {
        "positiveInt" => (1, i64::from(i32::MAX)),
        "unsignedInt" => (0, i64::from(i32::MAX)),
        _ => (i64::from(i32::MIN), i64::from(i32::MAX)),
    };
    match text.parse::<i64>() {
        Ok(n) if (lo..=hi).contains(&n) => Ok(()),
        _ => fail(
            "value",
            format!("{text} is out of range for a {ty} ({lo}..{hi})"),
        ),
    }
}

fn check_string(ty: &str, s: &str) -> Result<(), Failure> {
    if s.is_empty() {
        return fail("value", format!("a {ty} must not be empty"));
    }
    if s.len() > MAX_STRING_BYTES {
        return fail(
            "too-long",
            format!("a {ty} must not exceed 1 MiB ({} bytes)", s.len()),
        );
    }
    if let Some(c) = s
        .chars()
        .find(|&c| c.is_control() && !matches!(c, '\t' | '\r' | '\n'))
    {
        return fail(
            "value",
            format!("control character U+{:04X} is not allowed", c as u32),
        );
    }
    let ok = match ty {
        "code" => is_code(s),
        "id" => {
            s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
        }
        "uri" | "url" | "canonical" => !s.chars().any(char::is_whitespace),
        "oid" => is_oid(s),
        "uuid" => is_uuid(s),
        "base64Binary" => is_base64(s),
        "date" => is_date(s),
        "dateTime" => is_date_time(s),
        "instant" => is_instant(s),
        "time" => is_time(s.as_bytes()),
        "xhtml" => s.trim_start().starts_with("<div"),
        // string, markdown: any non-empty text
        _ => true,
    };
    if ok {
        Ok(())
    } else {
        fail("value", format!("'{}' is not a valid {ty}", clip(s)))
    }
}

/// Keeps diagnostics short for huge values.
fn clip(s: &str) -> String {
    match s.char_indices().nth(64) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_string(),
    }
}

fn digits(b: &[u8]) -> bool {
    !b.is_empty() && b.iter().all(u8::is_ascii_digit)
}

/// `-?(0|[1-9][0-9]*)`
fn is_integer(s: &str) -> bool {
    let b = s.strip_prefix('-').unwrap_or(s).as_bytes();
    digits(b) && (b.len() == 1 || b[0] != b'0')
}

/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`
fn is_decimal(s: &str) -> bool {
    let (mantissa, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    let (int, frac) = match mantissa.split_once('.') {
        Some((i, f)) => (i, Some(f)),
        None => (mantissa, None),
    };
    is_integer(int)
        && frac.is_none_or(|f| digits(f.as_bytes()))
        && exp.is_none_or(|e| digits(e.strip_prefix(['+', '-']).unwrap_or(e).as_bytes()))
}

/// `[^\s]+(\s[^\s]+)*`: no leading, trailing or doubled whitespace.
fn is_code(s: &str) -> bool {
    let mut prev_ws = true; // a leading whitespace is like a doubled one
    for c in s.chars() {
        let ws = c.is_whitespace();
        if ws && prev_ws {
            return false;
        }
        prev_ws = ws;
    }
    !prev_ws
}

/// `urn:oid:[0-2](\.(0|[1-9][0-9]*))+`
fn is_oid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:oid:") else {
        return false;
    };
    let mut parts = rest.split('.');
    let first_ok = parts.next().is_some_and(|p| matches!(p, "0" | "1" | "2"));
    let mut n = 0;
    for p in parts {
        n += 1;
        if !digits(p.as_bytes()) || (p.len() > 1 && p.starts_with('0')) {
            return false;
        }
    }
    first_ok && n > 0
}

/// `urn:uuid:` + lowercase 8-4-4-4-12 hex.
fn is_uuid(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("urn:uuid:") else {
        return false;
    };
    let groups: Vec<&str> = rest.split('-').collect();
    groups.len() == 5
        && groups.iter().zip([8, 4, 4, 4, 12]).all(|(g, n)| {
            g.len() == n
                && g.bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// Base64 with optional whitespace; '=' padding only at the end. (The R4 regex
/// omits '/', a known erratum, so '/' is accepted.)
fn is_base64(s: &str) -> bool {
    let mut n = 0usize;
    let mut pad = 0usize;
    for b in s.bytes() {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => continue,
            b'=' => pad += 1,
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'+' | b'/' if pad == 0 => {}
            _ => return false,
        }
        n += 1;
    }
    n > 0 && n.is_multiple_of(4) && pad <= 2
}

/// Reads exactly `n` ASCII digits at `*i` as a number.
fn num(b: &[u8], i: &mut usize, n: usize) -> Option<u32> {
    let part = b.get(*i..*i + n)?;
    if !digits(part) {
        return None;
    }
    *i += n;
    Some(part.iter().fold(0, |acc, d| acc * 10 + u32::from(d - b'0')))
}

fn eat(b: &[u8], i: &mut usize, c: u8) -> bool {
    if b.get(*i) == Some(&c) {
        *i += 1;
        true
    } else {
        false
    }
}

fn days_in_month(year: u32, month: u32) -> u32 {
    match month {
        2 if year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400)) => {
            29
        }
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Parses `YYYY(-MM(-DD)?)?` at the start; returns the number of parts read.
fn date_prefix(b: &[u8], i: &mut usize) -> Option<u8> {
    let year = num(b, i, 4).filter(|&y| y > 0)?;
    if !eat(b, i, b'-') {
        return Some(1);
    }
    let month = num(b, i, 2).filter(|m| (1..=12).contains(m))?;
    if !eat(b, i, b'-') {
        return Some(2);
    }
    num(b, i, 2).filter(|&d| d >= 1 && d <= days_in_month(year, month))?;
    Some(3)
}

/// `hh:mm:ss(.f+)?` with seconds up to 60 (leap second, as in the R4 regex).
fn time_at(b: &[u8], i: &mut usize) -> Option<()> {
    num(b, i, 2).filter(|&h| h <= 23)?;
    eat(b, i, b':').then_some(())?;
    num(b, i, 2).filter(|&m| m <= 59)?;
    eat(b, i, b':').then_some(())?;
    num(b, i, 2).filter(|&s| s <= 60)?;
    if eat(b, i, b'.') {
        let start = *i;
        while b.get(*i).is_some_and(u8::is_ascii_digit) {
            *i += 1;
        }
        (*i > start).then_some(())?;
    }
    Some(())
}

/// `Z|(+|-)((0[0-9]|1[0-3]):[0-5][0-9]|14:00)`
fn zone_at(b: &[u8], i: &mut usize) -> Option<()> {
    if eat(b, i, b'Z') {
        return Some(());
    }
    (eat(b, i, b'+') || eat(b, i, b'-')).then_some(())?;
    let h = num(b, i, 2).filter(|&h| h <= 14)?;
    eat(b, i, b':').then_some(())?;
    num(b, i, 2).filter(|&m| m <= 59 && (h < 14 || m == 0))?;
    Some(())
}

fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    date_prefix(b, &mut i).is_some() && i == b.len()
}

/// A date, or a full date with time and time zone.
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    let Some(parts) = date_prefix(b, &mut i) else {
        return false;
    };
    if i == b.len() {
        return true;
    }
    parts == 3
        && eat(b, &mut i, b'T')
        && time_at(b, &mut i).is_some()
        && zone_at(b, &mut i).is_some()
        && i == b.len()
}

fn is_instant(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    date_prefix(b, &mut i) == Some(3)
        && eat(b, &mut i, b'T')
        && time_at(b, &mut i).is_some()
        && zone_at(b, &mut i).is_some()
        && i == b.len()
}

fn is_time(b: &[u8]) -> bool {
    let mut i = 0;
    time_at(b, &mut i).is_some() && i == b.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        for ok in ["1987", "1987-02", "1987-02-20", "2000-02-29", "0001-01-01"] {
            assert!(is_date(ok), "{ok}");
        }
        for bad in [
            "19870220",
            "20/02/1987",
            "1987-2-20",
            "0000",
            "1987-13",
            "1987-02-30",
            "1900-02-29",
            "1987-02-20 ",
        ] {
            assert!(!is_date(bad), "{bad}");
        }
    }

    #[test]
    fn date_times() {
        for ok in [
            "2015",
            "2015-02-07T13:28:17-05:00",
            "2017-01-01T00:00:00.000Z",
            "2015-02-07T13:28:17+14:00",
        ] {
            assert!(is_date_time(ok), "{ok}");
        }
        for bad in [
            "2015-02-07T13:28:17",
            "2015-02T13:28:17Z",
            "2015-02-07T24:00:00Z",
            "2015-02-07T13:28Z",
            "2015-02-07T13:28:17+14:30",
        ] {
            assert!(!is_date_time(bad), "{bad}");
        }
        assert!(is_instant("2015-02-07T13:28:17.239+02:00"));
        assert!(!is_instant("2015-02-07"));
        assert!(is_time(b"23:59:60.5"));
        assert!(!is_time(b"23:59"));
    }

    #[test]
    fn numbers() {
        for ok in ["0", "-1", "1.50", "1e3", "1.2E+2", "-0.0"] {
            assert!(is_decimal(ok), "{ok}");
        }
        for bad in ["01", "1.", ".5", "1e", "+1", "--1", ""] {
            assert!(!is_decimal(bad), "{bad}");
        }
        assert!(check_number("positiveInt", "0").is_err());
        assert!(check_number("unsignedInt", "0").is_ok());
        assert!(check_number("integer", "2147483648").is_err());
        assert!(check_number("integer", "1.0").is_err());
    }

    #[test]
    fn strings() {
        assert!(is_code("a b") && !is_code(" a") && !is_code("a ") && !is_code("a  b"));
        assert!(
            is_oid("urn:oid:2.16.840.1.113883") && !is_oid("urn:oid:3.1") && !is_oid("urn:oid:1")
        );
        assert!(is_uuid("urn:uuid:c757873d-ec9a-4326-a141-556f43239520"));
        assert!(!is_uuid("urn:uuid:C757873D-ec9a-4326-a141-556f43239520"));
        assert!(
            is_base64("aGVsbG8=")
                && is_base64("aGVs\nbG8h")
                && !is_base64("aGVsbG8")
                && !is_base64("a=bc")
        );
        assert!(check_string("id", &"a".repeat(65)).is_err());
    }
}
