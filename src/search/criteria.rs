//! Search criteria for conditional interactions (If-None-Exist, conditional update/delete/patch,
//! conditional references). They run through the full search engine in strict mode: an unknown
//! parameter is an error, because ignoring it would widen the match, and a conditional delete or
//! update must never touch more than the client meant.

use crate::error::Error;
use crate::store::AnyConnection;
use crate::store::search_sql::{self, Match};

use super::params;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Criteria {
    pairs: Vec<(String, String)>,
}

impl Criteria {
    /// Takes `identifier=sys|val&_id=x` (the query part of a conditional URL, without `?`).
    pub fn parse(query: &str) -> Result<Criteria, Error> {
        let pairs: Vec<(String, String)> = form_pairs(query)
            .into_iter()
            .filter(|(k, _)| k != "_format" && k != "_pretty")
            .collect();
        if pairs.is_empty() {
            return Err(Error::invalid(None, "conditional criteria are empty"));
        }
        // Refused before the criteria become a lock key or reach the database.
        for (k, v) in &pairs {
            params::check_controls(k, v)?;
        }
        Ok(Criteria { pairs })
    }

    /// Live resources of type `t` that match, at most `limit`.
    pub fn find(&self, conn: &mut AnyConnection, t: &str, limit: i64) -> Result<Vec<Match>, Error> {
        run(conn, t, &self.pairs, true, false, limit)
    }

    /// A canonical text of the criteria, used as the key that serialises racing writers.
    pub fn canonical(&self) -> String {
        let mut p: Vec<String> = self.pairs.iter().map(|(k, v)| format!("{k}={v}")).collect();
        p.sort();
        p.join("&")
    }
}

/// A GET `[type]?query` entry of a batch or transaction: the Bundle request's Prefer handling
/// decides about unknown parameters (lenient by default, as for a plain search), and no criteria
/// lists every live resource of the type, up to `limit`.
pub fn search_entry(
    conn: &mut AnyConnection,
    t: &str,
    query: &str,
    strict: bool,
    limit: i64,
) -> Result<Vec<Match>, Error> {
    let pairs: Vec<(String, String)> = form_pairs(query)
        .into_iter()
        .filter(|(k, _)| k != "_format" && k != "_pretty")
        .collect();
    run(conn, t, &pairs, strict, true, limit)
}

fn run(
    conn: &mut AnyConnection,
    t: &str,
    pairs: &[(String, String)],
    strict: bool,
    allow_empty: bool,
    limit: i64,
) -> Result<Vec<Match>, Error> {
    let custom = super::custom::from_rows(crate::store::custom_params::live(conn)?);
    let zone = crate::interactions::index_zone(conn)?;
    let parsed = params::parse(&[t.to_string()], pairs, "", strict, &custom, &zone)?;
    if parsed.query.filters.is_empty() && !allow_empty {
        return Err(Error::invalid(
            None,
            "conditional criteria must contain at least one search parameter",
        ));
    }
    let mut q = parsed.query;
    q.sort.clear();
    Ok(search_sql::page(conn, &q, limit)?)
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
    fn canonical_is_order_independent() {
        let a = Criteria::parse("identifier=http%3A%2F%2Fs%7C12&_id=a").unwrap();
        let b = Criteria::parse("_id=a&identifier=http://s|12").unwrap();
        assert_eq!(a.canonical(), b.canonical());
        assert_eq!(a.canonical(), "_id=a&identifier=http://s|12");
        assert!(matches!(Criteria::parse(""), Err(Error::Invalid(_))));
        assert!(matches!(
            Criteria::parse("name=a%00"),
            Err(Error::Invalid(_))
        ));
    }

    #[test]
    fn percent_decoding_is_safe_at_the_end() {
        assert_eq!(percent_decode("a%2"), "a%2");
        assert_eq!(percent_decode("a%"), "a%");
        assert_eq!(percent_decode("%41+b"), "A b");
        assert_eq!(percent_decode("%41"), "A");
    }
}
