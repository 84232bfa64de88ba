//! Allowed hosts: the Host (or X-Forwarded-Host / Forwarded host) a request names must be one this
//! server answers to, because it becomes the base of Location headers and Bundle links (no host
//! header poisoning). Off unless configured.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use actix_web::{ResponseError, web};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::error::Error;

/// Normalises the configured list: lower-case; `*` alone means every host (None).
pub fn parse(list: &[String]) -> Result<Option<Vec<String>>, String> {
    let items: Vec<String> = list
        .iter()
        .map(|s| s.trim().to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    if items.is_empty() || items.iter().any(|s| s == "*") {
        return Ok(None);
    }
    for h in &items {
        if h.contains('/') || h.contains(char::is_whitespace) {
            return Err(format!(
                "allowed_hosts: {h:?} is not a host name (fhir.example.org, *.example.org, host:port)"
            ));
        }
    }
    Ok(Some(items))
}

/// Splits `host[:port]` (IPv6 in brackets).
fn split(host: &str) -> (&str, Option<&str>) {
    if let Some(rest) = host.strip_prefix('[') {
        return match rest.split_once(']') {
            Some((h, tail)) => (h, tail.strip_prefix(':')),
            None => (host, None),
        };
    }
    match host.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => (h, Some(p)),
        _ => (host, None),
    }
}

/// Whether `host` (from the request) matches an entry: `name`, `name:port`, `*.domain`.
pub fn allowed(list: &[String], host: &str) -> bool {
    let host = host.to_ascii_lowercase();
    let (name, port) = split(&host);
    list.iter().any(|entry| {
        let (ename, eport) = split(entry);
        let name_ok = match ename.strip_prefix("*.") {
            Some(domain) => name
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => name == ename,
        };
        name_ok && eport.is_none_or(|p| Some(p) == port)
    })
}

/// 400 OperationOutcome for a Host that is not allowed. Health probes are exempt: orchestrators
/// call them by IP address, and they build no links.
pub async fn check_host(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let list = req
        .app_data::<web::Data<AppState>>()
        .and_then(|s| s.config.edge.allowed_hosts.clone());
    if let Some(list) = list
        && !req.path().starts_with("/health/")
    {
        let host = req.connection_info().host().to_string();
        if !allowed(&list, &host) {
            let e = Error::invalid(
                Some("Host"),
                format!("this server does not answer to host {host:?} (--allowed-hosts)"),
            );
            let resp = ApiError(e).error_response();
            return Ok(req.into_response(resp).map_into_right_body());
        }
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matching() {
        let l = parse(&[
            "FHIR.example.org".into(),
            "*.hospital.test".into(),
            "127.0.0.1:8080".into(),
            "[::1]".into(),
        ])
        .unwrap()
        .unwrap();
        assert!(allowed(&l, "fhir.example.org"));
        assert!(allowed(&l, "Fhir.Example.Org:443"));
        assert!(!allowed(&l, "evil.example.org"));
        assert!(allowed(&l, "a.hospital.test"));
        assert!(allowed(&l, "b.a.hospital.test:8443"));
        assert!(!allowed(&l, "hospital.test"));
        assert!(!allowed(&l, "xhospital.test"));
        assert!(allowed(&l, "127.0.0.1:8080"));
        assert!(!allowed(&l, "127.0.0.1:9090"));
        assert!(!allowed(&l, "127.0.0.1"));
        assert!(allowed(&l, "[::1]:8080"));
        assert_eq!(parse(&["*".into()]).unwrap(), None);
        assert!(parse(&["http://x".into()]).is_err());
    }
}
