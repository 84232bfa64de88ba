//! Fan-out: turns committed change events into one delivery row per interested destination, in
//! one transaction with the cursor, so each event is fanned out exactly once across nodes.

use crate::error::Error;
use crate::search::params;
use crate::store::outbox::{self, ChangeEvent, NewDelivery, SubscriptionRow};
use crate::store::{AnyConnection, search_sql};

use super::subscription::split_criteria;

/// The mirror's destination id.
pub const MIRROR: &str = "mirror";

/// Resource types that can produce an outbound HL7 v2 message (ADT, SIU).
const HL7_TYPES: [&str; 3] = ["Patient", "Encounter", "Appointment"];

pub fn subscription_dest(sub_id: &str) -> String {
    format!("Subscription/{sub_id}")
}

/// Fans out events in (cursor, bound], at most `limit`. Returns how many events were processed.
pub fn step(
    conn: &mut AnyConnection,
    bound: i64,
    mirror: bool,
    hl7: &[String],
    limit: i64,
) -> Result<usize, Error> {
    let Some(cursor) = outbox::lock_cursor(conn)? else {
        return Ok(0); // another node is fanning out right now
    };
    if bound <= cursor {
        return Ok(0);
    }
    let events = outbox::events_between(conn, cursor, bound, limit)?;
    let Some(last) = events.last().map(|e| e.event_id) else {
        outbox::set_cursor(conn, bound)?; // ids of rolled-back transactions
        return Ok(0);
    };
    let subs = outbox::subscriptions(conn, &["requested", "active", "error"])?;
    for e in &events {
        if mirror {
            outbox::insert_delivery(
                conn,
                &NewDelivery {
                    dest_id: MIRROR,
                    event: e,
                    event_number: 0,
                },
            )?;
        }
        if HL7_TYPES.contains(&e.res_type.as_str()) {
            for dest in hl7 {
                outbox::insert_delivery(
                    conn,
                    &NewDelivery {
                        dest_id: dest,
                        event: e,
                        event_number: 0,
                    },
                )?;
            }
        }
        for sub in &subs {
            if matches(conn, sub, e)? {
                let n = outbox::next_event_number(conn, &sub.sub_id)?;
                outbox::insert_delivery(
                    conn,
                    &NewDelivery {
                        dest_id: &subscription_dest(&sub.sub_id),
                        event: e,
                        event_number: n,
                    },
                )?;
            }
        }
    }
    // A short batch read everything up to the bound: the gaps are rolled-back ids.
    let done = if (events.len() as i64) < limit {
        bound
    } else {
        last
    };
    outbox::set_cursor(conn, done)?;
    Ok(events.len())
}

/// Does the event match the Subscription's criteria? Evaluated against the resource's current
/// index (the search engine with `_id` added). A deletion matches on the type alone.
fn matches(
    conn: &mut AnyConnection,
    sub: &SubscriptionRow,
    e: &ChangeEvent,
) -> Result<bool, Error> {
    let Some((t, mut pairs)) = split_criteria(&sub.criteria) else {
        return Ok(false);
    };
    if t != e.res_type {
        return Ok(false);
    }
    if e.operation == "delete" || pairs.is_empty() {
        return Ok(true);
    }
    pairs.push(("_id".into(), e.res_id.clone()));
    let custom = crate::search::custom::from_rows(crate::store::custom_params::live(conn)?);
    let zone = crate::interactions::index_zone(conn)?;
    let Ok(parsed) = params::parse(std::slice::from_ref(&t), &pairs, "", false, &custom, &zone)
    else {
        return Ok(false);
    };
    let mut q = parsed.query;
    q.sort.clear();
    Ok(!search_sql::page(conn, &q, 1)?.is_empty())
}
