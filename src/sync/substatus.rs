//! Server-side changes of Subscription.status / Subscription.error (a new version of the
//! resource, written like any other update, so it is versioned and produces its own event).

use serde_json::Value;

use crate::error::Error;
use crate::fhir::ids::{LogicalId, ResourceType};
use crate::interactions::{Services, write};
use crate::store::resources;

/// Sets the status (and error text, removed when None). No-op when already so, or deleted.
pub fn set(s: &Services, sub_id: &str, status: &str, error: Option<&str>) -> Result<(), Error> {
    let t = ResourceType::parse("Subscription")?;
    let id = LogicalId::parse(sub_id)?;
    s.store.write(|conn| -> Result<(), Error> {
        let Some(v) = resources::read_current(conn, "Subscription", sub_id)? else {
            return Ok(());
        };
        let Some(body) = v.json()? else {
            return Ok(());
        };
        let mut r: Value =
            serde_json::from_slice(&body).map_err(|e| Error::Internal(e.to_string()))?;
        let same_status = r.get("status").and_then(Value::as_str) == Some(status);
        let same_error = r.get("error").and_then(Value::as_str) == error;
        if same_status && same_error {
            return Ok(());
        }
        if let Some(obj) = r.as_object_mut() {
            obj.insert("status".into(), Value::String(status.to_string()));
            match error {
                Some(e) => obj.insert("error".into(), Value::String(e.to_string())),
                None => obj.remove("error"),
            };
        }
        write::update_in_tx(conn, &t, &id, r, None, false)?;
        Ok(())
    })
}
