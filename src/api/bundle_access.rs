//! Authorisation of batch/transaction Bundles entry by entry, like the single interactions:
//! scopes per entry, and for limited access (patient-context tokens, granular scopes) what it
//! allows (bodies must be within it, the resources updated, deleted or read must be within it). A
//! batch answers each refused entry with its own 403/404 and runs the others; a transaction with
//! any refused entry is refused whole before anything runs. Reads are checked again on the answer
//! (what was returned must be visible).

use serde_json::Value;

use crate::auth::scopes::{Access, Perm};
use crate::error::Error;
use crate::fhir::ids::{LogicalId, ResourceType};
use crate::interactions::read;

use super::AppState;
use super::auth::Guard;
use super::routes::blocking;

/// The edge's decision about a Bundle.
#[derive(Debug, Default)]
pub struct Decision {
    /// Batch entries answered with an error instead of running (index, error).
    pub refused: Vec<(usize, Error)>,
    /// Entries whose answer carries a resource to check against the access (index, access).
    pub reads: Vec<(usize, Access)>,
}

impl Decision {
    /// Nothing to change: the Bundle runs as sent.
    pub fn is_plain(&self) -> bool {
        self.refused.is_empty() && self.reads.is_empty()
    }
}

fn cannot(i: usize, method: &str, url: &str) -> Error {
    Error::Forbidden(format!(
        "Bundle entry {i}: cannot authorise request {method} {url}"
    ))
}

/// Names the entry in a refusal, keeping its kind (status).
fn at(i: usize, e: Error) -> Error {
    match e {
        Error::Forbidden(m) => Error::Forbidden(format!("Bundle entry {i}: {m}")),
        Error::NotFound(m) => Error::NotFound(format!("Bundle entry {i}: {m}")),
        other => other,
    }
}

/// Checks every entry for `guard` (`base`: our FHIR base, for absolute request URLs).
pub async fn decide(
    guard: &Guard,
    st: &AppState,
    bundle: &Value,
    base: &str,
) -> Result<Decision, Error> {
    let mut d = Decision::default();
    if guard.0.is_none() {
        return Ok(d);
    }
    let transaction = bundle.get("type").and_then(Value::as_str) == Some("transaction");
    let entries = bundle
        .get("entry")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[]);
    for (i, e) in entries.iter().enumerate() {
        match entry(guard, st, e, i, base, transaction).await {
            Ok(Some(access)) => d.reads.push((i, access)),
            Ok(None) => {}
            // One refused entry refuses a transaction, before anything runs.
            Err(err) if transaction => return Err(err),
            Err(err) => d.refused.push((i, err)),
        }
    }
    Ok(d)
}

/// One entry: Ok(Some(access)) when its answer must be checked against that access.
async fn entry(
    guard: &Guard,
    st: &AppState,
    e: &Value,
    i: usize,
    base: &str,
    transaction: bool,
) -> Result<Option<Access>, Error> {
    let req = e.get("request");
    let text = |k: &str| req.and_then(|r| r.get(k)).and_then(Value::as_str);
    let method = text("method").unwrap_or("");
    let url = text("url").unwrap_or("");
    let rel = url
        .strip_prefix(base)
        .unwrap_or(url)
        .trim_start_matches('/');
    let (path, query) = match rel.split_once('?') {
        Some((p, q)) => (p, Some(q)),
        None => (rel, None),
    };
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let Some(t) = segs.first().and_then(|t| ResourceType::parse(t).ok()) else {
        return Err(cannot(i, method, url));
    };
    let perm = match (method, segs.len()) {
        ("GET" | "HEAD", 1) => Perm::Search,
        ("GET" | "HEAD", _) => Perm::Read,
        ("POST", _) => Perm::Create,
        ("PUT" | "PATCH", _) => Perm::Update,
        ("DELETE", _) => Perm::Delete,
        _ => return Err(cannot(i, method, url)),
    };
    let access = guard.check(t.as_str(), perm).map_err(|e| at(i, e))?;
    if access.is_full() {
        return Ok(None);
    }
    let refuse = |what: &str| {
        Err(Error::Forbidden(format!(
            "Bundle entry {i}: {what} is not available to patient-context tokens or tokens with \
             search-restricted scopes"
        )))
    };
    let id = segs.get(1).and_then(|id| LogicalId::parse(id).ok());
    let body_inside = || e.get("resource").is_some_and(|r| access.admits(r));
    match (method, perm) {
        (_, Perm::Search) => refuse("search in a Bundle"),
        _ if query.is_some() || text("ifNoneExist").is_some() => refuse("a conditional request"),
        ("PATCH", _) => refuse("PATCH"),
        (_, Perm::Read) => {
            let Some(id) = id else {
                return Err(cannot(i, method, url));
            };
            // A transaction cannot take back what it committed: check before it runs. The answer
            // is checked again either way.
            if transaction {
                existing_visible(guard, st, &access, t, id, false)
                    .await
                    .map_err(|e| at(i, e))?;
            }
            Ok(Some(access))
        }
        (_, Perm::Create) => {
            if body_inside() {
                Ok(None)
            } else {
                refuse_body(i)
            }
        }
        (_, Perm::Update | Perm::Delete) => {
            let Some(id) = id else {
                return Err(cannot(i, method, url));
            };
            if perm == Perm::Update && !body_inside() {
                return refuse_body(i);
            }
            existing_visible(guard, st, &access, t, id, true)
                .await
                .map_err(|e| at(i, e))?;
            Ok(None)
        }
    }
}

fn refuse_body<T>(i: usize) -> Result<T, Error> {
    Err(Error::Forbidden(format!(
        "Bundle entry {i}: the resource is outside what the access token allows (its patient's \
         compartment, its scopes' search restrictions)"
    )))
}

/// The current resource, if any, must be within the access (404 otherwise, as if unknown; for a
/// `write`, 403 when it is in the compartment but does not match the granular scopes).
async fn existing_visible(
    guard: &Guard,
    st: &AppState,
    access: &Access,
    t: ResourceType,
    id: LogicalId,
    write: bool,
) -> Result<(), Error> {
    let svc = st.services.clone();
    match blocking(move || read::read(&svc, &t, &id)).await {
        Ok(s) if write => guard.writable(access, &s),
        Ok(s) => guard.visible(access, &s),
        Err(Error::NotFound(_)) | Err(Error::Gone(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// The Bundle without the refused entries (what the engine runs).
pub fn without_refused(mut bundle: Value, d: &Decision) -> Value {
    if let Some(entries) = bundle.get_mut("entry").and_then(Value::as_array_mut) {
        let mut i = 0;
        entries.retain(|_| {
            let keep = !d.refused.iter().any(|(r, _)| *r == i);
            i += 1;
            keep
        });
    }
    bundle
}

/// The engine's answer with the refused entries put back at their places, and read answers that
/// carry a resource outside the token's access replaced by 404.
pub fn merge_response(response: &[u8], d: Decision) -> Result<Vec<u8>, Error> {
    let mut v: Value = serde_json::from_slice(response)
        .map_err(|e| Error::Internal(format!("cannot re-read the Bundle response: {e}")))?;
    let Some(obj) = v.as_object_mut() else {
        return Err(Error::Internal(
            "the Bundle response is not an object".into(),
        ));
    };
    // Every entry may have been refused: the engine then answered with no `entry` at all.
    let Some(out) = obj
        .entry("entry")
        .or_insert_with(|| Value::Array(Vec::new()))
        .as_array_mut()
    else {
        return Err(Error::Internal(
            "Bundle.entry of the response is not an array".into(),
        ));
    };
    let mut refused = d.refused;
    refused.sort_by_key(|(i, _)| *i);
    for (i, err) in refused {
        let at = i.min(out.len());
        out.insert(at, error_entry(&err));
    }
    for (i, access) in d.reads {
        if let Some(slot) = out.get_mut(i) {
            let hidden = slot.get("resource").is_some_and(|r| !access.admits(r));
            if hidden {
                *slot = error_entry(&Error::NotFound(format!(
                    "Bundle entry {i}: the resource is not known"
                )));
            }
        }
    }
    serde_json::to_vec(&v).map_err(|e| Error::Internal(e.to_string()))
}

fn error_entry(err: &Error) -> Value {
    let (status, _) = super::error::classify(err);
    let text = format!(
        "{} {}",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    );
    serde_json::json!({"response": {
        "status": text.trim_end(),
        "outcome": crate::fhir::outcome::operation_outcome(&super::error::issues_of(err)),
    }})
}
