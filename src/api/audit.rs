//! Auditing at the HTTP edge. Each /fhir request notes what it read in a `Trail`; `finish` turns
//! that into one AuditEvent and answers only after the group-commit writer made it durable — or
//! refuses with 503 (fail closed). Writes are audited inside their own transaction instead (the
//! actor reaches them through `interactions::audit::act_as`). Refused attempts (401, 403, 404,
//! 410) are audited too, with outcome 4; malformed requests (400, 405, 415, ...) touched no data.

use std::cell::RefCell;

use actix_web::http::Method;
use actix_web::{HttpRequest, HttpResponse};

use crate::error::Error;
use crate::fhir::audit_event::{Action, Actor, Kind, Outcome, Record};
use crate::interactions::Stored;
use crate::store::now_micros;

use super::AppState;
use super::auth::Guard;
use super::error::ApiError;

/// The TCP peer's address. Forwarded headers are not used: any client could forge them.
pub fn source_ip(req: &HttpRequest) -> Option<String> {
    req.peer_addr().map(|a| a.ip().to_string())
}

/// Who is making the request: the token's user and client (a client_credentials token is the
/// client alone), and where from.
pub fn actor(g: &Guard, req: &HttpRequest) -> Actor {
    let mut a = Actor {
        source_ip: source_ip(req),
        ..Actor::default()
    };
    if let Some(p) = &g.0 {
        if p.client_id.as_deref() == Some(p.sub.as_str()) {
            a.client = Some(p.sub.clone());
        } else {
            a.user = Some(p.sub.clone());
            a.client = p.client_id.clone();
        }
    }
    a
}

#[derive(Debug, Default)]
struct Seen {
    interaction: &'static str,
    operation: Option<String>,
    entities: Vec<String>,
    patients: Vec<String>,
    query: Option<String>,
}

/// What a read handler returned, for its audit record.
#[derive(Debug, Default)]
pub struct Trail(RefCell<Option<Seen>>);

impl Trail {
    /// This request is a read-type interaction (read, vread, search, history, operation).
    pub fn saw(&self, interaction: &'static str) {
        let mut s = self.0.borrow_mut();
        s.get_or_insert_with(Seen::default).interaction = interaction;
    }

    fn with(&self, f: impl FnOnce(&mut Seen)) {
        if let Some(s) = self.0.borrow_mut().as_mut() {
            f(s);
        }
    }

    pub fn operation(&self, name: &str) {
        self.with(|s| s.operation = Some(name.to_string()));
    }

    pub fn entity(&self, reference: String) {
        self.with(|s| s.entities.push(reference));
    }

    pub fn query(&self, q: String) {
        self.with(|s| s.query = Some(q));
    }

    pub fn patient(&self, id: &str) {
        self.with(|s| {
            if !s.patients.iter().any(|p| p == id) {
                s.patients.push(id.to_string());
            }
        });
    }

    /// The patients whose data `stored` is (a Patient itself, or those it references).
    pub fn patients_of(&self, stored: &Stored) {
        for p in crate::interactions::audit::patients_of_stored(stored) {
            self.patient(&p);
        }
    }

    /// A read of one version: the versioned reference and its patients.
    pub fn read(&self, interaction: &'static str, s: &Stored) {
        self.saw(interaction);
        self.entity(format!("{}/{}/_history/{}", s.res_type, s.id, s.version));
        self.patients_of(s);
    }

    fn take(&self) -> Option<Seen> {
        self.0.borrow_mut().take()
    }
}

fn record(seen: Seen, actor: Actor) -> Record {
    let mut r = Record::new(
        Kind::Rest(seen.interaction.to_string()),
        Action::of_interaction(seen.interaction),
        now_micros(),
        actor,
    );
    r.entities = seen.entities;
    r.patients = seen.patients;
    r.query = seen.query;
    r.operation = seen.operation;
    r
}

/// Errors that refused access to data (audited as failed attempts).
fn refused(e: &Error) -> bool {
    matches!(e, Error::Forbidden(_) | Error::NotFound(_) | Error::Gone(_))
}

/// What a refused request was trying to do, from its method and path.
fn attempted(req: &HttpRequest, segs: &[&str]) -> Option<Seen> {
    let (interaction, _) = super::metrics::classify(req.method(), req.path());
    let interaction = match interaction {
        "other" if req.method() == Method::GET && segs.len() == 3 => "search-type",
        "other" | "capabilities" => return None,
        i => i,
    };
    let mut seen = Seen {
        interaction,
        ..Seen::default()
    };
    if let [t, id, ..] = segs
        && !id.starts_with('$')
        && !id.starts_with('_')
        && crate::fhir::ids::ResourceType::parse(t).is_ok()
        && crate::fhir::ids::is_valid_id(id)
    {
        seen.entities.push(format!("{t}/{id}"));
    }
    if !req.query_string().is_empty() {
        seen.query = Some(req.query_string().to_string());
    }
    Some(seen)
}

/// Audits the request's outcome; a successful read is answered only once its record is durable.
pub async fn finish(
    st: &AppState,
    req: &HttpRequest,
    segs: &[&str],
    trail: Trail,
    result: Result<HttpResponse, ApiError>,
) -> Result<HttpResponse, ApiError> {
    match result {
        Ok(resp) => match trail.take() {
            Some(seen) => {
                st.services
                    .audit
                    .record(&record(seen, st.actor.clone()))
                    .await?;
                Ok(resp)
            }
            None => Ok(resp),
        },
        Err(e) if refused(&e.0) => {
            if let Some(seen) = trail.take().or_else(|| attempted(req, segs)) {
                record_refusal(st, seen, st.actor.clone(), &e.0).await;
            }
            Err(e)
        }
        Err(e) => Err(e),
    }
}

/// A request refused for its credentials (401: no, forged, expired or revoked token): audited as
/// a failed attempt by an unknown agent from its address.
pub async fn unauthenticated(
    st: &AppState,
    req: &HttpRequest,
    segs: &[&str],
    e: Error,
) -> ApiError {
    if matches!(e, Error::Unauthorized(_))
        && let Some(seen) = attempted(req, segs)
    {
        let actor = Actor {
            source_ip: source_ip(req),
            ..Actor::default()
        };
        record_refusal(st, seen, actor, &e).await;
    }
    e.into()
}

async fn record_refusal(st: &AppState, seen: Seen, actor: Actor, e: &Error) {
    let mut rec = record(seen, actor);
    rec.outcome = Outcome::Minor;
    rec.outcome_desc = Some(super::error::classify(e).0.as_u16().to_string());
    // The answer carries no data either way: a failure to audit it is only logged.
    if let Err(ae) = st.services.audit.record(&rec).await {
        tracing::error!(error = %ae, "refused request not audited");
    }
}
