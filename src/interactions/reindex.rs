//! The reindex job: brings every custom SearchParameter up to date over existing resources, in
//! batches of one transaction each, recording progress so searches can say when they are partial.

use serde_json::Value;

use crate::error::Error;
use crate::fhir::time::Zone;
use crate::search::custom;
use crate::search::extract;
use crate::store::{Store, custom_params, index, search_meta};

const BATCH: i64 = 500;

/// Version of the index extraction rules, recorded in `search_meta`. Bump it when a change makes
/// old rows wrong, so that the server warns and `hms reindex` rebuilds them.
/// 2: implicit CodeSystem on required-bound codes (Patient.gender, Encounter.status, ...).
pub const INDEX_FORMAT: &str = "2";

/// Whether the whole index must be rebuilt: it was built in another zone or with older rules.
pub fn needs_rebuild(store: &Store, zone: &Zone) -> Result<bool, Error> {
    let (z, f) = store.read(|c| -> Result<_, Error> {
        Ok((
            search_meta::get(c, search_meta::ZONE)?,
            search_meta::get(c, search_meta::FORMAT)?,
        ))
    })?;
    let same_zone = z.as_deref().map(Zone::parse).and_then(Result::ok) == Some(*zone);
    Ok(!same_zone || f.as_deref() != Some(INDEX_FORMAT))
}

/// Rebuilds every search-index row of every live resource, reading dates without an offset in
/// `zone`, in batches of one transaction each; returns the number of resources. The zone is
/// recorded first (so writes made meanwhile already use it) and the format marked incomplete
/// until the last batch, so an interrupted rebuild is reported at the next start.
pub fn rebuild_all(
    store: &Store,
    zone: &Zone,
    mut progress: impl FnMut(i64, i64),
) -> Result<i64, Error> {
    let total = store.write(|c| -> Result<i64, Error> {
        search_meta::set(c, search_meta::ZONE, &zone.name())?;
        search_meta::set(c, search_meta::FORMAT, "incomplete")?;
        Ok(custom_params::count_all_live(c)?)
    })?;
    let (mut after, mut done) = (0_i64, 0_i64);
    loop {
        let (last, n) = store.write(|conn| -> Result<(i64, i64), Error> {
            let custom = custom::from_rows(custom_params::live(conn)?);
            let batch = custom_params::all_after(conn, after, BATCH)?;
            let mut last = after;
            for item in &batch {
                last = item.rid;
                let Some(json) = item.version.json()? else {
                    continue;
                };
                let v: Value = serde_json::from_slice(&json)
                    .map_err(|e| Error::Internal(format!("stored JSON: {e}")))?;
                let rows = extract::index_rows(&v, &custom, zone);
                index::replace(conn, item.rid, &item.res_type, &rows)?;
            }
            Ok((last, batch.len() as i64))
        })?;
        after = last;
        done += n;
        progress(done, total.max(done));
        if n < BATCH {
            break;
        }
    }
    store.write(|c| search_meta::set(c, search_meta::FORMAT, INDEX_FORMAT))?;
    Ok(done)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reindexed {
    pub url: String,
    pub resources: i64,
}

/// Reindexes every pending or partly reindexed custom parameter; `progress(url, done, total)` is
/// called after each batch.
pub fn run(
    store: &Store,
    mut progress: impl FnMut(&str, i64, i64),
) -> Result<Vec<Reindexed>, Error> {
    let rows = store.read(custom_params::live)?;
    let zone = store.read(super::index_zone)?;
    let mut out = Vec::new();
    for c in custom::from_rows(rows) {
        if c.is_complete() {
            continue;
        }
        let url = c.param.url.clone();
        let total = store.read(|conn| custom_params::count_live(conn, &c.bases))?;
        let (mut done_rid, mut done) = store.read(|conn| -> Result<(i64, i64), Error> {
            let row = custom_params::live(conn)?
                .into_iter()
                .find(|r| r.url == url);
            Ok(row.map(|r| (r.done_rid, r.done)).unwrap_or((0, 0)))
        })?;
        loop {
            let step = store.write(|conn| -> Result<(i64, i64), Error> {
                let batch = custom_params::batch_after(conn, &c.bases, done_rid, BATCH)?;
                let mut last = done_rid;
                for item in &batch {
                    last = item.rid;
                    let Some(json) = item.version.json()? else {
                        continue;
                    };
                    let v: Value = serde_json::from_slice(&json)
                        .map_err(|e| Error::Internal(format!("stored JSON: {e}")))?;
                    let rows =
                        extract::rows_for_params(&v, std::iter::once(c.param.as_ref()), &zone);
                    custom_params::replace_param_rows(
                        conn,
                        item.rid,
                        &item.res_type,
                        &c.param.code,
                        &rows,
                    )?;
                }
                let n = batch.len() as i64;
                let status = if n < BATCH { "active" } else { "reindexing" };
                custom_params::set_progress(
                    conn,
                    &url,
                    status,
                    last,
                    done + n,
                    total.max(done + n),
                )?;
                Ok((last, n))
            })?;
            done_rid = step.0;
            done += step.1;
            progress(&url, done, total);
            if step.1 < BATCH {
                break;
            }
        }
        out.push(Reindexed {
            url,
            resources: done,
        });
    }
    Ok(out)
}
