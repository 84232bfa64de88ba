//! The HTTP side: one request/response exchange with the server under test.

use std::time::Duration;

use awc::http::Method;
use serde_json::Value;

/// Largest response body read (bytes).
const BODY_LIMIT: usize = 64 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct RequestRecord {
    /// Upper-case HTTP method.
    pub method: String,
    pub url: String,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Option<Value>,
    /// The body as sent when it is not JSON (form-encoded search).
    pub body_text: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ResponseRecord {
    pub status: u16,
    /// Header names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body_text: String,
    /// Parsed body; `Ok(None)` for an empty body.
    pub json: Result<Option<Value>, String>,
}

#[derive(Debug, Clone)]
pub struct Exchange {
    pub request: RequestRecord,
    pub response: ResponseRecord,
}

pub fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.as_str())
}

impl ResponseRecord {
    pub fn header(&self, name: &str) -> Option<&str> {
        header(&self.headers, name)
    }
}

pub fn client(timeout: Duration) -> awc::Client {
    awc::Client::builder()
        .timeout(timeout)
        .disable_redirects()
        .finish()
}

/// Sends the request; Err is a transport-level failure (message names method and URL).
pub async fn send(client: &awc::Client, req: &RequestRecord) -> Result<ResponseRecord, String> {
    let method = Method::from_bytes(req.method.as_bytes())
        .map_err(|_| format!("invalid HTTP method '{}'", req.method))?;
    let mut builder = client.request(method, req.url.as_str());
    for (k, v) in &req.headers {
        builder = builder.insert_header((k.as_str(), v.as_str()));
    }
    let body = match (&req.body, &req.body_text) {
        (Some(v), _) => Some(v.to_string()),
        (None, Some(t)) => Some(t.clone()),
        (None, None) => None,
    };
    let sent = match body {
        Some(b) => builder.send_body(b).await,
        None => builder.send().await,
    };
    let mut resp = sent.map_err(|e| format!("{} {} failed: {e}", req.method, req.url))?;
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| {
            (
                k.as_str().to_ascii_lowercase(),
                String::from_utf8_lossy(v.as_bytes()).into_owned(),
            )
        })
        .collect();
    let bytes = resp.body().limit(BODY_LIMIT).await.map_err(|e| {
        format!(
            "{} {}: reading response body failed: {e}",
            req.method, req.url
        )
    })?;
    let body_text = String::from_utf8_lossy(&bytes).into_owned();
    let json = if body_text.trim().is_empty() {
        Ok(None)
    } else {
        serde_json::from_str::<Value>(&body_text)
            .map(Some)
            .map_err(|e| e.to_string())
    };
    Ok(ResponseRecord {
        status,
        headers,
        body_text,
        json,
    })
}

/// Percent-encodes the characters that cannot appear in a URI (space, quotes,
/// `<>\^`{|}`, controls, non-ASCII). Existing `%xx` escapes are kept.
pub fn encode_url(url: &str) -> String {
    let mut out = String::with_capacity(url.len());
    for b in url.bytes() {
        let keep = b.is_ascii_graphic()
            && !matches!(
                b,
                b'"' | b'<' | b'>' | b'\\' | b'^' | b'`' | b'{' | b'|' | b'}'
            );
        if keep {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// MIME type for a TestScript `accept`/`contentType` code (json, xml, ttl, none) or a
/// literal MIME type.
pub fn mime_for(code: &str) -> String {
    match code {
        "json" => "application/fhir+json".into(),
        "xml" => "application/fhir+xml".into(),
        "ttl" => "application/fhir+turtle".into(),
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_only_illegal() {
        assert_eq!(
            encode_url("http://x/Organization?name=St. James|a%20b"),
            "http://x/Organization?name=St.%20James%7Ca%20b"
        );
        assert_eq!(encode_url("é"), "%C3%A9");
    }
}
