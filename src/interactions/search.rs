//! search-type, search-system (_type), compartment search: parse → one page query (+ count,
//! + one query per include) → resources in page order.

use std::collections::HashSet;

use hms_fhir::outcome::{Issue, Severity};
use serde_json::Value;

use crate::error::{Error, issue};
use crate::search::cursor;
use crate::search::params::{self, Parsed};
use crate::search::query::{Cursor, Filter, Include, SearchQuery, Summary, Total};
use crate::store::{AnyConnection, resources, search_sql};

use super::{Services, Stored};

/// Most resources added by _include/_revinclude to one page.
pub const MAX_INCLUDES: i64 = 1000;
const MAX_ITERATE_DEPTH: usize = 3;

pub struct SearchRequest<'a> {
    pub types: Vec<String>,
    pub pairs: Vec<(String, String)>,
    /// Our FHIR base URL (absolute references to it are local).
    pub base: &'a str,
    pub strict: bool,
    /// `Patient/123/Encounter`: (compartment type, id).
    pub compartment: Option<(String, String)>,
    /// Criteria the server adds (granular SMART scopes): ANDed with the client's, kept out of the
    /// links.
    pub restrict: Vec<Filter>,
}

pub struct SearchResult {
    pub matches: Vec<Stored>,
    pub included: Vec<Stored>,
    pub total: Option<i64>,
    /// The applied parameters, for the self link.
    pub applied: Vec<(String, String)>,
    /// The opaque cursor of the next page, if there is one.
    pub next_cursor: Option<String>,
    pub this_cursor: Option<String>,
    pub warnings: Vec<Issue>,
    pub summary: Summary,
    pub elements: Option<Vec<String>>,
}

/// Canonical text of what a search is (types, compartment and applied parameters); cursors are
/// bound to it so that a cursor cannot be replayed against other criteria.
fn fingerprint(req: &SearchRequest<'_>, applied: &[(String, String)]) -> String {
    let mut s = req.types.join(",");
    if let Some((t, id)) = &req.compartment {
        s.push_str(&format!("@{t}/{id}"));
    }
    for (k, v) in applied {
        s.push_str(&format!("&{k}={v}"));
    }
    for f in &req.restrict {
        s.push_str(&format!("!{f:?}"));
    }
    s
}

pub fn search(s: &Services, req: &SearchRequest<'_>) -> Result<SearchResult, Error> {
    let custom =
        crate::search::custom::from_rows(s.reader().read(crate::store::custom_params::live)?);
    let Parsed {
        mut query,
        applied,
        ignored,
        incomplete,
    } = params::parse(
        &req.types,
        &req.pairs,
        req.base,
        req.strict,
        &custom,
        &s.index_zone()?,
    )?;
    if let Some((ct, cid)) = &req.compartment {
        let model = hms_fhir::model::Model::r4();
        let t = req.types.first().cloned().unwrap_or_default();
        let params: Vec<String> = model.compartment_params(ct, &t).to_vec();
        if params.is_empty() {
            return Err(Error::NotFound(format!(
                "{t} is not in the {ct} compartment"
            )));
        }
        // `{def}` in the definition means "the compartment resource itself".
        query.filters.push(Filter::Compartment {
            params,
            ref_type: ct.clone(),
            ref_id: cid.clone(),
        });
    }
    query.filters.extend(req.restrict.iter().cloned());
    let fp = fingerprint(req, &applied);
    let token = req
        .pairs
        .iter()
        .find(|(k, _)| k == "_cursor")
        .map(|(_, v)| v.clone());
    if let Some(t) = &token {
        query.cursor = Some(cursor::decode(&s.paging_secret, &fp, t).ok_or_else(|| {
            Error::invalid(
                Some("_cursor"),
                "the paging link is invalid, altered, or belongs to another search",
            )
        })?);
    }
    let mut warnings: Vec<Issue> = ignored
        .iter()
        .map(|p| {
            issue(
                Severity::Warning,
                "not-supported",
                Some(p),
                format!("search parameter {p:?} is unknown here and was ignored"),
            )
        })
        .collect();
    // A clamped _count is stated, so a client does not take a short page for the end.
    if let Some((_, v)) = req.pairs.iter().find(|(k, _)| k == "_count")
        && v.parse::<i64>().is_ok_and(|c| c > params::MAX_COUNT)
    {
        warnings.push(issue(
            Severity::Information,
            "informational",
            Some("_count"),
            format!(
                "_count={v} exceeds the maximum page size; {} results per page are returned",
                params::MAX_COUNT
            ),
        ));
    }
    for (code, done, total) in &incomplete {
        warnings.push(issue(
            Severity::Warning,
            "incomplete",
            Some(code),
            format!(
                "search parameter {code:?} is not fully indexed yet ({done} of {total} existing resources); \
                 results may be incomplete until `hms reindex` finishes"
            ),
        ));
    }
    let (rows, total, included) = s.reader().read(|conn| -> Result<_, Error> {
        if query.summary == Summary::Count {
            let total = Some(search_sql::count(conn, &query)?);
            return Ok((Vec::new(), total, (Vec::new(), false)));
        }
        let planned = search_sql::plan(conn, &query, s.search_total_cap)?;
        let rows = search_sql::page_with(conn, &query, planned.plan, query.count + 1)?;
        let total = match query.total {
            Total::Accurate => Some(search_sql::count(conn, &query)?),
            // A first page that holds every match is its own count: selective searches (an MRN,
            // one patient's encounters) then cost no count query at all.
            Total::Estimate if query.cursor.is_none() && rows.len() as i64 <= query.count => {
                Some(rows.len() as i64)
            }
            // Counted only when the plan walks at most `search_total_cap` candidates; a broad
            // search over millions of rows is not counted on every page.
            Total::Estimate if planned.cheap_count => {
                search_sql::count_up_to(conn, &query, planned.plan, s.search_total_cap)?
            }
            Total::Estimate | Total::None => None,
        };
        let page_rids: Vec<i64> = rows
            .iter()
            .take(query.count as usize)
            .map(|m| m.rid)
            .collect();
        let page_refs: Vec<(String, String)> = rows
            .iter()
            .take(query.count as usize)
            .map(|m| (m.res_type.clone(), m.res_id.clone()))
            .collect();
        let included = includes(conn, &query, &page_rids, &page_refs)?;
        Ok((rows, total, included))
    })?;
    let (included, depth_capped) = included;
    if depth_capped {
        warnings.push(issue(
            Severity::Warning,
            "too-costly",
            None,
            format!(
                ":iterate was stopped after {MAX_ITERATE_DEPTH} levels; deeper resources, if any, are not included"
            ),
        ));
    }
    let more = rows.len() as i64 > query.count;
    let page: Vec<_> = rows.into_iter().take(query.count as usize).collect();
    let next_cursor = if more {
        page.last().map(|m| {
            cursor::encode(
                &s.paging_secret,
                &fp,
                &Cursor {
                    keys: m.keys.clone(),
                    rid: m.rid,
                },
            )
        })
    } else {
        None
    };
    let rids: Vec<i64> = page.iter().map(|m| m.rid).collect();
    let matches = load_in_order(s, &rids)?;
    let included = load_in_order(s, &included)?;
    if included.len() as i64 >= MAX_INCLUDES {
        warnings.push(issue(
            Severity::Warning,
            "too-costly",
            None,
            format!("included resources were capped at {MAX_INCLUDES}"),
        ));
    }
    Ok(SearchResult {
        matches,
        included,
        total,
        applied,
        next_cursor,
        this_cursor: token,
        warnings,
        summary: query.summary,
        elements: query.elements.clone(),
    })
}

/// _include and _revinclude (with :iterate), excluding what is already on the page; true when
/// :iterate still found new resources at the last allowed level (the depth cap cut it off).
fn includes(
    conn: &mut AnyConnection,
    q: &SearchQuery,
    rids: &[i64],
    refs: &[(String, String)],
) -> Result<(Vec<i64>, bool), Error> {
    let mut seen: HashSet<i64> = rids.iter().copied().collect();
    let mut out = Vec::new();
    let mut frontier_rids = rids.to_vec();
    let mut frontier_refs = refs.to_vec();
    let mut capped = false;
    for depth in 0..=MAX_ITERATE_DEPTH {
        let mut new_rids = Vec::new();
        let active = |i: &&Include| depth == 0 || i.iterate;
        for inc in q.includes.iter().filter(active) {
            let budget = MAX_INCLUDES - out.len() as i64;
            if budget <= 0 {
                break;
            }
            new_rids.extend(search_sql::include_targets(
                conn,
                &frontier_rids,
                inc,
                budget,
            )?);
        }
        for inc in q.revincludes.iter().filter(active) {
            let budget = MAX_INCLUDES - out.len() as i64;
            if budget <= 0 {
                break;
            }
            new_rids.extend(search_sql::revinclude_sources(
                conn,
                &frontier_refs,
                inc,
                budget,
            )?);
        }
        new_rids.retain(|r| seen.insert(*r));
        if new_rids.is_empty() {
            break;
        }
        if depth == MAX_ITERATE_DEPTH && depth > 0 {
            capped = true;
        }
        out.extend(new_rids.iter().copied());
        let loaded = resources::read_current_many(conn, &new_rids)?;
        frontier_refs = loaded
            .iter()
            .map(|(_, v)| (v.res_type.clone(), v.res_id.clone()))
            .collect();
        frontier_rids = new_rids;
        if out.len() as i64 >= MAX_INCLUDES {
            out.truncate(MAX_INCLUDES as usize);
            break;
        }
    }
    Ok((out, capped))
}

fn load_in_order(s: &Services, rids: &[i64]) -> Result<Vec<Stored>, Error> {
    if rids.is_empty() {
        return Ok(Vec::new());
    }
    let mut rows = s.reader().read(|c| resources::read_current_many(c, rids))?;
    // Page order, in one pass over a map (a page can hold 1,000 rows).
    let pos: std::collections::HashMap<i64, usize> =
        rids.iter().enumerate().map(|(i, r)| (*r, i)).collect();
    rows.sort_by_key(|(rid, _)| pos.get(rid).copied().unwrap_or(usize::MAX));
    rows.into_iter()
        .map(|(_, v)| Stored::from_version(v))
        .collect()
}

/// Applies _summary / _elements to one resource body, tagging it SUBSETTED when anything was cut.
pub fn subset(body: &[u8], summary: Summary, elements: Option<&[String]>) -> Vec<u8> {
    if summary == Summary::False && elements.is_none() {
        return body.to_vec();
    }
    let Ok(Value::Object(mut obj)) = serde_json::from_slice::<Value>(body) else {
        return body.to_vec();
    };
    let t = obj
        .get("resourceType")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let model = hms_fhir::model::Model::r4();
    let always = ["resourceType", "id", "meta"];
    let keep = |k: &str| -> bool {
        if always.contains(&k) {
            return true;
        }
        let mandatory = model.child(&t, k).is_some_and(|e| e.min > 0);
        match summary {
            Summary::Text => k == "text" || mandatory,
            Summary::Data => k != "text",
            Summary::True => mandatory || model.is_summary(&t, k),
            Summary::False | Summary::Count => {
                elements.is_none_or(|els| mandatory || els.iter().any(|e| e == k))
            }
        }
    };
    let before = obj.len();
    obj.retain(|k, _| keep(k.trim_start_matches('_')));
    if obj.len() != before {
        let meta = obj
            .entry("meta")
            .or_insert_with(|| Value::Object(Default::default()));
        if let Some(m) = meta.as_object_mut() {
            let tags = m.entry("tag").or_insert_with(|| Value::Array(Vec::new()));
            if let Some(a) = tags.as_array_mut() {
                a.push(serde_json::json!({"system": "http://terminology.hl7.org/CodeSystem/v3-ObservationValue", "code": "SUBSETTED"}));
            }
        }
    }
    serde_json::to_vec(&Value::Object(obj)).unwrap_or_else(|_| body.to_vec())
}

/// Percent-encodes a query component for links.
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
