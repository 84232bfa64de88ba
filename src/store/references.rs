//! Finding resources by what their stored JSON contains (reference moves of a patient merge).
//! There is no reference index yet (issue 3): this scans current versions with a byte search,
//! which is linear in the number of resources of the types asked for.

use diesel::sql_types::{Binary, Text};
use diesel::{QueryableByName, RunQueryDsl, sql_query};

use super::{AnyConnection, StoreError, dialect};

#[derive(Debug, Clone, QueryableByName)]
pub struct Found {
    #[diesel(sql_type = Text)]
    pub res_type: String,
    #[diesel(sql_type = Text)]
    pub res_id: String,
}

/// Live resources whose current JSON contains `needle`, except those of `skip_types`.
pub fn containing(
    conn: &mut AnyConnection,
    needle: &[u8],
    skip_types: &[&str],
) -> Result<Vec<Found>, StoreError> {
    let contains = dialect::blob_contains(conn.backend(), "h.content", "$1");
    // skip_types are our own constants (resource type names): safe to inline.
    let skip = skip_types
        .iter()
        .filter(|t| t.bytes().all(|b| b.is_ascii_alphanumeric()))
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let skip = if skip.is_empty() {
        String::new()
    } else {
        format!(" AND r.res_type NOT IN ({skip})")
    };
    let sql = format!(
        "SELECT r.res_type AS res_type, r.res_id AS res_id FROM resource r \
         JOIN resource_history h ON h.rid = r.rid AND h.version = r.version \
         WHERE r.deleted = 0 AND {contains}{skip} ORDER BY r.rid"
    );
    Ok(sql_query(sql).bind::<Binary, _>(needle).load(conn)?)
}
