//! Resolving the references of a billing resource against the store.
//!
//! Handled: `Type/id`, absolute `http…/Type/id` (optionally `/_history/n`), and conditional
//! references `Type?identifier=…` that match exactly one resource. `#id` (contained) and
//! `urn:uuid:` references are not store references: they resolve to `None` here (the X12 crate
//! looks contained resources up itself).

use serde_json::Value;

use crate::error::Error;
use crate::fhir::ids::{LogicalId, ResourceType};
use crate::search::criteria::Criteria;
use crate::store::{AnyConnection, resources};

/// The current body of the referenced resource, if it is stored and not deleted.
pub fn fetch(conn: &mut AnyConnection, reference: &str) -> Result<Option<Value>, Error> {
    if reference.starts_with('#') || reference.starts_with("urn:") {
        return Ok(None);
    }
    if let Some((t, query)) = reference.split_once('?') {
        let Ok(t) = ResourceType::parse(t.rsplit('/').next().unwrap_or(t)) else {
            return Ok(None);
        };
        let hits = Criteria::parse(query)?.find(conn, t.as_str(), 2)?;
        return match hits.as_slice() {
            [one] => read_json(conn, t.as_str(), &one.res_id),
            _ => Ok(None),
        };
    }
    let path = match reference.split_once("/_history/") {
        Some((p, _)) => p,
        None => reference,
    };
    let mut parts = path.rsplit('/');
    let (Some(id), Some(t)) = (parts.next(), parts.next()) else {
        return Ok(None);
    };
    match (ResourceType::parse(t), LogicalId::parse(id)) {
        (Ok(t), Ok(id)) => read_json(conn, t.as_str(), id.as_str()),
        _ => Ok(None),
    }
}

/// Like [`fetch`], but `#id` is looked up among `holder.contained`.
pub fn fetch_in(
    conn: &mut AnyConnection,
    holder: &Value,
    reference: &str,
) -> Result<Option<Value>, Error> {
    if let Some(id) = reference.strip_prefix('#') {
        let found = holder
            .get("contained")
            .and_then(Value::as_array)
            .and_then(|c| {
                c.iter()
                    .find(|r| r.get("id").and_then(Value::as_str) == Some(id))
            });
        return Ok(found.cloned());
    }
    fetch(conn, reference)
}

/// `holder.<path>.reference`, as text.
pub fn reference_at<'a>(holder: &'a Value, path: &[&str]) -> Option<&'a str> {
    let mut v = holder;
    for p in path {
        v = v.get(*p)?;
    }
    v.get("reference").and_then(Value::as_str)
}

pub fn read_json(conn: &mut AnyConnection, t: &str, id: &str) -> Result<Option<Value>, Error> {
    let Some(v) = resources::read_current(conn, t, id)? else {
        return Ok(None);
    };
    match v.json()? {
        Some(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| Error::Internal(format!("stored {t}/{id} is not JSON: {e}"))),
        None => Ok(None),
    }
}

/// Escapes a token search value (`\`, `,`, `|`, `$`) and percent-encodes it for a query string.
pub fn token_value(v: &str) -> String {
    let mut escaped = String::with_capacity(v.len());
    for c in v.chars() {
        if matches!(c, '\\' | ',' | '|' | '$') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    crate::interactions::search::enc(&escaped)
}

/// `identifier=system|value` criteria (system may be empty: any system).
pub fn identifier_criteria(system: Option<&str>, value: &str) -> Result<Criteria, Error> {
    let q = match system {
        Some(s) => format!(
            "identifier={}%7C{}",
            crate::interactions::search::enc(s),
            token_value(value)
        ),
        None => format!("identifier={}", token_value(value)),
    };
    Criteria::parse(&q)
}

/// Ids of live resources of type `t` carrying the identifier (at most `limit`).
pub fn find_by_identifier(
    conn: &mut AnyConnection,
    t: &str,
    system: Option<&str>,
    value: &str,
    limit: i64,
) -> Result<Vec<String>, Error> {
    Ok(identifier_criteria(system, value)?
        .find(conn, t, limit)?
        .into_iter()
        .map(|m| m.res_id)
        .collect())
}
