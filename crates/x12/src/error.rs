//! Typed errors for reading and writing X12.
//!
//! Segment positions are 1-based ordinals counted from the start of the input
//! (ISA = 1), so for the usual one-segment-per-line files they equal the line
//! number that pyx12 prints.

use thiserror::Error;

/// What is wrong with one element.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum ElementProblem {
    #[error("required element is missing")]
    Missing,
    #[error("not a decimal: {0:?}")]
    NotDecimal(String),
    #[error("not an integer: {0:?}")]
    NotInteger(String),
    #[error("not a date (CCYYMMDD): {0:?}")]
    NotDate(String),
    #[error("fixed-width field must be {expected} characters, found {found}")]
    WrongWidth { expected: usize, found: usize },
    #[error("{found:?} does not match {other} {expected:?}")]
    ControlMismatch {
        found: String,
        other: &'static str,
        expected: String,
    },
    #[error("count {found:?} does not match {counted} {what} counted")]
    CountMismatch {
        found: String,
        counted: usize,
        what: &'static str,
    },
    #[error("invalid value {0:?}: {1}")]
    Invalid(String, &'static str),
}

/// Errors from the X12 reader and from transaction parsers built on it.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum X12Error {
    #[error("no interchange: input does not start with an ISA segment")]
    NoInterchange,
    #[error("ISA header is truncated: the fixed-width ISA needs 106 bytes, found {0}")]
    IsaTruncated(usize),
    #[error("ISA delimiters are invalid: {0}")]
    BadDelimiters(String),
    #[error("segment {position} ({segment}), element {segment}{element:02}: {problem}")]
    Element {
        position: usize,
        segment: String,
        element: usize,
        problem: ElementProblem,
    },
    #[error("segment {position} ({segment}): {reason}")]
    Segment {
        position: usize,
        segment: String,
        reason: String,
    },
    #[error("segment {position}: invalid segment id {id:?}")]
    BadSegmentId { position: usize, id: String },
    #[error("unexpected end of input: {0}")]
    UnexpectedEnd(String),
    #[error("wrong transaction set: expected {expected}, found {found}")]
    WrongTransaction { expected: String, found: String },
}

impl X12Error {
    pub fn element(
        position: usize,
        segment: &str,
        element: usize,
        problem: ElementProblem,
    ) -> Self {
        X12Error::Element {
            position,
            segment: segment.to_string(),
            element,
            problem,
        }
    }

    pub fn segment(position: usize, segment: &str, reason: impl Into<String>) -> Self {
        X12Error::Segment {
            position,
            segment: segment.to_string(),
            reason: reason.into(),
        }
    }
}

/// Errors from the writer.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum WriteError {
    #[error("{segment}{element:02}: value {value:?} contains a delimiter character")]
    DelimiterInElement {
        segment: String,
        element: usize,
        value: String,
    },
    #[error("invalid segment id {0:?}")]
    BadSegmentId(String),
    #[error("envelope parameter {field}: {reason}")]
    BadEnvelope { field: &'static str, reason: String },
    #[error("delimiters are not distinct or not allowed: {0}")]
    BadDelimiters(String),
}
