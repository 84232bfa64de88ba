//! Acknowledgements (original mode AA/AE/AR, enhanced mode CA/CE/CR).
//!
//! The ACK reuses the sender's delimiters, MSH-11 processing id, MSH-12 version and
//! MSH-18 charset, swaps sender/receiver (MSH-3/4 ⇄ MSH-5/6) and echoes MSH-10 in
//! MSA-2. Timestamp (MSH-7) and control id (MSH-10) are caller-supplied.

use crate::message::{
    Charset, Delimiters, ErrorLocation, EscapeError, Message, SegmentBuilder, escape,
};

/// MSA-1 acknowledgment code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCode {
    AA,
    AE,
    AR,
    CA,
    CE,
    CR,
}

impl AckCode {
    pub fn as_str(self) -> &'static str {
        match self {
            AckCode::AA => "AA",
            AckCode::AE => "AE",
            AckCode::AR => "AR",
            AckCode::CA => "CA",
            AckCode::CE => "CE",
            AckCode::CR => "CR",
        }
    }
}

/// Processing outcome, mapped to a code by the message's acknowledgment mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Accept,
    Error,
    Reject,
}

/// MSH-15/16 condition (table 0155).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckCondition {
    Always,
    Never,
    OnError,
    OnSuccess,
}

impl AckCondition {
    fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "AL" => Some(AckCondition::Always),
            "NE" => Some(AckCondition::Never),
            "ER" => Some(AckCondition::OnError),
            "SU" => Some(AckCondition::OnSuccess),
            _ => None,
        }
    }

    /// Whether an acknowledgment with this outcome should be sent.
    pub fn wants(self, outcome: Outcome) -> bool {
        match self {
            AckCondition::Always => true,
            AckCondition::Never => false,
            AckCondition::OnError => outcome != Outcome::Accept,
            AckCondition::OnSuccess => outcome == Outcome::Accept,
        }
    }
}

/// Acknowledgment mode of a received message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AckMode {
    Original,
    /// MSH-15 and/or MSH-16 valued. `None` = empty field (HL7: treat as AL).
    Enhanced {
        accept: Option<AckCondition>,
        application: Option<AckCondition>,
    },
}

/// An error to report in an ERR segment (severity E).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckError {
    pub location: Option<ErrorLocation>,
    /// HL7 table 0357 code (100, 101, 102, 103, 200, 201, 202, 203, 207...).
    pub code: u16,
    /// ERR-8 user message.
    pub message: String,
}

/// What to put in the ACK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckRequest {
    pub code: AckCode,
    /// MSH-10 of the ACK.
    pub control_id: String,
    /// MSH-7 of the ACK, already an HL7 DTM (`20240102153000+0100`).
    pub timestamp: String,
    /// MSA-3 text message (optional).
    pub text: Option<String>,
    /// ERR segment, normally for AE/AR/CE/CR.
    pub error: Option<AckError>,
}

/// ACK building failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckBuildError {
    #[error("no readable MSH header")]
    NoHeader,
    #[error(transparent)]
    Escape(#[from] EscapeError),
}

/// The parts of the received MSH an ACK needs, raw (wire form).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AckHeader {
    pub delimiters: Delimiters,
    pub sending_application: String,
    pub sending_facility: String,
    pub receiving_application: String,
    pub receiving_facility: String,
    /// Decoded MSH-9.2.
    pub trigger: String,
    /// Raw MSH-10.
    pub control_id: String,
    pub processing_id: String,
    /// Raw MSH-12.
    pub version: String,
    pub accept_ack_type: String,
    pub application_ack_type: String,
    /// Raw MSH-18.
    pub charset: String,
}

/// Table 0357 description.
pub fn error_text(code: u16) -> &'static str {
    match code {
        0 => "Message accepted",
        100 => "Segment sequence error",
        101 => "Required field missing",
        102 => "Data type error",
        103 => "Table value not found",
        104 => "Value too long",
        200 => "Unsupported message type",
        201 => "Unsupported event code",
        202 => "Unsupported processing id",
        203 => "Unsupported version id",
        204 => "Unknown key identifier",
        205 => "Duplicate key identifier",
        206 => "Application record locked",
        207 => "Application internal error",
        _ => "Error",
    }
}

impl AckHeader {
    /// From a parsed message.
    pub fn from_message(msg: &Message) -> Option<Self> {
        let msh = msg.msh()?;
        let f = |n: usize| msh.field(n).raw().to_owned();
        Some(AckHeader {
            delimiters: *msg.delimiters(),
            sending_application: f(3),
            sending_facility: f(4),
            receiving_application: f(5),
            receiving_facility: f(6),
            trigger: msh.field(9).component(2).text(),
            control_id: f(10),
            processing_id: f(11),
            version: f(12),
            accept_ack_type: f(15),
            application_ack_type: f(16),
            charset: f(18),
        })
    }

    /// Best-effort read of the MSH of bytes that failed to parse. Needs at least
    /// `MSH` plus a field separator; missing/invalid MSH-2 falls back to `^~\&`.
    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        let body = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF][..]).unwrap_or(bytes);
        let start = body.iter().position(|b| !b.is_ascii_whitespace())?;
        let body = body.get(start..)?;
        let end = body
            .iter()
            .position(|b| *b == b'\r' || *b == b'\n')
            .unwrap_or(body.len());
        let line = String::from_utf8_lossy(body.get(..end)?).into_owned();
        if !line.starts_with("MSH") {
            return None;
        }
        let sep = line.get(3..)?.chars().next()?;
        if !sep.is_ascii_punctuation() {
            return None;
        }
        let (delimiters, msh2_ok) = match Delimiters::from_header(&line) {
            Ok((d, _, _)) => (d, true),
            Err(_) => (
                Delimiters {
                    field: sep,
                    ..Delimiters::default()
                },
                false,
            ),
        };
        let parts: Vec<&str> = line.split(sep).collect();
        // parts[n-1] is MSH-n for n ≥ 2.
        let f = |n: usize| parts.get(n - 1).copied().unwrap_or("").to_owned();
        let trigger = delimiters
            .component
            .and_then(|c| f(9).split(c).nth(1).map(str::to_owned))
            .unwrap_or_default();
        // Without usable encoding characters (MSH-2) the sender's fields may be shifted
        // (`MSH|||||APP|...`): then what sits at MSH-10..18 is some other field. Unless MSH-9 and
        // MSH-12 look like a message type and a version, echo only MSH-3..6; MSA-2 stays empty,
        // MSH-11/12 get defaults, original mode.
        let reliable = msh2_ok
            || (plausible_message_type(&f(9), &delimiters)
                && plausible_version(&f(12), &delimiters));
        let g = |n: usize| if reliable { f(n) } else { String::new() };
        Some(AckHeader {
            delimiters,
            sending_application: f(3),
            sending_facility: f(4),
            receiving_application: f(5),
            receiving_facility: f(6),
            trigger: if reliable { trigger } else { String::new() },
            control_id: g(10),
            processing_id: g(11),
            version: g(12),
            accept_ack_type: g(15),
            application_ack_type: g(16),
            charset: g(18),
        })
    }

    /// Original or enhanced mode (MSH-15 or MSH-16 valued → enhanced).
    pub fn mode(&self) -> AckMode {
        if self.accept_ack_type.is_empty() && self.application_ack_type.is_empty() {
            AckMode::Original
        } else {
            AckMode::Enhanced {
                accept: AckCondition::parse(&self.accept_ack_type),
                application: AckCondition::parse(&self.application_ack_type),
            }
        }
    }

    /// The code for an outcome in this message's mode: AA/AE/AR in original mode,
    /// CA/CE/CR (the accept acknowledgment) in enhanced mode.
    pub fn code_for(&self, outcome: Outcome) -> AckCode {
        match (self.mode(), outcome) {
            (AckMode::Original, Outcome::Accept) => AckCode::AA,
            (AckMode::Original, Outcome::Error) => AckCode::AE,
            (AckMode::Original, Outcome::Reject) => AckCode::AR,
            (AckMode::Enhanced { .. }, Outcome::Accept) => AckCode::CA,
            (AckMode::Enhanced { .. }, Outcome::Error) => AckCode::CE,
            (AckMode::Enhanced { .. }, Outcome::Reject) => AckCode::CR,
        }
    }

    /// Whether an accept acknowledgment should be sent at all (enhanced mode
    /// MSH-15 NE/ER/SU; original mode always).
    pub fn wants_ack(&self, outcome: Outcome) -> bool {
        match self.mode() {
            AckMode::Original => true,
            AckMode::Enhanced { accept, .. } => accept.is_none_or(|c| c.wants(outcome)),
        }
    }

    /// (major, minor, patch) of MSH-12.1; unparseable → latest.
    fn version_tuple(&self) -> (u32, u32, u32) {
        let v = match self.delimiters.component {
            Some(c) => self.version.split(c).next().unwrap_or(""),
            None => self.version.as_str(),
        };
        let mut it = v.trim().split('.').map(|p| p.parse::<u32>().ok());
        match (it.next().flatten(), it.next().flatten()) {
            (Some(a), Some(b)) => (a, b, it.next().flatten().unwrap_or(0)),
            _ => (2, 9, 0),
        }
    }

    /// Builds the ACK bytes (segments CR-terminated, encoded in the MSH-18 charset).
    pub fn build(&self, req: &AckRequest) -> Result<Vec<u8>, AckBuildError> {
        let d = self.delimiters;
        let version = self.version_tuple();
        let c = d.component.map(String::from).unwrap_or_default();
        let trigger = escape(&self.trigger, &d)?;
        // MSH-9.3 (message structure) exists from v2.3.1 on.
        let msh9 = if version >= (2, 3, 1) {
            format!("ACK{c}{trigger}{c}ACK")
        } else {
            format!("ACK{c}{trigger}")
        };
        let clean = |raw: &str| scrub_nul(raw, &d);
        // An empty or misplaced MSH-11/12 (e.g. `MSH|` alone, or fields shifted by a missing MSH-2)
        // must not leave the ACK header empty or echo another field: use the defaults instead.
        let processing_id = if plausible_processing_id(&self.processing_id, &d) {
            clean(&self.processing_id)
        } else {
            DEFAULT_PROCESSING_ID.to_owned()
        };
        let msh12 = if plausible_version(&self.version, &d) {
            clean(&self.version)
        } else {
            DEFAULT_VERSION.to_owned()
        };
        let mut msh = SegmentBuilder::msh(d)
            .raw(&clean(&self.receiving_application))
            .raw(&clean(&self.receiving_facility))
            .raw(&clean(&self.sending_application))
            .raw(&clean(&self.sending_facility))
            .text(&req.timestamp)?
            .raw("")
            .raw(&msh9)
            .text(&req.control_id)?
            .raw(&processing_id)
            .raw(&msh12);
        if !self.charset.is_empty() {
            msh = msh
                .raw("")
                .raw("")
                .raw("")
                .raw("")
                .raw("")
                .raw(&clean(&self.charset));
        }
        let mut msa = SegmentBuilder::new("MSA", d)
            .raw(req.code.as_str())
            .raw(&clean(&self.control_id));
        if let Some(t) = &req.text {
            msa = msa.text(t)?;
        }
        let mut segs = vec![msh.build(), msa.build()];
        if let Some(e) = &req.error {
            segs.push(err_segment(d, version, e)?);
        }
        let mut text = segs.join("\r");
        text.push('\r');
        let charset = Charset::from_msh18(
            self.charset
                .split(d.repetition.unwrap_or('~'))
                .next()
                .unwrap_or(""),
        )
        .unwrap_or(Charset::Utf8);
        Ok(charset.encode(&text))
    }
}

/// MSH-11 of an ACK whose message gave none usable.
pub const DEFAULT_PROCESSING_ID: &str = "P";
/// MSH-12 of an ACK whose message gave none usable (the version the listener speaks).
pub const DEFAULT_VERSION: &str = "2.5.1";

fn first_component<'a>(raw: &'a str, d: &Delimiters) -> &'a str {
    match d.component {
        Some(c) => raw.split(c).next().unwrap_or(""),
        None => raw,
    }
}

/// Table 0103 values are one letter (`P`, `T`, `D`), optionally `^mode`.
fn plausible_processing_id(raw: &str, d: &Delimiters) -> bool {
    let first = first_component(raw, d);
    first.len() == 1 && first.bytes().all(|b| b.is_ascii_uppercase())
}

/// `ADT^A04`, `ACK`: a three-character code first.
fn plausible_message_type(raw: &str, d: &Delimiters) -> bool {
    let first = first_component(raw, d);
    first.len() == 3
        && first
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
}

/// `2.5.1`, optionally `^...`: digits separated by dots.
fn plausible_version(raw: &str, d: &Delimiters) -> bool {
    let first = first_component(raw, d);
    first.contains('.')
        && first
            .split('.')
            .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()))
}

/// An echoed raw value with NUL written as `\X00\` (dropped without an escape character).
fn scrub_nul(raw: &str, d: &Delimiters) -> String {
    if !raw.contains('\0') {
        return raw.to_owned();
    }
    let with = d.escape.map(|e| format!("{e}X00{e}")).unwrap_or_default();
    raw.replace('\0', &with)
}

fn err_segment(
    d: Delimiters,
    version: (u32, u32, u32),
    e: &AckError,
) -> Result<String, AckBuildError> {
    let b = SegmentBuilder::new("ERR", d);
    let code = e.code.to_string();
    let text = error_text(e.code);
    let (seg, seq, field, comp) = match &e.location {
        Some(l) => (
            l.segment.clone(),
            l.sequence.to_string(),
            l.field.map(|f| f.to_string()).unwrap_or_default(),
            l.component.map(|c| c.to_string()).unwrap_or_default(),
        ),
        None => Default::default(),
    };
    // ERL: segment^sequence^field^field repetition^component.
    let rep = if comp.is_empty() { "" } else { "1" };
    let erl = b.join_components(&[&seg, &seq, &field, rep, &comp])?;
    let cwe = b.join_components(&[&code, text, "HL70357"])?;
    let mut b = if version < (2, 5, 0) {
        // ERR-1 (ELD, the only ERR field before v2.5): seg^seq^field^code&text&table.
        let ce = match d.subcomponent {
            Some(s) => [code.as_str(), text, "HL70357"]
                .iter()
                .map(|p| escape(p, &d))
                .collect::<Result<Vec<_>, _>>()?
                .join(&s.to_string()),
            None => code.clone(),
        };
        let c = d.component.map(String::from).unwrap_or_default();
        let (seg, seq, field) = (escape(&seg, &d)?, escape(&seq, &d)?, escape(&field, &d)?);
        let eld = format!("{seg}{c}{seq}{c}{field}{c}{ce}");
        b.raw(&eld)
    } else {
        b.raw("")
    };
    b = b
        .raw(&erl)
        .raw(&cwe)
        .raw("E")
        .raw("")
        .raw("")
        .raw("")
        .text(&e.message)?;
    Ok(b.build())
}

/// ACK for a parsed message.
pub fn build_ack(msg: &Message, req: &AckRequest) -> Result<Vec<u8>, AckBuildError> {
    AckHeader::from_message(msg)
        .ok_or(AckBuildError::NoHeader)?
        .build(req)
}

/// ACK (normally AR/AE) for bytes that failed to parse, as far as the MSH can be read.
pub fn build_ack_for_unparsed(bytes: &[u8], req: &AckRequest) -> Result<Vec<u8>, AckBuildError> {
    AckHeader::sniff(bytes)
        .ok_or(AckBuildError::NoHeader)?
        .build(req)
}
