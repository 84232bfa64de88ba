//! ACK bytes for a decision (original AA/AE/AR or enhanced CA/CE/CR, as the message asks).

use hms_hl7v2::ack::{
    AckCode, AckError, AckHeader, AckRequest, Outcome, build_ack, build_ack_for_unparsed,
};

use super::decide::Frame;

/// When nothing of the MSH is readable (e.g. an empty frame) the ACK answers this header.
const FALLBACK_MSH: &[u8] = b"MSH|^~\\&|||||||||P|2.5.1\r";

pub struct Ack {
    pub code: AckCode,
    /// None when the message asked for no acknowledgment of this outcome (MSH-15/16 NE/ER/SU).
    pub bytes: Option<Vec<u8>>,
}

/// Builds the ACK for stored message `id`.
pub fn ack(frame: &Frame, id: i64, outcome: Outcome, error: Option<AckError>) -> Ack {
    let header = frame
        .header
        .clone()
        .or_else(|| AckHeader::sniff(FALLBACK_MSH));
    let code = header
        .as_ref()
        .map(|h| h.code_for(outcome))
        .unwrap_or(match outcome {
            Outcome::Accept => AckCode::AA,
            Outcome::Error => AckCode::AE,
            Outcome::Reject => AckCode::AR,
        });
    if header.as_ref().is_some_and(|h| !h.wants_ack(outcome)) {
        return Ack { code, bytes: None };
    }
    let timestamp = chrono::Utc::now().format("%Y%m%d%H%M%S+0000").to_string();
    let req = AckRequest {
        code,
        control_id: format!("HMS{id}"),
        timestamp,
        text: None,
        error,
    };
    let build = |req: &AckRequest| match &frame.parsed {
        Ok(m) => build_ack(m, req),
        Err(_) => build_ack_for_unparsed(&frame.normalized, req)
            .or_else(|_| build_ack_for_unparsed(FALLBACK_MSH, req)),
    };
    let bytes = build(&req)
        .or_else(|_| {
            // The error text could not be escaped in this message's encoding: keep the code only.
            let mut plain = req.clone();
            if let Some(e) = plain.error.as_mut() {
                e.message.clear();
            }
            build(&plain)
        })
        .ok();
    Ack { code, bytes }
}

/// AR for a frame over the listener's size limit (nothing of it was read or stored).
pub fn too_large(limit: usize) -> Vec<u8> {
    let timestamp = chrono::Utc::now().format("%Y%m%d%H%M%S+0000").to_string();
    let req = AckRequest {
        code: AckCode::AR,
        control_id: "HMS-TOO-LARGE".into(),
        timestamp,
        text: None,
        error: Some(AckError {
            location: None,
            code: 104,
            message: format!("frame too large (limit {limit} bytes)"),
        }),
    };
    build_ack_for_unparsed(FALLBACK_MSH, &req).unwrap_or_default()
}
