//! CORS for browser apps (SMART apps run in the browser): preflights answered here, before
//! authentication (a preflight carries no token), and the allow/expose headers added to the
//! answers of allowed origins. Not an access control: requests of other origins still run, the
//! browser just does not hand the answer to the page.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::Method;
use actix_web::http::header::{self, HeaderMap, HeaderValue};
use actix_web::middleware::Next;
use actix_web::{HttpResponse, ResponseError, web};

use crate::api::AppState;
use crate::api::error::ApiError;
use crate::error::Error;

pub const ALLOW_METHODS: &str = "GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS";
pub const ALLOW_HEADERS: &str = "Authorization, Content-Type, Accept, Prefer, If-Match, \
     If-None-Match, If-None-Exist, If-Modified-Since, X-Request-Id, X-HMS-Read-After";
pub const EXPOSE_HEADERS: &str =
    "ETag, Location, Content-Location, Last-Modified, Retry-After, X-Request-Id, X-HMS-Read-After";
/// Browsers may cache a preflight answer this long (seconds).
const MAX_AGE: &str = "600";

/// Which origins may call the API from a browser.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Origins {
    /// No CORS headers at all (the default).
    #[default]
    None,
    /// `*`: any origin.
    Any,
    /// Exact origins (`scheme://host[:port]`, lower-case).
    List(Vec<String>),
}

impl Origins {
    pub fn parse(list: &[String]) -> Result<Origins, String> {
        let items: Vec<String> = list
            .iter()
            .map(|s| s.trim().trim_end_matches('/').to_ascii_lowercase())
            .filter(|s| !s.is_empty())
            .collect();
        if items.is_empty() {
            return Ok(Origins::None);
        }
        if items.iter().any(|s| s == "*") {
            return Ok(Origins::Any);
        }
        for o in &items {
            let ok = (o.starts_with("http://") || o.starts_with("https://"))
                && !o.split_once("://").is_some_and(|(_, h)| h.contains('/'));
            if !ok {
                return Err(format!(
                    "cors_origins: {o:?} is not an origin like https://app.example.org"
                ));
            }
        }
        Ok(Origins::List(items))
    }

    /// The Access-Control-Allow-Origin value for a request from `origin`, if allowed.
    fn allow(&self, origin: &str) -> Option<String> {
        match self {
            Origins::None => None,
            Origins::Any => Some("*".into()),
            Origins::List(l) => l
                .iter()
                .any(|o| o.eq_ignore_ascii_case(origin))
                .then(|| origin.to_string()),
        }
    }
}

fn insert(h: &mut HeaderMap, name: header::HeaderName, value: &str) {
    if let Ok(v) = HeaderValue::from_str(value) {
        h.insert(name, v);
    }
}

/// Answers preflights (204, or 403 for an origin not allowed) and adds CORS headers to the
/// answers of allowed origins.
pub async fn cors(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let origins = req
        .app_data::<web::Data<AppState>>()
        .map(|s| s.config.edge.cors.clone())
        .unwrap_or_default();
    let origin = req
        .headers()
        .get(header::ORIGIN)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let (Some(origin), false) = (origin, origins == Origins::None) else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let allowed = origins.allow(&origin);
    let preflight = req.method() == Method::OPTIONS
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
    if preflight {
        let resp = match &allowed {
            Some(a) => {
                let mut r = HttpResponse::NoContent().finish();
                let h = r.headers_mut();
                insert(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, a);
                insert(h, header::ACCESS_CONTROL_ALLOW_METHODS, ALLOW_METHODS);
                insert(h, header::ACCESS_CONTROL_ALLOW_HEADERS, ALLOW_HEADERS);
                insert(h, header::ACCESS_CONTROL_MAX_AGE, MAX_AGE);
                insert(h, header::VARY, "Origin");
                r
            }
            None => ApiError(Error::Forbidden(format!(
                "origin {origin:?} is not allowed (--cors-origins)"
            )))
            .error_response(),
        };
        return Ok(req.into_response(resp).map_into_right_body());
    }
    let mut res = next.call(req).await?;
    if let Some(a) = allowed {
        let h = res.headers_mut();
        insert(h, header::ACCESS_CONTROL_ALLOW_ORIGIN, &a);
        insert(h, header::ACCESS_CONTROL_EXPOSE_HEADERS, EXPOSE_HEADERS);
        if a != "*" {
            h.append(header::VARY, HeaderValue::from_static("Origin"));
        }
    }
    Ok(res.map_into_left_body())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        let l = Origins::parse(&["https://App.example.org/".into(), " ".into()]).unwrap();
        assert_eq!(l, Origins::List(vec!["https://app.example.org".into()]));
        assert_eq!(
            l.allow("https://app.example.org"),
            Some("https://app.example.org".into())
        );
        assert_eq!(l.allow("https://evil.example"), None);
        assert_eq!(
            Origins::parse(&["https://a".into(), "*".into()]).unwrap(),
            Origins::Any
        );
        assert!(Origins::parse(&["app.example.org".into()]).is_err());
        assert!(Origins::parse(&["https://a/path".into()]).is_err());
        assert_eq!(Origins::parse(&[]).unwrap(), Origins::None);
    }
}
