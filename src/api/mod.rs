//! The HTTP edge (actix-web): route table, health endpoints, request logging.

pub mod auth;
pub mod billing;
pub mod bundle_access;
pub mod consistency;
pub mod edge;
pub mod error;
pub mod metrics;
pub mod negotiate;
pub mod oauth;
pub mod render;
pub mod routes;

use std::sync::Arc;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};

use crate::config::Config;
use crate::error::Error;
use crate::interactions::Services;

use error::ApiError;

#[derive(Clone)]
pub struct AppState {
    pub services: Services,
    pub config: Arc<Config>,
    /// When this process started (µs), shown as the CapabilityStatement date.
    pub started_at: i64,
    /// Bearer-token validation (and token issuing in builtin mode).
    pub auth: Arc<auth::Authenticator>,
    /// Rate limits per IP and per client.
    pub limiter: Arc<edge::ratelimit::Limiter>,
}

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/health/live", web::get().to(live))
        .route("/health/ready", web::get().to(ready))
        .route("/metrics", web::get().to(metrics::render))
        .configure(oauth::configure)
        .route("/fhir", web::route().to(routes::dispatch))
        .route("/fhir/{tail:.*}", web::route().to(routes::dispatch))
        .default_service(web::route().to(not_found));
}

async fn live() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"status": "live"}))
}

async fn ready(state: web::Data<AppState>) -> HttpResponse {
    let store = state.services.store.clone();
    let ok = web::block(move || {
        store.read(|c| -> Result<(), crate::store::StoreError> {
            use diesel::connection::SimpleConnection;
            c.batch_execute("SELECT 1").map_err(Into::into)
        })
    })
    .await;
    match ok {
        Ok(Ok(())) => {
            HttpResponse::Ok().json(serde_json::json!({"status": "ready", "database": "ok"}))
        }
        _ => HttpResponse::ServiceUnavailable()
            .json(serde_json::json!({"status": "not ready", "database": "unreachable"})),
    }
}

async fn not_found(req: actix_web::HttpRequest) -> Result<HttpResponse, ApiError> {
    Err(Error::NotFound(format!(
        "no endpoint at {}; the FHIR base is /fhir",
        req.path()
    ))
    .into())
}

/// Security headers on every response: `X-Content-Type-Options: nosniff`; `Cache-Control:
/// no-store` on FHIR and auth responses (they carry PHI or tokens) unless the handler set one;
/// `Strict-Transport-Security` when serving HTTPS.
pub async fn security_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    use actix_web::http::header::{self, HeaderValue};
    let tls = req
        .app_data::<web::Data<AppState>>()
        .is_some_and(|s| s.config.tls.is_some());
    let path = req.path();
    let sensitive = path == "/fhir"
        || path.starts_with("/fhir/")
        || path.starts_with("/auth/")
        || path.starts_with("/.well-known/");
    let mut res = next.call(req).await?;
    let h = res.headers_mut();
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if sensitive && !h.contains_key(header::CACHE_CONTROL) {
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    if tls {
        h.insert(
            header::STRICT_TRANSPORT_SECURITY,
            HeaderValue::from_static("max-age=31536000"),
        );
    }
    Ok(res)
}

/// One log line per request with a request id (also returned as X-Request-Id). The query string is
/// not logged: search parameters can carry PHI (names, birth dates).
pub async fn request_log(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let request_id = req
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() <= 64 && v.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-'))
        .map(str::to_string)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = req.method().to_string();
    let path = req.path().to_string();
    let started = std::time::Instant::now();
    let mut res = next.call(req).await?;
    let status = res.status().as_u16();
    tracing::info!(
        request_id = %request_id,
        method = %method,
        path = %path,
        status,
        elapsed_ms = started.elapsed().as_secs_f64() * 1000.0,
        "request"
    );
    if let Ok(v) = actix_web::http::header::HeaderValue::from_str(&request_id) {
        res.headers_mut().insert(
            actix_web::http::header::HeaderName::from_static("x-request-id"),
            v,
        );
    }
    Ok(res)
}
