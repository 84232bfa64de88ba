//! Refuses Subscription endpoints that would turn the server into a proxy into private networks
//! (SSRF): only http/https, and no loopback, private, link-local (cloud metadata) or otherwise
//! special address unless private endpoints are explicitly allowed.

use std::net::IpAddr;

use hms_fhir::outcome::Severity;
use serde_json::Value;

use crate::error::{Error, issue};
use crate::fhir::ids::ResourceType;

const ENDPOINT: &str = "Subscription.channel.endpoint";

fn refuse(expression: &str, msg: impl Into<String>) -> Error {
    Error::Unprocessable(vec![issue(
        Severity::Error,
        "business-rule",
        Some(expression),
        msg,
    )])
}

/// Checks a Subscription about to be written (other types pass).
pub fn check_resource(resource: &Value, allow_private: bool) -> Result<(), Error> {
    if resource.get("resourceType").and_then(Value::as_str) != Some("Subscription") {
        return Ok(());
    }
    let criteria = resource
        .get("criteria")
        .and_then(Value::as_str)
        .unwrap_or("");
    match super::subscription::split_criteria(criteria) {
        Some((t, _)) if ResourceType::parse(&t).is_ok() => {}
        _ => {
            return Err(refuse(
                "Subscription.criteria",
                "criteria must start with a resource type, e.g. Patient?identifier=sys|123",
            ));
        }
    }
    let channel = resource.get("channel");
    if channel.and_then(|c| c.get("type")).and_then(Value::as_str) != Some("rest-hook") {
        return Ok(());
    }
    let endpoint = channel
        .and_then(|c| c.get("endpoint"))
        .and_then(Value::as_str)
        .ok_or_else(|| refuse(ENDPOINT, "a rest-hook channel needs an endpoint"))?;
    check_endpoint(endpoint, allow_private).map_err(|m| refuse(ENDPOINT, m))
}

/// Checks a URL's scheme and, when its host is an address or `localhost`, the address.
pub fn check_endpoint(endpoint: &str, allow_private: bool) -> Result<(), String> {
    let uri: awc::http::Uri = endpoint
        .parse()
        .map_err(|_| format!("endpoint {endpoint:?} is not a valid URL"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        _ => return Err("endpoint must be an http or https URL".into()),
    }
    let host = uri
        .host()
        .ok_or_else(|| "endpoint has no host".to_string())?;
    if allow_private {
        return Ok(());
    }
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    // A trailing dot names the same host (`localhost.`).
    let lower = bare.trim_end_matches('.').to_ascii_lowercase();
    if lower == "localhost" || lower.ends_with(".localhost") {
        return Err(private_msg(host));
    }
    let ip = bare
        .parse::<IpAddr>()
        .ok()
        .or_else(|| numeric_ipv4(&lower).map(IpAddr::V4));
    if let Some(ip) = ip
        && !is_public(ip)
    {
        return Err(private_msg(host));
    }
    Ok(())
}

/// The address a resolver (inet_aton) reads from the shorthand IPv4 forms that `IpAddr` refuses:
/// `127.1`, `2130706433`, `0x7f.0.0.1`, `0177.0.0.1`, `0`. Without this they pass as "names" and
/// would only be caught at delivery time.
fn numeric_ipv4(host: &str) -> Option<std::net::Ipv4Addr> {
    let parts: Vec<&str> = host.split('.').collect();
    if parts.is_empty() || parts.len() > 4 {
        return None;
    }
    let mut nums = Vec::with_capacity(parts.len());
    for p in &parts {
        let n = if let Some(hex) = p.strip_prefix("0x") {
            u64::from_str_radix(hex, 16).ok()?
        } else if p.len() > 1 && p.starts_with('0') {
            u64::from_str_radix(&p[1..], 8).ok()?
        } else {
            p.parse::<u64>().ok()?
        };
        nums.push(n);
    }
    let (last, head) = nums.split_last()?;
    if head.iter().any(|&n| n > 255) || *last >= 1u64 << (8 * (5 - nums.len())) {
        return None;
    }
    let mut v: u64 = 0;
    for (i, n) in head.iter().enumerate() {
        v |= n << (24 - 8 * i);
    }
    v |= last;
    u32::try_from(v).ok().map(std::net::Ipv4Addr::from)
}

/// Delivery-time check: the scheme, and every address the host resolves to (a public name can
/// point at a private address).
pub async fn check_resolved(endpoint: &str, allow_private: bool) -> Result<(), String> {
    check_endpoint(endpoint, allow_private)?;
    if allow_private {
        return Ok(());
    }
    let uri: awc::http::Uri = endpoint
        .parse()
        .map_err(|_| "endpoint is not a valid URL".to_string())?;
    let host = uri
        .host()
        .unwrap_or_default()
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = uri
        .port_u16()
        .unwrap_or(if uri.scheme_str() == Some("https") {
            443
        } else {
            80
        });
    let addrs = tokio::net::lookup_host((host.as_str(), port))
        .await
        .map_err(|e| format!("cannot resolve endpoint host: {e}"))?;
    for a in addrs {
        if !is_public(a.ip()) {
            return Err(private_msg(&host));
        }
    }
    Ok(())
}

fn private_msg(host: &str) -> String {
    format!(
        "endpoint host {host} is a loopback, private, link-local or reserved address; \
         start the server with --allow-private-endpoints to permit it"
    )
}

/// True for globally routable unicast addresses.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            !(v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local() // 169.254.0.0/16, cloud metadata
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (64..128).contains(&o[1])) // CGNAT 100.64/10
                || o[0] >= 240)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public(IpAddr::V4(v4));
            }
            let s = v6.segments();
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local fc00::/7
                || (s[0] & 0xffc0) == 0xfe80) // link-local fe80::/10
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_private_and_metadata() {
        for bad in [
            "http://169.254.169.254/latest/meta-data",
            "http://127.0.0.1:9/x",
            "http://localhost/x",
            "http://10.1.2.3/",
            "http://192.168.0.1/",
            "http://[::1]/",
            "http://[fe80::1]/",
            "ftp://example.org/",
            "file:///etc/passwd",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://0177.0.0.1/",
            "http://127.1/",
            "http://0/",
            "http://localhost./",
            "http://10.1/",
        ] {
            assert!(check_endpoint(bad, false).is_err(), "{bad}");
        }
        assert!(check_endpoint("https://example.org/hook", false).is_ok());
        assert!(check_endpoint("http://8.8.8.8/hook", false).is_ok());
        assert!(check_endpoint("http://134744072/hook", false).is_ok()); // 8.8.8.8
        assert_eq!(numeric_ipv4("127.1"), Some([127, 0, 0, 1].into()));
        assert_eq!(numeric_ipv4("0x7f.0.0.1"), Some([127, 0, 0, 1].into()));
        assert_eq!(numeric_ipv4("2130706433"), Some([127, 0, 0, 1].into()));
        assert_eq!(numeric_ipv4("1.2.65535"), Some([1, 2, 255, 255].into()));
        assert_eq!(numeric_ipv4("1.2.65536"), None);
        assert_eq!(numeric_ipv4("example.org"), None);
        assert!(check_endpoint("http://127.0.0.1:9/x", true).is_ok());
        assert!(check_endpoint("ftp://127.0.0.1/x", true).is_err());
    }
}
