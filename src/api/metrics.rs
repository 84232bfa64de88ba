//! Prometheus metrics: `GET /metrics`, plus a middleware that counts and times every request by FHIR
//! interaction and resource type (derived from method + path shape, never from the query string, so
//! label values stay few and carry no PHI).
//!
//! * `hms_http_requests_total{interaction, resource_type, status}` counter
//! * `hms_http_request_duration_seconds{interaction, resource_type}` histogram
//! * `hms_db_pool_connections{state="in_use"|"idle"}` gauge, sampled at scrape time
//! * `hms_build_info{version}` gauge (1)

use std::sync::OnceLock;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::middleware::Next;
use actix_web::{HttpResponse, web};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use super::AppState;
use crate::fhir::ids::ResourceType;

pub const REQUESTS: &str = "hms_http_requests_total";
pub const DURATION: &str = "hms_http_request_duration_seconds";
pub const POOL: &str = "hms_db_pool_connections";

/// Latency buckets in seconds: 250 µs to 10 s.
const BUCKETS: &[f64] = &[
    0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the process-wide recorder once (several servers in one test process share it). None if
/// another recorder was installed first; metrics are then simply not exported.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(DURATION.to_string()), BUCKETS)
                .ok()?;
            match builder.install_recorder() {
                Ok(h) => Some(h),
                Err(e) => {
                    tracing::warn!(error = %e, "metrics recorder not installed; /metrics stays empty");
                    None
                }
            }
        })
        .as_ref()
}

/// Interaction and resource type label values for a request.
pub fn classify(method: &Method, path: &str) -> (&'static str, String) {
    let Some(rest) = path.strip_prefix("/fhir") else {
        let i = match path {
            "/metrics" => "metrics",
            p if p.starts_with("/health") => "health",
            _ => "other",
        };
        return (i, String::new());
    };
    if !rest.is_empty() && !rest.starts_with('/') {
        return ("other", String::new());
    }
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    let known = |t: &str| -> String {
        if ResourceType::parse(t).is_ok() {
            t.to_string()
        } else {
            "unknown".into()
        }
    };
    let m = method.as_str();
    let interaction = match (segs.as_slice(), m) {
        ([], "GET") => "search-system",
        ([], "POST") => "batch-transaction",
        (["metadata"], _) => "capabilities",
        (["_history"], _) => "history-system",
        ([op], _) if op.starts_with('$') => "operation",
        ([_], "GET") => "search-type",
        ([_], "POST") => "create",
        ([_], "PUT") => "conditional-update",
        ([_], "DELETE") => "conditional-delete",
        ([_], "PATCH") => "conditional-patch",
        ([_, "_search"], _) => "search-type",
        ([_, "_history"], _) => "history-type",
        ([_, op], _) if op.starts_with('$') => "operation",
        ([_, _], "GET" | "HEAD") => "read",
        ([_, _], "PUT") => "update",
        ([_, _], "DELETE") => "delete",
        ([_, _], "PATCH") => "patch",
        ([_, _, "_history"], _) => "history-instance",
        ([_, _, "_history", _], _) => "vread",
        ([_, _, op], _) if op.starts_with('$') => "operation",
        _ => "other",
    };
    let rtype = match segs.first() {
        Some(t) if !t.starts_with('$') && !t.starts_with('_') && *t != "metadata" => known(t),
        _ => String::new(),
    };
    (interaction, rtype)
}

/// Counts and times each request.
pub async fn track(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let (interaction, resource_type) = classify(req.method(), req.path());
    let started = Instant::now();
    let res = next.call(req).await;
    let status = match &res {
        Ok(r) => r.status().as_u16(),
        Err(e) => e.as_response_error().status_code().as_u16(),
    };
    let elapsed = started.elapsed().as_secs_f64();
    metrics::counter!(REQUESTS, "interaction" => interaction, "resource_type" => resource_type.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!(DURATION, "interaction" => interaction, "resource_type" => resource_type)
        .record(elapsed);
    res
}

/// `GET /metrics` in the Prometheus text format.
pub async fn render(state: web::Data<AppState>) -> HttpResponse {
    let Some(handle) = install() else {
        return HttpResponse::ServiceUnavailable().body("metrics recorder not installed\n");
    };
    let (connections, idle) = state.services.store.pool_state();
    metrics::gauge!(POOL, "state" => "in_use").set(f64::from(connections.saturating_sub(idle)));
    metrics::gauge!(POOL, "state" => "idle").set(f64::from(idle));
    metrics::gauge!("hms_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
    handle.run_upkeep();
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(handle.render())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interactions_from_method_and_path() {
        let c = |m: Method, p: &str| {
            let (i, t) = classify(&m, p);
            format!("{i} {t}")
        };
        assert_eq!(c(Method::GET, "/fhir/Patient/123"), "read Patient");
        assert_eq!(c(Method::GET, "/fhir/Patient"), "search-type Patient");
        assert_eq!(
            c(Method::POST, "/fhir/Patient/_search"),
            "search-type Patient"
        );
        assert_eq!(c(Method::POST, "/fhir/Observation"), "create Observation");
        assert_eq!(c(Method::PUT, "/fhir/Claim/x"), "update Claim");
        assert_eq!(c(Method::PUT, "/fhir/Claim"), "conditional-update Claim");
        assert_eq!(c(Method::DELETE, "/fhir/Claim/x"), "delete Claim");
        assert_eq!(
            c(Method::GET, "/fhir/Claim/x/_history"),
            "history-instance Claim"
        );
        assert_eq!(c(Method::GET, "/fhir/Claim/x/_history/2"), "vread Claim");
        assert_eq!(c(Method::GET, "/fhir/Claim/_history"), "history-type Claim");
        assert_eq!(c(Method::GET, "/fhir/_history"), "history-system ");
        assert_eq!(c(Method::GET, "/fhir/metadata"), "capabilities ");
        assert_eq!(c(Method::POST, "/fhir"), "batch-transaction ");
        assert_eq!(c(Method::GET, "/fhir/"), "search-system ");
        assert_eq!(c(Method::GET, "/fhir/Bogus/1"), "read unknown");
        assert_eq!(
            c(Method::POST, "/fhir/Patient/1/$everything"),
            "operation Patient"
        );
        assert_eq!(c(Method::GET, "/metrics"), "metrics ");
        assert_eq!(c(Method::GET, "/health/ready"), "health ");
        assert_eq!(c(Method::GET, "/fhirx"), "other ");
    }
}
