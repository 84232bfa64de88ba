//! Finding the live resources that reference a given resource (reference moves of a patient
//! merge), through the reference rows of `search_index`.

use diesel::sql_types::Text;
use diesel::{QueryableByName, RunQueryDsl};

use super::binds::Binds;
use super::{AnyConnection, StoreError};

#[derive(Debug, Clone, QueryableByName)]
pub struct Found {
    #[diesel(sql_type = Text)]
    pub res_type: String,
    #[diesel(sql_type = Text)]
    pub res_id: String,
}

/// Live resources with an indexed reference to `ref_type/ref_id` (plain or versioned), except
/// those of `skip_types`, in storage order. Only elements covered by a search parameter are
/// indexed: a reference no search parameter reaches is not found.
pub fn referencing(
    conn: &mut AnyConnection,
    ref_type: &str,
    ref_id: &str,
    skip_types: &[&str],
) -> Result<Vec<Found>, StoreError> {
    // SQLite numbers `$n` parameters in order of appearance: bind in text order.
    let mut b = Binds::default();
    let rt = b.text(ref_type);
    let id = b.text(ref_id);
    let skip = if skip_types.is_empty() {
        String::new()
    } else {
        let ts: Vec<String> = skip_types.iter().map(|t| b.text(*t)).collect();
        format!(" AND r.res_type NOT IN ({})", ts.join(", "))
    };
    let sql = format!(
        "SELECT r.res_type AS res_type, r.res_id AS res_id FROM resource r \
         WHERE r.rid IN (SELECT i.rid FROM search_index i WHERE i.ref_type = {rt} AND i.ref_id = {id}) \
         AND r.deleted = 0{skip} ORDER BY r.rid"
    );
    Ok(b.query(sql, conn.backend()).load::<Found>(conn)?)
}
