//! The FHIR route table as one dispatcher over path segments, so that every unknown type, bad id and
//! unsupported method gets the same OperationOutcome treatment. Handlers stay thin: parse the edge,
//! call an interaction on a blocking thread, render.

use actix_web::http::{Method, StatusCode};
use actix_web::web::{self, Payload};
use actix_web::{HttpRequest, HttpResponse};
use serde_json::Value;

use crate::error::Error;
use crate::fhir::bundle::{self, Entry, Link};
use crate::fhir::ids::{LogicalId, ResourceType, parse_version};
use crate::fhir::{capability, time};
use crate::interactions::everything as ieverything;
use crate::interactions::patch::{self as ipatch, PatchDoc, PatchTarget};
use crate::interactions::transaction::{self, Respond};
use crate::interactions::write::{Deleted, WriteKind};
use crate::interactions::{history as ihistory, read, search as isearch, write};
use crate::search::criteria::form_pairs;
use crate::search::query::{Filter, Pred};
use crate::store::history::Scope;

use super::AppState;
use super::audit::Trail;
use super::auth::Guard;
use super::error::ApiError;
use super::negotiate::{self, check_accept, check_content_type, header, if_match, read_body};
use super::render;
use crate::auth::scopes::{Access, Perm};

type Reply = Result<HttpResponse, ApiError>;

/// Runs blocking store work off the async executor threads.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    web::block(f)
        .await
        .map_err(|e| Error::Internal(format!("blocking task failed: {e}")))?
}

pub async fn dispatch(req: HttpRequest, payload: Payload, state: web::Data<AppState>) -> Reply {
    let path = req.match_info().query("tail").to_string();
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let g = match super::auth::authenticate(&req, state.get_ref(), &segs).await {
        Ok(g) => g,
        Err(e) => return Err(super::audit::unauthenticated(state.get_ref(), &req, &segs, e).await),
    };
    super::edge::ratelimit::check_client(state.get_ref(), &g).await?;
    let mut st = super::consistency::scoped(&req, state.get_ref().clone());
    st.actor = super::audit::actor(&g, &req);
    let trail = Trail::default();
    let result = route(&req, payload, &st, &g, &path, &segs, &trail).await;
    super::audit::finish(&st, &req, &segs, trail, result).await
}

/// Runs blocking work on behalf of the request's actor, so that writes deep in the engines audit
/// the real principal (see `interactions::audit::act_as`).
pub(super) async fn blocking_as<T: Send + 'static>(
    st: &AppState,
    f: impl FnOnce() -> Result<T, Error> + Send + 'static,
) -> Result<T, Error> {
    let actor = st.actor.clone();
    blocking(move || {
        let _scope = crate::interactions::audit::act_as(actor);
        f()
    })
    .await
}

async fn route(
    req: &HttpRequest,
    payload: Payload,
    st: &AppState,
    g: &Guard,
    path: &str,
    segs: &[&str],
    trail: &Trail,
) -> Reply {
    if !super::billing::negotiates_itself(segs) {
        check_accept(req)?;
    }
    let m = req.method().clone();
    if super::billing::is_billing_route(segs) {
        match segs {
            ["$import-835"] => {
                for t in ["ClaimResponse", "PaymentReconciliation"] {
                    g.check_full(t, Perm::Create)?;
                    g.check_full(t, Perm::Update)?;
                }
            }
            ["Claim", id, op] => {
                g.check_full("Claim", Perm::Read)?;
                trail.saw("operation");
                trail.operation(op);
                trail.entity(format!("Claim/{id}"));
            }
            [_, op] => {
                g.check_full("Claim", Perm::Read)?;
                trail.saw("operation");
                trail.operation(op);
                trail.query(req.query_string().to_string());
            }
            _ => g.check_full("Claim", Perm::Read)?,
        }
        return super::billing::route(req, payload, st, segs).await;
    }
    if segs.first() == Some(&"AuditEvent") {
        return audit_event(req, payload, st, g, segs, trail).await;
    }
    match (segs, &m) {
        ([], &Method::GET) => {
            search(
                req,
                st,
                g,
                SearchScope::System,
                req.query_string().to_string(),
                trail,
            )
            .await
        }
        ([], &Method::POST) => transaction(req, payload, st, g).await,
        (["metadata"], &Method::GET) => {
            Ok(render::json(req, StatusCode::OK, capability_bytes(req, st)))
        }
        (["_history"], &Method::GET) => {
            g.check_system(Perm::Search, "system history")?;
            history(req, st, Scope::System, None, trail).await
        }
        (["metadata"] | ["_history"], _) => Err(not_allowed(&m, path)),
        ([t], _) => {
            let t = ResourceType::parse(t)?;
            match m {
                Method::GET => {
                    search(
                        req,
                        st,
                        g,
                        SearchScope::Type(t),
                        req.query_string().to_string(),
                        trail,
                    )
                    .await
                }
                Method::POST => {
                    let access = g.check(t.as_str(), Perm::Create)?;
                    create(req, payload, st, t, access, trail).await
                }
                Method::PUT => {
                    g.check_full(t.as_str(), Perm::Update)?;
                    conditional_update(req, payload, st, t).await
                }
                Method::DELETE => {
                    g.check_full(t.as_str(), Perm::Delete)?;
                    conditional_delete(req, st, t).await
                }
                Method::PATCH => {
                    // Conditional: the criteria would be matched outside the caller's limits.
                    g.check_full(t.as_str(), Perm::Update)?;
                    let target = PatchTarget::Criteria(criteria_of(req)?);
                    patch(req, payload, st, t, target, Access::FULL).await
                }
                _ => Err(not_allowed(&m, path)),
            }
        }
        ([t, "_search"], &Method::POST) => {
            let t = ResourceType::parse(t)?;
            let q = search_form(req, payload, st).await?;
            search(req, st, g, SearchScope::Type(t), q, trail).await
        }
        ([t, "_history"], &Method::GET) => {
            let t = ResourceType::parse(t)?;
            g.check_full(t.as_str(), Perm::Search)?;
            history(req, st, Scope::Type(t.to_string()), None, trail).await
        }
        (["Patient", "$everything"], &Method::GET) => everything(req, st, g, None, trail).await,
        (["Patient", id, "$everything"], &Method::GET) => {
            let id = LogicalId::parse(id)?;
            everything(req, st, g, Some(id), trail).await
        }
        ([t, id], _) if !id.starts_with('$') && !id.starts_with('_') => {
            let t = ResourceType::parse(t)?;
            let id = LogicalId::parse(id)?;
            match m {
                Method::GET | Method::HEAD => {
                    let access = g.check(t.as_str(), Perm::Read)?;
                    read_resource(req, st, g, &access, t, id, trail).await
                }
                Method::PUT => {
                    let access = g.check(t.as_str(), Perm::Update)?;
                    guard_existing(st, g, &access, &t, &id, Existing::Write).await?;
                    update(req, payload, st, t, id, access).await
                }
                Method::DELETE => {
                    let access = g.check(t.as_str(), Perm::Delete)?;
                    guard_existing(st, g, &access, &t, &id, Existing::Write).await?;
                    delete(req, st, t, id).await
                }
                Method::PATCH => {
                    let access = g.check(t.as_str(), Perm::Update)?;
                    patch(req, payload, st, t, PatchTarget::Id(id), access).await
                }
                _ => Err(not_allowed(&m, path)),
            }
        }
        ([t, id, "_history"], &Method::GET) => {
            let t = ResourceType::parse(t)?;
            let id = LogicalId::parse(id)?;
            let access = g.check(t.as_str(), Perm::Read)?;
            let restrict = if access.is_full() {
                None
            } else {
                guard_existing(st, g, &access, &t, &id, Existing::Read).await?;
                Some((g.clone(), access))
            };
            history(
                req,
                st,
                Scope::Instance(t.to_string(), id.to_string()),
                restrict,
                trail,
            )
            .await
        }
        ([t, id, "_history", v], &Method::GET) => {
            let t = ResourceType::parse(t)?;
            let id = LogicalId::parse(id)?;
            let v = parse_version(v)
                .ok_or_else(|| Error::invalid(None, format!("invalid version id {v:?}")))?;
            let access = g.check(t.as_str(), Perm::Read)?;
            let svc = st.services.clone();
            let s = blocking(move || read::vread(&svc, &t, &id, v)).await?;
            g.visible(&access, &s)?;
            trail.read("vread", &s);
            Ok(render::resource(req, s))
        }
        (["Subscription", id, op @ ("$status" | "$events")], &Method::GET) => {
            if *op == "$events" {
                // Notifications carry resources of every type.
                g.check_system(Perm::Read, "Subscription/[id]/$events")?;
            } else {
                g.check_full("Subscription", Perm::Read)?;
            }
            trail.saw("operation");
            trail.operation(op);
            trail.entity(format!("Subscription/{id}"));
            subscription_op(req, st, id, op).await
        }
        ([ct, id, target], &Method::GET)
            if !target.starts_with('_') && !target.starts_with('$') =>
        {
            let compartment = ResourceType::parse(ct)?;
            let id = LogicalId::parse(id)?;
            let target = ResourceType::parse(target)?;
            if let Some(pid) = g.check(target.as_str(), Perm::Search)?.patient
                && (compartment.as_str() != "Patient" || id.as_str() != pid)
            {
                return Err(Error::NotFound(format!("{compartment}/{id} is not known")).into());
            }
            let scope = SearchScope::Compartment {
                compartment,
                id,
                target,
            };
            search(req, st, g, scope, req.query_string().to_string(), trail).await
        }
        (segs, _) if known_shape(segs) => Err(not_allowed(&m, path)),
        _ => Err(Error::NotFound(format!("no FHIR endpoint at /{path}")).into()),
    }
}

/// `POST [type]/_search`: the URL's query and the form body, as one query string.
async fn search_form(req: &HttpRequest, payload: Payload, st: &AppState) -> Result<String, Error> {
    let body = read_body(payload, st.config.max_body_bytes).await?;
    let form =
        String::from_utf8(body).map_err(|_| Error::invalid(None, "form body is not UTF-8"))?;
    Ok([req.query_string(), form.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join("&"))
}

/// AuditEvent lives in the audit log: it can be searched and read, never written through the API
/// (405). Patient-context tokens cannot read the log (403).
async fn audit_event(
    req: &HttpRequest,
    payload: Payload,
    st: &AppState,
    g: &Guard,
    segs: &[&str],
    trail: &Trail,
) -> Reply {
    use crate::interactions::audit::search as asearch;
    let m = req.method();
    let query = match (segs, m) {
        ([_], &Method::GET | &Method::HEAD) => req.query_string().to_string(),
        ([_, "_search"], &Method::POST) => search_form(req, payload, st).await?,
        ([_, id], &Method::GET | &Method::HEAD) if !id.starts_with('_') && !id.starts_with('$') => {
            g.check_full("AuditEvent", Perm::Read)?;
            let (svc, idc) = (st.services.clone(), id.to_string());
            let bytes = blocking(move || asearch::read(&svc, &idc)).await?;
            trail.saw("read");
            trail.entity(format!("AuditEvent/{id}"));
            return Ok(render::json(req, StatusCode::OK, bytes));
        }
        _ => {
            return Err(Error::MethodNotAllowed(format!(
                "{m} is not supported on /{}: AuditEvent records are written by the server itself and cannot be created, changed or deleted",
                segs.join("/")
            ))
            .into());
        }
    };
    g.check_full("AuditEvent", Perm::Search)?;
    let q = asearch::parse_query(&query)?;
    let (svc, base) = (st.services.clone(), base_url(req, st));
    let bytes = blocking(move || asearch::search(&svc, &q, &base)).await?;
    // Reading the log is audited with its query; its records are not patient data themselves.
    trail.saw("search-type");
    trail.query(if query.is_empty() {
        "AuditEvent".to_string()
    } else {
        format!("AuditEvent?{query}")
    });
    Ok(render::json(req, StatusCode::OK, bytes))
}

/// Paths that exist with some other method: answer 405 rather than 404.
fn known_shape(segs: &[&str]) -> bool {
    matches!(
        segs,
        [] | ["metadata"]
            | ["_history"]
            | [_, "_search"]
            | [_, "_history"]
            | [_, _, "_history"]
            | [_, _, "_history", _]
    )
}

fn not_allowed(m: &Method, path: &str) -> ApiError {
    Error::MethodNotAllowed(format!("{m} is not supported on /{path}")).into()
}

pub(crate) fn base_url(req: &HttpRequest, st: &AppState) -> String {
    match &st.config.base_url {
        Some(b) => b.trim_end_matches('/').to_string(),
        None => {
            let info = req.connection_info();
            format!("{}://{}/fhir", info.scheme(), info.host())
        }
    }
}

fn capability_bytes(req: &HttpRequest, st: &AppState) -> Vec<u8> {
    // The zone the index really uses; until `hms reindex` it may differ from the configured one.
    let configured = st.config.search_zone.name();
    let zone = match st.services.index_zone().map(|z| z.name()) {
        Ok(z) if z == configured => z,
        Ok(z) => format!("{z} (the configured {configured} applies after `hms reindex`)"),
        Err(_) => configured,
    };
    let mut statement = capability::statement(
        &base_url(req, st),
        &time::fhir_instant(st.started_at),
        &zone,
        super::billing::OPERATIONS,
    );
    if let (Some(security), Some(rest)) = (
        super::oauth::capability_security(req, st),
        statement.pointer_mut("/rest/0"),
    ) {
        rest["security"] = security;
    }
    serde_json::to_vec(&statement).unwrap_or_default()
}

pub(super) fn parse_body(bytes: &[u8]) -> Result<Value, Error> {
    if bytes.is_empty() {
        return Err(Error::invalid(
            None,
            "the request body is empty; a FHIR resource is required",
        ));
    }
    hms_fhir::json::parse_resource(bytes).map_err(|i| Error::Invalid(vec![i]))
}

async fn body_json(req: &HttpRequest, payload: Payload, st: &AppState) -> Result<Value, Error> {
    check_content_type(req)?;
    let bytes = read_body(payload, st.config.max_body_bytes).await?;
    parse_body(&bytes)
}

/// Why the current resource of a limited access is checked.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Existing {
    /// Instance history: outside the access looks unknown (404).
    Read,
    /// Update/delete: outside the compartment looks unknown (404); in it but not matching the
    /// token's granular scopes is refused (403).
    Write,
}

/// Limited writes and history (patient context, granular scopes): the current resource must be
/// within the access. A resource that does not exist yet passes (update-as-create is checked on
/// the new body).
async fn guard_existing(
    st: &AppState,
    g: &Guard,
    access: &Access,
    t: &ResourceType,
    id: &LogicalId,
    why: Existing,
) -> Result<(), Error> {
    if access.is_full() {
        return Ok(());
    }
    let svc = st.services.clone();
    let (t, id) = (t.clone(), id.clone());
    match blocking(move || read::read(&svc, &t, &id)).await {
        Ok(s) if why == Existing::Write => g.writable(access, &s),
        Ok(s) => g.visible(access, &s),
        Err(Error::NotFound(_)) | Err(Error::Gone(_)) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Limited writes: the resource written must be within the access (403).
fn check_body(access: &Access, resource: &Value) -> Result<(), Error> {
    if access.admits(resource) {
        return Ok(());
    }
    if !access.compartment().admits(resource) {
        return Err(Error::Forbidden(
            "a patient-context token can only write resources in its patient's compartment".into(),
        ));
    }
    Err(Error::Forbidden(
        "the resource does not match the search restriction of the access token's scopes".into(),
    ))
}

async fn read_resource(
    req: &HttpRequest,
    st: &AppState,
    g: &Guard,
    access: &Access,
    t: ResourceType,
    id: LogicalId,
    trail: &Trail,
) -> Reply {
    let svc = st.services.clone();
    let s = blocking(move || read::read(&svc, &t, &id)).await?;
    g.visible(access, &s)?;
    trail.read("read", &s);
    if let Some(inm) = header(req, "if-none-match")
        && inm
            .split(',')
            .any(|tag| parse_version(tag) == Some(s.version))
    {
        return Ok(render::not_modified(&s));
    }
    if let Some(since) = header(req, "if-modified-since").and_then(time::parse_http_date) {
        // HTTP dates have whole seconds: compare at that precision.
        if s.last_updated / 1_000_000 <= since / 1_000_000 {
            return Ok(render::not_modified(&s));
        }
    }
    Ok(render::resource(req, s))
}

async fn create(
    req: &HttpRequest,
    payload: Payload,
    st: &AppState,
    t: ResourceType,
    access: Access,
    trail: &Trail,
) -> Reply {
    let resource = body_json(req, payload, st).await?;
    check_body(&access, &resource)?;
    // The match it could answer with need not be within the access.
    if !access.is_full() && header(req, "if-none-exist").is_some() {
        return Err(Error::Forbidden(
            "conditional create is not available to patient-context tokens or tokens with \
             search-restricted scopes"
                .into(),
        )
        .into());
    }
    let if_none_exist = header(req, "if-none-exist").map(|s| s.trim_start_matches('?').to_string());
    let svc = st.services.clone();
    let w = blocking_as(st, move || {
        write::create(&svc, &t, resource, if_none_exist.as_deref())
    })
    .await?;
    let (status, msg) = match w.kind {
        WriteKind::Created => (StatusCode::CREATED, "created"),
        _ => {
            // Nothing written (no audit in the write), but a resource is returned: a search.
            trail.saw("search-type");
            trail.entity(format!(
                "{}/{}/_history/{}",
                w.stored.res_type, w.stored.id, w.stored.version
            ));
            trail.patients_of(&w.stored);
            if let Some(q) = header(req, "if-none-exist") {
                trail.query(format!(
                    "{}?{}",
                    w.stored.res_type,
                    q.trim_start_matches('?')
                ));
            }
            (
                StatusCode::OK,
                "a resource matching If-None-Exist already exists; nothing was created",
            )
        }
    };
    Ok(render::written(
        req,
        &base_url(req, st),
        status,
        w.stored,
        msg,
    ))
}

async fn update(
    req: &HttpRequest,
    payload: Payload,
    st: &AppState,
    t: ResourceType,
    id: LogicalId,
    access: Access,
) -> Reply {
    let resource = body_json(req, payload, st).await?;
    check_body(&access, &resource)?;
    let im = if_match(req)?;
    let inm_any = header(req, "if-none-match") == Some("*");
    let svc = st.services.clone();
    let w = blocking_as(st, move || {
        write::update(&svc, &t, &id, resource, im, inm_any)
    })
    .await?;
    Ok(written_reply(req, st, w))
}

fn written_reply(req: &HttpRequest, st: &AppState, w: write::Written) -> HttpResponse {
    let (status, msg) = match w.kind {
        WriteKind::Created => (StatusCode::CREATED, "created"),
        WriteKind::Updated => (StatusCode::OK, "updated"),
        WriteKind::Unchanged => (StatusCode::OK, "unchanged"),
    };
    render::written(req, &base_url(req, st), status, w.stored, msg)
}

async fn conditional_update(
    req: &HttpRequest,
    payload: Payload,
    st: &AppState,
    t: ResourceType,
) -> Reply {
    let criteria = criteria_of(req)?;
    let resource = body_json(req, payload, st).await?;
    let im = if_match(req)?;
    let svc = st.services.clone();
    let w = blocking_as(st, move || {
        write::conditional_update(&svc, &t, &criteria, resource, im)
    })
    .await?;
    Ok(written_reply(req, st, w))
}

/// The query string without result-control parameters; conditional operations need criteria.
fn criteria_of(req: &HttpRequest) -> Result<String, Error> {
    let kept: Vec<String> = req
        .query_string()
        .split('&')
        .filter(|p| !p.is_empty() && !p.starts_with("_format=") && !p.starts_with("_pretty="))
        .map(str::to_string)
        .collect();
    if kept.is_empty() {
        return Err(Error::invalid(
            None,
            "a conditional operation on the type needs search criteria in the URL",
        ));
    }
    Ok(kept.join("&"))
}

/// Patient/[id]/$everything and Patient/$everything. A patient-context token gets its own
/// patient's only (another id → 404); entries the token may not read are left out (and then the
/// total, which would count them, too).
async fn everything(
    req: &HttpRequest,
    st: &AppState,
    g: &Guard,
    patient: Option<LogicalId>,
    trail: &Trail,
) -> Reply {
    let access = g.check("Patient", Perm::Read)?;
    let patient = match &access.patient {
        None => patient,
        Some(pid) => match patient {
            Some(id) if id.as_str() != pid => {
                return Err(Error::NotFound(format!("Patient/{id} is not known")).into());
            }
            _ => Some(LogicalId::parse(pid)?),
        },
    };
    if access.only.is_some() {
        // A granular Patient scope: only patients matching it have an $everything.
        let Some(id) = patient.clone() else {
            return Err(Error::Forbidden(
                "Patient/$everything across patients is not available to tokens whose Patient \
                 scopes are restricted by search parameters"
                    .into(),
            )
            .into());
        };
        let svc = st.services.clone();
        let s = blocking(move || read::read(&svc, &ResourceType::parse("Patient")?, &id)).await?;
        g.visible(&access, &s)?;
    }
    let q = ieverything::parse_query(req.query_string())?;
    let svc = st.services.clone();
    let (qc, pc) = (q.clone(), patient.clone());
    let page = blocking(move || ieverything::everything(&svc, pc.as_ref(), &qc)).await?;
    trail.saw("operation");
    trail.operation("$everything");
    if let Some(id) = &patient {
        trail.entity(format!("Patient/{id}"));
    }
    if !req.query_string().is_empty() {
        trail.query(req.query_string().to_string());
    }
    let base = base_url(req, st);
    let path = match &patient {
        Some(id) => format!("{base}/Patient/{id}/$everything"),
        None => format!("{base}/Patient/$everything"),
    };
    let link = |offset: i64| {
        let mut params = q.applied.clone();
        params.push(("_offset".into(), offset.to_string()));
        let qs = params
            .iter()
            .map(|(k, v)| format!("{}={}", isearch::enc(k), isearch::enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        format!("{path}?{qs}")
    };
    let mut links = vec![Link {
        relation: "self",
        url: link(q.offset),
    }];
    if let Some(next) = page.next_offset {
        links.push(Link {
            relation: "next",
            url: link(next),
        });
    }
    let shown = page.entries.len();
    let entries: Vec<Entry> = page
        .entries
        .into_iter()
        .filter(|s| g.may_include(s))
        .inspect(|s| trail.patients_of(s))
        .map(|s| Entry {
            full_url: Some(format!("{base}/{}/{}", s.res_type, s.id)),
            resource: s.body,
            search_mode: Some("match"),
            ..Entry::default()
        })
        .collect();
    // The total counts every page: shown only when no page can hide anything from this caller.
    let total = (g.reads_all_types() && entries.len() == shown).then_some(page.total);
    let bytes = bundle::render(
        "searchset",
        total,
        &links,
        &entries,
        &time::fhir_instant(crate::store::now_micros()),
    );
    Ok(render::json(req, StatusCode::OK, bytes))
}

/// POST [base]: a transaction or batch Bundle.
async fn transaction(req: &HttpRequest, payload: Payload, st: &AppState, g: &Guard) -> Reply {
    check_content_type(req)?;
    let mut body = read_body(payload, st.config.max_body_bytes).await?;
    let base = base_url(req, st);
    let mut decision = super::bundle_access::Decision::default();
    if g.0.is_some() {
        // Authorisation needs every entry's method and URL: only then is the Bundle parsed whole.
        let bundle = parse_body(&body)?;
        decision = super::bundle_access::decide(g, st, &bundle, &base).await?;
        if !decision.refused.is_empty() {
            let kept = super::bundle_access::without_refused(bundle, &decision);
            body = serde_json::to_vec(&kept).map_err(|e| Error::Internal(e.to_string()))?;
        }
    }
    let prefer = negotiate::prefer(req);
    let opts = transaction::Options {
        strict: prefer.strict,
        respond: match prefer.ret {
            negotiate::Return::Minimal => Respond::Minimal,
            negotiate::Return::Representation => Respond::Representation,
            negotiate::Return::OperationOutcome => Respond::OperationOutcome,
        },
        max_entries: st.config.max_bundle_entries,
    };
    let svc = st.services.clone();
    let mut bytes = blocking_as(st, move || {
        transaction::process_bytes(&svc, &body, &base, &opts)
    })
    .await?;
    if !decision.is_plain() {
        bytes = super::bundle_access::merge_response(&bytes, decision)?;
    }
    Ok(render::json(req, StatusCode::OK, bytes))
}

/// PATCH [type]/[id] or [type]?criteria: JSON Patch or FHIRPath Patch (by Content-Type).
async fn patch(
    req: &HttpRequest,
    payload: Payload,
    st: &AppState,
    t: ResourceType,
    target: PatchTarget,
    access: Access,
) -> Reply {
    let ct = header(req, "content-type")
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let im = if_match(req)?;
    let doc = if ct == "application/json-patch+json" {
        let bytes = read_body(payload, st.config.max_body_bytes).await?;
        let v: Value = serde_json::from_slice(&bytes)
            .map_err(|e| Error::invalid(None, format!("the JSON Patch is not JSON: {e}")))?;
        PatchDoc::json(&v)?
    } else if ct == "application/fhir+json" || ct == "application/json" {
        let bytes = read_body(payload, st.config.max_body_bytes).await?;
        PatchDoc::fhirpath(parse_body(&bytes)?)?
    } else {
        return Err(Error::UnsupportedMediaType(format!(
            "PATCH needs Content-Type application/json-patch+json (JSON Patch) or application/fhir+json (FHIRPath Patch), not {ct:?}"
        ))
        .into());
    };
    let svc = st.services.clone();
    let w = blocking_as(st, move || {
        let id = match &target {
            PatchTarget::Id(id) => id.to_string(),
            // Conditional PATCH is only open to full access (see `route`).
            PatchTarget::Criteria(_) => String::new(),
        };
        let limits = ipatch::PatchLimits {
            before: &|v| super::auth::writable_body(&access, t.as_str(), &id, v),
            after: &|v| check_body(&access, v),
        };
        let limits = (!access.is_full()).then_some(&limits);
        ipatch::patch(&svc, &t, &target, &doc, im, limits)
    })
    .await?;
    Ok(written_reply(req, st, w))
}

async fn delete(req: &HttpRequest, st: &AppState, t: ResourceType, id: LogicalId) -> Reply {
    let im = if_match(req)?;
    let svc = st.services.clone();
    let d = blocking_as(st, move || write::delete(&svc, &t, &id, im)).await?;
    Ok(deleted_reply(d))
}

fn deleted_reply(d: Deleted) -> HttpResponse {
    match d {
        Deleted::Now { version } => HttpResponse::NoContent()
            .insert_header(("ETag", format!("W/\"{version}\"")))
            .finish(),
        Deleted::Nothing => HttpResponse::NoContent().finish(),
    }
}

async fn conditional_delete(req: &HttpRequest, st: &AppState, t: ResourceType) -> Reply {
    let criteria = criteria_of(req)?;
    let svc = st.services.clone();
    let d = blocking_as(st, move || write::conditional_delete(&svc, &t, &criteria)).await?;
    Ok(deleted_reply(d))
}

/// `restrict`: patient-context access, whose versions outside the compartment are left out.
async fn history(
    req: &HttpRequest,
    st: &AppState,
    scope: Scope,
    restrict: Option<(Guard, Access)>,
    trail: &Trail,
) -> Reply {
    let q = ihistory::parse_query(scope.clone(), req.query_string())?;
    let svc = st.services.clone();
    let qc = q.clone();
    let page = blocking(move || ihistory::history(&svc, &qc)).await?;
    match &scope {
        Scope::System => trail.saw("history-system"),
        Scope::Type(_) => trail.saw("history-type"),
        Scope::Instance(t, id) => {
            trail.saw("history-instance");
            trail.entity(format!("{t}/{id}"));
        }
    }
    if !req.query_string().is_empty() {
        trail.query(req.query_string().to_string());
    }
    let base = base_url(req, st);
    let path = match &scope {
        Scope::System => format!("{base}/_history"),
        Scope::Type(t) => format!("{base}/{t}/_history"),
        Scope::Instance(t, id) => format!("{base}/{t}/{id}/_history"),
    };
    let query = |extra: Option<(String, String)>| {
        let mut params = page.applied.clone();
        params.extend(extra);
        let q = params
            .iter()
            .map(|(k, v)| format!("{}={}", isearch::enc(k), isearch::enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        format!("{path}?{q}")
    };
    let mut links = vec![Link {
        relation: "self",
        url: query(q.before_seq.map(|s| ("_page".into(), s.to_string()))),
    }];
    if let Some(next) = page.next_cursor {
        links.push(Link {
            relation: "next",
            url: query(Some(("_page".into(), next.to_string()))),
        });
    }
    let entries: Vec<Entry> = page
        .entries
        .into_iter()
        .filter(|e| {
            restrict
                .as_ref()
                .is_none_or(|(g, a)| e.stored.body.is_none() || g.visible(a, &e.stored).is_ok())
        })
        .map(|e| {
            let s = e.stored;
            trail.patients_of(&s);
            let url = format!("{}/{}", s.res_type, s.id);
            let deleted = s.body.is_none();
            let request_url = if e.method == "POST" {
                s.res_type.clone()
            } else {
                url.clone()
            };
            Entry {
                full_url: Some(format!("{base}/{url}")),
                request: Some(serde_json::json!({"method": e.method, "url": request_url})),
                response: Some(serde_json::json!({
                    "status": if deleted { "204" } else if s.version == 1 { "201" } else { "200" },
                    "etag": format!("W/\"{}\"", s.version),
                    "lastModified": time::fhir_instant(s.last_updated),
                })),
                resource: s.body,
                search_mode: None,
            }
        })
        .collect();
    // Limited access leaves versions out of pages: the count of all versions would reveal them.
    let bytes = bundle::render(
        "history",
        restrict.is_none().then_some(page.total),
        &links,
        &entries,
        &time::fhir_instant(crate::store::now_micros()),
    );
    Ok(render::json(req, StatusCode::OK, bytes))
}

/// Which search a GET on the collection is: one type, a compartment, or the whole system.
enum SearchScope {
    Type(ResourceType),
    Compartment {
        compartment: ResourceType,
        id: LogicalId,
        target: ResourceType,
    },
    System,
}

async fn search(
    req: &HttpRequest,
    st: &AppState,
    g: &Guard,
    scope: SearchScope,
    query: String,
    trail: &Trail,
) -> Reply {
    let strict = negotiate::prefer(req).strict;
    let base = base_url(req, st);
    let mut pairs = form_pairs(&query);
    // BALP: the query as the client sent it, relative to the base.
    let audit_query = {
        let rel = req.match_info().query("tail");
        if query.is_empty() {
            rel.to_string()
        } else {
            format!("{rel}?{query}")
        }
    };
    let (types, compartment, path) = match &scope {
        SearchScope::Type(t) => (vec![t.to_string()], None, format!("{base}/{t}")),
        SearchScope::Compartment {
            compartment,
            id,
            target,
        } => (
            vec![target.to_string()],
            Some((compartment.to_string(), id.to_string())),
            format!("{base}/{compartment}/{id}/{target}"),
        ),
        SearchScope::System => {
            let types = match pairs.iter().find(|(k, _)| k == "_type") {
                Some((_, v)) => v
                    .split(',')
                    .map(|t| ResourceType::parse(t.trim()).map(|t| t.to_string()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|_| {
                        Error::invalid(
                            Some("_type"),
                            format!("_type lists an unknown resource type: {v:?}"),
                        )
                    })?,
                None => hms_fhir::model::Model::r4()
                    .resource_types()
                    .into_iter()
                    .map(str::to_string)
                    .collect(),
            };
            (types, None, base.clone())
        }
    };
    let mut compartment = compartment;
    if matches!(scope, SearchScope::System) && !pairs.iter().any(|(k, _)| k == "_type") {
        g.check_system(Perm::Search, "search across all types (without _type)")?;
    }
    let mut restrict = Vec::new();
    if g.0.is_some() {
        let mut patient = None;
        let mut restricted = None;
        for t in &types {
            let a = g.check(t, Perm::Search)?;
            if let Some(pid) = a.patient.clone() {
                patient = Some(pid);
            }
            if a.only.is_some() {
                restricted = Some((t.clone(), a));
            }
        }
        // `subject:Patient.name` is a chain too: a dot anywhere in the name.
        let reaches_other = pairs
            .iter()
            .any(|(k, _)| k.starts_with("_has") || k.contains('.'));
        if g.restricted() && reaches_other {
            // Their criteria reach other resources, which the restriction would not limit.
            return Err(Error::Forbidden(
                "chained and _has search parameters are not available to tokens with scopes \
                 restricted by search parameters"
                    .into(),
            )
            .into());
        }
        if let Some((t, a)) = restricted {
            if types.len() != 1 || matches!(scope, SearchScope::System) {
                return Err(Error::Forbidden(format!(
                    "the access token's scopes for {t} are restricted by search parameters; \
                     search {t} on its own ({t}?...)"
                ))
                .into());
            }
            restrict = a
                .search_conds()
                .map_err(Error::Forbidden)?
                .into_iter()
                .map(|c| Filter::Index {
                    param: c.param,
                    any: c
                        .values
                        .into_iter()
                        .map(|v| Pred::Token {
                            system: v.system,
                            code: v.code,
                        })
                        .collect(),
                    negate: false,
                })
                .collect();
        }
        if let Some(pid) = patient {
            if !matches!(
                scope,
                SearchScope::Type(_) | SearchScope::Compartment { .. }
            ) {
                return Err(Error::Forbidden(
                    "system-wide search is not available to patient-context tokens; search one type".into(),
                )
                .into());
            }
            if reaches_other {
                return Err(Error::invalid(
                    None,
                    "chained and _has search parameters are not available to patient-context tokens",
                )
                .into());
            }
            if compartment.is_none() {
                match types.first().map(String::as_str) {
                    // The compartment filter does not match the Patient itself: narrow by id.
                    Some("Patient") => pairs.push(("_id".to_string(), pid)),
                    Some(t) if crate::auth::compartment::type_in_compartment(t) => {
                        compartment = Some(("Patient".to_string(), pid));
                    }
                    _ => {}
                }
            }
        }
    }
    let type_param = pairs.iter().find(|(k, _)| k == "_type").cloned();
    let svc = st.services.clone();
    let base_c = base.clone();
    let r = blocking(move || {
        isearch::search(
            &svc,
            &isearch::SearchRequest {
                types,
                pairs,
                base: &base_c,
                strict,
                compartment,
                restrict,
            },
        )
    })
    .await?;
    trail.saw(match scope {
        SearchScope::System => "search-system",
        _ => "search-type",
    });
    trail.query(audit_query);
    for m in &r.matches {
        trail.patients_of(m);
    }
    let link = |cursor: Option<&str>| {
        let mut params: Vec<(String, String)> = type_param.iter().cloned().collect();
        params.extend(r.applied.iter().cloned());
        if let Some(c) = cursor {
            params.push(("_cursor".into(), c.to_string()));
        }
        let q = params
            .iter()
            .map(|(k, v)| format!("{}={}", isearch::enc(k), isearch::enc(v)))
            .collect::<Vec<_>>()
            .join("&");
        if q.is_empty() {
            path.clone()
        } else {
            format!("{path}?{q}")
        }
    };
    let mut links = vec![Link {
        relation: "self",
        url: link(r.this_cursor.as_deref()),
    }];
    if r.this_cursor.is_some() {
        links.push(Link {
            relation: "first",
            url: link(None),
        });
    }
    if let Some(next) = &r.next_cursor {
        links.push(Link {
            relation: "next",
            url: link(Some(next)),
        });
    }
    let elements = r.elements.clone();
    let to_entry = |s: crate::interactions::Stored, mode: &'static str| Entry {
        full_url: Some(format!("{base}/{}/{}", s.res_type, s.id)),
        resource: s
            .body
            .map(|b| isearch::subset(&b, r.summary, elements.as_deref())),
        search_mode: Some(mode),
        ..Entry::default()
    };
    let mut entries: Vec<Entry> = r
        .matches
        .iter()
        .cloned()
        .map(|s| to_entry(s, "match"))
        .collect();
    entries.extend(
        r.included
            .iter()
            .filter(|s| g.may_include(s))
            .inspect(|s| trail.patients_of(s))
            .cloned()
            .map(|s| to_entry(s, "include")),
    );
    if !r.warnings.is_empty() {
        entries.push(Entry {
            resource: serde_json::to_vec(&crate::fhir::outcome::operation_outcome(&r.warnings))
                .ok(),
            search_mode: Some("outcome"),
            ..Entry::default()
        });
    }
    let bytes = bundle::render(
        "searchset",
        r.total,
        &links,
        &entries,
        &time::fhir_instant(crate::store::now_micros()),
    );
    Ok(render::json(req, StatusCode::OK, bytes))
}

/// Subscription/[id]/$status and $events (Subscriptions Backport IG).
async fn subscription_op(req: &HttpRequest, st: &AppState, id: &str, op: &str) -> Reply {
    use crate::interactions::subscription as isub;
    let id = LogicalId::parse(id)?;
    let base = base_url(req, st);
    let pairs = form_pairs(req.query_string());
    let svc = st.services.clone();
    let events = op == "$events";
    let bytes = blocking(move || {
        if events {
            isub::events(&svc, &id, &base, &pairs)
        } else {
            isub::status(&svc, &id, &base)
        }
    })
    .await?;
    Ok(render::json(req, StatusCode::OK, bytes))
}
