//! The reindex job: brings every custom SearchParameter up to date over existing resources, in
//! batches of one transaction each, recording progress so searches can say when they are partial.

use serde_json::Value;

use crate::error::Error;
use crate::search::custom;
use crate::search::extract;
use crate::store::{Store, custom_params};

const BATCH: i64 = 500;

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
                    let rows = extract::rows_for_params(&v, std::iter::once(c.param.as_ref()));
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
