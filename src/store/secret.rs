//! Per-database secrets (e.g. the key that signs paging cursors), created on first use so that
//! every node on the same database agrees without configuration.

use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::{AnyConnection, StoreError};

#[derive(QueryableByName)]
struct SecretRow {
    #[diesel(sql_type = Text)]
    value: String,
}

/// A random 256-bit hex secret named `name`, created on first use.
pub fn get_or_create(conn: &mut AnyConnection, name: &str) -> Result<String, StoreError> {
    let fresh = format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    );
    get_or_insert(conn, name, &fresh)
}

/// The secret named `name`; `fresh` is stored first when there is none (the first node wins).
pub fn get_or_insert(
    conn: &mut AnyConnection,
    name: &str,
    fresh: &str,
) -> Result<String, StoreError> {
    sql_query(
        "INSERT INTO server_secret (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
    )
    .bind::<Text, _>(name)
    .bind::<Text, _>(fresh)
    .execute(conn)?;
    let rows: Vec<SecretRow> = sql_query("SELECT value FROM server_secret WHERE name = $1")
        .bind::<Text, _>(name)
        .load(conn)?;
    rows.into_iter()
        .next()
        .map(|r| r.value)
        .ok_or_else(|| StoreError::Corrupt("secret vanished".into()))
}
