//! POST [base] with a `transaction` or `batch` Bundle (R4 http.html#transaction).
//!
//! A transaction is one database transaction: a pre-pass parses and validates every entry, then
//! (inside the transaction) assigns every target id, resolves conditional creates/updates/deletes
//! and conditional references once each, rewrites every `reference` string, and executes the
//! entries in the order DELETE → POST → PUT/PATCH → GET/HEAD. Any failure rolls everything back and
//! is reported as that entry's error. A batch runs each entry in its own database transaction.

use std::collections::{HashMap, HashSet};

use actix_web::http::StatusCode;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::error::Error;
use crate::fhir::bundle::{self, Entry as OutEntry};
use crate::fhir::ids::{LogicalId, ResourceType, parse_version, truncate};
use crate::fhir::references::{self, Target};
use crate::fhir::{outcome, time};
use crate::search::criteria::Criteria;
use crate::store::{self, AnyConnection, resources};

use super::audit;
use super::patch::{self, PatchDoc};
use super::write::{self, Deleted, WriteKind, Written};
use super::{Services, Stored, check_type};

/// The default for `max_bundle_entries`.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

/// What each response entry carries for writes (Prefer: return=...).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Respond {
    Minimal,
    #[default]
    Representation,
    OperationOutcome,
}

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub respond: Respond,
    pub max_entries: usize,
    /// Prefer: handling=strict on the Bundle request: unknown search parameters in GET entries
    /// are an error instead of being ignored.
    pub strict: bool,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            respond: Respond::Representation,
            max_entries: DEFAULT_MAX_ENTRIES,
            strict: false,
        }
    }
}

/// A version a transaction wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Touched {
    pub res_type: String,
    pub id: String,
    pub version: i64,
}

/// What `process_in_tx` hands back: the response Bundle and every version written.
#[derive(Debug, Clone)]
pub struct TxOutcome {
    pub response: Value,
    pub touched: Vec<Touched>,
}

/// POST [base]: processes a transaction or batch Bundle and returns the response Bundle.
pub fn process(s: &Services, bundle: Value, base: &str) -> Result<Value, Error> {
    let bytes = process_with(s, bundle, base, &Options::default())?;
    serde_json::from_slice(&bytes).map_err(|e| Error::Internal(e.to_string()))
}

/// Like `process`, with options, returning the rendered response Bundle.
pub fn process_with(
    s: &Services,
    bundle: Value,
    base: &str,
    opts: &Options,
) -> Result<Vec<u8>, Error> {
    let bytes = serde_json::to_vec(&bundle).map_err(|e| Error::Internal(e.to_string()))?;
    drop(bundle);
    process_bytes(s, &bytes, base, opts)
}

/// POST [base] from the request body as received (the form that keeps memory low: entries stay raw
/// JSON until they are processed).
pub fn process_bytes(
    s: &Services,
    body: &[u8],
    base: &str,
    opts: &Options,
) -> Result<Vec<u8>, Error> {
    let prepared = prepare(body, base, opts.max_entries)?;
    match prepared.kind {
        Kind::Transaction => {
            let entries = prepared.ok_entries()?;
            let done = s.store.write(|conn| {
                let keep = opts.respond == Respond::Representation;
                run(
                    conn,
                    &entries,
                    base,
                    keep,
                    s.allow_private_endpoints,
                    opts.strict,
                )
                .map_err(|(_, e)| e)
            })?;
            Ok(render(entries_done(&entries, done), base, opts))
        }
        Kind::Batch => {
            let mut results: Vec<(usize, Result<Done, Error>)> = Vec::new();
            // Entries are independent: each runs in its own savepoint (a failure undoes only that
            // entry), and up to BATCH_CHUNK of them share one commit, which keeps large batches
            // (provider bundles, imports) from paying one fsync per entry.
            let ordered = prepared.ordered();
            for chunk in ordered.chunks(BATCH_CHUNK) {
                let r = s.store.write(|conn| -> Result<_, Error> {
                    let mut out = Vec::with_capacity(chunk.len());
                    for e in chunk {
                        match e {
                            Err((i, err)) => out.push((*i, Err(err.clone_shallow()))),
                            Ok(entry) => {
                                let r = store::savepoint(conn, |c| {
                                    run_one(c, entry, base, s.allow_private_endpoints, opts.strict)
                                });
                                out.push((entry.index, r));
                            }
                        }
                    }
                    Ok(out)
                });
                match r {
                    Ok(out) => results.extend(out),
                    Err(err) => {
                        for e in chunk {
                            let i = match e {
                                Ok(entry) => entry.index,
                                Err((i, _)) => *i,
                            };
                            results.push((i, Err(err.clone_shallow())));
                        }
                    }
                }
            }
            results.sort_by_key(|(i, _)| *i);
            Ok(render_batch(&prepared, results, base, opts))
        }
    }
}

/// Batch entries sharing one commit (each still in its own savepoint).
pub const BATCH_CHUNK: usize = 200;

/// One batch entry, resolved and executed on its own.
fn run_one(
    conn: &mut AnyConnection,
    entry: &Entry,
    base: &str,
    allow_private: bool,
    strict: bool,
) -> Result<Done, Error> {
    run(conn, &[entry], base, true, allow_private, strict)
        .map_err(|(_, e)| e)
        .and_then(|mut d| d.pop().ok_or_else(|| Error::Internal("no result".into())))
}

/// Processes a Bundle inside the caller's open database transaction. A transaction Bundle's
/// writes become part of that transaction (the caller commits or rolls back); batch entries each
/// run in their own savepoint.
pub fn process_in_tx(
    conn: &mut AnyConnection,
    bundle: &Value,
    base: &str,
) -> Result<TxOutcome, Error> {
    let opts = Options::default();
    let bytes = serde_json::to_vec(bundle).map_err(|e| Error::Internal(e.to_string()))?;
    let prepared = prepare(&bytes, base, opts.max_entries)?;
    let (bytes, touched) = match prepared.kind {
        Kind::Transaction => {
            let entries = prepared.ok_entries()?;
            // HL7 ingest: never a Subscription to a private endpoint.
            let done = run(conn, &entries, base, true, false, opts.strict).map_err(|(_, e)| e)?;
            let pairs = entries_done(&entries, done);
            let touched = pairs.iter().filter_map(|(_, d)| d.touched()).collect();
            (render(pairs, base, &opts), touched)
        }
        Kind::Batch => {
            let mut results = Vec::new();
            for e in prepared.ordered() {
                match e {
                    Err((i, err)) => results.push((*i, Err(err.clone_shallow()))),
                    Ok(entry) => {
                        let r =
                            store::savepoint(conn, |c| run_one(c, entry, base, false, opts.strict));
                        results.push((entry.index, r));
                    }
                }
            }
            results.sort_by_key(|(i, _)| *i);
            let touched = results
                .iter()
                .filter_map(|(_, r)| r.as_ref().ok().and_then(Done::touched))
                .collect();
            (render_batch(&prepared, results, base, &opts), touched)
        }
    };
    let response = serde_json::from_slice(&bytes).map_err(|e| Error::Internal(e.to_string()))?;
    Ok(TxOutcome { response, touched })
}

// ---------------------------------------------------------------------------------------------
// Parsing and checking the Bundle (no database).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Transaction,
    Batch,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Method {
    Get,
    Head,
    Post,
    Put,
    Patch,
    Delete,
}

impl Method {
    fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Head => "HEAD",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Patch => "PATCH",
            Method::Delete => "DELETE",
        }
    }

    /// Processing order: DELETE → POST → PUT/PATCH → GET/HEAD.
    fn rank(self) -> u8 {
        match self {
            Method::Delete => 0,
            Method::Post => 1,
            Method::Put | Method::Patch => 2,
            Method::Get | Method::Head => 3,
        }
    }
}

#[derive(Debug, Clone)]
enum Url {
    /// `Type` or `Type?query`.
    Type(ResourceType, Option<String>),
    Instance(ResourceType, LogicalId),
    Version(ResourceType, LogicalId, i64),
}

impl Url {
    fn res_type(&self) -> &ResourceType {
        match self {
            Url::Type(t, _) | Url::Instance(t, _) | Url::Version(t, _, _) => t,
        }
    }
}

#[derive(Debug)]
struct Entry<'a> {
    index: usize,
    full_url: Option<String>,
    method: Method,
    url: Url,
    raw_url: String,
    /// The resource's raw JSON (already validated), for POST and PUT.
    resource: Option<&'a [u8]>,
    /// The resource's id (PUT; a POST id is ignored).
    body_id: Option<String>,
    /// Distinct conditional references in the resource (or the patch).
    cond_refs: Vec<String>,
    patch: Option<PatchDoc>,
    if_none_exist: Option<String>,
    if_match: Option<i64>,
    if_none_match: Option<String>,
    if_modified_since: Option<i64>,
}

struct Prepared<'a> {
    kind: Kind,
    entries: Vec<Result<Entry<'a>, (usize, Error)>>,
}

impl<'a> Prepared<'a> {
    /// Every entry, or the first entry's error (a transaction fails as a whole).
    fn ok_entries(&self) -> Result<Vec<&Entry<'a>>, Error> {
        let mut out = Vec::with_capacity(self.entries.len());
        for e in &self.entries {
            match e {
                Ok(e) => out.push(e),
                Err((_, err)) => return Err(err.clone_shallow()),
            }
        }
        Ok(out)
    }

    /// Entries in processing order (errors first, they have nothing to process).
    fn ordered(&self) -> Vec<&Result<Entry<'a>, (usize, Error)>> {
        let mut v: Vec<_> = self.entries.iter().collect();
        v.sort_by_key(|e| match e {
            Ok(e) => (1, e.method.rank(), e.index),
            Err((i, _)) => (0, 0, *i),
        });
        v
    }
}

/// The Bundle with its entries kept as raw JSON: resources are parsed one at a time (to validate
/// them, and again when they are written) so that a large Bundle is never held as a whole tree.
#[derive(serde::Deserialize)]
struct Skeleton<'a> {
    #[serde(rename = "resourceType")]
    resource_type: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    #[serde(borrow)]
    entry: Option<Vec<&'a RawValue>>,
}

#[derive(serde::Deserialize)]
struct RawEntry<'a> {
    #[serde(rename = "fullUrl")]
    full_url: Option<String>,
    request: Option<Value>,
    #[serde(borrow)]
    resource: Option<&'a RawValue>,
}

fn prepare<'a>(body: &'a [u8], base: &str, max_entries: usize) -> Result<Prepared<'a>, Error> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(Error::invalid(
            None,
            "the request body is empty; a Bundle is required",
        ));
    }
    let skel: Skeleton<'_> = serde_json::from_slice(body)
        .map_err(|e| Error::invalid(None, format!("the body is not a JSON Bundle: {e}")))?;
    if skel.resource_type.as_deref() != Some("Bundle") {
        return Err(Error::invalid(
            Some("resourceType"),
            "POST to the base URL needs a Bundle of type transaction or batch",
        ));
    }
    let kind = match skel.kind.as_deref() {
        Some("transaction") => Kind::Transaction,
        Some("batch") => Kind::Batch,
        other => {
            return Err(Error::invalid(
                Some("Bundle.type"),
                format!(
                    "Bundle.type must be transaction or batch to be processed, not {}",
                    other.map_or("missing".to_string(), |t| format!("{t:?}"))
                ),
            ));
        }
    };
    let entries = skel.entry.unwrap_or_default();
    if entries.len() > max_entries {
        return Err(Error::PayloadTooLarge(format!(
            "the Bundle has {} entries; this server accepts at most {max_entries} (max_bundle_entries)",
            entries.len()
        )));
    }
    let raws: Vec<Result<RawEntry<'_>, (usize, Error)>> = entries
        .into_iter()
        .enumerate()
        .map(|(i, raw)| {
            serde_json::from_str::<RawEntry<'_>>(raw.get()).map_err(|e| {
                (
                    i,
                    at(
                        i,
                        None,
                        Error::invalid(None, format!("not a valid Bundle entry: {e}")),
                    ),
                )
            })
        })
        .collect();
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (i, e) in raws.iter().enumerate() {
        if let Ok(RawEntry {
            full_url: Some(u), ..
        }) = e
            && let Some(first) = seen.insert(u.as_str(), i)
        {
            return Err(Error::invalid(
                Some(&format!("Bundle.entry[{i}].fullUrl")),
                format!(
                    "entry {i} repeats the fullUrl {:?} of entry {first}",
                    truncate(u, 100)
                ),
            ));
        }
    }
    let entries = raws
        .into_iter()
        .enumerate()
        .map(|(i, e)| e.and_then(|e| prepare_entry(i, e, base).map_err(|err| (i, err))))
        .collect();
    Ok(Prepared { kind, entries })
}

fn prepare_entry<'a>(i: usize, e: RawEntry<'a>, base: &str) -> Result<Entry<'a>, Error> {
    let full_url = e.full_url;
    let request = e.request.unwrap_or(Value::Null);
    let text = |k: &str| request.get(k).and_then(Value::as_str).map(str::to_string);
    let method = match text("method").as_deref() {
        Some("GET") => Method::Get,
        Some("HEAD") => Method::Head,
        Some("POST") => Method::Post,
        Some("PUT") => Method::Put,
        Some("PATCH") => Method::Patch,
        Some("DELETE") => Method::Delete,
        Some(m) => {
            return Err(at(
                i,
                None,
                Error::invalid(
                    Some(&format!("Bundle.entry[{i}].request.method")),
                    format!("unknown method {m:?}"),
                ),
            ));
        }
        None => {
            return Err(at(
                i,
                None,
                Error::invalid(
                    Some(&format!("Bundle.entry[{i}].request")),
                    "request.method and request.url are required",
                ),
            ));
        }
    };
    let raw_url = text("url").unwrap_or_default();
    let label = format!("{} {}", method.as_str(), truncate(&raw_url, 100));
    let fail = |err: Error| at(i, Some(&label), err);
    let url = parse_url(&raw_url, base).map_err(fail)?;
    if url.res_type().as_str() == "AuditEvent" {
        // The audit log is written by the server only, and read through GET [base]/AuditEvent.
        return Err(fail(Error::MethodNotAllowed(
            "AuditEvent records cannot be created, changed, deleted or read in a Bundle".into(),
        )));
    }
    let if_match = match text("ifMatch") {
        None => None,
        Some(v) => Some(parse_version(&v).ok_or_else(|| {
            fail(Error::invalid(
                Some(&format!("Bundle.entry[{i}].request.ifMatch")),
                format!("ifMatch {v:?} is not a version ETag like W/\"3\""),
            ))
        })?),
    };
    let if_modified_since = match text("ifModifiedSince") {
        None => None,
        Some(v) => Some(
            time::parse_fhir_range(&v, &time::Zone::Utc)
                .map(|(low, _)| low)
                .ok_or_else(|| {
                    fail(Error::invalid(
                        Some(&format!("Bundle.entry[{i}].request.ifModifiedSince")),
                        format!("ifModifiedSince {v:?} is not an instant"),
                    ))
                })?,
        ),
    };
    let raw_resource = e.resource.map(|r| r.get().as_bytes());
    let mut resource = match raw_resource {
        Some(bytes) => Some(
            hms_fhir::json::parse_resource(bytes)
                .map_err(|issue| fail(Error::Invalid(vec![issue])))?,
        ),
        None => None,
    };
    let t = url.res_type().clone();
    let shape_ok = matches!(
        (method, &url),
        (Method::Post, Url::Type(_, None))
            | (
                Method::Put | Method::Delete | Method::Patch,
                Url::Instance(..)
            )
            | (
                Method::Put | Method::Delete | Method::Patch,
                Url::Type(_, Some(_))
            )
            | (Method::Get | Method::Head, _)
    );
    if !shape_ok {
        return Err(fail(Error::invalid(
            Some(&format!("Bundle.entry[{i}].request.url")),
            format!(
                "{} cannot be used with the url {:?}",
                method.as_str(),
                truncate(&raw_url, 100)
            ),
        )));
    }
    let mut patch_doc = None;
    match method {
        Method::Post | Method::Put => {
            let r = resource.as_ref().ok_or_else(|| {
                fail(Error::invalid(
                    Some(&format!("Bundle.entry[{i}].resource")),
                    format!("a {} entry needs a resource", method.as_str()),
                ))
            })?;
            check_type(r, &t).map_err(fail)?;
            if let (Method::Put, Url::Instance(_, id)) = (method, &url) {
                match r.get("id") {
                    Some(Value::String(b)) if b == id.as_str() => {}
                    Some(Value::String(b)) => {
                        return Err(fail(Error::invalid(
                            Some(&format!("{t}.id")),
                            format!(
                                "resource id {b:?} does not match the id in request.url ({id})"
                            ),
                        )));
                    }
                    _ => {
                        return Err(fail(Error::invalid(
                            Some(&format!("{t}.id")),
                            "a PUT entry's resource must carry the id of request.url",
                        )));
                    }
                }
            }
            if let Some(r) = &resource {
                write::validate(r).map_err(fail)?;
            }
        }
        Method::Patch => {
            let r = resource.take().ok_or_else(|| {
                fail(Error::invalid(
                    Some(&format!("Bundle.entry[{i}].resource")),
                    "a PATCH entry needs a Binary or Parameters resource",
                ))
            })?;
            patch_doc = Some(PatchDoc::from_entry_resource(&r).map_err(fail)?);
        }
        _ => {}
    }
    // Only what resolution needs is kept; the resource is parsed again when it is written.
    let mut cond_refs: Vec<String> = Vec::new();
    let carried: Vec<&Value> = match (&resource, &patch_doc) {
        (Some(r), _) => vec![r],
        (None, Some(p)) => p.values(),
        (None, None) => Vec::new(),
    };
    for r in carried {
        references::visit(r, &mut |s| {
            if let Target::Conditional { .. } = references::classify(s)
                && !cond_refs.iter().any(|w| w == s)
            {
                cond_refs.push(s.to_string());
            }
        });
    }
    let body_id = resource
        .as_ref()
        .and_then(|r| r.get("id"))
        .and_then(Value::as_str)
        .filter(|_| method != Method::Post)
        .map(str::to_string);
    drop(resource);
    Ok(Entry {
        index: i,
        full_url,
        method,
        url,
        raw_url,
        resource: if matches!(method, Method::Post | Method::Put) {
            raw_resource
        } else {
            None
        },
        body_id,
        cond_refs,
        patch: patch_doc,
        if_none_exist: text("ifNoneExist").map(|s| s.trim_start_matches('?').to_string()),
        if_match,
        if_none_match: text("ifNoneMatch"),
        if_modified_since,
    })
}

fn parse_url(raw: &str, base: &str) -> Result<Url, Error> {
    let mut rel = raw.trim();
    if let Some(r) = rel.strip_prefix(base) {
        rel = r;
    } else if rel.starts_with("http://") || rel.starts_with("https://") {
        return Err(Error::invalid(
            Some("request.url"),
            format!(
                "request.url {:?} is not on this server ({base})",
                truncate(raw, 100)
            ),
        ));
    }
    let rel = rel.trim_start_matches('/');
    let (path, query) = match rel.split_once('?') {
        Some((p, q)) => (p, Some(q.to_string())),
        None => (rel, None),
    };
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        [t] => Ok(Url::Type(ResourceType::parse(t)?, query)),
        [t, id] if query.is_none() => Ok(Url::Instance(
            ResourceType::parse(t)?,
            LogicalId::parse(id)?,
        )),
        [t, id, "_history", v] if query.is_none() => Ok(Url::Version(
            ResourceType::parse(t)?,
            LogicalId::parse(id)?,
            parse_version(v)
                .ok_or_else(|| Error::invalid(None, format!("invalid version id {v:?}")))?,
        )),
        _ => Err(Error::invalid(
            Some("request.url"),
            format!(
                "request.url {:?} is not a supported interaction",
                truncate(raw, 100)
            ),
        )),
    }
}

/// Names the entry in an error's message, keeping the error's kind (and so its status).
fn at(i: usize, label: Option<&str>, e: Error) -> Error {
    let prefix = match label {
        Some(l) => format!("Bundle.entry[{i}] ({l}): "),
        None => format!("Bundle.entry[{i}]: "),
    };
    match e {
        Error::Invalid(mut issues) => {
            for is in &mut issues {
                is.diagnostics = format!("{prefix}{}", is.diagnostics);
            }
            Error::Invalid(issues)
        }
        Error::Unprocessable(mut issues) => {
            for is in &mut issues {
                is.diagnostics = format!("{prefix}{}", is.diagnostics);
            }
            Error::Unprocessable(issues)
        }
        Error::NotFound(m) => Error::NotFound(format!("{prefix}{m}")),
        Error::Gone(m) => Error::Gone(format!("{prefix}{m}")),
        Error::Conflict(m) => Error::Conflict(format!("{prefix}{m}")),
        Error::PreconditionFailed(m) => Error::PreconditionFailed(format!("{prefix}{m}")),
        Error::MethodNotAllowed(m) => Error::MethodNotAllowed(format!("{prefix}{m}")),
        Error::NotImplemented(m) => Error::NotImplemented(format!("{prefix}{m}")),
        other => other,
    }
}

trait CloneShallow {
    fn clone_shallow(&self) -> Error;
}

impl CloneShallow for Error {
    /// Errors are not Clone (the store error wraps diesel's); prepare-time errors never hold one.
    fn clone_shallow(&self) -> Error {
        match self {
            Error::Invalid(i) => Error::Invalid(i.clone()),
            Error::Unprocessable(i) => Error::Unprocessable(i.clone()),
            Error::NotFound(m) => Error::NotFound(m.clone()),
            Error::Unauthorized(m) => Error::Unauthorized(m.clone()),
            Error::Forbidden(m) => Error::Forbidden(m.clone()),
            Error::Gone(m) => Error::Gone(m.clone()),
            Error::MethodNotAllowed(m) => Error::MethodNotAllowed(m.clone()),
            Error::NotAcceptable(m) => Error::NotAcceptable(m.clone()),
            Error::Conflict(m) => Error::Conflict(m.clone()),
            Error::PreconditionFailed(m) => Error::PreconditionFailed(m.clone()),
            Error::PayloadTooLarge(m) => Error::PayloadTooLarge(m.clone()),
            Error::UriTooLong(m) => Error::UriTooLong(m.clone()),
            Error::UnsupportedMediaType(m) => Error::UnsupportedMediaType(m.clone()),
            Error::NotImplemented(m) => Error::NotImplemented(m.clone()),
            Error::Unavailable(m) => Error::Unavailable(m.clone()),
            Error::AuditUnavailable(m) => Error::AuditUnavailable(m.clone()),
            Error::Internal(m) => Error::Internal(m.clone()),
            Error::TooManyRequests {
                message,
                retry_after_secs,
            } => Error::TooManyRequests {
                message: message.clone(),
                retry_after_secs: *retry_after_secs,
            },
            Error::Store(e) => Error::Internal(e.to_string()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resolution and execution (inside a database transaction).

/// What an entry will do once targets are known.
#[derive(Debug, Clone)]
enum Plan {
    /// Create at this fresh id.
    New(LogicalId),
    /// ifNoneExist matched this resource: nothing is written.
    Existing(String),
    /// Update / patch / delete / read this id.
    At(LogicalId),
    /// A conditional delete that matched nothing.
    Nothing,
    /// Reads and searches.
    Read,
}

/// The result of one entry.
#[derive(Debug)]
enum Done {
    Written(Written),
    Deleted(Deleted, ResourceType, Option<LogicalId>),
    Read(Stored),
    NotModified(Stored),
    Searched(Vec<u8>),
}

impl Done {
    fn touched(&self) -> Option<Touched> {
        match self {
            Done::Written(w) if w.kind != WriteKind::Unchanged => Some(Touched {
                res_type: w.stored.res_type.clone(),
                id: w.stored.id.clone(),
                version: w.stored.version,
            }),
            Done::Deleted(Deleted::Now { version }, t, Some(id)) => Some(Touched {
                res_type: t.to_string(),
                id: id.to_string(),
                version: *version,
            }),
            _ => None,
        }
    }
}

type RunError = (usize, Error);

/// Resolves and executes `entries` on `conn` (already inside a transaction); results in the
/// order of `entries`.
/// `keep_bodies`: whether written resources stay in the results (for the response); without it
/// memory stays flat on large transactions answered with `return=minimal`.
fn run(
    conn: &mut AnyConnection,
    entries: &[&Entry],
    base: &str,
    keep_bodies: bool,
    allow_private: bool,
    strict: bool,
) -> Result<Vec<Done>, RunError> {
    let fail = |e: &Entry, err: Error| {
        (
            e.index,
            at(
                e.index,
                Some(&format!(
                    "{} {}",
                    e.method.as_str(),
                    truncate(&e.raw_url, 100)
                )),
                err,
            ),
        )
    };
    // 1. Targets: fresh ids, conditional matches (criteria may name other entries' fullUrls).
    let urls: HashSet<&str> = entries
        .iter()
        .filter_map(|e| e.full_url.as_deref())
        .collect();
    let mut map: HashMap<String, String> = HashMap::new();
    let mut plans: Vec<Option<Plan>> = vec![None; entries.len()];
    let mut pending: Vec<usize> = Vec::new();
    for (k, e) in entries.iter().enumerate() {
        let plan = match (e.method, &e.url) {
            (Method::Post, _) if e.if_none_exist.is_none() => {
                Some(Plan::New(LogicalId::generate()))
            }
            (Method::Post, _) => None,
            (Method::Put | Method::Patch | Method::Delete, Url::Instance(_, id)) => {
                Some(Plan::At(id.clone()))
            }
            (Method::Put | Method::Patch | Method::Delete, _) => None,
            (Method::Get | Method::Head, _) => Some(Plan::Read),
        };
        match plan {
            Some(p) => {
                record(&mut map, e, &p, base);
                plans[k] = Some(p);
            }
            None => pending.push(k),
        }
    }
    while !pending.is_empty() {
        let mut progressed = false;
        let mut still = Vec::new();
        for k in pending {
            let e = entries[k];
            let query = match (&e.url, &e.if_none_exist) {
                (_, Some(q)) if e.method == Method::Post => q.clone(),
                (Url::Type(_, Some(q)), _) => q.clone(),
                _ => return Err(fail(e, Error::Internal("no criteria".into()))),
            };
            let waiting = urns_in(&query).into_iter().any(|u| {
                urls.contains(u) && !map.contains_key(u) && Some(u) != e.full_url.as_deref()
            });
            if waiting {
                still.push(k);
                continue;
            }
            let query = substitute(&query, &map);
            let plan = resolve_conditional(conn, e, &query).map_err(|err| fail(e, err))?;
            record(&mut map, e, &plan, base);
            plans[k] = Some(plan);
            progressed = true;
        }
        if !progressed && !still.is_empty() {
            let list: Vec<String> = still
                .iter()
                .map(|k| entries[*k].index.to_string())
                .collect();
            let e = entries[still[0]];
            return Err(fail(
                e,
                Error::invalid(
                    None,
                    format!(
                        "circular conditional criteria between entries {}: each names another's fullUrl",
                        list.join(", ")
                    ),
                ),
            ));
        }
        pending = still;
    }
    // 2. Conditional references, each distinct one looked up once.
    let mut cond: HashMap<String, String> = HashMap::new();
    for e in entries {
        let wanted: Vec<&String> = e
            .cond_refs
            .iter()
            .filter(|w| !cond.contains_key(*w))
            .collect();
        for w in wanted {
            let hit = resolve_reference(conn, w, &map).map_err(|err| fail(e, err))?;
            cond.insert(w.clone(), hit);
        }
    }
    // 3. Execute in processing order.
    let mut order: Vec<usize> = (0..entries.len()).collect();
    order.sort_by_key(|k| (entries[*k].method.rank(), *k));
    let mut done: Vec<Option<Done>> = (0..entries.len()).map(|_| None).collect();
    for k in order {
        let e = entries[k];
        let plan = plans[k].clone().unwrap_or(Plan::Read);
        let resource = match e.resource {
            Some(raw) => {
                let mut r = hms_fhir::json::parse_resource(raw)
                    .map_err(|issue| fail(e, Error::Invalid(vec![issue])))?;
                if e.method == Method::Post
                    && let Some(obj) = r.as_object_mut()
                {
                    // POST always gets a server id; a client id is ignored.
                    obj.remove("id");
                }
                Some(rewrite(r, &map, &cond, base).map_err(|err| fail(e, err))?)
            }
            None => None,
        };
        // Subscription endpoints are checked on the final body (references rewritten, patches
        // applied), like a plain create/update.
        if let Some(r) = &resource {
            crate::sync::guard::check_resource(r, allow_private).map_err(|err| fail(e, err))?;
        }
        let fix = |v: Value| {
            let v = rewrite(v, &map, &cond, base)?;
            crate::sync::guard::check_resource(&v, allow_private)?;
            Ok(v)
        };
        let mut d = execute(conn, e, plan, resource, &fix, strict).map_err(|err| fail(e, err))?;
        if !keep_bodies && let Done::Written(w) = &mut d {
            w.stored.body = None;
        }
        done[k] = Some(d);
    }
    done.into_iter()
        .map(|d| d.ok_or((0, Error::Internal("entry not executed".into()))))
        .collect()
}

/// Remembers where an entry's fullUrl (and, for an absolute RESTful fullUrl, its `Type/id`) points.
fn record(map: &mut HashMap<String, String>, e: &Entry, plan: &Plan, base: &str) {
    let t = e.url.res_type();
    let id = match plan {
        Plan::New(id) | Plan::At(id) => id.to_string(),
        Plan::Existing(id) => id.clone(),
        Plan::Nothing | Plan::Read => return,
    };
    let target = format!("{t}/{id}");
    if let Some(u) = &e.full_url {
        if let Some((b, ft, fid)) = references::split_absolute(u)
            && ft == t.as_str()
        {
            let alias = format!("{ft}/{fid}");
            if b == base || !map.contains_key(&alias) {
                map.insert(alias, target.clone());
            }
        }
        map.insert(u.clone(), target);
    }
}

/// `urn:uuid:`/`urn:oid:` values inside a criteria query.
fn urns_in(query: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = query;
    while let Some(pos) = rest.find("urn:") {
        let tail = &rest[pos..];
        let end = tail.find(['&', ',', '|']).unwrap_or(tail.len());
        out.push(&tail[..end]);
        rest = &tail[end..];
    }
    out
}

fn substitute(query: &str, map: &HashMap<String, String>) -> String {
    let mut q = query.to_string();
    for u in urns_in(query) {
        if let Some(to) = map.get(u) {
            q = q.replace(u, to);
        }
    }
    q
}

fn resolve_conditional(conn: &mut AnyConnection, e: &Entry, query: &str) -> Result<Plan, Error> {
    let t = e.url.res_type();
    let c = Criteria::parse(query)?;
    resources::take_write_lock(conn, &format!("{t}?{}", c.canonical()))?;
    let hits = c.find(conn, t.as_str(), 2)?;
    let what = match e.method {
        Method::Post => "ifNoneExist",
        Method::Put => "conditional update",
        Method::Delete => "conditional delete",
        _ => "conditional patch",
    };
    match (hits.as_slice(), e.method) {
        ([_, _, ..], _) => Err(Error::PreconditionFailed(format!(
            "{what} criteria match more than one {t}"
        ))),
        ([one], Method::Post) => Ok(Plan::Existing(one.res_id.clone())),
        ([one], Method::Put) => {
            if let Some(b) = e.body_id.as_deref()
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
            Ok(Plan::At(LogicalId::parse(&one.res_id)?))
        }
        ([one], _) => Ok(Plan::At(LogicalId::parse(&one.res_id)?)),
        ([], Method::Post) => Ok(Plan::New(LogicalId::generate())),
        ([], Method::Put) => match e.body_id.as_deref() {
            Some(b) => Ok(Plan::At(LogicalId::parse(b)?)),
            None => Ok(Plan::At(LogicalId::generate())),
        },
        ([], Method::Delete) => Ok(Plan::Nothing),
        ([], _) => Err(Error::NotFound(format!(
            "no {t} matches the {what} criteria"
        ))),
    }
}

fn resolve_reference(
    conn: &mut AnyConnection,
    reference: &str,
    map: &HashMap<String, String>,
) -> Result<String, Error> {
    let Target::Conditional { res_type, query } = references::classify(reference) else {
        return Err(Error::Internal("not a conditional reference".into()));
    };
    let t = ResourceType::parse(res_type).map_err(|_| {
        Error::invalid(
            None,
            format!("conditional reference {reference:?} names an unknown resource type"),
        )
    })?;
    let c = Criteria::parse(&substitute(query, map))?;
    let hits = c.find(conn, t.as_str(), 2)?;
    match hits.as_slice() {
        [one] => Ok(format!("{t}/{}", one.res_id)),
        [] => Err(Error::PreconditionFailed(format!(
            "conditional reference {:?} matches no {t}",
            truncate(reference, 200)
        ))),
        _ => Err(Error::PreconditionFailed(format!(
            "conditional reference {:?} matches more than one {t}",
            truncate(reference, 200)
        ))),
    }
}

/// Rewrites every reference: fullUrls to the assigned `Type/id`, conditional references to their
/// match, absolute URLs on this server to relative ones.
fn rewrite(
    mut r: Value,
    map: &HashMap<String, String>,
    cond: &HashMap<String, String>,
    base: &str,
) -> Result<Value, Error> {
    let mut unresolved: Option<String> = None;
    let prefix = format!("{base}/");
    references::rewrite(&mut r, &mut |s| {
        if let Some(to) = map.get(s) {
            return Some(to.clone());
        }
        match references::classify(s) {
            Target::Conditional { .. } => cond.get(s).cloned(),
            Target::Urn => {
                unresolved.get_or_insert_with(|| s.to_string());
                None
            }
            Target::Relative { res_type, id } => {
                let key = format!("{res_type}/{id}");
                map.get(&key).map(|to| format!("{to}{}", &s[key.len()..]))
            }
            Target::External => {
                let rel = s.strip_prefix(&prefix)?;
                let key: String = rel.split('/').take(2).collect::<Vec<_>>().join("/");
                Some(match map.get(&key) {
                    Some(to) => format!("{to}{}", &rel[key.len()..]),
                    None => rel.to_string(),
                })
            }
            Target::Contained => None,
        }
    });
    match unresolved {
        Some(u) => Err(Error::invalid(
            None,
            format!(
                "reference {:?} matches no fullUrl in the Bundle",
                truncate(&u, 100)
            ),
        )),
        None => Ok(r),
    }
}

fn execute(
    conn: &mut AnyConnection,
    e: &Entry,
    plan: Plan,
    resource: Option<Value>,
    fix: &dyn Fn(Value) -> Result<Value, Error>,
    strict: bool,
) -> Result<Done, Error> {
    let t = e.url.res_type().clone();
    let need = |r: Option<Value>| r.ok_or_else(|| Error::Internal("resource missing".into()));
    match (e.method, plan) {
        (Method::Post, Plan::New(id)) => Ok(Done::Written(write::create_at_in_tx(
            conn,
            &t,
            &id,
            need(resource)?,
        )?)),
        (Method::Post, Plan::Existing(id)) => {
            let v = resources::read_current(conn, t.as_str(), &id)?
                .ok_or_else(|| Error::Internal("matched resource vanished".into()))?;
            let stored = Stored::from_version(v)?;
            // Nothing is written, but the matched resource is returned: audited as a search.
            audit::record_read_in_tx(
                conn,
                "search-type",
                vec![format!("{t}/{id}/_history/{}", stored.version)],
                audit::patients_of_stored(&stored),
                e.if_none_exist.as_ref().map(|q| format!("{t}?{q}")),
            )?;
            Ok(Done::Written(Written {
                kind: WriteKind::Unchanged,
                stored,
            }))
        }
        (Method::Put, Plan::At(id)) => {
            let mut body = need(resource)?;
            if let Some(obj) = body.as_object_mut() {
                obj.insert("id".into(), Value::String(id.to_string()));
            }
            let inm_any = e.if_none_match.as_deref() == Some("*");
            Ok(Done::Written(write::update_in_tx(
                conn, &t, &id, body, e.if_match, inm_any,
            )?))
        }
        (Method::Patch, Plan::At(id)) => {
            let doc = e
                .patch
                .as_ref()
                .ok_or_else(|| Error::Internal("patch missing".into()))?;
            Ok(Done::Written(patch::patch_in_tx_with(
                conn, &t, &id, doc, e.if_match, fix,
            )?))
        }
        (Method::Delete, Plan::At(id)) => {
            if let Some(v) = e.if_match {
                let cur = resources::current(conn, t.as_str(), id.as_str(), true)?;
                if cur.as_ref().map(|c| c.version) != Some(v) {
                    return Err(Error::PreconditionFailed(format!(
                        "version conflict: ifMatch W/\"{v}\" but {t}/{id} is at {}",
                        cur.map_or("no version".to_string(), |c| c.version.to_string())
                    )));
                }
            }
            let d = write::delete_in_tx(conn, &t, &id)?;
            Ok(Done::Deleted(d, t, Some(id)))
        }
        (Method::Delete, Plan::Nothing) => Ok(Done::Deleted(Deleted::Nothing, t, None)),
        (Method::Get | Method::Head, _) => read_entry(conn, e, strict),
        _ => Err(Error::Internal("inconsistent plan".into())),
    }
}

fn read_entry(conn: &mut AnyConnection, e: &Entry, strict: bool) -> Result<Done, Error> {
    let stored = match &e.url {
        Url::Instance(t, id) => {
            let v = resources::read_current(conn, t.as_str(), id.as_str())?;
            match v {
                None => return Err(Error::NotFound(format!("{t}/{id} is not known"))),
                Some(v) if v.is_deleted() => {
                    return Err(Error::Gone(format!("{t}/{id} was deleted")));
                }
                Some(v) => Stored::from_version(v)?,
            }
        }
        Url::Version(t, id, ver) => {
            let v = resources::read_version(conn, t.as_str(), id.as_str(), *ver)?;
            match v {
                None => {
                    return Err(Error::NotFound(format!(
                        "{t}/{id}/_history/{ver} is not known"
                    )));
                }
                Some(v) if v.is_deleted() => {
                    return Err(Error::Gone(format!(
                        "{t}/{id}/_history/{ver} is a deletion"
                    )));
                }
                Some(v) => Stored::from_version(v)?,
            }
        }
        Url::Type(t, query) => {
            let hits = crate::search::criteria::search_entry(
                conn,
                t.as_str(),
                query.as_deref().unwrap_or(""),
                strict,
                super::history::MAX_COUNT,
            )?;
            let rids: Vec<i64> = hits.iter().map(|h| h.rid).collect();
            let mut rows = resources::read_current_many(conn, &rids)?;
            rows.sort_by(|a, b| a.1.res_id.cmp(&b.1.res_id));
            let mut entries = Vec::with_capacity(rows.len());
            let mut patients = Vec::new();
            for (_, v) in rows {
                let s = Stored::from_version(v)?;
                patients.extend(audit::patients_of_stored(&s));
                entries.push(OutEntry {
                    full_url: Some(format!("{}/{}", s.res_type, s.id)),
                    resource: s.body,
                    search_mode: Some("match"),
                    ..OutEntry::default()
                });
            }
            let total = i64::try_from(entries.len()).unwrap_or(i64::MAX);
            audit::record_read_in_tx(
                conn,
                "search-type",
                Vec::new(),
                patients,
                Some(e.raw_url.clone()),
            )?;
            return Ok(Done::Searched(bundle::render(
                "searchset",
                Some(total),
                &[],
                &entries,
                &time::fhir_instant(store::now_micros()),
            )));
        }
    };
    audit::record_read_in_tx(
        conn,
        if matches!(e.url, Url::Version(..)) {
            "vread"
        } else {
            "read"
        },
        vec![format!(
            "{}/{}/_history/{}",
            stored.res_type, stored.id, stored.version
        )],
        audit::patients_of_stored(&stored),
        None,
    )?;
    if let Some(inm) = &e.if_none_match
        && inm
            .split(',')
            .any(|tag| parse_version(tag) == Some(stored.version))
    {
        return Ok(Done::NotModified(stored));
    }
    if let Some(since) = e.if_modified_since
        && stored.last_updated / 1_000_000 <= since / 1_000_000
    {
        return Ok(Done::NotModified(stored));
    }
    Ok(Done::Read(stored))
}

// ---------------------------------------------------------------------------------------------
// The response Bundle.

fn entries_done<'a, 'b>(entries: &[&'a Entry<'b>], done: Vec<Done>) -> Vec<(&'a Entry<'b>, Done)> {
    entries.iter().copied().zip(done).collect()
}

fn status_text(s: StatusCode) -> String {
    format!("{} {}", s.as_u16(), s.canonical_reason().unwrap_or(""))
        .trim_end()
        .to_string()
}

fn response_entry(e: Option<&Entry>, d: Done, base: &str, opts: &Options) -> OutEntry {
    let version_fields = |resp: &mut serde_json::Map<String, Value>, s: &Stored| {
        resp.insert("etag".into(), json!(format!("W/\"{}\"", s.version)));
        resp.insert(
            "lastModified".into(),
            json!(time::fhir_instant(s.last_updated)),
        );
    };
    let mut resp = serde_json::Map::new();
    let mut out = OutEntry::default();
    match d {
        Done::Written(w) => {
            let (status, msg) = match w.kind {
                WriteKind::Created => (StatusCode::CREATED, "created"),
                WriteKind::Updated => (StatusCode::OK, "updated"),
                WriteKind::Unchanged => (
                    StatusCode::OK,
                    "an existing resource matched; nothing was written",
                ),
            };
            let s = w.stored;
            resp.insert("status".into(), json!(status_text(status)));
            resp.insert(
                "location".into(),
                json!(format!("{}/{}/_history/{}", s.res_type, s.id, s.version)),
            );
            version_fields(&mut resp, &s);
            out.full_url = Some(format!("{base}/{}/{}", s.res_type, s.id));
            match opts.respond {
                Respond::Minimal => {}
                Respond::Representation => out.resource = s.body,
                Respond::OperationOutcome => {
                    resp.insert("outcome".into(), outcome::success(msg));
                }
            }
        }
        Done::Deleted(d, _, _) => {
            resp.insert("status".into(), json!(status_text(StatusCode::NO_CONTENT)));
            if let Deleted::Now { version } = d {
                resp.insert("etag".into(), json!(format!("W/\"{version}\"")));
            }
        }
        Done::Read(s) => {
            resp.insert("status".into(), json!(status_text(StatusCode::OK)));
            version_fields(&mut resp, &s);
            out.full_url = Some(format!("{base}/{}/{}", s.res_type, s.id));
            if e.is_some_and(|e| e.method == Method::Get) {
                out.resource = s.body;
            }
        }
        Done::NotModified(s) => {
            resp.insert(
                "status".into(),
                json!(status_text(StatusCode::NOT_MODIFIED)),
            );
            version_fields(&mut resp, &s);
        }
        Done::Searched(bytes) => {
            resp.insert("status".into(), json!(status_text(StatusCode::OK)));
            if e.is_some_and(|e| e.method == Method::Get) {
                out.resource = Some(bytes);
            }
        }
    }
    out.response = Some(Value::Object(resp));
    out
}

fn error_entry(err: &Error) -> OutEntry {
    let (status, _) = crate::api::error::classify(err);
    let issues = crate::api::error::issues_of(err);
    OutEntry {
        response: Some(json!({
            "status": status_text(status),
            "outcome": outcome::operation_outcome(&issues),
        })),
        ..OutEntry::default()
    }
}

fn render(pairs: Vec<(&Entry, Done)>, base: &str, opts: &Options) -> Vec<u8> {
    let out: Vec<OutEntry> = pairs
        .into_iter()
        .map(|(e, d)| response_entry(Some(e), d, base, opts))
        .collect();
    bundle::render(
        "transaction-response",
        None,
        &[],
        &out,
        &time::fhir_instant(store::now_micros()),
    )
}

fn render_batch(
    prepared: &Prepared,
    results: Vec<(usize, Result<Done, Error>)>,
    base: &str,
    opts: &Options,
) -> Vec<u8> {
    let out: Vec<OutEntry> = results
        .into_iter()
        .map(|(i, r)| {
            let entry = prepared.entries.get(i).and_then(|e| e.as_ref().ok());
            match r {
                Ok(d) => response_entry(entry, d, base, opts),
                Err(err) => error_entry(&err),
            }
        })
        .collect();
    bundle::render(
        "batch-response",
        None,
        &[],
        &out,
        &time::fhir_instant(store::now_micros()),
    )
}
