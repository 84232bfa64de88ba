//! HL7 v2.1–2.8 message parser and encoder.
//!
//! Parsing is lossless: every segment keeps its raw text, blank lines and the final
//! terminator are remembered, so `Message::parse(x)?.encode() == x` byte for byte
//! (after the caller's optional [`normalize_segment_terminators`] step).
//! Segments are split on CR only; inside a CR-delimited message LF is data.

mod builder;
mod charset;
mod delim;
mod error;
mod escape;
mod path;
mod segment;
mod view;

use std::borrow::Cow;

pub use builder::SegmentBuilder;
pub use charset::Charset;
pub use delim::Delimiters;
pub use error::{ErrorLocation, ParseError};
pub use escape::{EscapeError, escape, unescape};
pub use segment::Segment;
pub use view::{Component, Field, Repetition, Subcomponent};

use segment::is_header_id;
use view::Ctx;

const BOM: &[u8] = &[0xEF, 0xBB, 0xBF];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Line {
    Segment(Segment),
    /// Empty or whitespace-only line between terminators, kept for round trip.
    Blank(String),
}

/// A parsed message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    ctx: Ctx,
    bom: bool,
    lines: Vec<Line>,
    trailing_cr: bool,
    warnings: Vec<String>,
}

/// Pre-step for files and frames whose segments are not CR-terminated.
///
/// * no CR at all → every LF becomes CR (Unix files);
/// * every CR is followed by LF and every LF preceded by CR → CRLF becomes CR;
/// * anything else (CR-only, or mixed) is returned unchanged: there LF is data.
pub fn normalize_segment_terminators(bytes: &[u8]) -> Cow<'_, [u8]> {
    let has_cr = bytes.contains(&b'\r');
    if !has_cr {
        if !bytes.contains(&b'\n') {
            return Cow::Borrowed(bytes);
        }
        return Cow::Owned(
            bytes
                .iter()
                .map(|b| if *b == b'\n' { b'\r' } else { *b })
                .collect(),
        );
    }
    let mut consistent = true;
    for (i, b) in bytes.iter().enumerate() {
        let ok = match b {
            b'\r' => bytes.get(i + 1) == Some(&b'\n'),
            b'\n' => i > 0 && bytes.get(i - 1) == Some(&b'\r'),
            _ => true,
        };
        if !ok {
            consistent = false;
            break;
        }
    }
    if !consistent {
        return Cow::Borrowed(bytes);
    }
    Cow::Owned(bytes.iter().copied().filter(|b| *b != b'\n').collect())
}

/// Reads MSH-18 straight from the header bytes (the charset must be known before
/// the bytes can be decoded). The header is ASCII by definition.
fn sniff_charset(bytes: &[u8], field: u8, rep: Option<u8>) -> Result<Charset, ParseError> {
    let end = bytes
        .iter()
        .position(|b| *b == b'\r')
        .unwrap_or(bytes.len());
    let head = bytes.get(..end).unwrap_or(bytes);
    let msh18 = head.split(|b| *b == field).nth(17).unwrap_or(b"");
    let first = match rep {
        Some(r) => msh18.split(|b| *b == r).next().unwrap_or(b""),
        None => msh18,
    };
    Charset::from_msh18(&String::from_utf8_lossy(first))
}

impl Message {
    /// Parses one message from wire bytes (UTF-8 BOM tolerated and remembered).
    pub fn parse(bytes: &[u8]) -> Result<Message, ParseError> {
        let (bom, body) = match bytes.strip_prefix(BOM) {
            Some(rest) => (true, rest),
            None => (false, bytes),
        };
        // Skip blank lines to find the header for delimiter/charset sniffing.
        let start = body
            .iter()
            .position(|b| !matches!(b, b'\r' | b' ' | b'\t'))
            .ok_or(ParseError::Empty)?;
        let head_bytes = body.get(start..).unwrap_or(&[]);
        let head_end = head_bytes
            .iter()
            .position(|b| *b == b'\r')
            .unwrap_or(head_bytes.len());
        let head = String::from_utf8_lossy(head_bytes.get(..head_end).unwrap_or(&[]));
        if !head.starts_with("MSH") {
            return Err(ParseError::MissingMsh {
                found: head.chars().take(3).collect(),
            });
        }
        let (d, _, doubled) = Delimiters::from_header(&head)?;
        let ascii = |c: Option<char>| c.and_then(|c| u8::try_from(u32::from(c)).ok());
        let field_b = ascii(Some(d.field)).unwrap_or(b'|');
        let charset = sniff_charset(head_bytes, field_b, ascii(d.repetition))?;
        let text = charset.decode(body)?;
        let mut msg = Message::from_text(&text, Ctx { d, charset }, bom)?;
        if doubled {
            msg.warnings
                .push("MSH-2 has a doubled escape character (\\\\); read as ^~\\&".into());
        }
        if msg.msh().is_some_and(|m| m.field(9).is_empty()) {
            return Err(ParseError::MissingMsh9);
        }
        Ok(msg)
    }

    /// Parses already decoded text (must use CR terminators).
    pub fn parse_str(text: &str) -> Result<Message, ParseError> {
        Message::parse(text.as_bytes())
    }

    fn from_text(text: &str, ctx: Ctx, bom: bool) -> Result<Message, ParseError> {
        let trailing_cr = text.ends_with('\r');
        let body = if trailing_cr {
            &text[..text.len() - 1]
        } else {
            text
        };
        let mut lines = Vec::new();
        for (i, line) in body.split('\r').enumerate() {
            if line.trim().is_empty() {
                lines.push(Line::Blank(line.to_owned()));
                continue;
            }
            let id_ok = line.len() >= 3
                && line.get(..3).is_some_and(|id| {
                    id.bytes()
                        .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
                })
                && line
                    .get(3..)
                    .is_none_or(|r| r.is_empty() || r.starts_with(ctx.d.field));
            if !id_ok {
                return Err(ParseError::BadSegmentId {
                    index: i + 1,
                    found: line.chars().take(10).collect(),
                });
            }
            lines.push(Line::Segment(Segment::new(line.to_owned(), ctx)));
        }
        Ok(Message {
            ctx,
            bom,
            lines,
            trailing_cr,
            warnings: Vec::new(),
        })
    }

    /// Encodes back to wire bytes in the message charset. For a parsed message this
    /// reproduces the input exactly (BOM, blank lines and final CR included).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = if self.bom { BOM.to_vec() } else { Vec::new() };
        out.extend(self.ctx.charset.encode(&self.to_text()));
        out
    }

    /// The message text with CR terminators (no BOM).
    pub fn to_text(&self) -> String {
        let mut s = String::new();
        for (i, line) in self.lines.iter().enumerate() {
            if i > 0 {
                s.push('\r');
            }
            match line {
                Line::Segment(seg) => s.push_str(seg.raw()),
                Line::Blank(b) => s.push_str(b),
            }
        }
        if self.trailing_cr {
            s.push('\r');
        }
        s
    }

    /// All segments in order (blank lines skipped).
    pub fn all_segments(&self) -> impl Iterator<Item = &Segment> {
        self.lines.iter().filter_map(|l| match l {
            Line::Segment(s) => Some(s),
            Line::Blank(_) => None,
        })
    }

    /// All segments with this id, in order.
    pub fn segments<'a>(&'a self, id: &'a str) -> impl Iterator<Item = &'a Segment> + 'a {
        self.all_segments().filter(move |s| s.id() == id)
    }

    /// First segment with this id.
    pub fn segment(&self, id: &str) -> Option<&Segment> {
        self.all_segments().find(|s| s.id() == id)
    }

    /// The MSH segment.
    pub fn msh(&self) -> Option<&Segment> {
        self.segment("MSH")
    }

    /// Delimiters declared by MSH-1/MSH-2.
    pub fn delimiters(&self) -> &Delimiters {
        &self.ctx.d
    }

    /// Charset from MSH-18.
    pub fn charset(&self) -> Charset {
        self.ctx.charset
    }

    /// Tolerated irregularities (e.g. doubled escape in MSH-2).
    pub fn warnings(&self) -> &[String] {
        &self.warnings
    }

    /// MSH-9.1 message code (`ADT`).
    pub fn message_code(&self) -> String {
        self.msh()
            .map(|m| m.field(9).component(1).text())
            .unwrap_or_default()
    }

    /// MSH-9.2 trigger event (`A01`).
    pub fn trigger_event(&self) -> String {
        self.msh()
            .map(|m| m.field(9).component(2).text())
            .unwrap_or_default()
    }

    /// MSH-10 control id.
    pub fn control_id(&self) -> String {
        self.msh().map(|m| m.field(10).text()).unwrap_or_default()
    }

    /// MSH-12.1 version id (`2.5.1`).
    pub fn version(&self) -> String {
        self.msh()
            .map(|m| m.field(12).component(1).text())
            .unwrap_or_default()
    }

    /// Decoded value at a path such as `PID.3[2].4`, `PID.5.1.1`, `OBX(2).5`,
    /// `MSH.9.2`. `SEG(n)` selects the n-th segment occurrence, `[r]` the field
    /// repetition (default 1 when a component is addressed). `None` when absent,
    /// empty, explicit null, or when the path is malformed.
    pub fn get(&self, path: &str) -> Option<String> {
        path::resolve(self, path).and_then(|raw| raw.value())
    }
}

impl Message {
    /// 1-based number (among all segments) of a second `MSH`: a frame must hold one message, and
    /// silently ignoring the rest would lose data.
    pub fn second_msh(&self) -> Option<usize> {
        self.all_segments()
            .enumerate()
            .filter(|(_, s)| s.id() == "MSH")
            .nth(1)
            .map(|(i, _)| i + 1)
    }

    /// Where the first control character is (C0 other than TAB, LF, CR), raw or decoded from an
    /// escape such as `\X00\` or `\X01\` (field level; MSH-1/MSH-2 are checked raw). Control
    /// characters are not text in any HL7 data type, FHIR strings cannot hold them, and
    /// PostgreSQL cannot store NUL in text columns.
    pub fn find_control_char(&self) -> Option<(ErrorLocation, char)> {
        let bad = |s: &str| {
            s.chars()
                .find(|c| c.is_ascii_control() && !matches!(c, '\t' | '\n' | '\r' | '\x7f'))
        };
        let mut seen: Vec<(&str, usize)> = Vec::new();
        for seg in self.all_segments() {
            let sequence = match seen.iter_mut().find(|(id, _)| *id == seg.id()) {
                Some((_, n)) => {
                    *n += 1;
                    *n
                }
                None => {
                    seen.push((seg.id(), 1));
                    1
                }
            };
            let at = |field: Option<usize>| ErrorLocation {
                segment: seg.id().chars().filter(|c| !c.is_ascii_control()).collect(),
                sequence,
                field,
                component: None,
            };
            for n in 1..=seg.field_count() {
                let f = seg.field(n);
                if let Some(c) = bad(f.raw()).or_else(|| bad(&f.text())) {
                    return Some((at(Some(n)), c));
                }
            }
            if let Some(c) = bad(seg.raw()) {
                return Some((at(None), c));
            }
        }
        None
    }
}

/// Splits wire bytes (CR-terminated segments) into one slice per message, each starting at a
/// segment `MSH`. Bytes before the first `MSH` stay with the first message. Used by senders that
/// must put each message in its own frame.
pub fn split_messages(bytes: &[u8]) -> Vec<&[u8]> {
    let mut starts = vec![0];
    let mut at_line_start = true;
    for (i, b) in bytes.iter().enumerate() {
        if at_line_start && i > 0 && bytes.get(i..i + 3) == Some(b"MSH") {
            starts.push(i);
        }
        at_line_start = *b == b'\r';
    }
    let mut out = Vec::new();
    for (k, s) in starts.iter().enumerate() {
        let e = starts.get(k + 1).copied().unwrap_or(bytes.len());
        if let Some(part) = bytes.get(*s..e)
            && !part.iter().all(|b| b.is_ascii_whitespace())
        {
            out.push(part);
        }
    }
    out
}

/// Splits a batch (`FHS`/`BHS` ... `BTS`/`FTS`) or a plain concatenation of messages
/// into messages. Envelope segments are validated for delimiters but not returned.
pub fn parse_batch(bytes: &[u8]) -> Result<Vec<Message>, ParseError> {
    let body = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let mut messages = Vec::new();
    let mut current: Vec<&[u8]> = Vec::new();
    let flush = |current: &mut Vec<&[u8]>, out: &mut Vec<Message>| -> Result<(), ParseError> {
        if !current.is_empty() {
            let joined = current.join(&b'\r');
            out.push(Message::parse(&joined)?);
            current.clear();
        }
        Ok(())
    };
    for line in body.split(|b| *b == b'\r') {
        let id = line.get(..3).unwrap_or(line);
        if is_header_id(&String::from_utf8_lossy(id)) && id != b"MSH" {
            flush(&mut current, &mut messages)?;
            let text = String::from_utf8_lossy(line);
            Delimiters::from_header(&text)?;
            continue;
        }
        if id == b"BTS" || id == b"FTS" {
            flush(&mut current, &mut messages)?;
            continue;
        }
        if id == b"MSH" {
            flush(&mut current, &mut messages)?;
        }
        if current.is_empty() && line.iter().all(|b| b.is_ascii_whitespace()) {
            continue;
        }
        current.push(line);
    }
    flush(&mut current, &mut messages)?;
    if messages.is_empty() {
        return Err(ParseError::Empty);
    }
    Ok(messages)
}
