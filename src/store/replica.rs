//! Read replicas: searches and reads may go to a replica, writes always go to the primary.
//!
//! Read-your-writes: after a write the API hands the client a `WriteToken` (commit time and, on
//! PostgreSQL, the primary's WAL position after the commit). A read that carries a token younger
//! than `READ_YOUR_WRITES_WINDOW` goes to a replica only if that replica has replayed past the
//! token's WAL position (one `pg_last_wal_replay_lsn()` query), otherwise to the primary. Without
//! a WAL position (SQLite) such reads always go to the primary. Reads without a token (or with an
//! old one) go to the replicas in turn.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use diesel::sql_types::{Nullable, Text};
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::{AnyConnection, Backend, DbTarget, Store, StoreError, now_micros};

/// How long after a write the writer's reads are checked against (or sent to) the primary. Longer
/// than any replication lag we tolerate; lag beyond it is an incident (alert on it).
pub const READ_YOUR_WRITES_WINDOW: Duration = Duration::from_secs(30);

/// The replica pools, used in turn.
#[derive(Clone, Default)]
pub struct Replicas {
    stores: Arc<Vec<Store>>,
    next: Arc<AtomicUsize>,
}

impl Replicas {
    /// Opens one pool per URL. Replicas are never migrated: they follow the primary's schema.
    pub fn open(urls: &[String], pool_size: u32) -> Result<Replicas, StoreError> {
        let mut stores = Vec::with_capacity(urls.len());
        for url in urls.iter().map(|u| u.trim()).filter(|u| !u.is_empty()) {
            let target = DbTarget::parse(url).map_err(|e| StoreError::Connect(e.to_string()))?;
            stores.push(Store::open(target, pool_size)?);
        }
        Ok(Replicas {
            stores: Arc::new(stores),
            next: Arc::new(AtomicUsize::new(0)),
        })
    }

    pub fn from_stores(stores: Vec<Store>) -> Replicas {
        Replicas {
            stores: Arc::new(stores),
            next: Arc::new(AtomicUsize::new(0)),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.stores.is_empty()
    }

    pub fn len(&self) -> usize {
        self.stores.len()
    }

    /// The next replica in turn, if any.
    pub fn pick(&self) -> Option<&Store> {
        if self.stores.is_empty() {
            return None;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.stores.len();
        self.stores.get(i)
    }

    /// Where a read goes, given the reader's last write (if any).
    pub fn route<'a>(&'a self, primary: &'a Store, after: Option<&WriteToken>) -> &'a Store {
        let Some(replica) = self.pick() else {
            return primary;
        };
        let Some(token) = after.filter(|t| t.is_recent(now_micros())) else {
            return replica;
        };
        let Some(lsn) = token.lsn else {
            return primary;
        };
        let caught_up = replica
            .read(replay_lsn)
            .ok()
            .flatten()
            .is_some_and(|replayed| replayed >= lsn);
        if caught_up { replica } else { primary }
    }
}

/// A client's last write: when it committed (µs) and the primary's WAL position after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteToken {
    pub at_micros: i64,
    pub lsn: Option<u64>,
}

impl WriteToken {
    /// `<micros>` or `<micros>.<lsn in hex>`: opaque to clients, safe in a header or cookie.
    pub fn encode(&self) -> String {
        match self.lsn {
            Some(l) => format!("{}.{l:x}", self.at_micros),
            None => self.at_micros.to_string(),
        }
    }

    pub fn parse(s: &str) -> Option<WriteToken> {
        let (at, lsn) = match s.split_once('.') {
            Some((a, l)) => (a, Some(u64::from_str_radix(l, 16).ok()?)),
            None => (s, None),
        };
        Some(WriteToken {
            at_micros: at.parse().ok()?,
            lsn,
        })
    }

    pub fn is_recent(&self, now_micros: i64) -> bool {
        let window = READ_YOUR_WRITES_WINDOW.as_micros() as i64;
        // A token from the future (clock skew between nodes) counts as recent.
        now_micros - self.at_micros < window
    }

    /// The token for a write that has just committed on `primary`.
    pub fn after_commit(primary: &Store) -> Result<WriteToken, StoreError> {
        let lsn = primary.read(current_lsn)?;
        Ok(WriteToken {
            at_micros: now_micros(),
            lsn,
        })
    }
}

#[derive(QueryableByName)]
struct LsnRow {
    #[diesel(sql_type = Nullable<Text>)]
    lsn: Option<String>,
}

/// PostgreSQL `X/Y` LSN text as a number.
pub fn parse_lsn(s: &str) -> Option<u64> {
    let (hi, lo) = s.split_once('/')?;
    Some((u64::from_str_radix(hi, 16).ok()? << 32) | u64::from_str_radix(lo, 16).ok()?)
}

fn lsn_query(conn: &mut AnyConnection, sql: &str) -> Result<Option<u64>, StoreError> {
    if conn.backend() != Backend::Postgres {
        return Ok(None);
    }
    let rows: Vec<LsnRow> = sql_query(sql).load(conn)?;
    Ok(rows
        .into_iter()
        .next()
        .and_then(|r| r.lsn)
        .and_then(|l| parse_lsn(&l)))
}

/// The primary's current WAL write position (None on SQLite).
pub fn current_lsn(conn: &mut AnyConnection) -> Result<Option<u64>, StoreError> {
    lsn_query(conn, "SELECT pg_current_wal_lsn()::text AS lsn")
}

/// How far a standby has replayed (None on SQLite or on a server that is not a standby).
pub fn replay_lsn(conn: &mut AnyConnection) -> Result<Option<u64>, StoreError> {
    lsn_query(conn, "SELECT pg_last_wal_replay_lsn()::text AS lsn")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip() {
        let t = WriteToken {
            at_micros: 1_700_000_000_000_000,
            lsn: Some(0x16_b374_d848),
        };
        assert_eq!(t.encode(), "1700000000000000.16b374d848");
        assert_eq!(WriteToken::parse(&t.encode()), Some(t));
        let t = WriteToken {
            at_micros: 5,
            lsn: None,
        };
        assert_eq!(WriteToken::parse("5"), Some(t));
        assert_eq!(WriteToken::parse("x"), None);
        assert_eq!(WriteToken::parse("5.zz"), None);
        assert!(t.is_recent(5 + 1_000_000));
        assert!(!t.is_recent(5 + 31_000_000));
        assert!(t.is_recent(0));
    }

    #[test]
    fn lsn_text() {
        assert_eq!(parse_lsn("16/B374D848"), Some(0x16_b374_d848));
        assert_eq!(parse_lsn("0/0"), Some(0));
        assert_eq!(parse_lsn("junk"), None);
    }

    fn sqlite(dir: &std::path::Path, name: &str) -> Store {
        let target = DbTarget::parse(&format!("sqlite://{}", dir.join(name).display())).unwrap();
        let s = Store::open(target, 2).unwrap();
        crate::store::migrate::run_pending(&s).unwrap();
        s
    }

    #[test]
    fn routing_without_wal_positions() {
        let dir = std::env::temp_dir().join(format!("hms-replica-{}", uuid::Uuid::new_v4()));
        let primary = sqlite(&dir, "p.db");
        let replica = sqlite(&dir, "r.db");
        let none = Replicas::default();
        assert!(std::ptr::eq(none.route(&primary, None), &primary));
        let set = Replicas::from_stores(vec![replica]);
        assert!(!std::ptr::eq(set.route(&primary, None), &primary));
        let fresh = WriteToken::after_commit(&primary).unwrap();
        assert_eq!(fresh.lsn, None);
        // A recent writer without a WAL position reads from the primary…
        assert!(std::ptr::eq(set.route(&primary, Some(&fresh)), &primary));
        // …an old token no longer pins it.
        let old = WriteToken {
            at_micros: fresh.at_micros - 60_000_000,
            lsn: None,
        };
        assert!(!std::ptr::eq(set.route(&primary, Some(&old)), &primary));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn postgres_wal_positions() {
        let Some(url) = std::env::var("HMS_TEST_DATABASE_URL")
            .ok()
            .filter(|s| !s.is_empty())
        else {
            eprintln!("note: HMS_TEST_DATABASE_URL is not set; PostgreSQL variant skipped");
            return;
        };
        let store = Store::open(DbTarget::parse(&url).unwrap(), 1).unwrap();
        let t = WriteToken::after_commit(&store).unwrap();
        assert!(t.lsn.is_some());
        // A primary is not a standby: it has no replay position, so it never counts as caught up.
        assert_eq!(store.read(replay_lsn).unwrap(), None);
        let set = Replicas::from_stores(vec![store.clone()]);
        let primary = store.clone();
        assert!(std::ptr::eq(set.route(&primary, Some(&t)), &primary));
    }
}
