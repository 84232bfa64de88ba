//! Tokenizer for FHIRPath expressions.

use crate::error::ParseError;

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Tok {
    /// Identifier; `delimited` is true for backtick-quoted ones (never keywords).
    Ident {
        name: String,
        delimited: bool,
    },
    Str(String),
    /// Number literal kept as text so decimals stay exact.
    Number(String),
    /// Text after `@` (date, dateTime or `T`-prefixed time).
    Temporal(String),
    /// `%name`, `%`name`` or `%'name'`.
    External(String),
    /// `$this`, `$index`, `$total`.
    Special(String),
    Punct(&'static str),
    Eof,
}

#[derive(Debug, Clone)]
pub(crate) struct Token {
    pub tok: Tok,
    pub pos: usize,
}

const PUNCTS: [&str; 20] = [
    "!=", "!~", "<=", ">=", ".", "[", "]", "(", ")", ",", "+", "-", "*", "/", "&", "|", "=", "~",
    "<", ">",
];

pub(crate) fn tokenize(src: &str) -> Result<Vec<Token>, ParseError> {
    let bytes = src.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c.is_ascii_whitespace() {
            i += 1;
            continue;
        }
        if src[i..].starts_with("//") {
            while i < bytes.len() && bytes[i] != b'\n' {
                i += 1;
            }
            continue;
        }
        if src[i..].starts_with("/*") {
            match src[i + 2..].find("*/") {
                Some(end) => i += end + 4,
                None => return Err(ParseError::new(i, "unterminated comment")),
            }
            continue;
        }
        let start = i;
        let tok = if c == b'\'' {
            let (s, next) = quoted(src, i, '\'')?;
            i = next;
            Tok::Str(s)
        } else if c == b'`' {
            let (s, next) = quoted(src, i, '`')?;
            i = next;
            Tok::Ident {
                name: s,
                delimited: true,
            }
        } else if c.is_ascii_digit() {
            while i < bytes.len() && bytes[i].is_ascii_digit() {
                i += 1;
            }
            if i + 1 < bytes.len() && bytes[i] == b'.' && bytes[i + 1].is_ascii_digit() {
                i += 1;
                while i < bytes.len() && bytes[i].is_ascii_digit() {
                    i += 1;
                }
            }
            Tok::Number(src[start..i].to_string())
        } else if c.is_ascii_alphabetic() || c == b'_' {
            i = ident_end(bytes, i);
            Tok::Ident {
                name: src[start..i].to_string(),
                delimited: false,
            }
        } else if c == b'@' {
            i += 1;
            while i < bytes.len() {
                let b = bytes[i];
                let ok = b.is_ascii_digit()
                    || matches!(b, b'-' | b':' | b'T' | b'Z' | b'+')
                    || (b == b'.' && i + 1 < bytes.len() && bytes[i + 1].is_ascii_digit());
                if !ok {
                    break;
                }
                i += 1;
            }
            if i == start + 1 {
                return Err(ParseError::new(start, "empty date/time literal"));
            }
            Tok::Temporal(src[start + 1..i].to_string())
        } else if c == b'%' {
            i += 1;
            match bytes.get(i) {
                Some(b'`') => {
                    let (s, next) = quoted(src, i, '`')?;
                    i = next;
                    Tok::External(s)
                }
                Some(b'\'') => {
                    let (s, next) = quoted(src, i, '\'')?;
                    i = next;
                    Tok::External(s)
                }
                Some(b) if b.is_ascii_alphabetic() || *b == b'_' => {
                    let s = i;
                    i = ident_end(bytes, i);
                    Tok::External(src[s..i].to_string())
                }
                _ => return Err(ParseError::new(start, "expected a name after %")),
            }
        } else if c == b'$' {
            i += 1;
            let s = i;
            i = ident_end(bytes, i);
            let name = &src[s..i];
            if !matches!(name, "this" | "index" | "total") {
                return Err(ParseError::new(start, format!("unknown special ${name}")));
            }
            Tok::Special(name.to_string())
        } else if c == b'{' {
            // `{}` is the empty-collection literal; nothing else uses braces.
            let mut j = i + 1;
            while j < bytes.len() && bytes[j].is_ascii_whitespace() {
                j += 1;
            }
            if bytes.get(j) != Some(&b'}') {
                return Err(ParseError::new(start, "expected '}' after '{'"));
            }
            i = j + 1;
            Tok::Punct("{}")
        } else if let Some(p) = PUNCTS.iter().find(|p| src[i..].starts_with(**p)) {
            i += p.len();
            Tok::Punct(p)
        } else {
            let ch = src[i..].chars().next().unwrap_or('?');
            return Err(ParseError::new(i, format!("unexpected character {ch:?}")));
        };
        out.push(Token { tok, pos: start });
    }
    out.push(Token {
        tok: Tok::Eof,
        pos: src.len(),
    });
    Ok(out)
}

fn ident_end(bytes: &[u8], mut i: usize) -> usize {
    while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
        i += 1;
    }
    i
}

/// Reads a quoted string starting at `start` (the opening quote); returns text and next offset.
fn quoted(src: &str, start: usize, q: char) -> Result<(String, usize), ParseError> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((off, c)) = chars.next() {
        if c == q {
            return Ok((out, start + 1 + off + c.len_utf8()));
        }
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some((eoff, e)) = chars.next() else { break };
        match e {
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'f' => out.push('\u{c}'),
            '\'' | '"' | '`' | '\\' | '/' => out.push(e),
            'u' => {
                let hex: String = chars.by_ref().take(4).map(|(_, h)| h).collect();
                let code = u32::from_str_radix(&hex, 16)
                    .ok()
                    .filter(|_| hex.len() == 4)
                    .and_then(char::from_u32)
                    .ok_or_else(|| {
                        ParseError::new(start + 1 + eoff, "invalid \\u escape in string")
                    })?;
                out.push(code);
            }
            other => {
                return Err(ParseError::new(
                    start + 1 + eoff,
                    format!("invalid escape \\{other}"),
                ));
            }
        }
    }
    Err(ParseError::new(start, "unterminated string"))
}
