//! The only module that speaks SQL. One code path for SQLite and PostgreSQL: statements are written
//! with `$n` placeholders, which both engines accept, and the few dialect differences live in `dialect`.

pub mod audit;
pub mod auth;
pub mod binds;
pub mod bulk;
pub mod cache;
pub mod compartment;
pub mod conn;
pub mod custom_params;
pub mod dialect;
pub mod history;
pub mod hl7_messages;
pub mod index;
pub mod migrate;
pub mod oauth;
pub mod outbox;
pub mod references;
pub mod replica;
pub mod resources;
pub mod search_meta;
pub mod search_sql;
pub mod secret;
pub mod x12_control;

use std::time::Duration;

use diesel::connection::SimpleConnection;
use diesel::result::{DatabaseErrorKind, Error as DieselError};

pub use conn::{AnyConnection, Backend, DbTarget};

pub type Pool = r2d2::Pool<conn::Manager>;
pub type PooledConn = r2d2::PooledConnection<conn::Manager>;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database error: {0}")]
    Query(#[from] DieselError),
    #[error("stored content is unreadable: {0}")]
    Corrupt(String),
    #[error("migration failed: {0}")]
    Migration(String),
}

impl StoreError {
    /// Conflicts that a fresh attempt of the same transaction can resolve (another writer won a race).
    fn is_retryable(&self) -> bool {
        match self {
            StoreError::Query(DieselError::DatabaseError(kind, info)) => {
                matches!(
                    kind,
                    DatabaseErrorKind::SerializationFailure | DatabaseErrorKind::UniqueViolation
                ) || info.message().contains("deadlock")
                    || info.message().contains("database is locked")
            }
            _ => false,
        }
    }
}

/// A pool of connections to one database, plus what kind of database it is.
#[derive(Clone)]
pub struct Store {
    pool: Pool,
    backend: Backend,
    /// Signalled after each commit of `write` that appended change events (wakes sync workers).
    commits: std::sync::Arc<tokio::sync::Notify>,
    /// Read-through cache of current versions; committed writes update it.
    cache: Option<std::sync::Arc<cache::ResourceCache>>,
}

impl Store {
    /// Opens the pool and proves the database answers (a wrong password fails here, clearly).
    pub fn open(target: DbTarget, max_size: u32) -> Result<Store, StoreError> {
        use r2d2::ManageConnection;
        let backend = target.backend;
        if backend == Backend::Sqlite
            && let Some(parent) = std::path::Path::new(&target.location).parent()
            && !parent.as_os_str().is_empty()
        {
            std::fs::create_dir_all(parent).map_err(|e| {
                StoreError::Connect(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        let manager = conn::Manager::new(target);
        // Connect once outside the pool so the real error is reported, not r2d2's timeout.
        manager
            .connect()
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        let pool = r2d2::Pool::builder()
            .max_size(max_size)
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(30))
            .build(manager)
            .map_err(|e| StoreError::Connect(e.to_string()))?;
        Ok(Store {
            pool,
            backend,
            commits: Default::default(),
            cache: None,
        })
    }

    /// The same store with a read cache that every committed write of this store keeps current.
    pub fn with_cache(mut self, cache: Option<cache::ResourceCache>) -> Store {
        self.cache = cache.map(std::sync::Arc::new);
        self
    }

    pub fn cache(&self) -> Option<&cache::ResourceCache> {
        self.cache.as_deref()
    }

    pub fn backend(&self) -> Backend {
        self.backend
    }

    pub fn conn(&self) -> Result<PooledConn, StoreError> {
        self.pool
            .get()
            .map_err(|e| StoreError::Connect(e.to_string()))
    }

    /// Notified (one stored permit) after each committed transaction that appended change events.
    pub fn commits(&self) -> std::sync::Arc<tokio::sync::Notify> {
        self.commits.clone()
    }

    pub fn pool_state(&self) -> (u32, u32) {
        let s = self.pool.state();
        (s.connections, s.idle_connections)
    }

    /// Runs `work` in one write transaction and commits. On SQLite the transaction takes the write
    /// lock up front (BEGIN IMMEDIATE), so read-then-write sequences cannot race. A transaction that
    /// lost a race (unique violation, serialization failure) is retried from the start.
    pub fn write<T, E>(
        &self,
        mut work: impl FnMut(&mut AnyConnection) -> Result<T, E>,
    ) -> Result<T, E>
    where
        E: From<StoreError>,
        E: AsStoreError,
    {
        let mut conn = self.conn()?;
        let scope = cache::TxScope::enter();
        let mut attempt = 0;
        loop {
            attempt += 1;
            scope.discard();
            let begin = match self.backend {
                Backend::Sqlite => "BEGIN IMMEDIATE",
                Backend::Postgres => "BEGIN",
            };
            conn.batch_execute(begin).map_err(StoreError::from)?;
            outbox::take_appended();
            let result = work(&mut conn);
            match result {
                Ok(value) => match conn.batch_execute("COMMIT") {
                    Ok(()) => {
                        if outbox::take_appended() {
                            self.commits.notify_one();
                        }
                        let written = scope.committed();
                        if let Some(c) = &self.cache
                            && !written.is_empty()
                        {
                            c.written(written);
                        }
                        return Ok(value);
                    }
                    Err(e) => {
                        let _ = conn.batch_execute("ROLLBACK");
                        scope.discard();
                        let err = StoreError::from(e);
                        if attempt < 5 && err.is_retryable() {
                            continue;
                        }
                        return Err(err.into());
                    }
                },
                Err(e) => {
                    let _ = conn.batch_execute("ROLLBACK");
                    scope.discard();
                    if attempt < 5 && e.as_store_error().is_some_and(StoreError::is_retryable) {
                        continue;
                    }
                    return Err(e);
                }
            }
        }
    }

    /// Runs read-only work on a pooled connection (no explicit transaction).
    pub fn read<T, E>(&self, work: impl FnOnce(&mut AnyConnection) -> Result<T, E>) -> Result<T, E>
    where
        E: From<StoreError>,
    {
        let mut conn = self.conn()?;
        work(&mut conn)
    }
}

/// Runs `work` inside a savepoint of the caller's open transaction: on error only `work`'s writes
/// are undone and the transaction stays usable (batch entries inside a caller's transaction).
pub fn savepoint<T, E>(
    conn: &mut AnyConnection,
    work: impl FnOnce(&mut AnyConnection) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<StoreError>,
{
    conn.batch_execute("SAVEPOINT hms_entry")
        .map_err(StoreError::from)?;
    let written = cache::mark();
    match work(conn) {
        Ok(v) => {
            conn.batch_execute("RELEASE SAVEPOINT hms_entry")
                .map_err(StoreError::from)?;
            Ok(v)
        }
        Err(e) => {
            cache::truncate(written);
            conn.batch_execute("ROLLBACK TO SAVEPOINT hms_entry")
                .map_err(StoreError::from)?;
            conn.batch_execute("RELEASE SAVEPOINT hms_entry")
                .map_err(StoreError::from)?;
            Err(e)
        }
    }
}

/// Lets the retry loop see whether a domain error wraps a retryable database error.
pub trait AsStoreError {
    fn as_store_error(&self) -> Option<&StoreError>;
}

impl AsStoreError for StoreError {
    fn as_store_error(&self) -> Option<&StoreError> {
        Some(self)
    }
}

/// Microseconds since the Unix epoch, the unit of every stored timestamp.
pub fn now_micros() -> i64 {
    chrono::Utc::now().timestamp_micros()
}
