//! X12 control numbers from the `x12_control` counter table.

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::{AnyConnection, StoreError};

/// ISA13 / GS06 allow 1..=999999999; the counter wraps after that.
const MAX_CONTROL: i64 = 999_999_999;

#[derive(QueryableByName)]
struct ValueRow {
    #[diesel(sql_type = BigInt)]
    value: i64,
}

/// Takes the next number of counter `name` (creating the counter at 1). Call inside a write
/// transaction: the UPDATE locks the row until commit, so concurrent callers serialise.
pub fn next(conn: &mut AnyConnection, name: &str) -> Result<u32, StoreError> {
    sql_query("INSERT INTO x12_control (name, value) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING")
        .bind::<Text, _>(name)
        .execute(conn)?;
    let rows: Vec<ValueRow> = sql_query(
        "UPDATE x12_control SET value = CASE WHEN value >= $1 THEN 1 ELSE value + 1 END \
         WHERE name = $2 RETURNING value",
    )
    .bind::<BigInt, _>(MAX_CONTROL)
    .bind::<Text, _>(name)
    .load(conn)?;
    let value = rows
        .into_iter()
        .next()
        .map(|r| r.value)
        .ok_or_else(|| StoreError::Corrupt(format!("x12 control counter {name:?} vanished")))?;
    u32::try_from(value)
        .map_err(|_| StoreError::Corrupt(format!("x12 control counter {name:?} = {value}")))
}
