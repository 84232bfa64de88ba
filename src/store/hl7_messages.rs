//! Rows of `hl7_message`: the raw HL7 v2 message store (what arrived, what was done, the ACK sent).

use diesel::sql_types::{BigInt, Binary, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::{AnyConnection, StoreError, dialect};

/// Processing state of a stored message.
pub const RECEIVED: &str = "received";
pub const PROCESSED: &str = "processed";
pub const ERROR: &str = "error";
pub const REJECTED: &str = "rejected";

/// Identity of a message for duplicate detection: MSH-3, MSH-4, MSH-10 (raw) and the content hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageKey {
    pub sending_app: String,
    pub sending_facility: String,
    pub control_id: String,
    pub content_hash: String,
}

pub struct NewMessage<'a> {
    pub key: &'a MessageKey,
    pub received_at: i64,
    pub msg_type: &'a str,
    pub raw: &'a [u8],
    pub note: Option<&'a str>,
}

/// Where a message stands (no raw bytes).
#[derive(Debug, Clone, QueryableByName)]
pub struct State {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Binary>)]
    pub ack: Option<Vec<u8>>,
}

/// One line of `hms hl7 messages`.
#[derive(Debug, Clone, QueryableByName)]
pub struct Summary {
    #[diesel(sql_type = BigInt)]
    pub id: i64,
    #[diesel(sql_type = BigInt)]
    pub received_at: i64,
    #[diesel(sql_type = Text)]
    pub sending_app: String,
    #[diesel(sql_type = Text)]
    pub sending_facility: String,
    #[diesel(sql_type = Text)]
    pub control_id: String,
    #[diesel(sql_type = Text)]
    pub msg_type: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub ack_code: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub error: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub note: Option<String>,
    #[diesel(sql_type = Nullable<Text>)]
    pub resources: Option<String>,
    #[diesel(sql_type = BigInt)]
    pub attempts: i64,
}

const SUMMARY_COLUMNS: &str = "id, received_at, sending_app, sending_facility, control_id, msg_type, status, \
     ack_code, error, note, resources, attempts";

/// The stored message with the same sender, control id and content, if any.
pub fn find_same(conn: &mut AnyConnection, key: &MessageKey) -> Result<Option<State>, StoreError> {
    let rows: Vec<State> = sql_query(
        "SELECT id, status, ack FROM hl7_message WHERE sending_app = $1 AND sending_facility = $2 \
         AND control_id = $3 AND content_hash = $4",
    )
    .bind::<Text, _>(&key.sending_app)
    .bind::<Text, _>(&key.sending_facility)
    .bind::<Text, _>(&key.control_id)
    .bind::<Text, _>(&key.content_hash)
    .load(conn)?;
    Ok(rows.into_iter().next())
}

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = BigInt)]
    id: i64,
}

/// The first stored message with the same sender and control id but other content.
pub fn find_reused_control_id(
    conn: &mut AnyConnection,
    key: &MessageKey,
) -> Result<Option<i64>, StoreError> {
    let rows: Vec<IdRow> = sql_query(
        "SELECT id FROM hl7_message WHERE sending_app = $1 AND sending_facility = $2 \
         AND control_id = $3 AND content_hash <> $4 ORDER BY id LIMIT 1",
    )
    .bind::<Text, _>(&key.sending_app)
    .bind::<Text, _>(&key.sending_facility)
    .bind::<Text, _>(&key.control_id)
    .bind::<Text, _>(&key.content_hash)
    .load(conn)?;
    Ok(rows.into_iter().next().map(|r| r.id))
}

/// Stores a message with status `received` and returns its id.
pub fn insert(conn: &mut AnyConnection, m: &NewMessage<'_>) -> Result<i64, StoreError> {
    let rows: Vec<IdRow> = sql_query(
        "INSERT INTO hl7_message (received_at, sending_app, sending_facility, control_id, msg_type, \
         content_hash, raw, status, note, attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 0) RETURNING id",
    )
    .bind::<BigInt, _>(m.received_at)
    .bind::<Text, _>(&m.key.sending_app)
    .bind::<Text, _>(&m.key.sending_facility)
    .bind::<Text, _>(&m.key.control_id)
    .bind::<Text, _>(m.msg_type)
    .bind::<Text, _>(&m.key.content_hash)
    .bind::<Binary, _>(m.raw)
    .bind::<Text, _>(RECEIVED)
    .bind::<Nullable<Text>, _>(m.note)
    .load(conn)?;
    rows.into_iter()
        .next()
        .map(|r| r.id)
        .ok_or_else(|| StoreError::Corrupt("INSERT ... RETURNING gave no row".into()))
}

/// The state of message `id`, locked against concurrent processing until the transaction ends.
pub fn lock(conn: &mut AnyConnection, id: i64) -> Result<Option<State>, StoreError> {
    let sql = format!(
        "SELECT id, status, ack FROM hl7_message WHERE id = $1{}",
        dialect::for_update(conn.backend())
    );
    let rows: Vec<State> = sql_query(sql).bind::<BigInt, _>(id).load(conn)?;
    Ok(rows.into_iter().next())
}

/// The outcome of processing, written in the transaction that applied (or refused) the data.
pub struct Outcome<'a> {
    pub status: &'a str,
    pub error: Option<&'a str>,
    pub ack: Option<&'a [u8]>,
    pub ack_code: Option<&'a str>,
    /// JSON array of the versions written.
    pub resources: Option<&'a str>,
    pub processed_at: i64,
}

pub fn finish(conn: &mut AnyConnection, id: i64, o: &Outcome<'_>) -> Result<(), StoreError> {
    sql_query(
        "UPDATE hl7_message SET status = $1, error = $2, ack = $3, ack_code = $4, resources = $5, \
         processed_at = $6, attempts = attempts + 1 WHERE id = $7",
    )
    .bind::<Text, _>(o.status)
    .bind::<Nullable<Text>, _>(o.error)
    .bind::<Nullable<Binary>, _>(o.ack)
    .bind::<Nullable<Text>, _>(o.ack_code)
    .bind::<Nullable<Text>, _>(o.resources)
    .bind::<BigInt, _>(o.processed_at)
    .bind::<BigInt, _>(id)
    .execute(conn)?;
    Ok(())
}

#[derive(QueryableByName)]
struct RawRow {
    #[diesel(sql_type = Binary)]
    raw: Vec<u8>,
}

/// The raw bytes of message `id`.
pub fn raw(conn: &mut AnyConnection, id: i64) -> Result<Option<Vec<u8>>, StoreError> {
    let rows: Vec<RawRow> = sql_query("SELECT raw FROM hl7_message WHERE id = $1")
        .bind::<BigInt, _>(id)
        .load(conn)?;
    Ok(rows.into_iter().next().map(|r| r.raw))
}

/// Newest first, optionally only one status.
pub fn list(
    conn: &mut AnyConnection,
    status: Option<&str>,
    limit: i64,
) -> Result<Vec<Summary>, StoreError> {
    let rows = match status {
        Some(s) => sql_query(format!(
            "SELECT {SUMMARY_COLUMNS} FROM hl7_message WHERE status = $1 ORDER BY id DESC LIMIT $2"
        ))
        .bind::<Text, _>(s)
        .bind::<BigInt, _>(limit)
        .load(conn)?,
        None => sql_query(format!(
            "SELECT {SUMMARY_COLUMNS} FROM hl7_message ORDER BY id DESC LIMIT $1"
        ))
        .bind::<BigInt, _>(limit)
        .load(conn)?,
    };
    Ok(rows)
}

/// Ids of every message with `status`, oldest first (for replay).
pub fn ids_with_status(conn: &mut AnyConnection, status: &str) -> Result<Vec<i64>, StoreError> {
    let rows: Vec<IdRow> = sql_query("SELECT id FROM hl7_message WHERE status = $1 ORDER BY id")
        .bind::<Text, _>(status)
        .load(conn)?;
    Ok(rows.into_iter().map(|r| r.id).collect())
}
