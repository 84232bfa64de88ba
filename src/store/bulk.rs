//! Bulk loading for `hms bench seed` and the raw-database baseline: many brand-new resources
//! (version one) per statement, with their index rows. The rows are exactly what a create writes
//! (a current row, a history row with the JSON, the index rows), only batched.

use std::collections::HashMap;

use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types::{BigInt, Binary, Double, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::binds::Binds;
use super::conn::{Backend, MultiBackend};
use super::index::IndexRow;
use super::resources::ENCODING_JSON;
use super::{AnyConnection, StoreError};

/// A new resource ready to store: content already stamped (id, meta) and its index rows extracted.
#[derive(Debug, Clone)]
pub struct NewResource {
    pub res_type: String,
    pub res_id: String,
    pub last_updated: i64,
    pub content: Vec<u8>,
    pub index: Vec<IndexRow>,
}

#[derive(QueryableByName)]
struct Inserted {
    #[diesel(sql_type = BigInt)]
    rid: i64,
    #[diesel(sql_type = Text)]
    res_type: String,
    #[diesel(sql_type = Text)]
    res_id: String,
}

/// Rows per statement: resource (3 binds), history (6 binds), index (15 binds). Well under the
/// bind limits of SQLite (32,766) and PostgreSQL (65,535).
const RESOURCE_CHUNK: usize = 500;
const HISTORY_CHUNK: usize = 500;
const INDEX_CHUNK: usize = 1000;

fn placeholder(backend: Backend, n: usize) -> String {
    match backend {
        Backend::Postgres => format!("${n}"),
        Backend::Sqlite => format!("?{n}"),
    }
}

/// Inserts every resource (version 1) with its history row and index rows, in the caller's
/// transaction.
pub fn insert_new(conn: &mut AnyConnection, items: &[NewResource]) -> Result<(), StoreError> {
    let backend = conn.backend();
    let mut rids: HashMap<(String, String), i64> = HashMap::with_capacity(items.len());
    for chunk in items.chunks(RESOURCE_CHUNK) {
        let mut b = Binds::default();
        let values: Vec<String> = chunk
            .iter()
            .map(|r| {
                format!(
                    "({}, {}, 1, {}, 0)",
                    b.text(r.res_type.clone()),
                    b.text(r.res_id.clone()),
                    b.int(r.last_updated)
                )
            })
            .collect();
        let sql = format!(
            "INSERT INTO resource (res_type, res_id, version, last_updated, deleted) VALUES {} \
             RETURNING rid, res_type, res_id",
            values.join(", ")
        );
        let rows: Vec<Inserted> = b.query(sql, backend).load(conn)?;
        for r in rows {
            rids.insert((r.res_type, r.res_id), r.rid);
        }
    }
    let rid_of = |r: &NewResource| -> Result<i64, StoreError> {
        rids.get(&(r.res_type.clone(), r.res_id.clone()))
            .copied()
            .ok_or_else(|| StoreError::Corrupt(format!("no rid for {}/{}", r.res_type, r.res_id)))
    };
    for chunk in items.chunks(HISTORY_CHUNK) {
        let mut n = 0;
        let values: Vec<String> = chunk
            .iter()
            .map(|_| {
                let mut p = || {
                    n += 1;
                    placeholder(backend, n)
                };
                let (rid, t, id, lu, enc, content) = (p(), p(), p(), p(), p(), p());
                format!("({rid}, {t}, {id}, 1, {lu}, 0, 'POST', {enc}, {content})")
            })
            .collect();
        let sql = format!(
            "INSERT INTO resource_history (rid, res_type, res_id, version, last_updated, deleted, method, encoding, content) VALUES {}",
            values.join(", ")
        );
        let mut q: BoxedSqlQuery<'_, MultiBackend, _> = sql_query(sql).into_boxed();
        for r in chunk {
            q = q
                .bind::<BigInt, _>(rid_of(r)?)
                .bind::<Text, _>(r.res_type.clone())
                .bind::<Text, _>(r.res_id.clone())
                .bind::<BigInt, _>(r.last_updated)
                .bind::<Text, _>(ENCODING_JSON)
                .bind::<Nullable<Binary>, _>(Some(r.content.clone()));
        }
        q.execute(conn)?;
    }
    let mut index_rows: Vec<(i64, &str, &IndexRow)> = Vec::new();
    for r in items {
        let rid = rid_of(r)?;
        index_rows.extend(r.index.iter().map(|row| (rid, r.res_type.as_str(), row)));
    }
    for chunk in index_rows.chunks(INDEX_CHUNK) {
        let mut q: BoxedSqlQuery<'_, MultiBackend, _> =
            sql_query(index_sql(backend, chunk.len())).into_boxed();
        for (rid, res_type, r) in chunk {
            q = q
                .bind::<BigInt, _>(*rid)
                .bind::<Text, _>(res_type.to_string())
                .bind::<Text, _>(r.param.clone())
                .bind::<Nullable<BigInt>, _>(r.grp.map(i64::from))
                .bind::<Nullable<BigInt>, _>(r.pos.map(i64::from))
                .bind::<Nullable<Text>, _>(r.s_norm.clone())
                .bind::<Nullable<Text>, _>(r.s_exact.clone())
                .bind::<Nullable<Text>, _>(r.system.clone())
                .bind::<Nullable<Text>, _>(r.code.clone())
                .bind::<Nullable<BigInt>, _>(r.lo)
                .bind::<Nullable<BigInt>, _>(r.hi)
                .bind::<Nullable<Double>, _>(r.num)
                .bind::<Nullable<Text>, _>(r.ref_type.clone())
                .bind::<Nullable<Text>, _>(r.ref_id.clone())
                .bind::<Nullable<Text>, _>(r.uri.clone());
        }
        q.execute(conn)?;
    }
    Ok(())
}

fn index_sql(backend: Backend, rows: usize) -> String {
    let mut n = 0;
    let values: Vec<String> = (0..rows)
        .map(|_| {
            let cols: Vec<String> = (0..15)
                .map(|_| {
                    n += 1;
                    placeholder(backend, n)
                })
                .collect();
            format!("({})", cols.join(", "))
        })
        .collect();
    format!(
        "INSERT INTO search_index (rid, res_type, param, grp, pos, s_norm, s_exact, system, code, lo, hi, num, ref_type, ref_id, uri) VALUES {}",
        values.join(", ")
    )
}

#[derive(QueryableByName)]
struct RidRow {
    #[diesel(sql_type = BigInt)]
    rid: i64,
}

/// The indexed token lookup a `[type]?[param]=[system]|[code]` search starts with.
pub fn token_rids(
    conn: &mut AnyConnection,
    res_type: &str,
    param: &str,
    system: &str,
    code: &str,
    limit: i64,
) -> Result<Vec<i64>, StoreError> {
    let mut b = Binds::default();
    let sql = format!(
        "SELECT DISTINCT rid FROM search_index WHERE res_type = {} AND param = {} AND code = {} AND system = {} LIMIT {}",
        b.text(res_type),
        b.text(param),
        b.text(code),
        b.text(system),
        b.int(limit)
    );
    let rows: Vec<RidRow> = b.query(sql, conn.backend()).load(conn)?;
    Ok(rows.into_iter().map(|r| r.rid).collect())
}

/// Counts rows of `resource` (for progress and reports).
pub fn count_resources(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    #[derive(QueryableByName)]
    struct N {
        #[diesel(sql_type = BigInt)]
        n: i64,
    }
    let rows: Vec<N> = sql_query("SELECT COUNT(*) AS n FROM resource").load(conn)?;
    Ok(rows.first().map(|r| r.n).unwrap_or(0))
}

/// Refreshes the planner's statistics after a bulk load. Without them PostgreSQL plans the search
/// subqueries for empty tables (measured: searches over a freshly seeded 1M-resource database took
/// seconds instead of milliseconds where autovacuum is off or has not caught up yet). VACUUM also
/// sets the visibility map, which lets the search planning probes run as index-only scans, as
/// they do once autovacuum has passed. Must run outside a transaction.
pub fn analyze(conn: &mut AnyConnection) -> Result<(), StoreError> {
    let sql = match conn.backend() {
        Backend::Postgres => "VACUUM (ANALYZE) resource, resource_history, search_index",
        Backend::Sqlite => "PRAGMA optimize",
    };
    diesel::connection::SimpleConnection::batch_execute(conn, sql)?;
    Ok(())
}
