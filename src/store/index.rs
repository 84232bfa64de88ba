//! Search index rows, written in the same transaction as the resource version they describe.
//! Only current versions are indexed; a deletion removes the rows.

use super::binds::Binds;
use super::{AnyConnection, StoreError};
use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;

/// One row of `search_index`; which columns are set depends on the parameter kind.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IndexRow {
    pub param: String,
    pub grp: Option<i32>,
    pub pos: Option<i32>,
    pub s_norm: Option<String>,
    pub s_exact: Option<String>,
    pub system: Option<String>,
    pub code: Option<String>,
    pub lo: Option<i64>,
    pub hi: Option<i64>,
    pub num: Option<f64>,
    pub ref_type: Option<String>,
    pub ref_id: Option<String>,
    pub uri: Option<String>,
}

const COLUMNS: &str = "rid, res_type, param, grp, pos, s_norm, s_exact, system, code, lo, hi, num, ref_type, ref_id, uri";
/// Rows per INSERT statement (15 binds each; well under SQLite's variable limit).
const CHUNK: usize = 400;

/// Replaces every index row of a resource.
pub fn replace(
    conn: &mut AnyConnection,
    rid: i64,
    res_type: &str,
    rows: &[IndexRow],
) -> Result<(), StoreError> {
    clear(conn, rid)?;
    insert(conn, rid, res_type, rows)
}

/// Adds index rows of a resource in multi-row statements.
pub fn insert(
    conn: &mut AnyConnection,
    rid: i64,
    res_type: &str,
    rows: &[IndexRow],
) -> Result<(), StoreError> {
    for chunk in rows.chunks(CHUNK) {
        let mut b = Binds::default();
        let values: Vec<String> = chunk
            .iter()
            .map(|r| {
                let cols = [
                    b.int(rid),
                    b.text(res_type),
                    b.text(r.param.clone()),
                    b.opt_int(r.grp.map(i64::from)),
                    b.opt_int(r.pos.map(i64::from)),
                    b.opt_text(r.s_norm.clone()),
                    b.opt_text(r.s_exact.clone()),
                    b.opt_text(r.system.clone()),
                    b.opt_text(r.code.clone()),
                    b.opt_int(r.lo),
                    b.opt_int(r.hi),
                    b.opt_double(r.num),
                    b.opt_text(r.ref_type.clone()),
                    b.opt_text(r.ref_id.clone()),
                    b.opt_text(r.uri.clone()),
                ];
                format!("({})", cols.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO search_index ({COLUMNS}) VALUES {}",
            values.join(", ")
        );
        b.query(sql, conn.backend()).execute(conn)?;
    }
    Ok(())
}

pub fn clear(conn: &mut AnyConnection, rid: i64) -> Result<(), StoreError> {
    diesel::sql_query("DELETE FROM search_index WHERE rid = $1")
        .bind::<BigInt, _>(rid)
        .execute(conn)?;
    Ok(())
}
