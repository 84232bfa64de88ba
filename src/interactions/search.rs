//! search-type with the parameters the index holds today (_id, identifier) and id-ordered paging.

use crate::error::Error;
use crate::fhir::ids::ResourceType;
use crate::search::criteria::{Criteria, form_pairs};
use crate::store::{index, resources};

use super::{Services, Stored};

pub const DEFAULT_COUNT: i64 = 20;
pub const MAX_COUNT: i64 = 1000;

pub struct SearchResult {
    pub matches: Vec<Stored>,
    /// Parameters that were applied (the self link shows only these).
    pub applied: Vec<(String, String)>,
    pub count: i64,
    pub next_after: Option<String>,
}

/// Parameters the result-control layer handles rather than the index.
const CONTROL: &[&str] = &["_count", "_format", "_pretty", "_after", "_total"];

pub fn search(
    s: &Services,
    t: &ResourceType,
    query: &str,
    strict: bool,
) -> Result<SearchResult, Error> {
    let mut count = DEFAULT_COUNT;
    let mut after = None;
    let mut criteria_pairs = Vec::new();
    let mut applied = Vec::new();
    for (name, value) in form_pairs(query) {
        match name.as_str() {
            "_count" => {
                count = value
                    .parse::<i64>()
                    .ok()
                    .filter(|c| *c >= 0)
                    .ok_or_else(|| {
                        Error::invalid(
                            Some("_count"),
                            format!("_count must be a non-negative integer, got {value:?}"),
                        )
                    })?
                    .min(MAX_COUNT);
            }
            "_after" => after = Some(value),
            n if CONTROL.contains(&n) => {}
            "_id" | "identifier" => {
                applied.push((name.clone(), value.clone()));
                criteria_pairs.push(format!("{}={}", enc(&name), enc(&value)));
            }
            other => {
                if strict {
                    return Err(Error::invalid(
                        Some(other),
                        format!(
                            "unknown or unsupported search parameter {other:?} (Prefer: handling=strict)"
                        ),
                    ));
                }
            }
        }
    }
    let criteria = if criteria_pairs.is_empty() {
        Criteria::default()
    } else {
        Criteria::parse(&criteria_pairs.join("&"))?
    };
    let hits = s.store.read(|c| {
        index::find(
            c,
            t.as_str(),
            criteria.ids.as_deref(),
            &criteria.tokens,
            count + 1,
            after.as_deref(),
        )
    })?;
    let more = hits.len() as i64 > count;
    let page: Vec<_> = hits.into_iter().take(count as usize).collect();
    let next_after = if more {
        page.last().map(|h| h.res_id.clone())
    } else {
        None
    };
    let rids: Vec<i64> = page.iter().map(|h| h.rid).collect();
    let mut rows = s.store.read(|c| resources::read_current_many(c, &rids))?;
    // Keep the id order of the page.
    rows.sort_by(|a, b| a.1.res_id.cmp(&b.1.res_id));
    let matches = rows
        .into_iter()
        .map(|(_, v)| Stored::from_version(v))
        .collect::<Result<Vec<_>, _>>()?;
    applied.push(("_count".into(), count.to_string()));
    Ok(SearchResult {
        matches,
        applied,
        count,
        next_after,
    })
}

pub fn enc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
