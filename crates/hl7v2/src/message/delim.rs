//! Delimiters declared in MSH-1 / MSH-2 (or FHS/BHS).

use super::error::ParseError;

/// The separator set of one message. Only the field separator is mandatory;
/// MSH-2 may legally omit trailing characters (e.g. `MSH|^~|`), in which case the
/// corresponding level simply does not exist (no splitting, no escaping).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delimiters {
    pub field: char,
    pub component: Option<char>,
    pub repetition: Option<char>,
    pub escape: Option<char>,
    pub subcomponent: Option<char>,
    /// v2.7+ truncation character (5th char of MSH-2), kept for round trip and `\P\`.
    pub truncation: Option<char>,
}

impl Default for Delimiters {
    /// The conventional `|^~\&`.
    fn default() -> Self {
        Delimiters {
            field: '|',
            component: Some('^'),
            repetition: Some('~'),
            escape: Some('\\'),
            subcomponent: Some('&'),
            truncation: None,
        }
    }
}

fn legal(c: char) -> bool {
    // Any printable ASCII punctuation may serve as a delimiter; letters/digits,
    // spaces and controls cannot (they would be indistinguishable from data).
    c.is_ascii_graphic() && !c.is_ascii_alphanumeric()
}

impl Delimiters {
    /// Delimiters used inside MSH-1/MSH-2 themselves: nothing splits, nothing escapes.
    pub(crate) fn literal(field: char) -> Self {
        Delimiters {
            field,
            component: None,
            repetition: None,
            escape: None,
            subcomponent: None,
            truncation: None,
        }
    }

    /// Reads delimiters from a header segment (`MSH`, `FHS`, `BHS`) in its raw text.
    /// Returns the delimiters, the raw MSH-2 text and whether the known
    /// "doubled escape" sender bug (`^~\\&`) was tolerated.
    pub(crate) fn from_header(seg: &str) -> Result<(Self, &str, bool), ParseError> {
        let mut chars = seg.char_indices().skip(3);
        let Some((_, field)) = chars.next() else {
            return Err(ParseError::BadDelimiters {
                reason: "no field separator after the segment id".into(),
            });
        };
        if !legal(field) {
            return Err(ParseError::BadDelimiters {
                reason: format!("illegal field separator {field:?}"),
            });
        }
        let rest = seg.get(4..).unwrap_or("");
        let enc = rest.split(field).next().unwrap_or("");
        if enc.is_empty() {
            return Err(ParseError::MissingMsh2);
        }
        let mut list: Vec<char> = enc.chars().collect();
        let mut doubled = false;
        // Known sender bug (string-escaping leaked into the wire): `^~\\&`.
        if list.len() == 5 && list.get(2) == Some(&'\\') && list.get(3) == Some(&'\\') {
            list.remove(3);
            doubled = true;
        }
        if list.len() > 5 {
            return Err(ParseError::BadDelimiters {
                reason: format!("MSH-2 has {} characters (at most 5)", list.len()),
            });
        }
        let mut seen = vec![field];
        for c in &list {
            if !legal(*c) || seen.contains(c) {
                return Err(ParseError::BadDelimiters {
                    reason: format!("illegal or duplicate encoding character {c:?} in MSH-2"),
                });
            }
            seen.push(*c);
        }
        let at = |i: usize| list.get(i).copied();
        Ok((
            Delimiters {
                field,
                component: at(0),
                repetition: at(1),
                escape: at(2),
                subcomponent: at(3),
                truncation: at(4),
            },
            enc,
            doubled,
        ))
    }

    /// Canonical MSH-2 text for these delimiters (as used when building new messages).
    pub fn encoding_characters(&self) -> String {
        [
            self.component,
            self.repetition,
            self.escape,
            self.subcomponent,
            self.truncation,
        ]
        .iter()
        .map_while(|c| *c)
        .collect()
    }
}
