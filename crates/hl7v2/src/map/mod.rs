//! HL7 v2 → FHIR R4 transaction Bundle, after the HL7 v2-to-FHIR IG concept maps.
//!
//! Output is a `transaction` Bundle the server executes atomically:
//! * upserts are conditional updates `PUT <Type>?identifier=<system>|<value>`,
//!   so replaying a message is idempotent;
//! * every upserted entry has a deterministic `urn:uuid` fullUrl and resources in the
//!   same Bundle reference each other through it (the server rewrites them to the
//!   real ids, FHIR transaction rule) — conditional references would fail for a
//!   patient created by this very Bundle;
//! * practitioners, devices and other actors without an upsert key are logical
//!   references (`identifier` + `display`); locations are contained resources;
//! * one Provenance (POST) per message targets everything touched.
//!
//! See the crate README for the full field table.

mod appointment;
pub mod dtm;
mod encounter;
mod patient;
mod types;

use std::collections::HashMap;

use serde_json::{Value, json};

use crate::ack::{AckError, Outcome};
use crate::message::{ErrorLocation, Message};
use types::Seg;

/// Mapping configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappingConfig {
    /// Assigning authority (HD namespace id or universal id) → identifier system URI.
    pub assigning_authority_systems: HashMap<String, String>,
    /// Prefix for systems of unknown authorities, e.g. `urn:hms:id:` → `urn:hms:id:AccMgr`.
    pub default_system_prefix: String,
    /// Offset applied to HL7 times sent without one (FHIR requires an offset).
    pub default_offset: String,
    /// PV1-2 patient class → v3 ActCode overrides (take precedence over the built-in map).
    pub class_overrides: HashMap<String, String>,
}

impl Default for MappingConfig {
    fn default() -> Self {
        MappingConfig {
            assigning_authority_systems: HashMap::new(),
            default_system_prefix: "urn:hms:id:".into(),
            default_offset: "+00:00".into(),
            class_overrides: HashMap::new(),
        }
    }
}

/// A mapping failure, positioned for the ACK ERR segment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{segment}-{field}: {message} (HL7 error {code})")]
pub struct MapError {
    pub segment: String,
    /// Occurrence of the segment in the message (1-based).
    pub sequence: usize,
    /// Field number; 0 when the error is about the segment as a whole.
    pub field: usize,
    pub component: Option<usize>,
    /// HL7 table 0357 code.
    pub code: u16,
    pub message: String,
}

impl MapError {
    /// 200/201/202/203 reject the message (AR/CR: the receiver does not handle it);
    /// data errors (100–103, 207) are AE/CE.
    pub fn outcome(&self) -> Outcome {
        if (200..=203).contains(&self.code) {
            Outcome::Reject
        } else {
            Outcome::Error
        }
    }

    /// The ERR content for [`crate::ack`].
    pub fn to_ack_error(&self) -> AckError {
        AckError {
            location: Some(ErrorLocation {
                segment: self.segment.clone(),
                sequence: self.sequence,
                field: (self.field > 0).then_some(self.field),
                component: self.component,
            }),
            code: self.code,
            message: self.message.clone(),
        }
    }
}

/// Patient merge (A40) that the server must complete: move every reference from
/// `source` to `target`. The Bundle already deactivates/links both patients.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MergeInstruction {
    /// (system, value) of MRG-1 (the record that goes away).
    pub source: (String, String),
    /// (system, value) of PID-3 (the surviving record).
    pub target: (String, String),
}

/// Mapping result.
#[derive(Debug, Clone, PartialEq)]
pub struct Mapped {
    /// FHIR R4 transaction Bundle.
    pub bundle: Value,
    /// One per PID/MRG pair of an A40 (a message may carry several).
    pub merges: Vec<MergeInstruction>,
    /// (system, value) of the (first) patient, for per-patient ordering.
    pub patient_key: Option<(String, String)>,
    /// Non-fatal issues (e.g. an A01 without PV1-19: no Encounter upserted).
    pub warnings: Vec<String>,
}

/// Per-message mapping context.
pub(crate) struct Ctx<'a> {
    pub cfg: &'a MappingConfig,
    pub msg: &'a Message,
    /// MSH-4.1, scope for identifiers without assigning authority.
    pub facility: String,
    pub event: String,
    pub warnings: Vec<String>,
}

impl<'a> Ctx<'a> {
    pub fn seg(&self, id: &str) -> Option<Seg<'a>> {
        self.msg.segment(id).map(|seg| Seg { seg, seq: 1 })
    }
}

/// Collects Bundle entries.
pub(crate) struct BundleBuilder {
    entries: Vec<Value>,
    targets: Vec<Value>,
}

impl BundleBuilder {
    fn new() -> Self {
        BundleBuilder {
            entries: Vec::new(),
            targets: Vec::new(),
        }
    }

    /// Conditional update; returns the urn:uuid to reference it by.
    pub fn upsert(&mut self, rtype: &str, system: &str, value: &str, resource: Value) -> String {
        let url = format!("{rtype}?identifier={}", search_token(system, value));
        let full_url = format!("urn:uuid:{}", uuid_for(&url));
        self.entries.push(json!({
            "fullUrl": full_url,
            "resource": resource,
            "request": {"method": "PUT", "url": url}
        }));
        self.targets.push(json!({"reference": full_url}));
        full_url
    }

    /// Conditional JSON Patch (the resource must already exist).
    pub fn patch(&mut self, rtype: &str, system: &str, value: &str, ops: &Value) {
        let url = format!("{rtype}?identifier={}", search_token(system, value));
        let data = base64(ops.to_string().as_bytes());
        self.entries.push(json!({
            "resource": {"resourceType": "Binary", "contentType": "application/json-patch+json", "data": data},
            "request": {"method": "PATCH", "url": url}
        }));
        self.targets.push(
            json!({"reference": format!("{rtype}?identifier={}", search_token(system, value))}),
        );
    }
}

/// FHIR token search value `system|value`: FHIR-escapes `\ | , $` then
/// percent-encodes everything outside unreserved/`:/@`.
pub fn search_token(system: &str, value: &str) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for c in s.chars() {
            if matches!(c, '\\' | '|' | ',' | '$') {
                out.push_str("%5C");
            }
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_' | '~' | ':' | '/' | '@') {
                out.push(c);
            } else {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    out.push_str(&format!("%{b:02X}"));
                }
            }
        }
        out
    };
    format!("{}|{}", enc(system), enc(value))
}

/// Deterministic UUID (RFC 9562 version 8 layout) from FNV-1a hashes of `key`:
/// unique per resource within a Bundle and stable for tests; no RNG needed.
fn uuid_for(key: &str) -> String {
    let fnv = |seed: u64| {
        key.bytes().fold(seed, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
        })
    };
    let hi = fnv(0xcbf2_9ce4_8422_2325);
    let lo = fnv(0x84222325_cbf29ce4);
    let hi = (hi & !0xF000) | 0x8000; // version 8
    let lo = (lo & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000; // variant 10
    format!(
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        hi >> 32,
        (hi >> 16) & 0xFFFF,
        hi & 0xFFFF,
        lo >> 48,
        lo & 0xFFFF_FFFF_FFFF
    )
}

fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [
            chunk.first().copied().unwrap_or(0),
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                let idx = usize::try_from((n >> (18 - 6 * i)) & 63).unwrap_or(0);
                out.push(char::from(T.get(idx).copied().unwrap_or(b'A')));
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Maps a parsed message. Supported: ADT A01–A08, A11–A13, A28, A31, A40 and
/// SIU S12–S15, S26. Anything else is a `MapError` with code 200 (message type)
/// or 201 (event) — the server should answer AR (see [`MapError::outcome`]).
pub fn map_message(msg: &Message, cfg: &MappingConfig) -> Result<Mapped, MapError> {
    let msh = msg.msh().ok_or_else(|| MapError {
        segment: "MSH".into(),
        sequence: 1,
        field: 0,
        component: None,
        code: 100,
        message: "no MSH segment".into(),
    })?;
    let msh = Seg { seg: msh, seq: 1 };
    let code = msg.message_code();
    let mut event = msg.trigger_event();
    if event.is_empty() {
        event = msg.get("EVN.1").unwrap_or_default();
    }
    let mut ctx = Ctx {
        cfg,
        msg,
        facility: types::cv(msh.f(4).component(1)).unwrap_or_else(|| "unknown".into()),
        event: event.clone(),
        warnings: Vec::new(),
    };
    let mut b = BundleBuilder::new();
    let mut merges = Vec::new();
    let patient_key = match (code.as_str(), event.as_str()) {
        (
            "ADT",
            "A01" | "A02" | "A03" | "A04" | "A05" | "A06" | "A07" | "A08" | "A11" | "A12" | "A13",
        ) => {
            let pid = required_pid(&ctx)?;
            let (key, patient_ref) = patient::upsert_patient(&mut ctx, &mut b, pid, &[])?;
            encounter::upsert_encounter(&mut ctx, &mut b, &patient_ref)?;
            Some(key)
        }
        ("ADT", "A28" | "A31") => {
            let pid = required_pid(&ctx)?;
            Some(patient::upsert_patient(&mut ctx, &mut b, pid, &[])?.0)
        }
        ("ADT", "A40") => {
            let (key, m) = patient::merge(&mut ctx, &mut b)?;
            merges = m;
            Some(key)
        }
        ("SIU", "S12" | "S13" | "S14" | "S15" | "S26") => {
            appointment::upsert_appointment(&mut ctx, &mut b)?
        }
        ("ADT" | "SIU", _) => {
            return Err(msh.err(9, Some(2), 201, format!("unsupported event {code}^{event}")));
        }
        _ => return Err(msh.err(9, Some(1), 200, format!("unsupported message type {code}"))),
    };
    let recorded = msh
        .v(7)
        .ok_or_else(|| msh.err(7, None, 101, "MSH-7 (date/time of message) is empty".into()))
        .and_then(|v| dtm::parse_dtm(&v).map_err(|e| msh.err(7, None, 102, e)))?
        .fhir_instant(&cfg.default_offset);
    let mut agent = serde_json::Map::new();
    agent.insert(
        "type".into(),
        json!({"coding": [{"system": "http://terminology.hl7.org/CodeSystem/provenance-participant-type", "code": "author"}]}),
    );
    agent.insert(
        "who".into(),
        json!({"display": types::cv(msh.f(3).component(1)).unwrap_or_else(|| "unknown".into())}),
    );
    if let Some(fac) = types::cv(msh.f(4).component(1)) {
        agent.insert("onBehalfOf".into(), json!({"display": fac}));
    }
    let provenance = json!({
        "resourceType": "Provenance",
        "target": b.targets,
        "recorded": recorded,
        "activity": {"coding": [{"system": "http://terminology.hl7.org/CodeSystem/v2-0003", "code": event}]},
        "agent": [agent],
        "entity": [{"role": "source", "what": {"display": format!("{code}^{event} {}", msg.control_id())}}]
    });
    b.entries
        .push(json!({"resource": provenance, "request": {"method": "POST", "url": "Provenance"}}));
    Ok(Mapped {
        bundle: json!({"resourceType": "Bundle", "type": "transaction", "entry": b.entries}),
        merges,
        patient_key,
        warnings: ctx.warnings,
    })
}

fn required_pid<'a>(ctx: &Ctx<'a>) -> Result<Seg<'a>, MapError> {
    ctx.msg
        .segment("PID")
        .map(|seg| Seg { seg, seq: 1 })
        .ok_or_else(|| MapError {
            segment: "PID".into(),
            sequence: 1,
            field: 0,
            component: None,
            code: 100,
            message: "PID segment missing".into(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers() {
        assert_eq!(base64(b"Man"), "TWFu");
        assert_eq!(base64(b"Ma"), "TWE=");
        assert_eq!(base64(b"M"), "TQ==");
        assert_eq!(
            search_token("urn:oid:1.2", "a|b c"),
            "urn:oid:1.2|a%5C%7Cb%20c"
        );
        let u = uuid_for("Patient?identifier=x|1");
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'8');
        assert_ne!(u, uuid_for("Patient?identifier=x|2"));
    }
}
