//! create, update, conditional create/update, delete, conditional delete.

use hms_fhir::model::Model;
use hms_fhir::outcome::Severity;
use serde_json::Value;

use crate::error::Error;
use crate::fhir::ids::{LogicalId, ResourceType};
use crate::fhir::{resource as fres, time};
use crate::search::criteria::Criteria;
use crate::search::extract;
use crate::store::resources::{self, NewVersion};
use crate::store::{AnyConnection, custom_params, index, now_micros};

use super::{Services, Stored, check_type};

/// How a write ended, which decides the HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteKind {
    /// A new resource (201).
    Created,
    /// A new version of an existing resource (200).
    Updated,
    /// Nothing written: a conditional create matched an existing resource (200).
    Unchanged,
}

#[derive(Debug, Clone)]
pub struct Written {
    pub kind: WriteKind,
    pub stored: Stored,
}

/// Structural validation against the R4 definitions; warnings do not block.
pub fn validate(resource: &Value) -> Result<(), Error> {
    let issues = hms_fhir::validate::validate_resource(Model::r4(), resource);
    if issues
        .iter()
        .any(|i| matches!(i.severity, Severity::Error | Severity::Fatal))
    {
        return Err(Error::Invalid(issues));
    }
    Ok(())
}

/// POST [type] — always a server-assigned id; with `if_none_exist`, a conditional create.
pub fn create(
    s: &Services,
    t: &ResourceType,
    resource: Value,
    if_none_exist: Option<&str>,
) -> Result<Written, Error> {
    check_type(&resource, t)?;
    validate(&resource)?;
    crate::sync::guard::check_resource(&resource, s.allow_private_endpoints)?;
    let criteria = if_none_exist.map(Criteria::parse).transpose()?;
    s.store
        .write(|conn| create_in_tx(conn, t, resource.clone(), criteria.as_ref()))
}

/// The create step inside a caller's transaction (the resource is already validated).
pub fn create_in_tx(
    conn: &mut AnyConnection,
    t: &ResourceType,
    resource: Value,
    if_none_exist: Option<&Criteria>,
) -> Result<Written, Error> {
    if let Some(c) = if_none_exist {
        resources::take_write_lock(conn, &format!("{t}?{}", c.canonical()))?;
        let hits = c.find(conn, t.as_str(), 2)?;
        match hits.as_slice() {
            [] => {}
            [one] => {
                let v = resources::read_current(conn, t.as_str(), &one.res_id)?
                    .ok_or_else(|| Error::Internal("matched resource vanished".into()))?;
                return Ok(Written {
                    kind: WriteKind::Unchanged,
                    stored: Stored::from_version(v)?,
                });
            }
            _ => {
                return Err(Error::PreconditionFailed(format!(
                    "If-None-Exist criteria match more than one {t}"
                )));
            }
        }
    }
    let id = LogicalId::generate();
    insert_new(conn, t, &id, resource, "POST")
}

/// Creates version 1 at an id the caller chose (a transaction assigns ids before it writes so that
/// references between entries can be rewritten first). History method POST.
pub fn create_at_in_tx(
    conn: &mut AnyConnection,
    t: &ResourceType,
    id: &LogicalId,
    resource: Value,
) -> Result<Written, Error> {
    insert_new(conn, t, id, resource, "POST")
}

/// PUT [type]/[id]. Creates with the client's id when absent (update-as-create).
pub fn update(
    s: &Services,
    t: &ResourceType,
    id: &LogicalId,
    resource: Value,
    if_match: Option<i64>,
    if_none_match_any: bool,
) -> Result<Written, Error> {
    check_type(&resource, t)?;
    match resource.get("id") {
        Some(Value::String(body_id)) if body_id == id.as_str() => {}
        Some(Value::String(body_id)) => {
            return Err(Error::invalid(
                Some(&format!("{t}.id")),
                format!("resource id {body_id:?} does not match the id in the URL ({id})"),
            ));
        }
        Some(_) => {
            return Err(Error::invalid(
                Some(&format!("{t}.id")),
                "id must be a string",
            ));
        }
        None => {
            return Err(Error::invalid(
                Some(&format!("{t}.id")),
                "an update must carry the resource id in the body",
            ));
        }
    }
    validate(&resource)?;
    crate::sync::guard::check_resource(&resource, s.allow_private_endpoints)?;
    s.store
        .write(|conn| update_in_tx(conn, t, id, resource.clone(), if_match, if_none_match_any))
}

/// The update step inside a caller's transaction (the resource is already validated and its id
/// checked against the URL).
pub fn update_in_tx(
    conn: &mut AnyConnection,
    t: &ResourceType,
    id: &LogicalId,
    resource: Value,
    if_match: Option<i64>,
    if_none_match_any: bool,
) -> Result<Written, Error> {
    update_with_method_in_tx(conn, t, id, resource, if_match, if_none_match_any, "PUT")
}

/// The update step recording `method` (PUT, PATCH) in the history.
pub fn update_with_method_in_tx(
    conn: &mut AnyConnection,
    t: &ResourceType,
    id: &LogicalId,
    resource: Value,
    if_match: Option<i64>,
    if_none_match_any: bool,
    method: &str,
) -> Result<Written, Error> {
    let current = resources::current(conn, t.as_str(), id.as_str(), true)?;
    let Some(cur) = current else {
        if let Some(v) = if_match {
            return Err(Error::PreconditionFailed(format!(
                "If-Match W/\"{v}\" but {t}/{id} does not exist"
            )));
        }
        return insert_new(conn, t, id, resource, method);
    };
    if if_none_match_any && !cur.is_deleted() {
        return Err(Error::PreconditionFailed(format!(
            "If-None-Match: * but {t}/{id} already exists"
        )));
    }
    if let Some(v) = if_match
        && v != cur.version
    {
        return Err(Error::PreconditionFailed(format!(
            "version conflict: If-Match W/\"{v}\" but the current version of {t}/{id} is {}",
            cur.version
        )));
    }
    let kind = if cur.is_deleted() {
        WriteKind::Created
    } else {
        WriteKind::Updated
    };
    let version = cur.version + 1;
    let last_updated = now_micros().max(cur.last_updated + 1);
    let stored = store_version(
        conn,
        cur.rid,
        t,
        id,
        version,
        last_updated,
        resource,
        method,
    )?;
    resources::update_current(conn, cur.rid, version, last_updated, false)?;
    Ok(Written { kind, stored })
}

/// PUT [type]?criteria — 0 matches: create (with the body id if any), 1: update it, >1: 412.
pub fn conditional_update(
    s: &Services,
    t: &ResourceType,
    criteria: &str,
    resource: Value,
    if_match: Option<i64>,
) -> Result<Written, Error> {
    check_type(&resource, t)?;
    validate(&resource)?;
    crate::sync::guard::check_resource(&resource, s.allow_private_endpoints)?;
    let c = Criteria::parse(criteria)?;
    s.store
        .write(|conn| conditional_update_in_tx(conn, t, &c, resource.clone(), if_match))
}

/// The conditional-update step inside a caller's transaction.
pub fn conditional_update_in_tx(
    conn: &mut AnyConnection,
    t: &ResourceType,
    c: &Criteria,
    resource: Value,
    if_match: Option<i64>,
) -> Result<Written, Error> {
    resources::take_write_lock(conn, &format!("{t}?{}", c.canonical()))?;
    let hits = c.find(conn, t.as_str(), 2)?;
    let body_id = resource.get("id").and_then(Value::as_str);
    match hits.as_slice() {
        [] => {
            let id = match body_id {
                Some(b) => LogicalId::parse(b)?,
                None => LogicalId::generate(),
            };
            update_in_tx(conn, t, &id, resource.clone(), if_match, false)
        }
        [one] => {
            if let Some(b) = body_id
                && b != one.res_id
            {
                return Err(Error::invalid(
                    Some(&format!("{t}.id")),
                    format!(
                        "resource id {b:?} differs from the matched resource {}",
                        one.res_id
                    ),
                ));
            }
            let id = LogicalId::parse(&one.res_id)?;
            let mut body = resource.clone();
            if let Some(obj) = body.as_object_mut() {
                obj.insert("id".into(), Value::String(one.res_id.clone()));
            }
            update_in_tx(conn, t, &id, body, if_match, false)
        }
        _ => Err(Error::PreconditionFailed(format!(
            "conditional update criteria match more than one {t}"
        ))),
    }
}

/// Inserts version 1 of a new resource (or fails on an id clash, which the retry loop resolves).
fn insert_new(
    conn: &mut AnyConnection,
    t: &ResourceType,
    id: &LogicalId,
    resource: Value,
    method: &str,
) -> Result<Written, Error> {
    let last_updated = now_micros();
    let rid = resources::insert_current(conn, t.as_str(), id.as_str(), 1, last_updated)?;
    let stored = store_version(conn, rid, t, id, 1, last_updated, resource, method)?;
    Ok(Written {
        kind: WriteKind::Created,
        stored,
    })
}

#[allow(clippy::too_many_arguments)]
fn store_version(
    conn: &mut AnyConnection,
    rid: i64,
    t: &ResourceType,
    id: &LogicalId,
    version: i64,
    last_updated: i64,
    resource: Value,
    method: &str,
) -> Result<Stored, Error> {
    let stamped = fres::stamp(
        resource,
        id.as_str(),
        version,
        &time::fhir_instant(last_updated),
    );
    let body = serde_json::to_vec(&stamped).map_err(|e| Error::Internal(e.to_string()))?;
    resources::insert_history(
        conn,
        &NewVersion {
            rid,
            res_type: t.as_str(),
            res_id: id.as_str(),
            version,
            last_updated,
            method,
            content: Some(&body),
        },
    )?;
    super::audit::record_in_tx(
        conn,
        if version == 1 { "create" } else { "update" },
        t.as_str(),
        id.as_str(),
        version,
        last_updated,
    )?;
    let custom = crate::search::custom::from_rows(custom_params::live(conn)?);
    let zone = super::index_zone(conn)?;
    index::replace(
        conn,
        rid,
        t.as_str(),
        &extract::index_rows(&stamped, &custom, &zone),
    )?;
    if t.as_str() == "SearchParameter" {
        // A SearchParameter made through the API becomes a custom parameter (reindex pending).
        match crate::search::custom::registration(&stamped, id.as_str())? {
            Some(row) => {
                custom_params::upsert(conn, &row)?;
                let existing = custom_params::count_live(
                    conn,
                    &row.bases.split(',').map(str::to_string).collect::<Vec<_>>(),
                )?;
                custom_params::set_progress(conn, &row.url, "pending", 0, 0, existing)?;
            }
            None => custom_params::retire_by_resource(conn, id.as_str())?,
        }
    }
    crate::sync::hook::on_version(conn, t.as_str(), id.as_str(), version, Some(&stamped))?;
    Ok(Stored {
        res_type: t.to_string(),
        id: id.to_string(),
        version,
        last_updated,
        body: Some(body),
    })
}

/// What a delete did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deleted {
    /// A deletion version was written.
    Now { version: i64 },
    /// Nothing to do: never existed or already deleted (delete is idempotent).
    Nothing,
}

/// DELETE [type]/[id]; with `If-Match` only when that version is the current, live one (else 412).
pub fn delete(
    s: &Services,
    t: &ResourceType,
    id: &LogicalId,
    if_match: Option<i64>,
) -> Result<Deleted, Error> {
    s.store.write(|conn| {
        if let Some(v) = if_match {
            let live = resources::current(conn, t.as_str(), id.as_str(), true)?
                .filter(|cur| !cur.is_deleted())
                .map(|cur| cur.version);
            if live != Some(v) {
                return Err(Error::PreconditionFailed(match live {
                    Some(cur) => format!(
                        "version conflict: If-Match W/\"{v}\" but the current version of {t}/{id} is {cur}"
                    ),
                    None => format!("If-Match W/\"{v}\" but {t}/{id} does not exist"),
                }));
            }
        }
        delete_in_tx(conn, t, id)
    })
}

/// The delete step inside a caller's transaction.
pub fn delete_in_tx(
    conn: &mut AnyConnection,
    t: &ResourceType,
    id: &LogicalId,
) -> Result<Deleted, Error> {
    let Some(cur) = resources::current(conn, t.as_str(), id.as_str(), true)? else {
        return Ok(Deleted::Nothing);
    };
    if cur.is_deleted() {
        return Ok(Deleted::Nothing);
    }
    let version = cur.version + 1;
    let last_updated = now_micros().max(cur.last_updated + 1);
    resources::insert_history(
        conn,
        &NewVersion {
            rid: cur.rid,
            res_type: t.as_str(),
            res_id: id.as_str(),
            version,
            last_updated,
            method: "DELETE",
            content: None,
        },
    )?;
    super::audit::record_in_tx(
        conn,
        "delete",
        t.as_str(),
        id.as_str(),
        version,
        last_updated,
    )?;
    resources::update_current(conn, cur.rid, version, last_updated, true)?;
    index::clear(conn, cur.rid)?;
    if t.as_str() == "SearchParameter" {
        custom_params::retire_by_resource(conn, id.as_str())?;
    }
    crate::sync::hook::on_version(conn, t.as_str(), id.as_str(), version, None)?;
    Ok(Deleted::Now { version })
}

/// DELETE [type]?criteria — deletes the single match; more than one match → 412.
pub fn conditional_delete(
    s: &Services,
    t: &ResourceType,
    criteria: &str,
) -> Result<Deleted, Error> {
    let c = Criteria::parse(criteria)?;
    s.store.write(|conn| conditional_delete_in_tx(conn, t, &c))
}

/// The conditional-delete step inside a caller's transaction.
pub fn conditional_delete_in_tx(
    conn: &mut AnyConnection,
    t: &ResourceType,
    c: &Criteria,
) -> Result<Deleted, Error> {
    resources::take_write_lock(conn, &format!("{t}?{}", c.canonical()))?;
    let hits = c.find(conn, t.as_str(), 2)?;
    match hits.as_slice() {
        [] => Ok(Deleted::Nothing),
        [one] => delete_in_tx(conn, t, &LogicalId::parse(&one.res_id)?),
        _ => Err(Error::PreconditionFailed(format!(
            "conditional delete criteria match more than one {t}"
        ))),
    }
}
