//! history (instance, type, system) with _count, _since, _at and keyset paging.

use crate::error::Error;
use crate::fhir::time;
use crate::search::criteria::form_pairs;
use crate::store::history::{self, HistoryQuery, Scope};

use super::{Services, Stored};

pub const DEFAULT_COUNT: i64 = 50;
pub const MAX_COUNT: i64 = 1000;

#[derive(Debug, Clone)]
pub struct HistoryPage {
    pub entries: Vec<HistoryEntry>,
    pub total: i64,
    /// Cursor for the next page, if there is one.
    pub next_cursor: Option<i64>,
    /// The parameters that were applied, for the self/next links.
    pub applied: Vec<(String, String)>,
}

#[derive(Debug, Clone)]
pub struct HistoryEntry {
    pub stored: Stored,
    pub method: String,
}

/// Parses the history parameters; unknown ones are an error (history has a closed set).
pub fn parse_query(scope: Scope, query: &str) -> Result<HistoryQuery, Error> {
    let mut q = HistoryQuery {
        scope,
        since: None,
        at: None,
        before_seq: None,
        count: DEFAULT_COUNT,
    };
    for (name, value) in form_pairs(query) {
        match name.as_str() {
            "_count" => {
                q.count = crate::search::params::parse_count(&value, MAX_COUNT)?;
            }
            "_since" => {
                let (low, _) = time::parse_fhir_range(&value, &time::Zone::Utc)
                    .filter(|_| value.contains('T'))
                    .ok_or_else(|| {
                        Error::invalid(
                            Some("_since"),
                            format!("_since must be an instant, got {value:?}"),
                        )
                    })?;
                q.since = Some(low);
            }
            "_at" => {
                let range = time::parse_fhir_range(&value, &time::Zone::Utc).ok_or_else(|| {
                    Error::invalid(
                        Some("_at"),
                        format!("_at must be a date or dateTime, got {value:?}"),
                    )
                })?;
                q.at = Some(range);
            }
            "_page" => {
                q.before_seq = Some(
                    value
                        .parse::<i64>()
                        .ok()
                        .filter(|v| *v > 0)
                        .ok_or_else(|| Error::invalid(Some("_page"), "invalid page cursor"))?,
                );
            }
            "_format" | "_pretty" => {}
            other => {
                return Err(Error::invalid(
                    Some(other),
                    format!("unknown history parameter {other:?} (supported: _count, _since, _at)"),
                ));
            }
        }
    }
    Ok(q)
}

pub fn history(s: &Services, q: &HistoryQuery) -> Result<HistoryPage, Error> {
    let (rows, total) = s
        .reader()
        .read(|c| -> Result<_, Error> { Ok((history::page(c, q)?, history::total(c, q)?)) })?;
    let more = rows.len() as i64 > q.count;
    let mut entries = Vec::with_capacity(rows.len());
    let mut last_seq = None;
    for row in rows.into_iter().take(q.count as usize) {
        last_seq = Some(row.seq);
        let method = row.version.method.clone();
        entries.push(HistoryEntry {
            stored: Stored::from_version(row.version)?,
            method,
        });
    }
    let mut applied = Vec::new();
    applied.push(("_count".to_string(), q.count.to_string()));
    if let Some(s) = q.since {
        applied.push(("_since".to_string(), time::fhir_instant(s)));
    }
    Ok(HistoryPage {
        entries,
        total,
        next_cursor: if more { last_seq } else { None },
        applied,
    })
}
