//! The transactional outbox (`change_event`), the fan-out cursor, per-destination delivery rows
//! (`sync_delivery`), the Subscription projection (`sync_subscription`) and the mirror's remote
//! versions. All SQL of the sync feature lives here.
//!
//! Visibility on PostgreSQL: event ids come from a sequence, so transaction A can take id 10, B id
//! 11, and B commit first. A reader that advanced past 11 would never see 10. The fan-out therefore
//! only reads up to a *watermark*: the sequence value L read at some moment is safe once every
//! transaction that was in flight just after reading L has finished (each writer holds its
//! transaction id before it draws an event id, because the version row is inserted first). The
//! in-flight ids come from `pg_current_snapshot()` taken after drawing a fresh transaction id
//! (a snapshot lists running ids only below its xmax) and are re-checked against later snapshots
//! (`pg_visible_in_snapshot`), so no
//! lock is taken and writers never wait for the fan-out. A long unrelated transaction on the same
//! cluster only delays delivery; it never loses an event. On SQLite writers are serialised (BEGIN
//! IMMEDIATE), so the highest visible id is always safe.

use diesel::query_builder::SqlQuery;
use diesel::sql_types::{BigInt, Integer, Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl};

use super::{AnyConnection, Backend, StoreError, now_micros};

/// A statement with `$n` placeholders; SQLite gets the positional `?n` form (see `binds`).
fn sql_query(backend: Backend, sql: impl Into<String>) -> SqlQuery {
    let sql = sql.into();
    match backend {
        Backend::Postgres => diesel::sql_query(sql),
        Backend::Sqlite => diesel::sql_query(sql.replace('$', "?")),
    }
}

/// What a change did to its resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }
}

thread_local! {
    /// Set when this thread's open transaction appended an event; `Store::write` reads it after
    /// COMMIT to wake the workers (only for transactions that produced events).
    static APPENDED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Reads and clears the "appended in this transaction" flag.
pub fn take_appended() -> bool {
    APPENDED.with(|a| a.replace(false))
}

/// Appends one change event in the caller's transaction.
pub fn append(
    conn: &mut AnyConnection,
    res_type: &str,
    res_id: &str,
    version: i64,
    op: Operation,
) -> Result<(), StoreError> {
    sql_query(
        conn.backend(),
        "INSERT INTO change_event (res_type, res_id, version, operation, committed_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind::<Text, _>(res_type)
    .bind::<Text, _>(res_id)
    .bind::<BigInt, _>(version)
    .bind::<Text, _>(op.as_str())
    .bind::<BigInt, _>(now_micros())
    .execute(conn)?;
    APPENDED.with(|a| a.set(true));
    Ok(())
}

#[derive(QueryableByName)]
struct One {
    #[diesel(sql_type = BigInt)]
    v: i64,
}

#[derive(QueryableByName)]
struct OneText {
    #[diesel(sql_type = Text)]
    v: String,
}

/// The highest event id handed out so far (PostgreSQL: the sequence; SQLite: the max row).
pub fn last_event_id(conn: &mut AnyConnection) -> Result<i64, StoreError> {
    let sql = match conn.backend() {
        Backend::Postgres => {
            "SELECT CASE WHEN is_called THEN last_value ELSE 0 END AS v FROM change_event_event_id_seq"
        }
        Backend::Sqlite => "SELECT COALESCE(MAX(event_id), 0) AS v FROM change_event",
    };
    let rows: Vec<One> = sql_query(conn.backend(), sql).load(conn)?;
    Ok(rows.first().map_or(0, |r| r.v))
}

/// PostgreSQL: a new transaction id, committed at once (autocommit). Every id assigned before it
/// is smaller, and a snapshot taken after it lists each of them that is still running (a
/// snapshot's list only covers ids below its xmax, which is past this one).
pub fn fresh_xid(conn: &mut AnyConnection) -> Result<u64, StoreError> {
    let rows: Vec<OneText> = sql_query(
        conn.backend(),
        "SELECT CAST(pg_current_xact_id() AS TEXT) AS v",
    )
    .load(conn)?;
    rows.first()
        .and_then(|r| r.v.parse().ok())
        .ok_or_else(|| StoreError::Corrupt("pg_current_xact_id() is not a number".into()))
}

/// PostgreSQL: the transaction ids in flight right now (from `pg_current_snapshot()`).
pub fn in_flight_xids(conn: &mut AnyConnection) -> Result<Vec<String>, StoreError> {
    let rows: Vec<OneText> = sql_query(
        conn.backend(),
        "SELECT CAST(pg_current_snapshot() AS TEXT) AS v",
    )
    .load(conn)?;
    let snap = rows.first().map(|r| r.v.clone()).unwrap_or_default();
    // Format: xmin:xmax:xip1,xip2,...
    let xips = snap.splitn(3, ':').nth(2).unwrap_or("");
    Ok(xips
        .split(',')
        .filter(|x| !x.is_empty() && x.bytes().all(|b| b.is_ascii_digit()))
        .map(str::to_string)
        .collect())
}

/// PostgreSQL: how many of `xids` a snapshot taken now still sees as running. (Not
/// `pg_xact_status`: it reports 'committed' slightly before new snapshots see the commit, and a
/// fan-out reading in that window would step over the event.)
pub fn still_running(conn: &mut AnyConnection, xids: &[String]) -> Result<i64, StoreError> {
    if xids.is_empty() {
        return Ok(0);
    }
    let array = format!("{{{}}}", xids.join(","));
    let rows: Vec<One> = sql_query(
        conn.backend(),
        "SELECT COUNT(*) AS v FROM unnest(CAST($1 AS xid8[])) AS x(id) \
         WHERE NOT pg_visible_in_snapshot(x.id, pg_current_snapshot())",
    )
    .bind::<Text, _>(array)
    .load(conn)?;
    Ok(rows.first().map_or(0, |r| r.v))
}

/// A committed change as the fan-out reads it.
#[derive(Debug, Clone, QueryableByName)]
pub struct ChangeEvent {
    #[diesel(sql_type = BigInt)]
    pub event_id: i64,
    #[diesel(sql_type = Text)]
    pub res_type: String,
    #[diesel(sql_type = Text)]
    pub res_id: String,
    #[diesel(sql_type = BigInt)]
    pub version: i64,
    #[diesel(sql_type = Text)]
    pub operation: String,
    #[diesel(sql_type = BigInt)]
    pub committed_at: i64,
}

/// Locks and reads the fan-out cursor. On PostgreSQL another node holding it → None (skip).
pub fn lock_cursor(conn: &mut AnyConnection) -> Result<Option<i64>, StoreError> {
    let lock = match conn.backend() {
        Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        Backend::Sqlite => "",
    };
    let rows: Vec<One> = sql_query(
        conn.backend(),
        format!("SELECT value AS v FROM sync_state WHERE name = 'fanout_cursor'{lock}"),
    )
    .load(conn)?;
    Ok(rows.first().map(|r| r.v))
}

pub fn set_cursor(conn: &mut AnyConnection, value: i64) -> Result<(), StoreError> {
    sql_query(
        conn.backend(),
        "UPDATE sync_state SET value = $1 WHERE name = 'fanout_cursor'",
    )
    .bind::<BigInt, _>(value)
    .execute(conn)?;
    Ok(())
}

/// Events in (after, upto], oldest first.
pub fn events_between(
    conn: &mut AnyConnection,
    after: i64,
    upto: i64,
    limit: i64,
) -> Result<Vec<ChangeEvent>, StoreError> {
    Ok(sql_query(
        conn.backend(),
        "SELECT event_id, res_type, res_id, version, operation, committed_at FROM change_event \
         WHERE event_id > $1 AND event_id <= $2 ORDER BY event_id LIMIT $3",
    )
    .bind::<BigInt, _>(after)
    .bind::<BigInt, _>(upto)
    .bind::<BigInt, _>(limit)
    .load(conn)?)
}

/// The committed_at of one event (latency reporting).
pub fn event_time(conn: &mut AnyConnection, event_id: i64) -> Result<Option<i64>, StoreError> {
    let rows: Vec<One> = sql_query(
        conn.backend(),
        "SELECT committed_at AS v FROM change_event WHERE event_id = $1",
    )
    .bind::<BigInt, _>(event_id)
    .load(conn)?;
    Ok(rows.first().map(|r| r.v))
}

/// A new delivery row for one destination.
pub struct NewDelivery<'a> {
    pub dest_id: &'a str,
    pub event: &'a ChangeEvent,
    pub event_number: i64,
}

pub fn insert_delivery(conn: &mut AnyConnection, d: &NewDelivery<'_>) -> Result<(), StoreError> {
    let now = now_micros();
    sql_query(
        conn.backend(),
        "INSERT INTO sync_delivery (dest_id, event_id, event_number, res_type, res_id, version, \
         operation, status, attempts, next_attempt_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', 0, $8, $8)",
    )
    .bind::<Text, _>(d.dest_id)
    .bind::<BigInt, _>(d.event.event_id)
    .bind::<BigInt, _>(d.event_number)
    .bind::<Text, _>(&d.event.res_type)
    .bind::<Text, _>(&d.event.res_id)
    .bind::<BigInt, _>(d.event.version)
    .bind::<Text, _>(&d.event.operation)
    .bind::<BigInt, _>(now)
    .execute(conn)?;
    Ok(())
}

/// One delivery row (claimed, or listed for `$events`).
#[derive(Debug, Clone, QueryableByName)]
pub struct Delivery {
    #[diesel(sql_type = Text)]
    pub dest_id: String,
    #[diesel(sql_type = BigInt)]
    pub event_id: i64,
    #[diesel(sql_type = BigInt)]
    pub event_number: i64,
    #[diesel(sql_type = Text)]
    pub res_type: String,
    #[diesel(sql_type = Text)]
    pub res_id: String,
    #[diesel(sql_type = BigInt)]
    pub version: i64,
    #[diesel(sql_type = Text)]
    pub operation: String,
    #[diesel(sql_type = Integer)]
    pub attempts: i32,
    #[diesel(sql_type = BigInt)]
    pub created_at: i64,
}

const DELIVERY_COLUMNS: &str =
    "dest_id, event_id, event_number, res_type, res_id, version, operation, attempts, created_at";

/// Claims up to `limit` due deliveries for `owner` until `lease_until`, oldest first.
///
/// Order: a delivery is claimable only when no earlier delivery it must follow is still waiting
/// (a retry not yet due) or leased to a live worker. For a Subscription that is every earlier
/// delivery of the same Subscription (notifications arrive in commit order, head-of-line
/// blocking while the endpoint fails); for the mirror only earlier versions of the same resource.
/// Earlier rows that are due are claimed by the same statement (they sort first).
///
/// Exactly once across nodes: PostgreSQL claims take one row lock (`claim_lock`) for the short
/// claim transaction, so two nodes never both see the same predecessor as "due" and deliver
/// around each other; `FOR UPDATE SKIP LOCKED` keeps a claim from waiting on rows another
/// transaction is finishing. SQLite: the caller's BEGIN IMMEDIATE already makes this the only
/// writer. Expired leases (a crashed worker) are claimable again.
/// Whether any delivery is due at `now` (pending and due, or in flight with an expired lease):
/// what `claim` would find, without locking anything.
pub fn any_due(conn: &mut AnyConnection, now: i64) -> Result<bool, StoreError> {
    let rows: Vec<One> = sql_query(
        conn.backend(),
        "SELECT CAST(1 AS BIGINT) AS v FROM sync_delivery WHERE (status = 'pending' AND next_attempt_at <= $1) \
         OR (status = 'in_flight' AND lease_until < $1) LIMIT 1",
    )
    .bind::<BigInt, _>(now)
    .load(conn)?;
    Ok(!rows.is_empty())
}

pub fn claim(
    conn: &mut AnyConnection,
    owner: &str,
    now: i64,
    lease_until: i64,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    let skip = match conn.backend() {
        Backend::Postgres => {
            sql_query(
                Backend::Postgres,
                "SELECT value AS v FROM sync_state WHERE name = 'claim_lock' FOR UPDATE",
            )
            .load::<One>(conn)?;
            " FOR UPDATE SKIP LOCKED"
        }
        Backend::Sqlite => "",
    };
    let sql = format!(
        "UPDATE sync_delivery SET status = 'in_flight', lease_owner = $1, lease_until = $2 \
         WHERE (dest_id, event_id) IN ( \
           SELECT d.dest_id, d.event_id FROM sync_delivery d \
           WHERE ((d.status = 'pending' AND d.next_attempt_at <= $3) \
                  OR (d.status = 'in_flight' AND d.lease_until < $3)) \
             AND NOT EXISTS (SELECT 1 FROM sync_delivery e WHERE e.dest_id = d.dest_id \
                  AND e.event_id < d.event_id \
                  AND (d.dest_id <> 'mirror' OR (e.res_type = d.res_type AND e.res_id = d.res_id)) \
                  AND ((e.status = 'pending' AND e.next_attempt_at > $3) \
                       OR (e.status = 'in_flight' AND e.lease_until >= $3))) \
           ORDER BY d.event_id LIMIT $4{skip}) \
         RETURNING {DELIVERY_COLUMNS}"
    );
    let mut rows: Vec<Delivery> = sql_query(conn.backend(), sql)
        .bind::<Text, _>(owner)
        .bind::<BigInt, _>(lease_until)
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(limit)
        .load(conn)?;
    rows.sort_by_key(|d| d.event_id);
    Ok(rows)
}

/// How a delivery attempt ended.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Delivered,
    /// Delivered nothing on purpose (mirror: the remote copy is newer); the reason is kept.
    Skipped(String),
    /// Try again at the given time (µs).
    Retry {
        error: String,
        at: i64,
    },
    Dead(String),
    /// Not attempted (an earlier delivery to the same destination failed): back to pending.
    Release {
        at: i64,
    },
}

/// Records an attempt's outcome, only if `owner` still holds the lease (fencing).
pub fn finish(
    conn: &mut AnyConnection,
    d: &Delivery,
    owner: &str,
    outcome: &Outcome,
) -> Result<(), StoreError> {
    let now = now_micros();
    let (status, error, at, counts, done) = match outcome {
        Outcome::Delivered => ("delivered", None, now, 1, Some(now)),
        Outcome::Skipped(e) => ("skipped", Some(e.clone()), now, 1, Some(now)),
        Outcome::Retry { error, at } => ("pending", Some(error.clone()), *at, 1, None),
        Outcome::Dead(e) => ("dead", Some(e.clone()), now, 1, None),
        Outcome::Release { at } => ("pending", None, *at, 0, None),
    };
    sql_query(conn.backend(),
        "UPDATE sync_delivery SET status = $1, next_attempt_at = $2, last_error = COALESCE($3, last_error), \
         attempts = attempts + $4, delivered_at = $5, lease_owner = NULL, lease_until = NULL \
         WHERE dest_id = $6 AND event_id = $7 AND lease_owner = $8"
    )
    .bind::<Text, _>(status)
    .bind::<BigInt, _>(at)
    .bind::<Nullable<Text>, _>(error)
    .bind::<Integer, _>(counts)
    .bind::<Nullable<BigInt>, _>(done)
    .bind::<Text, _>(&d.dest_id)
    .bind::<BigInt, _>(d.event_id)
    .bind::<Text, _>(owner)
    .execute(conn)?;
    Ok(())
}

/// Per-destination numbers for `hms sync status`.
#[derive(Debug, Clone, QueryableByName)]
pub struct DestinationStatus {
    #[diesel(sql_type = Text)]
    pub dest_id: String,
    #[diesel(sql_type = BigInt)]
    pub pending: i64,
    #[diesel(sql_type = BigInt)]
    pub in_flight: i64,
    #[diesel(sql_type = BigInt)]
    pub delivered: i64,
    #[diesel(sql_type = BigInt)]
    pub skipped: i64,
    #[diesel(sql_type = BigInt)]
    pub dead: i64,
    /// created_at of the oldest unfinished delivery (µs), for the lag.
    #[diesel(sql_type = Nullable<BigInt>)]
    pub oldest_unfinished: Option<i64>,
}

pub fn destination_status(conn: &mut AnyConnection) -> Result<Vec<DestinationStatus>, StoreError> {
    Ok(sql_query(conn.backend(), "SELECT dest_id, \
           SUM(CASE WHEN status = 'pending' THEN 1 ELSE 0 END) AS pending, \
           SUM(CASE WHEN status = 'in_flight' THEN 1 ELSE 0 END) AS in_flight, \
           SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END) AS delivered, \
           SUM(CASE WHEN status = 'skipped' THEN 1 ELSE 0 END) AS skipped, \
           SUM(CASE WHEN status = 'dead' THEN 1 ELSE 0 END) AS dead, \
           MIN(CASE WHEN status IN ('pending', 'in_flight') THEN created_at END) AS oldest_unfinished \
         FROM sync_delivery GROUP BY dest_id ORDER BY dest_id",
    )
    .load(conn)?)
}

/// Puts deliveries back to pending (attempts reset): one event (every destination, or one), or
/// every dead delivery when `event_id` is None. Returns how many rows changed.
pub fn retry(
    conn: &mut AnyConnection,
    event_id: Option<i64>,
    dest_id: Option<&str>,
) -> Result<usize, StoreError> {
    let now = now_micros();
    let n = match event_id {
        Some(e) => sql_query(
            conn.backend(),
            "UPDATE sync_delivery SET status = 'pending', attempts = 0, next_attempt_at = $1, \
             lease_owner = NULL, lease_until = NULL \
             WHERE event_id = $2 AND ($3 = '' OR dest_id = $3) AND status <> 'in_flight'",
        )
        .bind::<BigInt, _>(now)
        .bind::<BigInt, _>(e)
        .bind::<Text, _>(dest_id.unwrap_or(""))
        .execute(conn)?,
        None => sql_query(
            conn.backend(),
            "UPDATE sync_delivery SET status = 'pending', attempts = 0, next_attempt_at = $1 \
             WHERE status = 'dead' AND ($2 = '' OR dest_id = $2)",
        )
        .bind::<BigInt, _>(now)
        .bind::<Text, _>(dest_id.unwrap_or(""))
        .execute(conn)?,
    };
    Ok(n)
}

/// Deliveries of one destination with event number >= `since` (and <= `until`), for `$events`.
pub fn deliveries_since(
    conn: &mut AnyConnection,
    dest_id: &str,
    since: i64,
    until: i64,
    limit: i64,
) -> Result<Vec<Delivery>, StoreError> {
    Ok(sql_query(
        conn.backend(),
        format!(
            "SELECT {DELIVERY_COLUMNS} FROM sync_delivery WHERE dest_id = $1 \
         AND event_number >= $2 AND event_number <= $3 ORDER BY event_number LIMIT $4"
        ),
    )
    .bind::<Text, _>(dest_id)
    .bind::<BigInt, _>(since)
    .bind::<BigInt, _>(until)
    .bind::<BigInt, _>(limit)
    .load(conn)?)
}

/// The stored projection of one Subscription.
#[derive(Debug, Clone, QueryableByName)]
pub struct SubscriptionRow {
    #[diesel(sql_type = Text)]
    pub sub_id: String,
    #[diesel(sql_type = Text)]
    pub status: String,
    #[diesel(sql_type = Text)]
    pub criteria: String,
    #[diesel(sql_type = Text)]
    pub endpoint: String,
    #[diesel(sql_type = Text)]
    pub headers: String,
    #[diesel(sql_type = Nullable<Text>)]
    pub payload: Option<String>,
    #[diesel(sql_type = Text)]
    pub content: String,
    #[diesel(sql_type = BigInt)]
    pub events_count: i64,
    #[diesel(sql_type = Integer)]
    pub fail_count: i32,
    #[diesel(sql_type = BigInt)]
    pub next_attempt_at: i64,
    #[diesel(sql_type = Nullable<Text>)]
    pub last_error: Option<String>,
    /// Backport heartbeat period in seconds; 0 = no heartbeats.
    #[diesel(sql_type = BigInt)]
    pub heartbeat_secs: i64,
    /// When the channel last got a message (µs); heartbeats fill the silences.
    #[diesel(sql_type = BigInt)]
    pub last_sent_at: i64,
}

const SUB_COLUMNS: &str = "sub_id, status, criteria, endpoint, headers, payload, content, \
     events_count, fail_count, next_attempt_at, last_error, heartbeat_secs, last_sent_at";

/// Inserts or refreshes a Subscription's projection; counters survive updates.
pub fn upsert_subscription(
    conn: &mut AnyConnection,
    s: &SubscriptionRow,
) -> Result<(), StoreError> {
    sql_query(conn.backend(), "INSERT INTO sync_subscription (sub_id, status, criteria, endpoint, headers, payload, content, heartbeat_secs) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (sub_id) DO UPDATE SET status = excluded.status, criteria = excluded.criteria, \
         endpoint = excluded.endpoint, headers = excluded.headers, payload = excluded.payload, \
         content = excluded.content, heartbeat_secs = excluded.heartbeat_secs",
    )
    .bind::<Text, _>(&s.sub_id)
    .bind::<Text, _>(&s.status)
    .bind::<Text, _>(&s.criteria)
    .bind::<Text, _>(&s.endpoint)
    .bind::<Text, _>(&s.headers)
    .bind::<Nullable<Text>, _>(s.payload.as_deref())
    .bind::<Text, _>(&s.content)
    .bind::<BigInt, _>(s.heartbeat_secs)
    .execute(conn)?;
    Ok(())
}

pub fn set_subscription_status(
    conn: &mut AnyConnection,
    sub_id: &str,
    status: &str,
) -> Result<(), StoreError> {
    sql_query(
        conn.backend(),
        "UPDATE sync_subscription SET status = $1 WHERE sub_id = $2",
    )
    .bind::<Text, _>(status)
    .bind::<Text, _>(sub_id)
    .execute(conn)?;
    Ok(())
}

/// Subscriptions in the given statuses.
pub fn subscriptions(
    conn: &mut AnyConnection,
    statuses: &[&str],
) -> Result<Vec<SubscriptionRow>, StoreError> {
    let list = statuses
        .iter()
        .filter(|s| s.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'))
        .map(|s| format!("'{s}'"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok(sql_query(
        conn.backend(),
        format!(
            "SELECT {SUB_COLUMNS} FROM sync_subscription WHERE status IN ({list}) ORDER BY sub_id"
        ),
    )
    .load(conn)?)
}

pub fn subscription(
    conn: &mut AnyConnection,
    sub_id: &str,
) -> Result<Option<SubscriptionRow>, StoreError> {
    let rows: Vec<SubscriptionRow> = sql_query(
        conn.backend(),
        format!("SELECT {SUB_COLUMNS} FROM sync_subscription WHERE sub_id = $1"),
    )
    .bind::<Text, _>(sub_id)
    .load(conn)?;
    Ok(rows.into_iter().next())
}

/// Takes the next event number of a subscription (fan-out, inside its transaction).
pub fn next_event_number(conn: &mut AnyConnection, sub_id: &str) -> Result<i64, StoreError> {
    sql_query(
        conn.backend(),
        "UPDATE sync_subscription SET events_count = events_count + 1 WHERE sub_id = $1",
    )
    .bind::<Text, _>(sub_id)
    .execute(conn)?;
    let rows: Vec<One> = sql_query(
        conn.backend(),
        "SELECT events_count AS v FROM sync_subscription WHERE sub_id = $1",
    )
    .bind::<Text, _>(sub_id)
    .load(conn)?;
    Ok(rows.first().map_or(0, |r| r.v))
}

/// Records a failed or successful attempt on a subscription's channel; returns the failure count.
pub fn record_channel_result(
    conn: &mut AnyConnection,
    sub_id: &str,
    error: Option<&str>,
    next_attempt_at: i64,
) -> Result<i32, StoreError> {
    match error {
        None => sql_query(
            conn.backend(),
            "UPDATE sync_subscription SET fail_count = 0, last_error = NULL, next_attempt_at = 0, \
             last_sent_at = $2 WHERE sub_id = $1",
        )
        .bind::<Text, _>(sub_id)
        .bind::<BigInt, _>(now_micros())
        .execute(conn)?,
        Some(e) => sql_query(
            conn.backend(),
            "UPDATE sync_subscription SET fail_count = fail_count + 1, last_error = $2, \
             next_attempt_at = $3 WHERE sub_id = $1",
        )
        .bind::<Text, _>(sub_id)
        .bind::<Text, _>(e)
        .bind::<BigInt, _>(next_attempt_at)
        .execute(conn)?,
    };
    Ok(subscription(conn, sub_id)?.map_or(0, |s| s.fail_count))
}

/// The remote ETag we last wrote for a mirrored resource.
pub fn mirror_etag(
    conn: &mut AnyConnection,
    res_type: &str,
    res_id: &str,
) -> Result<Option<String>, StoreError> {
    let rows: Vec<OneText> = sql_query(
        conn.backend(),
        "SELECT remote_etag AS v FROM sync_mirror_state WHERE res_type = $1 AND res_id = $2",
    )
    .bind::<Text, _>(res_type)
    .bind::<Text, _>(res_id)
    .load(conn)?;
    Ok(rows.into_iter().next().map(|r| r.v))
}

pub fn set_mirror_etag(
    conn: &mut AnyConnection,
    res_type: &str,
    res_id: &str,
    etag: &str,
) -> Result<(), StoreError> {
    sql_query(
        conn.backend(),
        "INSERT INTO sync_mirror_state (res_type, res_id, remote_etag) VALUES ($1, $2, $3) \
         ON CONFLICT (res_type, res_id) DO UPDATE SET remote_etag = excluded.remote_etag",
    )
    .bind::<Text, _>(res_type)
    .bind::<Text, _>(res_id)
    .bind::<Text, _>(etag)
    .execute(conn)?;
    Ok(())
}

/// Active Subscriptions with a heartbeat period whose channel has been silent that long.
pub fn heartbeats_due(
    conn: &mut AnyConnection,
    now: i64,
) -> Result<Vec<SubscriptionRow>, StoreError> {
    Ok(sql_query(
        conn.backend(),
        format!(
            "SELECT {SUB_COLUMNS} FROM sync_subscription WHERE status = 'active' \
             AND heartbeat_secs > 0 AND last_sent_at + heartbeat_secs * 1000000 <= $1 ORDER BY sub_id"
        ),
    )
    .bind::<BigInt, _>(now)
    .load(conn)?)
}

/// Retention: removes delivered/skipped deliveries finished before `cutoff` (µs), then change
/// events before it that are fanned out and have no delivery left. Pending, in-flight and dead
/// rows are kept. Returns (deliveries, events) removed.
pub fn prune(conn: &mut AnyConnection, cutoff: i64) -> Result<(usize, usize), StoreError> {
    let d = sql_query(
        conn.backend(),
        "DELETE FROM sync_delivery WHERE status IN ('delivered', 'skipped') AND delivered_at < $1",
    )
    .bind::<BigInt, _>(cutoff)
    .execute(conn)?;
    let e = sql_query(
        conn.backend(),
        "DELETE FROM change_event WHERE committed_at < $1 \
         AND event_id <= (SELECT value FROM sync_state WHERE name = 'fanout_cursor') \
         AND NOT EXISTS (SELECT 1 FROM sync_delivery d WHERE d.event_id = change_event.event_id)",
    )
    .bind::<BigInt, _>(cutoff)
    .execute(conn)?;
    Ok((d, e))
}
