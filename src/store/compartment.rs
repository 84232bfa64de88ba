//! Compartment membership through the reference rows of `search_index`, and bulk reads by key.

use diesel::QueryableByName;
use diesel::RunQueryDsl;
use diesel::sql_types::BigInt;

use super::binds::Binds;
use super::resources::{VERSION_COLUMNS, Version};
use super::{AnyConnection, StoreError};

#[derive(QueryableByName)]
struct RidRow {
    #[diesel(sql_type = BigInt)]
    rid: i64,
}

/// Live resources that reference `ref_type/ref_id` through one of their type's compartment
/// parameters (`links`: resource type → parameter codes), updated at or after `since`.
pub fn members(
    conn: &mut AnyConnection,
    ref_type: &str,
    ref_id: &str,
    links: &[(String, Vec<String>)],
    since: Option<i64>,
) -> Result<Vec<i64>, StoreError> {
    if links.is_empty() {
        return Ok(Vec::new());
    }
    // SQLite numbers `$n` parameters in order of appearance: bind in text order.
    let mut b = Binds::default();
    let rt = b.text(ref_type);
    let rid = b.text(ref_id);
    let alts: Vec<String> = links
        .iter()
        .map(|(t, params)| {
            let t = b.text(t.clone());
            let ps: Vec<String> = params.iter().map(|p| b.text(p.clone())).collect();
            format!("(i.res_type = {t} AND i.param IN ({}))", ps.join(", "))
        })
        .collect();
    let mut conds = vec![
        format!("i.ref_type = {rt}"),
        format!("i.ref_id = {rid}"),
        format!("({})", alts.join(" OR ")),
        "r.deleted = 0".to_string(),
    ];
    if let Some(s) = since {
        conds.push(format!("r.last_updated >= {}", b.int(s)));
    }
    let sql = format!(
        "SELECT DISTINCT r.rid AS rid FROM search_index i JOIN resource r ON r.rid = i.rid WHERE {} ORDER BY r.rid",
        conds.join(" AND ")
    );
    Ok(b.query(sql, conn.backend())
        .load::<RidRow>(conn)?
        .into_iter()
        .map(|r| r.rid)
        .collect())
}

/// Current versions of live resources named by (type, id), in chunks of one statement each.
pub fn read_live_by_keys(
    conn: &mut AnyConnection,
    keys: &[(String, String)],
) -> Result<Vec<Version>, StoreError> {
    let mut out = Vec::new();
    for chunk in keys.chunks(400) {
        let mut b = Binds::default();
        let pairs: Vec<String> = chunk
            .iter()
            .map(|(t, id)| {
                format!(
                    "(r.res_type = {} AND r.res_id = {})",
                    b.text(t.clone()),
                    b.text(id.clone())
                )
            })
            .collect();
        let sql = format!(
            "SELECT {VERSION_COLUMNS} FROM resource r JOIN resource_history h ON h.rid = r.rid AND h.version = r.version \
             WHERE r.deleted = 0 AND ({}) ORDER BY r.rid",
            pairs.join(" OR ")
        );
        out.extend(b.query(sql, conn.backend()).load::<Version>(conn)?);
    }
    Ok(out)
}

/// Ids of every live resource of a type, in id order.
pub fn live_ids(conn: &mut AnyConnection, res_type: &str) -> Result<Vec<String>, StoreError> {
    #[derive(QueryableByName)]
    struct IdRow {
        #[diesel(sql_type = diesel::sql_types::Text)]
        res_id: String,
    }
    let mut b = Binds::default();
    let t = b.text(res_type);
    let sql =
        format!("SELECT res_id FROM resource WHERE res_type = {t} AND deleted = 0 ORDER BY res_id");
    Ok(b.query(sql, conn.backend())
        .load::<IdRow>(conn)?
        .into_iter()
        .map(|r| r.res_id)
        .collect())
}
