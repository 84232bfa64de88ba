//! Outbound HL7 v2 over MLLP: builds the message for a change (crates/hl7v2 outbound encoder),
//! sends it and classifies the ACK. MSH-10 is the event id, so a retry repeats the same control
//! id and the peer can drop duplicates.

use std::time::Duration;

use hms_hl7v2::Message;
use hms_hl7v2::outbound::{self, Header, Trigger};
use serde_json::Value;

use crate::mllp::client::MllpClient;
use crate::store::outbox::Delivery;

use super::channel::Sent;
use super::config::Hl7Destination;

/// The Patient id an Encounter or Appointment is about (Encounter.subject, else the first
/// Appointment participant that is a Patient).
pub fn subject(resource: &Value) -> Option<String> {
    let reference = |v: &Value| {
        v.get("reference")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("Patient/"))
            .map(|id| id.split('/').next().unwrap_or(id).to_string())
    };
    if let Some(s) = resource.get("subject") {
        return reference(s);
    }
    resource
        .get("participant")?
        .as_array()?
        .iter()
        .filter_map(|p| p.get("actor"))
        .find_map(reference)
}

/// The wire message for one delivery, or why nothing is sent for this change.
pub fn build(
    peer: &Hl7Destination,
    resource: &Value,
    patient: Option<&Value>,
    d: &Delivery,
) -> Result<Vec<u8>, String> {
    let trigger = Trigger::for_change(resource, d.operation == "create")
        .ok_or_else(|| format!("no HL7 v2 message for this {} change", d.res_type))?;
    let ts = chrono::Utc::now().format("%Y%m%d%H%M%S+0000").to_string();
    let control = d.event_id.to_string();
    let header = Header {
        sending_application: "HMS",
        sending_facility: "HMS",
        receiving_application: &peer.name,
        receiving_facility: "",
        timestamp: &ts,
        control_id: &control,
    };
    outbound::encode(trigger, resource, patient, &header)
        .map(String::into_bytes)
        .map_err(|e| format!("cannot encode {}: {e}", d.res_type))
}

/// What an ACK says about the message with control id `sent_id`.
pub fn classify_ack(ack: &[u8], sent_id: &str) -> Sent {
    let Ok(msg) = Message::parse(ack) else {
        return Sent::Transient("unparseable ACK".into());
    };
    let code = msg.get("MSA.1").unwrap_or_default();
    let acked = msg.get("MSA.2").unwrap_or_default();
    if acked != sent_id {
        return Sent::Transient(format!(
            "ACK for control id {acked:?}, expected {sent_id:?}: discarded"
        ));
    }
    let text = msg
        .get("MSA.3")
        .or_else(|| msg.get("ERR.8"))
        .unwrap_or_default();
    match code.as_str() {
        "AA" | "CA" => Sent::Ok {
            status: 0,
            etag: None,
        },
        "AR" | "CR" => Sent::Permanent {
            status: 0,
            message: format!("{code}: {text}"),
        },
        // AE/CE and anything unknown: the peer may accept it later.
        _ => Sent::Transient(format!("{code}: {text}")),
    }
}

/// Sends one message over `conn` (connecting when None) and waits for its ACK. Any failure or
/// mismatched ACK drops the connection, so a late ACK cannot be taken for the next message's.
pub async fn send(
    conn: &mut Option<MllpClient>,
    addr: &str,
    msg: &[u8],
    event_id: i64,
    timeout: Duration,
) -> Sent {
    if conn.is_none() {
        match MllpClient::connect(addr, timeout).await {
            Ok(c) => *conn = Some(c),
            Err(e) => return Sent::Transient(e.to_string()),
        }
    }
    let Some(c) = conn.as_mut() else {
        return Sent::Transient("no connection".into());
    };
    let sent = match c.send(msg).await {
        Ok(ack) => classify_ack(&ack, &event_id.to_string()),
        Err(e) => Sent::Transient(e.to_string()),
    };
    if !matches!(sent, Sent::Ok { .. }) {
        *conn = None;
    }
    sent
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ack_codes() {
        let ack = |code: &str, id: &str| {
            format!("MSH|^~\\&|EHR||HMS||20240101||ACK|9|P|2.5.1\rMSA|{code}|{id}|why\r")
        };
        assert!(matches!(
            classify_ack(ack("AA", "7").as_bytes(), "7"),
            Sent::Ok { .. }
        ));
        assert!(
            matches!(classify_ack(ack("AA", "6").as_bytes(), "7"), Sent::Transient(m) if m.contains("discarded"))
        );
        assert!(
            matches!(classify_ack(ack("AE", "7").as_bytes(), "7"), Sent::Transient(m) if m == "AE: why")
        );
        assert!(
            matches!(classify_ack(ack("CR", "7").as_bytes(), "7"), Sent::Permanent { message, .. } if message == "CR: why")
        );
    }
}
