//! Executes, inside the caller's database transaction, the transaction Bundles that the HL7 v2
//! mapper emits: conditional PUT upserts linked by `urn:uuid` fullUrls, POST (Provenance) and
//! conditional PATCH with a JSON Patch `Binary` (A40 merges). Interim: the general transaction
//! engine (issue 4, `interactions::transaction`) replaces this once it is merged.
//!
//! FHIR transaction rules kept: every conditional target is resolved (and its id fixed) before any
//! entry is written, `urn:uuid` references are rewritten to `Type/id`, each resource is validated,
//! and any failure fails the whole Bundle (the caller rolls the transaction back).

use std::collections::HashMap;

use base64::Engine;
use serde_json::Value;

use crate::error::Error;
use crate::fhir::ids::{LogicalId, ResourceType};
use crate::fhir::json_patch;
use crate::search::criteria::Criteria;
use crate::store::{AnyConnection, resources};

use super::write::{self, Written};

/// One executed entry: `Type/id/_history/version`.
pub type VersionRef = String;

enum Target {
    /// `Type?criteria`
    Conditional(ResourceType, Criteria),
    /// `Type/id`
    Instance(ResourceType, LogicalId),
    /// `Type` (POST)
    Type(ResourceType),
}

fn target(url: &str) -> Result<Target, Error> {
    if let Some((t, query)) = url.split_once('?') {
        return Ok(Target::Conditional(
            ResourceType::parse(t)?,
            Criteria::parse(query)?,
        ));
    }
    match url.split_once('/') {
        Some((t, id)) => Ok(Target::Instance(
            ResourceType::parse(t)?,
            LogicalId::parse(id)?,
        )),
        None => Ok(Target::Type(ResourceType::parse(url)?)),
    }
}

/// The single live match of `c`, None when there is none, 412 when there are several.
fn single_match(
    conn: &mut AnyConnection,
    t: &ResourceType,
    c: &Criteria,
) -> Result<Option<String>, Error> {
    resources::take_write_lock(conn, &format!("{t}?{}", c.canonical()))?;
    let hits = c.find(conn, t.as_str(), 2)?;
    match hits.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(one.res_id.clone())),
        _ => Err(Error::PreconditionFailed(format!(
            "criteria match more than one {t}"
        ))),
    }
}

/// Executes `bundle` and returns the versions written, in entry order.
pub fn execute_in_tx(conn: &mut AnyConnection, bundle: &Value) -> Result<Vec<VersionRef>, Error> {
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let mut plan = Vec::with_capacity(entries.len());
    let mut urns: HashMap<String, String> = HashMap::new();
    // Pass 1: resolve every target so that urn:uuid references can be rewritten.
    for (i, e) in entries.iter().enumerate() {
        let at = |what: &str| format!("Bundle.entry[{i}].{what}");
        let method = e
            .pointer("/request/method")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid(Some(&at("request.method")), "missing"))?
            .to_string();
        let url = e
            .pointer("/request/url")
            .and_then(Value::as_str)
            .ok_or_else(|| Error::invalid(Some(&at("request.url")), "missing"))?;
        let tgt = target(url)?;
        let resolved = match (&method[..], &tgt) {
            ("PUT", Target::Conditional(t, c)) => Some(
                single_match(conn, t, c)?
                    .map(|id| LogicalId::parse(&id))
                    .transpose()?
                    .unwrap_or_else(LogicalId::generate),
            ),
            ("PUT", Target::Instance(_, id)) => Some(id.clone()),
            ("POST", Target::Type(_)) | ("PATCH", Target::Conditional(..)) => None,
            _ => {
                return Err(Error::NotImplemented(format!(
                    "{method} {url} in an HL7 transaction Bundle"
                )));
            }
        };
        if let (Some(id), Some(full_url), Target::Conditional(t, _) | Target::Instance(t, _)) =
            (&resolved, e.get("fullUrl").and_then(Value::as_str), &tgt)
            && full_url.starts_with("urn:uuid:")
        {
            urns.insert(full_url.to_string(), format!("{t}/{id}"));
        }
        plan.push((method, tgt, resolved, e.get("resource").cloned()));
    }
    // Pass 2: write, in entry order.
    let mut written = Vec::new();
    for (method, tgt, resolved, resource) in plan {
        let mut resource =
            resource.ok_or_else(|| Error::invalid(None, "entry without resource"))?;
        rewrite_references(&mut resource, &|r| urns.get(r).cloned());
        let w: Written = match (&method[..], tgt, resolved) {
            ("PUT", Target::Conditional(t, c), Some(id)) => {
                set_id(&mut resource, id.as_str());
                super::check_type(&resource, &t)?;
                write::validate(&resource)?;
                write::conditional_update_in_tx(conn, &t, &c, resource, None)?
            }
            ("PUT", Target::Instance(t, id), _) => {
                set_id(&mut resource, id.as_str());
                super::check_type(&resource, &t)?;
                write::validate(&resource)?;
                write::update_in_tx(conn, &t, &id, resource, None, false)?
            }
            ("POST", Target::Type(t), _) => {
                super::check_type(&resource, &t)?;
                write::validate(&resource)?;
                write::create_in_tx(conn, &t, resource, None)?
            }
            ("PATCH", Target::Conditional(t, c), _) => patch(conn, &t, &c, &resource)?,
            _ => return Err(Error::Internal("unplanned Bundle entry".into())),
        };
        written.push(format!(
            "{}/{}/_history/{}",
            w.stored.res_type, w.stored.id, w.stored.version
        ));
    }
    Ok(written)
}

fn set_id(resource: &mut Value, id: &str) {
    if let Some(obj) = resource.as_object_mut() {
        obj.insert("id".into(), Value::String(id.to_string()));
    }
}

/// Conditional PATCH: exactly one match, JSON Patch from a `Binary` resource.
fn patch(
    conn: &mut AnyConnection,
    t: &ResourceType,
    c: &Criteria,
    binary: &Value,
) -> Result<Written, Error> {
    let id = single_match(conn, t, c)?
        .ok_or_else(|| Error::NotFound(format!("conditional PATCH: no {t} matches")))?;
    let ops = binary
        .get("data")
        .and_then(Value::as_str)
        .ok_or_else(|| Error::invalid(Some("Binary.data"), "a PATCH entry needs Binary.data"))
        .and_then(|d| {
            base64::engine::general_purpose::STANDARD
                .decode(d)
                .map_err(|e| Error::invalid(Some("Binary.data"), format!("not base64: {e}")))
        })
        .and_then(|b| {
            serde_json::from_slice::<Value>(&b)
                .map_err(|e| Error::invalid(Some("Binary.data"), format!("not JSON: {e}")))
        })?;
    let cur = resources::read_current(conn, t.as_str(), &id)?
        .ok_or_else(|| Error::Internal("matched resource vanished".into()))?;
    let body = cur
        .json()?
        .ok_or_else(|| Error::Internal("matched resource has no content".into()))?;
    let doc: Value = serde_json::from_slice(&body).map_err(|e| Error::Internal(e.to_string()))?;
    let patched = json_patch::apply(&doc, &ops).map_err(|e| {
        Error::Unprocessable(vec![crate::error::issue(
            hms_fhir::outcome::Severity::Error,
            "processing",
            None,
            e.to_string(),
        )])
    })?;
    super::check_type(&patched, t)?;
    write::validate(&patched)?;
    let id = LogicalId::parse(&id)?;
    write::update_in_tx(conn, t, &id, patched, None, false)
}

/// Replaces every `reference` string for which `map` gives a replacement. Returns whether any did.
pub fn rewrite_references(v: &mut Value, map: &dyn Fn(&str) -> Option<String>) -> bool {
    let mut changed = false;
    match v {
        Value::Object(m) => {
            for (k, child) in m.iter_mut() {
                if k == "reference"
                    && let Value::String(s) = child
                {
                    if let Some(new) = map(s) {
                        *s = new;
                        changed = true;
                    }
                } else {
                    changed |= rewrite_references(child, map);
                }
            }
        }
        Value::Array(a) => {
            for child in a {
                changed |= rewrite_references(child, map);
            }
        }
        _ => {}
    }
    changed
}
