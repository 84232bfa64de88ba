//! The few places where SQLite and PostgreSQL SQL differ, as plain matches.

use super::Backend;

/// Row lock for read-modify-write on PostgreSQL. SQLite needs none: BEGIN IMMEDIATE already holds
/// the database write lock for the whole transaction.
pub fn for_update(backend: Backend) -> &'static str {
    match backend {
        Backend::Postgres => " FOR UPDATE",
        Backend::Sqlite => "",
    }
}
