//! Search index rows, written in the same transaction as the resource version they describe.

use diesel::sql_types::{BigInt, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::binds::Binds;
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRow {
    pub param: String,
    pub system: Option<String>,
    pub code: String,
}

/// Replaces every index row of a resource (current version only is indexed).
pub fn replace(
    conn: &mut AnyConnection,
    rid: i64,
    res_type: &str,
    tokens: &[TokenRow],
) -> Result<(), StoreError> {
    clear(conn, rid)?;
    for t in tokens {
        sql_query("INSERT INTO search_token (rid, res_type, param, system, code) VALUES ($1, $2, $3, $4, $5)")
            .bind::<BigInt, _>(rid)
            .bind::<Text, _>(res_type)
            .bind::<Text, _>(&t.param)
            .bind::<Nullable<Text>, _>(t.system.as_deref())
            .bind::<Text, _>(&t.code)
            .execute(conn)?;
    }
    Ok(())
}

pub fn clear(conn: &mut AnyConnection, rid: i64) -> Result<(), StoreError> {
    sql_query("DELETE FROM search_token WHERE rid = $1")
        .bind::<BigInt, _>(rid)
        .execute(conn)?;
    Ok(())
}

/// A token criterion: `code`, `system|code`, `|code` (no system) or `system|` (any code).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenMatch {
    pub param: String,
    pub system: Option<Option<String>>,
    pub code: Option<String>,
}

#[derive(QueryableByName)]
pub struct Hit {
    #[diesel(sql_type = BigInt)]
    pub rid: i64,
    #[diesel(sql_type = Text)]
    pub res_id: String,
}

/// Live resources of `res_type` matching every criterion (AND), ordered by id; `ids` limits to those ids.
pub fn find(
    conn: &mut AnyConnection,
    res_type: &str,
    ids: Option<&[String]>,
    tokens: &[TokenMatch],
    limit: i64,
    after_id: Option<&str>,
) -> Result<Vec<Hit>, StoreError> {
    let mut binds = Binds::default();
    let mut conds = vec![
        format!("r.res_type = {}", binds.text(res_type)),
        "r.deleted = 0".to_string(),
    ];
    if let Some(ids) = ids {
        let list: Vec<String> = ids.iter().map(|i| binds.text(i.clone())).collect();
        conds.push(format!("r.res_id IN ({})", list.join(", ")));
    }
    for t in tokens {
        let mut sub = vec![
            "t.rid = r.rid".to_string(),
            format!("t.param = {}", binds.text(t.param.clone())),
        ];
        if let Some(code) = &t.code {
            sub.push(format!("t.code = {}", binds.text(code.clone())));
        }
        match &t.system {
            None => {}
            Some(None) => sub.push("t.system IS NULL".to_string()),
            Some(Some(s)) => sub.push(format!("t.system = {}", binds.text(s.clone()))),
        }
        conds.push(format!(
            "EXISTS (SELECT 1 FROM search_token t WHERE {})",
            sub.join(" AND ")
        ));
    }
    if let Some(after) = after_id {
        conds.push(format!("r.res_id > {}", binds.text(after)));
    }
    let limit = binds.int(limit);
    let sql = format!(
        "SELECT r.rid AS rid, r.res_id AS res_id FROM resource r WHERE {} ORDER BY r.res_id LIMIT {limit}",
        conds.join(" AND ")
    );
    Ok(binds.query(sql).load(conn)?)
}
