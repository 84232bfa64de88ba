//! Search criteria for conditional interactions (If-None-Exist, conditional update/delete).
//! Unknown parameters are refused: silently ignoring one would widen the match, and a conditional
//! delete or update must never touch more than the client meant.

use crate::error::Error;
use crate::store::AnyConnection;
use crate::store::index::{self, Hit, TokenMatch};

use super::tokenize::{split_token, split_unescaped, unescape};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Criteria {
    /// `_id` values (OR); None = no restriction.
    pub ids: Option<Vec<String>>,
    /// ANDed token criteria (each may hold one value; OR lists on tokens are not supported yet).
    pub tokens: Vec<TokenMatch>,
}

impl Criteria {
    /// Parses `identifier=sys|val&_id=x` (the query part of a conditional URL, without `?`).
    pub fn parse(query: &str) -> Result<Criteria, Error> {
        let mut c = Criteria::default();
        let mut any = false;
        for (name, value) in form_pairs(query) {
            any = true;
            match name.as_str() {
                "_id" => {
                    let ids: Vec<String> = split_unescaped(&value, ',')
                        .into_iter()
                        .map(unescape)
                        .collect();
                    c.ids = Some(match c.ids.take() {
                        // AND of two _id lists: the intersection.
                        Some(prev) => prev.into_iter().filter(|i| ids.contains(i)).collect(),
                        None => ids,
                    });
                }
                "identifier" => {
                    if split_unescaped(&value, ',').len() > 1 {
                        return Err(Error::invalid(
                            Some("identifier"),
                            "OR lists in conditional criteria are not supported for identifier",
                        ));
                    }
                    let (system, code) = split_token(&value);
                    let code = unescape(code);
                    c.tokens.push(TokenMatch {
                        param: "identifier".into(),
                        system: system.map(|s| {
                            if s.is_empty() {
                                None
                            } else {
                                Some(unescape(s))
                            }
                        }),
                        code: if code.is_empty() { None } else { Some(code) },
                    });
                }
                other => {
                    return Err(Error::invalid(
                        Some(other),
                        format!(
                            "search parameter {other:?} is not supported in conditional criteria (supported: _id, identifier)"
                        ),
                    ));
                }
            }
        }
        if !any {
            return Err(Error::invalid(None, "conditional criteria are empty"));
        }
        Ok(c)
    }

    /// Live resources of type `t` that match, at most `limit` (ordered by id). Conditional
    /// interactions and conditional references all resolve through here.
    pub fn find(&self, conn: &mut AnyConnection, t: &str, limit: i64) -> Result<Vec<Hit>, Error> {
        Ok(index::find(
            conn,
            t,
            self.ids.as_deref(),
            &self.tokens,
            limit,
            None,
        )?)
    }

    /// A canonical text of the criteria, used as the key that serialises racing writers.
    pub fn canonical(&self) -> String {
        let mut parts = Vec::new();
        if let Some(ids) = &self.ids {
            let mut ids = ids.clone();
            ids.sort();
            parts.push(format!("_id={}", ids.join(",")));
        }
        let mut toks: Vec<String> = self
            .tokens
            .iter()
            .map(|t| {
                let sys = match &t.system {
                    None => "*".to_string(),
                    Some(None) => String::new(),
                    Some(Some(s)) => s.clone(),
                };
                format!("{}={}|{}", t.param, sys, t.code.clone().unwrap_or_default())
            })
            .collect();
        toks.sort();
        parts.extend(toks);
        parts.join("&")
    }
}

/// Decodes an application/x-www-form-urlencoded query into (name, value) pairs.
pub fn form_pairs(query: &str) -> Vec<(String, String)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_identifier_and_id() {
        let c = Criteria::parse("identifier=http%3A%2F%2Fs%7C12&_id=a,b").unwrap();
        assert_eq!(c.ids, Some(vec!["a".to_string(), "b".to_string()]));
        assert_eq!(
            c.tokens,
            vec![TokenMatch {
                param: "identifier".into(),
                system: Some(Some("http://s".into())),
                code: Some("12".into())
            }]
        );
        assert_eq!(c.canonical(), "_id=a,b&identifier=http://s|12");
    }

    #[test]
    fn unknown_params_are_refused() {
        assert!(matches!(
            Criteria::parse("name=smith"),
            Err(Error::Invalid(_))
        ));
        assert!(matches!(Criteria::parse(""), Err(Error::Invalid(_))));
    }

    #[test]
    fn percent_decoding_is_safe_at_the_end() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%"), "a%");
        assert_eq!(percent_decode("%41+b"), "A b");
    }
}
