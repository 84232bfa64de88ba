//! Notification Bundles per the Subscriptions Backport IG (R4): a `history` Bundle whose first
//! entry is the SubscriptionStatus (a Parameters resource), then one entry per event.

use serde_json::{Value, json};

use crate::fhir::time;
use crate::store::now_micros;
use crate::store::outbox::{Delivery, SubscriptionRow};

pub const NOTIFICATION_PROFILE: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-notification-r4";
pub const STATUS_PROFILE: &str = "http://hl7.org/fhir/uv/subscriptions-backport/StructureDefinition/backport-subscription-status-r4";

/// One event to put in a notification, with the resource JSON for full-resource content.
pub struct EventEntry<'a> {
    pub delivery: &'a Delivery,
    pub resource: Option<Vec<u8>>,
}

/// The SubscriptionStatus Parameters.
pub fn status_parameters(
    base: &str,
    sub: &SubscriptionRow,
    kind: &str,
    events: &[EventEntry<'_>],
) -> Value {
    // An event notification counts up to its own last event; status queries report the total.
    let since_start = match kind {
        "event-notification" => events
            .iter()
            .map(|e| e.delivery.event_number)
            .max()
            .unwrap_or(sub.events_count),
        _ => sub.events_count,
    };
    let mut params = vec![
        json!({"name": "subscription", "valueReference": {"reference": format!("{base}/Subscription/{}", sub.sub_id)}}),
        json!({"name": "status", "valueCode": sub.status}),
        json!({"name": "type", "valueCode": kind}),
        json!({"name": "events-since-subscription-start", "valueString": since_start.to_string()}),
    ];
    if let Some(e) = &sub.last_error {
        params.push(json!({"name": "error", "valueCodeableConcept": {"text": e}}));
    }
    for e in events {
        let d = e.delivery;
        let mut parts = vec![
            json!({"name": "event-number", "valueString": d.event_number.to_string()}),
            json!({"name": "timestamp", "valueInstant": time::fhir_instant(d.created_at)}),
        ];
        if sub.content != "empty" {
            parts.push(json!({"name": "focus", "valueReference": {"reference": format!("{base}/{}/{}/_history/{}", d.res_type, d.res_id, d.version)}}));
        }
        params.push(json!({"name": "notification-event", "part": parts}));
    }
    json!({
        "resourceType": "Parameters",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": {"profile": [STATUS_PROFILE]},
        "parameter": params,
    })
}

/// The notification Bundle (kind: handshake | heartbeat | event-notification | query-event).
pub fn bundle(base: &str, sub: &SubscriptionRow, kind: &str, events: &[EventEntry<'_>]) -> Vec<u8> {
    let status = status_parameters(base, sub, kind, events);
    let mut entries = vec![json!({
        "fullUrl": format!("urn:uuid:{}", status["id"].as_str().unwrap_or_default()),
        "resource": status,
        "request": {"method": "GET", "url": format!("{base}/Subscription/{}/$status", sub.sub_id)},
        "response": {"status": "200"},
    })];
    if sub.content != "empty" {
        for e in events {
            let d = e.delivery;
            let url = format!("{}/{}", d.res_type, d.res_id);
            let (method, status) = match d.operation.as_str() {
                "delete" => ("DELETE", "204"),
                "create" => ("POST", "201"),
                _ => ("PUT", "200"),
            };
            let mut entry = json!({
                "fullUrl": format!("{base}/{url}"),
                "request": {"method": method, "url": if method == "POST" { d.res_type.clone() } else { url.clone() }},
                "response": {"status": status, "etag": format!("W/\"{}\"", d.version)},
            });
            if sub.content == "full-resource"
                && let Some(body) = &e.resource
                && let Ok(v) = serde_json::from_slice::<Value>(body)
            {
                entry["resource"] = v;
            }
            entries.push(entry);
        }
    }
    let b = json!({
        "resourceType": "Bundle",
        "id": uuid::Uuid::new_v4().to_string(),
        "meta": {"profile": [NOTIFICATION_PROFILE]},
        "type": "history",
        "timestamp": time::fhir_instant(now_micros()),
        "entry": entries,
    });
    serde_json::to_vec(&b).unwrap_or_default()
}
