//! PATCH [type]/[id] and PATCH [type]?criteria with a JSON Patch (RFC 6902) or a FHIRPath Patch
//! (a Parameters resource). The result is validated like an update and stored as a new version
//! whose history method is PATCH.
//!
//! Statuses: a malformed patch document → 400; a JSON Patch `test` that fails, or a path that does
//! not exist → 422; If-Match on another version → 412; a result that is not a valid resource → 400.

use serde_json::Value;

use crate::error::Error;
use crate::fhir::ids::{LogicalId, ResourceType};
use crate::search::criteria::Criteria;
use crate::store::{AnyConnection, resources};

use super::write::{self, Written};
use super::{Services, Stored, fhirpath_patch, json_patch};

/// A parsed patch document.
#[derive(Debug, Clone)]
pub enum PatchDoc {
    /// RFC 6902 operations (the JSON array).
    Json(Vec<json_patch::Op>),
    /// A FHIRPath Patch Parameters resource.
    FhirPath(Value),
}

impl PatchDoc {
    /// A JSON Patch document (the body of `Content-Type: application/json-patch+json`).
    pub fn json(doc: &Value) -> Result<PatchDoc, Error> {
        Ok(PatchDoc::Json(json_patch::parse(doc)?))
    }

    /// A FHIRPath Patch (a Parameters resource).
    pub fn fhirpath(params: Value) -> Result<PatchDoc, Error> {
        fhirpath_patch::check(&params)?;
        Ok(PatchDoc::FhirPath(params))
    }

    /// The patch carried by a transaction entry: a Binary holding a JSON Patch (base64) or a
    /// Parameters resource.
    pub fn from_entry_resource(resource: &Value) -> Result<PatchDoc, Error> {
        match resource.get("resourceType").and_then(Value::as_str) {
            Some("Parameters") => PatchDoc::fhirpath(resource.clone()),
            Some("Binary") => {
                let ct = resource
                    .get("contentType")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                if !ct.starts_with("application/json-patch+json") {
                    return Err(Error::invalid(
                        Some("Binary.contentType"),
                        format!(
                            "a PATCH Binary must have contentType application/json-patch+json, not {ct:?}"
                        ),
                    ));
                }
                let data = resource.get("data").and_then(Value::as_str).unwrap_or("");
                use base64::Engine;
                let bytes = base64::engine::general_purpose::STANDARD
                    .decode(data.trim())
                    .map_err(|e| {
                        Error::invalid(Some("Binary.data"), format!("not valid base64: {e}"))
                    })?;
                let doc: Value = serde_json::from_slice(&bytes).map_err(|e| {
                    Error::invalid(
                        Some("Binary.data"),
                        format!("not a JSON Patch document: {e}"),
                    )
                })?;
                PatchDoc::json(&doc)
            }
            _ => Err(Error::invalid(
                Some("resource"),
                "a PATCH entry needs a Binary (JSON Patch) or a Parameters (FHIRPath Patch) resource",
            )),
        }
    }

    /// The JSON values the patch carries (for reference resolution inside transactions).
    pub fn values(&self) -> Vec<&Value> {
        match self {
            PatchDoc::Json(ops) => ops.iter().filter_map(json_patch::Op::value).collect(),
            PatchDoc::FhirPath(params) => vec![params],
        }
    }

    /// Applies the patch to a copy of `resource`.
    pub fn apply(&self, resource: &Value) -> Result<Value, Error> {
        match self {
            PatchDoc::Json(ops) => json_patch::apply(resource, ops),
            PatchDoc::FhirPath(params) => fhirpath_patch::apply(resource, params),
        }
    }
}

/// Which resource a PATCH is aimed at.
#[derive(Debug, Clone)]
pub enum PatchTarget {
    Id(LogicalId),
    Criteria(String),
}

/// What a limited caller (patient-context token, granular scopes) may patch: `before` sees the
/// stored resource, `after` the patched one, both inside the write's transaction; an error
/// refuses the patch.
pub struct PatchLimits<'a> {
    pub before: &'a dyn Fn(&Value) -> Result<(), Error>,
    pub after: &'a dyn Fn(&Value) -> Result<(), Error>,
}

/// PATCH over HTTP: one transaction. `limits`: None for callers with full access.
pub fn patch(
    s: &Services,
    t: &ResourceType,
    target: &PatchTarget,
    doc: &PatchDoc,
    if_match: Option<i64>,
    limits: Option<&PatchLimits<'_>>,
) -> Result<Written, Error> {
    let criteria = match target {
        PatchTarget::Criteria(q) => Some(Criteria::parse(q)?),
        PatchTarget::Id(_) => None,
    };
    s.store.write(|conn| {
        let id = match (&criteria, target) {
            (Some(c), _) => resolve_conditional(conn, t, c)?,
            (None, PatchTarget::Id(id)) => id.clone(),
            (None, PatchTarget::Criteria(_)) => {
                return Err(Error::Internal("criteria were not parsed".into()));
            }
        };
        if let Some(limits) = limits
            && let Some(cur) = resources::read_current(conn, t.as_str(), id.as_str())?
            && !cur.is_deleted()
        {
            let stored = Stored::from_version(cur)?;
            let before: Value = serde_json::from_slice(stored.body.as_deref().unwrap_or_default())
                .map_err(|e| Error::Internal(format!("stored {t}/{id} is not JSON: {e}")))?;
            (limits.before)(&before)?;
        }
        let allow = s.allow_private_endpoints;
        patch_in_tx_with(conn, t, &id, doc, if_match, &|v| {
            crate::sync::guard::check_resource(&v, allow)?;
            if let Some(limits) = limits {
                (limits.after)(&v)?;
            }
            Ok(v)
        })
    })
}

/// The single live match of conditional PATCH criteria: none → 404, several → 412.
pub fn resolve_conditional(
    conn: &mut AnyConnection,
    t: &ResourceType,
    c: &Criteria,
) -> Result<LogicalId, Error> {
    let hits = c.find(conn, t.as_str(), 2)?;
    match hits.as_slice() {
        [] => Err(Error::NotFound(format!(
            "no {t} matches the conditional PATCH criteria"
        ))),
        [one] => LogicalId::parse(&one.res_id),
        _ => Err(Error::PreconditionFailed(format!(
            "conditional PATCH criteria match more than one {t}"
        ))),
    }
}

/// The patch step inside a caller's transaction.
pub fn patch_in_tx(
    conn: &mut AnyConnection,
    t: &ResourceType,
    id: &LogicalId,
    doc: &PatchDoc,
    if_match: Option<i64>,
) -> Result<Written, Error> {
    patch_in_tx_with(conn, t, id, doc, if_match, &|v| Ok(v))
}

/// The patch step with `fix` applied to the patched resource before validation (a transaction
/// rewrites the references the patch added).
pub fn patch_in_tx_with(
    conn: &mut AnyConnection,
    t: &ResourceType,
    id: &LogicalId,
    doc: &PatchDoc,
    if_match: Option<i64>,
    fix: &dyn Fn(Value) -> Result<Value, Error>,
) -> Result<Written, Error> {
    let current = resources::read_current(conn, t.as_str(), id.as_str())?;
    let cur = match current {
        None => return Err(Error::NotFound(format!("{t}/{id} is not known"))),
        Some(v) if v.is_deleted() => {
            return Err(Error::Gone(format!("{t}/{id} was deleted")));
        }
        Some(v) => Stored::from_version(v)?,
    };
    if let Some(v) = if_match
        && v != cur.version
    {
        return Err(Error::PreconditionFailed(format!(
            "version conflict: If-Match W/\"{v}\" but the current version of {t}/{id} is {}",
            cur.version
        )));
    }
    let body = cur.body.unwrap_or_default();
    let before: Value = serde_json::from_slice(&body)
        .map_err(|e| Error::Internal(format!("stored {t}/{id} is not JSON: {e}")))?;
    let mut after = fix(doc.apply(&before)?)?;
    if after.get("resourceType") != before.get("resourceType") {
        return Err(Error::Unprocessable(vec![crate::error::issue(
            hms_fhir::outcome::Severity::Error,
            "business-rule",
            Some("resourceType"),
            "a patch may not change the resourceType",
        )]));
    }
    if after.get("id") != before.get("id") {
        return Err(Error::Unprocessable(vec![crate::error::issue(
            hms_fhir::outcome::Severity::Error,
            "business-rule",
            Some(&format!("{t}.id")),
            "a patch may not change the id",
        )]));
    }
    // The server owns versionId/lastUpdated; stamping replaces them.
    if let Some(obj) = after.as_object_mut() {
        obj.insert("id".into(), Value::String(id.to_string()));
    }
    write::validate(&after)?;
    write::update_with_method_in_tx(conn, t, id, after, if_match, false, "PATCH")
}
