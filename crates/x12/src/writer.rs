//! X12 writer: segments to text, and a full ISA/GS/ST envelope with
//! fixed-width ISA fields and consistent counts and control numbers.

use crate::dates::fhir_to_x12_date;
use crate::delimiters::Delimiters;
use crate::error::WriteError;
use crate::segment::{Element, Segment};

/// ISA15 usage indicator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usage {
    Test,
    Production,
}

impl Usage {
    pub fn code(self) -> &'static str {
        match self {
            Usage::Test => "T",
            Usage::Production => "P",
        }
    }
}

/// Envelope values supplied by the caller (never read from the clock).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvelopeParams {
    /// ISA05, e.g. "ZZ" (mutually defined) or "30" (federal tax id).
    pub sender_qualifier: String,
    /// ISA06 (max 15 characters, padded on output).
    pub sender_id: String,
    pub receiver_qualifier: String,
    pub receiver_id: String,
    /// GS02/GS03; when empty the ISA ids are used.
    pub application_sender: String,
    pub application_receiver: String,
    /// ISA13/IEA02 (1..=999999999).
    pub interchange_control_number: u32,
    /// GS06/GE02 (1..=999999999).
    pub group_control_number: u32,
    /// ST02/SE02 of the first set; later sets count up from it.
    pub transaction_control_number: u32,
    /// `YYYY-MM-DD` (or CCYYMMDD).
    pub date: String,
    /// `HHMM` (or `HH:MM`).
    pub time: String,
    pub usage: Usage,
}

impl EnvelopeParams {
    /// Convenience constructor with ZZ qualifiers.
    pub fn new(sender_id: &str, receiver_id: &str, control: u32, date: &str, time: &str) -> Self {
        EnvelopeParams {
            sender_qualifier: "ZZ".into(),
            sender_id: sender_id.into(),
            receiver_qualifier: "ZZ".into(),
            receiver_id: receiver_id.into(),
            application_sender: String::new(),
            application_receiver: String::new(),
            interchange_control_number: control,
            group_control_number: control,
            transaction_control_number: 1,
            date: date.into(),
            time: time.into(),
            usage: Usage::Test,
        }
    }
}

fn bad(field: &'static str, reason: impl Into<String>) -> WriteError {
    WriteError::BadEnvelope {
        field,
        reason: reason.into(),
    }
}

/// Text of one segment including its terminator.
pub fn write_segment(seg: &Segment, d: &Delimiters, out: &mut String) -> Result<(), WriteError> {
    if !(2..=3).contains(&seg.id.len())
        || !seg
            .id
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit())
        || !seg.id.starts_with(|c: char| c.is_ascii_uppercase())
    {
        return Err(WriteError::BadSegmentId(seg.id.clone()));
    }
    out.push_str(&seg.id);
    // X12 forbids trailing empty elements and components: trim them.
    let last = seg.elements.iter().rposition(|e| !e.is_empty());
    let elements = match last {
        Some(i) => seg.elements.get(..=i).unwrap_or_default(),
        None => &[],
    };
    for (i, el) in elements.iter().enumerate() {
        out.push(char::from(d.element));
        write_element(&seg.id, i + 1, el, d, out)?;
    }
    out.push(char::from(d.segment));
    Ok(())
}

fn write_element(
    id: &str,
    n: usize,
    el: &Element,
    d: &Delimiters,
    out: &mut String,
) -> Result<(), WriteError> {
    let last_rep =
        el.0.iter()
            .rposition(|r| r.iter().any(|c| !c.is_empty()))
            .unwrap_or(0);
    if last_rep > 0 && d.repetition.is_none() {
        return Err(WriteError::BadDelimiters(format!(
            "{id}{n:02} repeats but the interchange has no repetition separator"
        )));
    }
    for (ri, rep) in el.0.iter().take(last_rep + 1).enumerate() {
        if ri > 0
            && let Some(r) = d.repetition
        {
            out.push(char::from(r));
        }
        let last = rep.iter().rposition(|c| !c.is_empty()).unwrap_or(0);
        for (ci, comp) in rep.iter().take(last + 1).enumerate() {
            if ci > 0 {
                out.push(char::from(d.component));
            }
            if comp.chars().any(|c| d.is_reserved(c)) {
                return Err(WriteError::DelimiterInElement {
                    segment: id.to_string(),
                    element: n,
                    value: comp.clone(),
                });
            }
            out.push_str(comp);
        }
    }
    Ok(())
}

/// Write bare segments (no envelope added). `line_break` adds "\n" after each
/// terminator for readability; readers tolerate it.
pub fn write_segments(
    segs: &[Segment],
    d: &Delimiters,
    line_break: bool,
) -> Result<String, WriteError> {
    d.check_write()?;
    let mut out = String::new();
    for s in segs {
        write_segment(s, d, &mut out)?;
        if line_break {
            out.push('\n');
        }
    }
    Ok(out)
}

/// One transaction set to envelope: ST01 code and the segments between ST and SE.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SetBody {
    pub code: String,
    pub segments: Vec<Segment>,
}

fn pad(s: &str, width: usize, field: &'static str) -> Result<String, WriteError> {
    if s.chars().count() > width {
        return Err(bad(
            field,
            format!("{s:?} is longer than {width} characters"),
        ));
    }
    if !s.is_ascii() {
        return Err(bad(field, "must be ASCII"));
    }
    Ok(format!("{s:<width$}"))
}

fn control(n: u32, field: &'static str) -> Result<u32, WriteError> {
    if (1..=999_999_999).contains(&n) {
        Ok(n)
    } else {
        Err(bad(field, format!("{n} is not in 1..=999999999")))
    }
}

fn hhmm(t: &str) -> Result<String, WriteError> {
    let compact: String = t.chars().filter(|c| *c != ':').collect();
    let ok = compact.len() == 4
        && compact.bytes().all(|b| b.is_ascii_digit())
        && compact
            .get(0..2)
            .and_then(|h| h.parse::<u32>().ok())
            .is_some_and(|h| h < 24)
        && compact
            .get(2..4)
            .and_then(|m| m.parse::<u32>().ok())
            .is_some_and(|m| m < 60);
    if ok {
        Ok(compact)
    } else {
        Err(bad("time", format!("{t:?} is not HHMM")))
    }
}

/// Build a complete interchange with one functional group.
///
/// `functional_id` is GS01 (HC for 837, HS for 270), `version` is GS08/ST03
/// (e.g. 005010X222A1). Counts (SE01, GE01, IEA01) are computed, and the
/// trailers repeat the header control numbers.
pub fn write_interchange(
    env: &EnvelopeParams,
    functional_id: &str,
    version: &str,
    sets: &[SetBody],
    d: &Delimiters,
) -> Result<String, WriteError> {
    d.check_write()?;
    let Some(rep) = d.repetition else {
        return Err(WriteError::BadDelimiters(
            "5010 envelopes need a repetition separator".into(),
        ));
    };
    let date8 = if env.date.len() == 8 && !env.date.contains('-') {
        crate::dates::x12_to_fhir_date(&env.date).map(|_| env.date.clone())
    } else {
        fhir_to_x12_date(&env.date)
    }
    .ok_or_else(|| bad("date", format!("{:?} is not a valid date", env.date)))?;
    let time = hhmm(&env.time)?;
    let icn = control(env.interchange_control_number, "interchange_control_number")?;
    let gcn = control(env.group_control_number, "group_control_number")?;
    let tcn = control(env.transaction_control_number, "transaction_control_number")?;
    let qual = |q: &str, f: &'static str| -> Result<String, WriteError> {
        if q.len() == 2 && q.bytes().all(|b| b.is_ascii_alphanumeric()) {
            Ok(q.to_string())
        } else {
            Err(bad(f, format!("{q:?} is not a 2-character qualifier")))
        }
    };
    let id = |v: &str, f: &'static str| -> Result<String, WriteError> {
        if v.trim().is_empty() {
            return Err(bad(f, "must not be empty"));
        }
        if v.chars().any(|c| d.is_reserved(c)) {
            return Err(bad(f, "contains a delimiter"));
        }
        pad(v, 15, f)
    };
    let isa = Segment::new(
        "ISA",
        [
            "00".to_string(),
            " ".repeat(10),
            "00".to_string(),
            " ".repeat(10),
            qual(&env.sender_qualifier, "sender_qualifier")?,
            id(&env.sender_id, "sender_id")?,
            qual(&env.receiver_qualifier, "receiver_qualifier")?,
            id(&env.receiver_id, "receiver_id")?,
            date8.get(2..).unwrap_or_default().to_string(),
            time.clone(),
            char::from(rep).to_string(),
            "00501".to_string(),
            format!("{icn:09}"),
            "0".to_string(),
            env.usage.code().to_string(),
            char::from(d.component).to_string(),
        ],
    );
    let app = |v: &str, fallback: &str| {
        if v.is_empty() {
            fallback.trim().to_string()
        } else {
            v.to_string()
        }
    };
    let mut all = vec![
        isa,
        Segment::new(
            "GS",
            [
                functional_id.to_string(),
                app(&env.application_sender, &env.sender_id),
                app(&env.application_receiver, &env.receiver_id),
                date8.clone(),
                time,
                gcn.to_string(),
                "X".to_string(),
                version.to_string(),
            ],
        ),
    ];
    for (i, set) in sets.iter().enumerate() {
        let n = u32::try_from(i)
            .ok()
            .and_then(|i| tcn.checked_add(i))
            .ok_or_else(|| bad("transaction_control_number", "overflow"))?;
        let st02 = format!("{n:04}");
        all.push(Segment::new("ST", [set.code.as_str(), &st02, version]));
        all.extend(set.segments.iter().cloned());
        all.push(Segment::new(
            "SE",
            [(set.segments.len() + 2).to_string(), st02],
        ));
    }
    all.push(Segment::new(
        "GE",
        [sets.len().to_string(), gcn.to_string()],
    ));
    all.push(Segment::new("IEA", ["1".to_string(), format!("{icn:09}")]));
    // The ISA is written element by element so padded blanks are kept.
    let mut out = String::new();
    for s in &all {
        if s.id == "ISA" {
            out.push_str("ISA");
            for e in &s.elements {
                out.push(char::from(d.element));
                out.push_str(e.text());
            }
            out.push(char::from(d.segment));
        } else {
            write_segment(s, d, &mut out)?;
        }
        out.push('\n');
    }
    Ok(out)
}
