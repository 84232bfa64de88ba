//! Successful FHIR responses: status, ETag/Last-Modified/Location, body per Prefer and _pretty.

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};

use crate::fhir::{outcome, time};
use crate::interactions::Stored;

use super::negotiate::{FHIR_JSON, Return, prefer, wants_pretty};

/// The body as stored, or re-indented for `_pretty=true` (numbers keep their exact text).
pub fn body_bytes(req: &HttpRequest, raw: Vec<u8>) -> Vec<u8> {
    if !wants_pretty(req) {
        return raw;
    }
    match serde_json::from_slice::<serde_json::Value>(&raw) {
        Ok(v) => serde_json::to_vec_pretty(&v).unwrap_or(raw),
        Err(_) => raw,
    }
}

pub fn json(req: &HttpRequest, status: StatusCode, raw: Vec<u8>) -> HttpResponse {
    HttpResponse::build(status)
        .content_type(FHIR_JSON)
        .body(body_bytes(req, raw))
}

fn version_headers(b: &mut HttpResponseBuilder, s: &Stored) {
    b.insert_header(("ETag", format!("W/\"{}\"", s.version)));
    b.insert_header(("Last-Modified", time::http_date(s.last_updated)));
}

/// read / vread: 200 with the resource.
pub fn resource(req: &HttpRequest, s: Stored) -> HttpResponse {
    let mut b = HttpResponse::Ok();
    version_headers(&mut b, &s);
    b.content_type(FHIR_JSON)
        .body(body_bytes(req, s.body.unwrap_or_default()))
}

/// create / update: status, Location, and the body the client asked for with Prefer.
pub fn written(
    req: &HttpRequest,
    base: &str,
    status: StatusCode,
    s: Stored,
    message: &str,
) -> HttpResponse {
    let mut b = HttpResponse::build(status);
    version_headers(&mut b, &s);
    b.insert_header((
        "Location",
        format!("{base}/{}/{}/_history/{}", s.res_type, s.id, s.version),
    ));
    match prefer(req).ret {
        Return::Minimal => b.finish(),
        Return::Representation => b
            .content_type(FHIR_JSON)
            .body(body_bytes(req, s.body.unwrap_or_default())),
        Return::OperationOutcome => b.content_type(FHIR_JSON).body(body_bytes(
            req,
            serde_json::to_vec(&outcome::success(message)).unwrap_or_default(),
        )),
    }
}

pub fn not_modified(s: &Stored) -> HttpResponse {
    let mut b = HttpResponse::NotModified();
    version_headers(&mut b, s);
    b.finish()
}
