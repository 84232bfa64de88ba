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

/// `column` (a BLOB/BYTEA) contains the bytes bound at `param`.
pub fn blob_contains(backend: Backend, column: &str, param: &str) -> String {
    match backend {
        Backend::Postgres => format!("position({param} in {column}) > 0"),
        Backend::Sqlite => format!("instr({column}, {param}) > 0"),
    }
}
