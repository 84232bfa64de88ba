//! Read-your-writes over read replicas, at the HTTP edge. After a successful write the response
//! carries the client's write token twice: an `X-HMS-Read-After` header (for API clients, which
//! echo it on their next requests) and an `hms_read_after` cookie (for clients that keep cookies).
//! A request carrying a token reads from the primary, or from a replica that has replayed past the
//! token's WAL position (see `store::replica`). Without replicas this module does nothing.

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue, SET_COOKIE};
use actix_web::middleware::Next;
use actix_web::{HttpRequest, web};

use super::AppState;
use crate::store::replica::{READ_YOUR_WRITES_WINDOW, WriteToken};

pub const HEADER: &str = "x-hms-read-after";
pub const COOKIE: &str = "hms_read_after";

/// The write token a request carries (header first, then cookie).
pub fn token_of(req: &HttpRequest) -> Option<WriteToken> {
    if let Some(t) = req
        .headers()
        .get(HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(WriteToken::parse)
    {
        return Some(t);
    }
    req.headers()
        .get_all(actix_web::http::header::COOKIE)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .and_then(|(_, v)| WriteToken::parse(v))
}

/// The request's state with read routing set for its client.
pub fn scoped(req: &HttpRequest, st: AppState) -> AppState {
    if st.services.replicas.is_empty() {
        return st;
    }
    let mut st = st;
    st.services = st.services.for_request(token_of(req));
    st
}

fn is_write(method: &actix_web::http::Method) -> bool {
    matches!(method.as_str(), "POST" | "PUT" | "PATCH" | "DELETE")
}

/// After a successful write (with replicas configured), hands the client its write token.
pub async fn mint(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let write = is_write(req.method()) && req.path().starts_with("/fhir");
    let primary = req
        .app_data::<web::Data<AppState>>()
        .filter(|s| !s.services.replicas.is_empty())
        .map(|s| s.services.store.clone());
    let mut res = next.call(req).await?;
    let (Some(primary), true) = (primary, write && res.status().is_success()) else {
        return Ok(res);
    };
    let token = web::block(move || WriteToken::after_commit(&primary)).await;
    let Ok(Ok(token)) = token else {
        // Without a token the client may read stale data from a replica; say so in the log.
        tracing::warn!("could not read the primary's WAL position for read-your-writes");
        return Ok(res);
    };
    let value = token.encode();
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&value) {
        headers.insert(HeaderName::from_static(HEADER), v);
    }
    let cookie = format!(
        "{COOKIE}={value}; Path=/; Max-Age={}; HttpOnly; SameSite=Lax",
        READ_YOUR_WRITES_WINDOW.as_secs()
    );
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        headers.append(SET_COOKIE, v);
    }
    Ok(res)
}
