//! HL7 escape sequences (`\F\ \S\ \T\ \R\ \E\ \P\ \Xhh..\ \.br\ \H\ \N\ \Z..\`).

use super::charset::Charset;
use super::delim::Delimiters;

/// Text cannot be encoded because it contains a delimiter (or CR/LF) and the
/// message declares no escape character.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("value contains {0:?} but the message has no escape character")]
pub struct EscapeError(pub char);

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    if s.is_empty() || !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

/// Decodes escape sequences in `raw` into plain text.
///
/// Delimiter escapes become the delimiter, `\Xhh..\` becomes the bytes decoded in
/// the message charset (adjacent hex escapes are joined so multi-byte UTF-8 split
/// over several sequences survives), `\.br\` becomes `\n`. Highlighting (`\H\ \N\`),
/// locally defined `\Z..\`, other formatting commands and unknown or unterminated
/// sequences are kept verbatim — they carry meaning the caller may want.
pub fn unescape(raw: &str, d: &Delimiters, charset: Charset) -> String {
    let Some(esc) = d.escape else {
        return raw.to_owned();
    };
    if !raw.contains(esc) {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len());
    let mut pending: Vec<u8> = Vec::new();
    let flush = |out: &mut String, pending: &mut Vec<u8>| {
        if !pending.is_empty() {
            out.push_str(&charset.decode_hex_bytes(pending));
            pending.clear();
        }
    };
    let mut rest = raw;
    while let Some(start) = rest.find(esc) {
        let (before, after_start) = rest.split_at(start);
        if !before.is_empty() {
            flush(&mut out, &mut pending);
            out.push_str(before);
        }
        let body_and_more = &after_start[esc.len_utf8()..];
        let Some(end) = body_and_more.find(esc) else {
            // Unterminated: literal text.
            flush(&mut out, &mut pending);
            out.push_str(after_start);
            rest = "";
            break;
        };
        let body = &body_and_more[..end];
        let seq_len = esc.len_utf8() * 2 + body.len();
        let seq = &after_start[..seq_len];
        rest = &after_start[seq_len..];
        if let Some(hex) = body.strip_prefix('X').and_then(hex_bytes) {
            pending.extend_from_slice(&hex);
            continue;
        }
        flush(&mut out, &mut pending);
        let single = match body {
            "F" => Some(d.field),
            "S" => d.component,
            "T" => d.subcomponent,
            "R" => d.repetition,
            "E" => Some(esc),
            "P" => d.truncation,
            ".br" => Some('\n'),
            _ => None,
        };
        match single {
            Some(c) => out.push(c),
            None => out.push_str(seq),
        }
    }
    flush(&mut out, &mut pending);
    out.push_str(rest);
    out
}

/// Escapes plain text so it can be placed in a field/component/sub-component.
/// CR, LF and NUL become `\X0D\` / `\X0A\` / `\X00\` (CR is the segment terminator).
pub fn escape(text: &str, d: &Delimiters) -> Result<String, EscapeError> {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        let code = if c == d.field {
            Some("F")
        } else if Some(c) == d.component {
            Some("S")
        } else if Some(c) == d.subcomponent {
            Some("T")
        } else if Some(c) == d.repetition {
            Some("R")
        } else if Some(c) == d.escape {
            Some("E")
        } else if Some(c) == d.truncation {
            Some("P")
        } else if c == '\r' {
            Some("X0D")
        } else if c == '\n' {
            Some("X0A")
        } else if c == '\0' {
            // Never put a raw NUL on the wire (receivers and databases choke on it).
            Some("X00")
        } else {
            None
        };
        match (code, d.escape) {
            (None, _) => out.push(c),
            (Some(code), Some(e)) => {
                out.push(e);
                out.push_str(code);
                out.push(e);
            }
            (Some(_), None) => return Err(EscapeError(c)),
        }
    }
    Ok(out)
}
