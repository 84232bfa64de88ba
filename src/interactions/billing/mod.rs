//! Billing use cases over the X12 crate: Claim → 837P export and scrubbing, 835 import, 270/271.
//! The clock and the X12 settings come from the edge (HTTP handler or CLI); nothing here reads time.

pub mod eligibility;
pub mod export;
pub mod refs;
pub mod remit;

use chrono::{DateTime, Utc};
use hms_fhir::outcome::{Issue, Severity};
use hms_x12::{EnvelopeParams, Usage};

use crate::config::X12Config;
use crate::error::{Error, issue};
use crate::store::x12_control;

use super::Services;

/// The moment an operation runs, in the shapes X12 and FHIR need (UTC).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clock {
    /// `YYYY-MM-DD`: envelope date and "today" for the scrubber.
    pub date: String,
    /// `HHMM`: envelope time.
    pub time: String,
    /// FHIR instant, e.g. for `ClaimResponse.created`.
    pub instant: String,
}

impl Clock {
    pub fn at(t: DateTime<Utc>) -> Clock {
        Clock {
            date: t.format("%Y-%m-%d").to_string(),
            time: t.format("%H%M").to_string(),
            instant: t.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
        }
    }

    pub fn now() -> Clock {
        Clock::at(Utc::now())
    }
}

/// Takes the next interchange control number (ISA13 = GS06) in its own committed transaction.
pub fn next_control_number(s: &Services) -> Result<u32, Error> {
    s.store
        .write(|conn| -> Result<u32, Error> { Ok(x12_control::next(conn, "interchange")?) })
}

/// Envelope for one outgoing interchange with a freshly allocated control number.
pub fn envelope(s: &Services, x12: &X12Config, clock: &Clock) -> Result<EnvelopeParams, Error> {
    let control = next_control_number(s)?;
    let mut env = EnvelopeParams::new(
        &x12.sender_id,
        &x12.receiver_id,
        control,
        &clock.date,
        &clock.time,
    );
    env.usage = if x12.production {
        Usage::Production
    } else {
        Usage::Test
    };
    Ok(env)
}

/// Scrubber edits as OperationOutcome issues: the edit code leads the diagnostics, the FHIR path
/// is the expression.
pub fn edit_issues(edits: &[hms_x12::Edit]) -> Vec<Issue> {
    edits
        .iter()
        .map(|e| {
            let severity = match e.severity {
                hms_x12::Severity::Error => Severity::Error,
                hms_x12::Severity::Warning => Severity::Warning,
            };
            issue(
                severity,
                "business-rule",
                Some(&e.expression),
                format!("{}: {}", e.code, e.message),
            )
        })
        .collect()
}

pub fn has_errors(edits: &[hms_x12::Edit]) -> bool {
    edits.iter().any(|e| e.severity == hms_x12::Severity::Error)
}

/// An X12 input that cannot be read: 400 naming the segment and element.
pub fn x12_invalid(what: &str, e: &hms_x12::X12Error) -> Error {
    Error::invalid(None, format!("{what}: {e}"))
}

/// A stored resource body as JSON.
pub fn body_json(stored: &super::Stored) -> Result<serde_json::Value, Error> {
    let bytes = stored
        .body
        .as_deref()
        .ok_or_else(|| Error::Internal("stored version has no content".into()))?;
    serde_json::from_slice(bytes).map_err(|e| Error::Internal(format!("stored JSON: {e}")))
}
