//! History listings (instance, type, system) with keyset paging on the history sequence.

use diesel::sql_types::BigInt;
use diesel::{QueryableByName, RunQueryDsl};

use super::binds::Binds;
use super::resources::{VERSION_COLUMNS, Version};
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone)]
pub enum Scope {
    System,
    Type(String),
    Instance(String, String),
}

#[derive(Debug, Clone)]
pub struct HistoryQuery {
    pub scope: Scope,
    /// Only versions updated at or after this instant (µs).
    pub since: Option<i64>,
    /// Only versions that were current at some point in [low, high) (µs).
    pub at: Option<(i64, i64)>,
    /// Paging cursor: only entries with seq below this.
    pub before_seq: Option<i64>,
    pub count: i64,
}

#[derive(QueryableByName)]
pub struct HistoryRow {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(embed)]
    pub version: Version,
}

#[derive(QueryableByName)]
struct CountRow {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn where_clause(q: &HistoryQuery, binds: &mut Binds, with_cursor: bool) -> String {
    let mut conds: Vec<String> = Vec::new();
    match &q.scope {
        Scope::System => {}
        Scope::Type(t) => conds.push(format!("h.res_type = {}", binds.text(t.clone()))),
        Scope::Instance(t, id) => {
            conds.push(format!("h.res_type = {}", binds.text(t.clone())));
            conds.push(format!("h.res_id = {}", binds.text(id.clone())));
        }
    }
    if let Some(since) = q.since {
        conds.push(format!("h.last_updated >= {}", binds.int(since)));
    }
    if let Some((low, high)) = q.at {
        // Current during [low, high): written before high, and not replaced before low.
        conds.push(format!("h.last_updated < {}", binds.int(high)));
        conds.push(format!(
            "NOT EXISTS (SELECT 1 FROM resource_history n WHERE n.rid = h.rid AND n.version = h.version + 1 \
             AND n.last_updated <= {})",
            binds.int(low)
        ));
    }
    if with_cursor && let Some(before) = q.before_seq {
        conds.push(format!("h.seq < {}", binds.int(before)));
    }
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

/// One page, newest first; fetches one extra row so the caller knows whether a next page exists.
pub fn page(conn: &mut AnyConnection, q: &HistoryQuery) -> Result<Vec<HistoryRow>, StoreError> {
    let mut binds = Binds::default();
    let wc = where_clause(q, &mut binds, true);
    let limit = binds.int(q.count + 1);
    let sql = format!(
        "SELECT h.seq AS seq, {VERSION_COLUMNS} FROM resource_history h{wc} ORDER BY h.seq DESC LIMIT {limit}"
    );
    Ok(binds.query(sql, conn.backend()).load(conn)?)
}

pub fn total(conn: &mut AnyConnection, q: &HistoryQuery) -> Result<i64, StoreError> {
    let mut binds = Binds::default();
    let wc = where_clause(q, &mut binds, false);
    let sql = format!("SELECT COUNT(*) AS n FROM resource_history h{wc}");
    let rows: Vec<CountRow> = binds.query(sql, conn.backend()).load(conn)?;
    Ok(rows.first().map(|r| r.n).unwrap_or(0))
}
