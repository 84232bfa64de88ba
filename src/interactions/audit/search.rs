//! `GET [base]/AuditEvent` and `GET [base]/AuditEvent/[id]`, served from the audit log itself: an
//! AuditEvent's id is its record's `seq`, and its body is the record's event as hashed into the
//! chain. Four parameters (`patient`, `agent`, `date`, `action`) plus `_count` and keyset paging
//! (`_page` = the seq to continue below), newest first.

use serde_json::Value;

use crate::error::Error;
use crate::fhir::bundle::{self, Entry, Link};
use crate::fhir::time;
use crate::search::criteria::form_pairs;
use crate::search::query::Prefix;
use crate::search::tokenize::{split_token, split_unescaped, unescape};
use crate::store::audit::{self, EventRow, Filter};
use crate::store::now_micros;

use super::super::Services;

const DEFAULT_COUNT: i64 = 50;
const MAX_COUNT: i64 = 1000;

/// A parsed AuditEvent search.
#[derive(Debug, Clone)]
pub struct AuditQuery {
    pub filter: Filter,
    pub count: i64,
    /// The parameters to repeat in paging links (in request order).
    pub applied: Vec<(String, String)>,
}

fn bad(param: &str, msg: String) -> Error {
    Error::invalid(Some(param), msg)
}

fn alternatives(value: &str) -> Vec<String> {
    split_unescaped(value, ',')
        .into_iter()
        .map(unescape)
        .collect()
}

pub fn parse_query(query: &str) -> Result<AuditQuery, Error> {
    let mut q = AuditQuery {
        filter: Filter::default(),
        count: DEFAULT_COUNT,
        applied: Vec::new(),
    };
    for (name, value) in form_pairs(query) {
        let keep = match name.as_str() {
            "patient" => {
                let ids = split_unescaped(&value, ',')
                    .into_iter()
                    .map(|v| {
                        let v = unescape(v);
                        let id = if v.contains('/') {
                            crate::search::extract::split_reference(&v)
                                .filter(|(t, _)| t == "Patient")
                                .map(|(_, id)| id)
                        } else {
                            crate::fhir::ids::is_valid_id(&v).then(|| v.clone())
                        };
                        id.ok_or_else(|| {
                            bad(
                                "patient",
                                format!("patient must be a Patient id or reference, got {v:?}"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                q.filter.patients.push(ids);
                true
            }
            "agent" => {
                let names: Vec<String> = split_unescaped(&value, ',')
                    .into_iter()
                    .map(|v| unescape(split_token(v).1))
                    .collect();
                if names.iter().any(String::is_empty) {
                    return Err(bad("agent", "agent needs a user or client name".into()));
                }
                q.filter.agents.push(names);
                true
            }
            "action" => {
                let codes = alternatives(&value);
                if let Some(c) = codes
                    .iter()
                    .find(|c| !matches!(c.as_str(), "C" | "R" | "U" | "D" | "E"))
                {
                    return Err(bad(
                        "action",
                        format!("action must be C, R, U, D or E, got {c:?}"),
                    ));
                }
                q.filter.actions.push(codes);
                true
            }
            "date" => {
                let (prefix, v) = Prefix::split(&value);
                let (lo, hi) = time::parse_fhir_range(v, &time::Zone::Utc).ok_or_else(|| {
                    bad(
                        "date",
                        format!("date must be a date or dateTime, got {value:?}"),
                    )
                })?;
                let range = match prefix {
                    Prefix::Eq => (Some(lo), Some(hi)),
                    Prefix::Ge => (Some(lo), None),
                    Prefix::Gt | Prefix::Sa => (Some(hi), None),
                    Prefix::Lt | Prefix::Eb => (None, Some(lo)),
                    Prefix::Le => (None, Some(hi)),
                    Prefix::Ne | Prefix::Ap => {
                        return Err(bad(
                            "date",
                            "date supports the prefixes eq, ge, gt, le, lt, sa, eb".into(),
                        ));
                    }
                };
                q.filter.recorded.push(range);
                true
            }
            "_count" => {
                q.count = crate::search::params::parse_count(&value, MAX_COUNT)?;
                true
            }
            "_page" => {
                let seq = value
                    .parse::<i64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .ok_or_else(|| {
                        bad(
                            "_page",
                            format!("_page must be a positive integer, got {value:?}"),
                        )
                    })?;
                q.filter.before_seq = Some(seq);
                false
            }
            "_format" | "_pretty" => false,
            other => {
                return Err(bad(
                    other,
                    format!(
                        "AuditEvent is searchable by patient, agent, date and action only, not {other:?}"
                    ),
                ));
            }
        };
        if keep {
            q.applied.push((name, value));
        }
    }
    Ok(q)
}

/// The stored event with its id (the record's seq), as the API shows it.
fn resource_bytes(row: &EventRow) -> Result<Vec<u8>, Error> {
    let mut v: Value = serde_json::from_str(&row.event)
        .map_err(|e| Error::Internal(format!("audit record {} is not JSON: {e}", row.seq)))?;
    if let Some(o) = v.as_object_mut() {
        o.insert("id".into(), Value::String(row.seq.to_string()));
    }
    serde_json::to_vec(&v).map_err(|e| Error::Internal(e.to_string()))
}

/// `GET [base]/AuditEvent/[id]`.
pub fn read(s: &Services, id: &str) -> Result<Vec<u8>, Error> {
    let missing = || Error::NotFound(format!("AuditEvent/{id} is not known"));
    let seq = id.parse::<i64>().map_err(|_| missing())?;
    let row = s
        .reader()
        .read(|c| audit::get(c, seq))?
        .ok_or_else(missing)?;
    resource_bytes(&row)
}

/// `GET [base]/AuditEvent?...`: a searchset Bundle (newest first) with self/next links.
pub fn search(s: &Services, q: &AuditQuery, base: &str) -> Result<Vec<u8>, Error> {
    let mut rows = s
        .reader()
        .read(|c| audit::search(c, &q.filter, q.count + 1))?;
    let more = i64::try_from(rows.len()).unwrap_or(i64::MAX) > q.count;
    rows.truncate(usize::try_from(q.count).unwrap_or(0));
    let link = |page: Option<i64>| {
        let mut params = q.applied.clone();
        if let Some(p) = page {
            params.push(("_page".into(), p.to_string()));
        }
        let qs = params
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}={}",
                    super::super::search::enc(k),
                    super::super::search::enc(v)
                )
            })
            .collect::<Vec<_>>()
            .join("&");
        if qs.is_empty() {
            format!("{base}/AuditEvent")
        } else {
            format!("{base}/AuditEvent?{qs}")
        }
    };
    let mut links = vec![Link {
        relation: "self",
        url: link(q.filter.before_seq),
    }];
    if more && let Some(last) = rows.last() {
        links.push(Link {
            relation: "next",
            url: link(Some(last.seq)),
        });
    }
    let entries = rows
        .iter()
        .map(|r| {
            Ok(Entry {
                full_url: Some(format!("{base}/AuditEvent/{}", r.seq)),
                resource: Some(resource_bytes(r)?),
                search_mode: Some("match"),
                ..Entry::default()
            })
        })
        .collect::<Result<Vec<_>, Error>>()?;
    Ok(bundle::render(
        "searchset",
        None,
        &links,
        &entries,
        &time::fhir_instant(now_micros()),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_four_parameters() {
        let q = parse_query(
            "patient=Patient/p1,p2&agent=urn:hms:user|alice&action=R,E&date=ge2026-01-01&_count=5&_page=9",
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(q.filter.patients, vec![vec!["p1".to_string(), "p2".into()]]);
        assert_eq!(q.filter.agents, vec![vec!["alice".to_string()]]);
        assert_eq!(q.filter.actions, vec![vec!["R".to_string(), "E".into()]]);
        assert_eq!(q.filter.recorded.len(), 1);
        assert!(q.filter.recorded[0].1.is_none());
        assert_eq!(q.count, 5);
        assert_eq!(q.filter.before_seq, Some(9));
        assert_eq!(q.applied.len(), 5);
        assert!(parse_query("action=X").is_err());
        assert!(parse_query("subtype=read").is_err());
        assert!(parse_query("date=ap2026").is_err());
    }
}
