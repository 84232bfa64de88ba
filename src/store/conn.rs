//! Connections: one enum over PostgreSQL and SQLite, and an r2d2 manager that dispatches on the URL
//! scheme itself, so a wrong URL or password surfaces as the real error instead of a pool timeout.

use diesel::Connection;
use diesel::connection::SimpleConnection;
use diesel::pg::PgConnection;
use diesel::sqlite::SqliteConnection;

#[derive(diesel::MultiConnection)]
pub enum AnyConnection {
    Postgresql(PgConnection),
    Sqlite(SqliteConnection),
}

/// Which engine a URL selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Postgres,
    Sqlite,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Backend::Postgres => "postgresql",
            Backend::Sqlite => "sqlite",
        }
    }
}

impl AnyConnection {
    pub fn backend(&self) -> Backend {
        match self {
            AnyConnection::Postgresql(_) => Backend::Postgres,
            AnyConnection::Sqlite(_) => Backend::Sqlite,
        }
    }
}

/// A parsed database URL: the engine and what to hand to it.
#[derive(Clone)]
pub struct DbTarget {
    pub backend: Backend,
    /// For PostgreSQL the URL as given; for SQLite the file path (or `:memory:`).
    pub location: String,
    /// PostgreSQL only: a schema to create and put first on the search_path (used by tests).
    pub schema: Option<String>,
}

impl std::fmt::Debug for DbTarget {
    // The URL may carry a password: never print it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DbTarget")
            .field("backend", &self.backend)
            .field("schema", &self.schema)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum UrlError {
    #[error(
        "database URL must start with postgres://, postgresql:// or sqlite:// (got scheme {0:?})"
    )]
    UnknownScheme(String),
    #[error("database URL is empty")]
    Empty,
}

impl DbTarget {
    pub fn parse(url: &str) -> Result<DbTarget, UrlError> {
        let url = url.trim();
        if url.is_empty() {
            return Err(UrlError::Empty);
        }
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DbTarget {
                backend: Backend::Postgres,
                location: url.to_string(),
                schema: None,
            });
        }
        if let Some(rest) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            return Ok(DbTarget {
                backend: Backend::Sqlite,
                location: rest.to_string(),
                schema: None,
            });
        }
        match url.split_once("://") {
            Some((scheme, _)) => Err(UrlError::UnknownScheme(scheme.to_string())),
            None => Err(UrlError::UnknownScheme(String::new())),
        }
    }

    /// A human-readable description without credentials, for logs.
    pub fn describe(&self) -> String {
        match self.backend {
            Backend::Sqlite => format!("sqlite file {}", self.location),
            Backend::Postgres => {
                let host = self
                    .location
                    .split_once('@')
                    .map(|(_, h)| h)
                    .or_else(|| self.location.split_once("://").map(|(_, h)| h))
                    .unwrap_or("");
                format!("postgresql {host}")
            }
        }
    }
}

pub struct Manager {
    target: DbTarget,
}

impl Manager {
    pub fn new(target: DbTarget) -> Manager {
        Manager { target }
    }
}

impl r2d2::ManageConnection for Manager {
    type Connection = AnyConnection;
    type Error = diesel::ConnectionError;

    fn connect(&self) -> Result<AnyConnection, diesel::ConnectionError> {
        match self.target.backend {
            Backend::Postgres => {
                let mut conn = PgConnection::establish(&self.target.location)?;
                let mut setup = String::from("SET synchronous_commit = on;");
                if let Some(schema) = &self.target.schema {
                    // Schema names come from our own test harness (alphanumeric + underscore).
                    setup.push_str(&format!(
                        "CREATE SCHEMA IF NOT EXISTS {schema}; SET search_path TO {schema};"
                    ));
                }
                conn.batch_execute(&setup)
                    .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(AnyConnection::Postgresql(conn))
            }
            Backend::Sqlite => {
                let mut conn = SqliteConnection::establish(&self.target.location)?;
                // WAL + synchronous=FULL: a commit is on disk before we answer 2xx. busy_timeout
                // first, so that even the journal-mode switch waits for another process's lock.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 30000; PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; \
                     PRAGMA foreign_keys = ON;",
                )
                .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
                Ok(AnyConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut AnyConnection) -> Result<(), diesel::ConnectionError> {
        conn.batch_execute("SELECT 1")
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)
    }

    fn has_broken(&self, _conn: &mut AnyConnection) -> bool {
        false
    }
}
