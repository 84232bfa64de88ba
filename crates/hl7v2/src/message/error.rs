//! Parse errors, each able to name an HL7 error location for the ACK.

use super::charset::Charset;

/// Why a message could not be parsed. Positions use HL7 numbering.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("empty message")]
    Empty,
    #[error("message does not start with MSH (found {found:?})")]
    MissingMsh { found: String },
    #[error("MSH-2 (encoding characters) is empty")]
    MissingMsh2,
    #[error("bad delimiters in MSH-1/MSH-2: {reason}")]
    BadDelimiters { reason: String },
    #[error("MSH-9 (message type) is empty")]
    MissingMsh9,
    #[error("unsupported character set in MSH-18: {value:?}")]
    UnsupportedCharset { value: String },
    #[error("bytes are not valid {charset:?} at offset {byte_offset}")]
    InvalidEncoding {
        charset: Charset,
        byte_offset: usize,
    },
    #[error("segment {index}: invalid segment id {found:?}")]
    BadSegmentId { index: usize, found: String },
}

/// An error location in HL7 terms (ERR-2 / ERL), 1-based.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorLocation {
    pub segment: String,
    pub sequence: usize,
    pub field: Option<usize>,
    pub component: Option<usize>,
}

impl ParseError {
    /// HL7 table 0357 code best describing the error.
    pub fn hl7_code(&self) -> u16 {
        match self {
            ParseError::Empty | ParseError::MissingMsh { .. } | ParseError::BadSegmentId { .. } => {
                100
            }
            ParseError::MissingMsh2 | ParseError::MissingMsh9 => 101,
            ParseError::BadDelimiters { .. } | ParseError::InvalidEncoding { .. } => 102,
            ParseError::UnsupportedCharset { .. } => 103,
        }
    }

    /// Where the error is, as far as known.
    pub fn location(&self) -> Option<ErrorLocation> {
        let msh = |field: usize| ErrorLocation {
            segment: "MSH".into(),
            sequence: 1,
            field: Some(field),
            component: None,
        };
        match self {
            ParseError::MissingMsh2 => Some(msh(2)),
            ParseError::BadDelimiters { .. } => Some(msh(2)),
            ParseError::MissingMsh9 => Some(msh(9)),
            ParseError::UnsupportedCharset { .. } => Some(msh(18)),
            ParseError::BadSegmentId { found, .. } => Some(ErrorLocation {
                segment: found.chars().take(3).collect(),
                sequence: 1,
                field: None,
                component: None,
            }),
            ParseError::Empty
            | ParseError::MissingMsh { .. }
            | ParseError::InvalidEncoding { .. } => None,
        }
    }
}
