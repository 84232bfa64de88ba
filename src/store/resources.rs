//! Rows of `resource` (current version) and `resource_history` (every version).

use diesel::sql_types::{BigInt, Binary, Nullable, SmallInt, Text};
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::{AnyConnection, StoreError, dialect};

/// The current-version row of a resource.
#[derive(Debug, Clone, QueryableByName)]
pub struct Current {
    #[diesel(sql_type = BigInt)]
    pub rid: i64,
    #[diesel(sql_type = BigInt)]
    pub version: i64,
    #[diesel(sql_type = BigInt)]
    pub last_updated: i64,
    #[diesel(sql_type = SmallInt)]
    pub deleted: i16,
}

impl Current {
    pub fn is_deleted(&self) -> bool {
        self.deleted != 0
    }
}

/// One stored version with its content (None for a deletion).
#[derive(Debug, Clone, QueryableByName)]
pub struct Version {
    #[diesel(sql_type = Text)]
    pub res_type: String,
    #[diesel(sql_type = Text)]
    pub res_id: String,
    #[diesel(sql_type = BigInt)]
    pub version: i64,
    #[diesel(sql_type = BigInt)]
    pub last_updated: i64,
    #[diesel(sql_type = SmallInt)]
    pub deleted: i16,
    #[diesel(sql_type = Text)]
    pub method: String,
    #[diesel(sql_type = Text)]
    pub encoding: String,
    #[diesel(sql_type = Nullable<Binary>)]
    pub content: Option<Vec<u8>>,
}

impl Version {
    pub fn is_deleted(&self) -> bool {
        self.deleted != 0
    }

    /// The resource JSON bytes, decoded from their storage encoding.
    pub fn json(&self) -> Result<Option<Vec<u8>>, StoreError> {
        match &self.content {
            None => Ok(None),
            Some(bytes) => decode_content(&self.encoding, bytes).map(Some),
        }
    }
}

/// Storage encoding of resource JSON. Only plain JSON today; the tag lets compression and
/// encryption at rest arrive without a schema change.
pub const ENCODING_JSON: &str = "json";

pub fn decode_content(encoding: &str, bytes: &[u8]) -> Result<Vec<u8>, StoreError> {
    match encoding {
        ENCODING_JSON => Ok(bytes.to_vec()),
        other => Err(StoreError::Corrupt(format!(
            "unknown content encoding {other:?}"
        ))),
    }
}

pub const VERSION_COLUMNS: &str =
    "h.res_type, h.res_id, h.version, h.last_updated, h.deleted, h.method, h.encoding, h.content";

/// The current row, locked against concurrent writers when `lock` is set (PostgreSQL row lock).
pub fn current(
    conn: &mut AnyConnection,
    res_type: &str,
    res_id: &str,
    lock: bool,
) -> Result<Option<Current>, StoreError> {
    let lock_sql = if lock {
        dialect::for_update(conn.backend())
    } else {
        ""
    };
    let sql = format!(
        "SELECT rid, version, last_updated, deleted FROM resource WHERE res_type = $1 AND res_id = $2{lock_sql}"
    );
    let rows: Vec<Current> = sql_query(sql)
        .bind::<Text, _>(res_type)
        .bind::<Text, _>(res_id)
        .load(conn)?;
    Ok(rows.into_iter().next())
}

/// The current version with content (deleted ones included: the caller decides 404 vs 410).
pub fn read_current(
    conn: &mut AnyConnection,
    res_type: &str,
    res_id: &str,
) -> Result<Option<Version>, StoreError> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM resource r JOIN resource_history h ON h.rid = r.rid AND h.version = r.version \
         WHERE r.res_type = $1 AND r.res_id = $2"
    );
    let rows: Vec<Version> = sql_query(sql)
        .bind::<Text, _>(res_type)
        .bind::<Text, _>(res_id)
        .load(conn)?;
    Ok(rows.into_iter().next())
}

pub fn read_version(
    conn: &mut AnyConnection,
    res_type: &str,
    res_id: &str,
    version: i64,
) -> Result<Option<Version>, StoreError> {
    let sql = format!(
        "SELECT {VERSION_COLUMNS} FROM resource_history h WHERE h.res_type = $1 AND h.res_id = $2 AND h.version = $3"
    );
    let rows: Vec<Version> = sql_query(sql)
        .bind::<Text, _>(res_type)
        .bind::<Text, _>(res_id)
        .bind::<BigInt, _>(version)
        .load(conn)?;
    Ok(rows.into_iter().next())
}

/// Reads several current resources by rid in one statement (search results, includes).
pub fn read_current_many(
    conn: &mut AnyConnection,
    rids: &[i64],
) -> Result<Vec<(i64, Version)>, StoreError> {
    #[derive(QueryableByName)]
    struct Row {
        #[diesel(sql_type = BigInt)]
        rid: i64,
        #[diesel(embed)]
        version: Version,
    }
    if rids.is_empty() {
        return Ok(Vec::new());
    }
    // rids are integers we produced: safe to inline, and it keeps one statement for any count.
    let list = rids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!(
        "SELECT r.rid AS rid, {VERSION_COLUMNS} FROM resource r JOIN resource_history h ON h.rid = r.rid AND h.version = r.version \
         WHERE r.rid IN ({list})"
    );
    let rows: Vec<Row> = sql_query(sql).load(conn)?;
    Ok(rows.into_iter().map(|r| (r.rid, r.version)).collect())
}

#[derive(QueryableByName)]
struct RidRow {
    #[diesel(sql_type = BigInt)]
    rid: i64,
}

/// Inserts the current-version row of a brand-new resource and returns its rid.
pub fn insert_current(
    conn: &mut AnyConnection,
    res_type: &str,
    res_id: &str,
    version: i64,
    last_updated: i64,
) -> Result<i64, StoreError> {
    let rows: Vec<RidRow> = sql_query(
        "INSERT INTO resource (res_type, res_id, version, last_updated, deleted) VALUES ($1, $2, $3, $4, 0) RETURNING rid",
    )
    .bind::<Text, _>(res_type)
    .bind::<Text, _>(res_id)
    .bind::<BigInt, _>(version)
    .bind::<BigInt, _>(last_updated)
    .load(conn)?;
    rows.into_iter()
        .next()
        .map(|r| r.rid)
        .ok_or_else(|| StoreError::Corrupt("INSERT ... RETURNING gave no row".into()))
}

pub fn update_current(
    conn: &mut AnyConnection,
    rid: i64,
    version: i64,
    last_updated: i64,
    deleted: bool,
) -> Result<(), StoreError> {
    sql_query("UPDATE resource SET version = $1, last_updated = $2, deleted = $3 WHERE rid = $4")
        .bind::<BigInt, _>(version)
        .bind::<BigInt, _>(last_updated)
        .bind::<SmallInt, _>(i16::from(deleted))
        .bind::<BigInt, _>(rid)
        .execute(conn)?;
    Ok(())
}

pub struct NewVersion<'a> {
    pub rid: i64,
    pub res_type: &'a str,
    pub res_id: &'a str,
    pub version: i64,
    pub last_updated: i64,
    pub method: &'a str,
    /// Resource JSON; None records a deletion.
    pub content: Option<&'a [u8]>,
}

pub fn insert_history(conn: &mut AnyConnection, v: &NewVersion<'_>) -> Result<(), StoreError> {
    sql_query(
        "INSERT INTO resource_history (rid, res_type, res_id, version, last_updated, deleted, method, encoding, content) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
    )
    .bind::<BigInt, _>(v.rid)
    .bind::<Text, _>(v.res_type)
    .bind::<Text, _>(v.res_id)
    .bind::<BigInt, _>(v.version)
    .bind::<BigInt, _>(v.last_updated)
    .bind::<SmallInt, _>(i16::from(v.content.is_none()))
    .bind::<Text, _>(v.method)
    .bind::<Text, _>(ENCODING_JSON)
    .bind::<Nullable<Binary>, _>(v.content)
    .execute(conn)?;
    // Every write path ends here: the read cache learns the version once the transaction commits.
    super::cache::note_written(Version {
        res_type: v.res_type.to_string(),
        res_id: v.res_id.to_string(),
        version: v.version,
        last_updated: v.last_updated,
        deleted: i16::from(v.content.is_none()),
        method: v.method.to_string(),
        encoding: ENCODING_JSON.to_string(),
        content: v.content.map(<[u8]>::to_vec),
    });
    Ok(())
}

/// Takes (or waits for) the serialising lock for `key` until the transaction ends. On PostgreSQL
/// the upsert holds the row lock; on SQLite the whole write transaction is already exclusive.
pub fn take_write_lock(conn: &mut AnyConnection, key: &str) -> Result<(), StoreError> {
    sql_query(
        "INSERT INTO write_lock (lock_key, taken) VALUES ($1, 1) \
         ON CONFLICT (lock_key) DO UPDATE SET taken = write_lock.taken + 1",
    )
    .bind::<Text, _>(key)
    .execute(conn)?;
    Ok(())
}
