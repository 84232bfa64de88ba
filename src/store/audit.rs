//! Rows of `audit_log`, the hash-chained audit trail. Appending takes the `audit` write lock so
//! that concurrent writers on PostgreSQL cannot both chain onto the same last record (SQLite write
//! transactions are exclusive already).

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::{AnyConnection, StoreError, resources};

#[derive(Debug, QueryableByName)]
pub struct AuditRow {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub prev_hash: String,
    #[diesel(sql_type = Text)]
    pub hash: String,
    #[diesel(sql_type = Text)]
    pub event: String,
}

#[derive(QueryableByName)]
struct HashRow {
    #[diesel(sql_type = Text)]
    hash: String,
}

/// Appends an event: `chain(prev_hash, event)` computes the record's hash.
pub fn append(
    conn: &mut AnyConnection,
    event: &str,
    chain: impl FnOnce(&str, &str) -> String,
) -> Result<(), StoreError> {
    resources::take_write_lock(conn, "audit_log")?;
    let last: Vec<HashRow> =
        sql_query("SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1").load(conn)?;
    let prev = last.into_iter().next().map(|r| r.hash).unwrap_or_default();
    let hash = chain(&prev, event);
    sql_query("INSERT INTO audit_log (prev_hash, hash, event) VALUES ($1, $2, $3)")
        .bind::<Text, _>(&prev)
        .bind::<Text, _>(&hash)
        .bind::<Text, _>(event)
        .execute(conn)?;
    Ok(())
}

/// Records after `after_seq`, in order, at most `limit`.
pub fn page(
    conn: &mut AnyConnection,
    after_seq: i64,
    limit: i64,
) -> Result<Vec<AuditRow>, StoreError> {
    Ok(sql_query(
        "SELECT seq, prev_hash, hash, event FROM audit_log WHERE seq > $1 ORDER BY seq LIMIT $2",
    )
    .bind::<BigInt, _>(after_seq)
    .bind::<BigInt, _>(limit)
    .load(conn)?)
}
