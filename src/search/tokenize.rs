//! The one place that splits search values: OR-lists on unescaped commas, token parts on the first
//! unescaped `|`, and removal of the `\,` `\|` `\$` `\\` escapes.

/// Splits on `sep` where it is not escaped with a backslash; escapes are kept for the next step.
pub fn split_unescaped(s: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut escaped = false;
    for (i, c) in s.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(&s[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Splits a token value at the first unescaped `|`: `system|code` → (Some(system), code).
pub fn split_token(s: &str) -> (Option<&str>, &str) {
    let parts = split_unescaped(s, '|');
    if parts.len() == 1 {
        (None, s)
    } else {
        let first = parts[0];
        (Some(first), &s[first.len() + 1..])
    }
}

/// Removes search escapes: `\,` → `,`, `\|` → `|`, `\$` → `$`, `\\` → `\`.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            match chars.next() {
                Some(n) => out.push(n),
                None => out.push('\\'),
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// The first control character a search name or value must not carry: C0 controls other than
/// TAB/LF/CR. PostgreSQL cannot store NUL in text at all, and none of them is meaningful in a
/// search value, so they are refused once here instead of failing (or matching) in the database.
pub fn forbidden_control(s: &str) -> Option<char> {
    s.chars()
        .find(|c| (*c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || *c == '\u{7f}')
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn splits_and_unescapes() {
        assert_eq!(split_unescaped(r"a,b\,c,d", ','), vec!["a", r"b\,c", "d"]);
        assert_eq!(split_token(r"http://s|12\|3"), (Some("http://s"), r"12\|3"));
        assert_eq!(split_token("|x"), (Some(""), "x"));
        assert_eq!(split_token("x"), (None, "x"));
        assert_eq!(unescape(r"12\|3\,4\\5\$"), r"12|3,4\5$");
    }

    #[test]
    fn finds_control_characters() {
        assert_eq!(forbidden_control("a\0b"), Some('\0'));
        assert_eq!(forbidden_control("\u{1b}[0m"), Some('\u{1b}'));
        assert_eq!(forbidden_control("x\u{7f}"), Some('\u{7f}'));
        assert_eq!(forbidden_control("a\tb\r\nc é ✓"), None);
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,64}") {
            let _ = split_unescaped(&s, ',');
            let _ = split_token(&s);
            let _ = unescape(&s);
        }

        #[test]
        fn escaped_commas_survive(parts in proptest::collection::vec("[a-z,|]{0,8}", 1..5)) {
            let escaped: Vec<String> = parts.iter().map(|p| p.replace(',', "\\,")).collect();
            let joined = escaped.join(",");
            let split: Vec<String> = split_unescaped(&joined, ',').into_iter().map(unescape).collect();
            prop_assert_eq!(split, parts);
        }
    }
}
