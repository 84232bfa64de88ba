//! What to do with a frame, decided without the database: parse, check MSH-11/MSH-12, map.

use std::borrow::Cow;

use hms_hl7v2::ack::{AckError, AckHeader, Outcome};
use hms_hl7v2::map::{Mapped, MappingConfig, map_message};
use hms_hl7v2::message::ErrorLocation;
use hms_hl7v2::{Message, normalize_segment_terminators};

use crate::store::hl7_messages::MessageKey;

/// HL7 versions whose MSH we understand (MSH-12.1).
const VERSIONS: &[&str] = &[
    "2.1", "2.2", "2.3", "2.3.1", "2.4", "2.5", "2.5.1", "2.6", "2.7", "2.7.1", "2.8", "2.8.1",
    "2.8.2",
];
/// Processing ids (MSH-11.1) that are applied: production, training, debugging.
const PROCESSING_IDS: &[&str] = &["P", "T", "D"];

/// A frame as far as it could be read.
pub struct Frame {
    pub raw: Vec<u8>,
    pub normalized: Vec<u8>,
    pub parsed: Result<Message, hms_hl7v2::ParseError>,
    pub header: Option<AckHeader>,
}

impl Frame {
    pub fn read(raw: Vec<u8>) -> Frame {
        let normalized = match normalize_segment_terminators(&raw) {
            Cow::Borrowed(b) => b.to_vec(),
            Cow::Owned(b) => b,
        };
        let parsed = Message::parse(&normalized);
        let header = match &parsed {
            Ok(m) => AckHeader::from_message(m),
            Err(_) => AckHeader::sniff(&normalized),
        };
        Frame {
            raw,
            normalized,
            parsed,
            header,
        }
    }

    /// Duplicate-detection key: raw MSH-3, MSH-4, MSH-10 and the SHA-256 of the raw bytes.
    pub fn key(&self) -> MessageKey {
        let digest = ring::digest::digest(&ring::digest::SHA256, &self.raw);
        let content_hash = digest.as_ref().iter().map(|b| format!("{b:02x}")).collect();
        let (app, fac, cid) = match &self.header {
            Some(h) => (
                without_nul(&h.sending_application),
                without_nul(&h.sending_facility),
                without_nul(&h.control_id),
            ),
            None => Default::default(),
        };
        MessageKey {
            sending_app: app,
            sending_facility: fac,
            control_id: cid,
            content_hash,
        }
    }

    /// `ADT^A04` (MSH-9.1^MSH-9.2), or what could be read of it.
    pub fn msg_type(&self) -> String {
        let t = match &self.parsed {
            Ok(m) => format!("{}^{}", m.message_code(), m.trigger_event()),
            Err(_) => self
                .header
                .as_ref()
                .map(|h| format!("?^{}", h.trigger))
                .unwrap_or_else(|| "?".into()),
        };
        without_nul(&t)
    }
}

/// Text columns (PostgreSQL) cannot hold NUL: such a message is stored with its raw bytes intact
/// (a bytea/blob column) and its key/type/error columns with NUL written as `\X00\`; it is then
/// refused (AE 102) by [`decide`].
pub fn without_nul(s: &str) -> String {
    s.replace('\0', "\\X00\\")
}

/// The processing decision for a stored frame.
pub enum Decision {
    /// Well-formed and mapped: apply the Bundle.
    Apply(Box<Mapped>),
    /// Not applied: answer with this outcome and ERR.
    Refuse { outcome: Outcome, error: AckError },
}

pub fn decide(frame: &Frame, mapping: &MappingConfig) -> Decision {
    let msg = match &frame.parsed {
        Ok(m) => m,
        Err(e) => {
            return Decision::Refuse {
                outcome: Outcome::Reject,
                error: AckError {
                    location: e.location(),
                    code: e.hl7_code(),
                    message: e.to_string(),
                },
            };
        }
    };
    // Checked before anything else reads the content: the rest would be dropped or mis-stored.
    if let Some(n) = msg.second_msh() {
        return Decision::Refuse {
            outcome: Outcome::Reject,
            error: AckError {
                location: Some(ErrorLocation {
                    segment: "MSH".into(),
                    sequence: 2,
                    field: None,
                    component: None,
                }),
                code: 100,
                message: format!("a frame holds one message; a second MSH starts at segment {n}"),
            },
        };
    }
    // A data type error (AE 102), not a storage failure or a 207 from the FHIR JSON parser.
    if let Some((at, c)) = msg.find_control_char() {
        let field = at.field.map(|f| format!("-{f}")).unwrap_or_default();
        let message = format!(
            "{}{field} contains the control character U+{:04X}",
            at.segment,
            u32::from(c)
        );
        return Decision::Refuse {
            outcome: Outcome::Error,
            error: AckError {
                location: Some(at),
                code: 102,
                message,
            },
        };
    }
    let msh_err = |field: usize, code: u16, message: String| Decision::Refuse {
        outcome: Outcome::Reject,
        error: AckError {
            location: Some(ErrorLocation {
                segment: "MSH".into(),
                sequence: 1,
                field: Some(field),
                component: None,
            }),
            code,
            message,
        },
    };
    let version = msg.get("MSH.12.1").unwrap_or_default();
    if !VERSIONS.contains(&version.as_str()) {
        return msh_err(12, 203, format!("unsupported HL7 version {version:?}"));
    }
    let pid = msg.get("MSH.11.1").unwrap_or_default();
    if !PROCESSING_IDS.contains(&pid.as_str()) {
        return msh_err(11, 202, format!("unsupported processing id {pid:?}"));
    }
    match map_message(msg, mapping) {
        Ok(m) => Decision::Apply(Box::new(m)),
        Err(e) => Decision::Refuse {
            outcome: e.outcome(),
            error: e.to_ack_error(),
        },
    }
}
