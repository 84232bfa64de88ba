//! Embedded migrations, one tree per engine, applied at start and by `hms migrate`.

use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use super::{AnyConnection, Store, StoreError};

const SQLITE: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Applies pending migrations and returns the names of those applied now.
pub fn run_pending(store: &Store) -> Result<Vec<String>, StoreError> {
    let mut conn = store.conn()?;
    let conn: &mut AnyConnection = &mut conn;
    let source = match conn {
        AnyConnection::Sqlite(_) => SQLITE,
        AnyConnection::Postgresql(_) => POSTGRES,
    };
    let applied = conn
        .run_pending_migrations(source)
        .map_err(|e| StoreError::Migration(e.to_string()))?;
    Ok(applied.iter().map(|v| v.to_string()).collect())
}

#[cfg(test)]
mod tests {
    /// diesel keys migrations by the version prefix: two directories with one version would leave
    /// the second one silently unapplied. Both trees must also list the same migrations.
    #[test]
    fn versions_are_unique_and_both_trees_match() {
        let names = |tree: &str| -> Vec<String> {
            let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("migrations")
                .join(tree);
            let mut v: Vec<String> = std::fs::read_dir(dir)
                .map(|d| {
                    d.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        };
        let sqlite = names("sqlite");
        assert!(sqlite.len() >= 9, "{sqlite:?}");
        assert_eq!(sqlite, names("postgres"));
        let mut versions: Vec<&str> = sqlite.iter().filter_map(|n| n.split('_').next()).collect();
        versions.dedup();
        assert_eq!(
            versions.len(),
            sqlite.len(),
            "duplicate migration version in {sqlite:?}"
        );
    }
}
