//! The write-path hook: every committed version appends a change event in the writer's own
//! transaction, and Subscription writes refresh their projection there too.

use serde_json::Value;

use crate::error::Error;
use crate::store::AnyConnection;
use crate::store::outbox::{self, Operation};

use super::subscription;

/// Called by `store_version` (with the stamped resource) and `delete_in_tx` (with None).
pub fn on_version(
    conn: &mut AnyConnection,
    res_type: &str,
    res_id: &str,
    version: i64,
    resource: Option<&Value>,
) -> Result<(), Error> {
    let op = match (resource, version) {
        (None, _) => Operation::Delete,
        (Some(_), 1) => Operation::Create,
        (Some(_), _) => Operation::Update,
    };
    outbox::append(conn, res_type, res_id, version, op)?;
    if res_type == "Subscription" {
        match resource {
            Some(r) => outbox::upsert_subscription(conn, &subscription::project(res_id, r))?,
            None => outbox::set_subscription_status(conn, res_id, "deleted")?,
        }
    }
    Ok(())
}
