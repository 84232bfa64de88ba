//! What the sync feature reads from an R4 Subscription resource (with the Subscriptions Backport
//! IG's payload-content extension).

use serde_json::Value;

use crate::store::outbox::SubscriptionRow;

pub const HEARTBEAT_URL: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-heartbeat-period";

pub const PAYLOAD_CONTENT_URL: &str =
    "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-payload-content";

/// The projection row of a Subscription resource. Channels other than rest-hook are kept as
/// `off`: nothing is delivered to them.
pub fn project(id: &str, r: &Value) -> SubscriptionRow {
    let channel = r.get("channel");
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_string();
    let channel_type = text(channel.and_then(|c| c.get("type")));
    let mut status = text(r.get("status"));
    if channel_type != "rest-hook" {
        status = "off".into();
    }
    let headers: Vec<String> = channel
        .and_then(|c| c.get("header"))
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    let payload = channel
        .and_then(|c| c.get("payload"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let content = payload_content(channel).unwrap_or_else(|| {
        if payload.is_some() {
            "full-resource".to_string()
        } else {
            "empty".to_string()
        }
    });
    SubscriptionRow {
        sub_id: id.to_string(),
        status,
        criteria: text(r.get("criteria")),
        endpoint: text(channel.and_then(|c| c.get("endpoint"))),
        headers: serde_json::to_string(&headers).unwrap_or_else(|_| "[]".into()),
        payload,
        content,
        events_count: 0,
        fail_count: 0,
        next_attempt_at: 0,
        last_error: None,
        heartbeat_secs: heartbeat_period(channel),
        last_sent_at: 0,
    }
}

/// `channel.extension[backport-heartbeat-period].valueUnsignedInt` (seconds), 0 when absent.
fn heartbeat_period(channel: Option<&Value>) -> i64 {
    channel
        .and_then(|c| c.get("extension"))
        .and_then(Value::as_array)
        .and_then(|a| {
            a.iter()
                .find(|e| e.get("url").and_then(Value::as_str) == Some(HEARTBEAT_URL))
        })
        .and_then(|e| e.get("valueUnsignedInt"))
        .and_then(Value::as_i64)
        .filter(|n| *n > 0)
        .unwrap_or(0)
}

/// `channel._payload.extension[backport-payload-content].valueCode`.
fn payload_content(channel: Option<&Value>) -> Option<String> {
    channel?
        .get("_payload")?
        .get("extension")?
        .as_array()?
        .iter()
        .find(|e| e.get("url").and_then(Value::as_str) == Some(PAYLOAD_CONTENT_URL))?
        .get("valueCode")?
        .as_str()
        .filter(|c| matches!(*c, "empty" | "id-only" | "full-resource"))
        .map(str::to_string)
}

/// `Patient?name=x` → ("Patient", pairs). None when the criteria has no type.
pub fn split_criteria(criteria: &str) -> Option<(String, Vec<(String, String)>)> {
    let (t, q) = criteria.split_once('?').unwrap_or((criteria, ""));
    let t = t.rsplit('/').next().unwrap_or(t).trim();
    if t.is_empty() {
        return None;
    }
    Some((t.to_string(), crate::search::criteria::form_pairs(q)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn projects_backport_content() {
        let r = serde_json::json!({"resourceType":"Subscription","status":"requested","criteria":"Patient?name=x",
            "channel":{"type":"rest-hook","endpoint":"https://e.example/h","header":["Authorization: Bearer x"],
            "payload":"application/fhir+json","_payload":{"extension":[{"url":PAYLOAD_CONTENT_URL,"valueCode":"id-only"}]}}});
        let p = project("s1", &r);
        assert_eq!(p.status, "requested");
        assert_eq!(p.content, "id-only");
        assert_eq!(p.headers, r#"["Authorization: Bearer x"]"#);
        assert_eq!(
            split_criteria("Patient?name=x"),
            Some(("Patient".into(), vec![("name".into(), "x".into())]))
        );
    }
}
