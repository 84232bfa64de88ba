//! Subscription operations of the Subscriptions Backport IG: `$status` (the SubscriptionStatus)
//! and `$events` (re-read past notifications by event number, to recover missed ones).

use serde_json::json;

use crate::error::Error;
use crate::fhir::ids::LogicalId;
use crate::fhir::time;
use crate::store::outbox::{self, SubscriptionRow};
use crate::store::{now_micros, resources};
use crate::sync::fanout::subscription_dest;
use crate::sync::notify::{self, EventEntry};

use super::Services;

/// Most events one `$events` call returns.
pub const MAX_EVENTS: i64 = 1000;

fn load(s: &Services, id: &LogicalId) -> Result<SubscriptionRow, Error> {
    s.store
        .read(|c| outbox::subscription(c, id.as_str()))?
        .filter(|r| r.status != "deleted")
        .ok_or_else(|| Error::NotFound(format!("Subscription/{id} is not known")))
}

/// GET Subscription/[id]/$status → a searchset Bundle with the SubscriptionStatus.
pub fn status(s: &Services, id: &LogicalId, base: &str) -> Result<Vec<u8>, Error> {
    let sub = load(s, id)?;
    let p = notify::status_parameters(base, &sub, "query-status", &[]);
    let b = json!({
        "resourceType": "Bundle",
        "type": "searchset",
        "timestamp": time::fhir_instant(now_micros()),
        "total": 1,
        "entry": [{"fullUrl": format!("urn:uuid:{}", p["id"].as_str().unwrap_or_default()),
                   "resource": p, "search": {"mode": "match"}}],
    });
    serde_json::to_vec(&b).map_err(|e| Error::Internal(e.to_string()))
}

/// GET Subscription/[id]/$events?eventsSinceNumber=&eventsUntilNumber=&content=
pub fn events(
    s: &Services,
    id: &LogicalId,
    base: &str,
    pairs: &[(String, String)],
) -> Result<Vec<u8>, Error> {
    let mut sub = load(s, id)?;
    let num = |name: &str, default: i64| -> Result<i64, Error> {
        match pairs.iter().find(|(k, _)| k == name) {
            None => Ok(default),
            Some((_, v)) => v.parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| {
                Error::invalid(Some(name), format!("{name} must be a non-negative integer"))
            }),
        }
    };
    let since = num("eventsSinceNumber", 1)?;
    let until = num("eventsUntilNumber", i64::MAX)?;
    if let Some((_, c)) = pairs.iter().find(|(k, _)| k == "content") {
        if !matches!(c.as_str(), "empty" | "id-only" | "full-resource") {
            return Err(Error::invalid(
                Some("content"),
                "content must be empty, id-only or full-resource",
            ));
        }
        sub.content = c.clone();
    }
    let dest = subscription_dest(id.as_str());
    let full = sub.content == "full-resource";
    let (rows, bodies) = s.store.read(|c| -> Result<_, Error> {
        let rows = outbox::deliveries_since(c, &dest, since, until, MAX_EVENTS)?;
        let mut bodies = Vec::with_capacity(rows.len());
        for d in &rows {
            let body = if full && d.operation != "delete" {
                resources::read_version(c, &d.res_type, &d.res_id, d.version)?
                    .map(|v| v.json())
                    .transpose()?
                    .flatten()
            } else {
                None
            };
            bodies.push(body);
        }
        Ok((rows, bodies))
    })?;
    let entries: Vec<EventEntry<'_>> = rows
        .iter()
        .zip(bodies)
        .map(|(delivery, resource)| EventEntry { delivery, resource })
        .collect();
    Ok(notify::bundle(base, &sub, "query-event", &entries))
}
