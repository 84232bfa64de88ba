//! `search_meta`: what the search index was built with (zone, extraction format).

use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::{AnyConnection, StoreError};

pub const ZONE: &str = "index_zone";
pub const FORMAT: &str = "index_format";

#[derive(QueryableByName)]
struct ValueRow {
    #[diesel(sql_type = Text)]
    value: String,
}

pub fn get(conn: &mut AnyConnection, name: &str) -> Result<Option<String>, StoreError> {
    let rows: Vec<ValueRow> = sql_query("SELECT value FROM search_meta WHERE name = $1")
        .bind::<Text, _>(name)
        .load(conn)?;
    Ok(rows.into_iter().next().map(|r| r.value))
}

pub fn set(conn: &mut AnyConnection, name: &str, value: &str) -> Result<(), StoreError> {
    sql_query(
        "INSERT INTO search_meta (name, value) VALUES ($1, $2) \
         ON CONFLICT (name) DO UPDATE SET value = excluded.value",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(value)
    .execute(conn)?;
    Ok(())
}

/// Records `value` unless a value is already recorded; returns the recorded one.
pub fn init(conn: &mut AnyConnection, name: &str, value: &str) -> Result<String, StoreError> {
    sql_query(
        "INSERT INTO search_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(value)
    .execute(conn)?;
    Ok(get(conn, name)?.unwrap_or_else(|| value.to_string()))
}
