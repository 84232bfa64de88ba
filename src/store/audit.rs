//! Rows of `audit_log`, the hash-chained audit trail, and `audit_ref` (each record's patients and
//! agents, for search). Appending takes the `audit` write lock so that concurrent writers on
//! PostgreSQL cannot both chain onto the same last record (SQLite write transactions are exclusive
//! already); under that lock the next `seq` values are known, so a whole batch is two statements.

use diesel::sql_types::{BigInt, Text};
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::binds::Binds;
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
struct LastRow {
    #[diesel(sql_type = BigInt)]
    seq: i64,
    #[diesel(sql_type = Text)]
    hash: String,
}

/// One record to append: its canonical event text and the columns derived from it.
#[derive(Debug, Clone)]
pub struct NewRecord {
    pub event: String,
    pub recorded: i64,
    pub action: String,
    /// (kind, value): `patient`/id and `agent`/name rows for search.
    pub refs: Vec<(&'static str, String)>,
}

/// Rows per multi-row INSERT (bind limits: SQLite 32766, PostgreSQL 65535 parameters).
const CHUNK: usize = 500;

/// Appends records in order: `chain(prev_hash, event)` computes each record's hash.
pub fn append_many(
    conn: &mut AnyConnection,
    records: &[NewRecord],
    chain: impl Fn(&str, &str) -> String,
) -> Result<(), StoreError> {
    if records.is_empty() {
        return Ok(());
    }
    resources::take_write_lock(conn, "audit_log")?;
    let last: Vec<LastRow> =
        sql_query("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").load(conn)?;
    let (mut seq, mut prev) = last
        .into_iter()
        .next()
        .map(|r| (r.seq, r.hash))
        .unwrap_or_default();
    let backend = conn.backend();
    for chunk in records.chunks(CHUNK) {
        let mut b = Binds::default();
        let mut rows = Vec::with_capacity(chunk.len());
        let mut rb = Binds::default();
        let mut refs = Vec::new();
        for r in chunk {
            seq += 1;
            let hash = chain(&prev, &r.event);
            rows.push(format!(
                "({}, {}, {}, {}, {}, {})",
                b.int(seq),
                b.text(prev.clone()),
                b.text(hash.clone()),
                b.text(r.event.clone()),
                b.int(r.recorded),
                b.text(r.action.clone())
            ));
            for (kind, value) in &r.refs {
                refs.push(format!(
                    "({}, {}, {})",
                    rb.text(*kind),
                    rb.text(value.clone()),
                    rb.int(seq)
                ));
            }
            prev = hash;
        }
        b.query(
            format!(
                "INSERT INTO audit_log (seq, prev_hash, hash, event, recorded, action) VALUES {}",
                rows.join(", ")
            ),
            backend,
        )
        .execute(conn)?;
        if !refs.is_empty() {
            rb.query(
                format!(
                    "INSERT INTO audit_ref (kind, value, seq) VALUES {} ON CONFLICT DO NOTHING",
                    refs.join(", ")
                ),
                backend,
            )
            .execute(conn)?;
        }
    }
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

#[derive(Debug, QueryableByName)]
pub struct EventRow {
    #[diesel(sql_type = BigInt)]
    pub seq: i64,
    #[diesel(sql_type = Text)]
    pub event: String,
}

/// What an AuditEvent search filters on; every present filter must hold (AND), values within one
/// filter are alternatives (OR).
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub patients: Vec<Vec<String>>,
    pub agents: Vec<Vec<String>>,
    pub actions: Vec<Vec<String>>,
    /// [lo, hi) µs ranges of `recorded`.
    pub recorded: Vec<(Option<i64>, Option<i64>)>,
    /// Only records with a smaller seq (keyset paging, newest first).
    pub before_seq: Option<i64>,
}

/// Matching records, newest first, at most `limit`.
pub fn search(
    conn: &mut AnyConnection,
    f: &Filter,
    limit: i64,
) -> Result<Vec<EventRow>, StoreError> {
    let mut b = Binds::default();
    let mut conds = Vec::new();
    for (kind, groups) in [("patient", &f.patients), ("agent", &f.agents)] {
        for alts in groups {
            let k = b.text(kind);
            let vs: Vec<String> = alts.iter().map(|v| b.text(v.clone())).collect();
            conds.push(format!(
                "EXISTS (SELECT 1 FROM audit_ref r WHERE r.kind = {k} AND r.value IN ({}) AND r.seq = a.seq)",
                vs.join(", ")
            ));
        }
    }
    for alts in &f.actions {
        let vs: Vec<String> = alts.iter().map(|v| b.text(v.clone())).collect();
        conds.push(format!("a.action IN ({})", vs.join(", ")));
    }
    for (lo, hi) in &f.recorded {
        if let Some(lo) = lo {
            conds.push(format!("a.recorded >= {}", b.int(*lo)));
        }
        if let Some(hi) = hi {
            conds.push(format!("a.recorded < {}", b.int(*hi)));
        }
    }
    if let Some(s) = f.before_seq {
        conds.push(format!("a.seq < {}", b.int(s)));
    }
    let filter = if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    };
    let lim = b.int(limit);
    let backend = conn.backend();
    Ok(b.query(
        format!("SELECT a.seq, a.event FROM audit_log a{filter} ORDER BY a.seq DESC LIMIT {lim}"),
        backend,
    )
    .load::<EventRow>(conn)?)
}

/// One record by its seq.
pub fn get(conn: &mut AnyConnection, seq: i64) -> Result<Option<EventRow>, StoreError> {
    Ok(sql_query("SELECT seq, event FROM audit_log WHERE seq = $1")
        .bind::<BigInt, _>(seq)
        .load::<EventRow>(conn)?
        .into_iter()
        .next())
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    ref_id: String,
}

/// Patients a current resource references through `params` (its Patient-compartment parameters),
/// from its index rows: what a deletion audits before the rows are cleared.
pub fn referenced_patients(
    conn: &mut AnyConnection,
    rid: i64,
    params: &[String],
) -> Result<Vec<String>, StoreError> {
    if params.is_empty() {
        return Ok(Vec::new());
    }
    let mut b = Binds::default();
    let r = b.int(rid);
    let ps: Vec<String> = params.iter().map(|p| b.text(p.clone())).collect();
    let backend = conn.backend();
    Ok(b.query(
        format!(
            "SELECT DISTINCT ref_id FROM search_index WHERE rid = {r} AND ref_type = 'Patient' \
                 AND ref_id IS NOT NULL AND param IN ({}) ORDER BY ref_id",
            ps.join(", ")
        ),
        backend,
    )
    .load::<IdRow>(conn)?
    .into_iter()
    .map(|r| r.ref_id)
    .collect())
}
