//! Allowed hosts: the Host (or X-Forwarded-Host / Forwarded host) a request names must be one this
//! server answers to, because it becomes the base of Location headers and Bundle links (no host
//! header poisoning). The host must always be a well-formed authority; the allow-list is off unless
//! configured.

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

/// Whether `host` is an RFC 3986 authority without userinfo: reg-name, IPv4 or `[IPv6]`, then an
/// optional `:port`. Anything else (quotes, angle brackets, slashes, spaces) would be copied into
/// Location headers and Bundle links, so it is refused even when no allow-list is configured.
pub fn valid_authority(host: &str) -> bool {
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let Some((ip, tail)) = rest.split_once(']') else {
            return false;
        };
        if ip.parse::<std::net::Ipv6Addr>().is_err() {
            return false;
        }
        match tail {
            "" => return true,
            t => match t.strip_prefix(':') {
                Some(p) => ("x", Some(p)),
                None => return false,
            },
        }
    } else {
        match host.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host, None),
        }
    };
    let port_ok = port.is_none_or(|p| p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    port_ok && !name.is_empty() && reg_name(name)
}

/// RFC 3986 reg-name: unreserved, pct-encoded and sub-delims (an IPv4 address is one too).
fn reg_name(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' => {
                if b.len() < i + 3 || !b[i + 1].is_ascii_hexdigit() || !b[i + 2].is_ascii_hexdigit()
                {
                    return false;
                }
                i += 3;
                continue;
            }
            c if c.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=".contains(&c) => {}
            _ => return false,
        }
        i += 1;
    }
    true
}

/// RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ).
pub fn valid_scheme(s: &str) -> bool {
    s.bytes().next().is_some_and(|c| c.is_ascii_alphabetic())
        && s.bytes()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
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
    if !req.path().starts_with("/health/") {
        let (host, scheme) = {
            let info = req.connection_info();
            (info.host().to_string(), info.scheme().to_string())
        };
        let refused = if !valid_authority(&host) {
            Some(Error::invalid(
                Some("Host"),
                format!(
                    "{host:?} is not a valid host[:port] (Host, X-Forwarded-Host or Forwarded host)"
                ),
            ))
        } else if !valid_scheme(&scheme) {
            Some(Error::invalid(
                Some("X-Forwarded-Proto"),
                format!(
                    "{scheme:?} is not a valid URI scheme (X-Forwarded-Proto or Forwarded proto)"
                ),
            ))
        } else if let Some(list) = list
            && !allowed(&list, &host)
        {
            Some(Error::invalid(
                Some("Host"),
                format!("this server does not answer to host {host:?} (--allowed-hosts)"),
            ))
        } else {
            None
        };
        if let Some(e) = refused {
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

    #[test]
    fn authorities() {
        for ok in [
            "fhir.example.org",
            "localhost:8080",
            "127.0.0.1",
            "[::1]:443",
            "[2001:db8::1]",
            "xn--bcher-kva.example",
            "a%41b",
        ] {
            assert!(valid_authority(ok), "{ok}");
        }
        for bad in [
            "",
            "evil.example\"><script>",
            "a b",
            "a/b",
            "user@host",
            "host:80x",
            "host:123456",
            "[::1",
            "[zz]:1",
            "[::1]x",
            "a%4",
            ":80",
        ] {
            assert!(!valid_authority(bad), "{bad}");
        }
        assert!(valid_scheme("https") && valid_scheme("coap+tcp"));
        assert!(!valid_scheme("") && !valid_scheme("1http") && !valid_scheme("http\"><"));
    }
}
