//! Outbound HTTP: one request, and how its result maps to a delivery outcome.

use std::time::Duration;

use awc::http::Method;

/// The result of one HTTP attempt.
#[derive(Debug, Clone)]
pub enum Sent {
    Ok {
        status: u16,
        etag: Option<String>,
    },
    /// Worth retrying: connection errors, timeouts, 408, 429, 5xx.
    Transient(String),
    /// Retrying cannot help: other 4xx.
    Permanent {
        status: u16,
        message: String,
    },
}

pub struct Request<'a> {
    pub method: Method,
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    pub body: Option<Vec<u8>>,
    pub event_id: Option<i64>,
}

/// Sends one request. Bodies of error responses are not read beyond a short prefix and never
/// logged (they could echo PHI).
pub async fn send(client: &awc::Client, req: Request<'_>, timeout: Duration) -> Sent {
    let mut r = client.request(req.method.clone(), req.url).timeout(timeout);
    if let Some(id) = req.event_id {
        r = r.insert_header(("X-HMS-Event-Id", id.to_string()));
    }
    for (k, v) in req.headers {
        r = r.insert_header((k.as_str(), v.as_str()));
    }
    let res = match req.body {
        Some(b) => {
            r.insert_header(("Content-Type", "application/fhir+json"))
                .send_body(b)
                .await
        }
        None => r.send().await,
    };
    let mut res = match res {
        Ok(res) => res,
        Err(e) => return Sent::Transient(format!("request failed: {e}")),
    };
    let status = res.status().as_u16();
    let etag = res
        .headers()
        .get("etag")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    // Drain (bounded) so the connection can be reused.
    let _ = res.body().limit(64 * 1024).await;
    classify(status, etag)
}

pub fn classify(status: u16, etag: Option<String>) -> Sent {
    match status {
        200..=299 => Sent::Ok { status, etag },
        408 | 429 | 500..=599 => Sent::Transient(format!("HTTP {status}")),
        _ => Sent::Permanent {
            status,
            message: format!("HTTP {status}"),
        },
    }
}

/// "Name: value" header strings (Subscription.channel.header) as pairs; malformed ones dropped.
pub fn parse_headers(json: &str) -> Vec<(String, String)> {
    let list: Vec<String> = serde_json::from_str(json).unwrap_or_default();
    list.iter()
        .filter_map(|h| h.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .filter(|(k, _)| !k.is_empty() && k.bytes().all(|b| b.is_ascii_graphic()))
        .collect()
}
