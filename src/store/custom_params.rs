//! Rows of `custom_search_param`: SearchParameters defined through the API and their reindex state.

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, QueryableByName, PartialEq)]
pub struct CustomRow {
    #[diesel(sql_type = Text)]
    pub url: String,
    #[diesel(sql_type = Text)]
    pub res_id: String,
    #[diesel(sql_type = Text)]
    pub code: String,
    #[diesel(sql_type = Text)]
    pub bases: String,
    #[diesel(sql_type = Text)]
    pub kind: String,
    #[diesel(sql_type = Text)]
    pub expression: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = BigInt)]
    pub done_rid: i64,
    #[diesel(sql_type = BigInt)]
    pub done: i64,
    #[diesel(sql_type = BigInt)]
    pub total: i64,
}

const COLS: &str = "url, res_id, code, bases, kind, expression, status, done_rid, done, total";

/// Every parameter that is not retired (the table stays small: one row per custom parameter).
pub fn live(conn: &mut AnyConnection) -> Result<Vec<CustomRow>, StoreError> {
    Ok(sql_query(format!(
        "SELECT {COLS} FROM custom_search_param WHERE status <> 'retired' ORDER BY url"
    ))
    .load(conn)?)
}

/// Records a (new or changed) definition; it must be reindexed before it is complete.
pub fn upsert(conn: &mut AnyConnection, row: &CustomRow) -> Result<(), StoreError> {
    sql_query(
        "INSERT INTO custom_search_param (url, res_id, code, bases, kind, expression, status, done_rid, done, total) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 0, 0, 0) \
         ON CONFLICT (url) DO UPDATE SET res_id = excluded.res_id, code = excluded.code, bases = excluded.bases, \
         kind = excluded.kind, expression = excluded.expression, status = excluded.status, done_rid = 0, done = 0, total = 0",
    )
    .bind::<Text, _>(&row.url)
    .bind::<Text, _>(&row.res_id)
    .bind::<Text, _>(&row.code)
    .bind::<Text, _>(&row.bases)
    .bind::<Text, _>(&row.kind)
    .bind::<Text, _>(&row.expression)
    .bind::<Text, _>(&row.status)
    .execute(conn)?;
    Ok(())
}

/// Retires the parameter defined by SearchParameter/`res_id` and drops its index rows.
pub fn retire_by_resource(conn: &mut AnyConnection, res_id: &str) -> Result<(), StoreError> {
    let rows: Vec<CustomRow> = sql_query(format!(
        "SELECT {COLS} FROM custom_search_param WHERE res_id = $1"
    ))
    .bind::<Text, _>(res_id)
    .load(conn)?;
    for r in rows {
        sql_query("UPDATE custom_search_param SET status = 'retired' WHERE url = $1")
            .bind::<Text, _>(&r.url)
            .execute(conn)?;
        for base in r.bases.split(',') {
            sql_query("DELETE FROM search_index WHERE res_type = $1 AND param = $2")
                .bind::<Text, _>(base)
                .bind::<Text, _>(&r.code)
                .execute(conn)?;
        }
    }
    Ok(())
}

pub fn set_progress(
    conn: &mut AnyConnection,
    url: &str,
    status: &str,
    done_rid: i64,
    done: i64,
    total: i64,
) -> Result<(), StoreError> {
    sql_query("UPDATE custom_search_param SET status = $1, done_rid = $2, done = $3, total = $4 WHERE url = $5")
        .bind::<Text, _>(status)
        .bind::<BigInt, _>(done_rid)
        .bind::<BigInt, _>(done)
        .bind::<BigInt, _>(total)
        .bind::<Text, _>(url)
        .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
pub struct RidContent {
    #[diesel(sql_type = BigInt)]
    pub rid: i64,
    #[diesel(sql_type = Text)]
    pub res_type: String,
    #[diesel(embed)]
    pub version: super::resources::Version,
}

/// The next batch of live resources of `types` after `after_rid`, with their current content.
pub fn batch_after(
    conn: &mut AnyConnection,
    types: &[String],
    after_rid: i64,
    limit: i64,
) -> Result<Vec<RidContent>, StoreError> {
    let mut b = super::binds::Binds::default();
    let list: Vec<String> = types.iter().map(|t| b.text(t.clone())).collect();
    let after = b.int(after_rid);
    let lim = b.int(limit);
    let sql = format!(
        "SELECT r.rid AS rid, {} FROM resource r JOIN resource_history h ON h.rid = r.rid AND h.version = r.version \
         WHERE r.res_type IN ({}) AND r.deleted = 0 AND r.rid > {after} ORDER BY r.rid LIMIT {lim}",
        super::resources::VERSION_COLUMNS,
        list.join(", ")
    );
    Ok(b.query(sql, conn.backend()).load(conn)?)
}

/// Live resources of every type after `after_rid`, in rid order (full reindex).
pub fn all_after(
    conn: &mut AnyConnection,
    after_rid: i64,
    limit: i64,
) -> Result<Vec<RidContent>, StoreError> {
    let mut b = super::binds::Binds::default();
    let after = b.int(after_rid);
    let lim = b.int(limit);
    let sql = format!(
        "SELECT r.rid AS rid, {} FROM resource r JOIN resource_history h ON h.rid = r.rid AND h.version = r.version \
         WHERE r.deleted = 0 AND r.rid > {after} ORDER BY r.rid LIMIT {lim}",
        super::resources::VERSION_COLUMNS,
    );
    Ok(b.query(sql, conn.backend()).load(conn)?)
}

/// Live resources of every type.
pub fn count_all_live(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let rows: Vec<N> =
        diesel::sql_query("SELECT COUNT(*) AS n FROM resource WHERE deleted = 0").load(conn)?;
    Ok(rows.first().map(|r| r.n).unwrap_or(0))
}

#[derive(QueryableByName)]
struct N {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

pub fn count_live(conn: &mut AnyConnection, types: &[String]) -> Result<i64, StoreError> {
    let mut b = super::binds::Binds::default();
    let list: Vec<String> = types.iter().map(|t| b.text(t.clone())).collect();
    let sql = format!(
        "SELECT COUNT(*) AS n FROM resource WHERE res_type IN ({}) AND deleted = 0",
        list.join(", ")
    );
    let rows: Vec<N> = b.query(sql, conn.backend()).load(conn)?;
    Ok(rows.first().map(|r| r.n).unwrap_or(0))
}

/// Adds rows for one parameter of one resource (after removing that parameter's old rows).
pub fn replace_param_rows(
    conn: &mut AnyConnection,
    rid: i64,
    res_type: &str,
    code: &str,
    rows: &[super::index::IndexRow],
) -> Result<(), StoreError> {
    sql_query("DELETE FROM search_index WHERE rid = $1 AND param = $2")
        .bind::<BigInt, _>(rid)
        .bind::<Text, _>(code)
        .execute(conn)?;
    super::index::insert(conn, rid, res_type, rows)
}
